"""The list query of docs/python.md: filters, ordering, pagination.

A query resolves its versions from commit records (never by listing
directories) and reads exactly those versions' files with DuckDB. Every
value reaches SQL as a bound parameter; field names come from an allow-list.

Two read paths for pages:

* **positional** — no row filter and an ordering equal to the storage order
  (each version's files are sorted by ``order, id``; versions follow each
  other): the rows of a page are rows ``[offset, offset + size)`` of the
  versions' files in sequence, read by position, never sorted; the count
  comes from the commit records.
* **by positions** — anything else: DuckDB computes, over the narrow filter
  and sort columns only, the ordered positions of every matching row once
  (cached: committed versions never change), and a page reads the wide
  columns of its own rows only (see positions.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib import parse

import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from ..duck import arrow
from ..errors import ValidationError
from ..schema import DEFAULT_ORDERING, DEFAULT_PAGE_SIZE, ORDERING_FIELDS, RESULT_SCHEMA, SOURCES
from ..storage.catalog import CommitRecord, DatasetRecord
from .engine import Engine
from .pagejson import join_items
from .pagination import num_pages, page_links, resolve_page, validate_page_size
from .positions import Positions, decode, query_positions
from .rowreader import VersionFiles, int64_array, item_range, items_at, read_all

_HIVE = "hive_partitioning = true, hive_types = {'dataset_id': VARCHAR, 'version': BIGINT}"
_RESULT_COLUMNS = ", ".join(f'"{f.name}"' for f in RESULT_SCHEMA)


# every digit becomes "0", every other byte "."; a 19-digit run then shows as 19 zeros
_DIGITS_ONLY = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E for b in range(256))
_LONG_RUN = b"0" * 19


def loads_exact(text: bytes) -> Any:
    """JSON to Python exactly: orjson when no number could exceed 64 bits
    (orjson turns bigger integers into floats), the standard library otherwise."""
    if _LONG_RUN not in text.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:  # e.g. an escaped lone surrogate, which json accepts
            pass
    return json.loads(text)


def parse_ordering(ordering: str | None) -> tuple[tuple[str, bool], ...]:
    """``"-persona, order"`` -> ((persona, desc), (order, asc)); unknown fields raise."""
    if ordering is None:
        return ()
    keys: list[tuple[str, bool]] = []
    seen = set()
    for term in str(ordering).split(","):
        term = term.strip()
        if not term:
            continue
        desc = term.startswith("-")
        name = term[1:] if desc else term
        if name not in ORDERING_FIELDS:
            raise ValidationError(
                "ordering",
                f"unknown ordering field {name!r}; allowed fields: " + ", ".join(ORDERING_FIELDS)
                + " (prefix - for descending)",
            )
        if name not in seen:
            seen.add(name)
            keys.append((name, desc))
    return tuple(keys)


def total_ordering(keys: tuple[tuple[str, bool], ...]) -> tuple[tuple[str, bool], ...]:
    """The requested keys (or the default) made total by appending version, id."""
    keys = keys or tuple((f, False) for f in DEFAULT_ORDERING)
    names = {k for k, _ in keys}
    return keys + tuple((f, False) for f in ("version", "id") if f not in names)


def _whole_number(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, "must be a whole number")
    return value


@dataclass(frozen=True)
class ListParams:
    """A validated §5 query (filters and ordering), independent of any dataset."""

    agent: str | None = None
    generator_model: str | None = None
    source: str | None = None
    version: int | None = None
    version_min: int | None = None
    version_max: int | None = None
    ordering: tuple[tuple[str, bool], ...] = ()

    @classmethod
    def build(cls, *, agent: Any = None, generator_model: Any = None, source: Any = None,
              version: Any = None, version_min: Any = None, version_max: Any = None,
              ordering: Any = None) -> "ListParams":
        if agent is not None:
            import uuid

            try:
                agent = str(agent if isinstance(agent, uuid.UUID) else uuid.UUID(str(agent)))
            except ValueError:
                raise ValidationError("agent", "must be a UUID") from None
        if source is not None and source not in SOURCES:
            raise ValidationError("source", "must be one of " + ", ".join(SOURCES))
        if generator_model is not None and not isinstance(generator_model, str):
            raise ValidationError("generator_model", "must be a string")
        if ordering is not None and not isinstance(ordering, str):
            ordering = ",".join(ordering)
        return cls(agent, generator_model, source, _whole_number(version, "version"),
                   _whole_number(version_min, "version_min"), _whole_number(version_max, "version_max"),
                   parse_ordering(ordering))

    @property
    def row_filtered(self) -> bool:
        return self.agent is not None or self.generator_model is not None or self.source is not None

    def query_items(self) -> list[tuple[str, str]]:
        """The non-default parameters as query-string items (for relative links)."""
        items = []
        for name in ("agent", "generator_model", "source", "version", "version_max", "version_min"):
            value = getattr(self, name)
            if value is not None:
                items.append((name, str(value)))
        if self.ordering:
            items.append(("ordering", ",".join(("-" if d else "") + f for f, d in self.ordering)))
        return items

    def select_versions(self, latest: int) -> list[int]:
        if self.version is None and self.version_min is None and self.version_max is None:
            return [latest] if latest >= 1 else []
        lo, hi = 1, latest
        if self.version is not None:
            lo, hi = max(lo, self.version), min(hi, self.version)
        if self.version_min is not None:
            lo = max(lo, self.version_min)
        if self.version_max is not None:
            hi = min(hi, self.version_max)
        return list(range(lo, hi + 1))


def _joined(parts: list[pa.Array]) -> pa.Array:
    if not parts:
        return pa.array([], pa.large_string())
    return pa.concat_arrays(parts) if len(parts) > 1 else parts[0]


class DatapointQuery:
    """Rows of one dataset matching a ListParams, over a fixed set of versions."""

    def __init__(self, engine: Engine, dataset: DatasetRecord, params: ListParams,
                 commits: list[CommitRecord]):
        self.engine = engine
        self.dataset = dataset
        self.params = params
        self.commits = commits
        self.versions = [c.version for c in commits]
        self.ordering = total_ordering(params.ordering)
        self._vfs = [VersionFiles.of(engine, c) for c in commits]

    # -- planning ------------------------------------------------------------
    @property
    def storage_ordered(self) -> bool:
        """True when the ordering is the storage order: version, then order, id."""
        keys = list(self.ordering)
        if len(self.versions) <= 1:
            keys = [k for k in keys if k[0] != "version"]
            return keys[:2] == [("order", False), ("id", False)]
        return keys[:3] == [("version", False), ("order", False), ("id", False)]

    @property
    def positional(self) -> bool:
        """True when a page is a plain range of the versions' rows."""
        return self.storage_ordered and not self.params.row_filtered

    def _where(self) -> tuple[str, dict[str, Any]]:
        clauses, params = [], {}
        for name in ("source", "agent", "generator_model"):
            value = getattr(self.params, name)
            if value is not None:
                clauses.append(f"{name} = ${name}")
                params[name] = value
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _order_by(self) -> str:
        return ", ".join(f'"{name}" ' + ("DESC NULLS FIRST" if desc else "ASC NULLS LAST")
                         for name, desc in self.ordering)

    def _positions(self) -> Positions:
        where, params = self._where()
        return query_positions(self.engine, self._vfs, where, params,
                               None if self.storage_ordered else self.ordering)

    # -- results -------------------------------------------------------------
    def count(self) -> int:
        """Number of matching rows (from commit records when no row filter applies)."""
        if not self.params.row_filtered:
            return sum(c.count for c in self.commits)
        return len(self._positions())

    def _items(self, offset: int, limit: int) -> pa.Array:
        """Page items of rows [offset, offset+limit) in the query's ordering."""
        if self.positional:
            parts, start = [], 0
            for vf in self._vfs:
                lo, hi = max(offset, start), min(offset + limit, start + vf.count)
                if lo < hi:
                    parts.append(item_range(self.engine, vf, lo - start, hi - start))
                start += vf.count
            return _joined(parts)
        encoded = self._positions().slice(offset, limit)
        if len(encoded) == 0:
            return _joined([])
        vis, rows = decode(encoded)
        groups = np.unique(vis)
        if len(groups) == 1:
            return items_at(self.engine, self._vfs[int(groups[0])], rows)
        parts, placed = [], []
        for vi in groups:
            where = np.flatnonzero(vis == vi)
            parts.append(items_at(self.engine, self._vfs[int(vi)], rows[where]))
            placed.append(where)
        order = np.concatenate(placed)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return _joined(parts).take(int64_array(inverse))

    def to_arrow(self) -> pa.Table:
        """Every matching row, all columns, in the query's ordering."""
        if self.positional:
            parts = [read_all(self.engine, vf) for vf in self._vfs]
            return pa.concat_tables(parts) if parts else RESULT_SCHEMA.empty_table()
        uris = [uri for vf in self._vfs for uri in vf.uris]
        if not uris:
            return RESULT_SCHEMA.empty_table()
        where, params = self._where()
        sql = (f"SELECT {_RESULT_COLUMNS} FROM read_parquet($files, {_HIVE}){where} "
               f"ORDER BY {self._order_by()}")
        return arrow(self.engine.cursor(), sql, {"files": uris, **params}).cast(RESULT_SCHEMA)

    def to_polars(self) -> pl.DataFrame:
        """Every matching row as a Polars frame (JSON fields as JSON text)."""
        return pl.from_arrow(self.to_arrow())

    # -- pages ---------------------------------------------------------------
    def _page_parts(self, page: object, page_size: int) -> tuple[int, int, int, bytes]:
        page_size = validate_page_size(page_size)
        count = self.count()
        number = resolve_page(page, count, page_size)
        results = join_items(self._items((number - 1) * page_size, page_size))
        return count, number, num_pages(count, page_size), results

    def _links(self, base_url: str | None, number: int, last: int, page_size: int):
        if base_url is None:
            items = self.params.query_items()
            if page_size != DEFAULT_PAGE_SIZE:
                items.append(("page_size", str(page_size)))
            base_url = "?" + parse.urlencode(sorted(items)) if items else ""
        return page_links(base_url, number, last)

    def page_json(self, page: object = 1, page_size: int = DEFAULT_PAGE_SIZE,
                  base_url: str | None = None) -> bytes:
        """The documented JSON page as compact UTF-8 bytes."""
        count, number, last, results = self._page_parts(page, page_size)
        next_link, previous = self._links(base_url, number, last, page_size)
        return (b'{"count":' + str(count).encode() + b',"next":' + json.dumps(next_link).encode()
                + b',"previous":' + json.dumps(previous).encode() + b',"results":' + results + b"}")

    def page(self, page: object = 1, page_size: int = DEFAULT_PAGE_SIZE,
             base_url: str | None = None) -> dict[str, Any]:
        """The documented JSON page as a dict (JSON values decoded losslessly)."""
        count, number, last, results = self._page_parts(page, page_size)
        next_link, previous = self._links(base_url, number, last, page_size)
        return {"count": count, "next": next_link, "previous": previous, "results": loads_exact(results)}
