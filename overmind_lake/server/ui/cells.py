"""How the viewer shows a JSON value in a table cell (docs/viewer.md).

A short value is one line of compact JSON; a long one is folded: a one-line
preview, the pretty-printed value (2-space indent) behind ``<details>``.
Everything here returns plain text; the templates escape it (autoescape).
Values are decoded losslessly (integers beyond 64 bits, key order), so what
is shown is what is stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from ...query.listquery import loads_exact

#: Compact JSON up to this many characters is shown inline, unfolded.
INLINE_CHARS = 80
#: A preview (the ``<summary>`` of a folded value) is cut at this many characters.
PREVIEW_CHARS = 100
#: Pretty-printed text beyond this many characters is cut (the JSON API has it whole).
MAX_PRETTY_CHARS = 20_000


@dataclass(frozen=True)
class Cell:
    """A JSON value ready to show: ``inline`` text, or a ``preview`` + ``pretty`` fold."""

    inline: str | None = None
    preview: str = ""
    pretty: str = ""
    cut: int = 0  # characters of ``pretty`` left out
    kind: str = "json"  # "null", "string", "json"


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


def cell(value: Any) -> Cell:
    """The :class:`Cell` of a decoded JSON value."""
    if value is None:
        return Cell(inline="null", kind="null")
    try:
        text = compact(value)
    except (RecursionError, ValueError):
        return Cell(inline="(nested too deeply to show here; see the JSON API)")
    kind = "string" if isinstance(value, str) else "json"
    if len(text) <= INLINE_CHARS and "\n" not in text:
        return Cell(inline=text, kind=kind)
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


def chips(value: Any, limit: int = 12) -> list[str] | None:
    """Tags as short labels, when they are a flat list or a flat object; else None."""
    if isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) or v is None for v in value):
        labels = [v if isinstance(v, str) else compact(v) for v in value]
    elif isinstance(value, dict) and all(isinstance(v, (str, int, float, bool)) or v is None
                                         for v in value.values()):
        labels = [f"{k}: {v if isinstance(v, str) else compact(v)}" for k, v in value.items()]
    else:
        return None
    labels = [label if len(label) <= 60 else label[:59] + "…" for label in labels]
    return labels[:limit] + ([f"+{len(labels) - limit} more"] if len(labels) > limit else [])


def json_text_cell(text: str | None) -> Cell:
    """The cell of stored JSON text (a diff column), decoded losslessly."""
    if text is None:
        return Cell(inline="null", kind="null")
    try:
        return cell(loads_exact(text.encode("utf-8", "surrogatepass")))
    except (RecursionError, ValueError):
        return raw_cell(text)
