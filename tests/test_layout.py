"""§2/§3: the checksum and every read are independent of the file layout —
versions split over several files and many row groups read exactly as a
single file does. (The layout knobs are the writer's own constants, made
small so a few hundred rows span many files and row groups.)"""

from __future__ import annotations

import uuid

import pytest

import overmind_lake
from overmind_lake.storage import writer
from conftest import make_rows

ORDERINGS = [None, "-order", "persona,-id", "-version,source", "generator_model,order", "id"]


def _rows(n, seed):
    rows = make_rows(n, start=seed * 1000)
    for i, r in enumerate(rows):
        r["id"] = str(uuid.UUID(int=seed * 100000 + (i * 7919) % 100000 + 1))
        r["order"] = (i * 37) % (n // 2 + 1)
    return rows


def _walk(q, size):
    out, page = [], 1
    while True:
        body = q.page(page=page, page_size=size)
        out.extend(body["results"])
        if body["next"] is None:
            return out
        page += 1


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    """The same three versions written as one file each, and as many small files."""
    root = tmp_path_factory.mktemp("layout")
    single = overmind_lake.Lake(root / "single")
    versions = [_rows(300, 1), _rows(170, 2), _rows(1, 3)]
    for i, rows in enumerate(versions):
        (single.create_dataset if i == 0 else single.add_version)("d", rows)
    split = overmind_lake.Lake(root / "split")
    mp = pytest.MonkeyPatch()
    mp.setattr(writer, "ROWS_PER_FILE", 37)
    mp.setattr(writer, "ROW_GROUP_SIZE", 5)
    try:
        for i, rows in enumerate(versions):
            (split.create_dataset if i == 0 else split.add_version)("d", rows)
    finally:
        mp.undo()
    return single, split


def test_files_really_split(lakes):
    single, split = lakes
    assert [len(c.files) for c in single.commits("d")] == [1, 1, 1]
    assert [len(c.files) for c in split.commits("d")] == [9, 5, 1]


def test_checksums_do_not_depend_on_layout(lakes):
    single, split = lakes
    assert single.versions("d")["checksum"].to_list() == split.versions("d")["checksum"].to_list()
    assert split.verify() == []
    for v in (1, 2, 3):
        assert split.recompute_checksum("d", v) == single.recompute_checksum("d", v)


@pytest.mark.parametrize("ordering", ORDERINGS)
@pytest.mark.parametrize("kw", [{}, {"version_min": 1}, {"version": 1, "source": "seed"},
                                {"version_max": 2, "generator_model": "model-1"}])
def test_reads_do_not_depend_on_layout(lakes, ordering, kw):
    single, split = lakes
    a = single.datapoints("d", ordering=ordering, **kw)
    b = split.datapoints("d", ordering=ordering, **kw)
    fa, fb = a.to_polars(), b.to_polars()
    assert fa.drop("dataset_id").equals(fb.drop("dataset_id"))
    assert a.count() == b.count() == fa.height
    for size in (13, 1000):
        walked = _walk(b, size)
        assert [r["id"] for r in walked] == fb["id"].to_list()
    assert b.page(page="last", page_size=13)["results"] == a.page(page="last", page_size=13)["results"]


def test_split_version_round_trips_and_derives(lakes, tmp_path):
    single, split = lakes
    frame = split.datapoints("d", version=1).to_polars()
    lake = overmind_lake.Lake(tmp_path / "again")
    v = lake.create_dataset("d", frame)
    assert v.checksum == single.versions("d")["checksum"][0]
    ids = frame["id"].to_list()
    derived = split.derive("d", from_version=1, remove_ids=ids[:3])
    assert derived.count == 297
    # a new version written into the split lake with default constants again
    assert split.datapoints("d").count() == 297


def test_files_are_sorted_by_order_then_id(lakes):
    import pyarrow.parquet as pq

    _, split = lakes
    for commit in split.commits("d"):
        keys = []
        for entry in commit.files:
            t = pq.read_table(split.fs.path(entry.path), columns=["order", "id"])
            keys += list(zip(t.column("order").to_pylist(), t.column("id").to_pylist()))
        assert keys == sorted(keys)


def test_readers_trust_only_commit_records(tmp_path):
    """Stray files (a crashed writer's) under a committed or an uncommitted
    version directory change nothing a reader sees."""
    import pathlib

    import pyarrow.parquet as pq

    lake = overmind_lake.Lake(tmp_path / "lake")
    v = lake.create_dataset("d", make_rows(10))
    before = (lake.datapoints("d").to_polars(), lake.versions("d"), lake.datasets(),
              lake.sql("SELECT count(*) AS n FROM datapoints")["n"][0])
    stray = lake.datapoints("d").to_arrow().drop_columns(["dataset_id", "version"])
    root = pathlib.Path(lake.root) / f"dataset_id={v.dataset_id}"
    pq.write_table(stray, root / "version=1" / "part-stray.parquet")
    (root / "version=2").mkdir()
    pq.write_table(stray, root / "version=2" / "part-stray.parquet")
    fresh = overmind_lake.Lake(tmp_path / "lake")
    for reader in (lake, fresh):
        assert reader.datapoints("d").to_polars().equals(before[0])
        assert reader.datapoints("d", version_min=1).count() == 10
        assert reader.datapoints("d", version_min=1, ordering="-persona").to_polars().height == 10
        assert reader.datapoints("d").page(page_size=1000)["count"] == 10
        assert reader.versions("d").equals(before[1])
        assert reader.datasets().equals(before[2])
        assert reader.sql("SELECT count(*) AS n FROM datapoints")["n"][0] == before[3]
    # the next version gets number 2 and its own files only
    v2 = fresh.add_version("d", make_rows(3))
    assert (v2.version, fresh.datapoints("d").count()) == (2, 3)


def test_run_starts_match_numpy_unique_on_sorted_positions():
    import numpy as np
    from overmind_lake.query.rowreader import _run_starts
    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 7, 100):
        values = np.sort(rng.integers(0, 5, n))
        _, first = np.unique(values, return_index=True)
        assert _run_starts(values).tolist() == first.tolist()
