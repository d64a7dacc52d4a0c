"""The DuckDB file export target (docs/export.md): ``duckdb:///path/warehouse.duckdb``.

The same three tables as the PostgreSQL target, in a DuckDB database file:
``overmind_datasets``, ``overmind_versions`` (primary key
``(dataset_id, version)``, the record of what the file holds, with each
version's checksum) and ``overmind_datapoints`` (``input`` /
``expected_output`` / ``tags`` as DuckDB ``JSON``, ids as ``UUID``). Each
version is loaded from its Arrow batches by one ``INSERT … SELECT`` over a
record-batch stream, together with its ``overmind_versions`` row, in one
transaction. The datapoints table has no index: DuckDB scans it by its zone
maps, and rows land in ``(dataset_id, version, order, id)`` order.

DuckDB lets one process at a time open a file for writing. A second exporter
waits for the file (up to ``lock_timeout`` seconds), then finds what the first
exported already held and skips it.
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterator

import duckdb
import pyarrow as pa

from ..errors import ExportConflict, ExportError
from .base import DATAPOINT_SCHEMA, DATAPOINTS_TABLE, DATASETS_TABLE, VERSIONS_TABLE, VersionRef

DATASETS, VERSIONS, DATAPOINTS = DATASETS_TABLE, VERSIONS_TABLE, DATAPOINTS_TABLE
LOCK_TIMEOUT = 600.0

_DDL = f"""
CREATE TABLE IF NOT EXISTS {DATASETS} (
    id UUID PRIMARY KEY,
    name VARCHAR NOT NULL,
    agent UUID,
    description VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS {VERSIONS} (
    dataset_id UUID NOT NULL,
    version INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    message VARCHAR NOT NULL,
    parent_version INTEGER,
    count BIGINT NOT NULL,
    checksum VARCHAR NOT NULL,
    source_counts JSON NOT NULL,
    generator_models VARCHAR[] NOT NULL,
    exported_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (dataset_id, version)
);
CREATE TABLE IF NOT EXISTS {DATAPOINTS} (
    dataset_id UUID NOT NULL,
    version INTEGER NOT NULL,
    id UUID NOT NULL,
    input JSON,
    expected_output JSON,
    "order" BIGINT NOT NULL,
    persona VARCHAR,
    tags JSON,
    source VARCHAR NOT NULL,
    agent UUID,
    generator_model VARCHAR
);
"""
_INSERT = f"""INSERT INTO {DATAPOINTS}
SELECT dataset_id::UUID, version::INTEGER, id::UUID, input::JSON, expected_output::JSON, "order", persona,
       tags::JSON, source, agent::UUID, generator_model
FROM __overmind_batches"""


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "lock" in text.lower() and ("Conflicting lock" in text or "Could not set lock" in text)


class DuckDBTarget:
    """A DuckDB database file that holds exported versions (see the module docstring)."""

    def __init__(self, path: str, lock_timeout: float = LOCK_TIMEOUT):
        self.path = path
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ExportError(f"cannot create {path}: directory {parent} does not exist")
        deadline = time.monotonic() + lock_timeout
        delay = 0.05
        while True:
            try:
                self.conn = duckdb.connect(path)
                break
            except duckdb.IOException as exc:
                if not _is_lock_error(exc):
                    raise ExportError(f"cannot open {path}: {' '.join(str(exc).split())}") from None
                if time.monotonic() >= deadline:
                    raise ExportError(f"{path} is held by another process (DuckDB allows one writer "
                                      f"per file); gave up after {lock_timeout:.0f} s") from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            except duckdb.Error as exc:
                raise ExportError(f"cannot open {path}: {' '.join(str(exc).split())}") from None
        self.conn.execute(_DDL)

    def held(self) -> dict[tuple[str, int], str]:
        rows = self.conn.execute(f"SELECT dataset_id::VARCHAR, version, checksum FROM {VERSIONS}").fetchall()
        return {(d, v): c for d, v, c in rows}

    def write_version(self, ref: VersionRef, batches: Iterator[pa.RecordBatch]) -> int | None:
        con = self.conn
        con.execute("BEGIN TRANSACTION")
        try:
            row = con.execute(f"SELECT checksum FROM {VERSIONS} WHERE dataset_id = ?::UUID AND version = ?",
                              [ref.dataset_id, ref.version]).fetchone()
            if row is not None:
                con.execute("ROLLBACK")
                if row[0] != ref.checksum:
                    raise ExportConflict(ref.dataset_id, ref.version, held=row[0], lake=ref.checksum)
                return None
            con.execute(f"INSERT INTO {DATASETS} VALUES (?::UUID, ?, ?::UUID, ?, ?::TIMESTAMPTZ) "
                        "ON CONFLICT DO NOTHING",
                        [ref.dataset_id, ref.name, ref.agent, ref.description, ref.dataset_created_at])
            rows = self._insert_rows(ref, batches)
            if rows != ref.count:
                raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} read {rows} rows, "
                                  f"its commit record says {ref.count}; nothing exported")
            con.execute(
                f"INSERT INTO {VERSIONS} (dataset_id, version, created_at, message, parent_version, count, "
                "checksum, source_counts, generator_models) "
                "VALUES (?::UUID, ?, ?::TIMESTAMPTZ, ?, ?, ?, ?, ?::JSON, ?)",
                [ref.dataset_id, ref.version, ref.created_at, ref.message, ref.parent_version, ref.count,
                 ref.checksum, _json(ref.source_counts), list(ref.generator_models)])
            con.execute("COMMIT")
            return rows
        except ExportConflict:
            raise
        except BaseException as exc:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            if isinstance(exc, duckdb.Error):
                raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} not exported to "
                                  f"{self.path}: {' '.join(str(exc).split())}") from None
            raise

    def _insert_rows(self, ref: VersionRef, batches: Iterator[pa.RecordBatch]) -> int:
        """The version's rows into the datapoints table (inside the caller's transaction).

        A local lake's Parquet files are read by DuckDB itself, in parallel and
        without a Python object per batch; otherwise the Arrow batches are streamed in.
        """
        con = self.conn
        if ref.files or not ref.count:
            if not ref.files:
                return 0
            query = _INSERT.replace("dataset_id::UUID, version::INTEGER", "?::UUID, ?::INTEGER").replace(
                "__overmind_batches", "read_parquet(?)")
            (rows,) = con.execute(query, [ref.dataset_id, ref.version, list(ref.files)]).fetchone()
            return int(rows)
        counted = [0]

        def counting() -> Iterator[pa.RecordBatch]:
            for batch in batches:
                counted[0] += batch.num_rows
                yield batch

        con.register("__overmind_batches", pa.RecordBatchReader.from_batches(DATAPOINT_SCHEMA, counting()))
        try:
            con.execute(_INSERT)
        finally:
            con.unregister("__overmind_batches")
        return counted[0]

    def close(self) -> None:
        self.conn.close()


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


def duckdb_path(url: str) -> str:
    """``duckdb:///abs/file.duckdb`` -> ``/abs/file.duckdb``; ``duckdb://rel.duckdb`` -> ``rel.duckdb``."""
    path = url.split("://", 1)[1]
    if not path or path.endswith("/"):
        raise ExportError(f"{url!r}: expected duckdb:///path/to/file.duckdb")
    return path


def open_target(url: str, storage_options: dict[str, Any] | None = None) -> DuckDBTarget:
    return DuckDBTarget(duckdb_path(url))
