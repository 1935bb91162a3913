"""Write a notebook from a plain-text source with cell markers (a maintainer's tool, not part of the course).

Usage: python tools/nbbuild.py SOURCE.txt OUT.ipynb

In SOURCE, a line ``# %% [markdown]`` starts a Markdown cell and ``# %%`` a code
cell; Markdown lines are written as they are (no leading ``# ``). Add
``tags=a,b`` after the marker to set cell tags. The notebook is written
without outputs, with the course's Python 3 kernel metadata.
"""

from __future__ import annotations

import sys

import nbformat


def build(text: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    kind, tags, lines = None, [], []

    def flush():
        if kind is None:
            return
        src = "\n".join(lines).strip("\n")
        cell = nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            rest = line[4:].strip()
            kind = "md" if rest.startswith("[markdown]") else "code"
            tags = rest.split("tags=", 1)[1].split(",") if "tags=" in rest else []
            lines = []
        else:
            lines.append(line)
    flush()
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


if __name__ == "__main__":
    src, out = sys.argv[1], sys.argv[2]
    nbformat.write(build(open(src, encoding="utf-8").read()), out)
