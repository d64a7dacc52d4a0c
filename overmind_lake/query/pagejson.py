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


def _json_strings(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """JSON string literals (or ``null``) for a string column."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pc.any(pc.match_substring_regex(column, _NEEDS_ESCAPE)).as_py():
        # nothing to escape: the literal is the text in quotes
        quoted = pc.binary_join_element_wise('"', column, '"', "")
        return pc.fill_null(quoted, "null") if column.null_count else quoted
    encoded = column.dictionary_encode()
    literals = pa.array([orjson.dumps(v).decode("utf-8") for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.fill_null(pc.take(literals, encoded.indices), "null")


def _json_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Stored JSON text, ``null`` where SQL NULL."""
    return pc.fill_null(column, "null") if column.null_count else column


def page_items(rows: pa.Table) -> pa.LargeStringArray:
    """Each row as its item of the documented page, followed by a comma:
    ``{"id":…,"expected_output":…,"input":…,"order":…,"persona":…,"tags":…},``."""
    if rows.num_rows == 0:
        return pa.array([], pa.large_string())
    big = pa.large_string()  # a row group's items may pass 2 GiB of text

    def text(value: str) -> pa.Scalar:
        return pa.scalar(value, big)

    items = pc.binary_join_element_wise(
        text('{"id":"'), rows["id"].cast(big),
        text('","expected_output":'), _json_text(rows["expected_output"]).cast(big),
        text(',"input":'), _json_text(rows["input"]).cast(big),
        text(',"order":'), pc.cast(rows["order"], big),
        text(',"persona":'), _json_strings(rows["persona"]).cast(big),
        text(',"tags":'), _json_text(rows["tags"]).cast(big),
        text("},"),
        text(""),  # the separator between the pieces above
    )
    items = items.combine_chunks() if isinstance(items, pa.ChunkedArray) else items
    return items if items.type == big else items.cast(big)


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
