"""File-target export speed (docs/export.md): Parquet directory, Delta table,
Iceberg table, each against a baseline run in the same process.

    .venv/bin/python -m benchmarks.bench_export_files                 # 5,100,000 rows
    .venv/bin/python -m benchmarks.bench_export_files --scale small --targets delta

Delta: the export of every committed version (one table commit per version;
from a local lake its Parquet files are copied in) against one
``write_deltalake`` of the same rows already in memory as one Arrow table,
into a fresh table partitioned the same way; then the export again with the
rows streamed through ``write_deltalake`` (the path of a remote lake).
Iceberg: the same against one ``table.append`` into a fresh table of the same
schema, partition spec and properties. Target: export >= 0.8x the baseline's
rows/s. Then a second export with nothing new (target < 2 s). Parquet:
rows/s of the export and its second run.

:data:`FILE_TARGETS` joins benchmarks.bench_export's table, so
``python -m benchmarks.bench_export --targets parquet,delta,iceberg`` runs
them too; this script is that with those three targets by default.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .bench_export import Context

#: name -> benchmark function (bench_export adds them to its TARGETS).
FILE_TARGETS: dict[str, Callable[["Context"], dict[str, Any]]] = {}


def target(name: str) -> Callable:
    def register(fn: Callable) -> Callable:
        FILE_TARGETS[name] = fn
        return fn
    return register


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s" if seconds > 0 else "inf rows/s"


def _export(ctx: "Context", url: str, fmt: str, **attributes: Any) -> Any:
    from overmind_lake.export.base import open_target, run_export

    opened = open_target(url, fmt)
    for name, value in attributes.items():
        setattr(opened, name, value)
    try:
        return run_export(ctx.lake, opened)
    finally:
        opened.close()


def _whole_corpus(ctx: "Context") -> Any:
    """Every committed row as one Arrow table, read the way the export reads them (not timed)."""
    import pyarrow as pa

    from overmind_lake.export.base import DATAPOINT_SCHEMA, version_batches, version_refs

    batches = [b for ref in version_refs(ctx.lake) for b in version_batches(ctx.lake, ref)]
    return pa.Table.from_batches(batches, schema=DATAPOINT_SCHEMA)


def _second_run(ctx: "Context", url: str, fmt: str, first: Any) -> float:
    t0 = time.perf_counter()
    second = _export(ctx, url, fmt)  # a new process would also pay the import: see the first figure
    seconds = time.perf_counter() - t0
    assert second.versions_exported == [] and second.versions_skipped == len(first.versions_exported)
    ctx.log(f"{fmt}: second run {seconds:.2f} s including opening the target (target < 2 s)")
    return seconds


def _report(ctx: "Context", fmt: str, first: Any, baseline_s: float, what: str) -> dict[str, Any]:
    rows = first.rows_exported
    ratio = (rows / first.seconds) / (rows / baseline_s)
    ctx.log(f"{fmt}: export {first} -> {rate(rows, first.seconds)}")
    ctx.log(f"{fmt}: baseline {what}: {rows:,} rows in {baseline_s:.2f} s -> {rate(rows, baseline_s)}")
    ctx.log(f"{fmt}: export / baseline = {ratio:.2f}x (target >= 0.8x)")
    return {"export_rows_s": rows / first.seconds, "baseline_rows_s": rows / baseline_s, "ratio": ratio}


@target("parquet")
def bench_parquet(ctx: "Context") -> dict[str, Any]:
    url = str(ctx.scratch / "parquet")
    first = _export(ctx, url, "parquet")
    assert first.rows_exported == ctx.scale.total_rows
    ctx.log(f"parquet: export {first} -> {rate(first.rows_exported, first.seconds)}")
    return {"export_rows_s": first.rows_exported / first.seconds, "second_run_s": _second_run(ctx, url, "parquet", first)}


@target("delta")
def bench_delta(ctx: "Context") -> dict[str, Any]:
    from deltalake import write_deltalake

    from overmind_lake.export.delta import PARTITION_BY

    url = str(ctx.scratch / "delta")
    first = _export(ctx, url, "delta")
    assert first.rows_exported == ctx.scale.total_rows
    data = _whole_corpus(ctx)
    t0 = time.perf_counter()
    write_deltalake(str(ctx.scratch / "delta-baseline"), data, partition_by=PARTITION_BY, mode="append")
    baseline_s = time.perf_counter() - t0
    del data
    out = _report(ctx, "delta", first, baseline_s, "one write_deltalake")
    out["second_run_s"] = _second_run(ctx, url, "delta", first)
    # the path a lake on an object store takes: rows streamed through write_deltalake
    streamed = _export(ctx, str(ctx.scratch / "delta-streamed"), "delta", copy_files=False)
    assert streamed.rows_exported == ctx.scale.total_rows
    ratio = baseline_s / streamed.seconds
    ctx.log(f"delta: export streamed through write_deltalake {streamed} -> "
            f"{rate(streamed.rows_exported, streamed.seconds)}; / baseline = {ratio:.2f}x")
    out["streamed_ratio"] = ratio
    return out


@target("iceberg")
def bench_iceberg(ctx: "Context") -> dict[str, Any]:
    from overmind_lake.export.iceberg import IcebergTarget

    url = str(ctx.scratch / "iceberg")
    first = _export(ctx, url, "iceberg")
    assert first.rows_exported == ctx.scale.total_rows
    data = _whole_corpus(ctx)
    baseline = IcebergTarget(str(ctx.scratch / "iceberg-baseline"))
    table = baseline._table(create=True)  # same schema, partition spec and properties
    t0 = time.perf_counter()
    table.append(data)
    baseline_s = time.perf_counter() - t0
    baseline.close()
    del data
    out = _report(ctx, "iceberg", first, baseline_s, "one table.append")
    out["second_run_s"] = _second_run(ctx, url, "iceberg", first)
    return out


def main(argv: list[str] | None = None) -> int:
    from . import bench_export

    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--targets" or a.startswith("--targets=") for a in argv):
        argv += ["--targets", "parquet,delta,iceberg"]
    return bench_export.main(argv)


if __name__ == "__main__":
    sys.exit(main())
