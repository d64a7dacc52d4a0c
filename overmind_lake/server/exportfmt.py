"""Rendering a batch of stored rows as JSONL lines or CSV records, with Arrow
compute kernels (no per-row Python): the body of ``GET …/export/``
(docs/http-export.md).

JSON fields are embedded verbatim from the stored canonical JSON text, so the
export is as lossless as the storage (integers beyond 2^53, key order,
unicode). Each rendered batch is one contiguous ``large_string`` array whose
data buffer, taken whole, is the bytes to send.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import DATAPOINT_FIELDS, JSON_FIELDS

_BIG = pa.large_string()
#: What JSON must escape in a string: a quote, a backslash, a control character.
_JSON_ESCAPE = r'["\\\x00-\x1f]'
#: What makes a CSV field need quotes (RFC 4180): the delimiter, a quote, CR or LF.
_CSV_SPECIAL = r'[",\r\n]'
_CONTROL = [(chr(c), "\\u%04x" % c) for c in range(0x20)]


def _scalar(text: str) -> pa.Scalar:
    return pa.scalar(text, _BIG)


_EMPTY, _NULL, _QUOTE = _scalar(""), _scalar("null"), _scalar('"')


def _strings(column: pa.Array) -> pa.Array:
    """A string column as a plain (non-dictionary) large_string array."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column.cast(_BIG)


def json_string_literals(column: pa.Array) -> pa.Array:
    """JSON string literals of a string column, ``null`` where null."""
    column = _strings(column)
    if len(column) and pc.any(pc.match_substring_regex(column, _JSON_ESCAPE)).as_py():
        column = pc.replace_substring(column, "\\", "\\\\")
        column = pc.replace_substring(column, '"', '\\"')
        if pc.any(pc.match_substring_regex(column, r"[\x00-\x1f]")).as_py():
            for char, escaped in _CONTROL:
                column = pc.replace_substring(column, char, escaped)
    quoted = pc.binary_join_element_wise(_QUOTE, column, _QUOTE, _EMPTY)
    return pc.fill_null(quoted, _NULL) if quoted.null_count else quoted


def _json_text(column: pa.Array) -> pa.Array:
    """Stored JSON text, ``null`` where null."""
    column = _strings(column)
    return pc.fill_null(column, _NULL) if column.null_count else column


def _concat(parts: list) -> pa.Array:
    out = pc.binary_join_element_wise(*parts, _EMPTY)
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _body(lines: pa.Array) -> bytes:
    """The concatenated bytes of a contiguous large_string array."""
    if len(lines) == 0:
        return b""
    if lines.type != _BIG:
        lines = lines.cast(_BIG)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
    return memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]].tobytes()


def jsonl_lines(batch: pa.RecordBatch | pa.Table) -> bytes:
    """One JSON object a row, each line ending with ``\\n``, keys in
    ``DATAPOINT_FIELDS`` order."""
    if batch.num_rows == 0:
        return b""
    parts: list = []
    for i, name in enumerate(DATAPOINT_FIELDS):
        column = batch.column(name)
        parts.append(_scalar(('{"' if i == 0 else ',"') + name + '":'))
        if name in JSON_FIELDS:
            parts.append(_json_text(column))
        elif name == "order":
            parts.append(pc.cast(column, _BIG))
        else:
            parts.append(json_string_literals(column))
    parts.append(_scalar("}\n"))
    return _body(_concat(parts))


def _csv_field(column: pa.Array) -> pa.Array:
    """A text column as RFC 4180 fields: quoted (inner quotes doubled) when
    it holds a delimiter, a quote, CR or LF; empty where null."""
    column = _strings(column)
    if len(column) and pc.any(pc.match_substring_regex(column, _CSV_SPECIAL)).as_py():
        special = pc.match_substring_regex(column, _CSV_SPECIAL)
        quoted = pc.binary_join_element_wise(_QUOTE, pc.replace_substring(column, '"', '""'), _QUOTE, _EMPTY)
        column = pc.if_else(special, quoted, column)
    return pc.fill_null(column, _EMPTY) if column.null_count else column


def csv_header() -> bytes:
    return (",".join(DATAPOINT_FIELDS) + "\r\n").encode("ascii")


def csv_records(batch: pa.RecordBatch | pa.Table) -> bytes:
    """One CSV record a row (``\\r\\n``-terminated), fields in ``DATAPOINT_FIELDS``
    order; JSON fields as their compact JSON text."""
    if batch.num_rows == 0:
        return b""
    parts: list = []
    for i, name in enumerate(DATAPOINT_FIELDS):
        if i:
            parts.append(_scalar(","))
        column = batch.column(name)
        parts.append(pc.cast(column, _BIG) if name == "order" else _csv_field(column))
    parts.append(_scalar("\r\n"))
    return _body(_concat(parts))
