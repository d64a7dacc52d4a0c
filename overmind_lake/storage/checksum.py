"""Reading a committed version back to recompute its content checksum.

The checksum function itself belongs to the write path (``ingest``), which
sits above storage; it is passed in, so ``verify`` recomputes exactly what the
writer computed, and this module never imports upward. The version's files
are read file by file, one column at a time (a commit record lists them in
storage order), so a version of any size is checked in bounded memory.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from .catalog import CommitRecord, FileEntry
from .filesystem import LakeFileSystem

#: ``chunks(name)`` -> the arrays of one column in storage order.
ColumnChunks = Callable[[str], Iterable[pa.Array]]
#: ``checksum_of_columns(num_rows, chunks) -> hex digest`` (the writer's).
ChecksumFn = Callable[[int, ColumnChunks], str]

BATCH_ROWS = 64 * 1024
#: A column read for the checksum is kept in memory up to this size, for
#: the second pass over it (string columns are hashed as lengths, then bytes).
REREAD_MEMO_BYTES = 1 << 30


def _open(fs: LakeFileSystem, entry: FileEntry):
    path = fs.path(entry.path)
    return open(path, "rb") if fs.is_local else fs.fs.open(path, "rb")


def column_chunks(fs: LakeFileSystem, files: Sequence[FileEntry]) -> ColumnChunks:
    """A reader of one column at a time of ``files``, in their order.

    Reading the same column twice in a row decodes it once when it fits in
    ``REREAD_MEMO_BYTES`` (the checksum reads each string column twice).
    Raises FileNotFoundError or a Parquet error for a missing or damaged file.
    """
    memo: dict = {"name": None, "arrays": None}

    def decoded(name: str) -> Iterator[pa.Array]:
        for entry in files:
            with _open(fs, entry) as fh:
                for batch in pq.ParquetFile(fh).iter_batches(batch_size=BATCH_ROWS, columns=[name]):
                    yield batch.column(0)

    def chunks(name: str) -> Iterator[pa.Array]:
        if memo["name"] == name and memo["arrays"] is not None:
            arrays, memo["name"], memo["arrays"] = memo["arrays"], None, None
            yield from arrays
            return
        kept: list[pa.Array] | None = []
        size = 0
        memo["name"], memo["arrays"] = None, None
        for array in decoded(name):
            if kept is not None:
                size += array.nbytes
                if size <= REREAD_MEMO_BYTES:
                    kept.append(array)
                else:
                    kept = None  # too big to keep: the next pass decodes again
            yield array
        memo["name"], memo["arrays"] = name, kept

    return chunks


def row_count(fs: LakeFileSystem, files: Sequence[FileEntry]) -> int:
    """Rows in ``files`` according to their Parquet footers."""
    total = 0
    for entry in files:
        with _open(fs, entry) as fh:
            total += pq.ParquetFile(fh).metadata.num_rows
    return total


def recompute(fs: LakeFileSystem, commit: CommitRecord, checksum_of_columns: ChecksumFn) -> tuple[int, str]:
    """(row count, checksum) of ``commit``'s rows as they are stored now."""
    count = row_count(fs, commit.files)
    return count, checksum_of_columns(count, column_chunks(fs, commit.files))


def check(fs: LakeFileSystem, commit: CommitRecord, checksum_of_columns: ChecksumFn) -> bool:
    """True when the stored rows still match the commit record's count and checksum."""
    count, digest = recompute(fs, commit, checksum_of_columns)
    return count == commit.count and digest == commit.checksum
