"""docs/python.md: every rule rejected whole, naming row, field and rule;
nothing of a rejected write becomes visible."""

from __future__ import annotations

import json
import uuid

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import overmind_lake
from overmind_lake import ValidationError
from conftest import make_rows
from lakehelpers import snapshot

GOOD = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"
MAX = 9223372036854775807

# (bad field value dict, field, words in the rule)
BAD_ROWS = [
    ({"id": "not-a-uuid"}, "id", "uuid"),
    ({"id": 12}, "id", "uuid"),
    ({"id": GOOD + "0"}, "id", "uuid"),
    ({"order": -1}, "order", "integer from 0"),
    ({"order": MAX + 1}, "order", "integer from 0"),
    ({"order": 1.5}, "order", "integer from 0"),
    ({"order": 2.0}, "order", "integer from 0"),
    ({"order": "3"}, "order", "integer from 0"),
    ({"order": True}, "order", "integer from 0"),
    ({"persona": "é" * 129}, "persona", "128"),
    ({"persona": "😀" * 129}, "persona", "128"),
    ({"persona": 5}, "persona", "string"),
    ({"persona": ["x"]}, "persona", "string"),
    ({"source": "Seed"}, "source", "one of"),
    ({"source": "other"}, "source", "one of"),
    ({"source": None}, "source", "cannot be null"),
    ({"source": 1}, "source", "one of"),
    ({"agent": "nope"}, "agent", "uuid"),
    ({"agent": 3}, "agent", "uuid"),
    ({"generator_model": 3}, "generator_model", "string"),
    ({"generator_model": {"m": 1}}, "generator_model", "string"),
]


def _rows_with(bad: dict, at: int = 2, n: int = 4) -> list[dict]:
    rows = [{"input": {"i": i}, "persona": "p"} for i in range(n)]
    rows[at] = {**rows[at], **bad}
    return rows


def _check(exc: ValidationError, row, field, words, label="row"):
    assert exc.row == row, str(exc)
    assert exc.field == field, str(exc)
    assert exc.row_label == label
    text = str(exc)
    assert f"{label} {row}" in text
    assert field in text
    assert words.lower() in text.lower(), text


def test_persona_limits_count_code_points(lake):
    lake.create_dataset("ok", [{"persona": "é" * 128}, {"persona": "😀" * 128}, {"persona": ""}])
    assert lake.datapoints("ok").to_polars()["persona"].to_list() == ["é" * 128, "😀" * 128, ""]


@pytest.mark.parametrize("bad,field,words", BAD_ROWS, ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_ROWS)])
def test_dicts_rejected_naming_row_field_rule(lake, bad, field, words):
    lake.create_dataset("d", make_rows(3))
    before = snapshot(lake)
    with pytest.raises(ValidationError) as info:
        lake.add_version("d", _rows_with(bad))
    _check(info.value, 2, field, words)
    assert snapshot(lake) == before
    # create_dataset claims nothing either
    with pytest.raises(ValidationError):
        lake.create_dataset("new", _rows_with(bad))
    assert snapshot(lake) == before
    lake.create_dataset("new", [])  # the name is still free


@pytest.mark.parametrize("bad,field,words", BAD_ROWS, ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_ROWS)])
def test_jsonl_rejected_naming_line(lake, tmp_path, bad, field, words):
    rows = _rows_with(bad)
    path = tmp_path / "x.jsonl"
    # a blank line first: line numbers count every line of the file
    path.write_text("\n" + "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    before = snapshot(lake)
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(path))
    _check(info.value, 4, field, words, label="line")
    assert snapshot(lake) == before


@pytest.mark.parametrize("bad,field,words", BAD_ROWS, ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(BAD_ROWS)])
def test_json_array_rejected_naming_row(lake, tmp_path, bad, field, words):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(_rows_with(bad)), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(path))
    _check(info.value, 2, field, words)
    assert snapshot(lake)[0] == ()


# (field, column, first bad row, words in the rule); a column of the wrong
# type is bad from its first non-null row on.
TABULAR_BAD = [
    ("id", pa.array([GOOD, GOOD.upper(), "zzz"]), 2, "uuid"),
    ("order", pa.array([0, 1, -5], pa.int64()), 2, "integer from 0"),
    ("order", pa.array([0, 1, MAX + 1], pa.uint64()), 2, "integer from 0"),
    ("order", pa.array([None, 1.0, 2.5]), 1, "integer from 0"),
    ("order", pa.array([None, None, True]), 2, "integer from 0"),
    ("persona", pa.array(["a", "b", "ß" * 129]), 2, "128"),
    ("persona", pa.array([None, 2, 3]), 1, "string"),
    ("source", pa.array(["seed", "seed", "bogus"]), 2, "one of"),
    ("source", pa.array(["seed", "seed", None]), 2, "cannot be null"),
    ("agent", pa.array([GOOD, None, "x"]), 2, "uuid"),
    ("generator_model", pa.array([None, 2, 3]), 1, "string"),
    ("input", pa.array(['{"a": 1}', "[1]", "{not json"]), 2, "json"),
    ("expected_output", pa.array(['1', '', 'null']), 1, "json"),
    ("tags", pa.array(['[]', '"x"', "[1,]"]), 2, "json"),
]


@pytest.mark.parametrize("shape", ["arrow", "polars", "parquet"])
@pytest.mark.parametrize("field,column,row,words", TABULAR_BAD,
                         ids=[f"{f}-{i}" for i, (f, _, _, _) in enumerate(TABULAR_BAD)])
def test_tabular_rejected_naming_row(lake, tmp_path, shape, field, column, row, words):
    table = pa.table({"persona": ["a", "b", "c"]}) if field != "persona" else pa.table({"tags": ["1", "2", "3"]})
    table = table.append_column(field, column)
    data = table
    if shape == "polars":
        data = pl.from_arrow(table)
    elif shape == "parquet":
        data = str(tmp_path / "x.parquet")
        pq.write_table(table, data)
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", data)
    _check(info.value, row, field, words)
    assert snapshot(lake)[0] == ()


def test_duplicate_id_rejected(lake, tmp_path):
    rows = [{"id": GOOD, "input": 1}, {"input": 2}, {"id": GOOD.upper(), "input": 3}]
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", rows)
    _check(info.value, 2, "id", "duplicate")
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(path))
    _check(info.value, 3, "id", "duplicate", label="line")
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", pl.DataFrame(rows[:1] * 2, schema={"id": pl.String, "input": pl.Int64}))
    _check(info.value, 1, "id", "duplicate")
    assert snapshot(lake)[0] == ()


def test_unknown_field_rejected(lake, tmp_path):
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", [{"input": 1}, {"input": 2, "inptu": 3}])
    _check(info.value, 1, "inptu", "unknown field")
    path = tmp_path / "x.jsonl"
    path.write_text('{"input": 1}\n{"nope": 1}\n', encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(path))
    _check(info.value, 2, "nope", "unknown field", label="line")
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", pl.DataFrame({"input": ["1"], "extra": [1]}))
    assert info.value.field == "extra" and "unknown field" in str(info.value)
    assert snapshot(lake)[0] == ()


@pytest.mark.parametrize("line", ['[1, 2]', '"text"', "42", "null", "{bad json", '{"input": 1'])
def test_jsonl_line_must_be_an_object(lake, tmp_path, line):
    path = tmp_path / "x.jsonl"
    path.write_text('{"input": 1}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(path))
    assert info.value.row == 3 and info.value.row_label == "line"
    assert "line 3" in str(info.value)
    assert snapshot(lake)[0] == ()


def test_dict_rows_must_be_dicts(lake):
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", [{"input": 1}, [1, 2]])
    assert info.value.row == 1


def test_json_array_file_elements_must_be_objects(lake, tmp_path):
    path = tmp_path / "x.json"
    path.write_text('[{"input": 1}, 5]', encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(path))
    assert info.value.row == 1
    path.write_text('{"input": 1}', encoding="utf-8")
    with pytest.raises(ValidationError):
        lake.create_dataset("d", str(path))
    assert snapshot(lake)[0] == ()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object()])
def test_dict_values_must_be_json(lake, value):
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", [{"input": 1}, {"tags": {"x": [value]}}])
    assert (info.value.row, info.value.field) == (1, "tags")


@pytest.mark.parametrize("kwargs,field", [
    ({"source": "bogus"}, "source"),
    ({"source": None}, "source"),
    ({"source": ""}, "source"),
    ({"agent": "nope"}, "agent"),
    ({"agent": ""}, "agent"),
    ({"generator_model": 5}, "generator_model"),
])
def test_bad_version_arguments(lake, kwargs, field):
    lake.create_dataset("d", make_rows(2))
    before = snapshot(lake)
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("e", make_rows(2), **kwargs)
    assert info.value.field == field
    if "agent" not in kwargs:
        with pytest.raises(ValidationError) as info:
            lake.add_version("d", make_rows(2), **kwargs)
        assert info.value.field == field
        with pytest.raises(ValidationError) as info:
            lake.derive("d", add=make_rows(1), **kwargs)
        assert info.value.field == field
    else:
        with pytest.raises(ValidationError) as info:
            lake.add_version("d", make_rows(2), **kwargs)
        assert info.value.field == field
    assert snapshot(lake) == before


@pytest.mark.parametrize("name", ["", "x" * 256, None, 5])
def test_bad_names(lake, name):
    with pytest.raises(ValidationError) as info:
        lake.create_dataset(name, make_rows(1))
    assert info.value.field == "name"
    assert snapshot(lake)[0] == ()


def test_name_limits(lake):
    lake.create_dataset("x", [])
    lake.create_dataset("é" * 255, [])
    assert sorted(lake.datasets()["name"].to_list()) == sorted(["x", "é" * 255])


def test_rejected_create_leaves_no_files(lake):
    lake.create_dataset("d", make_rows(2))
    before_files = snapshot(lake)[2]
    with pytest.raises(ValidationError):
        lake.create_dataset("e", make_rows(5) + [{"order": -1}])
    assert snapshot(lake)[2] == before_files
    v = lake.create_dataset("e", make_rows(1))
    assert v.version == 1


def test_rejected_derive_changes_nothing(lake):
    lake.create_dataset("d", make_rows(3))
    ids = lake.datapoints("d").to_polars()["id"].to_list()
    before = snapshot(lake)
    attempts = [
        dict(remove_ids=[str(uuid.uuid4())]),
        dict(remove_ids=["not a uuid"]),
        dict(replace=[{"id": str(uuid.uuid4()), "input": 1}]),
        dict(replace=[{"input": 1}]),
        dict(replace=[{"id": ids[0], "order": -1}]),
        dict(add=[{"id": ids[0], "input": 1}]),
        dict(add=[{"input": 1}, {"persona": 7}]),
        dict(remove_ids=[ids[0]], replace=[{"id": ids[0], "input": 1}]),
    ]
    for kwargs in attempts:
        with pytest.raises(ValidationError):
            lake.derive("d", **kwargs)
        assert snapshot(lake) == before, kwargs


def test_validation_errors_are_lake_errors():
    assert issubclass(ValidationError, overmind_lake.LakeError)
    assert issubclass(overmind_lake.DatasetNotFound, overmind_lake.LakeError)
    assert issubclass(overmind_lake.DatasetExists, overmind_lake.LakeError)
    assert issubclass(overmind_lake.InvalidPage, overmind_lake.LakeError)
    assert issubclass(overmind_lake.VersionConflict, overmind_lake.LakeError)


# DuckDB's JSON reader is lenient: these are not JSON and must not be stored.
NOT_JSON = ["[1,]", '{"a": 1,}', "NaN", "[Infinity]", '{"a": -Infinity}', "[1, 2 , ]",
            # yyjson takes the non-finite literals in any letter case
            "nan", "[inf]", '{"a": -infinity}', "[NAN]", '{"a":-Inf}', "[1, iNfInItY]", '{"b": [nan ]}']


@pytest.mark.parametrize("text", NOT_JSON)
def test_lenient_json_text_rejected_in_string_columns(lake, text):
    df = pl.DataFrame({"input": ['"ok"', '"NaN, ]"'], "tags": ["[]", text]})
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", df)
    _check(info.value, 1, "tags", "json")
    assert snapshot(lake)[0] == ()


@pytest.mark.parametrize("text", NOT_JSON)
def test_lenient_json_rejected_in_jsonl_and_json_files(lake, tmp_path, text):
    path = tmp_path / "x.jsonl"
    path.write_text('{"input": "a, ]"}\n{"input": ' + text + "}\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(path))
    assert (info.value.row, info.value.row_label) == (2, "line")
    path = tmp_path / "x.json"
    path.write_text('[{"input": "Infinity"}, {"input": ' + text + "}]", encoding="utf-8")
    with pytest.raises(ValidationError):
        lake.create_dataset("d", str(path))
    assert snapshot(lake)[0] == ()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_in_frames_rejected(lake, value):
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", pl.DataFrame({"expected_output": [1.0, value]}))
    _check(info.value, 1, "expected_output", "json")
    table = pa.table({"input": pa.array([{"a": 1.0}, {"a": value}])})
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", table)
    _check(info.value, 1, "input", "json")
    assert snapshot(lake)[0] == ()


def test_strings_mentioning_nan_or_commas_are_fine(lake, tmp_path):
    values = ["NaN", "Infinity", "a, ]", {"k": "x,}"}, ["-Infinity", ", ]"], "nan", ",inf", ":nan]",
              {"info": "financial information, infinite bananas: nan, ]"}, ["inf", "-nan"]]
    lake.create_dataset("d", [{"input": v} for v in values])
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(json.dumps({"input": v}) for v in values), encoding="utf-8")
    lake.create_dataset("e", str(path))
    lake.create_dataset("f", pl.DataFrame({"input": [json.dumps(v) for v in values]}))
    for name in "def":
        got = [json.loads(t) for t in lake.datapoints(name).to_polars()["input"]]
        assert got == values


def test_bad_files(lake, tmp_path):
    for path in (tmp_path / "missing.jsonl", tmp_path / "missing.parquet", tmp_path / "missing.json"):
        with pytest.raises(ValidationError):
            lake.create_dataset("d", str(path))
    other = tmp_path / "rows.csv"
    other.write_text("input\n1\n", encoding="utf-8")
    with pytest.raises(ValidationError):
        lake.create_dataset("d", str(other))
    fake = tmp_path / "fake.parquet"
    fake.write_bytes(b"not parquet at all")
    with pytest.raises(ValidationError):
        lake.create_dataset("d", str(fake))
    bad_utf8 = tmp_path / "bad.jsonl"
    bad_utf8.write_bytes(b'{"input": 1}\n{"input": "\xff"}\n')
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(bad_utf8))
    assert (info.value.row, info.value.row_label) == (2, "line")
    with pytest.raises(ValidationError):
        lake.create_dataset("d", {"input": 1})  # a single dict is not a list of datapoints
    assert snapshot(lake)[0] == ()
    assert snapshot(lake)[2] == frozenset()


@pytest.mark.parametrize("kwargs", [{"description": 5}, {"message": None}])
def test_bad_text_arguments(lake, kwargs):
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", make_rows(1), **kwargs)
    assert info.value.field == next(iter(kwargs))
    assert snapshot(lake)[0] == ()


def test_deep_json_text_mentioning_nan_is_accepted(lake):
    text = "[" * 3000 + '"NaN, ]"' + "]" * 3000
    lake.create_dataset("d", pl.DataFrame({"input": [text]}))
    assert lake.datapoints("d").to_polars()["input"][0] == text
