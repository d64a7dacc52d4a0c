"""A ``serve`` process over many datasets, every request the first of its kind.

    .venv/bin/python -m benchmarks.serve_first_calls                 # 1,000 datasets of 1,000-20,000 rows
    .venv/bin/python -m benchmarks.serve_first_calls --datasets 50 --requests 200

The lake (cached under benchmarks/out/, built once and resumed if
interrupted) holds ``--datasets`` single-version datasets of random sizes in
``[--min-rows, --max-rows]``. One ``python -m overmind_lake serve`` process
answers ``--requests`` GETs from one keep-alive client; each asks a random
dataset for page 1 with a random filter (none, source, generator_model,
agent, or two of them) and a random ordering (none or one of the ordering
fields, ascending or descending), never the same (dataset, filter,
ordering) twice — so no request is served from a cache built for it.
Prints p50 / p90 / p99 / max latency (targets, issue 16: p50 <= 10 ms,
p99 <= 50 ms) and the server's peak RSS. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from urllib import parse

from . import corpus
from .corpus import OUT_DIR

FORMAT = 1


def build_lake(datasets: int, min_rows: int, max_rows: int, seed: int, log=print,
               out_dir: Path = OUT_DIR) -> tuple[Path, list[str]]:
    """The many-datasets lake (cached; a partial build is resumed)."""
    from overmind_lake import Lake

    root = out_dir / f"serve-c{corpus.CORPUS_FORMAT}.{FORMAT}-{datasets}x{min_rows}-{max_rows}-s{seed}"
    marker = root / "_bench_serve.json"
    root.mkdir(parents=True, exist_ok=True)
    done = json.loads(marker.read_text()) if marker.exists() else {"ids": []}
    lake = Lake(root)
    rng = random.Random(seed)
    sizes = [rng.randint(min_rows, max_rows) for _ in range(datasets)]
    t0 = time.perf_counter()
    for i in range(len(done["ids"]), datasets):
        name = f"serve-{i:05d}"
        try:
            ds = lake.dataset(name).id
        except Exception:  # noqa: BLE001  (not written yet)
            table = corpus.datapoints_table(sizes[i], seed=seed, dataset=3000 + i, version=1)
            ds = lake.create_dataset(name, table).dataset_id
        done["ids"].append(ds)
        if (i + 1) % 50 == 0 or i + 1 == datasets:
            marker.write_text(json.dumps(done))
            log(f"  serve lake: {i + 1}/{datasets} datasets ({time.perf_counter() - t0:.0f} s)")
    return root, done["ids"]


def _requests(ids: list[str], count: int, seed: int) -> list[str]:
    """``count`` distinct (dataset, filter, ordering) page-1 query strings."""
    rng = random.Random(seed + 1)
    agents = corpus.agents(seed)
    filters = [("source", s) for s in corpus.SOURCES] + [("generator_model", g) for g in corpus.GENERATOR_MODELS] \
        + [("agent", a) for a in agents]
    orderings = [None] + [("-" if d else "") + f for f in ("order", "id", "persona", "version", "source",
                                                            "generator_model") for d in (False, True)]
    seen, out = set(), []
    while len(out) < count and len(seen) < count * 10:
        ds = rng.choice(ids)
        params = dict(rng.sample(filters, rng.choice((0, 1, 1, 2))))
        ordering = rng.choice(orderings)
        if ordering:
            params["ordering"] = ordering
        key = (ds, tuple(sorted(params.items())))
        if key in seen:
            continue
        seen.add(key)
        qs = parse.urlencode(sorted(params.items()))
        out.append(f"/api/datasets/{ds}/datapoints/" + (f"?{qs}" if qs else ""))
    return out


def _quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run(root: Path, ids: list[str], requests: int, seed: int, max_seconds: float, out=print, log=print) -> dict:
    import httpx

    from .compare import _free_port

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "overmind_lake", "serve", "--root", str(root), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        deadline = time.monotonic() + 120
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("serve did not start: " + (proc.stderr.read() or b"").decode(errors="replace")[-500:])
            time.sleep(0.1)
        urls = _requests(ids, requests, seed)
        times = []
        stop = time.monotonic() + max_seconds
        for url in urls:
            t0 = time.perf_counter()
            resp = client.get(url)
            times.append(time.perf_counter() - t0)
            if resp.status_code != 200:
                raise RuntimeError(f"GET {url}: {resp.status_code} {resp.text[:200]}")
            if time.monotonic() > stop:
                break
        client.close()
        rss = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    ms_sorted = sorted(t * 1000 for t in times)
    result = {"datasets": len(ids), "requests": len(ms_sorted), "p50_ms": _quantile(ms_sorted, 0.5),
              "p90_ms": _quantile(ms_sorted, 0.9), "p99_ms": _quantile(ms_sorted, 0.99), "max_ms": ms_sorted[-1],
              "peak_rss_mb": rss}
    out(f"serve over {len(ids):,} datasets, {len(ms_sorted):,} requests each the first of its kind "
        f"(random dataset, filter, ordering; page 1):")
    out(f"  p50 {result['p50_ms']:.1f} ms (target <= 10), p90 {result['p90_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms (target <= 50), max {result['max_ms']:.1f} ms; "
        f"server peak RSS {rss:.0f} MB" if rss else "")
    return result


def _peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.serve_first_calls", description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", type=int, default=1000)
    ap.add_argument("--min-rows", type=int, default=1000)
    ap.add_argument("--max-rows", type=int, default=20_000)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--max-seconds", type=float, default=300, help="stop sending after this long (default 300)")
    ap.add_argument("--seed", type=int, default=corpus.Scale().seed)
    ap.add_argument("--out-dir", type=Path, default=OUT_DIR)
    ap.add_argument("--built-only", action="store_true",
                    help="use the datasets a partial build has written so far, build no more")
    args = ap.parse_args(argv)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    if args.built_only:
        root = args.out_dir / (f"serve-c{corpus.CORPUS_FORMAT}.{FORMAT}-{args.datasets}x{args.min_rows}-"
                               f"{args.max_rows}-s{args.seed}")
        ids = json.loads((root / "_bench_serve.json").read_text())["ids"]
    else:
        root, ids = build_lake(args.datasets, args.min_rows, args.max_rows, args.seed, log=log, out_dir=args.out_dir)
    run(root, ids, args.requests, args.seed, args.max_seconds, log=log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
