"""Facet counts of a list query: how many matching rows have each source,
generator model, agent and persona (the viewer's filter sidebar, docs/viewer.md).

Computed by DuckDB in one scan over the narrow columns only (never the wide
JSON) with ``GROUPING SETS``, and cached in the engine like the position
arrays: committed versions never change, so the key -- the dataset, the
versions with their checksums and the row filters -- never goes stale.
"""

from __future__ import annotations

from typing import Any

from ..duck import arrow
from .listquery import DatapointQuery

#: The fields counted, in display order.
FACET_FIELDS = ("source", "generator_model", "agent", "persona")


class Facets(dict):
    """``{field: [(value, count), ...]}``, most frequent first, ties by value (nulls last)."""

    @property
    def nbytes(self) -> int:  # what the engine's byte-bounded cache charges
        return 64 + sum(80 * len(v) + sum(len(str(x)) for x, _ in v) for v in self.values())


def facet_counts(query: DatapointQuery) -> Facets:
    """Counts per value of each of :data:`FACET_FIELDS` over the rows ``query`` selects."""
    uris = [uri for vf in query._vfs for uri in vf.uris]
    where, params = query._where()
    key = ("facets", query.dataset.id, tuple((c.version, c.checksum) for c in query.commits), where,
           tuple(sorted(params.items())))

    def compute() -> Facets:
        out = Facets({field: [] for field in FACET_FIELDS})
        if not uris:
            return out
        columns = ", ".join(f'"{f}"' for f in FACET_FIELDS)
        sets = ", ".join(f'("{f}")' for f in FACET_FIELDS)
        grouping = ", ".join(f'GROUPING("{f}")' for f in FACET_FIELDS)
        sql = (f"SELECT {columns}, [{grouping}] AS g, count(*) AS n "
               f"FROM read_parquet($files){where} GROUP BY GROUPING SETS ({sets})")
        table = arrow(query.engine.cursor(), sql, {"files": uris, **params})
        rows = table.to_pylist()
        for row in rows:
            # exactly one field is grouped in each row: the one whose GROUPING bit is 0
            field = FACET_FIELDS[row["g"].index(0)]
            out[field].append((row[field], int(row["n"])))
        for field, values in out.items():
            values.sort(key=lambda vc: (-vc[1], vc[0] is None, "" if vc[0] is None else vc[0]))
        return out

    return query.engine.cached(key, compute)


def facet_summary(facets: dict[str, list[tuple[Any, int]]], limit: int) -> dict[str, tuple[list, int]]:
    """Each field's first ``limit`` values and how many more there are."""
    return {f: (v[:limit], max(0, len(v) - limit)) for f, v in facets.items()}
