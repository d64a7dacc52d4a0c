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


def test_bench_commit_prints_both_protocols_side_by_side():
    bench_commit = pytest.importorskip("benchmarks.bench_commit")
    lines: list[str] = []
    assert bench_commit.main(["--small", "2", "--small-rows", "300", "--big", "1", "--big-rows", "1200"],
                             log=lines.append) == 0
    out = "\n".join(lines)
    assert out.count("direct  write median") == out.count("staged  write median") == 4  # 2 sizes x 2 stores
    assert len(re.findall(r"staged/direct: write \d+\.\d\dx, [+-]\d+\.\d ms per write", out)) == 4
    assert len(re.findall(r"move in place .* median [\d.]+ ms", out)) == 4
    # on S3 the move is a HEAD, a server-side COPY and a DELETE per file, and nothing else
    direct, staged = re.findall(r"S3 requests per write: (\d+)", out)[:2]
    assert int(staged) - int(direct) == 3


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


def test_first_call_runs_in_a_fresh_process_after_its_warm_up(tmp_path):
    import overmind_lake
    from benchmarks import corpus
    from benchmarks.first_calls import first_call

    lake = overmind_lake.Lake(tmp_path / "lake")
    a = lake.create_dataset("a", corpus.datapoints_table(300, seed=1, dataset=1, version=1)).dataset_id
    b = lake.create_dataset("b", corpus.datapoints_table(50, seed=1, dataset=2, version=1)).dataset_id
    out = first_call(tmp_path / "lake", (a, {"ordering": "-persona"}, 2), [(b, {}, 1), (a, {}, 3)])
    expected = lake.datapoints(a, ordering="-persona").page(2, 100)
    assert out["count"] == 300 and out["ids"] == [r["id"] for r in expected["results"]]
    assert out["ms"] > 0


def test_serve_first_calls_prints_its_quantiles(tmp_path, capsys):
    from benchmarks import serve_first_calls

    assert serve_first_calls.main(["--datasets", "3", "--min-rows", "200", "--max-rows", "900", "--requests", "15",
                                   "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"serve over 3 datasets, 15 requests each the first of its kind", out)
    assert re.search(r"p50 [\d.]+ ms \(target <= 10\), p90 [\d.]+ ms, p99 [\d.]+ ms", out)


def test_s3_requests_meet_their_targets():
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    from benchmarks import s3_requests

    lines: list[str] = []
    results = s3_requests.run(1500, 2, out=lines.append, log=lambda *a: None)
    assert len(results) == len(s3_requests.SCENARIOS)
    for r in results:
        if r["target"] is not None:
            assert r["requests"] <= r["target"], r
    by_label = {r["label"]: r["requests"] for r in results}
    assert by_label["page 1 of pinned version=1, repeated"] == 0
    assert any("| page 1 of the latest version, repeated | 1 |" in line for line in lines)
