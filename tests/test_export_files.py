"""Exports to file targets: Parquet directory, Delta table, Iceberg table (docs/export.md).

Every test reads the target back with another engine (pyarrow / DuckDB,
polars.read_delta, a pyiceberg scan) and compares it with the lake's own rows.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

import overmind_lake
from overmind_lake.errors import ExportConflict
from overmind_lake.export.base import open_target, run_export

from conftest import make_rows
from s3server import s3_server  # noqa: F401  (session fixture)

HERE = Path(__file__).resolve().parent
WORKER = HERE / "export_files_worker.py"
FORMATS = ("parquet", "delta", "iceberg")
COLUMNS = ["dataset_id", "version", "id", "input", "expected_output", "order", "persona", "tags", "source",
           "agent", "generator_model"]
BIG = 2 ** 53 + 1

TRICKY = [
    {"id": str(uuid.UUID(int=1)), "input": {"z": BIG, "a": -(2 ** 63) - 7, "m": 12345678901234567890123},
     "expected_output": "héllo ✓ 日本語 \U0001F600 \u0000 \"quoted\"",
     "tags": {"deep": {"er": [[[]], {}, None, {"k": [1.5, True, "1"]}]}, "": 0}, "persona": "Zoë",
     "agent": str(uuid.UUID(int=7))},
    {"id": str(uuid.UUID(int=2)), "input": None, "expected_output": [1, "1", 1.0e-7, False, None],
     "tags": None, "persona": None, "generator_model": "gen-ü"},
    {"id": str(uuid.UUID(int=3)), "input": "12345678901234567890", "expected_output": {"b": 1, "a": {"d": 2, "c": 3}},
     "tags": [], "order": 9_223_372_036_854_775_807},
]


def export(lake: overmind_lake.Lake, target: str, fmt: str, **options):
    opened = open_target(target, fmt, options.get("storage_options"))
    try:
        return run_export(lake, opened, options.get("datasets"))
    finally:
        opened.close()


def read_target(target: str, fmt: str) -> pl.DataFrame:
    """Every row of the target, as a distributed engine's user would read it."""
    if fmt == "parquet":
        partitioning = pads.partitioning(pa.schema([("dataset_id", pa.string()), ("version", pa.int64())]),
                                         flavor="hive")
        table = pads.dataset(target, format="parquet", partitioning=partitioning).to_table()
    elif fmt == "delta":
        table = pl.read_delta(target).to_arrow()
    else:
        from pyiceberg.catalog.sql import SqlCatalog

        catalog = SqlCatalog("overmind_lake", uri=f"sqlite:///{target}/_catalog.db", warehouse=f"file://{target}")
        table = catalog.load_table("overmind_lake.datapoints").scan().to_arrow()
        catalog.engine.dispose()
    frame = pl.from_arrow(table).select(COLUMNS)
    return frame.with_columns(pl.col("version").cast(pl.Int64), pl.col("order").cast(pl.Int64),
                              *[pl.col(c).cast(pl.String) for c in COLUMNS if c not in ("version", "order")])


def lake_rows(lake: overmind_lake.Lake) -> pl.DataFrame:
    return lake.sql("SELECT * FROM datapoints").select(COLUMNS).sort("dataset_id", "version", "id")


def counts(frame: pl.DataFrame) -> dict[tuple[str, int], int]:
    grouped = frame.group_by("dataset_id", "version").agg(pl.len(), pl.col("id").n_unique().alias("ids"))
    assert (grouped["len"] == grouped["ids"]).all(), "a datapoint id appears twice in one version"
    return {(r["dataset_id"], r["version"]): r["len"] for r in grouped.iter_rows(named=True)}


def lake_counts(lake: overmind_lake.Lake) -> dict[tuple[str, int], int]:
    return {(d["id"], v["version"]): v["count"] for d in lake.dataset_infos() for v in lake.version_infos(d["id"])
            if v["count"]}


def file_states(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def small_lake(tmp_path) -> overmind_lake.Lake:
    """Two datasets: a's v1 has the tricky JSON, v2 more rows, v3 none; b has one version."""
    lake = overmind_lake.Lake(tmp_path / "lake")
    a = lake.create_dataset("a", TRICKY + make_rows(120))
    lake.add_version(a.dataset_id, make_rows(80, start=500), source="synthetic", generator_model="g")
    lake.add_version(a.dataset_id, [])
    lake.create_dataset("b", make_rows(40))
    return lake


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_equals_the_lake(small_lake, tmp_path, fmt):
    target = str(tmp_path / f"out-{fmt}")
    summary = export(small_lake, target, fmt)
    assert len(summary.versions_exported) == 4 and summary.rows_exported == 243
    got = read_target(target, fmt).sort("dataset_id", "version", "id")
    want = lake_rows(small_lake)
    assert got.equals(want)  # JSON as the same text: key order, big integers, unicode, nesting
    assert counts(got) == lake_counts(small_lake)
    first = got.filter(pl.col("id") == TRICKY[0]["id"]).row(0, named=True)
    assert json.loads(first["input"]) == TRICKY[0]["input"]
    assert list(json.loads(first["input"])) == ["z", "a", "m"]
    assert json.loads(first["input"])["z"] == BIG
    assert json.loads(first["expected_output"]) == TRICKY[0]["expected_output"]
    assert json.loads(first["tags"]) == TRICKY[0]["tags"]
    held = open_target(target, fmt).held()
    assert held == {(d["id"], v["version"]): v["checksum"]
                    for d in small_lake.dataset_infos() for v in small_lake.version_infos(d["id"])}


@pytest.mark.parametrize("fmt", FORMATS)
def test_second_run_exports_nothing_and_rewrites_no_file(small_lake, tmp_path, fmt):
    target = tmp_path / f"out-{fmt}"
    export(small_lake, str(target), fmt)
    before = file_states(target)
    time.sleep(0.05)
    again = export(small_lake, str(target), fmt)
    assert again.versions_exported == [] and again.versions_skipped == 4
    assert file_states(target) == before
    b = small_lake.dataset("b").id
    small_lake.add_version(b, make_rows(7, start=900))
    third = export(small_lake, str(target), fmt)
    assert third.versions_exported == [(b, 2, 7)] and third.versions_skipped == 4
    assert counts(read_target(str(target), fmt)) == lake_counts(small_lake)


@pytest.mark.parametrize("fmt", FORMATS)
def test_datasets_selects_what_is_exported(small_lake, tmp_path, fmt):
    target = str(tmp_path / f"out-{fmt}")
    summary = export(small_lake, target, fmt, datasets=["b"])
    b = small_lake.dataset("b").id
    assert summary.versions_exported == [(b, 1, 40)]
    assert counts(read_target(target, fmt)) == {(b, 1): 40}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_version_with_another_checksum_is_an_error_naming_it(small_lake, tmp_path, fmt):
    target = str(tmp_path / f"out-{fmt}")
    export(small_lake, target, fmt)
    twin = overmind_lake.Lake(tmp_path / "twin")
    shutil.copytree(small_lake.root, twin.root)
    b = small_lake.dataset("b").id
    small_lake.add_version(b, make_rows(5, start=1))
    twin.add_version(b, make_rows(6, start=2))
    export(small_lake, target, fmt)
    before = read_target(target, fmt)
    with pytest.raises(ExportConflict) as info:
        export(twin, target, fmt)
    assert info.value.dataset_id == b and info.value.version == 2
    assert b in str(info.value) and "version 2" in str(info.value)
    assert read_target(target, fmt).sort(COLUMNS).equals(before.sort(COLUMNS))  # nothing overwritten


def _many_versions_lake(root: Path, versions: int = 6, rows: int = 2000) -> overmind_lake.Lake:
    lake = overmind_lake.Lake(root)
    first = lake.create_dataset("many", make_rows(rows))
    for v in range(1, versions):
        lake.add_version(first.dataset_id, make_rows(rows, start=v * rows))
    lake.create_dataset("other", make_rows(300))
    return lake


def _worker(lake_root: str, target: str, fmt: str, pause: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WORKER), lake_root, target, fmt, str(pause)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=HERE.parent)


@pytest.mark.parametrize("fmt", FORMATS)
def test_sigkill_midway_then_rerun_is_exact(tmp_path, fmt):
    lake = _many_versions_lake(tmp_path / "lake")
    target = str(tmp_path / f"out-{fmt}")
    proc = _worker(lake.root, target, fmt, 0.05)
    deadline = time.monotonic() + 120
    held = {}
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(target):
            try:
                held = open_target(target, fmt).held()
            except Exception:  # noqa: BLE001 - the table may be half-created at this instant
                held = {}
        if len(held) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the worker finished before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    total = len(lake_counts(lake))
    assert 2 <= len(held) < total
    partial = counts(read_target(target, fmt))
    want = lake_counts(lake)
    assert all(want[key] == n for key, n in partial.items()), "a killed export left a partial version visible"
    if fmt == "parquet":  # a raw Hive scan (no manifest) sees only whole versions too
        raw = duckdb.sql(f"SELECT dataset_id, version, count(*) FROM read_parquet('{target}/**/*.parquet', "
                         "hive_partitioning = true) GROUP BY ALL").fetchall()
        assert all(want[(d, int(v))] == n for d, v, n in raw)
    rerun = export(lake, target, fmt)
    assert rerun.versions_skipped >= len(held)
    assert counts(read_target(target, fmt)) == want
    assert len(open_target(target, fmt).held()) == total


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_concurrent_exports_land_each_version_once(tmp_path, fmt):
    lake = _many_versions_lake(tmp_path / "lake", versions=5, rows=1500)
    target = str(tmp_path / f"out-{fmt}")
    procs = [_worker(lake.root, target, fmt, 0.01) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    exported = [tuple(v[:2]) for r in results for v in r["exported"]]
    want = lake_counts(lake)
    assert sorted(exported) == sorted(want)  # each version exported by exactly one of the two
    assert counts(read_target(target, fmt)) == want


@pytest.mark.parametrize("fmt,module", [("delta", "deltalake"), ("iceberg", "pyiceberg")])
def test_missing_package_names_the_extra(tmp_path, fmt, module):
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from overmind_lake.errors import MissingExtra\n"
            "from overmind_lake.export.base import open_target\n"
            "try:\n"
            f"    open_target({str(tmp_path / 'out')!r}, {fmt!r})\n"
            "except MissingExtra as exc:\n"
            "    print(exc.extra, '|', exc)\n"
            "    sys.exit(0)\n"
            "sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE.parent)
    assert done.returncode == 0, done.stderr
    extra, _, message = done.stdout.partition("|")
    assert extra.strip() == fmt
    assert f"pip install 'overmind-lake[{fmt}]'" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_lake_on_an_object_store_exports_through_the_arrow_stream(small_lake, tmp_path, fmt):
    remote = overmind_lake.Lake(f"memory://lake-{uuid.uuid4().hex}")
    for info in small_lake.dataset_infos():
        rows = small_lake.sql(f"SELECT * FROM datapoints WHERE dataset_id = '{info['id']}' AND version = 1")
        remote.create_dataset(info["name"], rows.drop("dataset_id", "version"))
    target = str(tmp_path / f"out-{fmt}")
    summary = export(remote, target, fmt)
    assert summary.rows_exported == 163
    got = read_target(target, fmt).drop("dataset_id").sort("version", "id")
    assert got.equals(lake_rows(remote).drop("dataset_id").sort("version", "id"))


def test_parquet_export_to_memory_url(small_lake):
    target = f"memory://export-{uuid.uuid4().hex}"
    summary = export(small_lake, target, "parquet")
    assert summary.rows_exported == 243
    assert export(small_lake, target, "parquet").versions_exported == []
    import fsspec

    fs = fsspec.filesystem("memory")
    files = [p for p in fs.find(target.removeprefix("memory://")) if p.endswith(".parquet")]
    assert len(files) == 3  # one file per non-empty version
    assert open_target(target, "parquet").held().keys() == {
        (d["id"], v["version"]) for d in small_lake.dataset_infos() for v in small_lake.version_infos(d["id"])}


def test_parquet_export_to_s3_round_trips_and_races(small_lake, s3_server):
    import s3fs

    options = s3_server.storage_options()
    target = s3_server.new_root()
    summary = export(small_lake, target, "parquet", storage_options=options)
    assert summary.rows_exported == 243
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    partitioning = pads.partitioning(pa.schema([("dataset_id", pa.string()), ("version", pa.int64())]),
                                     flavor="hive")
    table = pads.dataset(target.removeprefix("s3://"), filesystem=fs, format="parquet",
                         partitioning=partitioning).to_table()
    got = pl.from_arrow(table).select(COLUMNS).with_columns(pl.col("version").cast(pl.Int64))
    assert got.sort("dataset_id", "version", "id").equals(lake_rows(small_lake))
    assert export(small_lake, target, "parquet", storage_options=options).versions_exported == []

    # two exporters racing for the same new version on S3: one lands it, the other reports it present
    import threading

    b = small_lake.dataset("b").id
    small_lake.add_version(b, make_rows(9, start=3000))
    results: list = []
    barrier = threading.Barrier(2)

    def run() -> None:
        opened = open_target(target, "parquet", {**options, "skip_instance_cache": True})
        barrier.wait()
        results.append(run_export(small_lake, opened))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(len(r.versions_exported) for r in results) == [0, 1]
    table = pads.dataset(target.removeprefix("s3://"), filesystem=fs, format="parquet",
                         partitioning=partitioning).to_table()
    assert counts(pl.from_arrow(table).with_columns(pl.col("version").cast(pl.Int64))) == lake_counts(small_lake)


def test_delta_export_to_s3_round_trips_and_races(small_lake, s3_server):
    import threading

    from deltalake import DeltaTable

    from overmind_lake.export.delta import delta_storage_options

    options = s3_server.storage_options()
    target = s3_server.new_root() + "/delta"
    assert export(small_lake, target, "delta", storage_options=options).rows_exported == 243

    def read() -> pl.DataFrame:
        table = DeltaTable(target, storage_options=delta_storage_options(options)).to_pyarrow_table()
        return pl.from_arrow(table).select(COLUMNS)

    assert read().sort("dataset_id", "version", "id").equals(lake_rows(small_lake))
    assert export(small_lake, target, "delta", storage_options=options).versions_exported == []
    b = small_lake.dataset("b").id
    small_lake.add_version(b, make_rows(9, start=3000))
    results: list = []
    barrier = threading.Barrier(2)

    def run() -> None:
        opened = open_target(target, "delta", options)
        barrier.wait()
        results.append(run_export(small_lake, opened))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(len(r.versions_exported) for r in results) == [0, 1]
    assert counts(read()) == lake_counts(small_lake)
