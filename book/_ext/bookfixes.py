"""Two fixes for the theme stack that jupyter-book 1.0.4 installs, so pages load without errors.

- sphinx-thebe registers its inline configuration script twice on every page, and the second
  ``const THEBE_JS_URL`` declaration throws in the browser. Keep the first copy only.
- sphinx-book-theme passes no ``default_mode`` to the pydata theme's page template, whose script
  then logs "Got invalid theme mode" as a console error. Default to the reader's system setting.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


def _fix_page(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    context["default_mode"] = context.get("default_mode") or "auto"
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    kept = []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (str(getattr(script, "filename", script) or ""), str(attributes.get("body", "")))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("html-page-context", _fix_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
