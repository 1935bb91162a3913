"""A static scan of solution cells for code that reaches around the grader (read, never run).

The runtime guard refuses delegation while the student's code runs; this scan flags the
ways of hiding it or of tampering with the process, for a person to review: calls through
``getattr``/``__import__``/``exec``/``eval``/``compile``, names built from strings,
``sys.modules``, ``builtins``, ``gc``, ``inspect``, ``ctypes``, frames and code objects,
assignments into imported modules, imports of the grader, and direct uses of a refused
built-in or of cs502_lib's reference of the checked name. An honest solution has none.
"""

from __future__ import annotations

import ast

__all__ = ["scan_source"]

_CALLS = {"getattr", "setattr", "delattr", "__import__", "exec", "eval", "compile", "globals", "vars", "locals",
          "open", "breakpoint", "input", "get_ipython"}
_MODULES = {"sys", "builtins", "gc", "inspect", "ctypes", "importlib", "os", "subprocess", "signal", "threading",
            "types", "IPython", "pickle", "marshal", "socket", "multiprocessing", "atexit", "traceback", "linecache",
            "runpy", "code", "codeop", "dis", "__main__"}
_GRADER = ("cs502_lib.grading", "cs502_lib.testcell", "cs502_lib.course")
_DUNDERS = {"__code__", "__globals__", "__builtins__", "__dict__", "__subclasses__", "__import__", "__closure__",
            "__class__", "__bases__", "__mro__", "__getattribute__", "__setattr__", "__loader__", "__spec__",
            "f_back", "f_globals", "f_locals", "gi_frame", "tb_frame", "__self__", "__func__", "__wrapped__"}
_REFUSED = {"scaled_dot_product_attention", "multi_head_attention_forward", "MultiheadAttention", "Transformer",
            "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer", "TransformerDecoderLayer",
            "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "rnn_tanh", "rnn_tanh_cell", "lstm_cell",
            "lstm", "gru", "gru_cell", "_VF"}


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def scan_source(source: str, checked: str | None = None) -> list[str]:
    """Findings (``"line N: what"``) in one solution cell; ``checked`` is the graded name of the cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"line {exc.lineno}: the cell does not parse ({exc.msg})"]
    found: list[str] = []
    imported: set[str] = set()

    def add(node: ast.AST, what: str) -> None:
        found.append(f"line {getattr(node, 'lineno', '?')}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                imported.add(name.split(".")[0])
                if name.split(".")[0] in _MODULES:
                    add(node, f"imports {name}")
                if name.startswith(_GRADER):
                    add(node, f"imports the grader ({name})")
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name in _REFUSED or (checked and a.name == checked and (node.module or "").startswith("cs502_lib")):
                        add(node, f"imports {a.name} (a refused built-in or the reference of the checked name)")
                    if (node.module or "") in ("cs502_lib",) and a.name in ("grading", "testcell", "course"):
                        add(node, f"imports the grader (cs502_lib.{a.name})")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if isinstance(func, ast.Name) and name in _CALLS:
                add(node, f"calls {name}()")
            if name in ("import_module", "reload", "__import__"):
                add(node, f"calls {name}()")
        elif isinstance(node, ast.Attribute):
            if node.attr in _DUNDERS:
                add(node, f"uses .{node.attr}")
            dotted = _dotted(node)
            if node.attr in _REFUSED and dotted.split(".")[0] in ("torch", "nn", "F", "functional", "_VF"):
                add(node, f"uses {dotted} (a built-in this exercise refuses)")
            if checked and node.attr == checked and dotted.split(".")[0] == "cs502_lib":
                add(node, f"uses {dotted} (the reference of the checked name)")
            if dotted.endswith("modules") and dotted.startswith("sys"):
                add(node, "uses sys.modules")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                if isinstance(target, (ast.Attribute, ast.Subscript)):
                    base = target.value
                    while isinstance(base, (ast.Attribute, ast.Subscript)):
                        base = base.value
                    root = base.id if isinstance(base, ast.Name) else ""
                    if root in ("torch", "nn", "F", "math", "cs502_lib", "np", "numpy") or root in _MODULES:
                        add(node, f"assigns into the module {_dotted(target.value) or root}")
        elif isinstance(node, ast.Global) and any(n.startswith("__") for n in node.names):
            add(node, "declares a dunder global")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            if isinstance(node.left, ast.Constant) and isinstance(node.left.value, str) and \
                    isinstance(node.right, ast.Constant) and isinstance(node.right.value, str):
                joined = node.left.value + node.right.value
                if joined.isidentifier() and (joined in _REFUSED or joined.startswith("__") or
                                              (checked and joined == checked)):
                    add(node, f"builds the name {joined!r} from strings")
        elif isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            text = node.value if isinstance(node, ast.Constant) else ""
            if text in _REFUSED or text in _CALLS or (checked and text == checked and len(text) > 3):
                add(node, f"names {text!r} in a string")
    return list(dict.fromkeys(found))
