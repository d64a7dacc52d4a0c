"""The ``results`` array of the documented page, assembled by Arrow kernels.

Stored JSON text is embedded verbatim (never parsed and re-serialised); the
only string that needs escaping, ``persona``, is escaped once per distinct
value. No per-row Python work. Each row's item is rendered once per row group
(rowreader.py caches them): a page is then a slice of ready items, joined.
"""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

#: What JSON must escape in a string: a quote, a backslash, a control character.
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_BIG = pa.large_string()  # a row group's items may pass 2 GiB of text
# Typed scalars: a bare Python str makes pyarrow infer a type, which imports
# dateutil the first time (a few ms of a process's first page).
_QUOTE, _EMPTY, _NULL = (pa.scalar(v, pa.string()) for v in ('"', "", "null"))
_PIECES = [pa.scalar(v, _BIG) for v in ('{"id":"', '","expected_output":', ',"input":', ',"order":',
                                        ',"persona":', ',"tags":', "},", "")]


def _json_strings(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """JSON string literals (or ``null``) for a string column."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pc.any(pc.match_substring_regex(column, _NEEDS_ESCAPE)).as_py():
        # nothing to escape: the literal is the text in quotes
        quoted = pc.binary_join_element_wise(_QUOTE, column, _QUOTE, _EMPTY)
        return pc.fill_null(quoted, _NULL) if column.null_count else quoted
    encoded = column.dictionary_encode()
    literals = pa.array([orjson.dumps(v).decode("utf-8") for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.fill_null(pc.take(literals, encoded.indices), _NULL)


def _json_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Stored JSON text, ``null`` where SQL NULL."""
    return pc.fill_null(column, _NULL) if column.null_count else column


def page_items(rows: pa.Table) -> pa.LargeStringArray:
    """Each row as its item of the documented page, followed by a comma:
    ``{"id":…,"expected_output":…,"input":…,"order":…,"persona":…,"tags":…},``."""
    if rows.num_rows == 0:
        return pa.array([], pa.large_string())
    start, expected_output, input_, order, persona, tags, end, separator = _PIECES
    items = pc.binary_join_element_wise(
        start, rows["id"].cast(_BIG),
        expected_output, _json_text(rows["expected_output"]).cast(_BIG),
        input_, _json_text(rows["input"]).cast(_BIG),
        order, pc.cast(rows["order"], _BIG),
        persona, _json_strings(rows["persona"]).cast(_BIG),
        tags, _json_text(rows["tags"]).cast(_BIG),
        end, separator,
    )
    items = items.combine_chunks() if isinstance(items, pa.ChunkedArray) else items
    return items if items.type == _BIG else items.cast(_BIG)


def join_items(items: pa.LargeStringArray) -> bytes:
    """The ``results`` array of page items (one contiguous array)."""
    if len(items) == 0:
        return b"[]"
    # Every item ends with ",": the array's data buffer is the comma-joined
    # list already; take it whole and drop the last comma.
    offsets = np.frombuffer(items.buffers()[1], dtype=np.int64, count=len(items) + 1, offset=items.offset * 8)
    return b"[" + memoryview(items.buffers()[2])[offsets[0]:offsets[-1] - 1].tobytes() + b"]"


def results_json(rows: pa.Table) -> bytes:
    """``[{"id":…,"expected_output":…,"input":…,"order":…,"persona":…,"tags":…},…]``."""
    return join_items(page_items(rows))
