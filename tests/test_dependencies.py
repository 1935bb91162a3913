"""The dependency policy: ranges in pyproject.toml, exact pins in constraints.txt, and make uses the pins.

cs502_lib asks for compatible ranges so that it installs next to the torch a machine already has
(Colab's); `make` installs the one tested point inside those ranges, constraints.txt, so that the
README's two commands build the same environment everywhere; Binder installs the same pins.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SELF = canonicalize_name(PROJECT["name"])


def _requirements() -> list[Requirement]:
    reqs = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in PROJECT["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return [r for r in reqs if canonicalize_name(r.name) != SELF]


def _pins(path: Path = ROOT / "constraints.txt") -> dict[str, Version]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        assert m, f"constraints.txt: not an exact pin: {line!r}"
        name = canonicalize_name(m.group(1))
        assert name not in pins, f"constraints.txt pins {name} twice"
        pins[name] = Version(m.group(2))
    return pins


def test_pyproject_asks_for_ranges_not_pins():
    for req in _requirements():
        ops = {s.operator for s in req.specifier}
        assert ops and not ops & {"==", "===", "~="}, f"pyproject.toml: {req} should be a range such as '>=a,<b'"
        assert "<" in ops, f"pyproject.toml: {req} needs an upper bound (the next major release)"
    torch = next(r for r in _requirements() if r.name == "torch")
    assert torch.specifier.contains("2.5.1") and torch.specifier.contains("2.13.0"), \
        f"{torch}: cs502_lib must install next to Colab's torch"


def test_every_requirement_is_pinned_inside_its_range():
    pins = _pins()
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt does not pin {req.name} (make test would not be reproducible)"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject.toml's {req.specifier}"
    assert pins["torch"] == Version("2.13.0"), "torch stays ==2.13.0, the CPU build: an unpinned torch pulls CUDA"
    assert SELF not in pins, "constraints.txt must not pin cs502_lib itself"


def test_this_environment_is_the_pinned_one():
    """The environment the tests run in (make's .venv) holds exactly the pinned versions."""
    wrong = []
    for name, version in _pins().items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            continue  # an optional extra make does not install (bench)
        if Version(installed.public) != version:
            wrong.append(f"{name} {installed} (pinned {version})")
    assert not wrong, "installed versions differ from constraints.txt (run make again):\n" + "\n".join(wrong)
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():  # make's own environment: nothing unpinned in it
        pins = _pins()
        # setuptools keeps copies of its own dependencies, with their metadata, in setuptools/_vendor, which
        # pkg_resources puts on sys.path once imported: those are part of setuptools, not installed packages
        installed = [d for d in metadata.distributions() if "_vendor" not in Path(str(d.locate_file(""))).parts]
        extra = sorted(name for d in installed
                       if (name := canonicalize_name(d.metadata["Name"])) not in pins and name != SELF)
        assert not extra, f"installed in .venv but not pinned in constraints.txt: {extra}"


def test_make_installs_the_pins_and_rebuilds_when_they_change():
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^CONSTRAINTS := constraints\.txt$", make, re.M)
    assert re.search(r"^STAMP := .*cat pyproject\.toml \$\(CONSTRAINTS\)", make, re.M), "the stamp must hash both files"
    assert re.search(r"^\$\(STAMP\): pyproject\.toml \$\(CONSTRAINTS\)$", make, re.M)
    assert "pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'" in make


def test_binder_installs_the_package_with_the_same_pins_and_cpu_torch():
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), runtime
    from packaging.specifiers import SpecifierSet

    assert SpecifierSet(PROJECT["requires-python"]).contains(runtime.split("-")[1] + ".0")
    lines = [line.strip() for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert "-c ../constraints.txt" in lines and (ROOT / "binder" / "../constraints.txt").resolve().exists()
    assert "-e ." in lines  # repo2docker runs pip from the repository's root
