"""cs502_lib's layers (CONTRIBUTING.md): a module imports only from lower layers or its own part, never upward."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "cs502_lib"

#: Lowest first. ``cs502_lib`` itself re-exports nn, bio and training.
LAYERS = [
    {"_validation", "training", "plotting"},
    {"nn", "bio"},
    {"cs502_lib", "data", "grading"},
    {"dnabert", "diagrams", "testcell", "course", "autograde", "feedback"},
]
LAYER = {part: i for i, layer in enumerate(LAYERS) for part in layer}
#: Parts of one layer that form one job and may import each other: the instructor's workflow.
TOGETHER = [{"course", "autograde", "feedback"}]
#: Known exceptions, each a lazy import inside a function: (module, part it imports).
EXCEPTIONS: set[tuple[str, str]] = set()  # none: every import follows the layers


def _part(module: str) -> str:
    names = module.split(".")
    return names[1] if len(names) > 1 and names[1] in LAYER else "cs502_lib"


def _imports(path: Path):
    """(imported cs502_lib module) for every import of the file, at any depth (lazy ones too)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield module, [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            base = ".".join(filter(None, [base, node.module]))
            yield module, [f"{base}.{a.name}" if f"{base}.{a.name}".count(".") == 1 else base for a in node.names]


def test_no_module_imports_upward_or_sideways():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for module, targets in _imports(path):
            mine = _part(module)
            for target in targets:
                if not target.startswith("cs502_lib"):
                    continue
                theirs = _part(target)
                if theirs == mine or (module, theirs) in EXCEPTIONS or LAYER[theirs] < LAYER[mine]:
                    continue
                if any({mine, theirs} <= group for group in TOGETHER):
                    continue
                wrong.append(f"{module} imports {target} (layer {LAYER[theirs]} from layer {LAYER[mine]})")
    assert not wrong, "\n".join(wrong)


def test_every_part_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert parts == set(LAYER) - {"cs502_lib"}
