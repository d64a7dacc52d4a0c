"""First calls: each query's first request in a process that has served other queries.

    .venv/bin/python -m benchmarks.first_calls                 # the corpus lake, this code
    .venv/bin/python -m benchmarks.first_calls --old /tmp/base # side by side with another checkout

A server over a real lake mostly sees first calls (a new filter, another
ordering, another version), so medians of repeated calls say little about
what users feel. Every (query, code) pair runs in a fresh process which
first serves the same other requests — page 1 of another dataset and a page
of the big dataset that no benchmark query reads — and then times the
query's first ``page()``; the codes alternate, round by round, so both see
the same machine. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from ._common import median

PAGE_SIZE = 100

#: What the child runs: open the lake, serve the warm-up requests, time the query.
CHILD = r"""
import json, sys, time
spec = json.loads(sys.argv[1])
from overmind_lake import Lake
lake = Lake(spec["root"])
for ds, params, page in spec["warm"]:
    lake.datapoints(ds, **params).page(page, spec["page_size"])
ds, params, page = spec["query"]
c0, t0 = time.process_time(), time.perf_counter()
out = lake.datapoints(ds, **params).page(page, spec["page_size"])
elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "count": out["count"],
                  "ids": [r["id"] for r in out["results"]]}))
"""


def warm_requests(ids: dict[str, str], query_dataset: str, big: str, small_names: list[str],
                  big_count: int) -> list[tuple[str, dict, int]]:
    """The other requests a process has served before a first call: page 1 of
    a small dataset the query does not read, and a deep page of the big one
    (4/5 of the way: page 4,000 of 5,000 at the default scale) that no
    benchmark query reads."""
    other = next(n for n in small_names if n != query_dataset)
    return [(ids[other], {}, 1), (ids[big], {}, max(1, (-(-big_count // PAGE_SIZE)) * 4 // 5))]


def first_call(root: Path, query: tuple[str, dict, int], warm: list, code: str | None = None) -> dict:
    """Run one first call in a fresh process (``code``: a checkout to import the lake from)."""
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = code
    spec = {"root": str(root), "warm": warm, "query": list(query), "page_size": PAGE_SIZE}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True,
                          env=env, cwd=code or None, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    from . import compare
    from .corpus import BIG, Scale, cached_lake, small_name

    ap = argparse.ArgumentParser(prog="python -m benchmarks.first_calls", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="default")
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes per query and code (default 3)")
    ap.add_argument("--old", metavar="DIR", help="another checkout to run side by side (e.g. a git archive)")
    ap.add_argument("--only", help="substring of the query labels to run")
    args = ap.parse_args(argv)
    scale = Scale.parse(args.scale)
    root, ids = cached_lake(scale, reuse="always", log=lambda *a: print(*a, file=sys.stderr))
    smalls = [small_name(i) for i in range(min(scale.small_datasets, 2))]
    codes = {"new": None} if not args.old else {"old": args.old, "new": None}
    queries = [q for q in compare.default_queries(scale.seed) if not args.only or args.only in q.label]
    from overmind_lake import Lake

    lake = Lake(root)
    results: dict[str, dict[str, list[float]]] = {}
    cpu: dict[str, dict[str, list[float]]] = {}
    print("| request | " + " | ".join(f"{c} wall ms (runs) | {c} CPU ms" for c in codes)
          + (" | old/new wall | same page |" if args.old else " |"))
    print("|---|" + "---:|---:|" * len(codes) + ("---:|---|" if args.old else ""))
    for q in queries:
        count = lake.datapoints(ids[q.dataset], **q.params).count()
        last = max(1, -(-count // PAGE_SIZE))
        page = {"middle": (last + 1) // 2, "last": last}.get(q.page, q.page)
        warm = warm_requests(ids, q.dataset, BIG, smalls, lake.datapoints(ids[BIG]).count())
        results[q.label] = {c: [] for c in codes}
        cpu[q.label] = {c: [] for c in codes}
        seen = {}
        for r in range(args.rounds):
            for name in (list(codes) if r % 2 == 0 else list(codes)[::-1]):
                out = first_call(root, (ids[q.dataset], q.params, page), warm, codes[name])
                results[q.label][name].append(out["ms"])
                cpu[q.label][name].append(out["cpu_ms"])
                seen[name] = (out["count"], out["ids"])
        same = "yes" if len({json.dumps(v) for v in seen.values()}) == 1 else "NO"
        line = f"| {q.label} | " + " | ".join(
            f"{median(results[q.label][c]):.1f} ({', '.join(f'{t:.0f}' for t in results[q.label][c])}) | "
            f"{median(cpu[q.label][c]):.1f}" for c in codes)
        if args.old:
            line += f" | {median(results[q.label]['old']) / median(results[q.label]['new']):.1f}x | {same} |"
        else:
            line += " |"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
