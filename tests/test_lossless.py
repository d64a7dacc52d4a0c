"""docs/python.md "lossless": what is read back is the JSON value written —
values and object key order, through page() and through to_polars()."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import overmind_lake
from lakehelpers import all_rows, frame_json

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12) | st.sampled_from(
    ["\u2028", "\u2029", "😀", "\x00", "\x1f", "\"", "\\", "1", "1.0", "true", "null", "", "é"])
_scalars = (st.none() | st.booleans()
            | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
            | st.sampled_from([2 ** 53 + 1, 2 ** 63, 2 ** 64, 2 ** 64 + 1, -(2 ** 63) - 1, 10 ** 30])
            | st.floats(allow_nan=False, allow_infinity=False)
            | _text)
JSON_VALUES = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.lists(st.tuples(_text, inner), max_size=4).map(dict),  # arbitrary keys, in arbitrary order
    max_leaves=12,
)


def _same(a, b) -> bool:
    """Equal JSON values with equal key order (and int vs float kept apart)."""
    return json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False)


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(values=st.lists(st.tuples(JSON_VALUES, JSON_VALUES, JSON_VALUES), min_size=1, max_size=5))
def test_json_values_round_trip(tmp_path_factory, values):
    lake = overmind_lake.Lake(tmp_path_factory.mktemp("lake"))
    rows = [{"input": a, "expected_output": b, "tags": c} for a, b, c in values]
    lake.create_dataset("d", rows)
    got = all_rows(lake, "d")
    df = lake.datapoints("d").to_polars()
    for field in ("input", "expected_output", "tags"):
        written = [r[field] for r in rows]
        assert _same([r[field] for r in got], written)
        assert _same(frame_json(df, field), written)
    # and the frame written back is the same content
    v2 = lake.add_version("d", df)
    assert v2.checksum == lake.versions("d")["checksum"][0]


EXPLICIT = [
    2 ** 53 + 1,
    -(2 ** 53) - 1,
    2 ** 63,
    2 ** 64 + 7,
    -(2 ** 63) - 1,
    123456789012345678901234567890,
    {"big": [2 ** 70, -(2 ** 70)]},
    "\u2028\u2029",
    {"\u2028": "line\u2029sep"},
    "😀 é \x00 \x1f \\ \"",
    {},
    [],
    {"a": {}, "b": [], "c": [[]], "d": [{}]},
    {"z": 1, "a": 2, "m": 3},
    {"b": {"y": 1, "x": 2}, "a": [{"2": 0, "1": 0}]},
    {"present_null": None},
    {"not_null": 0},
    "1", "1.0", "true", "null", "false", "", " ",
    1.0, 0.1, -0.0, 1e300, 1.5e-300,
    True, False, 0,
]


def _nested(depth: int):
    value = "bottom"
    for i in range(depth):
        value = {"k": value} if i % 2 else [value]
    return value


def test_explicit_values_through_every_shape(lake, tmp_path):
    values = EXPLICIT + [_nested(200)]
    rows = [{"input": v, "expected_output": v, "tags": v} for v in values]
    lake.create_dataset("dicts", rows)
    path = tmp_path / "x.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    lake.create_dataset("jsonl", str(path))
    path = tmp_path / "x.json"
    path.write_text(json.dumps(rows), encoding="utf-8")  # ASCII escapes this time
    lake.create_dataset("json", str(path))
    lake.create_dataset("polars", pl.DataFrame({f: [json.dumps(v) for v in values]
                                                for f in ("input", "expected_output", "tags")}))
    for name in ("dicts", "jsonl", "json", "polars"):
        got = all_rows(lake, name)
        df = lake.datapoints(name).to_polars()
        for field in ("input", "expected_output", "tags"):
            assert _same([r[field] for r in got], values), (name, field)
            assert _same(frame_json(df, field), values), (name, field)


def test_big_integers_are_not_floats(lake):
    lake.create_dataset("d", [{"input": 2 ** 53 + 1}, {"input": 2 ** 64 + 1}, {"input": 1.0}])
    got = [r["input"] for r in all_rows(lake, "d")]
    assert got == [2 ** 53 + 1, 2 ** 64 + 1, 1.0]
    assert [type(v) for v in got] == [int, int, float]
    texts = lake.datapoints("d").to_polars()["input"].to_list()
    assert texts[:2] == [str(2 ** 53 + 1), str(2 ** 64 + 1)]


def test_top_level_null_and_absent_are_null(lake, tmp_path):
    lake.create_dataset("d", [{"input": None, "expected_output": None, "tags": None}, {}])
    for r in all_rows(lake, "d"):
        assert (r["input"], r["expected_output"], r["tags"]) == (None, None, None)
    df = lake.datapoints("d").to_polars()
    assert df["input"].null_count() == 2 and df["tags"].null_count() == 2
    path = tmp_path / "x.jsonl"
    path.write_text('{"input": null}\n{}\n', encoding="utf-8")
    lake.create_dataset("e", str(path))
    assert lake.datapoints("e").to_polars()["input"].null_count() == 2
    # JSON text "null" in a string column is null too; so is a Polars null
    lake.create_dataset("f", pl.DataFrame({"input": ["null", None]}))
    assert lake.datapoints("f").to_polars()["input"].null_count() == 2


def test_null_versus_absent_key_inside_objects(lake):
    lake.create_dataset("d", [{"input": {"a": None}}, {"input": {}}])
    got = [r["input"] for r in all_rows(lake, "d")]
    assert got == [{"a": None}, {}]
    assert "a" in got[0] and "a" not in got[1]


def test_strings_that_look_like_other_values_stay_strings(lake):
    values = ["1", "1.0", "true", "null", "[]", "{}", '"quoted"']
    lake.create_dataset("d", [{"input": v, "tags": [v]} for v in values])
    rows = all_rows(lake, "d")
    assert [r["input"] for r in rows] == values
    assert [r["tags"] for r in rows] == [[v] for v in values]


def test_page_json_bytes_are_valid_utf8_json(lake):
    lake.create_dataset("d", [{"input": v} for v in EXPLICIT])
    raw = lake.datapoints("d").page_json(page_size=1000)
    body = json.loads(raw.decode("utf-8"))
    assert _same([r["input"] for r in body["results"]], EXPLICIT)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(values=st.lists(JSON_VALUES, min_size=1, max_size=6))
def test_json_text_inputs_round_trip(tmp_path_factory, values):
    """The same property through JSONL lines and Polars JSON text (DuckDB's parser path)."""
    root = tmp_path_factory.mktemp("lake")
    lake = overmind_lake.Lake(root / "lake")
    path = root / "x.jsonl"
    path.write_text("\n".join(json.dumps({"tags": v}, ensure_ascii=False) for v in values), encoding="utf-8")
    a = lake.create_dataset("jsonl", str(path))
    b = lake.create_dataset("polars", pl.DataFrame({"tags": [json.dumps(v) for v in values]}))
    c = lake.create_dataset("dicts", [{"tags": v} for v in values])
    for name in ("jsonl", "polars", "dicts"):
        assert _same([r["tags"] for r in all_rows(lake, name)], values), name
        assert _same(frame_json(lake.datapoints(name).to_polars(), "tags"), values), name
    # one canonical text per value, whatever the input shape: only the generated ids differ
    texts = {n: lake.datapoints(n).to_polars()["tags"].to_list() for n in ("jsonl", "polars", "dicts")}
    assert texts["jsonl"] == texts["polars"] == texts["dicts"]
    assert a.count == b.count == c.count


def _text_of(value, style: str) -> str | None:
    if style == "missing":
        return None
    if style == "compact":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if style == "escaped":
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return json.dumps(value, ensure_ascii=False, indent=1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(cells=st.lists(st.tuples(JSON_VALUES, st.sampled_from(["compact", "escaped", "spaced", "missing"])),
                      min_size=1, max_size=8),
       arrow_type=st.sampled_from(["string", "large_string", "string_view"]))
def test_given_json_text_is_stored_in_its_canonical_form(tmp_path_factory, cells, arrow_type):
    """JSON text handed over in a column is stored as the same canonical text as
    the value given in a dict, whether the given text was canonical already
    (kept as given), was not, or the two are mixed in one column."""
    import pyarrow as pa

    lake = overmind_lake.Lake(tmp_path_factory.mktemp("lake") / "lake")
    texts = [_text_of(v, style) for v, style in cells]
    half = len(texts) // 2
    column = pa.chunked_array([pa.array(texts[:half], pa.string()), pa.array(texts[half:], pa.string())])
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(len(cells))]
    table = pa.table({"id": ids, "input": column.cast(getattr(pa, arrow_type)())})
    lake.create_dataset("arrow", table)
    lake.create_dataset("dicts", [{"id": i, "input": None if t is None else v}
                                  for i, t, (v, _) in zip(ids, texts, cells)])
    stored = {n: lake.datapoints(n).to_polars()["input"].to_list() for n in ("arrow", "dicts")}
    assert stored["arrow"] == stored["dicts"]
    assert lake.version_infos("arrow")[0]["checksum"] == lake.version_infos("dicts")[0]["checksum"]
