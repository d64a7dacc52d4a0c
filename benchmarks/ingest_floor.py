"""How fast can an Arrow ingest of one version be on this machine, at best?

Runs only the work no correct ingest can skip, side by side on threads (each
piece releases the GIL), with nothing else in the way: no staging, no
canonical JSON text, no sorting, no commit record.

  encode    the version's two Parquet files (zstd 1: the storage target needs
            it; lz4 and snappy pass the 1/6 budget), written as the lake does
  checksum  the sha256 content checksum docs/format.md defines, recorded with the version
  parse     one JSON parse of every input / expected_output / tags text
  rules     the narrow-column rules (UUIDs, source, persona length, order)
  ids       id uniqueness
  strict    the scan for what only a lenient JSON parser accepts

It prints each piece's CPU seconds, the wall time of all of them together,
and the rows/s that bounds ``Lake.add_version`` from an Arrow table::

    python -m benchmarks.ingest_floor [--rows 500000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import duckdb

from overmind_lake.ingest.checksum import content_checksum
from overmind_lake.ingest.sources import to_staging
from overmind_lake.ingest.strict import check_raw
from overmind_lake.schema import FILE_SCHEMA
from overmind_lake.storage.filesystem import LakeFileSystem
from overmind_lake.storage.writer import write_parquet

from ._common import _out, median
from .corpus import Scale, datapoints_table

ARROW_TARGET = 500_000  # rows/s, issue 6

_PARSE = ("SELECT count(*) FILTER (json_valid(input) AND json_valid(expected_output) AND json_valid(tags)) "
          "FROM t")
_RULES = ("SELECT count(*) FILTER (try_cast(id AS UUID) IS NOT NULL AND (agent IS NULL OR try_cast(agent AS UUID) "
          "IS NOT NULL) AND source IN ('seed', 'synthetic', 'augmented', 'production') AND "
          "(persona IS NULL OR length(persona) <= 128) AND \"order\" >= 0) FROM t")
_IDS = "SELECT count(DISTINCT id) FROM t"


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)

    table = datapoints_table(args.rows, seed=Scale.seed, dataset=900, version=1).cast(FILE_SCHEMA)
    staging = to_staging(table)
    scratch = tempfile.mkdtemp(prefix="floor-", dir=_out())
    fs = LakeFileSystem(scratch)
    con = duckdb.connect(config={"threads": 2})
    half = -(-table.num_rows // 2)
    serial = [0]

    def encode() -> None:
        serial[0] += 1
        with ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(write_parquet, fs, f"v{serial[0]}-{k}.parquet", table.slice(k * half, half))
                      for k in range(2)]:
                f.result()

    def sql(query: str):
        def run() -> None:
            cur = con.cursor()  # one per call: the pieces run on their own threads
            cur.register("t", table)
            cur.execute(query).fetchall()
            cur.close()
        return run

    pieces = {"encode": encode, "checksum": lambda: content_checksum(table), "parse": sql(_PARSE),
              "rules": sql(_RULES), "ids": sql(_IDS), "strict": lambda: check_raw(staging)}
    try:
        alone = {}
        for name, fn in pieces.items():
            cpu = []
            for _ in range(args.repeats):
                c0 = _cpu()
                fn()
                cpu.append(_cpu() - c0)
            alone[name] = median(cpu)
            print(f"  {name:9s} {alone[name]:.2f} CPU-s")
        walls = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            with ThreadPoolExecutor(len(pieces)) as pool:
                for f in [pool.submit(fn) for fn in pieces.values()]:
                    f.result()
            walls.append(time.perf_counter() - t0)
        total, wall = sum(alone.values()), median(walls)
        cores = os.cpu_count() or 1
        print(f"all pieces: {total:.2f} CPU-s; together {wall:.3f} s wall (median of {args.repeats}); "
              f"{total / cores:.3f} s if {cores} cores were perfectly shared")
        best = args.rows / max(wall, total / cores)
        print(f"an Arrow ingest of {args.rows:,} rows is bounded by {best:,.0f} rows/s "
              f"({best / ARROW_TARGET:.2f}x the {ARROW_TARGET:,} rows/s target)")
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
