"""Writing a version: Parquet files first, the commit record, then the move.

The data files are written to a staging directory Hive engines skip; the
commit record (the only truth: it names the files' final paths) is created
under the next free number; then the files are moved (renamed, never
re-encoded) to ``version=<n>/``. The protocol: staging.py and docs/staging.md.
"""

from __future__ import annotations

import os
import random
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import VersionConflict
from ..schema import FILE_SCHEMA
from .catalog import Catalog, CommitRecord, FileEntry
from .filesystem import LakeFileSystem
from .staging import STAGED_IN, final_path, move_into_place, remove_staging_dir, staged_path, staging_dir
from .streams import HashingWriter

#: Rows per Parquet row group. Small groups let positional and filtered reads
#: skip most of a file; see benchmarks/ for the measurement behind the value.
ROW_GROUP_SIZE = 2048
#: Rows per data file: big versions are split so no single file grows without bound.
ROWS_PER_FILE = 2_000_000
#: Parquet encoding of one file is single-threaded: a big version is split
#: into this many files written side by side.
PARALLEL_FILES = max(1, min(4, os.cpu_count() or 1))
MIN_ROWS_TO_SPLIT = 200_000


def rows_per_file(rows: int) -> int:
    """Rows of each data file of a version of ``rows`` rows."""
    if rows < MIN_ROWS_TO_SPLIT:
        return ROWS_PER_FILE
    return max(1, min(ROWS_PER_FILE, -(-rows // PARALLEL_FILES)))
MAX_COMMIT_ATTEMPTS = 32
#: Min/max statistics (and so page-index column bounds) for the columns
#: queries filter and sort on; the JSON columns' would never prune anything.
STATISTICS_COLUMNS = ["id", "order", "persona", "source", "agent", "generator_model"]


@dataclass(frozen=True)
class VersionStats:
    count: int
    source_counts: dict[str, int]
    generator_models: list[str]
    checksum: str


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def write_parquet(fs: LakeFileSystem, rel: str, table: pa.Table) -> FileEntry:
    """Write one data file of a version and describe it for the commit record."""
    with fs.open_write(rel) as raw:
        sink = HashingWriter(raw)
        pq.write_table(
            table.cast(FILE_SCHEMA),
            sink,
            row_group_size=ROW_GROUP_SIZE,
            compression="zstd",
            compression_level=1,
            write_page_index=True,
            data_page_size=64 * 1024,
            use_dictionary=["persona", "source", "agent", "generator_model"],
            write_statistics=STATISTICS_COLUMNS,
        )
    return FileEntry(path=rel, rows=table.num_rows, bytes=sink.size, sha256=sink.sha256.hexdigest())


class VersionWriter:
    """The data files of one version being written: committed last, or removed.

    Files are written under ``dataset_id=<id>/_staging/<write id>/``, a place
    no reader and no Hive engine looks; :meth:`commit` creates the commit
    record (naming the files' final ``version=<n>/`` paths) under the next
    free number, then moves the files there. Losing the race for a number
    costs no move: the record is simply retried with the next one. Until the
    commit no reader sees the files, and :meth:`abort` removes them. See
    docs/staging.md for what a crash at each step leaves.
    """

    def __init__(self, fs: LakeFileSystem, catalog: Catalog, dataset_id: str):
        self.fs = fs
        self.catalog = catalog
        self.dataset_id = dataset_id
        self.write_id = uuid.uuid4().hex
        self.version = catalog.latest_version(dataset_id) + 1
        self.files: list[FileEntry] = []
        self._serial = 0

    def path(self, name: str) -> str:
        """The staged path of this write's data file ``name``."""
        return staged_path(self.dataset_id, self.write_id, f"part-{self.write_id}-{name}.parquet")

    def next_path(self) -> str:
        """A fresh file path of this write (not yet part of the version)."""
        self._serial += 1
        return self.path(f"{self._serial:04d}")

    def write(self, table: pa.Table, rel: str | None = None) -> FileEntry:
        """Write ``table`` as one data file (no part of the version until :meth:`keep`)."""
        return write_parquet(self.fs, rel or self.next_path(), table)

    def keep(self, entries: list[FileEntry]) -> None:
        """Make ``entries`` the version's files, in storage order."""
        self.files = list(entries)

    def discard(self, entries: list[FileEntry]) -> None:
        for entry in entries:
            self.fs.remove(entry.path)

    def abort(self, written: list[FileEntry] = ()) -> None:
        """Remove every file of this write (``written`` and the kept ones)."""
        self.discard(list(written) + [e for e in self.files if e not in written])
        self.files = []
        remove_staging_dir(self.fs, staging_dir(self.dataset_id, self.write_id))

    def _record(self, version: int, stats: VersionStats, message: str,
                parent_version: int | None) -> CommitRecord:
        files = tuple(replace(e, path=final_path(self.dataset_id, version, e.path)) for e in self.files)
        return CommitRecord(
            dataset_id=self.dataset_id,
            version=version,
            created_at=utc_now(),
            message=message,
            parent_version=parent_version,
            count=stats.count,
            source_counts=dict(stats.source_counts),
            generator_models=list(stats.generator_models),
            checksum=stats.checksum,
            files=files,
            write_id=self.write_id,
            extra={STAGED_IN: staging_dir(self.dataset_id, self.write_id)},
        )

    def commit(self, stats: VersionStats, *, message: str = "",
               parent_version: int | None = None) -> CommitRecord:
        """Create the commit record of the kept files under the next free
        number, then move the files from staging to that version's directory."""
        for attempt in range(MAX_COMMIT_ATTEMPTS):
            record = self._record(self.version, stats, message, parent_version)
            if self.catalog.try_commit(record):
                break
            # Lost the race: back off a little (jittered, growing) so writers
            # that keep colliding spread out, then take the next free number.
            time.sleep(random.uniform(0, 0.002 * min(2 ** attempt, 64)))
            self.version = self.catalog.latest_version(self.dataset_id) + 1
        else:
            raise VersionConflict(self.dataset_id, self.version)
        # The version is committed (readable through the lake) whatever happens
        # now; moving the files in place makes it visible to a raw Hive scan.
        try:
            move_into_place(self.fs, record, present=set())
        except OSError as exc:
            # Not an error of the write: the first read of the version, or
            # vacuum, finishes the move (docs/staging.md).
            warnings.warn(f"version {record.version} of dataset {self.dataset_id} is committed but its "
                          f"files are still staged ({exc}); the next read or vacuum moves them",
                          RuntimeWarning, stacklevel=2)
            return record
        self.files = list(record.files)
        self.catalog.remember(record)
        return record


def commit_version(
    fs: LakeFileSystem,
    catalog: Catalog,
    dataset_id: str,
    table: pa.Table,
    stats: VersionStats | Callable[[], VersionStats],
    *,
    message: str = "",
    parent_version: int | None = None,
) -> CommitRecord:
    """Write ``table`` (already validated and sorted) as the next version.

    ``stats`` may be a function: it then runs on a second thread while the
    data files are written (hashing and Parquet encoding both release the GIL).
    """
    writer = VersionWriter(fs, catalog, dataset_id)
    per_file = rows_per_file(table.num_rows)
    count = max(1, -(-table.num_rows // per_file))
    with ThreadPoolExecutor(max_workers=PARALLEL_FILES + 1) as pool:
        pending = pool.submit(stats) if callable(stats) else None
        writes = [pool.submit(writer.write, table.slice(i * per_file, per_file), writer.path(f"{i:04d}"))
                  for i in range(count)]
        writer.keep([w.result() for w in writes])
        if pending is not None:
            stats = pending.result()
    assert isinstance(stats, VersionStats)
    return writer.commit(stats, message=message, parent_version=parent_version)
