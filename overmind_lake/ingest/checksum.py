"""The content checksum of a version (CONTRACT §4: sha256 over the version's
datapoints, stable for the same content whatever the file layout).

The rows are taken in storage order (``order``, ``id`` — a total order, ids
being unique) and hashed column by column: for each column of FILE_SCHEMA,
its name, then for fixed-width columns the values, for string columns the
length of every value (-1 for null) followed by all the bytes. Chunking and
file splits do not change any of that, and no per-row Python runs.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..schema import FILE_SCHEMA
from ..storage.checksum import ColumnChunks

CHECKSUM_FORMAT = b"overmind-lake-checksum-v1"


def _lengths(column: pa.Array) -> np.ndarray:
    """Byte length of every value, -1 for null."""
    column = column.cast(pa.large_string())
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64, count=len(column) + 1, offset=column.offset * 8)
    lengths = np.diff(offsets)
    if column.null_count:
        lengths = np.where(column.is_null().to_numpy(zero_copy_only=False), -1, lengths)
    return lengths


def _hash_bytes(digest: "hashlib._Hash", column: pa.Array) -> None:
    # a null slot may span bytes in Arrow: hash it as empty
    column = (pc.fill_null(column, "") if column.null_count else column).cast(pa.large_string())
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64, count=len(column) + 1, offset=column.offset * 8)
    data = column.buffers()[2]
    if data is not None and offsets[-1] > offsets[0]:
        digest.update(memoryview(data)[offsets[0]:offsets[-1]])


def checksum_of_columns(num_rows: int, chunks: ColumnChunks) -> str:
    """The checksum of a version given column by column, in any chunking
    (``chunks`` is called twice per string column: lengths, then bytes)."""
    digest = hashlib.sha256(CHECKSUM_FORMAT)
    digest.update(np.int64(num_rows).tobytes())
    for field in FILE_SCHEMA:
        digest.update(field.name.encode("utf-8") + b"\0")
        if pa.types.is_integer(field.type):
            for column in chunks(field.name):
                digest.update(column.cast(pa.int64()).to_numpy(zero_copy_only=False).astype("<i8").tobytes())
        else:
            for column in chunks(field.name):
                digest.update(_lengths(column).astype("<i8").tobytes())
            for column in chunks(field.name):
                _hash_bytes(digest, column)
    return digest.hexdigest()


def content_checksum(table: pa.Table) -> str:
    """Checksum of rows already in storage order (sorted by ``order``, ``id``)."""
    return checksum_of_columns(table.num_rows, lambda name: table.column(name).chunks)
