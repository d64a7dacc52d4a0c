"""The benchmark scripts that need no PostgreSQL run end to end at a tiny scale."""

from __future__ import annotations

import re

import pytest

ingest_floor = pytest.importorskip("benchmarks.ingest_floor")


def test_ingest_floor_prints_its_bound_and_cleans_up(capsys, tmp_path, monkeypatch):
    from benchmarks import _common

    monkeypatch.setattr(_common, "OUT_DIR", tmp_path)
    assert ingest_floor.main(["--rows", "3000", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for piece in ("encode", "checksum", "parse", "rules", "ids", "strict"):
        assert re.search(rf"^  {piece} +\d+\.\d\d CPU-s$", out, re.M), piece
    assert re.search(r"bounded by [\d,]+ rows/s \(\d+\.\d\dx the 500,000 rows/s target\)", out)
    assert list(tmp_path.iterdir()) == []  # the scratch files are gone


def test_bench_export_http_runs_at_a_tiny_scale(capsys, tmp_path):
    bench = pytest.importorskip("benchmarks.bench_export_http")
    assert bench.main(["--scale", "1x2000", "--out", str(tmp_path), "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("baseline to_arrow+ndjson", "export jsonl over HTTP", "export csv over HTTP"):
        assert re.search(rf"^  {re.escape(name)} +first +\d+\.\d\d s  median +\d+\.\d\d s .* rows/s$", out, re.M), name
    assert re.search(r"^  server RSS: \d+ MB before, peak \d+ MB", out, re.M)
    assert re.search(r"^  pull via export +\d+\.\d\d s", out, re.M) and re.search(r"^  pull via pages +\d", out, re.M)
    assert re.search(r"^  pull: export route \d+\.\dx faster than the paged walk", out, re.M)
    assert not list(tmp_path.glob("bench-export-*"))  # the scratch directory is gone
