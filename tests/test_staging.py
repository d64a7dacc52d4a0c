"""Staged writes (docs/staging.md): a raw Hive scan of the root sees exactly
the committed versions, whatever moment a writer is killed at.

Writers are real processes killed with SIGKILL at chosen points of the
protocol (``durability_worker.py crash``); the root is then scanned the way
an outside engine does (DuckDB, pyarrow.dataset, Polars; hivescan.py), on
local disk and on the moto S3 server.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import overmind_lake
from overmind_lake.storage.catalog import CommitRecord, commit_path
from overmind_lake.storage.staging import STAGING_DIR

from durability_worker import check_version, rows_for
from hivescan import SCANS, assert_scans_see_committed, committed_groups
from s3server import s3_server  # noqa: F401  (session fixture)

WORKER = str(Path(__file__).with_name("durability_worker.py"))
ROWS = 35  # streamed in files of 10 rows: four data files

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def kill_writer_at(root: str, options: dict | None, point: str, tag: str = "dead") -> None:
    """Run one streamed write in a separate process that SIGKILLs itself at ``point``."""
    done = subprocess.run([sys.executable, WORKER, "crash", root, json.dumps(options or {}), "crash", tag, point,
                           str(ROWS)], capture_output=True, text=True, timeout=180,
                          cwd=str(Path(__file__).parent))
    assert done.returncode == -signal.SIGKILL, done.stdout[-2000:] + done.stderr[-2000:]
    assert "survived" not in done.stdout


def staged_files(lake: overmind_lake.Lake) -> set[str]:
    return {rel for rel, _ in lake.fs.walk_files("") if f"/{STAGING_DIR}/" in rel}


def unmoved_files(lake: overmind_lake.Lake, version: int) -> set[str]:
    """Staged files of ``version`` whose final copy is not in place. (On S3 a move killed
    between its copy and its delete leaves a redundant staged copy beside the final file:
    vacuum removes that one only after the grace period, like any other leftover.)"""
    in_place = {rel.rsplit("/", 1)[-1] for rel, _ in lake.fs.walk_files("") if f"/version={version}/" in rel}
    return {rel for rel in staged_files(lake) if rel.rsplit("/", 1)[-1].removesuffix(".staged") not in in_place}


def new_lake(root: str, options: dict | None) -> tuple[overmind_lake.Lake, str]:
    lake = overmind_lake.Lake(root, options)
    lake.create_dataset("crash", rows_for("seed-0", 5))
    lake.add_version("crash", rows_for("seed-1", 12))
    lake.create_dataset("other", rows_for("other-0", 3))
    return lake, lake.dataset("crash").id


def root_on(backend: str, request, tmp_path) -> tuple[str, dict | None]:
    """A fresh root on local disk or on the S3 server, with its storage options."""
    if backend == "local":
        return str(tmp_path / "lake"), None
    server = request.getfixturevalue("s3_server")
    return server.new_root(), server.storage_options()


@pytest.fixture(params=["local", "s3"])
def where(request, tmp_path):
    return root_on(request.param, request, tmp_path)


# Every crash point on local disk; on S3 (slower) the ones whose S3 state differs.
@pytest.mark.parametrize("backend,point", [("local", "writing"), ("local", "staged"), ("s3", "writing")])
def test_a_write_killed_before_its_commit_is_invisible_to_raw_scans(request, tmp_path, backend, point):
    root, options = root_on(backend, request, tmp_path)
    lake, _ = new_lake(root, options)
    kill_writer_at(root, options, point)
    left = staged_files(lake)
    assert left, "the killed writer wrote nothing"
    assert all(not rel.endswith(".parquet") for rel in left)
    expected = assert_scans_see_committed(root, options)
    assert sorted(v for (_, v) in expected) == [1, 1, 2]
    assert lake.verify() == []

    assert lake.vacuum() == []  # within the grace period: maybe still being written
    assert set(lake.vacuum(older_than=0)) == left
    assert staged_files(lake) == set()
    assert lake.add_version("crash", rows_for("next", 4)).version == 3
    assert_scans_see_committed(root, options)


@pytest.mark.parametrize("backend,point,settle_by", [
    ("local", "committed", "read"), ("local", "committed", "vacuum"), ("local", "moving", "read"),
    ("local", "moving", "vacuum"), ("s3", "committed", "read"), ("s3", "moving", "vacuum")])
def test_a_write_killed_after_its_commit_reads_whole_and_rolls_forward(request, tmp_path, backend, point,
                                                                         settle_by):
    root, options = root_on(backend, request, tmp_path)
    lake, dataset_id = new_lake(root, options)
    kill_writer_at(root, options, point)
    key = (dataset_id, 3)
    committed = committed_groups(root, options)
    assert committed[key] == ROWS

    # The window between commit and move: raw scans miss the files not moved yet
    # (on S3 the files move side by side: more than one may be in place).
    moved = SCANS["duckdb"](root, options).get(key, 0)
    if point == "committed" or options is None:
        assert moved == (0 if point == "committed" else 10)
    else:
        assert 10 <= moved <= ROWS and moved % 10 in (0, ROWS % 10)
    for engine, scan in SCANS.items():
        seen = scan(root, options)
        assert seen.get(key, 0) == moved, engine
        assert {k: n for k, n in seen.items() if k != key} == {k: n for k, n in committed.items() if k != key}
    problems = overmind_lake.Lake(root, options).verify()
    in_place = [rel for rel, _ in lake.fs.walk_files(f"dataset_id={dataset_id}/version=3")]
    assert len(problems) == 4 - len(in_place)
    assert all("still staged" in p and "version 3" in p for p in problems)

    # ...and the version is whole through the lake; reading it, or vacuum, finishes the move.
    fresh = overmind_lake.Lake(root, options)
    if settle_by == "read":
        frame = fresh.datapoints("crash", version=3).to_polars()
        assert frame.height == ROWS and check_version(frame, "version 3") is None
        assert fresh.datapoints("crash", version=3).page(page="last", page_size=7)["count"] == ROWS
    else:
        assert fresh.vacuum() == []  # moves, removes nothing
    assert_scans_see_committed(root, options)
    assert unmoved_files(fresh, 3) == set()
    if options is None:  # local moves are renames: nothing staged is left at all
        assert staged_files(fresh) == set()
    assert fresh.verify() == []
    assert fresh.recompute_checksum("crash", 3) == fresh.versions("crash")["checksum"][2]
    assert fresh.add_version("crash", rows_for("next", 4)).version == 4
    assert_scans_see_committed(root, options)


def test_s3_a_write_killed_between_copy_and_delete_leaves_a_redundant_staged_copy(s3_server):
    """S3's move is copy + delete: killed in between, every file is in place
    (reads need no move) and vacuum removes the staged copy once it is old."""
    root, options = s3_server.new_root(), s3_server.storage_options()
    lake, dataset_id = new_lake(root, options)
    kill_writer_at(root, options, "copied")
    in_place = {rel for rel, _ in lake.fs.walk_files(f"dataset_id={dataset_id}/version=3")}
    copied = len(in_place)
    assert copied >= 1 and len(staged_files(lake)) == 4  # (copies run side by side: maybe more than one)
    record = CommitRecord.from_json(lake.fs.read_bytes(commit_path(dataset_id, 3)))  # raw: settles nothing
    rows_in_place = sum(f.rows for f in record.files if f.path in in_place)
    for engine, scan in SCANS.items():
        assert scan(root, options).get((dataset_id, 3)) == rows_in_place, engine
    fresh = overmind_lake.Lake(root, options)
    assert fresh.datapoints("crash", version=3).count() == ROWS
    assert_scans_see_committed(root, options)
    twin = staged_files(fresh)
    assert len(twin) == copied  # the copied files' staged twins, left for vacuum
    assert fresh.vacuum() == []  # within the grace period
    assert set(fresh.vacuum(older_than=-60)) == twin
    assert staged_files(fresh) == set()
    assert fresh.verify() == []
    assert_scans_see_committed(root, options)


def test_a_reader_that_cannot_move_the_files_reads_the_staged_copies(tmp_path):
    """The move fails (here: a plain file sits where ``version=3/`` must go,
    which stops root too, unlike permissions): the reader reads the staged
    copies, does not cache that answer, and a later reader moves them."""
    root = str(tmp_path / "lake")
    lake, dataset_id = new_lake(root, None)
    kill_writer_at(root, None, "committed")
    blocker = tmp_path / "lake" / f"dataset_id={dataset_id}" / "version=3"
    blocker.write_bytes(b"in the way")
    reader = overmind_lake.Lake(root)
    frame = reader.datapoints("crash", version=3).to_polars()
    assert frame.height == ROWS and check_version(frame, "version 3") is None
    assert len(staged_files(reader)) == 4  # nothing moved
    assert reader.catalog._commits.get((dataset_id, 3)) is None  # not cached: it may move any time
    blocker.unlink()
    assert reader.datapoints("crash", version=3).count() == ROWS  # this time it moves them
    assert staged_files(reader) == set()
    assert_scans_see_committed(root)


def test_vacuum_never_touches_a_write_in_flight(tmp_path):
    """A staging directory is judged by its newest file: a write that keeps
    adding files is left alone even when its first files are old."""
    import os
    import time

    root = str(tmp_path / "lake")
    lake, dataset_id = new_lake(root, None)
    kill_writer_at(root, None, "staged")
    left = sorted(staged_files(lake))
    old = time.time() - 7200
    for rel in left[:-1]:
        os.utime(lake.fs.path(rel), (old, old))
    assert lake.vacuum() == []  # the newest file is fresh
    os.utime(lake.fs.path(left[-1]), (old, old))
    assert sorted(lake.vacuum()) == left
    assert list((tmp_path / "lake" / f"dataset_id={dataset_id}" / STAGING_DIR).iterdir()) == []


def test_concurrent_writers_get_consecutive_versions_and_raw_scans_see_them(where):
    root, options = where
    overmind_lake.Lake(root, options).create_dataset("race", rows_for("seed", 2))
    results, errors = [], []

    def writer(t: int) -> None:
        lake = overmind_lake.Lake(root, options)
        try:
            for i in range(4):
                v = lake.add_version("race", rows_for(f"t{t}-{i}", 3 + t + i), message=f"t{t}-{i}")
                results.append(v.version)
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == list(range(2, 14))
    lake = overmind_lake.Lake(root, options)
    assert lake.versions("race")["version"].to_list() == list(range(1, 14))
    assert staged_files(lake) == set()  # a lost race needs no move, a won one left nothing staged
    for commit in lake.commits("race"):
        assert all(f"/version={commit.version}/" in f.path for f in commit.files)
    expected = assert_scans_see_committed(root, options)
    assert sum(expected.values()) == lake.datapoints("race", version_min=1).count()
    assert lake.verify() == []


def test_a_lake_written_before_staging_still_reads(tmp_path):
    """Old lakes: files written straight into version=<n>/, records without
    ``staged_in``, read and verify as before and cost no extra request."""
    import orjson

    root = str(tmp_path / "lake")
    lake = overmind_lake.Lake(root)
    lake.create_dataset("old", rows_for("old-0", 20))
    lake.add_version("old", rows_for("old-1", 7))
    dataset_id = lake.dataset("old").id
    for commit in lake.commits("old"):
        path = tmp_path / "lake" / f"dataset_id={dataset_id}" / "_commits" / f"_{commit.version:08d}.json"
        obj = orjson.loads(path.read_bytes())
        obj["extra"].pop("staged_in")
        path.write_bytes(orjson.dumps(obj))
    old = overmind_lake.Lake(root)
    assert all(not c.extra for c in old.commits("old"))
    assert old.datapoints("old", version=2).count() == 7
    assert old.verify() == [] and old.vacuum(older_than=0) == []
    assert old.add_version("old", rows_for("old-2", 3)).version == 3
    assert_scans_see_committed(root)
