"""PostgreSQL's binary ``COPY`` format, rendered from Arrow batches in bulk.

A binary COPY row is a 16-bit field count, then per field a 32-bit length
(-1 for null) and the value's bytes: UUIDs as their 16 bytes, integers big
endian, ``text`` as UTF-8, ``jsonb`` as a version byte (1) and the JSON text.
Each field becomes one or two Arrow binary arrays (length prefixes from
numpy, values from the batch's own buffers) and
``binary_join_element_wise`` concatenates them row by row in C++: the joined
array's data buffer *is* the COPY stream of the batch. No Python object is
made per row or per value, and the server parses no text but the JSON.
"""

from __future__ import annotations

import struct
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)

_HEX = np.zeros(256, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i
_DASHES = [8, 13, 18, 23]
_EMPTY = pa.scalar(b"", pa.binary())
_ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def _fixed(raw: np.ndarray, width: int, n: int) -> pa.Array:
    """``n`` values of ``width`` bytes each (``raw`` holds them back to back) as a binary array."""
    buf = pa.py_buffer(np.ascontiguousarray(raw))
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, buf]).cast(pa.binary())


def _be32(values: np.ndarray) -> pa.Array:
    values = np.asarray(values)
    return _fixed(values.astype(">i4").view(np.uint8), 4, len(values))


def _combined(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _lengths(arr: pa.Array, extra: int = 0) -> np.ndarray:
    lengths = pc.binary_length(arr)
    if extra:
        lengths = pc.add(lengths, extra)
    return pc.fill_null(lengths, -1).to_numpy().astype(np.int64)


def text_field(arr: pa.Array) -> list:
    arr = _combined(arr)
    return [_be32(_lengths(arr)), pc.cast(arr, pa.binary())]


def jsonb_field(arr: pa.Array) -> list:
    arr = _combined(arr)
    parts = [_be32(_lengths(arr, 1))]
    if arr.null_count:
        parts.append(pc.if_else(pc.is_valid(arr), pa.scalar(b"\x01"), _EMPTY))
    else:
        parts.append(pa.scalar(b"\x01"))
    parts.append(pc.cast(arr, pa.binary()))
    return parts


def uuid_field(arr: pa.Array) -> list:
    """Canonical 36-character UUID strings (the lake stores no other form) as 16 bytes each."""
    arr = _combined(arr)
    n = len(arr)
    filled = pc.fill_null(arr, _ZERO_UUID) if arr.null_count else arr
    filled = pc.cast(filled, pa.string())
    if n and pc.min_max(pc.utf8_length(filled)).as_py() != {"min": 36, "max": 36}:
        raise ValueError("a UUID column holds a value that is not a canonical 36-character UUID")
    offsets = np.frombuffer(filled.buffers()[1], np.int32)[filled.offset:filled.offset + n + 1]
    chars = np.frombuffer(filled.buffers()[2], np.uint8)[offsets[0]:offsets[-1]].reshape(n, 36)
    nibbles = _HEX[np.delete(chars, _DASHES, axis=1)]
    raw = ((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).astype(np.uint8)
    values = _fixed(raw, 16, n)
    if not arr.null_count:
        return [pa.scalar(struct.pack(">i", 16)), values]
    valid = pc.is_valid(arr)
    return [_be32(np.where(valid.to_numpy(zero_copy_only=False), 16, -1)), pc.if_else(valid, values, _EMPTY)]


def int8_field(arr: pa.Array) -> list:
    values = _combined(arr).to_numpy().astype(">i8")
    return [pa.scalar(struct.pack(">i", 8)), _fixed(values.view(np.uint8), 8, len(values))]


def const_uuid(text: str) -> pa.Scalar:
    return pa.scalar(struct.pack(">i", 16) + uuid.UUID(text).bytes)


def const_int4(value: int) -> pa.Scalar:
    return pa.scalar(struct.pack(">ii", 4, value))


def field_count(n: int) -> pa.Scalar:
    return pa.scalar(struct.pack(">h", n))


def join_rows(parts: list) -> memoryview:
    """Concatenate each row's field pieces; the COPY bytes of the whole batch."""
    rows = pc.binary_join_element_wise(*parts, _EMPTY, null_handling="replace", null_replacement=b"")
    if isinstance(rows, pa.Scalar):  # only scalars were given
        raise ValueError("join_rows needs at least one array")
    offsets = np.frombuffer(rows.buffers()[1], np.int32)[rows.offset:rows.offset + len(rows) + 1]
    return memoryview(rows.buffers()[2])[offsets[0]:offsets[-1]]
