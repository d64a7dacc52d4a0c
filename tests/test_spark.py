"""A distributed engine reads the lake and its Parquet export: pyspark in local mode.

Both are read the way a Spark user would, ``spark.read.parquet(root)``: one
table partitioned by ``dataset_id`` and ``version`` found by Spark's own Hive
partition discovery (it skips every name starting with ``_`` or ``.``: the
lake's records, the export's ``_manifest/`` and temporary files), with no
file list from us. One Spark session serves the whole module.

Delta-in-Spark is not tested: delta-spark needs its jars from Maven, which
this project's machines cannot reach (docs/export.md).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import overmind_lake
from overmind_lake.export.base import open_target, run_export

from conftest import make_rows
from test_export_files import BIG, TRICKY, lake_counts

@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for Spark")
    from pyspark.sql import SparkSession

    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # bind loopback only

    session = (SparkSession.builder.master("local[1]").appName("overmind-lake-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.adaptive.enabled", "false")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> overmind_lake.Lake:
    lake = overmind_lake.Lake(tmp_path_factory.mktemp("spark") / "lake")
    a = lake.create_dataset("a", TRICKY + make_rows(200))
    lake.add_version(a.dataset_id, make_rows(150, start=1000))
    lake.derive(a.dataset_id, from_version=1, add=[dict(r, order=i) for i, r in enumerate(make_rows(5, start=5000))], remove_ids=[TRICKY[1]["id"]])
    lake.add_version(a.dataset_id, [])
    b = lake.create_dataset("b", make_rows(60))
    lake.add_version(b.dataset_id, make_rows(70, start=99))
    return lake


def spark_counts(frame) -> dict[tuple[str, int], int]:
    rows = frame.groupBy("dataset_id", "version").count().collect()
    return {(r["dataset_id"], int(r["version"])): r["count"] for r in rows}


def check_table(frame, lake: overmind_lake.Lake) -> None:
    """``frame`` holds exactly the lake's committed rows, partitioned by dataset_id and version.

    Two Spark jobs: the counts per partition, then dataset a's rows collected."""
    assert {"dataset_id", "version", "id", "input", "expected_output", "order", "tags"} <= set(frame.columns)
    assert dict(frame.dtypes)["version"] in ("int", "bigint")
    assert spark_counts(frame) == lake_counts(lake)
    a = lake.dataset("a").id
    rows = frame.where(frame.dataset_id == a).select("version", "id", "input", "expected_output", "order",
                                                      "persona", "tags").collect()
    first = [r for r in rows if r["version"] == 1 and r["id"] == TRICKY[0]["id"]]
    assert len(first) == 1
    value = json.loads(first[0]["input"])
    assert value == TRICKY[0]["input"] and value["z"] == BIG and list(value) == ["z", "a", "m"]
    assert json.loads(first[0]["expected_output"]) == TRICKY[0]["expected_output"]
    assert first[0]["persona"] == "Zoë"
    want = lake.sql(f"SELECT id, \"order\", tags FROM datapoints WHERE dataset_id = '{a}' AND version = 3 "
                    "ORDER BY id")
    got = sorted((r["id"], r["order"], r["tags"]) for r in rows if r["version"] == 3)
    assert got == list(want.iter_rows())
    assert TRICKY[1]["id"] not in {r["id"] for r in rows if r["version"] == 3}


def test_spark_reads_the_lake_root_as_one_partitioned_table(spark, lake):
    check_table(spark.read.parquet(str(lake.root)), lake)


def test_spark_reads_the_parquet_export_as_one_partitioned_table(spark, lake, tmp_path):
    target = tmp_path / "export"
    target_opened = open_target(str(target), "parquet")
    summary = run_export(lake, target_opened)
    assert summary.rows_exported == sum(lake_counts(lake).values())
    # what a killed exporter leaves behind: a temporary file and a manifest
    # entry being written; Spark must not read either (it would fail on them)
    version_dir = next(Path(target).glob("dataset_id=*/version=1"))
    (version_dir / ".tmp-killed-writer").write_bytes(b"PAR1 half a file")
    (Path(target) / "_manifest" / ".tmp-partial").write_bytes(b"{")
    check_table(spark.read.parquet(str(target)), lake)
