"""Reading a version's rows by position.

Each version's files are sorted by ``order, id`` and a commit record gives
their row counts, so "row k of version v" is an address, not a search.
A page's rows are read with pyarrow from the row groups that hold them,
using Parquet metadata cached per file. A row group a page reads is decoded
and rendered into its rows' page items (pagejson.py), kept in the engine's
byte-bounded cache, a buffer pool over immutable files: a page — positional,
sorted or filtered, its rows in one group or scattered over many — is then
a slice or a take of ready items. A group first asked for only a few rows
(a cold sorted page touches dozens) has just those rendered; the second
time, all of it.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..schema import FILE_SCHEMA, PAGE_ITEM_FIELDS, RESULT_SCHEMA
from ..storage.catalog import CommitRecord
from .engine import Engine
from .pagejson import page_items


def int64_array(values: np.ndarray) -> pa.Array:
    """``values`` as an Arrow int64 array, sharing the numpy buffer. (``pa.array``
    on a numpy array imports ``numpy.ma`` the first time: 20-25 ms of a
    process's first page.)"""
    values = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])



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
metadata = _metadata.get


def _open(engine: Engine, uri: str, size: int | None = None):
    if engine.fs.is_local:
        return open(uri, "rb")
    if size is not None and not engine.fs.is_memory:
        # the commit record knows the size: spare the object store a HEAD request
        fh = engine.fs.fs.open(uri, "rb", size=size)
        if getattr(fh, "_details", False) is None:
            # s3fs asks for the object's details (another HEAD) on its first
            # read: a committed file never changes, so what we know suffices
            fh.details = {"name": uri, "size": size, "type": "file"}
        return fh
    return engine.fs.fs.open(uri, "rb")


open_file = _open

#: Ranges of a remote file closer than this are fetched as one request.
COALESCE_GAP = 1 << 20


def remote_reader(engine: Engine, uri: str, size: int, meta: pq.FileMetaData, groups, columns,
                  **options) -> pq.ParquetFile:
    """A reader of ``columns`` of row ``groups`` of a remote file, their bytes
    fetched up front: the column chunks' ranges, merged when closer than
    COALESCE_GAP, in one concurrent ``cat_ranges`` call (on S3: a few
    ranged GETs in parallel instead of one per chunk or read-ahead block)."""
    wanted = set(columns)
    index = [i for i in range(meta.num_columns) if meta.schema.column(i).name in wanted]
    spans = []
    for g in groups:
        group = meta.row_group(g)
        for i in index:
            chunk = group.column(i)
            start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
            spans.append((start, start + chunk.total_compressed_size))
    spans.sort()
    merged: list[list[int]] = []
    for start, stop in spans:
        if merged and start - merged[-1][1] <= COALESCE_GAP:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    path = engine.fs.fs._strip_protocol(uri)
    blobs = engine.fs.fs.cat_ranges([path] * len(merged), [a for a, _ in merged], [b for _, b in merged])
    buf = bytearray(size)  # only the fetched ranges are filled; the footer is ``meta``
    for (start, stop), blob in zip(merged, blobs):
        buf[start:stop] = blob
    return pq.ParquetFile(pa.BufferReader(pa.py_buffer(buf)), metadata=meta, **options)


def _with_lake_columns(table: pa.Table, vf: VersionFiles) -> pa.Table:
    n = table.num_rows
    table = table.select([f.name for f in FILE_SCHEMA])
    table = table.add_column(0, "version", int64_array(np.full(n, vf.version, dtype=np.int64)))
    table = table.add_column(0, "dataset_id", pa.nulls(n, pa.string()).fill_null(vf.dataset_id))
    return table.cast(RESULT_SCHEMA)


_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="overmind-lake-render")


#: A row group giving a page fewer than 1/SPARSE_FRACTION of its rows (a
#: cold sorted or filtered page, its rows scattered over many groups) has
#: just those rows rendered, and cached under the rows asked for: rendering
#: a whole group costs about three times decoding it. The second time other
#: rows of the group are asked for (pages being walked), it is rendered whole.
SPARSE_FRACTION = 8


def _render(engine: Engine, uri: str, size: int | None, meta: pq.FileMetaData,
            tasks: list[tuple[int, np.ndarray | None]]) -> list[pa.Array]:
    """Rendered page items of each (group, rows) task: the rows given, or
    (rows None) the whole group."""
    out = []
    if not engine.fs.is_local and not engine.fs.is_memory and size is not None:
        reader = remote_reader(engine, uri, size, meta, [g for g, _ in tasks], PAGE_ITEM_FIELDS)
        for group, rows in tasks:
            table = reader.read_row_group(group, columns=list(PAGE_ITEM_FIELDS), use_threads=False)
            out.append(page_items(table if rows is None else _pick(table, rows)))
        return out
    with _open(engine, uri, size) as fh:
        reader = pq.ParquetFile(fh, metadata=meta)
        for group, rows in tasks:
            table = reader.read_row_group(group, columns=list(PAGE_ITEM_FIELDS), use_threads=False)
            out.append(page_items(table if rows is None else _pick(table, rows)))
    return out


def _rows_items(engine: Engine, uri: str, size: int | None, meta: pq.FileMetaData,
                wanted: list[tuple[int, np.ndarray]]) -> list[pa.Array]:
    """The page items of rows ``within`` of each (group, within), through the
    engine's byte-bounded cache (a buffer pool of rendered rows: committed
    files never change, so a cached entry never goes stale)."""
    items: list[pa.Array | None] = []
    tasks: list[tuple[int, np.ndarray | None]] = []
    keys: list[tuple] = []
    slots: list[int] = []
    for group, within in wanted:
        whole = engine.cache_get(("page_items", uri, group))
        if whole is not None:
            items.append(_pick(whole, within))
            continue
        sparse = len(within) * SPARSE_FRACTION < meta.row_group(group).num_rows
        key = ("page_items", uri, group, _digest(within)) if sparse else ("page_items", uri, group)
        hit = engine.cache_get(key) if sparse else None
        if hit is None and sparse:
            touched = ("sparse_read", uri, group)
            if engine.cache_get(touched) is not None:
                sparse, key = False, ("page_items", uri, group)
            else:
                engine.cache_put(touched, True)
        items.append(hit)
        if hit is None:
            tasks.append((group, within if sparse else None))
            keys.append(key)
            slots.append(len(items) - 1)
    if tasks:
        # many groups (a cold sorted page) are decoded and rendered on two
        # threads, each with its own handle
        remote = not engine.fs.is_local and not engine.fs.is_memory
        halves = [tasks] if len(tasks) < 8 or remote else [tasks[: len(tasks) // 2], tasks[len(tasks) // 2:]]
        rendered = [a for part in (_POOL.map(lambda ts: _render(engine, uri, size, meta, ts), halves)
                                   if len(halves) > 1 else [_render(engine, uri, size, meta, tasks)])
                    for a in part]
        for (group, rows), key, slot, array in zip(tasks, keys, slots, rendered):
            engine.cache_put(key, array)
            items[slot] = array if rows is not None else _pick(array, wanted[slot][1])
    return items  # type: ignore[return-value]


def _digest(rows: np.ndarray) -> bytes:
    """A short cache key for a set of row positions (up to 2 KB as bytes)."""
    return hashlib.blake2b(rows.tobytes(), digest_size=16).digest()


def _pick(items: pa.Array | pa.Table, within: np.ndarray) -> pa.Array | pa.Table:
    """Rows ``within`` (sorted, unique) of a group's items or rows: a slice when contiguous."""
    if within[-1] - within[0] + 1 == len(within):
        return items.slice(int(within[0]), len(within))
    return items.take(int64_array(within))


def _run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Index of the first element of each run of equal values (``np.unique``
    on sorted input, without its sort, and without the ``numpy.ma`` import it
    costs a process's first page)."""
    if len(sorted_values) == 0:
        return np.empty(0, dtype=np.int64)
    return np.concatenate(([0], np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1))


def _file_items(engine: Engine, uri: str, local: np.ndarray, size: int | None) -> list[pa.Array]:
    """Page items of the rows at sorted ``local`` positions of one file, in that order."""
    meta, rg_starts = _metadata.get(engine, uri, size)
    group_of = np.searchsorted(rg_starts, local, side="right") - 1
    first = _run_starts(group_of)
    bounds = np.append(first, len(local))
    wanted = [(int(group_of[lo]), local[lo:hi] - rg_starts[group_of[lo]]) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return _rows_items(engine, uri, size, meta, wanted)


def items_at(engine: Engine, vf: VersionFiles, positions: np.ndarray) -> pa.LargeStringArray:
    """Page items (pagejson.page_items) of one version's rows at global
    ``positions`` (any order), in that order, as one contiguous array."""
    if len(positions) == 0:
        return pa.array([], pa.large_string())
    order = np.argsort(positions, kind="stable")
    sorted_pos = positions[order]
    parts: list[pa.Array] = []
    file_of = np.searchsorted(vf.starts, sorted_pos, side="right") - 1
    for fi in file_of[_run_starts(file_of)]:
        local = sorted_pos[file_of == fi] - vf.starts[fi]
        parts.extend(_file_items(engine, vf.uris[fi], local, vf.sizes[fi] if vf.sizes else None))
    items = pa.concat_arrays(parts) if len(parts) > 1 else parts[0]
    if not np.all(order[:-1] < order[1:]):
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        items = items.take(int64_array(inverse))
    return items


def item_range(engine: Engine, vf: VersionFiles, start: int, stop: int) -> pa.LargeStringArray:
    """Page items of rows ``[start, stop)`` of one version in storage order."""
    return items_at(engine, vf, np.arange(start, min(stop, vf.count), dtype=np.int64))


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
