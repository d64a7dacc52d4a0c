"""Staging forms of the ingest fast paths (ingest/sources.py, ingest/dicts.py)
agree exactly with the simple, slower ways of building them."""

from __future__ import annotations

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
    table = sources._from_jsonl(data).table
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
