"""Which rows a query selects, and in which order, as an array of positions.

Committed versions never change, so the answer to "which rows of versions
V match these filters, in this ordering" never goes stale. It is computed
once by DuckDB over the narrow columns only (the filter and sort keys, never
the wide JSON) and cached as a numpy array of encoded positions::

    (index of the version in the query's version list << 40) | row in that version

A page is then a slice of that array, and its rows are read by position —
late materialisation: the JSON of exactly ``page_size`` rows is decoded.

Most queries never reach DuckDB: filters and orderings are computed on the
narrow columns' dictionary codes (narrow.py). Leading ordering keys of few
distinct values (persona, source, generator_model, version) become one
small integer per row and a counting sort splits the rows into buckets;
the remaining keys (id, order) sort a bucket only when a page first needs
it, so the first page of ``-persona`` sorts a few thousand ids, not all
(docs/performance.md). DuckDB stays the fallback (an id that is not a
canonical UUID).
"""

from __future__ import annotations

import threading

import numpy as np

from ..duck import arrow
from .engine import Engine
from .narrow import DICT_COLUMNS, prefetch, version_codes, version_ids, version_order
from .rowreader import VersionFiles

VERSION_SHIFT = 40
ROW_MASK = (1 << VERSION_SHIFT) - 1


class Positions:
    """The encoded positions of a query's matching rows in its ordering.

    ``rows`` is split by ``bounds`` into buckets already in order with
    respect to each other; a bucket not yet ``done`` is sorted by
    ``tiebreak`` (the remaining keys) the first time a slice touches it."""

    def __init__(self, rows: np.ndarray, bounds: np.ndarray | None = None, tiebreak=None):
        self._rows = rows
        self._bounds = bounds
        self._tiebreak = tiebreak
        self._done = None if bounds is None else np.diff(bounds) <= 1
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def nbytes(self) -> int:
        extra = 0 if self._bounds is None else int(self._bounds.nbytes) + len(self._done)
        return int(self._rows.nbytes) + extra

    def slice(self, offset: int, limit: int) -> np.ndarray:
        """Encoded positions ``[offset, offset + limit)``."""
        stop = min(offset + limit, len(self._rows))
        if offset >= stop:
            return self._rows[:0]
        if self._bounds is not None:
            first = int(np.searchsorted(self._bounds, offset, side="right")) - 1
            last = int(np.searchsorted(self._bounds, stop, side="left"))
            if not self._done[first:last].all():
                with self._lock:
                    for b in range(first, last):
                        if not self._done[b]:
                            lo, hi = int(self._bounds[b]), int(self._bounds[b + 1])
                            segment = self._rows[lo:hi]
                            self._rows[lo:hi] = segment[np.lexsort(self._tiebreak(segment))]
                            self._done[b] = True
        return self._rows[offset:stop].copy()


def query_positions(engine: Engine, vfs: list[VersionFiles], where: str, params: dict,
                    ordering: tuple[tuple[str, bool], ...] | None) -> Positions:
    """The matching rows of ``vfs`` in ``ordering`` (``None``: storage order),
    from the narrow columns' codes, else from DuckDB; cached."""
    key = ("positions", tuple((vf.uris, vf.count) for vf in vfs), where, tuple(sorted(params.items())), ordering)
    hit = engine.cache_get(key)
    if hit is not None:
        return hit
    value = _by_codes(engine, vfs, params, ordering)
    if value is None:
        value = Positions(encoded_positions(engine, vfs, where, params, ordering))
    engine.cache_put(key, value)
    return value


def _rank_tables(engine: Engine, vfs: list[VersionFiles], name: str, desc: bool) -> tuple[list[np.ndarray], int]:
    """Per version, the rank of each code of column ``name`` (the last entry:
    null) in a total order of the values, and the number of ranks. Ascending
    puts nulls last, descending first (as the SQL ordering does)."""
    codes = [version_codes(engine, vf, name) for vf in vfs]
    ordered = sorted({v for c in codes for v in c.values})
    index = {v: i for i, v in enumerate(ordered)}
    k = len(ordered)
    tables = []
    for c in codes:
        ranks = np.array([index[v] for v in c.values] + [k], dtype=np.int64)
        tables.append(k - ranks if desc else ranks)
    return tables, k + 1


def _by_codes(engine: Engine, vfs: list[VersionFiles], params: dict,
              ordering: tuple[tuple[str, bool], ...] | None) -> Positions | None:
    prefetch(engine, vfs, set(params) | {k for k, _ in ordering or () if k != "version"})
    if any(k == "id" for k, _ in ordering or ()) and any(version_ids(engine, vf) is None for vf in vfs):
        return None
    parts = []
    for vi, vf in enumerate(vfs):
        mask = None
        for name, value in params.items():
            codes = version_codes(engine, vf, name)
            if len(codes.codes) != vf.count:
                return None
            hit = codes.codes == (codes.values.index(value) if value in codes.values else -2)
            mask = hit if mask is None else mask & hit
        rows = np.flatnonzero(mask) if mask is not None else np.arange(vf.count, dtype=np.int64)
        parts.append(rows.astype(np.int64, copy=False) | (vi << VERSION_SHIFT))
    encoded = np.concatenate(parts) if len(parts) > 1 else parts[0] if parts else np.empty(0, np.int64)
    if ordering is None or len(encoded) == 0:
        return Positions(encoded)

    def per_version(rows: np.ndarray, pick) -> np.ndarray:
        """``pick(vi, rows_of_vi)`` for each version's run of ``rows`` (sorted by version)."""
        vis = rows >> VERSION_SHIFT
        cuts = np.searchsorted(vis, np.arange(len(vfs) + 1))
        out = [pick(vi, rows[cuts[vi]:cuts[vi + 1]] & ROW_MASK) for vi in range(len(vfs)) if cuts[vi] < cuts[vi + 1]]
        return np.concatenate(out) if len(out) > 1 else out[0]

    def key_arrays(name: str, desc: bool, rows: np.ndarray) -> list[np.ndarray]:
        """Sort keys (most significant last) of ``rows`` (sorted by version) for one ordering key."""
        if name == "version":
            vis = rows >> VERSION_SHIFT
            return [len(vfs) - 1 - vis if desc else vis]
        if name in DICT_COLUMNS:
            tables, _ = _rank_tables(engine, vfs, name, desc)
            return [per_version(rows, lambda vi, r: tables[vi][version_codes(engine, vfs[vi], name).codes[r]])]
        if name == "order":
            return [per_version(rows, lambda vi, r: -version_order(engine, vfs[vi])[r] if desc
                                else version_order(engine, vfs[vi])[r])]
        words = per_version(rows, lambda vi, r: version_ids(engine, vfs[vi])[r])
        hi, lo = words[:, 0], words[:, 1]
        return [~lo, ~hi] if desc else [lo, hi]

    # leading keys of few values: one small integer per row, counting-sorted
    composite, card, used = None, 1, 0
    for name, desc in ordering:
        if name != "version" and name not in DICT_COLUMNS:
            break
        k = len(vfs) if name == "version" else _rank_tables(engine, vfs, name, desc)[1]
        if card * k > 1 << 16:
            break
        (ranks,) = key_arrays(name, desc, encoded)
        composite = ranks if composite is None else composite * k + ranks
        card *= k
        used += 1
    rest = ordering[used:]

    def tiebreak(segment: np.ndarray) -> list[np.ndarray]:
        # a bucket holds its rows in position order (the counting sort is
        # stable), which is the order key_arrays gathers them in
        keys: list[np.ndarray] = []
        for name, desc in reversed(rest):
            keys.extend(key_arrays(name, desc, segment))
        return keys

    if composite is None:
        return Positions(encoded.copy(), np.array([0, len(encoded)]), tiebreak)
    order = np.argsort(composite.astype(np.uint16), kind="stable")
    bounds = np.zeros(card + 1, dtype=np.int64)
    np.cumsum(np.bincount(composite, minlength=card), out=bounds[1:])
    if not rest:
        return Positions(encoded[order])
    return Positions(encoded[order], bounds, tiebreak)


def encoded_positions(engine: Engine, vfs: list[VersionFiles], where: str, params: dict,
                      ordering: tuple[tuple[str, bool], ...] | None) -> np.ndarray:
    """Encoded positions of the matching rows of ``vfs`` in ``ordering``
    (``None``: storage order, i.e. version then row, which needs no sort keys),
    computed by DuckDB."""
    uris, vis, starts = [], [], []
    for vi, vf in enumerate(vfs):
        for fi, uri in enumerate(vf.uris):
            uris.append(uri)
            vis.append(vi)
            starts.append(int(vf.starts[fi]))
    if not uris:
        return np.empty(0, dtype=np.int64)
    order_by = ["__vi", "__row"] if ordering is None else []
    for name, desc in ordering or ():
        column = "__vi" if name == "version" else f'"{name}"'
        order_by.append(f"{column} " + ("DESC NULLS FIRST" if desc else "ASC NULLS LAST"))
    if len(uris) == 1:
        # the one file's version need not be the first selected: others may be empty
        source = ("SELECT CAST($vi AS BIGINT) AS __vi, file_row_number AS __row, * "
                  "FROM read_parquet($uris, file_row_number = true)")
    else:
        source = ("SELECT $vis[list_position($uris, filename)] AS __vi, "
                  "file_row_number + $starts[list_position($uris, filename)] AS __row, * "
                  "FROM read_parquet($uris, file_row_number = true, filename = true)")
    sql = (f"SELECT (CAST(__vi AS BIGINT) << {VERSION_SHIFT}) | __row AS p FROM ({source}){where} "
           f"ORDER BY {', '.join(order_by)}")
    bound = {"uris": uris, **params}
    if len(uris) > 1:
        bound.update(vis=vis, starts=starts)
    else:
        bound.update(vi=vis[0])
    column = arrow(engine.cursor(), sql, bound).column("p")
    return column.to_numpy() if column.num_chunks else np.empty(0, dtype=np.int64)


def decode(encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(version indexes, rows within the version) of encoded positions."""
    return encoded >> VERSION_SHIFT, encoded & ROW_MASK
