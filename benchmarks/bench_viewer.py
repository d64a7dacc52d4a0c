"""The viewer's datapoint page against the same JSON page (issue 17).

Target: an HTML page of 100 datapoints of the benchmark dataset (the big
dataset of the corpus: 10 versions x 500,000 rows) renders in at most 2x the
time of the same JSON page. Both are requested side by side in one process,
through the same app (``create_app`` over the cached corpus lake, Starlette's
TestClient, so both pay the same in-process HTTP overhead), alternating
which goes first.

Cases (page size 100):

  latest, page 1          the same page again and again (both sides' page caches hit)
  latest, random pages    a new page each time (no cache hit on either side)
  filtered, random pages  source + generator_model, a new page each time
  all versions, random    version_min=1 (5,000,000 rows), a new page each time

CPU columns: the process CPU time (all threads) of each request, median --
steadier than wall time when other processes share the cores.

"first call" is each side's first request of the case in this process:
the JSON first, then the HTML (whose first call also computes the facets).

    python -m benchmarks.bench_viewer                 # 5M-row corpus (cached)
    python -m benchmarks.bench_viewer --scale tiny --rounds 3
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from . import corpus
from ._common import median, ms
from .corpus import BIG, Scale, cached_lake

TARGET_RATIO = 2.0


def _timed_get(client, url: str, cpu: list[float] | None = None) -> float:
    """Wall seconds of one GET (and its process CPU seconds, all threads, into ``cpu``)."""
    c0, t0 = time.process_time(), time.perf_counter()
    resp = client.get(url)
    dt = time.perf_counter() - t0
    if cpu is not None:
        cpu.append(time.process_time() - c0)
    if resp.status_code != 200:
        raise SystemExit(f"{url}: {resp.status_code} {resp.text[:300]}")
    return dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_viewer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="default", help="corpus scale as in benchmarks.compare (default: 10x500000)")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--reuse-lake", choices=("auto", "always", "never"), default="auto")
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args(argv)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731

    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from starlette.testclient import TestClient

    from overmind_lake import Lake
    from overmind_lake.server import create_app

    scale = Scale.parse(args.scale)
    root, ids = cached_lake(scale, reuse=args.reuse_lake, log=log)
    ds = ids[BIG]
    with TestClient(create_app(Lake(root), warm_up=False)) as client:  # one event loop for every request
        return _run(client, ds, scale, args)


def _run(client, ds: str, scale: Scale, args: argparse.Namespace) -> int:
    client.get("/healthz")
    rng = random.Random(args.seed)
    filtered = f"source=synthetic&generator_model={corpus.GENERATOR_MODELS[0]}"

    def pages(query: str) -> int:
        count = client.get(f"/api/datasets/{ds}/datapoints/?{query}&page_size=1").json()["count"]
        return max(1, -(-count // 100))

    cases = {
        "latest, page 1": ("", None),
        "latest, random pages": ("", pages("")),
        "filtered, random pages": (filtered, pages(filtered)),
        "all versions, random pages": ("version_min=1", pages("version_min=1")),
    }
    results = {}
    for label, (query, last) in cases.items():
        def url(kind: str, page: int | None) -> str:
            path = f"/api/datasets/{ds}/datapoints/" if kind == "json" else f"/ui/datasets/{ds}/"
            parts = [p for p in (query, f"page={page}" if page else "") if p]
            return path + ("?" + "&".join(parts) if parts else "")

        if last is None:
            numbers: list[int | None] = [None] * (args.rounds + 1)
        elif last > args.rounds:
            numbers = list(rng.sample(range(1, last + 1), args.rounds + 1))
        else:  # a small corpus: fewer pages than rounds, some repeat (and hit the caches)
            numbers = [rng.randint(1, last) for _ in range(args.rounds + 1)]
        first_json = _timed_get(client, url("json", numbers[0]))
        first_html = _timed_get(client, url("html", numbers[0]))
        times: dict[str, list[float]] = {"json": [], "html": []}
        cpu: dict[str, list[float]] = {"json": [], "html": []}
        for i, page in enumerate(numbers[1:]):
            order = ("json", "html") if i % 2 == 0 else ("html", "json")
            for kind in order:
                times[kind].append(_timed_get(client, url(kind, page), cpu[kind]))
        results[label] = (median(times["json"]), median(times["html"]), first_json, first_html,
                          median(cpu["json"]), median(cpu["html"]))

    print(f"# overmind_lake viewer benchmark — {scale.big_versions} versions x {scale.big_rows:,} datapoints "
          f"(corpus {scale.key})")
    print(f"GET of a 100-datapoint page through the same in-process app, median of {args.rounds} "
          "alternating runs; first call = first request of the case in this process")
    print(f"| {'case':28s} | {'JSON ms':>8s} | {'HTML ms':>8s} | {'ratio':>6s} | {'first JSON':>10s} | "
          f"{'first HTML':>10s} | {'CPU JSON':>8s} | {'CPU HTML':>8s} | {'CPU ratio':>9s} | ok  |")
    print(f"|{'-' * 30}|{'-' * 9}:|{'-' * 9}:|{'-' * 7}:|{'-' * 11}:|{'-' * 11}:|{'-' * 9}:|{'-' * 9}:|"
          f"{'-' * 10}:|-----|")
    ok = True
    for label, (tj, th, fj, fh, cj, ch) in results.items():
        ratio = th / tj
        good = ratio <= TARGET_RATIO
        ok &= good
        print(f"| {label:28s} | {ms(tj):>8s} | {ms(th):>8s} | {ratio:5.2f}x | {ms(fj):>10s} | {ms(fh):>10s} | "
              f"{ms(cj):>8s} | {ms(ch):>8s} | {ch / cj if cj else float('nan'):8.2f}x | {'yes' if good else 'NO':3s} |")
    print("CPU = process CPU time of the request (every thread), median: steadier than wall time on a busy machine")
    print(f"target: HTML median <= {TARGET_RATIO:.0f}x the JSON median: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
