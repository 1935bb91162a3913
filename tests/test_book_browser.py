"""The built book works in a real browser: every page of the table of contents opens without console
errors, its images load, MathJax (served by the book itself) renders its math, the sidebar lists every
chapter, and the search page finds results. Screenshots go to _build/screenshots/.

And every page reads well in a 1280 px wide window (the layout checks):
- no output block, table or displayed equation is wider than its box (nothing hides behind a horizontal
  scroll bar or is clipped): scrollWidth against clientWidth, within 2 px;
- no figure is blank (the pixel variance of its PNG), and no figure an output cell draws (matplotlib: it
  holds text) is shown below 60% of its natural width, where its labels become unreadable;
- no progress-bar text (tqdm's `it/s]`, `%|`, block characters) is printed into the page.
Each failure names the page and the element.

Needs Debian's `chromium` and `chromium-driver` (.ci/install-chromium.sh installs them); without them
the test is skipped, with the reason. The browser is cut off from every host but this machine's own
test server, as on CI, so anything the book fetches from the internet shows up as an error here.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TIMEOUT = 60  # seconds to wait for a page's scripts (MathJax, search)

pytestmark = pytest.mark.slow


def toc_pages() -> list[str]:
    """Every page of _toc.yml (the root first), as paths without suffix, e.g. 'book/04_self_attention'."""
    text = (ROOT / "_toc.yml").read_text()
    return [m.group(1) for m in re.finditer(r"^\s*-?\s*(?:root|file):\s*(\S+)", text, re.M)]


def _missing_browser() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing: run .ci/install-chromium.sh (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def site(built_book):
    """Serve _build/html on 127.0.0.1 (a free port) from a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def browser():
    reason = _missing_browser()
    if reason:
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cs502-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1280,1600",
                 # offline, as on CI: no host name resolves except the local test server's address
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, message):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, TIMEOUT, poll_frequency=0.25).until(lambda d: condition(d), message=message)


def _severe(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _open(driver, url):
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(url)
    _wait(driver, lambda d: d.execute_script("return document.readyState") == "complete", f"{url} never finished loading")


MATH_STATE = """
const math = Array.from(document.querySelectorAll('.math'));
return {math: math.length,
        rendered: math.filter(e => e.querySelector('mjx-container')).length,
        containers: document.querySelectorAll('mjx-container').length,
        mathjax_src: Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s))};
"""

IMAGE_STATE = """
const imgs = Array.from(document.images);
imgs.forEach(i => { i.loading = 'eager'; });
return imgs.map(i => ({src: i.currentSrc || i.src, complete: i.complete, width: i.naturalWidth}));
"""


@pytest.mark.parametrize("page", toc_pages())
def test_page_renders_in_browser(browser, site, built_book, page):
    url = f"{site}/{page}.html"
    _open(browser, url)

    # MathJax: served by the book itself, and every math element typeset
    state = browser.execute_script(MATH_STATE)
    if state["math"]:
        assert state["mathjax_src"], f"{page} has math but loads no MathJax script"
        remote = [s for s in state["mathjax_src"] if not s.startswith(site)]
        assert not remote, (f"{page} loads MathJax from {remote}, which fails without internet: install "
                            "sphinx-mathjax-offline==0.0.2 (book/_ext/offline_mathjax.py serves it locally)")
        _wait(browser, lambda d: (s := d.execute_script(MATH_STATE))["rendered"] == s["math"],
              f"MathJax did not render every formula of {page}: {browser.execute_script(MATH_STATE)}")
        assert browser.execute_script(MATH_STATE)["containers"] > 0
    text = browser.execute_script("return document.body.innerText")
    assert "$$" not in text, f"{page} shows raw $$ math"

    # images: all loaded (scrolled into view first, in case any is lazy)
    browser.execute_script("Array.from(document.images).forEach(i => i.scrollIntoView());")
    _wait(browser, lambda d: all(i["complete"] for i in d.execute_script(IMAGE_STATE)), f"images of {page} never finished loading")
    broken = [i["src"] for i in browser.execute_script(IMAGE_STATE) if i["width"] == 0]
    assert not broken, f"{page}: images that did not load: {broken}"

    # the sidebar lists every chapter of the table of contents
    links = set(browser.execute_script(
        "return Array.from(document.querySelectorAll('.bd-sidebar-primary a')).map(a => a.href.split('#')[0]);"))
    missing = [p for p in toc_pages()[1:] if f"{site}/{p}.html" not in links]
    assert not missing, f"the sidebar of {page} does not list {missing}"

    browser.execute_script("window.scrollTo(0, 0);")
    shots = built_book.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    browser.save_screenshot(str(shots / (page.replace("/", "__") + ".png")))

    errors = _severe(browser)
    assert not errors, f"console errors on {page}:\n" + "\n".join(errors)


def test_search_finds_attention(browser, site, built_book):
    _open(browser, f"{site}/search.html?q=attention")
    count = "return document.querySelectorAll('#search-results ul.search li').length"
    _wait(browser, lambda d: d.execute_script(count) > 0, "the search for 'attention' gave no results")
    hits = browser.execute_script(
        "return Array.from(document.querySelectorAll('#search-results ul.search li a')).map(a => a.href)")
    assert any("04_self_attention" in h for h in hits), f"the self-attention chapter is not among the hits: {hits}"
    shots = built_book.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    browser.save_screenshot(str(shots / "search.png"))
    errors = _severe(browser)
    assert not errors, "console errors on the search page:\n" + "\n".join(errors)


# --- layout checks: what a reader sees in a 1280 px wide window --------------------------------------

TOLERANCE_PX = 2      # sub-pixel rounding of scrollWidth and clientWidth
MIN_FIGURE_SCALE = 0.6  # a figure with text shown smaller than this is unreadable (ticks of 10 px become 6)
BLANK_STD = 2.0       # grey-level standard deviation (0-255) under which a figure is blank
PROGRESS_BAR = re.compile(r"(?:it/s|s/it)\]|\d%\||\| *\d+/\d+ \[|[█▏▎▍▌▋▊▉]")  # tqdm's rate, bar and count

LAYOUT = """
const TOL = arguments[0];
const article = document.querySelector('.bd-article') || document.querySelector('main') || document.body;
const describe = (el) => {
  const cls = (el.getAttribute('class') || '').trim().split(/\\s+/).filter(Boolean).slice(0, 3).join('.');
  const text = (el.innerText || el.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 90);
  let section = el.closest('section');
  const heading = section && section.querySelector('h1, h2, h3');
  const out = el.closest('.cell_output .output');
  const kind = !out ? '' : out.classList.contains('stream') ? 'printed ' : out.querySelector('.highlight') ? 'source listing ' : 'html ';
  return {element: kind + el.tagName.toLowerCase() + (cls ? '.' + cls : ''), text: text,
          section: heading ? heading.innerText.replace(/[#¶]/g, '').replace(/\\s+/g, ' ').trim() : ''};
};
const wide = [];
const reported = [];
const overflow = (el) => {
  // content wider than the element's box (scrolls or is clipped), or the element wider than its parent's
  const w = el.getBoundingClientRect().width;
  if (w === 0) return null;
  if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + TOL) return [el.scrollWidth, el.clientWidth];
  const parent = el.parentElement;
  if (parent && parent.clientWidth > 0 && w > parent.clientWidth + TOL) return [Math.round(w), parent.clientWidth];
  return null;
};
const check = (kind, els) => {
  for (const el of els) {
    if (reported.some(r => r.contains(el) || el.contains(r))) continue;
    const o = overflow(el);
    if (o) { reported.push(el); wide.push(Object.assign({kind: kind, content_px: o[0], box_px: o[1]}, describe(el))); }
  }
};
// innermost first: the element that actually scrolls is the one reported
check('output', article.querySelectorAll('.cell_output pre, .cell_output table'));
check('output', article.querySelectorAll('.cell_output .output, .cell_output'));
check('table', article.querySelectorAll('table'));
check('equation', article.querySelectorAll('div.math mjx-container, mjx-container[display="true"], div.math'));
check('page', [article]);
const figures = Array.from(article.querySelectorAll('img')).map(img => Object.assign({
  src: img.currentSrc || img.src, natural_px: img.naturalWidth, shown_px: Math.round(img.getBoundingClientRect().width),
  output: !!img.closest('.cell_output')}, describe(img)));
return {window_px: window.innerWidth, wide: wide, figures: figures, text: article.innerText};
"""


@functools.lru_cache(maxsize=None)
def _layout(browser, site, page) -> dict:
    """Open `page` once, wait for its math and images, and measure what the layout checks need."""
    _open(browser, f"{site}/{page}.html")
    if browser.execute_script(MATH_STATE)["math"]:
        _wait(browser, lambda d: (s := d.execute_script(MATH_STATE))["rendered"] == s["math"],
              f"MathJax did not render every formula of {page}")
    browser.execute_script("Array.from(document.images).forEach(i => i.scrollIntoView());")
    _wait(browser, lambda d: all(i["complete"] for i in d.execute_script(IMAGE_STATE)), f"images of {page} never finished loading")
    return browser.execute_script(LAYOUT, TOLERANCE_PX)


def _where(item: dict) -> str:
    section = f" in section '{item['section']}'" if item.get("section") else ""
    return f"<{item['element']}>{section}: {item['text']!r}"


@pytest.mark.parametrize("page", toc_pages())
def test_nothing_wider_than_its_box(browser, site, page):
    layout = _layout(browser, site, page)
    assert layout["window_px"] >= 1270, f"the window is {layout['window_px']} px wide, not 1280"
    lines = [f"  {w['kind']} {w['content_px']} px in a box of {w['box_px']} px: {_where(w)}" for w in layout["wide"]]
    assert not lines, f"{page}: content wider than its box at 1280 px (scrolls or is clipped):\n" + "\n".join(lines)


def _grey_levels(path: Path):
    """The image's grey levels (0-255, transparency composed on white), as a numpy array."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("L"), dtype=np.float64)


@pytest.mark.parametrize("page", toc_pages())
def test_figures_not_blank_and_not_shrunk(browser, site, built_book, page):
    layout = _layout(browser, site, page)
    problems = []
    for fig in layout["figures"]:
        if not fig["src"].startswith(site):
            continue
        path = built_book / fig["src"][len(site):].split("?")[0].split("#")[0].lstrip("/")
        if path.suffix.lower() == ".png" and path.exists():
            grey = _grey_levels(path)
            if grey.std() < BLANK_STD:
                problems.append(f"  blank figure (grey-level std {grey.std():.2f} < {BLANK_STD}) {path.name}: {_where(fig)}")
        scale = fig["shown_px"] / fig["natural_px"] if fig["natural_px"] else 1.0
        if fig["output"] and scale < MIN_FIGURE_SCALE:
            problems.append(f"  figure shown at {scale:.0%} of its width ({fig['shown_px']} of {fig['natural_px']} px; "
                            f"under {MIN_FIGURE_SCALE:.0%} its text is unreadable) {path.name}: {_where(fig)}")
    assert not problems, f"{page}: figures a reader cannot read at 1280 px:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", toc_pages())
def test_no_progress_bar_text(browser, site, page):
    layout = _layout(browser, site, page)
    lines = [line.strip()[:160] for line in layout["text"].splitlines() if PROGRESS_BAR.search(line)]
    assert not lines, f"{page} shows progress-bar text (tqdm belongs on the command line):\n  " + "\n  ".join(lines)


# --- the layout checks themselves, on pages and images made to fail ------------------------------------

SYNTHETIC = """<html><body style="margin:0"><main><article class="bd-article" style="width:600px">
<div class="cell_output"><div class="output stream"><div class="highlight"><pre id="long" style="overflow:auto">{long}</pre></div></div></div>
<div class="cell_output"><div class="output stream"><div class="highlight"><pre id="short" style="overflow:auto">fits</pre></div></div></div>
<div style="overflow-x:auto"><table><tr><td style="min-width:900px">wide table</td></tr></table></div>
<div class="cell_output"><img src="{img}" style="max-width:100%"></div>
</article></main></body></html>"""


def test_layout_checks_find_what_they_should(browser, tmp_path):
    import base64
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((50, 1500), 255, dtype=np.uint8)).save(buf, format="PNG")  # blank, 1500 px wide
    html = SYNTHETIC.format(long="x" * 300, img="data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
    page = tmp_path / "synthetic.html"
    page.write_text(html)
    browser.get(page.as_uri())
    layout = browser.execute_script(LAYOUT, TOLERANCE_PX)
    kinds = sorted((w["kind"], w["element"]) for w in layout["wide"])
    assert kinds == [("output", "printed pre"), ("table", "table")], layout["wide"]
    (fig,) = layout["figures"]
    assert fig["output"] and fig["natural_px"] == 1500 and fig["shown_px"] == 600
    path = tmp_path / "blank.png"
    path.write_bytes(buf.getvalue())
    assert _grey_levels(path).std() < BLANK_STD


def test_progress_bar_pattern():
    bars = ["training:   0%|          | 0/600 [00:00<?, ?it/s]",
            "training: 100%|##########| 600/600 [00:17<00:00, 34.94it/s]",
            "epochs: 40%|████      | 2/5 [00:03<00:04,  1.52s/it]"]
    prose = ["accuracy 95% | loss 0.3", "the 4/600 [CLS] tokens", "a|b 10% of masked tokens"]
    assert all(PROGRESS_BAR.search(line) for line in bars)
    assert not any(PROGRESS_BAR.search(line) for line in prose)


@pytest.mark.parametrize("page", [p for p in toc_pages() if (ROOT / f"{p}.ipynb").exists()])
def test_chapter_launch_buttons_and_hidden_install_cell(built_book, page):
    """The rocket icon opens this very notebook in Colab and Binder; the install cell stays out of the page."""
    html = (built_book / f"{page}.html").read_text(encoding="utf-8")
    repo = "cs502-course/transformers-for-biomedicine"
    colab = f"https://colab.research.google.com/github/{repo}/blob/main/{page}.ipynb"
    binder = f"https://mybinder.org/v2/gh/{repo}/main?urlpath=lab/tree/{page}.ipynb"
    assert colab in html, f"{page}: no Colab button to {colab}"
    assert binder in html, f"{page}: no Binder button to {binder}"
    assert "CS502_LIB_URL" not in html and "find_spec" not in html, f"{page} shows the install cell"
