"""Issue 2's benchmark: the lake core on one dataset of 10 versions x 500,000 datapoints.

    .venv/bin/python -m benchmarks.bench_core [--rounds 15] [--scale 10x500000]

Medians over repeated runs of ``q.page()`` (count included) on a warm Lake,
and ``add_version`` throughput of one 500,000-row version from an Arrow table
and from Python dicts, printed next to the targets.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import corpus
from ._common import ingest_rates, median, ms
from .corpus import BIG, Scale, cached_lake

TARGETS_MS = {
    "page 1 of the latest version": 10,
    "last page of the latest version": 30,
    "page 1, source + generator_model": 40,
}
TARGETS_ROWS_S = {"arrow": 300_000, "dicts": 100_000}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_core", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="default",
                    help="corpus scale as in benchmarks.compare (default: 10x500000 + 50 small datasets, "
                         "the same cached lake compare uses)")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--ingest-repeats", type=int, default=3)
    ap.add_argument("--no-ingest", action="store_true")
    ap.add_argument("--reuse-lake", choices=("auto", "always", "never"), default="auto")
    args = ap.parse_args(argv)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731

    scale = Scale.parse(args.scale)
    from overmind_lake import Lake

    root, ids = cached_lake(scale, reuse=args.reuse_lake, log=log)
    lake = Lake(root)
    ds = ids[BIG]
    src_gm = {"source": "synthetic", "generator_model": corpus.GENERATOR_MODELS[0]}
    cases = {
        "page 1 of the latest version": ({}, 1),
        "last page of the latest version": ({}, "last"),
        "page 1, source + generator_model": (src_gm, 1),
    }
    results = {}
    for label, (params, page) in cases.items():
        t0 = time.perf_counter()
        lake.datapoints(ds, **params).page(page)
        first = time.perf_counter() - t0
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            lake.datapoints(ds, **params).page(page)
            times.append(time.perf_counter() - t0)
        results[label] = (median(times), first)

    rates = {}
    if not args.no_ingest:
        rates = ingest_rates(scale.big_rows, args.ingest_repeats, kinds=("arrow", "dicts"), seed=scale.seed, log=log)

    print(f"# overmind_lake core benchmark — {scale.big_versions} versions x {scale.big_rows:,} datapoints "
          f"(corpus {scale.key})")
    print(f"q.page() including count, page_size 100, median of {args.rounds} runs on a warm Lake")
    print(f"| {'request':34s} | {'median ms':>9s} | {'first call ms':>13s} | {'target':>8s} | ok  |")
    print(f"|{'-' * 36}|{'-' * 10}:|{'-' * 14}:|{'-' * 9}:|-----|")
    ok = True
    for label, (t, first) in results.items():
        good = t * 1000 <= TARGETS_MS[label]
        ok &= good
        print(f"| {label:34s} | {ms(t):>9s} | {ms(first):>13s} | {'<= ' + str(TARGETS_MS[label]):>8s} | "
              f"{'yes' if good else 'NO':3s} |")
    for kind, rs in rates.items():
        r = median(rs)
        good = r >= TARGETS_ROWS_S[kind]
        ok &= good
        print(f"add_version of {scale.big_rows:,} rows from {kind:5s}: {r:>10,.0f} rows/s "
              f"(target >= {TARGETS_ROWS_S[kind]:,}) {'yes' if good else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
