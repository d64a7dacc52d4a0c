"""Which rows a query selects, and in which order, as an array of positions.

Committed versions never change, so the answer to "which rows of versions
V match these filters, in this ordering" never goes stale. It is computed
once by DuckDB over the narrow columns only (the filter and sort keys, never
the wide JSON) and cached as a numpy array of encoded positions::

    (index of the version in the query's version list << 40) | row in that version

A page is then a slice of that array, and its rows are read by position —
late materialisation: the JSON of exactly ``page_size`` rows is decoded.
"""

from __future__ import annotations

import numpy as np

from ..duck import arrow
from .engine import Engine
from .rowreader import VersionFiles

VERSION_SHIFT = 40
ROW_MASK = (1 << VERSION_SHIFT) - 1


def encoded_positions(engine: Engine, vfs: list[VersionFiles], where: str, params: dict,
                      ordering: tuple[tuple[str, bool], ...] | None) -> np.ndarray:
    """Encoded positions of the matching rows of ``vfs`` in ``ordering``
    (``None``: storage order, i.e. version then row, which needs no sort keys)."""
    uris, vis, starts = [], [], []
    for vi, vf in enumerate(vfs):
        for fi, uri in enumerate(vf.uris):
            uris.append(uri)
            vis.append(vi)
            starts.append(int(vf.starts[fi]))
    if not uris:
        return np.empty(0, dtype=np.int64)
    # the version index of each file is part of the answer (it is encoded in
    # every position), so it is part of the key: an empty version has no
    # files but still shifts the indexes of the versions after it
    key = ("positions", tuple(zip(uris, vis, starts)), where, tuple(sorted(params.items())), ordering)

    def compute() -> np.ndarray:
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

    return engine.cached(key, compute)


def decode(encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(version indexes, rows within the version) of encoded positions."""
    return encoded >> VERSION_SHIFT, encoded & ROW_MASK
