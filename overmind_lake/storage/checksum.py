"""Reading a committed version back to recompute its content checksum.

The checksum function itself belongs to the write path (``ingest``), which
sits above storage; it is passed in, so ``verify`` recomputes exactly what the
writer computed, and this module never imports upward.
"""

from __future__ import annotations

from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..schema import FILE_SCHEMA
from .catalog import CommitRecord
from .filesystem import LakeFileSystem

#: ``content_checksum(rows) -> hex digest`` of rows in storage order.
ChecksumFn = Callable[[pa.Table], str]


def read_rows(fs: LakeFileSystem, commit: CommitRecord) -> pa.Table:
    """Every row of a committed version, in storage order (``order``, ``id``).

    Raises FileNotFoundError or a Parquet error for a missing or damaged file.
    """
    tables = []
    for entry in commit.files:
        path = fs.path(entry.path)
        if fs.is_local:
            table = pq.read_table(path, schema=FILE_SCHEMA)
        else:
            with fs.fs.open(path, "rb") as fh:
                table = pq.read_table(fh, schema=FILE_SCHEMA)
        tables.append(table.select([f.name for f in FILE_SCHEMA]))
    if not tables:
        return FILE_SCHEMA.empty_table()
    rows = pa.concat_tables(tables)
    if rows.num_rows > 1:
        rows = rows.take(pc.sort_indices(rows, sort_keys=[("order", "ascending"), ("id", "ascending")]))
    return rows


def recompute(fs: LakeFileSystem, commit: CommitRecord, content_checksum: ChecksumFn) -> tuple[int, str]:
    """(row count, checksum) of ``commit``'s rows as they are stored now."""
    rows = read_rows(fs, commit)
    return rows.num_rows, content_checksum(rows)


def check(fs: LakeFileSystem, commit: CommitRecord, content_checksum: ChecksumFn) -> bool:
    """True when the stored rows still match the commit record's count and checksum."""
    count, digest = recompute(fs, commit, content_checksum)
    return count == commit.count and digest == commit.checksum
