"""TeX math in a feedback page as MathML, which the browser draws itself: no script, no network.

nbconvert's markdown renderer leaves each formula in the page as text between its delimiters,
for MathJax to find and typeset in the browser. :func:`render_math` finds it the same way in the
finished page and puts MathML (made by ``latex2mathml``, then cleaned by
:func:`autograder.grading.sanitize.clean_mathml`) in its place: in the rendered markdown of each
cell, the instructor's and the student's answers alike, and in ``text/latex`` outputs. As in
MathJax, text inside ``pre``, ``code`` and the like is left alone.

Math the converter cannot read (it raises, writes markup that is not well-formed or not MathML,
or leaves an unknown command such as ``\\foo`` as a name) stays as it was: its TeX, as text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from xml.etree import ElementTree

from autograder.grading.sanitize import MATHML_TAGS, clean_mathml

#: The delimiters nbconvert's renderer writes (``$$``, ``$`` and ``\begin{env}...\end{env}``,
#: its ``filters/markdown_mistune.py``) and MathJax's others (``\[...\]``, ``\(...\)``); the
#: first match wins, so ``$$`` is tried before ``$``.
MATH = re.compile(
    r"(?<!\\)\$\$(?P<display>.+?)(?<!\\)\$\$"
    r"|\\\[(?P<display_latex>.+?)\\\]"
    r"|(?<![$\\])\$(?P<inline>.+?)(?<![$\\])\$"
    r"|\\\((?P<inline_latex>.+?)\\\)"
    r"|(?P<environment>\\begin\{(?P<name>[A-Za-z]*\*?)\}.*?\\end\{(?P=name)\})",
    re.S,
)
#: Longer TeX is left as text: latex2mathml's time and output grow with it (a student writes it).
MAX_TEX = 5000
#: The elements whose text is math, as nbconvert's classic and lab templates mark them.
CONTAINERS = frozenset({"text_cell_render", "jp-RenderedMarkdown", "output_latex",
                        "jp-RenderedLatex"})  # fmt: skip
#: Text inside these is never math (MathJax's skipTags, and math already made).
SKIP = frozenset({"pre", "code", "kbd", "samp", "math", "svg", "annotation", "annotation-xml"})
#: Elements whose content is raw text, not markup: passed over whole.
RAW = frozenset({"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
                 "noscript", "plaintext"})  # fmt: skip
_TAG = re.compile(
    r"<!--.*?-->|<[!?][^>]*>|<(?P<close>/?)(?P<tag>[A-Za-z][A-Za-z0-9-]*)"
    r"(?P<attrs>(?:[^>\"']|\"[^\"]*\"|'[^']*')*)>",
    re.S,
)
_CLASS = re.compile(r"""\sclass\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""", re.I)
_TOKEN_ELEMENTS = frozenset({"mi", "mo", "mn", "mtext", "ms"})


#: Sizing commands before a delimiter (``\Big\lfloor``), which latex2mathml cannot read.
_SIZED = re.compile(r"\\[Bb]igg?[lrm]?(?![A-Za-z])\s*")


def to_mathml(tex: str, display: bool) -> str | None:
    """``tex`` as one cleaned ``<math>`` element, or None where latex2mathml cannot read it
    (tried once more without sizing commands, which only change a delimiter's size)."""
    found = _convert(tex, display)
    if found is None and _SIZED.search(tex):
        found = _convert(_SIZED.sub("", tex), display)
    return found


def _convert(tex: str, display: bool) -> str | None:
    from latex2mathml.converter import convert

    if not tex.strip() or len(tex) > MAX_TEX:
        return None
    try:
        markup = convert(tex, display="block" if display else "inline")
        tree = ElementTree.fromstring(markup)  # not well-formed: raw text got in (\text{<b>})
    except Exception:  # its own errors, a RecursionError on deep nesting: the TeX stays
        return None
    for element in tree.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag not in MATHML_TAGS:
            return None  # markup in the TeX's text (\text{<b>}): shown as the TeX it is
        if tag in _TOKEN_ELEMENTS and (element.text or "").startswith("\\"):
            return None  # a command it does not know, which it would show as a name
    return clean_mathml(markup)


def _math(text: str) -> str | None:
    """``text`` (a page's escaped text) with its math as MathML; None when nothing converted."""
    plain = html.unescape(text)
    parts: list[str] = []
    done, converted = 0, False
    for m in MATH.finditer(plain):
        tex = m.group("display") or m.group("display_latex") or m.group("inline")
        tex = tex or m.group("inline_latex") or m.group("environment")
        display = m.lastgroup != "inline" and m.lastgroup != "inline_latex"
        mathml = to_mathml(tex, display)
        if mathml is not None:
            parts += [html.escape(plain[done : m.start()], quote=False), mathml]
            done, converted = m.end(), True
    if not converted:
        return None
    return "".join(parts) + html.escape(plain[done:], quote=False)


def _is_container(attrs: str) -> bool:
    found = _CLASS.search(attrs)
    classes = next((g for g in found.groups() if g is not None), "") if found else ""
    return not CONTAINERS.isdisjoint(classes.split())


def _text_runs(page: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each run of text in ``page`` that is inside a math container and not
    inside a :data:`SKIP` element. A run holding a raw ``<`` (markup this scan did not read as
    a tag) is never given: no MathML goes where a browser might read an attribute."""
    pos, depth, skip = 0, 0, 0  # depth: open divs since a container opened (0: outside one)
    while (m := _TAG.search(page, pos)) is not None:
        if depth and not skip and m.start() > pos and "<" not in page[pos : m.start()]:
            yield pos, m.start()
        pos = m.end()
        tag, closing = (m.group("tag") or "").lower(), m.group("close") == "/"
        if tag in RAW and not closing:
            end = re.compile(f"</{tag}", re.I).search(page, pos)
            pos = len(page) if end is None else end.start()
        elif tag == "div" and closing:
            depth = max(depth - 1, 0)
            skip = skip if depth else 0
        elif tag == "div" and (depth or _is_container(m.group("attrs"))):
            depth += 1
        elif tag in SKIP and depth:
            skip = max(skip - 1, 0) if closing else skip + 1


def render_math(page: str) -> str:
    """``page`` with the math of its markdown cells and ``text/latex`` outputs as MathML."""
    parts: list[str] = []
    done = 0
    for start, end in _text_runs(page):
        converted = _math(page[start:end])
        if converted is not None:
            parts += [page[done:start], converted]
            done = end
    return "".join(parts) + page[done:]
