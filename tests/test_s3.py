"""Every lake operation on s3:// (a moto server over HTTP), memory:// and file:// roots."""

from __future__ import annotations

import threading
import uuid

import pytest

import overmind_lake
from overmind_lake.errors import StorageError
from overmind_lake.storage.catalog import commit_path
from overmind_lake.storage.filesystem import LakeFileSystem

from conftest import make_rows
from s3server import s3_server  # noqa: F401  (session fixture)


@pytest.fixture(params=["s3", "memory", "file"])
def remote_lake(request, tmp_path):
    """(root, storage_options) of an empty lake on each kind of fsspec root."""
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        return server.new_root(), server.storage_options()
    if request.param == "memory":
        return f"memory://lake-{uuid.uuid4().hex}", None
    return (tmp_path / "lake").as_uri(), None


def test_every_operation_on_any_root(remote_lake):
    root, options = remote_lake
    lake = overmind_lake.Lake(root, options)
    v1 = lake.create_dataset("evals", make_rows(25), message="first")
    v2 = lake.add_version("evals", make_rows(10, start=100), source="synthetic")
    first_id = lake.datapoints("evals", version=1).to_polars()["id"][0]
    v3 = lake.derive("evals", from_version=1, add=make_rows(2, start=500), remove_ids=[first_id])
    assert (v1.version, v2.version, v3.version) == (1, 2, 3)
    assert v3.count == 26 and v3.parent_version == 1

    assert lake.datapoints("evals").count() == 26
    assert lake.datapoints("evals", version_min=1).count() == 61
    page = lake.datapoints("evals", version=2).page(page=1, page_size=4)
    assert page["count"] == 10 and len(page["results"]) == 4
    last = lake.datapoints("evals", version=2).page(page="last", page_size=4)
    assert len(last["results"]) == 2 and last["next"] is None
    frame = lake.datapoints("evals", version=1).to_polars()
    assert frame.height == 25

    counts = lake.sql("SELECT version, count(*) AS n FROM datapoints GROUP BY 1 ORDER BY 1")
    assert counts["n"].to_list() == [25, 10, 26]
    assert lake.versions("evals")["version"].to_list() == [1, 2, 3]
    assert not lake.diff("evals", 1, 3).is_empty()

    assert lake.verify() == [] and lake.verify("evals") == []
    for version, recorded in zip([1, 2, 3], lake.versions("evals")["checksum"]):
        assert lake.recompute_checksum("evals", version) == recorded

    # A leftover of a crashed write: vacuumed once past the grace period, never before.
    stray = f"dataset_id={v1.dataset_id}/version=4/part-crashed-0000.parquet"
    lake.fs.write_bytes(stray, b"not parquet")
    assert lake.vacuum() == []
    assert lake.vacuum(older_than=-60) == [stray]
    assert not lake.fs.exists(stray)
    assert lake.verify() == []
    assert lake.datapoints("evals", version_min=1).count() == 61


def test_a_second_process_view_is_never_stale(s3_server):
    """Two independent s3fs clients: each sees the other's commits at once."""
    root, options = s3_server.new_root(), s3_server.storage_options()
    a = overmind_lake.Lake(root, options)
    b = overmind_lake.Lake(root, {**options, "skip_instance_cache": True})
    assert a.fs.fs is not b.fs.fs
    assert b.datasets().is_empty()
    a.create_dataset("one", make_rows(3))
    assert b.datasets()["name"].to_list() == ["one"]
    assert b.dataset_info("one")["latest_version"] == 1
    b.add_version("one", make_rows(4))
    assert a.dataset_info("one")["latest_version"] == 2
    assert a.datapoints("one").count() == 4
    a.create_dataset("two", make_rows(1))
    assert sorted(b.datasets()["name"]) == ["one", "two"]


def test_s3_exclusive_create_is_a_conditional_put(s3_server):
    fs = LakeFileSystem(s3_server.new_root(), s3_server.storage_options())
    assert fs.supports_atomic_create()
    assert fs.create_exclusive("_x/record.json", b"first")
    assert not fs.create_exclusive("_x/record.json", b"second")
    assert fs.read_bytes("_x/record.json") == b"first"
    # Many clients racing for one name: exactly one wins.
    wins = []
    clients = [LakeFileSystem(fs.url, {**s3_server.storage_options(), "skip_instance_cache": True})
               for _ in range(6)]
    threads = [threading.Thread(target=lambda c=c, i=i: wins.append(c.create_exclusive("_x/race.json", b"%d" % i)))
               for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 5 + [True]


def test_store_without_conditional_put_is_refused_for_writing(s3_server):
    root, options = s3_server.new_root(), s3_server.storage_options()
    lake = overmind_lake.Lake(root, {**options, "skip_instance_cache": True})
    plain_pipe = lake.fs.fs.pipe_file

    def pipe_ignoring_condition(path, data, mode="overwrite", **kwargs):
        return plain_pipe(path, data, **kwargs)  # a store that ignores If-None-Match

    lake.fs.fs.pipe_file = pipe_ignoring_condition
    with pytest.raises(StorageError, match="refusing to write"):
        lake.create_dataset("nope", make_rows(2))
    assert lake.datasets().is_empty()


def test_racing_writers_on_s3_get_consecutive_versions(s3_server):
    root, options = s3_server.new_root(), s3_server.storage_options()
    overmind_lake.Lake(root, options).create_dataset("race", make_rows(1))
    lakes = [overmind_lake.Lake(root, {**options, "skip_instance_cache": True}) for _ in range(3)]
    results, errors = [], []

    def writer(lake, tag):
        try:
            for i in range(4):
                results.append((lake.add_version("race", make_rows(3), message=f"{tag}-{i}").version, f"{tag}-{i}"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(lake, t)) for t, lake in enumerate(lakes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    versions = overmind_lake.Lake(root, options).versions("race")
    assert versions["version"].to_list() == list(range(1, 14))
    assert sorted(v for v, _ in results) == list(range(2, 14))
    by_version = dict(zip(versions["version"], versions["message"]))
    assert all(by_version[v] == marker for v, marker in results)
    lake = overmind_lake.Lake(root, options)
    assert lake.verify() == []
    # A lost race costs no move (files stay staged until the commit):
    # every named file sits under its own version.
    for commit in lake.commits("race"):
        assert all(f"/version={commit.version}/" in f.path for f in commit.files)
    assert lake.fs.exists(commit_path(lake.dataset("race").id, 13))
