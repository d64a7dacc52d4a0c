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


def test_bench_export_runs_at_a_tiny_scale(capsys, tmp_path):
    bench_export = pytest.importorskip("benchmarks.bench_export")
    from benchmarks.pg_baseline import pg_bin_dir

    targets = "duckdb,postgres" if pg_bin_dir() else "duckdb"
    assert bench_export.main(["--scale", "tiny", "--targets", targets, "--baseline-rows", "500",
                              "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^duckdb: export  exported 6 versions \(16,500 rows\) .* -> [\d,]+ rows/s", out, re.M)
    assert re.search(r"^duckdb: second run  exported 0 versions .* 6 already present", out, re.M)
    if "postgres" in targets:
        assert re.search(r"^postgres: export / executemany = [\d.]+x .* export / plain COPY = [\d.]+x", out, re.M)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("export-")] == []  # scratch removed


def test_bench_export_files_runs_at_a_tiny_scale(capsys, tmp_path):
    bench_export_files = pytest.importorskip("benchmarks.bench_export_files")
    pytest.importorskip("deltalake")
    pytest.importorskip("pyiceberg")
    assert bench_export_files.main(["--scale", "tiny", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^parquet: export exported 6 versions \(16,500 rows\) .* -> [\d,]+ rows/s", out, re.M)
    for fmt in ("delta", "iceberg"):
        assert re.search(rf"^{fmt}: export / baseline = [\d.]+x \(target >= 0.8x\)", out, re.M), fmt
        assert re.search(rf"^{fmt}: second run [\d.]+ s", out, re.M), fmt
    assert re.search(r"^delta: export streamed through write_deltalake .* / baseline = [\d.]+x", out, re.M)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("export-")] == []  # scratch removed
