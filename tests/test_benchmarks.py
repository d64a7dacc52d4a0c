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
