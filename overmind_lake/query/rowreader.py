"""Reading a version's rows by position.

Each version's files are sorted by ``order, id`` and a commit record gives
their row counts, so "row k of version v" is an address, not a search.
Positions are read with pyarrow from the row groups that hold them, using
Parquet metadata cached per file; decoded row groups are kept in the
engine's byte-bounded cache, a buffer pool over immutable files, so a page
of a sorted or filtered query whose rows are scattered over many row groups
decodes each group once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import FILE_SCHEMA, RESULT_SCHEMA
from ..storage.catalog import CommitRecord
from .engine import Engine



@dataclass(frozen=True)
class VersionFiles:
    """A committed version's files with the first global row of each."""

    dataset_id: str
    version: int
    uris: tuple[str, ...]
    starts: np.ndarray  # len(uris) + 1 cumulative row offsets
    count: int
    sizes: tuple[int, ...] = ()  # bytes of each file, from the commit record

    @classmethod
    def of(cls, engine: Engine, commit: CommitRecord) -> "VersionFiles":
        files = [f for f in commit.files if f.rows]
        starts = np.zeros(len(files) + 1, dtype=np.int64)
        np.cumsum([f.rows for f in files], out=starts[1:])
        return cls(commit.dataset_id, commit.version, tuple(engine.fs.uri(f.path) for f in files),
                   starts, int(starts[-1]), tuple(f.bytes for f in files))



class _MetadataCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._meta: dict[str, tuple[pq.FileMetaData, np.ndarray]] = {}

    def get(self, engine: Engine, uri: str, size: int | None = None) -> tuple[pq.FileMetaData, np.ndarray]:
        hit = self._meta.get(uri)
        if hit is None:
            with _open(engine, uri, size) as fh:
                meta = pq.ParquetFile(fh).metadata
            starts = np.zeros(meta.num_row_groups + 1, dtype=np.int64)
            np.cumsum([meta.row_group(i).num_rows for i in range(meta.num_row_groups)], out=starts[1:])
            hit = (meta, starts)
            with self._lock:
                self._meta[uri] = hit
        return hit


_metadata = _MetadataCache()


def _open(engine: Engine, uri: str, size: int | None = None):
    if engine.fs.is_local:
        return open(uri, "rb")
    if size is not None and not engine.fs.is_memory:
        # the commit record knows the size: spare the object store a HEAD request
        return engine.fs.fs.open(uri, "rb", size=size)
    return engine.fs.fs.open(uri, "rb")


def _with_lake_columns(table: pa.Table, vf: VersionFiles) -> pa.Table:
    n = table.num_rows
    table = table.select([f.name for f in FILE_SCHEMA])
    table = table.add_column(0, "version", pa.array(np.full(n, vf.version, dtype=np.int64)))
    table = table.add_column(0, "dataset_id", pa.nulls(n, pa.string()).fill_null(vf.dataset_id))
    return table.cast(RESULT_SCHEMA)


def _row_groups(engine: Engine, uri: str, size: int | None, meta: pq.FileMetaData,
                groups: np.ndarray) -> list[pa.Table]:
    """Decoded row groups of one file, through the engine's byte-bounded cache
    (a buffer pool: committed files never change, so a cached group never goes stale)."""
    tables: list[pa.Table | None] = [engine.cache_get(("row_group", uri, int(g))) for g in groups]
    missing = [i for i, t in enumerate(tables) if t is None]
    if missing:
        with _open(engine, uri, size) as fh:
            reader = pq.ParquetFile(fh, metadata=meta)
            for i in missing:
                table = reader.read_row_group(int(groups[i]))
                engine.cache_put(("row_group", uri, int(groups[i])), table)
                tables[i] = table
    return tables  # type: ignore[return-value]


def _read_file_positions(engine: Engine, uri: str, local: np.ndarray, size: int | None,
                         columns: list[str]) -> pa.Table:
    """``columns`` of the rows at sorted ``local`` positions of one file, in that order."""
    meta, rg_starts = _metadata.get(engine, uri, size)
    group_of = np.searchsorted(rg_starts, local, side="right") - 1
    groups, first = np.unique(group_of, return_index=True)
    tables = _row_groups(engine, uri, size, meta, groups)
    bounds = np.append(first, len(local))
    parts = []
    for i, (g, table) in enumerate(zip(groups, tables)):
        table = table.select(columns)
        within = local[bounds[i]:bounds[i + 1]] - rg_starts[g]
        if within[-1] - within[0] + 1 == len(within):
            parts.append(table.slice(int(within[0]), len(within)))
        else:  # (a take over chunked groups would first copy them whole)
            parts.append(table.take(pa.array(within)))
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def read_positions(engine: Engine, vf: VersionFiles, positions: np.ndarray,
                   columns: list[str] | None = None) -> pa.Table:
    """Rows of one version at global ``positions`` (any order), in that order:
    all RESULT_SCHEMA columns, or just ``columns`` of the files' own (a page
    needs neither ``dataset_id`` nor ``version``)."""
    if len(positions) == 0:
        return RESULT_SCHEMA.empty_table() if columns is None else FILE_SCHEMA.empty_table().select(columns)
    order = np.argsort(positions, kind="stable")
    sorted_pos = positions[order]
    parts = []
    file_of = np.searchsorted(vf.starts, sorted_pos, side="right") - 1
    wanted = FILE_SCHEMA.names if columns is None else columns
    for fi in np.unique(file_of):
        local = sorted_pos[file_of == fi] - vf.starts[fi]
        parts.append(_read_file_positions(engine, vf.uris[fi], local, vf.sizes[fi] if vf.sizes else None, wanted))
    # parts read by pyarrow keep the files' NOT NULL fields, those read by DuckDB do not
    table = pa.concat_tables(parts, promote_options="default") if len(parts) > 1 else parts[0]
    if not np.all(order[:-1] < order[1:]):
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        table = table.take(pa.array(inverse))
    return _with_lake_columns(table, vf) if columns is None else table


def read_range(engine: Engine, vf: VersionFiles, start: int, stop: int,
               columns: list[str] | None = None) -> pa.Table:
    """Rows ``[start, stop)`` of one version in storage order."""
    return read_positions(engine, vf, np.arange(start, min(stop, vf.count), dtype=np.int64), columns)


def read_all(engine: Engine, vf: VersionFiles) -> pa.Table:
    """Every row of one version in storage order."""
    parts = []
    for uri, size in zip(vf.uris, vf.sizes or (None,) * len(vf.uris)):
        meta, _ = _metadata.get(engine, uri, size)
        with _open(engine, uri, size) as fh:
            parts.append(pq.ParquetFile(fh, metadata=meta).read())
    if not parts:
        return RESULT_SCHEMA.empty_table()
    return _with_lake_columns(pa.concat_tables(parts), vf)
