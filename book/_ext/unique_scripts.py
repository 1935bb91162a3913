"""Drop duplicate <script> tags from the book's pages (a small Sphinx extension).

sphinx-thebe registers its inline configuration script (``const THEBE_JS_URL = ...``)
once per reading pass, and Jupyter Book's build emits that event more than once, so
every page declared the same ``const`` twice and the browser reported
"SyntaxError: Identifier 'THEBE_JS_URL' has already been declared". This keeps the
first of identical scripts (same file, same inline body, same attributes; an inline
script's file name is None or "" depending on who registered it).
"""

from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {}) or {}
        key = (str(getattr(script, "filename", script) or ""),  # inline scripts: None or ""
                tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: handlers after this one add their page scripts to the same list


def setup(app):
    # early: html-page-context stops at the first handler that returns a template name
    app.connect("html-page-context", _dedupe, priority=100)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
