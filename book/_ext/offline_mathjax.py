"""Serve MathJax from the built book itself instead of a CDN (a small Sphinx extension).

The book must render its math where there is no internet (CI, a laptop on a
train, an intranet mirror). The MathJax 3 files come from the pip package
``sphinx-mathjax-offline`` (MathJax 3.2.2, Apache-2.0); this extension copies
the ``tex-chtml`` component with its fonts and lazily loaded modules into
``_build/html/_static/mathjax/`` and points Sphinx's ``mathjax_path`` at it.

If the package is missing the book still builds, with MathJax from Sphinx's
default CDN, and says so in the build log (the browser test then fails
offline, naming the package to install).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

PACKAGE = "sphinx-mathjax-offline"  # the distribution's import name really has dashes
ENTRY = "tex-chtml.js"
# combined bundles of other input/output formats that the book never loads
_UNUSED = {"mml-chtml.js", "mml-svg.js", "node-main.js", "tex-chtml-full.js", "tex-chtml-full-speech.js",
           "tex-mml-chtml.js", "tex-mml-svg.js", "tex-svg.js", "tex-svg-full.js"}


def mathjax_source() -> Path | None:
    """The folder holding MathJax's ``tex-chtml.js``, or None when the package is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(location) / "static" / "mathjax"
        if (folder / ENTRY).is_file():
            return folder
    return None


def _configure(app, config) -> None:
    source = mathjax_source()
    app.env_offline_mathjax = source  # remembered for the copy step
    if source is None:
        logger.info(f"offline_mathjax: {PACKAGE} is not installed; MathJax will load from {config.mathjax_path}")
        return
    config.mathjax_path = f"mathjax/{ENTRY}"  # relative: Sphinx serves it from _static/


def _copy(app, exception) -> None:
    source = getattr(app, "env_offline_mathjax", None)
    if exception is not None or source is None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=lambda folder, names: [n for n in names if n in _UNUSED])
    logger.info(f"offline_mathjax: copied MathJax from {source} to {target}")


def setup(app):
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", _configure, priority=900)
    app.connect("build-finished", _copy)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
