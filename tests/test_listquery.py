"""docs/python.md: the list query — version selection, filters, ordering,
pagination and links — through the Python API."""

from __future__ import annotations

import itertools
import json
import uuid

import polars as pl
import pytest

import overmind_lake
from overmind_lake import InvalidPage, ValidationError

A1 = "aaaaaaaa-0000-4000-8000-000000000001"
A2 = "aaaaaaaa-0000-4000-8000-000000000002"
PERSONAS = ["Z", "a", "é", None, "ab", "A", "😀", "b"]
MODELS = [None, "m-b", "m-a", "M"]
SOURCES = ["seed", "synthetic", "augmented", "production"]
MAX = 9223372036854775807


def _rows(n: int, seed: int) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append({
            "id": str(uuid.UUID(int=(seed * 1000 + i) * 7919 % (2 ** 64) + 1)),
            "input": {"i": i, "v": seed},
            "order": (i * 7) % 5 if i % 4 else (MAX if i == 4 else i // 3),  # repeated orders and the max
            "persona": PERSONAS[(i + seed) % len(PERSONAS)],
            "source": SOURCES[(i * 3 + seed) % 4],
            "generator_model": MODELS[(i + 2 * seed) % 4],
            "agent": [A1, A2, None][(i + seed) % 3],
        })
    return rows


@pytest.fixture(scope="module")
def qlake(tmp_path_factory):
    lake = overmind_lake.Lake(tmp_path_factory.mktemp("q") / "lake")
    lake.create_dataset("d", _rows(23, 1))
    lake.add_version("d", _rows(17, 2))
    lake.add_version("d", _rows(29, 3))
    lake.create_dataset("other", _rows(5, 9))
    lake.create_dataset("empty", [])
    return lake


def _all(lake, **kw) -> pl.DataFrame:
    return lake.datapoints("d", **kw).to_polars()


def _walk(q, page_size) -> list[dict]:
    out, page = [], 1
    while True:
        body = q.page(page=page, page_size=page_size)
        out.extend(body["results"])
        if body["next"] is None:
            return out
        page += 1


# -- versions ----------------------------------------------------------------

@pytest.mark.parametrize("kw,versions", [
    ({}, {3}),
    ({"version": 1}, {1}),
    ({"version": 2}, {2}),
    ({"version_min": 2}, {2, 3}),
    ({"version_max": 2}, {1, 2}),
    ({"version_min": 1, "version_max": 3}, {1, 2, 3}),
    ({"version_min": 2, "version_max": 2}, {2}),
    ({"version_min": 3, "version_max": 1}, set()),
    ({"version": 9}, set()),
    ({"version": 0}, set()),
    ({"version_min": 9}, set()),
    ({"version": 2, "version_min": 1, "version_max": 3}, {2}),
    ({"version": 1, "version_min": 2}, set()),
])
def test_version_selection(qlake, kw, versions):
    df = _all(qlake, **kw)
    assert set(df["version"].unique().to_list()) == versions
    counts = {1: 23, 2: 17, 3: 29}
    assert df.height == sum(counts[v] for v in versions)
    assert qlake.datapoints("d", **kw).count() == df.height
    assert set(df["dataset_id"].unique().to_list()) <= {qlake.dataset("d").id}


@pytest.mark.parametrize("bad", [{"version": "2"}, {"version": 1.5}, {"version_min": True}])
def test_version_arguments_must_be_whole_numbers(qlake, bad):
    with pytest.raises(ValidationError):
        qlake.datapoints("d", **bad)


# -- filters -----------------------------------------------------------------

FILTERS = [
    {"source": "seed"}, {"source": "production"},
    {"agent": A1}, {"agent": A2.upper()},
    {"generator_model": "m-a"}, {"generator_model": "M"}, {"generator_model": "nope"},
    {"source": "synthetic", "generator_model": "m-b"},
    {"source": "augmented", "agent": A1, "generator_model": "m-a"},
]


@pytest.mark.parametrize("kw", FILTERS)
@pytest.mark.parametrize("versions", [{}, {"version_min": 1}])
def test_filters(qlake, kw, versions):
    everything = _all(qlake, **versions)
    expected = everything
    for field, value in kw.items():
        expected = expected.filter(pl.col(field) == (value.lower() if field == "agent" else value))
    got = _all(qlake, **kw, **versions)
    assert got.height == expected.height
    assert got.equals(expected)  # same rows, same (default) order
    assert qlake.datapoints("d", **kw, **versions).count() == expected.height


@pytest.mark.parametrize("bad", [{"source": "Seed"}, {"source": "x"}, {"agent": "not-a-uuid"},
                                 {"generator_model": 5}])
def test_bad_filters(qlake, bad):
    with pytest.raises(ValidationError):
        qlake.datapoints("d", **bad)


# -- ordering ----------------------------------------------------------------

FIELDS = ["order", "id", "persona", "version", "source", "generator_model"]


def _py_sorted(rows: list[dict], keys: list[tuple[str, bool]]) -> list[dict]:
    """Reference ordering: code-point strings, nulls last asc / first desc, made total by version, id."""
    names = {k for k, _ in keys}
    keys = keys + [(f, False) for f in ("version", "id") if f not in names]
    out = list(rows)
    for field, desc in reversed(keys):
        present = [r for r in out if r[field] is not None]
        nulls = [r for r in out if r[field] is None]
        present.sort(key=lambda r: r[field], reverse=desc)
        out = nulls + present if desc else present + nulls
    return out


def _orderings():
    out = []
    for f in FIELDS:
        out += [f, "-" + f]
    out += ["persona,-order", "-source,generator_model", "generator_model,-persona,order",
            "-version,-order", "source,persona,-id", " persona , -generator_model "]
    return out


@pytest.mark.parametrize("versions", [{"version_min": 1}, {}, {"version": 2}])
@pytest.mark.parametrize("ordering", _orderings() + ["order,id", "version,order,id", "-order,-id"])
def test_orderings_and_pages_are_total(qlake, ordering, versions):
    q = qlake.datapoints("d", **versions, ordering=ordering)
    frame = q.to_polars()
    rows = frame.to_dicts()
    keys = [(t.strip().lstrip("-"), t.strip().startswith("-")) for t in ordering.split(",")]
    expected = _py_sorted(rows, keys)
    assert [r["id"] + str(r["version"]) for r in rows] == [r["id"] + str(r["version"]) for r in expected]
    # walking the pages gives exactly the frame, no row repeated or skipped
    for size in (7, 1000):
        walked = _walk(q, size)
        assert [r["id"] for r in walked] == frame["id"].to_list()
        assert [r["order"] for r in walked] == frame["order"].to_list()
    assert len({(r["id"], r["version"]) for r in rows}) == len(rows) == q.count()


def test_default_ordering_is_version_order_id(qlake):
    rows = _all(qlake, version_min=1).to_dicts()
    assert rows == _py_sorted(rows, [("version", False), ("order", False), ("id", False)])


def test_code_point_string_order(qlake):
    personas = [p for p in _all(qlake, ordering="persona")["persona"].to_list()]
    distinct = list(dict.fromkeys(personas))
    assert distinct == ["A", "Z", "a", "ab", "b", "é", "😀", None]
    distinct_desc = list(dict.fromkeys(_all(qlake, ordering="-persona")["persona"].to_list()))
    assert distinct_desc == [None, "😀", "é", "b", "ab", "a", "Z", "A"]
    models = list(dict.fromkeys(_all(qlake, ordering="generator_model")["generator_model"].to_list()))
    assert models == ["M", "m-a", "m-b", None]
    sources = list(dict.fromkeys(_all(qlake, ordering="source")["source"].to_list()))
    assert sources == ["augmented", "production", "seed", "synthetic"]


def test_orderings_with_filters(qlake):
    q = qlake.datapoints("d", version_min=1, source="seed", ordering="-persona")
    rows = q.to_polars().to_dicts()
    assert all(r["source"] == "seed" for r in rows)
    assert rows == _py_sorted(rows, [("persona", True)])
    assert [r["id"] for r in _walk(q, 3)] == [r["id"] for r in rows]


@pytest.mark.parametrize("bad", ["nope", "-input", "order,tags", "ORDER", "--order"])
def test_unknown_ordering_field(qlake, bad):
    with pytest.raises(ValidationError) as info:
        qlake.datapoints("d", ordering=bad)
    assert info.value.field == "ordering"


# -- pages -------------------------------------------------------------------

def test_page_shape_and_last(qlake):
    q = qlake.datapoints("d")
    body = q.page(page=1, page_size=10)
    assert list(body) == ["count", "next", "previous", "results"]
    assert body["count"] == 29 and len(body["results"]) == 10
    last = q.page(page="last", page_size=10)
    assert last == q.page(page=3, page_size=10)
    assert len(last["results"]) == 9 and last["next"] is None
    assert q.page(page="2", page_size=10) == q.page(page=2, page_size=10)


@pytest.mark.parametrize("page", [0, -1, 4, "abc", "", None, 1.5, "1.5", True])
def test_invalid_pages(qlake, page):
    with pytest.raises(InvalidPage):
        qlake.datapoints("d").page(page=page, page_size=10)


def test_empty_result_has_page_one(qlake):
    for q in (qlake.datapoints("empty"), qlake.datapoints("d", generator_model="nope"),
              qlake.datapoints("d", version=9)):
        assert q.page() == {"count": 0, "next": None, "previous": None, "results": []}
        assert q.page(page="last") == q.page()
        assert q.count() == 0 and q.to_polars().height == 0
        with pytest.raises(InvalidPage):
            q.page(page=2)


@pytest.mark.parametrize("size,ok", [(1, True), (1000, True), (0, False), (1001, False), (-5, False),
                                     ("10", False), (True, False)])
def test_page_size_limits(qlake, size, ok):
    q = qlake.datapoints("d")
    if ok:
        assert len(q.page(page_size=size)["results"]) == min(size, 29)
    else:
        with pytest.raises(ValidationError):
            q.page(page_size=size)


def test_default_page_size_is_100(tmp_path):
    lake = overmind_lake.Lake(tmp_path / "lake")
    lake.create_dataset("d", [{"input": i} for i in range(250)])
    q = lake.datapoints("d")
    assert len(q.page()["results"]) == 100
    assert len(q.page(page=3)["results"]) == 50
    assert q.page()["next"] == "?page=2"


def test_relative_links(qlake):
    q = qlake.datapoints("d")
    assert q.page(page=1, page_size=10)["previous"] is None
    assert q.page(page=1, page_size=10)["next"] == "?page=2&page_size=10"
    assert q.page(page=2, page_size=10)["previous"] == "?page_size=10"
    assert q.page(page=3, page_size=10)["previous"] == "?page=2&page_size=10"
    q = qlake.datapoints("d", version_min=1, source="seed", ordering="-persona,order")
    body = q.page(page=2, page_size=5)
    assert body["next"] == "?ordering=-persona%2Corder&page=3&page_size=5&source=seed&version_min=1"
    assert body["previous"] == "?ordering=-persona%2Corder&page_size=5&source=seed&version_min=1"
    lake_q = qlake.datapoints("d", version_min=1)
    p2 = lake_q.page(page=2, page_size=50)
    assert p2["previous"] == "?page_size=50&version_min=1" and p2["next"] is None


def test_relative_previous_of_page_two_without_params(tmp_path):
    lake = overmind_lake.Lake(tmp_path / "lake")
    lake.create_dataset("d", [{"input": i} for i in range(150)])
    body = lake.datapoints("d").page(page=2)
    assert body["previous"] == "?"
    assert body["next"] is None


def test_absolute_links_are_drf_exact(qlake):
    q = qlake.datapoints("d")
    base = "http://h:8000/api/datasets/x/datapoints/?z=1&page_size=10&blank=&a=2&a=1&page=2"
    body = q.page(page=2, page_size=10, base_url=base)
    assert body["next"] == "http://h:8000/api/datasets/x/datapoints/?a=2&a=1&blank=&page=3&page_size=10&z=1"
    assert body["previous"] == "http://h:8000/api/datasets/x/datapoints/?a=2&a=1&blank=&page_size=10&z=1"
    body = q.page(page=3, page_size=10, base_url="http://h/p/?page=3&page_size=10&q=a+b%2Cc")
    assert body["previous"] == "http://h/p/?page=2&page_size=10&q=a+b%2Cc"
    assert body["next"] is None
    body = q.page(page=1, page_size=10, base_url="http://h/p/")
    assert (body["next"], body["previous"]) == ("http://h/p/?page=2", None)


def test_count_agrees_with_frame(qlake):
    for kw in [{}, {"version_min": 1}, {"source": "seed"}, {"agent": A2, "version_max": 2},
               {"generator_model": "M", "version_min": 2}]:
        q = qlake.datapoints("d", **kw)
        assert q.count() == q.to_polars().height == q.to_arrow().num_rows == q.page()["count"]


def test_to_polars_columns(qlake):
    df = _all(qlake)
    assert df.columns == ["dataset_id", "version", "id", "input", "expected_output", "order", "persona",
                          "tags", "source", "agent", "generator_model"]
    assert df.schema["order"] == pl.Int64 and df.schema["version"] == pl.Int64


def test_empty_versions_inside_a_range(tmp_path):
    lake = overmind_lake.Lake(tmp_path / "lake")
    lake.create_dataset("d", [{"input": 0, "source": "seed"}])
    lake.add_version("d", [])
    lake.add_version("d", [{"input": i, "source": "seed"} for i in range(5)])
    lake.add_version("d", [])
    for kw, n in [({"version_min": 2}, 5), ({"version_min": 1}, 6), ({"version": 2}, 0), ({}, 0),
                  ({"version_max": 2}, 1)]:
        for extra in ({}, {"ordering": "-order"}, {"source": "seed"}, {"ordering": "persona,-version"}):
            q = lake.datapoints("d", **kw, **extra)
            frame = q.to_polars()
            assert q.count() == frame.height == n, (kw, extra)
            walked = _walk(q, 2)
            assert [r["id"] for r in walked] == frame["id"].to_list(), (kw, extra)


def test_cached_positions_are_not_shared_across_version_lists(tmp_path):
    """An empty version shifts the indexes of later versions: a cached answer
    for one version list must not be reused for another."""
    lake = overmind_lake.Lake(tmp_path / "lake")
    lake.create_dataset("x", [])
    lake.add_version("x", [{"input": "v2-a", "order": 5}])
    lake.add_version("x", [{"input": "v3-a", "order": 1}, {"input": "v3-b", "order": 2}])
    lake.add_version("x", [])
    assert [r["input"] for r in lake.datapoints("x", version_max=3, ordering="-order").page()["results"]] == [
        "v2-a", "v3-b", "v3-a"]
    assert lake.datapoints("x", version_min=2, ordering="-order").page(page_size=1)["results"][0]["input"] == "v2-a"
    assert lake.datapoints("x", source="seed", version_min=1).count() == 3
    assert lake.datapoints("x", source="seed", version=3).page()["count"] == 2


def test_page_items_are_large_strings_so_a_row_group_may_pass_2_gib():
    import pyarrow as pa

    from overmind_lake.query.pagejson import join_items, page_items

    rows = pa.table({"id": ["a"], "expected_output": pa.array([None], pa.string()), "input": ['{"x":1}'],
                     "order": [3], "persona": ['say "hi"'], "tags": ["[]"]})
    items = page_items(rows)
    assert items.type == pa.large_string()
    assert join_items(items) == b'[{"id":"a","expected_output":null,"input":{"x":1},"order":3,"persona":"say \\"hi\\"","tags":[]}]'


@pytest.mark.parametrize("fraction", [0, 1000])  # only the rows asked for rendered / every group whole
def test_sparse_and_whole_group_reads_give_the_same_pages(tmp_path, monkeypatch, fraction):
    from overmind_lake.query import rowreader
    from overmind_lake.storage import writer
    monkeypatch.setattr(rowreader, "SPARSE_FRACTION", fraction)
    monkeypatch.setattr(writer, "ROW_GROUP_SIZE", 6)
    lake = overmind_lake.Lake(tmp_path / "lake")
    lake.create_dataset("d", _rows(40, 1))
    lake.add_version("d", _rows(31, 2))
    for kw in ({"ordering": "-persona"}, {"ordering": "persona,-order"}, {"source": "seed"},
               {"version_min": 1, "ordering": "generator_model,-id"}, {}):
        q = lake.datapoints("d", **kw)
        frame = q.to_polars()
        for _ in range(2):  # cold, then from the cache
            for size in (1, 3, 7):
                walked = _walk(q, size)
                assert [r["id"] for r in walked] == frame["id"].to_list()
                assert [r["input"] for r in walked] == [json.loads(t) for t in frame["input"]]
    partial = [k for k in lake.engine._cache if k[0] == "page_items" and len(k) == 4]
    assert bool(partial) == (fraction == 0)
    # walking pages asks a group for other rows again: it is then rendered whole
    assert [k for k in lake.engine._cache if k[0] == "page_items" and len(k) == 3]
