"""Raw Hive scans of a lake root, the way an outside engine reads it: no
commit record is consulted, only the directory tree (``dataset_id=…/version=…/``).

Each function returns ``{(dataset_id, version): rows}`` as seen by one engine:
DuckDB ``read_parquet('<root>/**/*.parquet', hive_partitioning = true)``,
``pyarrow.dataset`` with ``partitioning="hive"`` on the root directory, and
Polars ``scan_parquet('<root>/**/*.parquet', hive_partitioning=True)``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlparse

Groups = dict[tuple[str, int], int]


def _groups(rows) -> Groups:
    return {(str(d), int(v)): int(n) for d, v, n in rows}


def duckdb_scan(root: str, options: dict[str, Any] | None = None) -> Groups:
    import duckdb

    con = duckdb.connect()
    if options:
        import s3fs

        con.register_filesystem(s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False, **options))
    glob = root.rstrip("/") + "/**/*.parquet"
    rows = con.sql(f"SELECT dataset_id::VARCHAR, version::BIGINT, count(*) FROM read_parquet('{glob}', "
                   "hive_partitioning = true) GROUP BY ALL").fetchall()
    con.close()
    return _groups(rows)


def pyarrow_scan(root: str, options: dict[str, Any] | None = None) -> Groups:
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    if options:
        endpoint = urlparse(options["client_kwargs"]["endpoint_url"])
        fs = pafs.S3FileSystem(access_key=options["key"], secret_key=options["secret"],
                               endpoint_override=endpoint.netloc, scheme=endpoint.scheme, region="us-east-1")
        path = root.split("://", 1)[1]
    else:
        fs, path = pafs.LocalFileSystem(), root
    table = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive").to_table(
        columns=["dataset_id", "version"])
    counts = Counter(zip(table.column("dataset_id").to_pylist(), table.column("version").to_pylist()))
    return _groups((d, v, n) for (d, v), n in counts.items())


def polars_scan(root: str, options: dict[str, Any] | None = None) -> Groups:
    import polars as pl

    storage = None
    if options:
        storage = {"aws_access_key_id": options["key"], "aws_secret_access_key": options["secret"],
                   "aws_endpoint_url": options["client_kwargs"]["endpoint_url"], "aws_region": "us-east-1",
                   "aws_allow_http": "true"}
    frame = (pl.scan_parquet(root.rstrip("/") + "/**/*.parquet", hive_partitioning=True, storage_options=storage)
             .group_by("dataset_id", "version").len().collect())
    return _groups(frame.rows())


SCANS = {"duckdb": duckdb_scan, "pyarrow": pyarrow_scan, "polars": polars_scan}


def committed_groups(root: str, options: dict[str, Any] | None = None) -> Groups:
    """``{(dataset_id, version): rows}`` of every committed version, from the
    commit records alone (no data file is opened, nothing is moved)."""
    from overmind_lake.storage.catalog import CommitRecord, commit_path
    from overmind_lake.storage.filesystem import LakeFileSystem
    from overmind_lake.storage.maintenance import committed_versions

    fs = LakeFileSystem(root, options)
    out: Groups = {}
    for name in fs.list_names(""):
        if not name.startswith("dataset_id="):
            continue
        dataset_id = name[len("dataset_id="):]
        for version in committed_versions(fs, dataset_id):
            record = CommitRecord.from_json(fs.read_bytes(commit_path(dataset_id, version)))
            if record.count:
                out[(dataset_id, version)] = record.count
    return out


def assert_scans_see_committed(root: str, options: dict[str, Any] | None = None) -> Groups:
    """Every engine's raw scan equals the committed versions, row count per version."""
    expected = committed_groups(root, options)
    for engine, scan in SCANS.items():
        seen = scan(root, options)
        assert seen == expected, f"{engine}: raw scan {sorted(set(seen.items()) ^ set(expected.items()))[:6]}"
    return expected

