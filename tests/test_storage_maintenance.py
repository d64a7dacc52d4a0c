"""``verify`` names damaged files by version and path; ``vacuum`` removes only leftovers."""

from __future__ import annotations

import os
import time

import orjson
import pytest

import overmind_lake
from overmind_lake.errors import DatasetNotFound
from overmind_lake.storage.catalog import CommitRecord, commit_path, name_path

from conftest import make_rows


@pytest.fixture
def filled(lake):
    lake.create_dataset("evals", make_rows(300))
    lake.add_version("evals", make_rows(50, start=1000))
    return lake


def data_file(lake, version: int = 1) -> tuple[str, str]:
    commit = lake.commits("evals")[version - 1]
    rel = commit.files[0].path
    return rel, lake.fs.path(rel)


def test_healthy_lake_verifies_clean(filled):
    assert filled.verify() == []
    assert filled.verify("evals") == []
    with pytest.raises(DatasetNotFound):
        filled.verify("no-such-dataset")


def test_one_flipped_byte_is_named_with_path_and_version(filled):
    rel, full = data_file(filled)
    data = bytearray(open(full, "rb").read())
    data[len(data) // 2] ^= 0x01
    open(full, "wb").write(bytes(data))
    problems = filled.verify()
    assert len(problems) == 1
    assert "version 1" in problems[0] and rel in problems[0] and "altered" in problems[0]
    assert filled.verify("evals") == problems


def test_truncated_and_missing_files_are_named(filled):
    rel1, full1 = data_file(filled, 1)
    rel2, full2 = data_file(filled, 2)
    with open(full1, "r+b") as fh:
        fh.truncate(100)
    os.unlink(full2)
    problems = filled.verify()
    assert any("version 1" in p and rel1 in p and "truncated" in p for p in problems)
    assert any("version 2" in p and rel2 in p and "missing" in p for p in problems)


def test_rows_that_do_not_match_the_checksum_are_named(filled):
    """A data file swapped for other valid rows, its size and sha256 in the record updated."""
    dataset_id = filled.dataset("evals").id
    commits = filled.commits("evals")
    donor = commits[1].files[0]
    record_path = commit_path(dataset_id, 1)
    obj = orjson.loads(filled.fs.read_bytes(record_path))
    obj["files"] = [{"path": donor.path, "rows": donor.rows, "bytes": donor.bytes, "sha256": donor.sha256}]
    os.chmod(filled.fs.path(record_path), 0o644)
    open(filled.fs.path(record_path), "wb").write(orjson.dumps(obj))
    problems = overmind_lake.Lake(filled.root).verify()
    assert any("version 1" in p and "checksum mismatch" in p for p in problems)
    assert any("version 1" in p and "row count mismatch" in p for p in problems)


def test_recomputed_checksum_matches_every_commit(filled):
    filled.derive("evals", remove_ids=filled.datapoints("evals").to_polars()["id"][:3].to_list())
    filled.add_version("evals", [])
    for row in filled.versions("evals").iter_rows(named=True):
        assert filled.recompute_checksum("evals", row["version"]) == row["checksum"]


def age(lake, rel: str, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(lake.fs.path(rel), (past, past))


def test_vacuum_removes_only_old_leftovers(filled):
    dataset_id = filled.dataset("evals").id
    committed = {f.path for c in filled.commits("evals") for f in c.files}
    before = {rel for rel, _ in filled.fs.walk_files("")}
    leftovers = [
        f"dataset_id={dataset_id}/version=3/part-dead-0000.parquet",      # killed before commit
        f"dataset_id={dataset_id}/version=1/part-loser-0000.parquet",     # lost a race, killed before moving
        f"dataset_id={dataset_id}/version=2/.tmp-0123",                   # half-written data file
        f"dataset_id={dataset_id}/_commits/.tmp-4567",                    # half-written commit record
        ".tmp-89ab",
    ]
    for rel in leftovers:
        filled.fs.write_bytes(rel, b"junk")
    fresh = f"dataset_id={dataset_id}/version=3/part-inflight-0000.parquet"
    filled.fs.write_bytes(fresh, b"a write still in flight")
    for rel in leftovers:
        age(filled, rel, 7200)
    for rel in before:  # committed data and records are old too: still never removed
        age(filled, rel, 7200)

    assert sorted(filled.vacuum()) == sorted(leftovers)
    after = {rel for rel, _ in filled.fs.walk_files("")}
    assert after == before | {fresh}
    assert committed <= after
    assert filled.verify() == []
    assert filled.vacuum(older_than=-1) == [fresh]
    assert filled.vacuum(older_than=0) == []
    assert filled.datapoints("evals", version_min=1).count() == 350


def test_vacuum_releases_the_name_of_a_dataset_that_never_committed(lake):
    """create_dataset killed after claiming the name: the name is taken until vacuum."""
    lake.create_dataset("kept", make_rows(2))
    ghost_id = "00000000-0000-4000-8000-000000000001"
    lake.catalog.claim_name("ghost", ghost_id)
    lake.fs.write_bytes(f"dataset_id={ghost_id}/_dataset.json", b"{}")
    with pytest.raises(overmind_lake.DatasetExists):
        lake.create_dataset("ghost", make_rows(1))
    assert lake.vacuum() == []  # within the grace period: maybe still being created
    for rel in (name_path("ghost"), f"dataset_id={ghost_id}/_dataset.json", name_path("kept")):
        age(lake, rel, 7200)
    removed = lake.vacuum()
    assert sorted(removed) == sorted([name_path("ghost"), f"dataset_id={ghost_id}/_dataset.json"])
    assert lake.create_dataset("ghost", make_rows(1)).version == 1
    assert sorted(lake.datasets()["name"]) == ["ghost", "kept"]
    assert lake.verify() == []


def test_vacuum_leaves_a_dataset_with_an_unreadable_commit_alone(filled):
    dataset_id = filled.dataset("evals").id
    stray = f"dataset_id={dataset_id}/version=9/part-x-0000.parquet"
    filled.fs.write_bytes(stray, b"junk")
    open(filled.fs.path(commit_path(dataset_id, 2)), "wb").write(b"{torn")
    assert filled.vacuum(older_than=-1) == []
    fresh = overmind_lake.Lake(filled.root)
    assert any("version 2" in p and "unreadable commit record" in p for p in fresh.verify())
    assert isinstance(CommitRecord.from_json(filled.fs.read_bytes(commit_path(dataset_id, 1))), CommitRecord)
