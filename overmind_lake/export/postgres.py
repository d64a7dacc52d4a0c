"""The PostgreSQL export target (docs/export.md): ``postgresql://…``.

Three tables in the connection's current schema (the first of its
``search_path``, ``public`` by default):

- ``overmind_datasets``: one row per dataset exported;
- ``overmind_versions``: one row per version the database holds, with its
  checksum — the record :meth:`PostgresTarget.held` reads, primary key
  ``(dataset_id, version)``;
- ``overmind_datapoints``: the rows, ``input`` / ``expected_output`` / ``tags``
  as JSONB, ids as UUID; partitioned by ``(dataset_id, version)``, one
  partition per version, with the indexes the list query uses.

Each version is loaded in one transaction: an advisory lock on the version
(so a concurrent exporter waits, then finds it held and skips it), a new
table filled by binary ``COPY`` rendered from the Arrow batches in bulk
(pgcopy.py: no Python object per row or per value), its indexes built once
the rows are in, ``ATTACH PARTITION``, then the row in ``overmind_versions``.
A crash or a kill before the commit leaves nothing.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from typing import Any, Iterator

import pyarrow as pa

from .._optional import import_optional
from ..errors import ExportConflict, ExportError
from . import pgcopy
from .base import DATAPOINT_SCHEMA, DATAPOINTS_TABLE, DATASETS_TABLE, VERSIONS_TABLE, VersionRef, redact

DATASETS, VERSIONS, DATAPOINTS = DATASETS_TABLE, VERSIONS_TABLE, DATAPOINTS_TABLE

_DDL = f"""
CREATE TABLE IF NOT EXISTS {DATASETS} (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    agent uuid,
    description text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS {VERSIONS} (
    dataset_id uuid NOT NULL REFERENCES {DATASETS} (id),
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    message text NOT NULL,
    parent_version integer,
    count bigint NOT NULL,
    checksum text NOT NULL,
    source_counts jsonb NOT NULL,
    generator_models text[] NOT NULL,
    exported_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset_id, version)
);
CREATE TABLE IF NOT EXISTS {DATAPOINTS} (
    dataset_id uuid NOT NULL,
    version integer NOT NULL,
    id uuid NOT NULL,
    input jsonb,
    expected_output jsonb,
    "order" bigint NOT NULL,
    persona text,
    tags jsonb,
    source text NOT NULL,
    agent uuid,
    generator_model text,
    PRIMARY KEY (dataset_id, version, id)
) PARTITION BY RANGE (dataset_id, version);
CREATE INDEX IF NOT EXISTS {DATAPOINTS}_list ON {DATAPOINTS} ("order", id);
CREATE INDEX IF NOT EXISTS {DATAPOINTS}_source ON {DATAPOINTS} (source, "order", id);
CREATE INDEX IF NOT EXISTS {DATAPOINTS}_agent ON {DATAPOINTS} (agent, "order", id);
CREATE INDEX IF NOT EXISTS {DATAPOINTS}_generator_model ON {DATAPOINTS} (generator_model, "order", id);
"""
#: Columns every table must have (an existing table of another shape is an error, not a guess).
_REQUIRED = {
    DATASETS: {"id", "name", "agent", "description", "created_at"},
    VERSIONS: {"dataset_id", "version", "created_at", "message", "parent_version", "count", "checksum",
               "source_counts", "generator_models"},
    DATAPOINTS: {f.name for f in DATAPOINT_SCHEMA},
}
#: Partition indexes, matching the parent's so ATTACH adopts them instead of building its own.
_PARTITION_INDEXES = ('"order", id', 'source, "order", id', 'agent, "order", id', 'generator_model, "order", id')
_COLUMNS = ", ".join(f'"{f.name}"' for f in DATAPOINT_SCHEMA)
#: Advisory-lock keys: one for the DDL, one per (dataset, version) derived from it.
_DDL_LOCK = 0x6F766D64  # "ovmd"
#: Versions loaded at once by default (each over its own connection).
WORKERS = 2
#: A batch is encoded in slices of at most this many bytes (Arrow binary offsets are 32-bit).
_ENCODE_BYTES = 256 << 20


def version_lock_key(dataset_id: str, version: int) -> int:
    """A signed 64-bit advisory-lock key for one version (collisions only serialize)."""
    digest = hashlib.sha256(f"overmind-export:{dataset_id}:{version}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def partition_name(dataset_id: str, version: int) -> str:
    return f"overmind_dp_{dataset_id.replace('-', '')}_{version}"


def partition_index_name(part: str, number: int) -> str:
    """An explicit name for a partition's index: PostgreSQL's generated names are cut
    to 63 bytes, which dropped the version and made two versions' names collide."""
    name = f"{part}_i{number}"
    if len(name) > 63:
        name = f"overmind_dpi_{hashlib.sha256(part.encode()).hexdigest()[:32]}_{number}"
    return name


def copy_rows(batch: pa.RecordBatch, dataset_id: str, version: int) -> Iterator[memoryview]:
    """``batch`` in binary COPY format (rows only: no signature, no trailer)."""
    step = max(1, int(batch.num_rows * _ENCODE_BYTES / max(batch.nbytes, 1)))
    for start in range(0, batch.num_rows, step):
        part = batch.slice(start, step)
        c = part.column
        fields = [pgcopy.field_count(len(DATAPOINT_SCHEMA)), pgcopy.const_uuid(dataset_id),
                  pgcopy.const_int4(version)]
        fields += pgcopy.uuid_field(c("id")) + pgcopy.jsonb_field(c("input"))
        fields += pgcopy.jsonb_field(c("expected_output")) + pgcopy.int8_field(c("order"))
        fields += pgcopy.text_field(c("persona")) + pgcopy.jsonb_field(c("tags"))
        fields += pgcopy.text_field(c("source")) + pgcopy.uuid_field(c("agent"))
        fields += pgcopy.text_field(c("generator_model"))
        yield pgcopy.join_rows(fields)


class PostgresTarget:
    """A PostgreSQL database that holds exported versions (see the module docstring).

    ``workers`` versions load at once, each over its own connection and in its
    own transaction: the server parses JSONB on as many cores.
    """

    def __init__(self, url: str, workers: int = WORKERS):
        self.url = url
        self.workers = max(1, int(workers))
        self._psycopg = import_optional("psycopg", "postgres", "the PostgreSQL export target")
        self._local = threading.local()
        self._conns: list[Any] = []
        self._conns_lock = threading.Lock()
        self.conn = self._connect()
        self._ensure_tables()

    def _connect(self) -> Any:
        try:
            conn = self._psycopg.connect(self.url, autocommit=True)
        except self._psycopg.Error as exc:
            raise ExportError(f"cannot connect to {redact(self.url)}: {' '.join(str(exc).split())}") from None
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _thread_conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.conn if threading.current_thread() is threading.main_thread() \
                else self._connect()
        return conn

    def _ensure_tables(self) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            # CREATE … IF NOT EXISTS is not safe against a concurrent create: serialize
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            cur.execute(_DDL)
            cur.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ANY(%s)", (list(_REQUIRED),))
            found: dict[str, set[str]] = {}
            for table, column in cur.fetchall():
                found.setdefault(table, set()).add(column)
        for table, columns in _REQUIRED.items():
            missing = columns - found.get(table, set())
            if missing:
                raise ExportError(f"{redact(self.url)}: table {table} exists without the column(s) "
                                  f"{', '.join(sorted(missing))}; it is not an overmind_lake export table")

    def held(self) -> dict[tuple[str, int], str]:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT dataset_id::text, version, checksum FROM {VERSIONS}")
            return {(d, v): c for d, v, c in cur.fetchall()}

    def write_version(self, ref: VersionRef, batches: Iterator[pa.RecordBatch]) -> int | None:
        Jsonb = self._psycopg.types.json.Jsonb
        conn = self._thread_conn()
        try:
            # the dataset's row commits on its own first: two versions of one new
            # dataset loading at once would otherwise wait on each other's row
            conn.execute(f"INSERT INTO {DATASETS} (id, name, agent, description, created_at) "
                         "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                         (ref.dataset_id, ref.name, ref.agent, ref.description, ref.dataset_created_at))
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (version_lock_key(ref.dataset_id, ref.version),))
                cur.execute(f"SELECT checksum FROM {VERSIONS} WHERE dataset_id = %s AND version = %s",
                            (ref.dataset_id, ref.version))
                row = cur.fetchone()
                if row is not None:  # a concurrent export landed it while this one waited
                    if row[0] != ref.checksum:
                        raise ExportConflict(ref.dataset_id, ref.version, held=row[0], lake=ref.checksum)
                    return None
                rows = self._load_partition(cur, ref, batches)
                if rows != ref.count:
                    raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} read {rows} rows, "
                                      f"its commit record says {ref.count}; nothing exported")
                cur.execute(
                    f"INSERT INTO {VERSIONS} (dataset_id, version, created_at, message, parent_version, count, "
                    "checksum, source_counts, generator_models) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (ref.dataset_id, ref.version, ref.created_at, ref.message, ref.parent_version, ref.count,
                     ref.checksum, Jsonb(ref.source_counts), list(ref.generator_models)))
                return rows
        except self._psycopg.Error as exc:
            raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} not exported to "
                              f"{redact(self.url)}: {' '.join(str(exc).split())}") from None

    def _load_partition(self, cur: Any, ref: VersionRef, batches: Iterator[pa.RecordBatch]) -> int:
        """Rows into a new table, its indexes built after the load, attached as the
        version's partition: all inside the caller's transaction."""
        part = partition_name(ref.dataset_id, ref.version)
        d, v = str(uuid.UUID(ref.dataset_id)), int(ref.version)
        cur.execute(f"CREATE TABLE {part} (LIKE {DATAPOINTS}, "
                    f"CHECK (dataset_id = '{d}'::uuid AND version = {v}))")
        rows = 0
        with cur.copy(f"COPY {part} ({_COLUMNS}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(pgcopy.SIGNATURE)
            for batch in batches:
                for chunk in copy_rows(batch, d, v):
                    copy.write(chunk)
                rows += batch.num_rows
            copy.write(pgcopy.TRAILER)
        cur.execute(f"ALTER TABLE {part} ADD PRIMARY KEY (dataset_id, version, id)")
        for number, columns in enumerate(_PARTITION_INDEXES):
            cur.execute(f"CREATE INDEX {partition_index_name(part, number)} ON {part} ({columns})")
        cur.execute(f"ALTER TABLE {DATAPOINTS} ATTACH PARTITION {part} "
                    f"FOR VALUES FROM ('{d}', {v}) TO ('{d}', {v + 1})")
        return rows

    def close(self) -> None:
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()


def open_target(url: str, storage_options: dict[str, Any] | None = None) -> PostgresTarget:
    return PostgresTarget(url)
