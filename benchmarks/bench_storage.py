"""Storage speed: add_version of 500,000 rows, then page 1 / last page of it,
on local disk and on a local S3 server (moto over HTTP, through s3fs).

    .venv/bin/python -m benchmarks.bench_storage [--rows N] [--rounds R] [--no-s3]

DuckDB reads an S3 root through the lake's fsspec filesystem (registered with
DuckDB). Its own httpfs extension is tried too; it is reported as unavailable
when it cannot be loaded (no network to download it, no wheel for this DuckDB).
Prints medians in milliseconds.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Callable

import duckdb

import overmind_lake

from .corpus import datapoints_table


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def httpfs_status() -> str:
    con = duckdb.connect()
    try:
        con.execute("LOAD httpfs").fetchall()
        return "loaded"
    except duckdb.Error:
        try:
            con.execute("INSTALL httpfs").fetchall()
            con.execute("LOAD httpfs").fetchall()
            return "installed"
        except duckdb.Error as exc:
            return "unavailable: " + str(exc).splitlines()[0][:160]
    finally:
        con.close()


def start_moto() -> tuple[subprocess.Popen, dict[str, Any]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    options = {"key": "bench", "secret": "bench", "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"}}
    import s3fs

    s3fs.S3FileSystem(skip_instance_cache=True, **options).mkdir("bench")
    return proc, options


def bench(label: str, root: str, options: dict | None, rows: int, rounds: int) -> dict[str, float]:
    table = datapoints_table(rows, seed=7, dataset=0, version=1)
    lake = overmind_lake.Lake(root, options)
    lake.create_dataset("bench", [{"input": 0}])
    writes, versions = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        v = lake.add_version("bench", table)
        writes.append((time.perf_counter() - t0) * 1000)
        versions.append(v.version)
    results = {"add_version": statistics.median(writes)}
    for page in (1, "last"):
        cold, warm = [], []
        for version in versions:
            fresh = overmind_lake.Lake(root, options)  # nothing cached: a new process's first request
            cold.append(timed(lambda: fresh.datapoints("bench", version=version).page(page=page)))
            warm.append(statistics.median(
                timed(lambda: fresh.datapoints("bench", version=version).page(page=page)) for _ in range(5)))
        results[f"page {page} (cold)"] = statistics.median(cold)
        results[f"page {page} (warm)"] = statistics.median(warm)
    print(f"{label:<28}" + "  ".join(f"{k} {v:8.1f} ms" for k, v in results.items()), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-s3", action="store_true")
    args = parser.parse_args()
    print(f"duckdb {duckdb.__version__}; httpfs: {httpfs_status()}")
    print(f"{args.rows:,} rows per version, medians of {args.rounds} versions")
    with tempfile.TemporaryDirectory() as tmp:
        bench("local disk", f"{tmp}/lake", None, args.rows, args.rounds)
    if not args.no_s3:
        proc, options = start_moto()
        try:
            bench("s3 (moto) via fsspec", f"s3://bench/{uuid.uuid4().hex}", options, args.rows, args.rounds)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
