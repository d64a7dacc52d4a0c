"""docs/python.md: every input shape, defaults, ids, order, round trips."""

from __future__ import annotations

import json
import uuid

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import overmind_lake
from conftest import make_rows
from lakehelpers import all_rows, frame_json

AGENT = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def _values(lake, name):
    df = lake.datapoints(name).to_polars()
    return {
        "input": frame_json(df, "input"),
        "expected_output": frame_json(df, "expected_output"),
        "tags": frame_json(df, "tags"),
        "persona": df["persona"].to_list(),
        "order": df["order"].to_list(),
        "source": df["source"].to_list(),
        "generator_model": df["generator_model"].to_list(),
    }


ROWS = [
    {"input": {"q": "hi", "n": 1}, "expected_output": "hello", "persona": "p", "tags": ["a", "b"],
     "source": "synthetic", "generator_model": "gpt"},
    {"input": [1, 2.5, True], "expected_output": None, "persona": None, "tags": {"k": {"x": None}},
     "source": "production", "generator_model": None},
    {"input": 7, "expected_output": False, "persona": "é", "tags": None,
     "source": "seed", "generator_model": "m"},
]


def _expected():
    return {
        "input": [r["input"] for r in ROWS],
        "expected_output": [r["expected_output"] for r in ROWS],
        "tags": [r["tags"] for r in ROWS],
        "persona": [r["persona"] for r in ROWS],
        "order": [0, 1, 2],
        "source": [r["source"] for r in ROWS],
        "generator_model": [r["generator_model"] for r in ROWS],
    }


def test_list_of_dicts(lake):
    v = lake.create_dataset("d", ROWS)
    assert (v.version, v.count) == (1, 3)
    assert _values(lake, "d") == _expected()


def test_jsonl_path(lake, tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    lake.create_dataset("d", str(path))
    assert _values(lake, "d") == _expected()
    lake.create_dataset("e", path)  # a pathlib.Path works too
    assert _values(lake, "e") == _expected()


def test_json_array_path(lake, tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(ROWS), encoding="utf-8")
    lake.create_dataset("d", str(path))
    assert _values(lake, "d") == _expected()


def test_parquet_path_and_file_url(lake, tmp_path):
    table = pa.table({
        "input": [json.dumps(r["input"]) for r in ROWS],
        "expected_output": [None if r["expected_output"] is None else json.dumps(r["expected_output"])
                            for r in ROWS],
        "persona": [r["persona"] for r in ROWS],
        "tags": [None if r["tags"] is None else json.dumps(r["tags"]) for r in ROWS],
        "source": [r["source"] for r in ROWS],
        "generator_model": [r["generator_model"] for r in ROWS],
    })
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path)
    lake.create_dataset("d", str(path))
    assert _values(lake, "d") == _expected()
    lake.create_dataset("u", path.as_uri())
    assert path.as_uri().startswith("file://")
    assert _values(lake, "u") == _expected()
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in ROWS), encoding="utf-8")
    lake.create_dataset("j", jsonl.as_uri())
    assert _values(lake, "j") == _expected()


def test_polars_string_columns_hold_json_text(lake):
    df = pl.DataFrame({
        "input": ['{"b": 1, "a": [true, null]}', '"plain"', "12345678901234567890123"],
        "expected_output": ["null", None, '{}'],
        "tags": ["[]", '["x"]', None],
    })
    lake.create_dataset("d", df)
    out = lake.datapoints("d").to_polars()
    assert frame_json(out, "input") == [{"b": 1, "a": [True, None]}, "plain", 12345678901234567890123]
    assert list(json.loads(out["input"][0]).keys()) == ["b", "a"]
    assert frame_json(out, "expected_output") == [None, None, {}]
    assert out["expected_output"].to_list()[:2] == [None, None]  # JSON null is a Polars null
    assert frame_json(out, "tags") == [[], ["x"], None]


def test_arrow_nested_numbers_booleans_become_json(lake):
    table = pa.table({
        "input": pa.array([{"a": 1, "b": "x"}, {"a": None, "b": "y"}],
                          pa.struct([("a", pa.int64()), ("b", pa.string())])),
        "expected_output": pa.array([[1, 2], []], pa.list_(pa.int64())),
        "tags": pa.array([True, False]),
        "persona": ["p", "q"],
    })
    lake.create_dataset("d", table)
    out = lake.datapoints("d").to_polars()
    assert frame_json(out, "input") == [{"a": 1, "b": "x"}, {"a": None, "b": "y"}]
    assert [list(json.loads(t)) for t in out["input"]] == [["a", "b"], ["a", "b"]]
    assert frame_json(out, "expected_output") == [[1, 2], []]
    assert frame_json(out, "tags") == [True, False]


def test_polars_numbers_and_floats_become_json(lake):
    df = pl.DataFrame({"input": [1, 2], "expected_output": [1.5, -0.25], "tags": [{"k": 1}, {"k": 2}]})
    lake.create_dataset("d", df)
    out = lake.datapoints("d").to_polars()
    assert frame_json(out, "input") == [1, 2]
    assert frame_json(out, "expected_output") == [1.5, -0.25]
    assert frame_json(out, "tags") == [{"k": 1}, {"k": 2}]


def test_arrow_map_column_becomes_json(lake):
    table = pa.table({"tags": pa.array([[("k", 1)], []], pa.map_(pa.string(), pa.int64()))})
    lake.create_dataset("d", table)
    out = lake.datapoints("d").to_polars()
    decoded = frame_json(out, "tags")
    # a map is an object keyed by its keys (DuckDB's to_json of a MAP)
    assert decoded == [{"k": 1}, {}]


@pytest.mark.parametrize("shape", ["polars", "arrow"])
def test_to_polars_round_trip_same_checksum(lake, shape):
    v1 = lake.create_dataset("d", make_rows(40) + [{"input": None, "tags": {"z": 1, "a": 2}, "persona": None}])
    frame = lake.datapoints("d").to_polars()
    data = frame if shape == "polars" else lake.datapoints("d").to_arrow()
    v2 = lake.add_version("d", data)
    assert v2.version == 2
    assert v2.checksum == v1.checksum
    assert v2.count == v1.count
    again = lake.datapoints("d").to_polars().drop("version")
    assert again.equals(frame.drop("version"))


def test_absent_vs_present_null_for_defaults(lake):
    lake.create_dataset("d", [
        {"input": 1},
        {"input": 2, "generator_model": None, "agent": None},
        {"input": 3, "source": "production", "generator_model": "x",
         "agent": "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"},
    ], agent=AGENT, source="synthetic", generator_model="gm")
    df = lake.datapoints("d").to_polars()
    assert df["source"].to_list() == ["synthetic", "synthetic", "production"]
    assert df["generator_model"].to_list() == ["gm", None, "x"]
    assert df["agent"].to_list() == [AGENT, None, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"]


def test_absent_vs_null_columns_in_frames(lake):
    lake.create_dataset("d", [{"input": 0}], agent=AGENT)
    # a column holding nulls means null; a missing column takes the default
    df = pl.DataFrame({"input": ["1", "2"], "generator_model": [None, "m"], "agent": [None, None]},
                      schema={"input": pl.String, "generator_model": pl.String, "agent": pl.String})
    lake.add_version("d", df, source="augmented", generator_model="gm")
    out = lake.datapoints("d").to_polars()
    assert out["source"].to_list() == ["augmented", "augmented"]
    assert out["generator_model"].to_list() == [None, "m"]
    assert out["agent"].to_list() == [None, None]
    lake.add_version("d", pl.DataFrame({"input": ["3"]}), generator_model="gm")
    out = lake.datapoints("d").to_polars()
    assert out["generator_model"].to_list() == ["gm"]
    assert out["agent"].to_list() == [AGENT]
    assert out["source"].to_list() == ["seed"]


def test_defaults_from_version_arguments_and_dataset_agent(lake):
    lake.create_dataset("d", [{"input": 1}], agent=AGENT.upper(), source="production", generator_model="g1")
    out = lake.datapoints("d").to_polars()
    assert out.select("source", "generator_model", "agent").row(0) == ("production", "g1", AGENT)
    lake.add_version("d", [{"input": 2}], source="augmented", generator_model="g2")
    out = lake.datapoints("d").to_polars()
    assert out.select("source", "generator_model", "agent").row(0) == ("augmented", "g2", AGENT)
    lake.add_version("d", [{"input": 3}])
    out = lake.datapoints("d").to_polars()
    assert out.select("source", "generator_model", "agent").row(0) == ("seed", None, AGENT)
    # a dataset without an agent gives rows a null agent
    lake.create_dataset("e", [{"input": 1}])
    assert lake.datapoints("e").to_polars()["agent"].to_list() == [None]


def test_order_defaults_to_position(lake):
    lake.create_dataset("d", [{"input": i} for i in range(5)])
    assert lake.datapoints("d").to_polars()["order"].to_list() == [0, 1, 2, 3, 4]
    # mixed: given orders kept, absent ones take the row's position
    lake.add_version("d", [{"input": "a", "order": 100}, {"input": "b"}, {"input": "c", "order": 0}])
    df = lake.datapoints("d").to_polars()
    assert list(zip(frame_json(df, "input"), df["order"].to_list())) == [("c", 0), ("b", 1), ("a", 100)]


def test_order_given_sorts_rows_and_max_int64(lake):
    big = 9223372036854775807
    lake.create_dataset("d", [{"input": "last", "order": big}, {"input": "first", "order": 0}])
    df = lake.datapoints("d").to_polars()
    assert df["order"].to_list() == [0, big]
    assert frame_json(df, "input") == ["first", "last"]


def test_ids_kept_canonical_or_generated(lake):
    given = uuid.uuid4()
    upper = str(uuid.uuid4()).upper()
    lake.create_dataset("d", [{"id": str(given), "input": 0}, {"id": upper, "input": 1}, {"input": 2},
                              {"input": 3}, {"id": None, "input": 4}])
    ids = lake.datapoints("d").to_polars()["id"].to_list()
    assert ids[0] == str(given)
    assert ids[1] == upper.lower()
    for generated in ids[2:]:
        assert str(uuid.UUID(generated)) == generated
    assert len(set(ids)) == 5


def test_uuid_objects_accepted_as_ids(lake):
    given = uuid.uuid4()
    lake.create_dataset("d", [{"id": given, "input": 0}])
    assert lake.datapoints("d").to_polars()["id"].to_list() == [str(given)]


def test_generated_ids_differ_between_versions(lake):
    lake.create_dataset("d", [{"input": 0}])
    lake.add_version("d", [{"input": 0}])
    a = lake.datapoints("d", version=1).to_polars()["id"][0]
    b = lake.datapoints("d", version=2).to_polars()["id"][0]
    assert a != b


@pytest.mark.parametrize("empty", [[], (), "polars", "arrow", "jsonl", "json"])
def test_empty_datapoints_make_an_empty_version(lake, tmp_path, empty):
    if empty == "polars":
        empty = pl.DataFrame(schema={"input": pl.String})
    elif empty == "arrow":
        empty = pa.table({"input": pa.array([], pa.string())})
    elif empty == "jsonl":
        (tmp_path / "e.jsonl").write_text("", encoding="utf-8")
        empty = str(tmp_path / "e.jsonl")
    elif empty == "json":
        (tmp_path / "e.json").write_text("[]", encoding="utf-8")
        empty = str(tmp_path / "e.json")
    v = lake.create_dataset("d", empty)
    assert (v.version, v.count) == (1, 0)
    assert lake.datapoints("d").count() == 0
    assert lake.datapoints("d").to_polars().height == 0
    assert lake.datapoints("d").page() == {"count": 0, "next": None, "previous": None, "results": []}
    assert lake.versions("d")["count"].to_list() == [0]
    v2 = lake.add_version("d", [])
    assert (v2.version, v2.count, v2.checksum) == (2, 0, v.checksum)


def test_create_dataset_without_datapoints(lake):
    v = lake.create_dataset("d")
    assert (v.version, v.count) == (1, 0)


def test_page_items_carry_the_six_fields(lake):
    lake.create_dataset("d", ROWS)
    item = lake.datapoints("d").page()["results"][0]
    assert list(item) == ["id", "expected_output", "input", "order", "persona", "tags"]
    assert item["input"] == {"q": "hi", "n": 1}
    assert item["expected_output"] == "hello"
    assert item["tags"] == ["a", "b"]


def test_to_arrow_schema(lake):
    lake.create_dataset("d", ROWS)
    table = lake.datapoints("d").to_arrow()
    assert table.column_names == ["dataset_id", "version", "id", "input", "expected_output", "order", "persona",
                                  "tags", "source", "agent", "generator_model"]
    assert table.schema.field("order").type == pa.int64()
    assert table.schema.field("input").type == pa.string()
    assert table.num_rows == 3


def test_rows_read_back_through_page_match_frame(lake):
    lake.create_dataset("d", ROWS)
    rows = all_rows(lake, "d")
    assert [r["input"] for r in rows] == [r["input"] for r in ROWS]


@pytest.mark.parametrize("arrow_type", [pa.binary(16), pa.uuid()])
def test_uuid_columns_as_16_bytes(lake, arrow_type):
    given = uuid.uuid4()
    table = pa.table({"id": pa.array([given.bytes, None], arrow_type),
                      "agent": pa.array([None, given.bytes], arrow_type)})
    lake.create_dataset("d", table)
    df = lake.datapoints("d").to_polars().sort("agent", nulls_last=True)
    assert df["agent"].to_list() == [str(given), None]
    assert str(given) in df["id"].to_list()
    with pytest.raises(overmind_lake.ValidationError):
        lake.create_dataset("e", pa.table({"id": pa.array([b"12345678"], pa.binary(8))}))


def test_absent_vs_present_null_in_jsonl(lake, tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"input": 1}\n{"input": 2, "generator_model": null, "agent": null}\n'
                    '{"input": 3, "source": "production", "generator_model": "x"}\n', encoding="utf-8")
    lake.create_dataset("d", str(path), agent=AGENT, source="synthetic", generator_model="gm")
    df = lake.datapoints("d").to_polars()
    assert df["source"].to_list() == ["synthetic", "synthetic", "production"]
    assert df["generator_model"].to_list() == ["gm", None, "x"]
    assert df["agent"].to_list() == [AGENT, None, AGENT]
    path.write_text('{"input": 1, "source": null}\n', encoding="utf-8")
    with pytest.raises(overmind_lake.ValidationError) as info:
        lake.create_dataset("e", str(path))
    assert (info.value.field, info.value.row) == ("source", 1)


def test_jsonl_whitespace_only_lines_are_skipped_with_their_numbers(lake, tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_text('{"input": 1}\n          \n\t \r\n{"input": 2}\n{"order": -1}\n')
    with pytest.raises(overmind_lake.ValidationError) as err:
        lake.create_dataset("ws", str(path))
    assert err.value.row == 5 and err.value.row_label == "line"
    path.write_text('{"input": 1}\n          \n\t \r\n{"input": 2}\n')
    assert lake.create_dataset("ws", str(path)).count == 2
