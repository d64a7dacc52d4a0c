"""The content checksum of a version (docs/format.md#checksum: sha256 over the version's
datapoints, stable for the same content whatever the file layout).

The rows are taken in storage order (``order``, ``id`` — a total order, ids
being unique) and hashed column by column: for each column of FILE_SCHEMA,
its name, then for fixed-width columns the values, for string columns the
length of every value (-1 for null) followed by all the bytes. Chunking and
file splits do not change any of that, and no per-row Python runs.

The hash reads the Arrow buffers in place: the int64 values and the string
bytes are handed to sha256 as slices of the arrays' own buffers, and the
lengths are computed from the offsets a block of rows at a time into one
small reused buffer, so hashing costs little more than sha256 itself (no
cast, fill or copy of whole columns, no fresh memory to fault in). Only the
blocks of rows where a null slot spans bytes (as compute kernels leave them)
are compacted, a few thousand rows at a time, to leave those bytes out.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import FILE_SCHEMA
from ..storage.checksum import ColumnChunks

CHECKSUM_FORMAT = b"overmind-lake-checksum-v1"

#: Rows whose lengths are computed and hashed at a time (8 bytes each: the
#: block stays in cache, and its buffer is allocated once per checksum).
BLOCK_ROWS = 64 * 1024
#: Rows of a column with nulls checked at a time for null slots spanning
#: bytes (compacted, when there are some, in a buffer that stays in cache).
SPAN_BLOCK_ROWS = 8 * 1024
_LITTLE_ENDIAN = sys.byteorder == "little"


def _arrays(chunks: Iterable[pa.Array]) -> Iterator[pa.Array]:
    for chunk in chunks:
        if isinstance(chunk, pa.ChunkedArray):
            yield from chunk.chunks
        else:
            yield chunk


def _with_offsets(column: pa.Array) -> pa.Array:
    """``column`` as a string or large_string array (a string_view or any
    other type is cast to large_string: its values laid out contiguously)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    return column.cast(pa.large_string())


def _offsets(column: pa.Array) -> np.ndarray:
    """The ``len(column) + 1`` offsets of a non-empty string or large_string array."""
    dtype = np.dtype(np.int32 if pa.types.is_string(column.type) else np.int64)
    return np.frombuffer(column.buffers()[1], dtype=dtype, count=len(column) + 1,
                         offset=column.offset * dtype.itemsize)


def _null_mask(column: pa.Array, start: int, stop: int) -> np.ndarray:
    """True for the null slots among rows ``start:stop`` of a column with nulls."""
    bitmap = column.buffers()[0]
    if bitmap is None:  # not made by pyarrow's string casts; kept general
        return np.array(column.slice(start, stop - start).is_null().to_numpy(zero_copy_only=False), dtype=np.bool_)
    first = column.offset + start
    skip = first % 8
    bits = np.frombuffer(bitmap, dtype=np.uint8, count=(skip + stop - start + 7) // 8, offset=first // 8)
    valid = np.unpackbits(bits, count=skip + stop - start, bitorder="little")[skip:]
    return np.bitwise_xor(valid, 1, out=valid).view(np.bool_)


def _hash_lengths(digest: "hashlib._Hash", column: pa.Array, block: np.ndarray) -> None:
    """Hash the byte length of every value as little-endian int64, -1 for null."""
    n = len(column)
    if not n:
        return
    offsets = _offsets(column)
    nulls = column.null_count
    for start in range(0, n, BLOCK_ROWS):
        stop = min(n, start + BLOCK_ROWS)
        lengths = block[:stop - start]
        np.subtract(offsets[start + 1:stop + 1], offsets[start:stop], out=lengths, dtype=np.int64)
        if nulls:
            np.copyto(lengths, -1, where=_null_mask(column, start, stop))
        digest.update(lengths)


def _hash_bytes(digest: "hashlib._Hash", column: pa.Array) -> None:
    """Hash the values' bytes, slices of the data buffer itself. A null slot
    may span bytes in Arrow (compute kernels leave them): those are left out,
    the slot hashing as empty, by compacting just the rows around them."""
    n = len(column)
    if not n:
        return
    offsets = _offsets(column)
    first, last = int(offsets[0]), int(offsets[n])
    data = column.buffers()[2]
    if data is None or last <= first:
        return
    data = memoryview(data)
    if column.null_count:
        # rows whose null slots span no bytes are hashed in place, in as few
        # pieces as possible; the other blocks of rows without their nulls
        pending = first  # bytes from pending to the current block not hashed yet
        for start in range(0, n, BLOCK_ROWS):
            stop = min(n, start + BLOCK_ROWS)
            spanning = _null_mask(column, start, stop)
            np.logical_and(spanning, offsets[start + 1:stop + 1] != offsets[start:stop], out=spanning)
            flags = np.logical_or.reduceat(spanning, np.arange(0, stop - start, SPAN_BLOCK_ROWS))
            for part in np.flatnonzero(flags).tolist():
                low = start + part * SPAN_BLOCK_ROWS
                high = min(stop, low + SPAN_BLOCK_ROWS)
                begin = int(offsets[low])
                if begin > pending:
                    digest.update(data[pending:begin])
                pending = int(offsets[high])
                _hash_values(digest, pc.drop_null(column.slice(low, high - low)))
        first = pending
    if last > first:
        digest.update(data[first:last])


def _hash_values(digest: "hashlib._Hash", column: pa.Array) -> None:
    """Hash the bytes of a string array without nulls."""
    if len(column):
        offsets = _offsets(column)
        first, last = int(offsets[0]), int(offsets[-1])
        if last > first:
            digest.update(memoryview(column.buffers()[2])[first:last])


def _hash_integers(digest: "hashlib._Hash", column: pa.Array) -> None:
    """Hash the values as little-endian int64."""
    if not len(column):
        return
    if _LITTLE_ENDIAN and column.type == pa.int64() and not column.null_count:
        start = column.offset * 8
        digest.update(memoryview(column.buffers()[1])[start:start + len(column) * 8])
    else:  # other widths, or nulls (hashed as numpy converts NaN: kept as it always was)
        digest.update(column.cast(pa.int64()).to_numpy(zero_copy_only=False).astype("<i8").tobytes())


def checksum_of_columns(num_rows: int, chunks: ColumnChunks) -> str:
    """The checksum of a version given column by column, in any chunking
    (``chunks`` is called twice per string column: lengths, then bytes)."""
    digest = hashlib.sha256(CHECKSUM_FORMAT)
    digest.update(np.int64(num_rows).tobytes())
    block = np.empty(BLOCK_ROWS, dtype="<i8")
    for field in FILE_SCHEMA:
        digest.update(field.name.encode("utf-8") + b"\0")
        if pa.types.is_integer(field.type):
            for column in _arrays(chunks(field.name)):
                _hash_integers(digest, column)
        else:
            for column in _arrays(chunks(field.name)):
                _hash_lengths(digest, _with_offsets(column), block)
            for column in _arrays(chunks(field.name)):
                _hash_bytes(digest, _with_offsets(column))
    return digest.hexdigest()


def content_checksum(table: pa.Table) -> str:
    """Checksum of rows already in storage order (sorted by ``order``, ``id``)."""
    return checksum_of_columns(table.num_rows, lambda name: table.column(name).chunks)
