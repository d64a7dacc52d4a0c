"""A committed version's narrow columns as integer arrays (docs/performance.md).

``persona``, ``source``, ``agent`` and ``generator_model`` are
dictionary-encoded in the data files: read with ``read_dictionary`` they
come back as small dictionaries plus one integer code per row, never as
strings. A filter is then a comparison of codes with one integer, and an
ordering on such a column is a counting sort of ranks (the dictionary is
sorted once, a few dozen strings). ``id`` (a canonical UUID, so its text
order is its 128-bit number's order) becomes two ``uint64`` words and
``order`` stays ``int64``. Files never change, so every array is cached in
the engine's byte-bounded cache, per file and column: a query over a
version reads each narrow column at most once per process.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .engine import Engine
from .rowreader import VersionFiles, metadata, open_file, remote_reader

DICT_COLUMNS = ("persona", "source", "agent", "generator_model")

# hex digit value of each byte, 255 for anything that is not 0-9 or a-f
_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10, dtype=np.uint8)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16, dtype=np.uint8)
_DASHES = np.array([8, 13, 18, 23])
_DIGITS = np.setdiff1d(np.arange(36), _DASHES)


@dataclass(frozen=True)
class Codes:
    """One dictionary column of some rows: ``codes[i]`` indexes ``values`` (-1: null)."""

    codes: np.ndarray
    values: tuple[str, ...]

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes) + 64 * len(self.values)


def _remote(engine: Engine, size: int | None) -> bool:
    return not engine.fs.is_local and not engine.fs.is_memory and size is not None


def _read(engine: Engine, uri: str, size: int | None, name: str) -> pa.ChunkedArray:
    meta, _ = metadata(engine, uri, size)
    if _remote(engine, size):
        reader = remote_reader(engine, uri, size, meta, range(meta.num_row_groups), [name],
                               read_dictionary=[name] if name in DICT_COLUMNS else None)
        return reader.read(columns=[name], use_threads=False).column(0)
    with open_file(engine, uri, size) as fh:
        reader = pq.ParquetFile(fh, metadata=meta, read_dictionary=[name] if name in DICT_COLUMNS else None)
        return reader.read(columns=[name], use_threads=False).column(0)


def _decoded(name: str, column: pa.ChunkedArray):
    """The cached form of one file's column ``name``."""
    if name == "id":
        words = _id_words(column)
        return _NOT_CANONICAL if words is None else words
    if name == "order":
        column = column.combine_chunks()
        return column.to_numpy() if len(column) else np.empty(0, dtype=np.int64)
    return _codes(column)


def _codes(column: pa.ChunkedArray) -> Codes:
    if column.num_chunks == 0 or len(column) == 0:
        return Codes(np.empty(0, dtype=np.int32), ())
    column = column.unify_dictionaries()
    values = tuple(column.chunk(0).dictionary.to_pylist())
    indices = pa.chunked_array([c.indices for c in column.chunks]).combine_chunks()
    if indices.null_count:
        indices = pc.fill_null(indices, -1)
    return Codes(indices.to_numpy().astype(np.int32, copy=False), values)


def _id_words(column: pa.ChunkedArray) -> np.ndarray | None:
    """(rows, 2) uint64: the 128-bit number of each id, or None when some id is
    not a canonical lower-case UUID (its text order would not be its number's)."""
    column = column.combine_chunks()
    n = len(column)
    if column.null_count:
        return None
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32, count=n + 1, offset=column.offset * 4)
    if n and (offsets[-1] - offsets[0] != 36 * n or np.any(np.diff(offsets) != 36)):
        return None
    chars = np.frombuffer(column.buffers()[2], dtype=np.uint8, count=36 * n, offset=int(offsets[0]))
    chars = chars.reshape(n, 36)
    if np.any(chars[:, _DASHES] != ord("-")):
        return None
    nibbles = _HEX[chars[:, _DIGITS]]
    if np.any(nibbles == 255):
        return None
    packed = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    return np.ascontiguousarray(packed).view(">u8").astype(np.uint64)


class _Missing:
    nbytes = 64


_NOT_CANONICAL = _Missing()


def _cached_file(engine: Engine, vf: VersionFiles, fi: int, name: str, chunk: pa.ChunkedArray | None = None):
    uri = vf.uris[fi]
    size = vf.sizes[fi] if vf.sizes else None

    def compute():
        if chunk is not None:
            return _decoded(name, chunk)
        return _decoded(name, _read(engine, uri, size, name))

    value = engine.cached(("narrow", uri, name), compute)
    return None if value is _NOT_CANONICAL else value


_READERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="overmind-lake-narrow")


def prefetch(engine: Engine, vfs: list[VersionFiles], names: set[str]) -> None:
    """Read the columns ``names`` of every file of ``vfs`` not cached yet, two
    at a time (decoding releases the GIL): a first call's narrow reads."""
    tasks = [(vf, fi, name) for vf in vfs for fi in range(len(vf.uris)) for name in sorted(names)
             if engine.cache_get(("narrow", vf.uris[fi], name)) is None]
    if tasks and _remote(engine, tasks[0][0].sizes[tasks[0][1]] if tasks[0][0].sizes else None):
        # object store: every missing column of a file in one coalesced fetch
        by_file: dict[str, tuple[VersionFiles, int, list[str]]] = {}
        for vf, fi, name in tasks:
            by_file.setdefault(vf.uris[fi], (vf, fi, []))[2].append(name)
        list(_READERS.map(lambda item: _fetch_file(engine, *item), by_file.values()))
    elif len(tasks) > 1:
        list(_READERS.map(lambda t: _cached_file(engine, *t), tasks))


def _fetch_file(engine: Engine, vf: VersionFiles, fi: int, names: list[str]) -> None:
    uri, size = vf.uris[fi], vf.sizes[fi]
    meta, _ = metadata(engine, uri, size)
    reader = remote_reader(engine, uri, size, meta, range(meta.num_row_groups), names,
                           read_dictionary=[n for n in names if n in DICT_COLUMNS] or None)
    table = reader.read(columns=names, use_threads=False)
    for name in names:
        _cached_file(engine, vf, fi, name, table.column(name))


def version_codes(engine: Engine, vf: VersionFiles, name: str) -> Codes:
    """The dictionary column ``name`` of every row of a version."""
    parts = [_cached_file(engine, vf, fi, name) for fi in range(len(vf.uris))]
    if len(parts) == 1:
        return parts[0]
    values: dict[str, int] = {}
    for part in parts:
        for v in part.values:
            values.setdefault(v, len(values))
    codes = []
    for part in parts:
        remap = np.array([values[v] for v in part.values] + [-1], dtype=np.int32)
        codes.append(remap[part.codes])  # code -1 picks the trailing -1
    return Codes(np.concatenate(codes) if codes else np.empty(0, dtype=np.int32), tuple(values))


def version_ids(engine: Engine, vf: VersionFiles) -> np.ndarray | None:
    """(rows, 2) uint64 id numbers of a version, or None (an id not canonical)."""
    parts = [_cached_file(engine, vf, fi, "id") for fi in range(len(vf.uris))]
    if any(p is None for p in parts):
        return None
    return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty((0, 2), np.uint64)


def version_order(engine: Engine, vf: VersionFiles) -> np.ndarray:
    parts = [_cached_file(engine, vf, fi, "order") for fi in range(len(vf.uris))]
    return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty(0, np.int64)
