"""Durability under concurrent writers and under writers killed with SIGKILL.

Writers and the reader are separate processes (``durability_worker.py``), so
the lake's own commit protocol, not a lock in this process, keeps versions
whole and numbered without gaps.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import overmind_lake
from overmind_lake.storage.catalog import CommitRecord, commit_path
from overmind_lake.storage.maintenance import committed_versions
from overmind_lake.storage.staging import staged_of

from durability_worker import check_version, rows_for
from hivescan import SCANS, assert_scans_see_committed, committed_groups
from s3server import s3_server  # noqa: F401  (session fixture)

WORKER = str(Path(__file__).with_name("durability_worker.py"))


def spawn(args: list[str], out: Path) -> subprocess.Popen:
    fh = open(out, "w")
    try:
        return subprocess.Popen([sys.executable, WORKER, *args], stdout=fh, stderr=subprocess.STDOUT,
                                cwd=str(Path(__file__).parent))
    finally:
        fh.close()


def json_lines(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def assert_lake_whole(root: str, options: dict | None, dataset: str) -> overmind_lake.Lake:
    """Every committed version is consecutive, complete, and matches its checksum."""
    lake = overmind_lake.Lake(root, options)
    dataset_id = lake.dataset(dataset).id
    versions = lake.versions(dataset)
    n = versions.height
    assert versions["version"].to_list() == list(range(1, n + 1))
    assert committed_versions(lake.fs, dataset_id) == list(range(1, n + 1))  # no record past a gap
    markers = set()
    for row in versions.iter_rows(named=True):
        frame = lake.datapoints(dataset, version=row["version"]).to_polars()
        assert frame.height == row["count"]
        assert check_version(frame, f"version {row['version']}") is None
        assert lake.recompute_checksum(dataset, row["version"]) == row["checksum"]
        if row["message"]:
            assert row["message"] not in markers, f"{row['message']} committed twice"
            markers.add(row["message"])
    assert lake.verify() == []
    return lake


def test_four_writers_and_a_reader(tmp_path):
    root = str(tmp_path / "lake")
    lake = overmind_lake.Lake(root)
    lake.create_dataset("busy", rows_for("seed-0", 3))
    stop = tmp_path / "stop"
    reader = spawn(["read", root, "{}", "busy", str(stop)], tmp_path / "reader.out")
    writers = [spawn(["write", root, "{}", "busy", f"w{w}", "50", "20"], tmp_path / f"w{w}.out")
               for w in range(4)]
    try:
        for w in writers:
            assert w.wait(timeout=120) == 0, (tmp_path / f"w{writers.index(w)}.out").read_text()[-2000:]
    finally:
        stop.touch()
        for w in writers:
            if w.poll() is None:
                w.kill()
    assert reader.wait(timeout=60) == 0
    summary = json_lines(tmp_path / "reader.out")[-1]
    assert summary["n_errors"] == 0, summary["errors"]
    assert summary["reads"] > 0

    reported = [r for w in range(4) for r in json_lines(tmp_path / f"w{w}.out") if "version" in r]
    assert len(reported) == 200
    assert sorted(r["version"] for r in reported) == list(range(2, 202))  # 200 writes after version 1
    lake = assert_lake_whole(root, None, "busy")
    by_version = dict(zip(lake.versions("busy")["version"], lake.versions("busy")["message"]))
    assert all(by_version[r["version"]] == r["marker"] for r in reported)
    assert len(set(by_version.values())) == 201


def run_killing_writers(root: str, options: dict | None, out_dir: Path, *, cycles: int,
                        max_rows: int, seed: int) -> list[dict]:
    """Start writers forever and SIGKILL them at random moments, ``cycles`` times."""
    rng = random.Random(seed)
    opts = json.dumps(options or {})
    reported: list[dict] = []
    running: list[tuple[subprocess.Popen, Path]] = []
    serial = 0

    def start() -> None:
        nonlocal serial
        out = out_dir / f"writer-{serial}.out"
        running.append((spawn(["write", root, opts, "crash", f"k{serial}", "0", str(max_rows)], out), out))
        serial += 1

    start()
    start()
    try:
        for _ in range(cycles):
            proc, out = running.pop(rng.randrange(len(running)))
            deadline = time.monotonic() + 60
            while not out.read_text().count("\n") and time.monotonic() < deadline:
                time.sleep(0.05)  # until it has imported the library and started writing
            time.sleep(rng.uniform(0.05, 1.2))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            reported.extend(r for r in json_lines(out) if "version" in r)
            start()
    finally:
        for proc, out in running:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            reported.extend(r for r in json_lines(out) if "version" in r)
    return reported


def assert_raw_scans_before_any_read(root: str, options: dict | None) -> None:
    """Straight after the kills, before the lake reads (and so settles)
    anything: raw Hive scans see every committed version whose files are in
    place, whole, and no row of an uncommitted write. Only a version whose
    writer was killed between its commit and its move may be short, and its
    missing files must still be staged (docs/staging.md)."""
    expected = committed_groups(root, options)
    fs = overmind_lake.Lake(root, options).fs
    staged = {rel for rel, _ in fs.walk_files("") if "/_staging/" in rel}
    for engine, scan in SCANS.items():
        seen = scan(root, options)
        assert set(seen) <= set(expected), f"{engine} sees uncommitted versions {set(seen) - set(expected)}"
        for (dataset_id, version), rows in expected.items():
            if seen.get((dataset_id, version)) == rows:
                continue
            record = CommitRecord.from_json(fs.read_bytes(commit_path(dataset_id, version)))
            waiting = [f for f in record.files if staged_of(record, f) in staged]
            assert waiting and seen.get((dataset_id, version), 0) == rows - sum(f.rows for f in waiting), \
                (engine, dataset_id, version)


def check_after_crashes(root: str, options: dict | None, reported: list[dict]) -> None:
    assert_raw_scans_before_any_read(root, options)
    lake = assert_lake_whole(root, options, "crash")
    assert_scans_see_committed(root, options)
    by_version = dict(zip(lake.versions("crash")["version"], lake.versions("crash")["message"]))
    assert all(by_version.get(r["version"]) == r["marker"] for r in reported), "a reported version was lost"
    named = {f.path for c in lake.commits("crash") for f in c.files}
    leftovers = {rel for rel, _ in lake.fs.walk_files("") if "/version=" in rel and rel not in named}
    leftovers |= {rel for rel, _ in lake.fs.walk_files("") if rel.rsplit("/", 1)[-1].startswith(".tmp-")}
    leftovers |= {rel for rel, _ in lake.fs.walk_files("") if "/_staging/" in rel}
    assert not any("/version=" in rel and rel not in named for rel, _ in lake.fs.walk_files(""))
    removed = lake.vacuum(older_than=0)
    assert set(removed) == leftovers
    after = {rel for rel, _ in lake.fs.walk_files("")}
    assert named <= after
    assert not any(("/version=" in rel or "/_staging/" in rel) and rel not in named for rel in after)
    assert_lake_whole(root, options, "crash")
    assert_scans_see_committed(root, options)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_writers_killed_at_random_moments_leave_only_whole_versions(tmp_path):
    root = str(tmp_path / "lake")
    overmind_lake.Lake(root).create_dataset("crash", rows_for("seed-0", 5))
    reported = run_killing_writers(root, None, tmp_path, cycles=8, max_rows=20_000, seed=5)
    assert reported, "no writer committed anything"
    check_after_crashes(root, None, reported)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_writers_killed_on_s3_leave_only_whole_versions(tmp_path, s3_server):
    """The same on the S3 server: commit records by conditional put, uploads killed midway."""
    root, options = s3_server.new_root(), s3_server.storage_options()
    overmind_lake.Lake(root, options).create_dataset("crash", rows_for("seed-0", 5))
    reported = run_killing_writers(root, options, tmp_path, cycles=4, max_rows=5_000, seed=11)
    check_after_crashes(root, options, reported)
