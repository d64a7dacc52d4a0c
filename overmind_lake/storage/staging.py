"""Staged data files: where a write's Parquet files wait until it is committed.

A raw Hive scan of the lake root (Spark, DuckDB ``read_parquet(...,
hive_partitioning = true)``, ``pyarrow.dataset``, Polars) must see exactly
the committed versions, so no file of an uncommitted write may sit under a
name such an engine reads. A write therefore puts its files under::

    dataset_id=<id>/_staging/<write id>/part-<write id>-NNNN.parquet.staged

which every engine skips (pyarrow and Spark skip path components starting
with ``_``; DuckDB's and Polars' ``**/*.parquet`` globs skip names not
ending in ``.parquet``). The commit record names the files' *final* paths
(``dataset_id=<id>/version=<n>/part-<write id>-NNNN.parquet``) and says, in
``extra["staged_in"]``, where they were written; after the commit the writer
moves each file to its final name (local disk: one rename per file; object
stores: copy + delete). A crash between the commit and the end of the move
leaves a committed file still staged: :func:`settle` — run by the catalog
when it first loads the record, and by ``vacuum`` — finds it and finishes
the move. The protocol is described in docs/staging.md.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from .catalog import CommitRecord, FileEntry, dataset_dir, version_dir
from .filesystem import LakeFileSystem

STAGING_DIR = "_staging"
STAGED_SUFFIX = ".staged"
#: Key of the commit record's ``extra`` naming the staging directory of its files.
STAGED_IN = "staged_in"
#: Files of one version moved at once on an object store.
MOVE_THREADS = 8


def staging_dir(dataset_id: str, write_id: str) -> str:
    return f"{dataset_dir(dataset_id)}/{STAGING_DIR}/{write_id}"


def staging_root(dataset_id: str) -> str:
    return f"{dataset_dir(dataset_id)}/{STAGING_DIR}"


def staged_path(dataset_id: str, write_id: str, base: str) -> str:
    """Where the data file ``base`` (``part-….parquet``) of a write is staged."""
    return f"{staging_dir(dataset_id, write_id)}/{base}{STAGED_SUFFIX}"


def final_path(dataset_id: str, version: int, staged: str) -> str:
    """The name a staged file gets once its write is committed as ``version``."""
    base = staged.rsplit("/", 1)[-1]
    if base.endswith(STAGED_SUFFIX):
        base = base[: -len(STAGED_SUFFIX)]
    return f"{version_dir(dataset_id, version)}/{base}"


def staged_of(record: CommitRecord, entry: FileEntry) -> str | None:
    """Where ``entry`` of ``record`` was staged (None for a record written
    straight into its version directory, as lakes before staging did)."""
    where = record.extra.get(STAGED_IN) if record.extra else None
    if not where:
        return None
    return f"{where}/{entry.path.rsplit('/', 1)[-1]}{STAGED_SUFFIX}"


def _present_finals(fs: LakeFileSystem, record: CommitRecord) -> set[str]:
    """The record's final paths that exist now (one listing on an object store)."""
    if fs.is_local:
        return {f.path for f in record.files if fs.exists(f.path)}
    names = set(fs.list_names(version_dir(record.dataset_id, record.version)))
    return {f.path for f in record.files if f.path.rsplit("/", 1)[-1] in names}


def move_into_place(fs: LakeFileSystem, record: CommitRecord, present: set[str] | None = None) -> list[str]:
    """Move every staged file of committed ``record`` whose final name is
    missing to that name; the final paths moved. Safe to run by several
    processes at once (and alongside the writer): the bytes are the same."""
    if not record.extra or not record.extra.get(STAGED_IN):
        return []
    if present is None:
        present = _present_finals(fs, record)
    todo = [(staged_of(record, e), e.path) for e in record.files if e.path not in present]

    def move(pair: tuple[str, str]) -> str | None:
        try:
            fs.move(*pair)
            return pair[1]
        except FileNotFoundError:
            return None  # someone else moved it first (or it is lost: verify names it)

    if fs.is_local or len(todo) < 2:
        moved = [move(pair) for pair in todo]
    else:  # an object store's move is a server-side copy per file: side by side
        with ThreadPoolExecutor(max_workers=min(MOVE_THREADS, len(todo))) as pool:
            moved = list(pool.map(move, todo))
    remove_staging_dir(fs, record.extra[STAGED_IN])
    return [path for path in moved if path is not None]


def remove_staging_dir(fs: LakeFileSystem, where: str) -> None:
    """Remove one write's staging directory if it is empty (local disk; object
    stores have no directories). ``_staging/`` itself stays: removing it
    would race with another writer creating its own directory inside."""
    if fs.is_local:
        try:
            os.rmdir(fs.path(where))
        except OSError:
            pass


def settle(fs: LakeFileSystem, record: CommitRecord) -> tuple[CommitRecord, bool]:
    """``record`` with each file at a path that can be read now, and whether
    that answer may be cached forever.

    A record from before staging, or one whose files are all in place, is
    returned as it is (cacheable). A file still staged is moved into place
    (rolling the writer's move forward); if this process cannot write there
    (a read-only store), the staged path is returned instead, uncached, since
    another process may still move it.
    """
    if not record.extra or not record.extra.get(STAGED_IN):
        return record, True
    present = _present_finals(fs, record)
    if len(present) == len(record.files):
        return record, True
    try:
        move_into_place(fs, record, present)
        return record, True
    except OSError:  # e.g. PermissionError on a read-only root: read the staged copies
        files = []
        for entry in record.files:
            staged = staged_of(record, entry)
            if entry.path not in present and staged is not None and fs.exists(staged):
                entry = replace(entry, path=staged)
            files.append(entry)
        return replace(record, files=tuple(files)), False
