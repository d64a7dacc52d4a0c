"""What the viewer's pages show, read from the lake (no HTML here).

Each function returns plain values for a template: the lake's datasets with
their latest commit, a dataset's versions, a page of datapoints as cells,
a diff page. Reads only; committed versions never change, so the costly
results (facets, diffs) are cached in the engine keyed by versions and
checksums.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ...lake import Lake
from ...query.facets import facet_counts
from ...query.listquery import DatapointQuery, loads_exact
from ...query.pagerows import page_rows
from ...query.pagination import num_pages, resolve_page
from ...schema import SOURCES
from ...storage.catalog import CommitRecord, DatasetRecord
from .cells import Cell, cell, chips, json_text_cell, raw_cell

DIFF_FIELDS = ("input", "expected_output", "order", "persona", "tags", "source", "agent", "generator_model")
_JSON_DIFF_FIELDS = frozenset({"input", "expected_output", "tags"})
DIFF_PAGE_SIZE = 100
CHANGES = ("added", "removed", "changed")


def lake_rows(lake: Lake, search: str = "") -> list[dict[str, Any]]:
    """Every dataset (optionally whose name contains ``search``, case-insensitive) with its latest commit."""
    needle = search.casefold()
    out = []
    for info in lake.dataset_infos():
        if needle and needle not in info["name"].casefold():
            continue
        commit = lake.catalog.commit(info["id"], info["latest_version"])
        out.append({**info, "count": commit.count if commit else 0,
                    "source_counts": _source_counts(commit), "committed_at": commit.created_at if commit else "",
                    "message": commit.message if commit else ""})
    return out


def _source_counts(commit: CommitRecord | None) -> list[tuple[str, int]]:
    if commit is None:
        return []
    return [(s, commit.source_counts.get(s, 0)) for s in SOURCES if commit.source_counts.get(s, 0)]


def version_rows(commits: list[CommitRecord]) -> list[dict[str, Any]]:
    """The versions table, newest first."""
    return [{"version": c.version, "created_at": c.created_at, "message": c.message,
             "parent_version": c.parent_version, "count": c.count, "checksum": c.checksum,
             "source_counts": _source_counts(c), "generator_models": list(c.generator_models)}
            for c in reversed(commits)]


@dataclass(slots=True)
class Row:
    """A datapoint as the table shows it."""

    id: str
    order: Any
    persona: str | None
    tags: list[str] | None  # chips, when tags are flat
    tags_cell: Cell
    input: Cell
    expected_output: Cell
    raw: Cell | None = None  # set when the item could not be decoded


@dataclass
class DatapointsView:
    count: int
    number: int
    last: int
    rows: list[Row]
    facets: dict[str, list[tuple[Any, int]]] = field(default_factory=dict)


def datapoints_view(query: DatapointQuery, page: object, page_size: int) -> DatapointsView:
    """One page of ``query`` as table rows, with the facet counts of the whole query."""
    result = page_rows(query, page, page_size)
    rows = []
    raws = result.raw if result.raw is not None else [""] * len(result.rows)
    for item, text in zip(result.rows, raws):
        if item is None:
            rows.append(Row(id="", order="", persona=None, tags=None, tags_cell=Cell(inline=""),
                            input=Cell(inline=""), expected_output=Cell(inline=""), raw=raw_cell(text)))
            continue
        tags = item.get("tags")
        rows.append(Row(id=item["id"], order=item["order"], persona=item["persona"], tags=chips(tags),
                        tags_cell=cell(tags), input=cell(item["input"]),
                        expected_output=cell(item["expected_output"])))
    return DatapointsView(result.count, result.number, result.last, rows, facet_counts(query))


class _Cached:
    """A value for the engine's cache, which charges ``nbytes``."""

    __slots__ = ("value", "nbytes")

    def __init__(self, value: Any, nbytes: int):
        self.value = value
        self.nbytes = nbytes


def diff_frame(lake: Lake, record: DatasetRecord, a: CommitRecord, b: CommitRecord) -> pl.DataFrame:
    """``Lake.diff`` of two committed versions, cached (both are immutable)."""
    key = ("ui-diff", record.id, a.version, a.checksum, b.version, b.checksum)

    def compute() -> _Cached:
        frame = lake.diff(record.id, a.version, b.version)
        return _Cached(frame, int(frame.estimated_size()) + 256)

    return lake.engine.cached(key, compute).value


@dataclass
class DiffField:
    name: str
    a: Cell | None
    b: Cell | None
    changed: bool


@dataclass
class DiffRow:
    id: str
    change: str
    persona: str | None
    fields: list[DiffField]
    unchanged: list[str]

    @property
    def scalars(self) -> list[DiffField]:
        """The plain fields of an added or removed row (shown on one line)."""
        return [f for f in self.fields if f.name not in _JSON_DIFF_FIELDS and self.change != "changed"]

    @property
    def blocks(self) -> list[DiffField]:
        """The fields shown as rows: JSON fields, and every changed field."""
        return [f for f in self.fields if f.name in _JSON_DIFF_FIELDS or self.change == "changed"]


@dataclass
class DiffView:
    counts: dict[str, int]
    count: int
    number: int
    last: int
    rows: list[DiffRow]


def _field_cell(name: str, value: Any) -> Cell:
    if name in _JSON_DIFF_FIELDS:
        return json_text_cell(value)
    if value is None:
        return Cell(inline="null", kind="null")
    return Cell(inline=str(value), kind="text")


_ABSENT = Cell(inline="(absent)", kind="null")


def _decoded(text: str | None) -> Any:
    try:
        return None if text is None else loads_exact(text.encode("utf-8", "surrogatepass"))
    except (RecursionError, ValueError):
        return _ABSENT


def _changed_fields(name: str, va: Any, vb: Any) -> list[DiffField]:
    """A changed field; a JSON object changed in some keys gives one row per changed key."""
    if name in _JSON_DIFF_FIELDS:
        a, b = _decoded(va), _decoded(vb)
        if isinstance(a, dict) and isinstance(b, dict):
            keys = list(b) + [k for k in a if k not in b]
            rows = [DiffField(f"{name}.{k}", cell(a[k]) if k in a else _ABSENT, cell(b[k]) if k in b else _ABSENT, True)
                    for k in keys if k not in a or k not in b or a[k] != b[k] or type(a[k]) is not type(b[k])]
            if rows:
                return rows
    return [DiffField(name, _field_cell(name, va), _field_cell(name, vb), True)]


def diff_view(frame: pl.DataFrame, change: str | None, page: object) -> DiffView:
    """One page of a diff (optionally of one kind of change); InvalidPage past the end."""
    counts = {c: 0 for c in CHANGES}
    for kind, n in frame.group_by("change").len().iter_rows():
        counts[kind] = n
    if change:
        frame = frame.filter(pl.col("change") == change)
    count = frame.height
    number = resolve_page(page, count, DIFF_PAGE_SIZE)
    rows = []
    for r in frame.slice((number - 1) * DIFF_PAGE_SIZE, DIFF_PAGE_SIZE).iter_rows(named=True):
        kind = r["change"]
        fields, unchanged = [], []
        for name in DIFF_FIELDS:
            va, vb = r[f"{name}_a"], r[f"{name}_b"]
            if kind == "added":
                fields.append(DiffField(name, None, _field_cell(name, vb), False))
            elif kind == "removed":
                fields.append(DiffField(name, _field_cell(name, va), None, False))
            elif va != vb:
                fields.extend(_changed_fields(name, va, vb))
            else:
                unchanged.append(name)
        persona = r["persona_b"] if kind != "removed" else r["persona_a"]
        rows.append(DiffRow(r["id"], kind, persona, fields, unchanged))
    return DiffView(counts, count, number, num_pages(count, DIFF_PAGE_SIZE), rows)
