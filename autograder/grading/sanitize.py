"""Student output made inert: what an autograded notebook or a feedback page shows runs nothing.

Everything a student's code displays is hostile data. :func:`inert` rewrites an executed
notebook so that it stays data wherever it is opened (formgrader, JupyterLab, nbconvert):

- ``text/html`` goes through nh3 (Rust's ammonia): no script, no event handler, no
  ``javascript:`` or ``data:`` link, no iframe, object, form, meta, base or style; images only
  as inline PNG, JPEG or GIF;
- ``text/markdown`` is rendered as nbconvert renders it, then cleaned the same way, and kept as
  ``text/html`` (nbconvert passes the raw HTML of markdown through);
- kept as they are: ``text/plain``, ``text/latex`` (nbconvert escapes it), PNG, JPEG, GIF and
  ``application/json``; every other type (JavaScript, SVG, widgets, renderer plugins' JSON)
  is removed, and a ``text/plain`` line says which;
- an output's metadata keeps only an image's numeric size, its alt text and ``unconfined``
  (nbconvert writes the size into an unquoted attribute);
- markdown *answer* cells, which the student wrote, become their rendering, cleaned, as one
  HTML block; attachments keep only PNG, JPEG and GIF;
- no trust marks: the notebook's ``signature``, ``trusted`` and ``widgets`` metadata and each
  cell's ``trusted`` are dropped.

:func:`inert_page` gives a feedback page a Content-Security-Policy under which no script, event
handler or ``javascript:`` URL runs and nothing outside the page loads, so whatever the cleaning
missed still runs nothing there; its math is MathML (:mod:`autograder.grading.mathml`), which
needs no script. :func:`clean_mathml` cleans that MathML.

NOTE: nbconvert's own ``HTMLExporter.sanitize_html`` (bleach) would clean the feedback pages only;
the autograded notebook, which formgrader and JupyterLab open, must be inert itself, so it is
cleaned once, before it is written, and the feedback is made from it.
"""

from __future__ import annotations

import copy
import html
import re
from typing import Any

import nbformat
import nh3

from autograder.nbgrader_api import nbgrader_meta

#: Files a browser runs when opened: not passed on from a submission into the feedback folder.
ACTIVE_SUFFIXES = frozenset(
    {".html", ".htm", ".xhtml", ".xht", ".shtml", ".svg", ".svgz", ".xml", ".xsl", ".js", ".mjs"}
)
#: Kept as they are: data that no renderer executes.
KEPT = frozenset({"text/plain", "text/latex", "application/json"})
RASTER = frozenset({"image/png", "image/jpeg", "image/gif"})
_SCHEMES = {"http", "https", "mailto", "data"}  # data: only for images, see _attribute
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*\Z", re.I)


def _attribute(tag: str, attr: str, value: str) -> str | None:
    """nh3's per-attribute hook: images only inline, and no other ``data:`` URL."""
    url = value.lstrip("".join(map(chr, range(33))))  # a browser skips these before the scheme
    if tag == "img" and attr == "src":
        return value if _DATA_IMAGE.match(url) else None  # no request leaves the page
    return None if url[:5].lower() == "data:" else value


def clean_html(html: str) -> str:
    """``html`` with nothing active left: nh3's allow-list of tags and attributes, ours of URLs."""
    return nh3.clean(html, url_schemes=_SCHEMES, attribute_filter=_attribute)


def _markdown(source: str) -> str:
    """Markdown as nbconvert renders it, cleaned: HTML on one line (one raw HTML block, so no
    renderer reads markdown in it again)."""
    from nbconvert.filters import markdown2html

    try:
        rendered = markdown2html(source)
    except Exception:  # a missing attachment, or the renderer's own bug: show it as text
        rendered = "<pre>" + html.escape(source) + "</pre>"
    one_line = clean_html(rendered).replace("\r", "&#13;").replace("\n", "&#10;")
    return f"<div>{one_line}</div>"


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    return None


def _bundle(data: Any) -> dict[str, Any]:
    """A mime bundle with only inert types; a ``text/plain`` line names the removed ones."""
    kept: dict[str, Any] = {}
    removed: list[str] = []
    for mime, value in data.items() if isinstance(data, dict) else ():
        text = _text(value)
        if mime == "application/json":
            kept[mime] = value
        elif text is None:
            removed.append(str(mime))
        elif mime == "text/html":
            kept[mime] = clean_html(text)
        elif mime == "text/markdown":
            if "text/html" not in data:  # else the output's own HTML form is the one shown
                kept["text/html"] = _markdown(text)
        elif mime in KEPT or mime in RASTER:
            kept[mime] = text
        else:
            removed.append(str(mime))
    if removed:
        names = ", ".join(sorted(name[:80] for name in removed))
        note = f"[not kept, as it could run in a browser: {names}]"
        kept["text/plain"] = f"{kept['text/plain']}\n{note}" if "text/plain" in kept else note
    return kept


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _image_meta(meta: Any) -> dict[str, Any]:
    if not isinstance(meta, dict):
        return {}
    kept = {k: meta[k] for k in ("width", "height") if _number(meta.get(k))}
    if isinstance(meta.get("alt"), str):
        kept["alt"] = meta["alt"]
    if isinstance(meta.get("unconfined"), bool):
        kept["unconfined"] = meta["unconfined"]
    return kept


def _output_meta(meta: Any) -> dict[str, Any]:
    """Only an image's size (numbers), alt text and ``unconfined``, at the top or per image type."""
    kept = _image_meta(meta)
    for mime in sorted(RASTER):
        if isinstance(meta, dict) and _image_meta(meta.get(mime)):
            kept[mime] = _image_meta(meta[mime])
    return kept


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _output(output: Any) -> dict[str, Any] | None:
    """One output made inert, or None for one that is not an output of nbformat 4."""
    kind = output.get("output_type") if isinstance(output, dict) else None
    if kind in ("display_data", "execute_result"):
        out = {"output_type": kind, "data": _bundle(output.get("data"))}
        out["metadata"] = _output_meta(output.get("metadata"))
        if kind == "execute_result":
            out["execution_count"] = _count(output.get("execution_count"))
        return out
    if kind == "stream":
        name = "stderr" if output.get("name") == "stderr" else "stdout"
        return {"output_type": kind, "name": name, "text": _text(output.get("text")) or ""}
    if kind == "error":
        trace = output.get("traceback")
        lines = [str(line) for line in trace] if isinstance(trace, list) else []
        ename, evalue = (str(output.get(k, "")) for k in ("ename", "evalue"))
        return {"output_type": kind, "ename": ename, "evalue": evalue, "traceback": lines}
    return None


def _cell(cell: Any) -> None:
    """Make one cell inert, in place."""
    meta = cell.get("metadata")
    if isinstance(meta, dict):
        meta.pop("trusted", None)
    if cell.get("cell_type") == "code":
        outputs = cell.get("outputs")
        found = [_output(o) for o in outputs] if isinstance(outputs, list) else []
        cell["outputs"] = [nbformat.from_dict(o) for o in found if o is not None]
        cell["execution_count"] = _count(cell.get("execution_count"))
    elif cell.get("cell_type") == "markdown":
        if nbgrader_meta(cell).get("solution"):  # the student's answer: written by the student
            cell["source"] = _markdown(_text(cell.get("source")) or "")
        attachments = cell.get("attachments")
        if isinstance(attachments, dict):
            cell["attachments"] = {
                name: {m: v for m, v in bundle.items() if m in RASTER and _text(v) is not None}
                for name, bundle in attachments.items()
                if isinstance(bundle, dict)
            }


def inert(nb: Any) -> Any:
    """A copy of the executed notebook ``nb`` (a NotebookNode or its dict) that runs nothing."""
    return _inert(nbformat.from_dict(copy.deepcopy(dict(nb))))


def _inert(nb: Any) -> Any:
    """:func:`inert`, in place, on a notebook of this process's own (just parsed, say)."""
    meta = nb.get("metadata")
    if isinstance(meta, dict):
        for key in ("signature", "trusted", "widgets"):
            meta.pop(key, None)
    cells = nb.get("cells")
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict):
            _cell(cell)
    return nb


def inert_json(text: str) -> str:
    """:func:`inert` on a notebook's JSON text; ValueError when it is not a notebook."""
    import json

    try:
        nb = json.loads(text)
        if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
            raise ValueError("no list of cells")
        if nb.get("nbformat") != 4:
            raise ValueError(f"nbformat {str(nb.get('nbformat'))[:20]}, not 4")
        return nbformat.writes(_inert(nbformat.from_dict(nb)))
    except (ValueError, RecursionError) as err:  # copying or writing it recurses as deep
        raise ValueError(f"not a notebook: {str(err)[:120] or 'nested too deep'}") from None


#: What MathML may hold: MathML Core's elements (no ``annotation-xml``, whose content is HTML)
#: and their presentation attributes (no ``href``, ``style``, ``class``, ``id`` or handler).
MATHML_TAGS = frozenset({
    "math", "mrow", "mi", "mo", "mn", "ms", "mtext", "mspace", "mfrac", "msqrt", "mroot",
    "msub", "msup", "msubsup", "munder", "mover", "munderover", "mmultiscripts", "mprescripts",
    "none", "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom", "menclose", "merror",
    "semantics", "annotation",
})  # fmt: skip
MATHML_ATTRIBUTES = frozenset({
    "display", "displaystyle", "scriptlevel", "mathvariant", "mathsize", "mathcolor",
    "mathbackground", "dir", "form", "fence", "separator", "stretchy", "symmetric", "largeop",
    "movablelimits", "lspace", "rspace", "minsize", "maxsize", "accent", "accentunder",
    "linethickness", "width", "height", "depth", "voffset", "notation", "columnalign",
    "columnspacing", "columnlines", "rowalign", "rowspacing", "rowlines", "frame",
    "framespacing", "equalrows", "equalcolumns", "columnspan", "rowspan", "encoding",
})  # fmt: skip


def clean_mathml(markup: str) -> str:
    """MathML with only :data:`MATHML_TAGS` and :data:`MATHML_ATTRIBUTES` left (nh3 again)."""
    return nh3.clean(
        markup,
        tags=set(MATHML_TAGS),
        attributes={"*": set(MATHML_ATTRIBUTES)},
        url_schemes=set(),
        link_rel=None,
    )


#: No script at all (math is MathML, see :mod:`autograder.grading.mathml`), styles inline only
#: (nbconvert's; student HTML carries none), images inline only. Nothing loads or submits.
CSP = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)
_HEAD = re.compile(r"<head(\s[^>]*)?>\s*(<meta charset=[^>]*>)?", re.I)  # the charset stays first
#: The template's scripts (MathJax from a CDN, its configuration), which could not run anyway,
#: and its comments (which name them).
_SCRIPT = re.compile(r"<script\b.*?</script\s*>\s*|<!--.*?-->\s*", re.S | re.I)


def inert_page(page: str) -> str:
    """A feedback page (nbconvert's HTML) with :data:`CSP` first in its head and no script in
    its head; ValueError for a page without a head."""
    head = _HEAD.search(page)
    end = page.find("</head>")
    if head is None or end < head.end():
        raise ValueError("not an HTML page with a <head>: no Content-Security-Policy can be set")
    policy = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    inside = _SCRIPT.sub("", page[head.end() : end])  # the template's, before any output
    return f"{page[: head.end()]}\n{policy}\n{inside}{page[end:]}"
