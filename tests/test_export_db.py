"""Exports to a real PostgreSQL server and to real DuckDB files (docs/export.md).

Each test exports a lake of awkward JSON (integers beyond 2^53, unicode,
deep nesting, empty containers, null vs absent keys) and compares what the
database holds, row by row, with the lake's own ``datapoints`` view.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import overmind_lake
from overmind_lake.cli import cli
from overmind_lake.errors import ExportConflict, ExportError

from conftest import make_rows

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.pg_baseline import PgCluster, pg_bin_dir  # noqa: E402

HERE = Path(__file__).resolve().parent
WORKER = HERE / "export_db_worker.py"
COLUMNS = ["dataset_id", "version", "id", "input", "expected_output", "order", "persona", "tags", "source",
           "agent", "generator_model"]
JSON_COLUMNS = {"input", "expected_output", "tags"}
AGENT = str(uuid.UUID(int=77))

TRICKY = [
    {"input": {"big": 2 ** 53 + 1, "neg": -(2 ** 63) - 7, "huge": 12345678901234567890123456789,
               "f": 0.1, "e": 1e300},
     "expected_output": "plain string", "tags": None, "persona": ""},
    {"input": {"u": "héllo ☃ 🎉 日本語 \u0007 \\ \" '", "empty": {}, "list": [], "nul": None},
     "expected_output": [1, "1", True, None, 2.5], "tags": {"z": 1, "a": [2, {"k": "v"}]}, "persona": None,
     "agent": None},  # a null agent among the dataset's default ones
    {"input": [[[[[[[[[[[[[[[[[[[[{"deep": [1, [2, [3]]]}]]]]]]]]]]]]]]]]]]]],
     "expected_output": None, "tags": {"number-like": "0012", "agent": AGENT}, "persona": "Zoë — 日本",
     "agent": AGENT, "generator_model": "gpt-x", "source": "synthetic"},
    {"input": 42, "expected_output": False, "tags": [], "persona": "p,with\"quotes\nand newline"},
]


def json_value(text: str | None):
    """A JSON text as a value whose numbers compare exactly (Decimal), as JSON means them."""
    return None if text is None else json.loads(text, parse_float=Decimal, parse_int=Decimal)


def normalized(rows: list[tuple]) -> list[tuple]:
    out = []
    for row in rows:
        out.append(tuple(json_value(v) if COLUMNS[i] in JSON_COLUMNS else
                         (None if v is None else str(v)) if COLUMNS[i] in ("dataset_id", "id", "agent") else v
                         for i, v in enumerate(row)))
    return sorted(out, key=lambda r: (r[0], r[1], r[5], r[2]))


def lake_rows(lake: overmind_lake.Lake, datasets: list[str] | None = None) -> list[tuple]:
    frame = lake.sql("SELECT " + ", ".join(f'"{c}"' for c in COLUMNS) + " FROM datapoints")
    rows = frame.rows()
    if datasets is not None:
        rows = [r for r in rows if r[0] in datasets]
    return normalized(rows)


def make_lake(root: Path) -> tuple[overmind_lake.Lake, dict[str, str]]:
    lake = overmind_lake.Lake(root)
    a = lake.create_dataset("alpha", TRICKY + make_rows(300), agent=AGENT, description="tricky rows")
    lake.add_version(a.dataset_id, make_rows(500, start=1000), message="v2")
    lake.derive(a.dataset_id, add=make_rows(20, start=5000), remove_ids=[], message="v3 derived")
    b = lake.create_dataset("beta", make_rows(700, start=9000), source="production")
    c = lake.create_dataset("gamma", [])  # an empty version is exported too
    return lake, {"alpha": a.dataset_id, "beta": b.dataset_id, "gamma": c.dataset_id}


# -- targets ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_cluster():
    if pg_bin_dir() is None:
        pytest.skip("PostgreSQL 15 server binaries not found")
    with PgCluster() as cluster:
        yield cluster


class PgDatabase:
    def __init__(self, cluster: PgCluster, name: str):
        self.cluster = cluster
        with cluster.connect() as conn:
            conn.execute(f"CREATE DATABASE {name}")
        self.url = f"postgresql://postgres@127.0.0.1:{cluster.port}/{name}"

    def query(self, sql: str, params=None) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def rows(self) -> list[tuple]:
        cols = ", ".join(f'"{c}"::text' if c in JSON_COLUMNS else f'"{c}"' for c in COLUMNS)
        return normalized(self.query(f"SELECT {cols} FROM overmind_datapoints"))

    def versions(self) -> dict[tuple[str, int], tuple[int, str]]:
        rows = self.query("SELECT dataset_id::text, version, count, checksum FROM overmind_versions")
        return {(d, v): (n, c) for d, v, n, c in rows}


class DuckDatabase:
    def __init__(self, path: Path):
        self.path = path
        self.url = f"duckdb://{path}"

    def query(self, sql: str, params=None) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql, params).fetchall()

    def rows(self) -> list[tuple]:
        cols = ", ".join(f'"{c}"::VARCHAR' if c in JSON_COLUMNS else f'"{c}"' for c in COLUMNS)
        return normalized(self.query(f"SELECT {cols} FROM overmind_datapoints"))

    def versions(self) -> dict[tuple[str, int], tuple[int, str]]:
        rows = self.query("SELECT dataset_id::VARCHAR, version, count, checksum FROM overmind_versions")
        return {(d, v): (n, c) for d, v, n, c in rows}


@pytest.fixture(params=["postgres", "duckdb"])
def db(request, tmp_path):
    if request.param == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        return PgDatabase(cluster, f"t_{uuid.uuid4().hex[:12]}")
    return DuckDatabase(tmp_path / "warehouse.duckdb")


@pytest.fixture
def source(tmp_path):
    return make_lake(tmp_path / "lake")


def lake_versions(lake: overmind_lake.Lake, names=None) -> dict[tuple[str, int], tuple[int, str]]:
    out = {}
    for info in lake.dataset_infos():
        if names is None or info["name"] in names:
            for v in lake.version_infos(info["id"]):
                out[(info["id"], v["version"])] = (v["count"], v["checksum"])
    return out


def assert_exact(lake: overmind_lake.Lake, db, names=None) -> None:
    ids = None if names is None else [lake.dataset(n).id for n in names]
    assert db.versions() == lake_versions(lake, names)
    assert db.rows() == lake_rows(lake, ids)


# -- round trip and incremental runs ---------------------------------------------
def test_export_equals_the_lake_and_a_second_run_exports_nothing(source, db):
    lake, ids = source
    summary = lake.export(db.url)
    assert isinstance(summary, overmind_lake.ExportSummary)
    expected = lake_versions(lake)
    assert sorted((d, v) for d, v, _ in summary.versions_exported) == sorted(expected)
    assert {(d, v): n for d, v, n in summary.versions_exported} == {k: n for k, (n, _) in expected.items()}
    assert summary.rows_exported == sum(n for n, _ in expected.values()) == len(lake_rows(lake))
    assert summary.versions_skipped == 0
    assert_exact(lake, db)
    # the JSON values themselves, not only their text: big integers, unicode, nesting
    big = [r for r in db.rows() if isinstance(r[3], dict) and "big" in r[3]]
    assert len(big) == 1 and all(r[3]["big"] == 2 ** 53 + 1 and r[3]["neg"] == -(2 ** 63) - 7 for r in big)
    assert str(summary).startswith(f"exported 5 versions ({summary.rows_exported:,} rows) to ")

    again = lake.export(db.url)
    assert again.versions_exported == [] and again.rows_exported == 0
    assert again.versions_skipped == len(expected)
    assert_exact(lake, db)

    lake.add_version(ids["beta"], make_rows(5, start=20000))  # only the new version goes
    third = lake.export(db.url)
    assert [(d, v) for d, v, _ in third.versions_exported] == [(ids["beta"], 2)]
    assert third.versions_skipped == len(expected)
    assert_exact(lake, db)


def test_datasets_exports_only_those(source, db):
    lake, ids = source
    summary = lake.export(db.url, ["beta", ids["gamma"]])
    assert {d for d, _, _ in summary.versions_exported} == {ids["beta"], ids["gamma"]}
    assert_exact(lake, db, ["beta", "gamma"])
    rest = lake.export(db.url)
    assert {d for d, _, _ in rest.versions_exported} == {ids["alpha"]}
    assert rest.versions_skipped == 2
    assert_exact(lake, db)


def test_a_held_version_with_another_checksum_is_an_error_naming_it(source, db, tmp_path):
    lake, ids = source
    lake.export(db.url, ["beta"])
    before = db.rows()
    other, other_ids = make_lake(tmp_path / "other")  # same ids only if we force them: alter the record
    if isinstance(db, PgDatabase):
        db.query("UPDATE overmind_versions SET checksum = 'f00d' WHERE dataset_id = %s AND version = 1 RETURNING 1",
                 (ids["beta"],))
    else:
        with duckdb.connect(str(db.path)) as con:
            con.execute("UPDATE overmind_versions SET checksum = 'f00d' WHERE dataset_id = ?::UUID", [ids["beta"]])
    with pytest.raises(ExportConflict) as info:
        lake.export(db.url)
    assert info.value.dataset_id == ids["beta"] and info.value.version == 1
    assert ids["beta"] in str(info.value) and "version 1" in str(info.value)
    assert db.rows() == before  # nothing else was written either


def test_the_tables_and_their_types_in_postgres(source, pg_cluster):
    lake, ids = source
    db = PgDatabase(pg_cluster, f"t_{uuid.uuid4().hex[:12]}")
    lake.export(db.url)
    types = dict(db.query("SELECT column_name, data_type FROM information_schema.columns "
                          "WHERE table_name = 'overmind_datapoints'"))
    assert types == {"dataset_id": "uuid", "version": "integer", "id": "uuid", "input": "jsonb",
                     "expected_output": "jsonb", "order": "bigint", "persona": "text", "tags": "jsonb",
                     "source": "text", "agent": "uuid", "generator_model": "text"}
    indexed = {row[0] for row in db.query(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'overmind_datapoints'::regclass")}
    assert any('("order", id)' in d and "source" not in d for d in indexed)
    for column in ("source", "agent", "generator_model"):
        assert any(f'({column}, "order", id)' in d for d in indexed), column
    # the list query's shape reads the one partition of the version through an index
    plan = "\n".join(r[0] for r in db.query(
        "EXPLAIN SELECT id FROM overmind_datapoints WHERE dataset_id = %s AND version = 2 "
        "ORDER BY \"order\", id LIMIT 100", (ids["alpha"],)))
    partitions = {w for w in plan.replace("(", " ").split() if w.startswith("overmind_dp_") and w.endswith("_2")}
    assert len(partitions) == 1, plan
    assert db.query("SELECT name, agent::text, description FROM overmind_datasets WHERE id = %s",
                    (ids["alpha"],)) == [("alpha", AGENT, "tricky rows")]
    (row,) = db.query("SELECT parent_version, message, source_counts, generator_models FROM overmind_versions "
                      "WHERE dataset_id = %s AND version = 3", (ids["alpha"],))
    assert row[0] == 2 and row[1] == "v3 derived" and set(row[2]) == set(overmind_lake.SOURCES)
    assert sorted(row[3]) == sorted(lake.version_infos("alpha")[2]["generator_models"])


def test_the_tables_and_their_types_in_duckdb(source, tmp_path):
    lake, _ = source
    db = DuckDatabase(tmp_path / "w.duckdb")
    lake.export(db.url)
    types = dict(db.query("SELECT column_name, data_type FROM information_schema.columns "
                          "WHERE table_name = 'overmind_datapoints'"))
    assert types == {"dataset_id": "UUID", "version": "INTEGER", "id": "UUID", "input": "JSON",
                     "expected_output": "JSON", "order": "BIGINT", "persona": "VARCHAR", "tags": "JSON",
                     "source": "VARCHAR", "agent": "UUID", "generator_model": "VARCHAR"}
    # DuckDB keeps the JSON text as written: key order too
    texts = {r[0] for r in db.query("SELECT tags::VARCHAR FROM overmind_datapoints WHERE tags IS NOT NULL")}
    assert '{"z":1,"a":[2,{"k":"v"}]}' in texts


# -- crashes and overlapping runs ------------------------------------------------
def _worker(root: Path, url: str, pause: float, marker: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    extra = [str(marker)] if marker else []
    return subprocess.Popen([sys.executable, str(WORKER), str(root), url, str(pause), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _held(db) -> int:
    try:
        return len(db.versions())
    except Exception:  # noqa: BLE001 - the tables may not exist yet, or DuckDB's file is locked
        return -1


def test_a_run_killed_midway_then_rerun_ends_exact(source, db, tmp_path):
    lake, _ = source
    marker = tmp_path / "batches"
    proc = _worker(Path(lake.root), db.url, 0.15, marker)
    try:
        deadline = time.monotonic() + 60
        if isinstance(db, PgDatabase):  # kill once a version has landed and the next is loading
            while _held(db) < 1 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            time.sleep(0.3)
        else:  # the DuckDB file is locked while the worker runs: kill it once batches are loading
            while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline \
                    and proc.poll() is None:
                time.sleep(0.02)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    held = _held(db)
    assert held < len(lake_versions(lake))  # it really was stopped midway
    if held > 0:  # what landed is whole
        for (d, v), (n, c) in db.versions().items():
            assert lake_versions(lake)[(d, v)] == (n, c)
        landed = {k for k in db.versions()}
        assert {(r[0], r[1]) for r in db.rows()} <= landed
    summary = lake.export(db.url)
    assert summary.versions_skipped == max(held, 0)
    assert_exact(lake, db)


def test_two_concurrent_runs_load_every_version_exactly_once(source, db):
    lake, _ = source
    procs = [_worker(Path(lake.root), db.url, 0.01) for _ in range(2)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    exported = [tuple(v[:2]) for r in results for v in r["exported"]]
    assert sorted(exported) == sorted(lake_versions(lake))  # each version by exactly one of them
    assert all(r["skipped"] + len(r["exported"]) == len(lake_versions(lake)) for r in results)
    assert_exact(lake, db)


def _hold_duckdb(path: Path, seconds: float) -> subprocess.Popen:
    """Another process that opens ``path`` for writing and keeps it ``seconds``."""
    code = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(float(sys.argv[2]))"
    return subprocess.Popen([sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)


def test_duckdb_waits_for_a_file_another_process_holds(source, tmp_path):
    lake, _ = source
    path = tmp_path / "held.duckdb"
    holder = _hold_duckdb(path, 2)
    assert holder.stdout.readline().strip() == "held"
    t0 = time.monotonic()
    summary = lake.export(f"duckdb://{path}")
    assert time.monotonic() - t0 > 0.5  # it waited for the other process to let go
    holder.wait(timeout=30)
    assert summary.rows_exported == sum(n for n, _ in lake_versions(lake).values())

    from overmind_lake.export.duckdb_target import DuckDBTarget

    holder = _hold_duckdb(path, 30)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ExportError, match="held by another process"):
            DuckDBTarget(str(path), lock_timeout=0.5)
    finally:
        holder.kill()
        holder.wait()


# -- the command line and errors ---------------------------------------------------
def test_cli_export_prints_one_summary_line(source, db):
    lake, ids = source
    runner = CliRunner()
    result = runner.invoke(cli, ["export", "--root", lake.root, "--to", db.url, "--dataset", "beta"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("exported 1 version (700 rows) to ")
    assert lines[0].endswith(" s") and "0 already present" in lines[0]
    result = runner.invoke(cli, ["export", "--root", lake.root, "--to", db.url])
    assert result.exit_code == 0
    assert "exported 4 versions" in result.output and "1 already present" in result.output
    assert_exact(lake, db)


def test_cli_export_errors(source, tmp_path):
    lake, _ = source
    runner = CliRunner()
    bad = runner.invoke(cli, ["export", "--root", lake.root, "--to", f"duckdb://{tmp_path}/w.duckdb",
                              "--format", "delta"])
    assert bad.exit_code == 1 and "--format delta applies to a directory" in bad.output
    missing_dir = runner.invoke(cli, ["export", "--root", lake.root, "--to", f"duckdb://{tmp_path}/no/w.duckdb"])
    assert missing_dir.exit_code == 1 and "does not exist" in missing_dir.output
    unknown = runner.invoke(cli, ["export", "--root", lake.root, "--to", str(tmp_path / "x"), "--format", "csv"])
    assert unknown.exit_code == 2
    nodata = runner.invoke(cli, ["export", "--root", lake.root, "--to", f"duckdb://{tmp_path}/w.duckdb",
                                 "--dataset", "no-such-dataset"])
    assert nodata.exit_code == 1 and "no-such-dataset" in nodata.output
    unreachable = runner.invoke(cli, ["export", "--root", lake.root, "--to",
                                      "postgresql://nobody:secret@127.0.0.1:1/nowhere"])
    assert unreachable.exit_code == 1 and "cannot connect" in unreachable.output
    assert "secret" not in unreachable.output
    with pytest.raises(ExportError, match="unknown export format"):
        lake.export(str(tmp_path / "x"), format="orc")


def test_missing_psycopg_names_the_postgres_extra(tmp_path):
    code = ("import sys; sys.modules['psycopg'] = None\n"
            "import overmind_lake\n"
            "try:\n"
            "    overmind_lake.Lake(sys.argv[1]).export('postgresql://u@127.0.0.1:1/db')\n"
            "except overmind_lake.MissingExtra as exc:\n"
            "    print(exc.extra, '|', exc)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lake")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    extra, message = out.stdout.strip().split(" | ")
    assert extra == "postgres" and "pip install 'overmind-lake[postgres]'" in message


def test_a_value_postgres_cannot_hold_fails_its_version_whole(tmp_path, pg_cluster):
    lake = overmind_lake.Lake(tmp_path / "lake")
    good = lake.create_dataset("good", make_rows(50))
    bad = lake.create_dataset("bad", make_rows(50) + [{"input": {"text": "nul \u0000 here"}}])
    db = PgDatabase(pg_cluster, f"t_{uuid.uuid4().hex[:12]}")
    with pytest.raises(ExportError) as info:
        lake.export(db.url)
    assert bad.dataset_id in str(info.value) and "version 1" in str(info.value)
    assert {d for d, _ in db.versions()} <= {good.dataset_id}
    assert {r[0] for r in db.rows()} <= {good.dataset_id}  # nothing of the failed version
    lake.export(db.url, ["good"])  # the other dataset still goes
    assert_exact(lake, db, ["good"])


def test_cli_draws_a_row_progress_bar_only_on_a_terminal(source, tmp_path, monkeypatch):
    lake, _ = source
    export_cli = sys.modules["overmind_lake.cli.export"]  # the package attribute is the command

    runner = CliRunner()
    quiet = runner.invoke(cli, ["export", "--root", lake.root, "--to", f"duckdb://{tmp_path}/a.duckdb"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    monkeypatch.setattr(export_cli, "show_progress", lambda: True)
    shown = runner.invoke(cli, ["export", "--root", lake.root, "--to", f"duckdb://{tmp_path}/b.duckdb"])
    assert shown.exit_code == 0 and shown.stdout.startswith("exported 5 versions")
    total = sum(n for n, _ in lake_versions(lake).values())
    assert "export" in shown.stderr and "row" in shown.stderr and f"{total / 1000:.2f}k" in shown.stderr
