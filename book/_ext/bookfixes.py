"""Fixes for the theme stack pinned in requirements.txt (jupyter-book 1.0.4, sphinx-book-theme
1.1.4, pydata-sphinx-theme 0.15.4, sphinx-thebe 0.3.1), so that pages load without console
errors and fit a phone's screen.

- sphinx-thebe registers its inline configuration script twice on every page, and the second
  ``const THEBE_JS_URL`` declaration throws in the browser. Keep the first copy only.
- sphinx-book-theme passes no ``default_mode`` to the pydata theme's page template, whose script
  then logs "Got invalid theme mode" as a console error. Default to the reader's system setting.
- The theme renders inline code unbreakable, so one long path makes a whole page scroll sideways
  on a phone. ``static/bookfixes.css`` lets inline code wrap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config

STATIC = Path(__file__).resolve().parent / "static"


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


def _add_static(app: Sphinx, config: Config) -> None:
    config.html_static_path.append(str(STATIC))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _add_static)
    app.add_css_file("bookfixes.css")
    app.connect("html-page-context", _fix_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
