"""Timing and ingest helpers shared by compare.py and bench_core.py."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import orjson
import pyarrow as pa

from .corpus import OUT_DIR, Scale, datapoints_table

JSON_COLUMNS = ("input", "expected_output", "tags")


def ms(seconds: float) -> str:
    v = seconds * 1000
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def median(xs) -> float:
    return statistics.median(xs) if xs else float("nan")


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def table_to_dicts(table: pa.Table) -> list[dict]:
    """Python dicts as a user would pass them: JSON fields as JSON values."""
    rows = table.to_pylist()
    loads = orjson.loads
    for r in rows:
        for c in JSON_COLUMNS:
            v = r[c]
            r[c] = None if v is None else loads(v)
    return rows


def write_jsonl(rows: list[dict], path: Path) -> None:
    dumps = orjson.dumps
    with open(path, "wb") as f:
        f.write(b"\n".join(dumps(r) for r in rows))
        f.write(b"\n")


def ingest_rates(rows: int = 500_000, repeats: int = 3, kinds=("arrow", "dicts", "jsonl"),
                 seed: int = Scale.seed, log=print) -> dict[str, list[float]]:
    """rows/s of ``Lake.add_version`` of one ``rows``-row version, per input kind (validation included).

    Each measurement writes a new version into a scratch lake under
    benchmarks/out/ (removed afterwards); preparing the input (dicts, the
    JSONL file) is not timed.
    """
    from overmind_lake import Lake

    table = datapoints_table(rows, seed=seed, dataset=900, version=1)
    inputs: dict[str, object] = {"arrow": table}
    scratch = Path(tempfile.mkdtemp(prefix="ingest-", dir=_out()))
    try:
        if "dicts" in kinds or "jsonl" in kinds:
            dicts = table_to_dicts(table)
            inputs["dicts"] = dicts
            if "jsonl" in kinds:
                path = scratch / "version.jsonl"
                write_jsonl(dicts, path)
                inputs["jsonl"] = str(path)
        lake = Lake(scratch / "lake")
        ds = lake.create_dataset("ingest", []).dataset_id
        rates: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(repeats):
            for kind in kinds:
                dt = timed(lambda: lake.add_version(ds, inputs[kind]))
                rates[kind].append(rows / dt)
                if log:
                    log(f"  ingest {kind:5s}: {rows:,} rows in {dt:.2f} s ({rows / dt:,.0f} rows/s)")
        return rates
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _out() -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    return OUT_DIR
