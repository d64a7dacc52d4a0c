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

CHECKSUM_FORMAT = b"overmind-lake-checksum-v1"


def _hash_strings(digest: "hashlib._Hash", column: pa.Array) -> None:
    nulls = column.is_null().to_numpy(zero_copy_only=False) if column.null_count else None
    column = pc.fill_null(column, "") if column.null_count else column
    column = column.cast(pa.large_string())
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64, count=len(column) + 1, offset=column.offset * 8)
    lengths = np.diff(offsets)
    if nulls is not None:
        lengths = np.where(nulls, -1, lengths)
    digest.update(lengths.astype("<i8").tobytes())
    data = column.buffers()[2]
    if data is not None and offsets[-1] > offsets[0]:
        digest.update(memoryview(data)[offsets[0]:offsets[-1]])


def content_checksum(table: pa.Table) -> str:
    """Checksum of rows already in storage order (sorted by ``order``, ``id``)."""
    digest = hashlib.sha256(CHECKSUM_FORMAT)
    digest.update(np.int64(table.num_rows).tobytes())
    for field in FILE_SCHEMA:
        digest.update(field.name.encode("utf-8") + b"\0")
        column = table.column(field.name).combine_chunks() if table.num_rows else pa.array([], field.type)
        if pa.types.is_integer(field.type):
            values = column.cast(pa.int64()).to_numpy(zero_copy_only=False)
            digest.update(values.astype("<i8").tobytes())
        else:
            _hash_strings(digest, column)
    return digest.hexdigest()
