"""Staging forms of the ingest fast paths (ingest/sources.py, ingest/dicts.py)
agree exactly with the simple, slower ways of building them."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from overmind_lake.ingest import sources


def _jsonl_reference(data: bytes) -> tuple[list[int], list[bytes]]:
    """(line numbers, line texts) of a JSONL file: split on newlines, each line
    keeping its newline, whitespace-only lines (RE2 ``\\s``) skipped."""
    pieces = data.split(b"\n")
    numbers, texts = [], []
    for no, piece in enumerate(pieces, start=1):
        text = piece if no == len(pieces) else piece + b"\n"
        line = pa.array([text.decode("utf-8")], pa.large_string())
        if not pc.match_substring_regex(line, r"^\s*$")[0].as_py():
            numbers.append(no)
            texts.append(text)
    return numbers, texts


def _jsonl_staged(data: bytes) -> tuple[list[int], list[bytes]]:
    table = sources.jsonl_lines(data).table
    assert table.column("pos").to_pylist() == list(range(table.num_rows))
    return table.column("rowno").to_pylist(), [t.encode("utf-8") for t in table.column("j").to_pylist()]


@pytest.mark.parametrize("data", [
    b"", b"\n", b"\n\n", b"{}", b"{}\n", b"{}\n\n", b"\n{}", b" \n{}\n\t\r\n{}\n  ", b"{}\r\n{}\r\n",
    b"\x0b{}\n\x0c\n{}", "{\"a\": \"é\"}\n\u3000\n{}".encode("utf-8"),
])
def test_jsonl_lines_match_reference(data):
    assert _jsonl_staged(data) == _jsonl_reference(data)


def test_jsonl_lines_match_reference_random():
    rng = random.Random(7)
    atoms = [b"{}", b'{"input": 1}', b" ", b"\t", b"\r", b"\n", b"\n", b"\x0b", b"\x0c", b"x", "é".encode()]
    for _ in range(300):
        data = b"".join(rng.choice(atoms) for _ in range(rng.randrange(0, 30)))
        assert _jsonl_staged(data) == _jsonl_reference(data), data


def test_jsonl_newlines_across_blocks():
    data = b"".join(b"{}" + b" " * (i % 5) + b"\n" for i in range(1000))
    found = sources._newlines(data, block=7)
    assert np.array_equal(found, np.flatnonzero(np.frombuffer(data, np.uint8) == 10))
    assert _jsonl_staged(data) == _jsonl_reference(data)


# --- dicts: the fast path (one orjson text per row) against the exact path ---

import enum
import uuid

import duckdb

from overmind_lake.ingest import dicts, normalize
from overmind_lake.ingest.sources import from_records, typed

GOOD = "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"
PARAMS = {"source": "seed", "agent": None, "generator_model": None}


class Colour(enum.Enum):
    RED = "red"


def _plain_rows() -> list[dict]:
    return [
        {"id": GOOD, "input": {"a": [1, 2.5, True, None, {}], "b": "é\n\"\\😀"}, "order": 7, "persona": "p"},
        {"input": 18446744073709551615, "expected_output": -9223372036854775808, "tags": []},
        {},
        {"input": "x"},  # a row text of at most 12 bytes is stored inside its view
        {"id": uuid.UUID(GOOD.replace("6f", "7f")), "agent": uuid.UUID(GOOD), "source": "production"},
        {"input": None, "tags": None, "persona": None, "agent": None, "generator_model": None},
        {"input": 1e300, "expected_output": [0.1, -0.0], "tags": {"k": "null"}, "dataset_id": "x", "version": 3},
        {"input": "\U0010FFFF and the separator text ,\"\U0010FFFF\", inside a string", "generator_model": "m"},
        {"input": ["\U0010FFFF\U0010FFFF", "\U00100000"], "tags": ["\x00"]},  # near misses of the separator
    ]


def _normalized(rows: list, fast: bool) -> pa.Table:
    con = duckdb.connect()
    try:
        if fast:
            out = normalize._dict_rows(con, rows, PARAMS)
            assert out is not None
            return out.combine_chunks()
        return normalize.normalize(con, typed(from_records(rows)), **PARAMS).combine_chunks()
    finally:
        con.close()


def test_dict_fast_path_matches_exact_path():
    rows = _plain_rows()
    fast, exact = _normalized(rows, True), _normalized(rows, False)
    generated = exact.column("id_generated").to_pylist()
    assert fast.column("id_generated").to_pylist() == generated
    for name in exact.column_names:
        if name != "id":
            assert fast.column(name).equals(exact.column(name)), name
    kept = [i for i, g in enumerate(generated) if not g]
    assert [fast.column("id")[i] for i in kept] == [exact.column("id")[i] for i in kept]


def test_dict_fast_path_over_several_chunks(monkeypatch):
    monkeypatch.setattr(normalize, "DICT_CHUNK_ROWS", 3)
    rows = [{"input": {"i": i, "s": "y" * (i % 20)}, "order": i} for i in range(20)] + _plain_rows()
    fast, exact = _normalized(rows, True), _normalized(rows, False)
    assert fast.drop_columns(["id"]).equals(exact.drop_columns(["id"]))


def test_dict_fast_path_in_pipelined_parts(monkeypatch):
    monkeypatch.setattr(normalize, "DICT_CHUNK_ROWS", 3)
    monkeypatch.setattr(normalize, "DICT_PART_ROWS", 5)
    monkeypatch.setattr(normalize, "DICT_FIRST_PART_ROWS", 4)
    rows = [{"input": {"i": i}, "order": i} for i in range(13)] + _plain_rows()
    fast, exact = _normalized(rows, True), _normalized(rows, False)
    assert fast.column("rowno").to_pylist() == list(range(len(rows)))
    assert fast.drop_columns(["id"]).equals(exact.drop_columns(["id"]))


@pytest.mark.parametrize("bad", [2, 17])  # in the first part, in the second
def test_dict_parts_a_broken_row_gets_the_exact_error(lake, monkeypatch, bad):
    from overmind_lake import ValidationError
    monkeypatch.setattr(normalize, "DICT_CHUNK_ROWS", 3)
    monkeypatch.setattr(normalize, "DICT_PART_ROWS", 5)
    monkeypatch.setattr(normalize, "DICT_FIRST_PART_ROWS", 4)
    rows = [{"input": i} for i in range(20)]
    rows[bad]["source"] = "nonsense"
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", rows)
    assert (info.value.row, info.value.field) == (bad, "source")


@pytest.mark.parametrize("rows", [
    [{"persona": uuid.UUID(GOOD)}],  # a UUID is a string only for id and agent
    [{"persona": Colour.RED}],
    [{"input": float("nan")}],  # orjson would write null
    [{"input": 1}, {"input": float("inf")}],
    [{"tags": {1: "non-str key"}}],  # orjson refuses it; the standard library may not
    [{"input": 1 << 70}],
    [{"inptu": 1}],
    [[1, 2]],
    [{"input": ["a", dicts._SENTINEL, "b"]}, {"input": 2}],  # the rows' separator, inside a row
])
def test_record_texts_leaves_what_it_cannot_vouch_for_to_the_exact_path(rows):
    assert dicts.record_texts(rows) is None


def test_rows_holding_the_separator_are_stored_exactly(lake):
    rows = [{"input": ["a", dicts._SENTINEL, "b"]}, {"input": dicts._SEPARATOR_BYTES.decode()},
            {"input": dicts._SENTINEL}, {"input": ["a", "\x00", "b"]}]
    lake.create_dataset("d", rows)
    assert [json.loads(t) for t in lake.datapoints("d").to_polars()["input"]] == [r["input"] for r in rows]


def test_nested_non_finite_floats_fall_back_to_the_exact_error(lake):
    from overmind_lake import ValidationError
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", [{"input": {"a": None}}, {"input": 1}, {"expected_output": {"x": [float("nan")]}}])
    assert (info.value.row, info.value.field) == (2, "expected_output")


def test_jsonl_repeated_and_lake_keys_are_known_keys(lake, tmp_path):
    from overmind_lake import ValidationError
    path = tmp_path / "x.jsonl"
    path.write_text('{"input": 1, "input": 2}\n{"input": 3, "dataset_id": "d", "version": 9}\n{}\n', encoding="utf-8")
    assert lake.create_dataset("d", str(path)).count == 3
    path.write_text('{"input": 1}\n{"input": 1, "input": 2, "zz": 3, "aa": 4}\n', encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("e", str(path))
    assert (info.value.row, info.value.field) == (2, "zz")


def test_dict_fast_path_with_escape_heavy_text():
    rows = [{"input": "line one\nline \"two\"\t\\ " * 25, "tags": {"q": "\"" * 40}} for _ in range(200)]
    assert dicts.record_texts(rows) is not None
    fast, exact = _normalized(rows, True), _normalized(rows, False)
    assert fast.drop_columns(["id"]).equals(exact.drop_columns(["id"]))


def test_local_jsonl_is_memory_mapped_and_stages_like_read_bytes(tmp_path):
    import fsspec

    text = b'{"input": 1}\n\n{"input": "\xc3\xa9"}\r\n  \n{"input": [2]}'
    path = tmp_path / "x.jsonl"
    path.write_bytes(text)
    mapped = sources._read(str(path), None, mapped=True)
    assert isinstance(mapped, pa.Buffer) and mapped.to_pybytes() == text
    with fsspec.open("memory://staging/x.jsonl", "wb") as fh:
        fh.write(text)
    assert isinstance(sources._read("memory://staging/x.jsonl", None, mapped=True), bytes)
    a = sources.jsonl_lines(mapped).table
    b = sources.jsonl_lines(text).table
    assert a.equals(b) and a.column("rowno").to_pylist() == [1, 3, 5]
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert sources._read(str(empty), None, mapped=True) == b""


@pytest.mark.parametrize("block", [1, 3, 7, 1 << 20])
def test_separator_search_finds_exactly_the_whole_separators(monkeypatch, block):
    import random
    import re
    monkeypatch.setattr(dicts, "_SEARCH_BLOCK", block)
    sep = dicts._SEPARATOR_BYTES
    rng = random.Random(block)
    pieces = [sep, sep[:-1], sep[1:], sep[2:6], b"\xf4", b"{}", b'"a"', b",", sep + sep]
    for _ in range(200):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12)))
        # overlapping ones too: either way a false match makes one too many
        expected = [m.start() for m in re.finditer(b"(?=" + re.escape(sep) + b")", data)]
        assert dicts._separators(data).tolist() == expected, data


def test_views_address_every_slice_at_any_alignment():
    rng = np.random.default_rng(5)
    data = bytes(rng.integers(32, 127, 4000, dtype=np.uint8))
    starts = np.array([0, 1, 2, 3, 5, 17, 100, 3990, 3987, 3999, 4000, 250], dtype=np.int64)
    lengths = np.array([12, 13, 40, 0, 1, 200, 12, 10, 13, 1, 0, 3], dtype=np.int64)
    array = dicts._views(data, starts, lengths)
    array.validate(full=True)
    assert array.to_pylist() == [data[s:s + n].decode() for s, n in zip(starts, lengths)]


def test_given_json_text_kept_as_given_where_canonical():
    """Canonical text given in a string column is the column itself (no copy);
    a column mixing canonical and other text takes each row from the right side."""
    from overmind_lake.ingest.sources import to_staging

    compact = pa.chunked_array([pa.array(['{"a":1}', None, "[1,2]"])])
    mixed = pa.chunked_array([pa.array(['{"a": 1}', "null", "[1,2]", ' "x"'])])
    con = duckdb.connect()
    try:
        rows = normalize.normalize(con, to_staging(pa.table({"input": compact})), **PARAMS)
        assert rows.column("input").to_pylist() == ['{"a":1}', None, "[1,2]"]
        assert rows.column("input").chunk(0).buffers()[2].address == compact.chunk(0).buffers()[2].address
        rows = normalize.normalize(con, to_staging(pa.table({"input": mixed})), **PARAMS)
        assert rows.column("input").to_pylist() == ['{"a":1}', None, "[1,2]", '"x"']
    finally:
        con.close()


def test_given_json_text_kept_row_for_row_in_a_big_parallel_scan(lake):
    """Over many chunks scanned by several DuckDB threads, each row keeps its
    own text (canonical rows kept as given, the others rewritten)."""
    n = 60_000
    texts = [json.dumps({"i": i, "x": [i % 7]}, separators=(",", ":")) if i % 3 else json.dumps({"i": i, "x": [i % 7]})
             for i in range(n)]
    chunks = [pa.array(texts[lo:lo + 7_000]) for lo in range(0, n, 7_000)]
    lake.create_dataset("d", pa.table({"input": pa.chunked_array(chunks), "order": pa.array(range(n), pa.int64())}))
    stored = lake.datapoints("d").to_polars()["input"].to_list()
    assert stored == [json.dumps({"i": i, "x": [i % 7]}, separators=(",", ":")) for i in range(n)]


@pytest.mark.parametrize("arrow_type", [pa.large_string(), pa.string_view()])
def test_given_text_too_big_for_one_string_array_is_not_kept(lake, monkeypatch, arrow_type):
    """A large_string / string_view chunk may hold more text than a stored
    (32-bit offset) string array: then DuckDB's batches are stored instead of
    the given chunk, which could not be cast (shown here with a small limit)."""
    monkeypatch.setattr(normalize, "MAX_STRING_BYTES", 10)
    texts = ['{"a":1}', '{"b":[1,2]}', None, '"x"']
    given = pa.chunked_array([pa.array(texts, arrow_type)])
    con = duckdb.connect()
    try:
        from overmind_lake.ingest.sources import to_staging

        rows = normalize.normalize(con, to_staging(pa.table({"input": given})), **PARAMS)
    finally:
        con.close()
    assert rows.column("input").to_pylist() == texts
    assert rows.column("input").type == pa.string()  # DuckDB's, not the given column
    lake.create_dataset("d", pa.table({"input": given}))
    assert lake.datapoints("d").to_polars()["input"].to_list() == texts
