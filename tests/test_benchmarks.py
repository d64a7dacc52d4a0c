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


def test_bench_viewer_runs_at_tiny_scale(capsys, tmp_path, monkeypatch):
    from benchmarks import corpus

    bench_viewer = pytest.importorskip("benchmarks.bench_viewer")
    monkeypatch.setattr(bench_viewer, "cached_lake",
                        lambda scale, reuse="auto", log=None: corpus.cached_lake(scale, out_dir=tmp_path, log=log))
    assert bench_viewer.main(["--scale", "3x300", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    for case in ("latest, page 1", "latest, random pages", "filtered, random pages", "all versions, random pages"):
        assert re.search(rf"^\| {re.escape(case)} +\| +[\d.]+ \| +[\d.]+ \| +[\d.]+x \|", out, re.M), case
    assert re.search(r"^target: HTML median <= 2x the JSON median: (met|NOT met)$", out, re.M)
