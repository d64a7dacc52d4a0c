"""How the viewer shows a JSON value in a table cell (docs/viewer.md).

A short value is one line of compact JSON; a long one is folded: a one-line
preview, the pretty-printed value (2-space indent) behind ``<details>``.
Everything here returns plain text; the templates escape it (autoescape).
Values are decoded losslessly (integers beyond 64 bits, key order), so what
is shown is what is stored.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from markupsafe import Markup, escape

from ...query.listquery import loads_exact

#: Compact JSON up to this many characters is shown inline, unfolded.
INLINE_CHARS = 80
#: A preview (the ``<summary>`` of a folded value) is cut at this many characters.
PREVIEW_CHARS = 100
#: Pretty-printed text beyond this many characters is cut (the JSON API has it whole).
MAX_PRETTY_CHARS = 20_000


class Cell:
    """A JSON value ready to show: ``inline`` text, or a ``preview`` + ``pretty`` fold.

    ``cut``: characters of ``pretty`` left out; ``kind``: "null", "string",
    "text" or "json" (a CSS class). A plain slotted class: a page makes
    hundreds of these, so construction is kept cheap.
    """

    __slots__ = ("inline", "preview", "pretty", "cut", "kind")

    def __init__(self, inline: str | None = None, preview: str = "", pretty: str = "", cut: int = 0,
                 kind: str = "json"):
        self.inline = inline
        self.preview = preview
        self.pretty = pretty
        self.cut = cut
        self.kind = kind

    def __repr__(self) -> str:
        return f"Cell(inline={self.inline!r}, preview={self.preview[:20]!r}, cut={self.cut}, kind={self.kind!r})"


def compact(value: Any) -> str:
    """Compact JSON text of ``value`` (the stdlib when orjson cannot: > 64-bit ints, deep nesting)."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def pretty(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, ensure_ascii=False, indent=2)


_NULL = Cell("null", kind="null")


def cell(value: Any) -> Cell:
    """The :class:`Cell` of a decoded JSON value."""
    if value is None:
        return _NULL
    try:
        text = orjson.dumps(value).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        try:
            text = compact(value)
        except (RecursionError, ValueError):
            return Cell("(nested too deeply to show here; see the JSON API)")
    kind = "string" if value.__class__ is str else "json"
    if len(text) <= INLINE_CHARS:  # compact JSON has no raw newline
        return Cell(text, kind=kind)
    try:
        body = value if isinstance(value, str) else pretty(value)
    except (RecursionError, ValueError):
        body = text
    if len(body) > 4 * len(text) + 1000:  # deep nesting: the indentation would dwarf the value
        body = text
    cut = max(0, len(body) - MAX_PRETTY_CHARS)
    preview = text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else "")
    return Cell(preview=preview, pretty=body[:MAX_PRETTY_CHARS], cut=cut, kind=kind)


def raw_cell(text: str) -> Cell:
    """A cell of JSON text that is not decoded (an item too deep for Python)."""
    cut = max(0, len(text) - MAX_PRETTY_CHARS)
    return Cell(preview=text[:PREVIEW_CHARS] + "…", pretty=text[:MAX_PRETTY_CHARS], cut=cut)


_FLAT = (str, int, float, bool, type(None))


def _label(value: Any) -> str:
    return value if value.__class__ is str else compact(value)


def chips(value: Any, limit: int = 12) -> list[str] | None:
    """Tags as short labels, when they are a flat list or a flat object; else None."""
    cls = value.__class__
    if cls is list:
        if not all(isinstance(v, _FLAT) for v in value):
            return None
        labels = [_label(v) for v in value]
    elif cls is dict:
        if not all(isinstance(v, _FLAT) for v in value.values()):
            return None
        labels = [f"{k}: {_label(v)}" for k, v in value.items()]
    else:
        return None
    labels = [label if len(label) <= 60 else label[:59] + "…" for label in labels]
    return labels[:limit] + ([f"+{len(labels) - limit} more"] if len(labels) > limit else [])


def json_text_cell(text: str | None) -> Cell:
    """The cell of stored JSON text (a diff column), decoded losslessly."""
    if text is None:
        return _NULL
    try:
        return cell(loads_exact(text.encode("utf-8", "surrogatepass")))
    except (RecursionError, ValueError):
        return raw_cell(text)


_CUT_NOTE = '<p class="cut">… {} more characters (the JSON API has the whole value)</p>'


def esc(text: str) -> str:
    """``text`` escaped for HTML text and attribute values (as markupsafe escapes)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


def _cell(c: Cell, open_: bool = False) -> str:
    if c.inline is not None:
        return '<code class="j %s">%s</code>' % (c.kind, esc(c.inline))
    cut = _CUT_NOTE.format(c.cut) if c.cut else ""
    return ('<details class="j"%s><summary><code>%s</code></summary><pre>%s</pre>%s</details>'
            % (" open" if open_ else "", esc(c.preview), esc(c.pretty), cut))


def _chips(labels: list[str] | None, fallback: Cell) -> str:
    if labels is None:
        return _cell(fallback)
    if not labels:
        return '<span class="muted">[]</span>'
    return "".join('<span class="chip">%s</span>' % esc(label) for label in labels)


def cell_html(c: Cell, open_: bool = False) -> Markup:
    """A cell as HTML, every piece of text escaped (the templates' ``cell`` filter:
    a page shows hundreds of cells, and a filter costs a fraction of a macro call)."""
    return Markup(_cell(c, open_))


def chips_html(labels: list[str] | None, fallback: Cell) -> Markup:
    """Tags as chips (``labels`` from :func:`chips`), else their JSON cell."""
    return Markup(_chips(labels, fallback))


_ROW = ('<tr class="dp"><td data-label="order" class="num">%s</td>'
        '<td data-label="id"><code class="id" title="%s">%s</code></td>'
        '<td data-label="persona">%s</td><td data-label="tags">%s</td>'
        '<td data-label="input" class="wide">%s</td><td data-label="expected_output" class="wide">%s</td></tr>\n')
_NO_PERSONA = '<span class="muted">—</span>'


def rows_html(rows: list) -> Markup:
    """The datapoints table's rows (``data.Row``), every value escaped: the one
    part of a page that grows with its size, so it is written here, not by
    the template engine's per-value machinery."""
    out = []
    for r in rows:
        if r.raw is not None:
            out.append('<tr class="dp"><td colspan="6" data-label="datapoint">%s</td></tr>\n' % _cell(r.raw))
            continue
        persona = _NO_PERSONA if r.persona is None else '<span class="persona">%s</span>' % esc(r.persona)
        ident = esc(r.id)
        out.append(_ROW % (esc(str(r.order)), ident, ident[:8], persona, _chips(r.tags, r.tags_cell),
                           _cell(r.input), _cell(r.expected_output)))
    return Markup("".join(out))
