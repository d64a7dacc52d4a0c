"""§3/§4: the lake root — default, $OVERMIND_LAKE_ROOT, file:// and memory:// URLs."""

from __future__ import annotations

import uuid

import pytest

import overmind_lake
from conftest import make_rows
from lakehelpers import files_under


def _exercise(lake: overmind_lake.Lake) -> None:
    v1 = lake.create_dataset("d", make_rows(30))
    ids = lake.datapoints("d").to_polars()["id"].to_list()
    lake.add_version("d", make_rows(5))
    v3 = lake.derive("d", from_version=1, remove_ids=ids[:2], add=[{"input": "x"}])
    assert (v3.version, v3.count, v3.parent_version) == (3, 29, 1)
    assert lake.datapoints("d", version=1).to_polars().height == 30
    q = lake.datapoints("d", version_min=1, ordering="-persona", source="seed")
    walked = []
    for page in range(1, 100):
        body = q.page(page=page, page_size=4)
        walked += [r["id"] for r in body["results"]]
        if body["next"] is None:
            break
    assert walked == q.to_polars()["id"].to_list()
    assert set(lake.diff("d", 1, 3)["change"].to_list()) == {"added", "removed"}
    assert lake.sql("SELECT count(*) AS n FROM datapoints")["n"][0] == 30 + 5 + 29
    assert lake.versions("d")["checksum"][0] == v1.checksum
    assert lake.verify() == []


def test_file_url_root(tmp_path):
    lake = overmind_lake.Lake((tmp_path / "lake").as_uri())
    _exercise(lake)
    assert any(p.endswith(".parquet") for p in files_under(tmp_path / "lake"))
    # the same lake through a plain path
    assert overmind_lake.Lake(tmp_path / "lake").datapoints("d").count() == 29


def test_memory_root():
    lake = overmind_lake.Lake(f"memory://lake-{uuid.uuid4().hex}")
    _exercise(lake)


def test_default_root_and_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OVERMIND_LAKE_ROOT", raising=False)
    lake = overmind_lake.Lake()
    lake.create_dataset("d", make_rows(1))
    assert (tmp_path / "data" / "lake").is_dir()
    monkeypatch.setenv("OVERMIND_LAKE_ROOT", str(tmp_path / "elsewhere"))
    other = overmind_lake.Lake()
    assert other.datasets().height == 0
    other.create_dataset("d", make_rows(2))
    assert (tmp_path / "elsewhere").is_dir()
    assert overmind_lake.Lake(tmp_path / "elsewhere").datapoints("d").count() == 2
