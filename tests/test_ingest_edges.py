"""Edges of ingest found by a review: lenient-only JSON (deeply nested,
random whitespace and letter case), huge integers, the checksum on random
layouts against the reference copy, and streamed JSONL against the in-memory
write (block edges, CRLF, blank lines, long lines, remote paths, open files)."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import duckdb
import fsspec
import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import overmind_lake
from overmind_lake import ValidationError
from overmind_lake.ingest import checksum, normalize, stream, strict

DEPTH = 3000  # deeper than Python's json parser goes (RecursionError), not DuckDB's


def _duck_accepts(con: duckdb.DuckDBPyConnection, text: str) -> bool:
    try:
        con.execute("SELECT json(?)", [text]).fetchone()
        return True
    except duckdb.Error:
        return False


def _flagged(texts: list[str], column: pa.Array | pa.ChunkedArray | None = None) -> list[bool]:
    """What check_raw decides per text: suspect and not strict JSON."""
    suspects = set(strict._suspects({"x": column if column is not None else pa.array(texts)}).get("x", []))
    return [i in suspects and strict._strict_error(t) is not None for i, t in enumerate(texts)]


# --- 1. strict JSON: deep nesting ----------------------------------------------------

DEEP_LENIENT = {
    "nan": "[" * DEPTH + "nan" + "]" * DEPTH,
    "-Infinity": "[" * DEPTH + "-Infinity" + "]" * DEPTH,
    "trailing comma": "[" * DEPTH + "1," + "]" * DEPTH,
    "object": '{"a":' * DEPTH + "[1, NaN]" + "}" * DEPTH,
}


@pytest.mark.parametrize("name", list(DEEP_LENIENT))
def test_deeply_nested_lenient_json_text_is_rejected_in_a_string_column(lake, name):
    text = DEEP_LENIENT[name]
    assert _duck_accepts(duckdb.connect(), text)  # DuckDB takes it, so only the strict check can stop it
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", pl.DataFrame({"input": [text]}))
    assert (info.value.row, info.value.field) == (0, "input")
    assert lake.datasets().height == 0


@pytest.mark.parametrize("name", list(DEEP_LENIENT))
def test_deeply_nested_lenient_json_is_rejected_in_jsonl_and_json_files(lake, tmp_path, name):
    value = DEEP_LENIENT[name]
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"input": 1}\n{"input": ' + value + "}\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(jsonl))
    assert (info.value.row, info.value.row_label) == (2, "line")
    array = tmp_path / "in.json"
    array.write_text('[{"input": ' + value + "}]", encoding="utf-8")
    with pytest.raises(ValidationError):
        lake.create_dataset("d", str(array))
    assert lake.datasets().height == 0


def test_deep_valid_json_mentioning_lenient_tokens_in_strings_stays_accepted(lake):
    # the other side of the fix for the test above (already in test_validation.py)
    texts = ["[" * DEPTH + '"NaN, ]"' + "]" * DEPTH,
             "[" * DEPTH + '"\\" ,nan]", 1' + "]" * DEPTH]
    lake.create_dataset("d", pl.DataFrame({"input": texts}))
    assert lake.datapoints("d").to_polars()["input"].to_list() == [t.replace(", 1", ",1") for t in texts]


@pytest.mark.parametrize("text", ['{"s": "a, ]", "n": %s}', '{"s": ",inf]", "n": [%s]}', '{"s": "x:nan}", "n": -%s}'])
def test_valid_json_with_a_huge_integer_is_accepted_whatever_its_strings_say(lake, text):
    # Python's int() refuses more than 4300 digits: the strict re-parse of a
    # suspect text must not turn that into "not valid JSON"
    text = text % ("7" * 5000)
    assert json.loads(text, parse_int=str) is not None
    lake.create_dataset("d", pl.DataFrame({"input": [text]}))
    assert json.loads(lake.datapoints("d").to_polars()["input"][0], parse_int=str) == json.loads(text, parse_int=str)


# --- 1. strict JSON: verified sound ---------------------------------------------

LENIENT_ONLY = [
    "nan", "NaN", "-nan", "-NaN", "NAN", "inf", "-inf", "INF", "Infinity", "-Infinity", "iNfInItY", "-INFINITY",
    "  nan", "nan\n", "nan\r\n", "\tnan\t", "\r\n-Infinity\r\n", "[nan]", "[ nan ]", "[\tnan\t]", "[\r\nnan\r\n]",
    "[-nan]", "[1,nan]", "[1 , -inf ]", "[nan,]", '{"a":nan}', '{"a" :\t-Infinity\r}', '{"a":[1,{"b":inf}]}',
    "[1,]", "[1 ,]", "[1,\t]", "[1,\r\n]", '{"a":1,}', '{"a":1 ,\n}', "[[1,],2]", '{"a":{"b":[],}}',
    '["nan", nan]', '{"s": "Infinity", "t": Infinity}', '["a,]", 1,]', "[1,]\n", "\n[1,]",
]


@pytest.mark.parametrize("typ", [pa.string(), pa.large_string(), pa.string_view()])
def test_every_lenient_only_text_is_flagged(typ):
    con = duckdb.connect()
    assert all(_duck_accepts(con, t) for t in LENIENT_ONLY)
    texts = LENIENT_ONLY + ['"nan"', '["a, ]"]', '{"info": "financial, infinite bananas: nan, ]"}']
    column = pa.array(texts).cast(typ)
    assert _flagged(texts, column) == [True] * len(LENIENT_ONLY) + [False] * 3
    # chunked, with nulls and empty chunks
    chunked = pa.chunked_array([pa.array([None] + texts[:10]).cast(typ), pa.array([], typ),
                                pa.array(texts[10:] + [None]).cast(typ)])
    assert _flagged([None] + texts + [None], chunked)[1:-1] == [True] * len(LENIENT_ONLY) + [False] * 3


def test_what_duckdb_rejects_anyway_needs_no_flag():
    # whitespace yyjson does not take, so the scan may ignore it
    con = duckdb.connect()
    for text in ["[\fnan]", "[\vnan]", "[\xa0nan]", "\ufeffnan", "[1,\f]", "[1,\xa0]", "+inf", "[- nan]",
                 "[infinit]", "[nan1]", "[1,,2]", "[/*c*/nan]"]:
        assert not _duck_accepts(con, text), text


def _lenient_text(rng: random.Random, bad: list) -> str:
    ws = [" ", "\t", "\r", "\n", "\r\n", ""]
    strings = ['"nan"', '"a, ]"', '",inf,"', '"[nan]"', '":-Infinity}"', '"x"', '"\\"nan\\""', '"\\\\"']

    def space() -> str:
        return "".join(rng.choice(ws) for _ in range(rng.randint(0, 2)))

    def literal() -> str:
        word = "".join(c.upper() if rng.random() < .5 else c for c in rng.choice(["nan", "inf", "infinity"]))
        return ("-" if rng.random() < .4 else "") + word

    def value(depth: int) -> str:
        r = rng.random()
        if depth > 4 or r < .3:
            if bad[0] == "literal" and rng.random() < .3:
                bad[0] = "done"
                return literal()
            return rng.choice(["1", "-2.5e3", "true", "null", "false"] + strings)
        if r < .65:
            items = [space() + value(depth + 1) + space() for _ in range(rng.randint(0, 3))]
            open_, close = "[", "]"
        else:
            items = [space() + rng.choice(strings) + space() + ":" + space() + value(depth + 1) + space()
                     for _ in range(rng.randint(0, 3))]
            open_, close = "{", "}"
        comma = bad[0] == "comma" and items and rng.random() < .5
        if comma:
            bad[0] = "done"
        return open_ + ",".join(items) + ("," + space() if comma else "") + close

    return space() + value(0) + space()


def test_random_lenient_texts_are_all_flagged_and_strict_ones_never():
    rng = random.Random(20240611)
    con = duckdb.connect()
    texts, lenient = [], []
    while len(texts) < 4000:
        bad = [rng.choice(["literal", "comma", None])]
        text = _lenient_text(rng, bad)
        if _duck_accepts(con, text):
            texts.append(text)
            lenient.append(bad[0] == "done")
    assert sum(lenient) > 500
    half = len(texts) // 2
    for column in (pa.array(texts), pa.chunked_array([pa.array(texts[:half]), pa.array(texts[half:])]),
                   pa.array(texts).cast(pa.string_view())):
        assert _flagged(texts, column) == lenient


# --- 2. _hides_non_finite over two parts (chunked rowno) -------------------------

def test_nested_non_finite_floats_in_a_two_part_dict_list_name_their_row(lake, monkeypatch):
    monkeypatch.setattr(normalize, "DICT_PART_ROWS", 2)
    monkeypatch.setattr(normalize, "DICT_FIRST_PART_ROWS", 4)
    monkeypatch.setattr(normalize, "DICT_CHUNK_ROWS", 3)
    for bad_at, field, value in [(0, "input", {"v": [1, float("nan")]}), (5, "tags", [float("-inf")]),
                                 (9, "expected_output", {"v": {"w": float("inf")}})]:
        rows = [{"input": {"a": [i, None]}, "expected_output": None, "tags": ["x", None]} for i in range(10)]
        rows[bad_at][field] = value
        with pytest.raises(ValidationError) as info:
            lake.create_dataset("d", rows)
        assert (info.value.row, info.value.field) == (bad_at, field)
    lake.create_dataset("d", [{"input": {"a": [i, None]}, "tags": None} for i in range(10)])


# --- 3. checksum: byte-identical to the original ---------------------------------

def test_checksum_matches_the_original_on_random_layouts(monkeypatch):
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from test_checksum_fast import _reference_checksum_of_columns, _spanning_nulls
    from overmind_lake.schema import FILE_SCHEMA

    rng = random.Random(11)

    def strings(n: int) -> pa.Array:
        share = rng.choice([0, .1, .5, 1])
        values = [None if rng.random() < share else "ü" * rng.randint(0, 3) + "x" * rng.randint(0, 5)
                  for _ in range(n)]
        skip = rng.randint(0, 3)
        if rng.random() < .3:
            return _spanning_nulls([None] * skip + values, rng.choice([b"", b"J", "é".encode()]),
                                   rng.random() < .5, skip)
        array = pa.array([None] * skip + values, rng.choice([pa.string(), pa.large_string()])).slice(skip)
        return array.dictionary_encode() if rng.random() < .2 else array

    def pieces(array: pa.Array) -> list[pa.Array]:
        cuts = sorted(rng.randint(0, len(array)) for _ in range(rng.randint(0, 4)))
        bounds = [0] + cuts + [len(array)]
        return [array.slice(a, b - a) for a, b in zip(bounds, bounds[1:])]

    for _ in range(300):
        monkeypatch.setattr(checksum, "BLOCK_ROWS", rng.choice([1, 2, 3, 8, 24, 64 * 1024]))
        monkeypatch.setattr(checksum, "SPAN_BLOCK_ROWS", rng.choice([1, 2, 5, 8 * 1024]))
        n = rng.randint(0, 60)
        columns = {}
        for field in FILE_SCHEMA:
            if pa.types.is_integer(field.type):
                if rng.random() < .5:
                    ints = pa.array([rng.randint(-2**62, 2**62) for _ in range(n + 2)], pa.int64())
                else:
                    ints = pa.array(np.arange(n + 2, dtype=np.int32))
                columns[field.name] = pieces(ints.slice(rng.randint(0, 2), n))
            else:
                columns[field.name] = pieces(strings(n))
        assert checksum.checksum_of_columns(n, lambda name: iter(columns[name])) == \
            _reference_checksum_of_columns(n, lambda name: iter(columns[name]))


# --- 4. streamed JSONL: verified sound --------------------------------------------

def _rows(n: int) -> list[dict]:
    return [{"id": str(uuid.UUID(int=i + 1)), "input": {"q": f"é{i}", "n": i}, "persona": f"p{i % 3}"}
            for i in range(n)]


def _jsonl(rows: list[dict], rng: random.Random, *, crlf: bool, blanks: bool, final_newline: bool) -> bytes:
    newline = "\r\n" if crlf else "\n"
    out = []
    for row in rows:
        while blanks and rng.random() < .35:
            out.append(rng.choice(["", " ", "\t", "\r", "  \t "]))
        out.append(json.dumps(row, ensure_ascii=False))
    while blanks and rng.random() < .5:
        out.append(rng.choice(["", " ", "\r"]))
    return (newline.join(out) + (newline if final_newline else "")).encode("utf-8")


def _outcome(tmp_path: Path, data: bytes, block: int, streamed: bool, monkeypatch) -> tuple:
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 0 if streamed else 1 << 40)
    monkeypatch.setattr(stream, "JSONL_CHUNK_BYTES", block)
    root = tmp_path / f"lake-{streamed}-{block}"
    lake = overmind_lake.Lake(root)
    assert (stream.chunks_of(str(path)) is not None) == (streamed and len(data) > 0)
    try:
        ds = lake.create_dataset("d", str(path)).dataset_id
    except ValidationError as exc:
        assert list(root.rglob("*.parquet")) == [] and lake.datasets().height == 0
        return ("error", exc.row, exc.row_label, exc.field, str(exc))
    version = lake.versions(ds).row(0, named=True)
    rows = lake.datapoints(ds).to_polars().drop("dataset_id")
    assert lake.verify(ds) == []
    return ("ok", version["count"], version["checksum"], rows.to_dicts())


@pytest.mark.parametrize("seed", range(12))
def test_streamed_jsonl_equals_in_memory(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    data = _jsonl(_rows(rng.randint(0, 12)), rng, crlf=seed % 2 == 1, blanks=seed % 3 != 0,
                  final_newline=seed % 4 < 2)
    lines = data.split(b"\n")
    filled = [i for i, line in enumerate(lines) if line.strip()]
    kind = ["none", "source", "utf8", "nan", "dup", "none"][seed % 6]
    if filled and kind != "none":
        i = rng.choice(filled)
        end = b"\r" if lines[i].endswith(b"\r") else b""
        lines[i] = {"source": b'{"input": 1, "source": "x"}' + end, "utf8": b'{"input": "\xff"}',
                    "nan": b'{"input": [1, -NaN ]}' + end, "dup": lines[filled[0]]}[kind]
        data = b"\n".join(lines)
    expected = _outcome(tmp_path, data, 1 << 20, False, monkeypatch)
    for block in (1, 3, 17, 64, 1 << 20):
        assert _outcome(tmp_path, data, block, True, monkeypatch) == expected, block


def test_streamed_jsonl_default_order_counts_datapoints_across_blocks(lake, tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(stream, "JSONL_CHUNK_BYTES", 40)
    lines = []
    for i in range(30):
        lines += ["", "   "] * (i % 3) + [json.dumps({"input": i})]
    path = tmp_path / "in.jsonl"
    path.write_bytes(("\r\n".join(lines) + "\r\n\r\n").encode())
    ds = lake.create_dataset("d", str(path)).dataset_id
    got = lake.datapoints(ds).to_polars()
    assert got["order"].to_list() == list(range(30))
    assert [json.loads(v) for v in got["input"]] == list(range(30))
    assert len(lake.commits(ds)[0].files) > 5


def test_streamed_jsonl_errors_after_a_long_line_keep_the_file_line_numbers(lake, tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(stream, "JSONL_CHUNK_BYTES", 64)
    lines = [json.dumps({"input": i}) for i in range(10)]
    lines[2] = json.dumps({"input": "x" * 1000})  # a line of many blocks
    lines[7] = '{"input": [1,]}'
    path = tmp_path / "in.jsonl"
    path.write_text("\n\n".join(lines), encoding="utf-8")  # blank line between each, no final newline
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(path))
    assert (info.value.row, info.value.row_label) == (15, "line")
    lines[7] = '{"input": 7}'
    path.write_bytes(("\n\n".join(lines)).encode() + b'\n{"input": "\xc3"}')  # bad UTF-8 in the last block
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(path))
    assert (info.value.row, info.value.row_label, info.value.rule) == (20, "line", "not valid UTF-8")
    assert lake.datasets().height == 0
    assert list((tmp_path / "lake").rglob("*.parquet")) == []


def test_remote_jsonl_is_streamed(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 10)
    monkeypatch.setattr(stream, "JSONL_CHUNK_BYTES", 50)
    url = f"memory://review-{uuid.uuid4().hex}/in.jsonl"
    with fsspec.open(url, "wb") as fh:
        fh.write(("\n".join(json.dumps({"id": str(uuid.UUID(int=i + 1)), "input": i}) for i in range(20))
                  + "\n\n").encode())
    assert stream.chunks_of(url) is not None
    assert stream.chunks_of(url.replace("in.jsonl", "missing.jsonl")) is None  # the in-memory path reports it
    for root in (tmp_path / "lake", f"memory://review-{uuid.uuid4().hex}/lake"):
        lake = overmind_lake.Lake(root)
        ds = lake.create_dataset("d", url)
        assert ds.count == 20 and len(lake.commits("d")[0].files) > 5
        assert lake.verify("d") == []
        assert lake.datapoints("d").to_polars()["order"].to_list() == list(range(20))


def test_jsonl_of_unknown_size_is_read_in_memory(tmp_path, monkeypatch):
    from fsspec.implementations.local import LocalFileSystem

    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 0)
    path = tmp_path / "in.jsonl"
    path.write_text('{"input": 1}\n', encoding="utf-8")
    assert stream.chunks_of(str(path)) is not None
    monkeypatch.setattr(LocalFileSystem, "size", lambda self, p: None)
    assert stream.chunks_of(str(path)) is None
    assert overmind_lake.Lake(tmp_path / "lake").create_dataset("d", str(path)).count == 1


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_failed_streamed_jsonl_does_not_keep_its_file_open(lake, tmp_path, monkeypatch):
    # the error's traceback (kept by a notebook, a logger, pytest) holds the
    # half-read generator, and with it the open file (or S3 connection)
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 0)
    monkeypatch.setattr(stream, "JSONL_CHUNK_BYTES", 30)
    path = tmp_path / "in.jsonl"
    path.write_text('{"input": nan}\n' + "".join(json.dumps({"input": i}) + "\n" for i in range(20)),
                    encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(path))
    assert info.value.row == 1
    fds = Path("/proc/self/fd")
    assert [fd for fd in fds.iterdir() if fd.resolve() == path.resolve()] == []


@pytest.mark.parametrize("parallel_from", [0, 1 << 30])  # checked beside the newline search, or after it
def test_jsonl_utf8_check_and_line_split_agree_either_way(lake, tmp_path, monkeypatch, parallel_from):
    from overmind_lake.ingest import sources
    monkeypatch.setattr(sources, "PARALLEL_SCAN_BYTES", parallel_from)
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"input": 1}\n\n{"input": "\xc3\xa9"}\n{"input": "\xe9"}\n')
    with pytest.raises(ValidationError) as info:
        lake.create_dataset("d", str(path))
    assert (info.value.row, info.value.row_label, info.value.rule) == (4, "line", "not valid UTF-8")
    path.write_bytes(b'{"input": 1}\n\n{"input": "\xc3\xa9"}\n')
    lake.create_dataset("d", str(path))
    assert lake.datapoints("d").to_polars()["input"].to_list() == ["1", '"é"']
