"""docs/python.md: versions, immutability, derive, checksums, datasets()/versions()."""

from __future__ import annotations

import json
import uuid

import polars as pl
import pyarrow as pa
import pytest

import overmind_lake
from overmind_lake import DatasetExists, DatasetNotFound, ValidationError
from conftest import make_rows
from lakehelpers import all_rows, frame_json, snapshot

AGENT = "11111111-2222-4333-8444-555555555555"


def _frame(lake, name, **kw):
    return lake.datapoints(name, **kw).to_polars()


def test_versions_are_consecutive_and_immutable(lake):
    v1 = lake.create_dataset("d", make_rows(5))
    before = _frame(lake, "d")
    numbers = [v1.version]
    for i in range(4):
        numbers.append(lake.add_version("d", make_rows(3, start=100 * i)).version)
    numbers.append(lake.derive("d", add=make_rows(1)).version)
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert lake.versions("d")["version"].to_list() == numbers
    assert _frame(lake, "d", version=1).equals(before)
    assert lake.datasets()["latest_version"].to_list() == [6]


def test_parent_version(lake):
    lake.create_dataset("d", make_rows(3))
    lake.add_version("d", make_rows(2))
    v3 = lake.derive("d", from_version=1, add=make_rows(1))
    v4 = lake.derive("d")
    assert (v3.parent_version, v4.parent_version) == (1, 3)
    assert lake.versions("d")["parent_version"].to_list() == [None, None, 1, 3]


def test_derive_semantics(lake):
    rows = make_rows(4)
    for i, r in enumerate(rows):
        r["order"] = 10 * i  # 0, 10, 20, 30
    lake.create_dataset("d", rows, generator_model="base")
    base = _frame(lake, "d")
    ids = base["id"].to_list()
    v = lake.derive(
        "d",
        remove_ids=[ids[1].upper()],
        replace=[{"id": ids[2], "input": "replaced"}, {"id": ids[3], "input": "moved", "order": 5}],
        add=[{"input": "new-a"}, {"input": "new-b"}, {"input": "given", "order": 1}],
        source="augmented", generator_model="gm",
    )
    assert (v.version, v.count, v.parent_version) == (2, 6, 1)
    df = _frame(lake, "d")
    got = {row["order"]: row for row in df.iter_rows(named=True)}
    assert sorted(got) == [0, 1, 5, 20, 31, 32]
    # untouched row unchanged
    assert got[0]["id"] == ids[0] and got[0]["input"] == base["input"][0]
    # a replacing row replaces the whole datapoint, keeping its order when it gives none
    r = got[20]
    assert (r["id"], json.loads(r["input"]), r["persona"], r["tags"], r["expected_output"]) == (
        ids[2], "replaced", None, None, None)
    assert (r["source"], r["generator_model"]) == ("augmented", "gm")
    assert got[5]["id"] == ids[3]
    # added rows without order go after the largest existing order, in input order
    assert [json.loads(got[o]["input"]) for o in (31, 32, 1)] == ["new-a", "new-b", "given"]
    assert ids[1] not in df["id"].to_list()
    # the version derived from is unchanged
    assert _frame(lake, "d", version=1).equals(base)


def test_derive_from_empty_and_default_agent(lake):
    lake.create_dataset("d", [], agent=AGENT)
    lake.derive("d", add=[{"input": 1}, {"input": 2}])
    df = _frame(lake, "d")
    assert df["order"].to_list() == [0, 1]
    assert df["agent"].to_list() == [AGENT, AGENT]


def test_derive_must_name_existing_ids(lake):
    lake.create_dataset("d", make_rows(2))
    lake.add_version("d", make_rows(2, start=50))
    old_ids = _frame(lake, "d", version=1)["id"].to_list()
    before = snapshot(lake)
    with pytest.raises(ValidationError) as info:
        lake.derive("d", remove_ids=[old_ids[0]])  # exists in v1, not in latest
    assert info.value.field == "remove_ids"
    with pytest.raises(ValidationError) as info:
        lake.derive("d", replace=[{"id": old_ids[0], "input": 1}])
    assert info.value.field == "id"
    with pytest.raises(ValidationError) as info:
        lake.derive("d", add=[{"id": _frame(lake, "d")["id"][0]}])
    assert info.value.field == "id"
    assert snapshot(lake) == before
    # but from_version=1 they exist
    v = lake.derive("d", from_version=1, remove_ids=[old_ids[0]])
    assert (v.version, v.count, v.parent_version) == (3, 1, 1)


def test_derive_bad_from_version(lake):
    lake.create_dataset("d", make_rows(2))
    for bad in (0, 2, -1):
        with pytest.raises(overmind_lake.LakeError):
            lake.derive("d", from_version=bad)


def test_checksum_stable_across_input_order_and_shape(lake, tmp_path):
    rows = make_rows(20)
    for i, r in enumerate(rows):
        r["id"] = str(uuid.UUID(int=i + 1))
        r["order"] = i
    a = lake.create_dataset("a", rows)
    b = lake.create_dataset("b", list(reversed(rows)))
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows[::3] + rows[1::3] + rows[2::3]), encoding="utf-8")
    c = lake.create_dataset("c", str(path))
    frame = pl.DataFrame({
        **{k: [r[k] for r in rows] for k in ("id", "order", "persona", "source", "generator_model")},
        **{k: [json.dumps(r[k]) for r in rows] for k in ("input", "expected_output", "tags")},
    })
    d = lake.create_dataset("d", frame.reverse())
    e = lake.create_dataset("e", frame.to_arrow())
    assert len({a.checksum, b.checksum, c.checksum, d.checksum, e.checksum}) == 1
    # the same content in a later version, after other versions, is the same checksum
    lake.add_version("a", make_rows(3))
    f = lake.add_version("a", rows)
    assert f.checksum == a.checksum


@pytest.mark.parametrize("change", [
    lambda r: r[0].update(persona="other"),
    lambda r: r[0].update(input={"messages": [], "n": 0}),
    lambda r: r[0].update(tags=None),
    lambda r: r[0].update(order=999),
    lambda r: r[0].update(source="production"),
    lambda r: r[0].update(agent=AGENT),
    lambda r: r[0].update(generator_model="zzz"),
    lambda r: r[0].update(id=str(uuid.UUID(int=999))),
    lambda r: r.pop(),
    lambda r: r[0].update(input={"n": 0, "messages": [{"role": "user", "content": "question 0"}]}),  # key order
])
def test_checksum_differs_for_different_content(lake, change):
    rows = make_rows(5)
    for i, r in enumerate(rows):
        r["id"] = str(uuid.UUID(int=i + 1))
    base = lake.create_dataset("a", rows).checksum
    changed = [dict(r) for r in rows]
    change(changed)
    assert lake.add_version("a", changed).checksum != base


def test_source_counts_and_generator_models(lake):
    v = lake.create_dataset("d", make_rows(10), generator_model="default-model")
    # make_rows: sources cycle seed, synthetic, augmented, production; models None/model-1/model-2
    assert v.source_counts == {"seed": 3, "synthetic": 3, "augmented": 2, "production": 2}
    assert v.generator_models == ["model-1", "model-2"]
    v2 = lake.add_version("d", [{"input": 1}], source="production", generator_model="g")
    assert v2.source_counts == {"seed": 0, "synthetic": 0, "augmented": 0, "production": 1}
    assert v2.generator_models == ["g"]
    frame = lake.versions("d")
    assert frame["source_counts"].to_list()[0] == v.source_counts
    assert frame["generator_models"].to_list() == [["model-1", "model-2"], ["g"]]
    v3 = lake.add_version("d", [])
    assert v3.source_counts == {"seed": 0, "synthetic": 0, "augmented": 0, "production": 0}
    assert v3.generator_models == []


def test_dataset_exists_and_not_found(lake):
    lake.create_dataset("d", make_rows(1))
    before = snapshot(lake)
    with pytest.raises(DatasetExists):
        lake.create_dataset("d", make_rows(2))
    assert snapshot(lake) == before
    with pytest.raises(DatasetNotFound):
        lake.add_version("nope", make_rows(1))
    with pytest.raises(DatasetNotFound):
        lake.datapoints(str(uuid.uuid4()))
    with pytest.raises(DatasetNotFound):
        lake.versions("nope")
    with pytest.raises(DatasetNotFound):
        lake.derive("nope")
    with pytest.raises(DatasetNotFound):
        lake.diff("nope", 1, 1)
    assert snapshot(lake) == before


def test_names_and_ids_both_accepted(lake):
    v = lake.create_dataset("my data", make_rows(2))
    ds_id = v.dataset_id
    assert str(uuid.UUID(ds_id)) == ds_id
    for key in ("my data", ds_id, ds_id.upper(), uuid.UUID(ds_id)):
        assert lake.datapoints(key).count() == 2
        assert lake.versions(key)["version"].to_list() == [1]
    lake.add_version(ds_id, make_rows(1))
    lake.add_version(uuid.UUID(ds_id), make_rows(1))
    lake.derive("my data", add=make_rows(1))
    assert lake.versions("my data")["version"].to_list() == [1, 2, 3, 4]
    assert lake.diff(ds_id, 1, 2).height > 0


def test_a_name_that_looks_like_another_datasets_id(lake):
    first = lake.create_dataset("a", make_rows(1))
    second = lake.create_dataset(str(uuid.uuid4()), make_rows(2))
    assert lake.datapoints(second.name).count() == 2
    assert lake.datapoints(first.dataset_id).count() == 1


def test_datasets_frame(lake):
    assert lake.datasets().columns == ["id", "name", "agent", "description", "created_at", "latest_version"]
    assert lake.datasets().height == 0
    lake.create_dataset("one", make_rows(1), agent=AGENT.upper(), description="first")
    lake.create_dataset("two", make_rows(1))
    lake.add_version("two", make_rows(1))
    df = lake.datasets()
    assert df.schema == {"id": pl.String, "name": pl.String, "agent": pl.String, "description": pl.String,
                         "created_at": pl.Datetime("us", "UTC"), "latest_version": pl.Int64}
    rows = {r["name"]: r for r in df.iter_rows(named=True)}
    assert rows["one"]["agent"] == AGENT and rows["one"]["description"] == "first"
    assert rows["two"]["agent"] is None and rows["two"]["latest_version"] == 2


def test_versions_frame(lake):
    lake.create_dataset("d", make_rows(4), message="first")
    lake.add_version("d", make_rows(2), message="second")
    df = lake.versions("d")
    assert df.columns == ["version", "created_at", "message", "parent_version", "count", "checksum",
                          "source_counts", "generator_models"]
    assert df["version"].dtype == pl.Int64
    assert df["created_at"].dtype == pl.Datetime("us", "UTC")
    assert df["count"].to_list() == [4, 2]
    assert df["message"].to_list() == ["first", "second"]
    assert df["created_at"].is_sorted()
    assert all(len(c) == 64 and int(c, 16) >= 0 for c in df["checksum"])
    assert set(df["source_counts"].struct.fields) == {"seed", "synthetic", "augmented", "production"}
    assert df["generator_models"].dtype == pl.List(pl.String)


def test_returned_dataset_version_fields(lake):
    v = lake.create_dataset("d", make_rows(3))
    assert (v.version, v.count, v.parent_version) == (1, 3, None)
    assert v.checksum == lake.versions("d")["checksum"][0]
    assert v.dataset_id == lake.datasets()["id"][0]


def test_storage_layout_is_hive_partitioned(lake):
    v = lake.create_dataset("d", make_rows(3))
    lake.add_version("d", make_rows(2))
    import pathlib

    root = pathlib.Path(lake.root)
    data = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))
    assert data and all(p.startswith(f"dataset_id={v.dataset_id}/version=") for p in data)
    assert {p.split("/")[1] for p in data} == {"version=1", "version=2"}
    # every other file under the data tree starts with _ or .
    for p in root.rglob("*"):
        if p.is_file() and not p.name.endswith(".parquet"):
            assert any(part.startswith(("_", ".")) for part in p.relative_to(root).parts), p
    # DuckDB reads the tree as one partitioned table
    import duckdb

    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{root.as_posix()}/**/*.parquet', hive_partitioning=true)"
                   ).fetchall()[0][0]
    assert n == 5


def test_derive_add_after_the_maximum_order(lake):
    top = 9223372036854775807
    lake.create_dataset("d", [{"input": 1, "order": top - 2}])
    before = snapshot(lake)
    # default orders would pass int64: rejected (never wrapped to a negative order)
    with pytest.raises(ValidationError) as info:
        lake.derive("d", add=[{"input": 2}, {"input": 3, "order": 7}, {"input": 4}])
    assert (info.value.field, info.value.row) == ("order", 2)
    assert snapshot(lake) == before
    lake.derive("d", add=[{"input": 2}, {"input": 3, "order": 7}])
    assert lake.datapoints("d").to_polars()["order"].to_list() == [7, top - 2, top - 1]
    lake.derive("d", add=[{"input": 4, "order": 8}])  # an explicit order still fits after the maximum
    lake.add_version("d", [{"input": 5, "order": top}])
    with pytest.raises(ValidationError):
        lake.derive("d", add=[{"input": 6}])
    v = lake.derive("d", add=[{"input": 6, "order": 0}])
    assert lake.datapoints("d").to_polars()["order"].to_list() == [0, top]
    assert v.version == 5


def test_failed_create_frees_the_name(lake, monkeypatch):
    """A create whose commit fails leaves the name free for the next try."""
    import overmind_lake.lake as lake_module

    def broken_commit(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(lake_module, "commit_version", broken_commit)
    with pytest.raises(OSError):
        lake.create_dataset("retry-me", [{"input": 1}])
    monkeypatch.undo()
    created = lake.create_dataset("retry-me", [{"input": 1}])
    assert created.version == 1
    assert lake.datasets()["name"].to_list() == ["retry-me"]
