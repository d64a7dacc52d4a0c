"""The hosted stack, reproduced: Django REST framework + django-filter on PostgreSQL 15.

* ``PgCluster`` starts a throwaway PostgreSQL server (``initdb`` into a temp
  dir, listening on 127.0.0.1 and a free port) and removes it at exit. As
  root (CI) the server runs as the ``postgres`` user (``nobody`` if absent),
  since PostgreSQL refuses to run as root.
* ``PgBaseline`` creates the tables a Django model of the hosted API would
  have, with the indexes a competent team would add for the list endpoint,
  loads rows with ``COPY``, builds the indexes, runs ``VACUUM ANALYZE`` and
  answers ``GET /api/datasets/{id}/datapoints/`` as the hosted stack does:
  the dataset lookup (``get_object``), ``SELECT COUNT(*)`` (the paginator),
  then ``SELECT … ORDER BY … LIMIT n OFFSET m`` with client-side parameter
  binding (Django's default with psycopg 3), rows turned into dicts and
  rendered with ``json.dumps`` as DRF's ``JSONRenderer`` does.

What it leaves out makes the baseline *faster* than the real stack: no Django
ORM model instantiation, no serializer field machinery, no HTTP/WSGI layer.
The server is tuned as a competent team would (shared_buffers, work_mem,
random_page_cost for SSDs, JIT off for short queries) and durability is off
only to make loading fast (no effect on read latency).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import io
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any, Iterable
from urllib import parse

import pyarrow as pa
import pyarrow.csv as pacsv

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin",)
SOURCES = ("seed", "synthetic", "augmented", "production")

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "1GB",
    "effective_cache_size": "8GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_parallel_maintenance_workers": "2",
    "random_page_cost": "1.1",
    "jit": "off",
    # durability off: load speed only (reads are unaffected)
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "autovacuum": "off",  # we run VACUUM ANALYZE ourselves right after loading
    "logging_collector": "off",
    "huge_pages": "off",
}


def pg_bin_dir() -> str | None:
    """Directory of the PostgreSQL 15 server binaries, or None."""
    env = os.environ.get("OVERMIND_PG_BIN")
    for d in ((env,) if env else ()) + PG_BIN_CANDIDATES:
        if d and os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "postgres")):
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: the postmaster gets a fast-shutdown SIGINT if we die
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGINT)


class PgCluster:
    """A throwaway PostgreSQL server. Use as a context manager (or call stop())."""

    def __init__(self, bin_dir: str | None = None, settings: dict[str, str] | None = None, log=None):
        self.bin_dir = bin_dir or pg_bin_dir()
        if self.bin_dir is None:
            raise RuntimeError("PostgreSQL 15 server binaries not found (set OVERMIND_PG_BIN)")
        self.settings = {**SERVER_SETTINGS, **(settings or {})}
        self.log = log
        self.tmp: str | None = None
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._user: dict[str, Any] = {}

    # -- lifecycle ---------------------------------------------------------
    def _run_as(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        for name in ("postgres", "nobody"):
            try:
                pw = pwd.getpwnam(name)
            except KeyError:
                continue
            return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")

    def start(self) -> "PgCluster":
        self._user = self._run_as()
        # as root, a dir the server's user can reach even when $TMPDIR is private
        base = "/tmp" if self._user and os.path.isdir("/tmp") else None
        self.tmp = tempfile.mkdtemp(prefix="overmind-pg-", dir=base)
        atexit.register(self.stop)
        if self._user:
            os.chown(self.tmp, self._user["user"], self._user["group"])
        data = os.path.join(self.tmp, "data")
        t0 = time.perf_counter()
        subprocess.run(
            [os.path.join(self.bin_dir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync"],
            check=True, cwd=self.tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **self._user,
        )
        for attempt in range(5):
            self.port = _free_port()
            args = [os.path.join(self.bin_dir, "postgres"), "-D", data, "-p", str(self.port),
                    "-c", f"unix_socket_directories={self.tmp}"]
            for k, v in self.settings.items():
                args += ["-c", f"{k}={v}"]
            logf = open(os.path.join(self.tmp, "server.log"), "ab")
            self.proc = subprocess.Popen(args, cwd=self.tmp, stdout=logf, stderr=logf,
                                         preexec_fn=_die_with_parent, **self._user)
            logf.close()
            if self._wait_ready():
                if self.log:
                    self.log(f"postgres: PostgreSQL 15 on 127.0.0.1:{self.port} ready in "
                             f"{time.perf_counter() - t0:.1f} s ({self.tmp})")
                return self
            self.proc.kill()
            self.proc.wait()
        raise RuntimeError("PostgreSQL did not start:\n" + self.server_log())

    def _wait_ready(self, timeout: float = 30.0) -> bool:
        import psycopg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                psycopg.connect(self.dsn, connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        return False

    def server_log(self) -> str:
        try:
            return Path(self.tmp, "server.log").read_text(errors="replace")[-4000:]
        except (OSError, TypeError):
            return ""

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def connect(self, **kw):
        import psycopg

        return psycopg.connect(self.dsn, autocommit=True, **kw)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        tmp, self.tmp = self.tmp, None
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    def __enter__(self) -> "PgCluster":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


# -- schema --------------------------------------------------------------------

SCHEMA = """
CREATE TABLE api_dataset (
    id uuid PRIMARY KEY,
    name varchar(255) NOT NULL UNIQUE,
    agent uuid NULL,
    description text NOT NULL,
    created_at timestamptz NOT NULL,
    latest_version integer NOT NULL
);
CREATE TABLE api_datapoint (
    pk bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,   -- Django's auto field
    dataset_id uuid NOT NULL,  -- ForeignKey(Dataset); the constraint is added after loading
    version integer NOT NULL CHECK (version >= 1),
    id uuid NOT NULL,
    input jsonb NULL,
    expected_output jsonb NULL,
    "order" bigint NOT NULL CHECK ("order" >= 0),
    persona varchar(128) COLLATE "C" NULL,
    tags jsonb NULL,
    source varchar(16) COLLATE "C" NOT NULL,
    agent uuid NULL,
    generator_model varchar(255) COLLATE "C" NULL
);
"""

#: What a competent team adds for this endpoint (Meta.indexes); the plain
#: dataset_id index Django adds for a ForeignKey is left out (db_index=False):
#: every composite index below starts with dataset_id.
INDEXES = (
    "ALTER TABLE api_datapoint ADD CONSTRAINT api_datapoint_dataset_id_fk FOREIGN KEY (dataset_id) "
    "REFERENCES api_dataset (id) DEFERRABLE INITIALLY DEFERRED",
    'CREATE INDEX datapoint_list_idx ON api_datapoint (dataset_id, version, "order", id)',
    "CREATE INDEX datapoint_src_gm_idx ON api_datapoint (dataset_id, version, source, generator_model)",
    "CREATE INDEX datapoint_agent_idx ON api_datapoint (dataset_id, version, agent)",
    "CREATE INDEX datapoint_persona_idx ON api_datapoint (dataset_id, version, persona)",
)

COPY_COLUMNS = ("dataset_id", "version", "id", "input", "expected_output", "order", "persona", "tags",
                "source", "agent", "generator_model")
ORDER_COLUMNS = {"order": '"order"', "id": "id", "persona": "persona", "version": "version",
                 "source": "source", "generator_model": "generator_model"}
PAGE_COLUMNS = 'id, expected_output, input, "order", persona, tags'


# -- DRF's pagination links (rest_framework.utils.urls) ---------------------------

def replace_query_param(url: str, key: str, val: Any) -> str:
    scheme, netloc, path, query, fragment = parse.urlsplit(str(url))
    query_dict = parse.parse_qs(query, keep_blank_values=True)
    query_dict[str(key)] = [str(val)]
    query = parse.urlencode(sorted(query_dict.items()), doseq=True)
    return parse.urlunsplit((scheme, netloc, path, query, fragment))


def remove_query_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = parse.urlsplit(str(url))
    query_dict = parse.parse_qs(query, keep_blank_values=True)
    query_dict.pop(key, None)
    query = parse.urlencode(sorted(query_dict.items()), doseq=True)
    return parse.urlunsplit((scheme, netloc, path, query, fragment))


class NotFound(Exception):
    """DRF's 404 (no such dataset, or an invalid page)."""


class PgBaseline:
    """The hosted API's list endpoint over a PgCluster."""

    def __init__(self, cluster: PgCluster):
        import psycopg

        self.cluster = cluster
        # Django >= 4.2 with psycopg 3 binds parameters client-side by default
        self.conn = cluster.connect(cursor_factory=psycopg.ClientCursor)

    def close(self) -> None:
        self.conn.close()

    # -- loading -----------------------------------------------------------
    def create_schema(self) -> None:
        self.conn.execute(SCHEMA)

    def add_dataset(self, dataset_id: str, name: str, *, agent: str | None = None, description: str = "") -> None:
        self.conn.execute(
            "INSERT INTO api_dataset (id, name, agent, description, created_at, latest_version) "
            "VALUES (%s, %s, %s, %s, now(), 0)", (dataset_id, name, agent, description))

    def copy_version(self, dataset_id: str, version: int, table: pa.Table, batch_rows: int = 50_000) -> None:
        """COPY one version's rows (a table in the lake's input shape) into api_datapoint."""
        n = table.num_rows
        cols = {"dataset_id": pa.repeat(pa.scalar(dataset_id), n),
                "version": pa.repeat(pa.scalar(version, pa.int32()), n)}
        full = pa.table({c: cols[c] if c in cols else table[c] for c in COPY_COLUMNS})
        opts = pacsv.WriteOptions(include_header=False, quoting_style="all_valid", batch_size=batch_rows)
        collist = ", ".join(f'"{c}"' for c in COPY_COLUMNS)
        with self.conn.cursor().copy(f"COPY api_datapoint ({collist}) FROM STDIN (FORMAT csv)") as cp:
            for start in range(0, n, batch_rows):
                buf = io.BytesIO()
                pacsv.write_csv(full.slice(start, batch_rows), buf, opts)
                cp.write(buf.getbuffer())
        self.conn.execute("UPDATE api_dataset SET latest_version = greatest(latest_version, %s) WHERE id = %s",
                          (version, dataset_id))

    def finish_load(self, log=None) -> None:
        """Build the indexes and VACUUM ANALYZE (visibility map for index-only counts)."""
        for sql in INDEXES:
            t0 = time.perf_counter()
            self.conn.execute(sql)
            if log:
                log(f"postgres: {sql.split(' ON ')[0].split(' FOREIGN')[0]} "
                    f"built in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        self.conn.execute("VACUUM ANALYZE api_datapoint")
        self.conn.execute("VACUUM ANALYZE api_dataset")
        if log:
            log(f"postgres: VACUUM ANALYZE in {time.perf_counter() - t0:.1f} s")

    def storage_bytes(self) -> dict[str, int]:
        """Bytes on disk: heap (+TOAST, FSM, VM) and indexes, both tables."""
        row = self.conn.execute(
            "SELECT sum(pg_table_size(c)), sum(pg_indexes_size(c)), sum(pg_total_relation_size(c)) "
            "FROM unnest(ARRAY['api_datapoint'::regclass, 'api_dataset'::regclass]) AS c").fetchone()
        return {"table": int(row[0]), "indexes": int(row[1]), "total": int(row[2])}

    # -- the endpoint ------------------------------------------------------
    def _queryset(self, dataset_id: str, params: dict[str, Any]) -> tuple[str, list[Any], str]:
        """(WHERE clause, its values, ORDER BY clause) as DRF + django-filter build them."""
        row = self.conn.execute(
            "SELECT id, name, agent, description, created_at, latest_version FROM api_dataset WHERE id = %s",
            (dataset_id,)).fetchone()
        if row is None:
            raise NotFound("No Dataset matches the given query.")
        where, values = ["dataset_id = %s"], [row[0]]
        version, vmin, vmax = params.get("version"), params.get("version_min"), params.get("version_max")
        if version is None and vmin is None and vmax is None:
            where.append("version = %s")
            values.append(row[5])
        if version is not None:
            where.append("version = %s")
            values.append(int(version))
        if vmin is not None:
            where.append("version >= %s")
            values.append(int(vmin))
        if vmax is not None:
            where.append("version <= %s")
            values.append(int(vmax))
        for name in ("source", "agent", "generator_model"):
            if params.get(name) is not None:
                where.append(f"{name} = %s")
                values.append(uuidlib.UUID(params[name]) if name == "agent" else params[name])
        keys, seen = [], set()
        for term in (params.get("ordering") or "version,order,id").split(","):
            term = term.strip()
            if not term:
                continue
            desc = term.startswith("-")
            name = term.lstrip("-")
            if name not in ORDER_COLUMNS:
                raise ValueError(f"unknown ordering field {name!r}")
            if name not in seen:
                seen.add(name)
                keys.append(ORDER_COLUMNS[name] + (" DESC" if desc else " ASC"))
        for name in ("version", "id"):  # made total, as the hosted API does
            if name not in seen:
                keys.append(ORDER_COLUMNS[name] + " ASC")
        return " AND ".join(where), values, ", ".join(keys)

    def page(self, dataset_id: str, params: dict[str, Any] | None = None, page: Any = 1,
             page_size: int = 100, base_url: str | None = None) -> dict[str, Any]:
        """The page as a dict (what DRF hands its renderer)."""
        params = params or {}
        where, values, order_by = self._queryset(dataset_id, params)
        count = self.conn.execute(f'SELECT COUNT(*) AS "__count" FROM api_datapoint WHERE {where}',
                                  values).fetchone()[0]
        num_pages = max(1, -(-count // page_size))
        if page == "last":
            number = num_pages
        else:
            try:
                number = int(page)
            except (TypeError, ValueError):
                raise NotFound("Invalid page.") from None
        if number < 1 or number > num_pages:
            raise NotFound("Invalid page.")
        bottom = (number - 1) * page_size
        top = min(bottom + page_size, count)
        rows = self.conn.execute(
            f"SELECT {PAGE_COLUMNS} FROM api_datapoint WHERE {where} ORDER BY {order_by} "
            f"LIMIT {max(0, top - bottom)} OFFSET {bottom}", values).fetchall() if top > bottom else []
        results = [{"id": str(r[0]), "expected_output": r[1], "input": r[2], "order": r[3], "persona": r[4],
                    "tags": r[5]} for r in rows]
        url = base_url if base_url is not None else ""
        next_link = replace_query_param(url, "page", number + 1) if number < num_pages else None
        if number <= 1:
            previous = None
        elif number == 2:
            previous = remove_query_param(url, "page")
        else:
            previous = replace_query_param(url, "page", number - 1)
        return {"count": count, "next": next_link, "previous": previous, "results": results}

    def page_json(self, dataset_id: str, params: dict[str, Any] | None = None, page: Any = 1,
                  page_size: int = 100, base_url: str | None = None) -> bytes:
        """The page as the response body DRF's JSONRenderer writes."""
        data = self.page(dataset_id, params, page, page_size, base_url)
        return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def load_corpus(baseline: PgBaseline, tables: Iterable[tuple[str, str, int, pa.Table]], log=None,
                workers: int = 2) -> float:
    """Create the schema and load (dataset_id, name, version, table) tuples; returns seconds.

    ``workers`` connections COPY in parallel (PostgreSQL parses JSONB on one
    core per connection); at most ``workers + 1`` tables are in memory.
    """
    import concurrent.futures as cf
    import threading

    t0 = time.perf_counter()
    baseline.create_schema()
    known: set[str] = set()
    rows = 0
    local = threading.local()
    conns = []

    def copy(dataset_id: str, version: int, table: pa.Table) -> None:
        if not hasattr(local, "b"):
            local.b = PgBaseline(baseline.cluster)
            conns.append(local.b)
        local.b.copy_version(dataset_id, version, table)

    with cf.ThreadPoolExecutor(max(1, workers)) as pool:
        pending: set[cf.Future] = set()
        for dataset_id, name, version, table in tables:
            if dataset_id not in known:
                baseline.add_dataset(dataset_id, name)
                known.add(dataset_id)
            pending.add(pool.submit(copy, dataset_id, version, table))
            rows += table.num_rows
            while len(pending) > max(1, workers):
                done, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for f in done:
                    f.result()
        for f in cf.as_completed(pending):
            f.result()
    for b in conns:
        b.close()
    t1 = time.perf_counter()
    if log:
        log(f"postgres: COPY of {rows:,} rows in {t1 - t0:.1f} s ({max(1, workers)} connections)")
    baseline.finish_load(log=log)
    return time.perf_counter() - t0
