"""Warehouse export speed (docs/export.md): every committed version of the
benchmark corpus exported to each target, against baselines run in the same
process over the same rows.

    .venv/bin/python -m benchmarks.bench_export                 # 5,100,000 rows
    .venv/bin/python -m benchmarks.bench_export --scale tiny --targets duckdb

PostgreSQL (a throwaway local server, benchmarks/pg_baseline.PgCluster): the
export of the whole corpus, then two baselines over the first
``--baseline-rows`` rows of the same lake, each into a plain table with the
same columns and the same indexes (created before the load, as a team
loading by hand would): psycopg ``executemany`` of an INSERT, and a text
``COPY … FROM STDIN`` fed ``write_row`` with Python tuples. The baselines run
on a subset (they are slow) and the comparison is of rows/s. Then a second
export with nothing new. Targets: >= 10x the executemany rows/s, >= 1.5x the
COPY rows/s, the second run under 2 s.

DuckDB file: the whole corpus into a new .duckdb file (target >= 1,000,000
rows/s) and a second run.

Each target is a function in :data:`TARGETS` taking a :class:`Context` and
returning its figures; add one with :func:`target` (the file targets —
parquet, delta, iceberg — register theirs the same way).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .corpus import OUT_DIR, Scale, cached_lake


@dataclass
class Context:
    """What a target's benchmark gets: the lake, a scratch directory, options."""

    lake: Any  # overmind_lake.Lake over the cached corpus
    scale: Scale
    scratch: Path
    baseline_rows: int
    log: Callable[[str], None] = print
    results: dict[str, Any] = field(default_factory=dict)


#: name -> benchmark function; run in this order by main().
TARGETS: dict[str, Callable[[Context], dict[str, Any]]] = {}


def target(name: str) -> Callable[[Callable[[Context], dict[str, Any]]], Callable[[Context], dict[str, Any]]]:
    def register(fn: Callable[[Context], dict[str, Any]]) -> Callable[[Context], dict[str, Any]]:
        TARGETS[name] = fn
        return fn
    return register


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s" if seconds > 0 else "inf rows/s"


def _subset_rows(ctx: Context) -> list[tuple]:
    """The first ``baseline_rows`` rows of the export's own stream, as Python tuples."""
    from overmind_lake.export.base import version_batches, version_refs

    out: list[tuple] = []
    for ref in version_refs(ctx.lake):
        for batch in version_batches(ctx.lake, ref):
            columns = [c.to_pylist() for c in batch.columns]
            out.extend(zip(*columns))
            if len(out) >= ctx.baseline_rows:
                return out[:ctx.baseline_rows]
    return out


_BASELINE_DDL = """
DROP TABLE IF EXISTS baseline_datapoints;
CREATE TABLE baseline_datapoints (
    dataset_id uuid NOT NULL, version integer NOT NULL, id uuid NOT NULL, input jsonb, expected_output jsonb,
    "order" bigint NOT NULL, persona text, tags jsonb, source text NOT NULL, agent uuid, generator_model text,
    PRIMARY KEY (dataset_id, version, id));
CREATE INDEX ON baseline_datapoints (dataset_id, version, "order", id);
CREATE INDEX ON baseline_datapoints (dataset_id, version, source, "order", id);
CREATE INDEX ON baseline_datapoints (dataset_id, version, agent, "order", id);
CREATE INDEX ON baseline_datapoints (dataset_id, version, generator_model, "order", id);
"""
_BASELINE_COLUMNS = ('dataset_id, version, id, input, expected_output, "order", persona, tags, source, agent, '
                     'generator_model')


def _baseline(conn: Any, rows: list[tuple], how: str) -> float:
    with conn.cursor() as cur:
        cur.execute(_BASELINE_DDL)
    t0 = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur:
        if how == "executemany":
            cur.executemany(f"INSERT INTO baseline_datapoints ({_BASELINE_COLUMNS}) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        else:
            with cur.copy(f"COPY baseline_datapoints ({_BASELINE_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    return time.perf_counter() - t0


def _server_floor(ctx: Context, conn: Any, limit: int) -> float:
    """Seconds the server alone takes to take ``limit`` rows: no index, no client work timed."""
    from overmind_lake.export.base import version_batches, version_refs
    from overmind_lake.export import pgcopy
    from overmind_lake.export.postgres import DATAPOINTS, copy_rows

    chunks: list[bytes] = []
    n = 0
    for ref in version_refs(ctx.lake):
        for batch in version_batches(ctx.lake, ref):
            batch = batch.slice(0, limit - n)
            chunks.extend(bytes(c) for c in copy_rows(batch, ref.dataset_id, ref.version))
            n += batch.num_rows
            if n >= limit:
                break
        if n >= limit:
            break
    t0 = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"CREATE TABLE floor_datapoints (LIKE {DATAPOINTS})")
        with cur.copy("COPY floor_datapoints FROM STDIN (FORMAT binary)") as copy:
            copy.write(pgcopy.SIGNATURE)
            for chunk in chunks:
                copy.write(chunk)
            copy.write(pgcopy.TRAILER)
    seconds = time.perf_counter() - t0
    conn.execute("DROP TABLE floor_datapoints")
    return seconds


@target("postgres")
def bench_postgres(ctx: Context) -> dict[str, Any]:
    from overmind_lake.export.postgres import DATAPOINTS

    from .pg_baseline import PgCluster

    out: dict[str, Any] = {}
    with PgCluster(log=ctx.log) as pg:
        url = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        first = ctx.lake.export(url)
        out["export_rows_s"] = first.rows_exported / first.seconds
        ctx.log(f"postgres: export  {first}  -> {rate(first.rows_exported, first.seconds)}")
        second = ctx.lake.export(url)
        out["second_run_s"] = second.seconds
        ctx.log(f"postgres: second run  {second}")
        with pg.connect() as conn:
            (count,) = conn.execute(f"SELECT count(*) FROM {DATAPOINTS}").fetchone()
            assert count == first.rows_exported == ctx.scale.total_rows, (count, first.rows_exported)
            rows = _subset_rows(ctx)
            for how in ("executemany", "copy"):
                seconds = _baseline(conn, rows, how)
                out[f"{how}_rows_s"] = len(rows) / seconds
                ctx.log(f"postgres: baseline {how:11s} {len(rows):,} rows in {seconds:.2f} s "
                        f"-> {rate(len(rows), seconds)}")
            seconds = _server_floor(ctx, conn, len(rows))
            ctx.log(f"postgres: reference: the server alone parsing the same {len(rows):,} rows (binary COPY of "
                    f"pre-encoded bytes into a bare new table, one connection) in {seconds:.2f} s "
                    f"-> {rate(len(rows), seconds)}")
    ratio_many = out["export_rows_s"] / out["executemany_rows_s"]
    ratio_copy = out["export_rows_s"] / out["copy_rows_s"]
    ctx.log(f"postgres: export / executemany = {ratio_many:.1f}x (target >= 10x); "
            f"export / plain COPY = {ratio_copy:.2f}x (target >= 1.5x); "
            f"second run {out['second_run_s']:.2f} s (target < 2 s)")
    out.update(ratio_executemany=ratio_many, ratio_copy=ratio_copy)
    return out


@target("duckdb")
def bench_duckdb(ctx: Context) -> dict[str, Any]:
    path = ctx.scratch / "warehouse.duckdb"
    url = f"duckdb://{path}"
    first = ctx.lake.export(url)
    ctx.log(f"duckdb: export  {first}  -> {rate(first.rows_exported, first.seconds)} (target >= 1,000,000)")
    second = ctx.lake.export(url)
    ctx.log(f"duckdb: second run  {second}")
    assert first.rows_exported == ctx.scale.total_rows
    seconds = _duckdb_floor(ctx)
    ctx.log(f"duckdb: reference: DuckDB alone copying the same Parquet files into a new file's table "
            f"(no casts, no JSON validation, one statement) in {seconds:.2f} s "
            f"-> {rate(ctx.scale.total_rows, seconds)}")
    return {"export_rows_s": first.rows_exported / first.seconds, "second_run_s": second.seconds,
            "floor_rows_s": ctx.scale.total_rows / seconds}


def _duckdb_floor(ctx: Context) -> float:
    import duckdb

    from overmind_lake.export.base import version_refs

    files = [f for ref in version_refs(ctx.lake) for f in ref.files]
    con = duckdb.connect(str(ctx.scratch / "floor.duckdb"))
    try:
        t0 = time.perf_counter()
        con.execute("CREATE TABLE floor AS SELECT * FROM read_parquet(?)", [files])
        return time.perf_counter() - t0
    finally:
        con.close()


# -- the file targets (parquet, delta, iceberg): benchmarks/bench_export_files.py
from .bench_export_files import FILE_TARGETS  # noqa: E402

TARGETS.update(FILE_TARGETS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="default", help="corpus scale: default, small, tiny or VxR+DxS")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}")
    parser.add_argument("--baseline-rows", type=int, default=200_000,
                        help="rows the PostgreSQL baselines load (a subset of the corpus)")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    from overmind_lake import Lake

    scale = Scale.parse(args.scale)
    root, _ids = cached_lake(scale, out_dir=args.out_dir, reuse="always")
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}: expected {', '.join(TARGETS)}")
    print(f"export benchmark: {scale.total_rows:,} rows ({scale.key}), lake {root}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="export-", dir=args.out_dir))
    try:
        ctx = Context(lake=Lake(root), scale=scale, scratch=scratch, baseline_rows=args.baseline_rows)
        for name in names:
            ctx.results[name] = TARGETS[name](ctx)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
