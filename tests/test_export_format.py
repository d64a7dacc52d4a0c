"""The export's renderers (server/exportfmt.py) on Arrow batches, plain and
dictionary-encoded: every line parses back to the values rendered."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pytest

from overmind_lake.schema import DATAPOINT_FIELDS, FILE_SCHEMA
from overmind_lake.server.exportfmt import csv_header, csv_records, jsonl_lines

NASTY = ["plain", "", None, 'q"uote', "back\\slash", "comma,", "cr\rlf\n", "tab\t", "日本 🎉",
         "".join(chr(c) for c in range(0x20)), "\u2028\u2029", "\x7f", "a" * 1000]


def batch(dictionary: bool) -> pa.RecordBatch:
    n = len(NASTY)
    columns = {
        "id": [f"00000000-0000-4000-8000-{i:012d}" for i in range(n)],
        "input": ['{"z":1,"a":[2,{"n":' + str(2 ** 70) + "}]}"] * (n - 1) + [None],
        "expected_output": ['"0123"', "[]", "{}", '""', "null", "1e5", "-0", "true", '"\\u0000"', "1.50",
                            '"日本"', None, '{"a":"x,\\"y\\""}'],
        "order": list(range(n)),
        "persona": NASTY,
        "tags": [None] * n,
        "source": ["seed", "synthetic", "augmented", "production"] * 3 + ["seed"],
        "agent": [None, "6f1c2a9e-0d3b-4c1a-9b7e-2f4d5a6b7c8d"] * 6 + [None],
        "generator_model": list(reversed(NASTY)),
    }
    table = pa.table(columns).cast(FILE_SCHEMA)
    if dictionary:
        for name in ("persona", "source", "agent", "generator_model"):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, name, table.column(name).dictionary_encode())
    return table.to_batches()[0]


def expected(b: pa.RecordBatch) -> list[dict]:
    rows = pa.Table.from_batches([b]).to_pylist()
    for row in rows:
        for name in ("input", "expected_output", "tags"):
            row[name] = None if row[name] is None else json.loads(row[name])
    return rows


@pytest.mark.parametrize("dictionary", [False, True])
def test_jsonl_lines_parse_back(dictionary):
    b = batch(dictionary)
    body = jsonl_lines(b)
    assert body.endswith(b"\n") and body.count(b"\n") == b.num_rows  # raw CR, LF, U+2028 never split a line
    lines = [json.loads(line) for line in body.split(b"\n")[:-1]]
    assert [list(line) for line in lines] == [list(DATAPOINT_FIELDS)] * b.num_rows
    assert lines == expected(b)
    assert jsonl_lines(b.slice(0, 0)) == b""


@pytest.mark.parametrize("dictionary", [False, True])
def test_csv_records_parse_back(dictionary):
    b = batch(dictionary)
    body = (csv_header() + csv_records(b)).decode("utf-8")
    header, *records = list(csv.reader(io.StringIO(body, newline="")))
    assert header == list(DATAPOINT_FIELDS) and len(records) == b.num_rows
    for record, row in zip(records, expected(b)):
        got = dict(zip(header, record))
        for name in ("input", "expected_output", "tags"):
            assert (json.loads(got[name]) if got[name] else None) == row[name]
        assert int(got["order"]) == row["order"]
        for name in ("id", "persona", "source", "agent", "generator_model"):
            assert got[name] == (row[name] or "")  # null and "" are both an empty field
    # every text value quoted (inner quotes doubled), numbers and nulls not
    assert '\r\n"00000000-0000-4000-8000-000000000000","{""z"":1,' in body and ',0,"plain",' in body
    assert ',"q""uote",' in body and ',"comma,",' in body and ',"back\\slash",' in body
    assert ',"[]",1,"",,"synthetic",' in body  # persona "" is "", tags null is empty
