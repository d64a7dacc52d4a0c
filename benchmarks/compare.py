"""The lake side by side with the hosted stack (DRF + django-filter on PostgreSQL 15).

    .venv/bin/python -m benchmarks.compare            # default scale, < 20 min from a fresh clone
    .venv/bin/python -m benchmarks.compare --scale small --rounds 3   # a quick look

Steps: build (or reuse, under benchmarks/out/) the deterministic corpus as a
lake; start a throwaway PostgreSQL 15 and load the same rows; check that
every query gives the same page in both systems; then run the queries on
PostgreSQL, ``Lake.datapoints(...).page()``, ``page_json()`` and the HTTP
server in interleaved rounds (``--interleave``: the systems take turns every
round, or every request) and print median ms per query × system with the
ratio to PostgreSQL (``12.0x`` = 12 times faster than PostgreSQL). Then ingest
throughput, storage bytes, and the cost curve at growing dataset sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib import parse

import pyarrow.parquet as pq

from . import corpus
from ._common import ingest_rates, median, ms
from .corpus import BIG, OUT_DIR, Scale, cached_lake, dir_bytes, parts, small_name
from .pg_baseline import PgBaseline, PgCluster, load_corpus

PAGE_SIZE = 100


@dataclass
class Query:
    label: str
    dataset: str  # corpus dataset name
    params: dict[str, Any]
    page: Any  # 1, "middle", "last"
    resolved_page: Any = None
    count: int | None = None
    times: dict[str, list[float]] = field(default_factory=dict)
    first: dict[str, float] = field(default_factory=dict)
    first_call: dict[str, float] = field(default_factory=dict)  # in a process that served other queries
    same: str = ""


def default_queries(seed: int) -> list[Query]:
    src_gm = {"source": "synthetic", "generator_model": corpus.GENERATOR_MODELS[0]}
    rng = {"version_min": 3, "version_max": 7}
    return [
        Query("page 1, latest version", BIG, {}, 1),
        Query("middle page, latest", BIG, {}, "middle"),
        Query("last page, latest", BIG, {}, "last"),
        Query("page 1, source+generator_model", BIG, src_gm, 1),
        Query("last page, source+generator_model", BIG, src_gm, "last"),
        Query("page 1, agent", BIG, {"agent": corpus.agents(seed)[2]}, 1),
        Query("ordering=-persona, page 1", BIG, {"ordering": "-persona"}, 1),
        Query("ordering=-persona, last page", BIG, {"ordering": "-persona"}, "last"),
        Query("version_min=3&version_max=7, page 1", BIG, rng, 1),
        Query("version_min=3&version_max=7, last page", BIG, rng, "last"),
        Query("small dataset (1 version), page 1", small_name(0), {}, 1),
    ]


def url_for(base: str, dataset_id: str, params: dict[str, Any], page: Any) -> str:
    items = {k: str(v) for k, v in params.items()}
    if page != 1:
        items["page"] = str(page)
    qs = parse.urlencode(sorted(items.items()))
    return f"{base}/api/datasets/{dataset_id}/datapoints/" + ("?" + qs if qs else "")


# -- the HTTP server -----------------------------------------------------------------

class HttpTarget:
    """The lake's HTTP server: a subprocess on loopback, else the ASGI app in-process."""

    def __init__(self, root: Path, mode: str, log=print):
        self.mode = mode
        self.proc: subprocess.Popen | None = None
        self.client = None
        self.loop = None
        self.base = "http://testserver"
        self.log = log
        self.describe = "off"
        if mode == "off":
            return
        try:
            import overmind_lake.server  # noqa: F401
        except Exception as exc:  # the server may not exist yet
            self.mode = "off"
            self.describe = f"off (overmind_lake.server not importable: {type(exc).__name__}: {exc})"
            return
        import httpx

        if mode in ("auto", "subprocess"):
            port = _free_port()
            cmd = [sys.executable, "-m", "overmind_lake", "serve", "--root", str(root), "--port", str(port)]
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.base = f"http://127.0.0.1:{port}"
            client = httpx.Client(base_url=self.base, timeout=120)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if client.get("/healthz").status_code == 200:
                        self.client, self.mode = client, "subprocess"
                        self.describe = f"`python -m overmind_lake serve` subprocess on {self.base}, keep-alive client"
                        return
                except httpx.TransportError:
                    time.sleep(0.1)
            client.close()
            err = b""
            if self.proc.poll() is None:
                self.proc.terminate()
                self.proc.wait(10)
            else:
                err = self.proc.stderr.read()[-300:] if self.proc.stderr else b""
            self.proc = None
            if mode == "subprocess":
                raise RuntimeError("server did not start: " + err.decode(errors="replace"))
            log(f"http: subprocess server did not start ({err.decode(errors='replace').strip()}); using ASGI")
        from overmind_lake import Lake
        from overmind_lake.server import create_app

        app = create_app(Lake(root))
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=self.base, timeout=120)
        self.mode = "asgi"
        self.describe = "ASGI app in-process (httpx.ASGITransport, no sockets)"

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def get(self, url: str) -> bytes:
        if self.loop is not None:
            resp = self.loop.run_until_complete(self.client.get(url))
        else:
            resp = self.client.get(url)
        if resp.status_code != 200:
            raise RuntimeError(f"GET {url}: {resp.status_code} {resp.text[:200]}")
        return resp.content

    def close(self) -> None:
        if self.client is not None:
            if self.loop is not None:
                self.loop.run_until_complete(self.client.aclose())
                self.loop.close()
            else:
                self.client.close()
            self.client = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the comparison ------------------------------------------------------------------

def run_queries(queries: list[Query], ids: dict[str, str], lake, baseline: PgBaseline, http: HttpTarget | None,
                rounds: int, log=print, interleave: str = "round") -> list[str]:
    """Resolve pages, check equivalence, then time everything interleaved. Returns system names.

    ``interleave="round"``: in every round each system runs all the queries in
    turn (who goes first rotates), so a system is timed while serving its own
    workload, as it would be on its own server; ``"request"`` alternates the
    systems on every request, so each one also pays for the caches the other
    has just evicted (on this 2-core machine, a heavy PostgreSQL request
    leaves the next lake request 1.5-2.5x slower than back to back)."""
    for q in queries:
        ds = ids[q.dataset]
        q.count = baseline.page(ds, q.params, 1, PAGE_SIZE)["count"]
        last = max(1, -(-q.count // PAGE_SIZE))
        q.resolved_page = {"middle": (last + 1) // 2}.get(q.page, q.page)

    systems: dict[str, Callable[[Query], Any]] = {
        "postgres": lambda q: baseline.page_json(ids[q.dataset], q.params, q.resolved_page, PAGE_SIZE,
                                                 url_for("http://testserver", ids[q.dataset], q.params,
                                                         q.resolved_page)),
        "lake.page": lambda q: lake.datapoints(ids[q.dataset], **q.params).page(
            q.resolved_page, PAGE_SIZE, url_for("http://testserver", ids[q.dataset], q.params, q.resolved_page)),
        "lake.page_json": lambda q: lake.datapoints(ids[q.dataset], **q.params).page_json(
            q.resolved_page, PAGE_SIZE, url_for("http://testserver", ids[q.dataset], q.params, q.resolved_page)),
    }
    if http is not None and http.enabled:
        systems["http"] = lambda q: http.get(url_for(http.base, ids[q.dataset], q.params, q.resolved_page))

    # equivalence (also the first, cold call of every system)
    for q in queries:
        ds = ids[q.dataset]
        url = url_for("http://testserver", ds, q.params, q.resolved_page)
        expected = baseline.page(ds, q.params, q.resolved_page, PAGE_SIZE, url)
        for name, fn in systems.items():
            t0 = time.perf_counter()
            out = fn(q)
            q.first[name] = time.perf_counter() - t0
            q.times[name] = []
            if name == "lake.page":
                q.same = "yes" if out == expected else (
                    "NO: count" if out["count"] != expected["count"] else
                    "NO: rows" if [r["id"] for r in out["results"]] != [r["id"] for r in expected["results"]]
                    else "NO: body")
            elif name in ("lake.page_json", "http") and q.same == "yes":
                if json.loads(out)["results"] != expected["results"]:
                    q.same = f"NO: {name}"

    names = list(systems)
    for r in range(rounds):
        t_round = time.perf_counter()
        if interleave == "request":
            for i, q in enumerate(queries):
                order = names[(r + i) % len(names):] + names[:(r + i) % len(names)]  # rotate who goes first
                for name in order:
                    _time(systems[name], q, name)
        else:  # each system runs every query in turn, the systems' turns rotating round by round
            for name in names[r % len(names):] + names[:r % len(names)]:
                for q in queries:
                    _time(systems[name], q, name)
        log(f"  round {r + 1}/{rounds} in {time.perf_counter() - t_round:.1f} s")
    return names


def _time(fn: Callable[[Query], Any], q: Query, name: str) -> None:
    t0 = time.perf_counter()
    fn(q)
    q.times[name].append(time.perf_counter() - t0)


def print_table(queries: list[Query], names: list[str], out=print) -> None:
    head = f"| {'request':40s} | {'rows':>9s} | {'page':>5s} |"
    sep = f"|{'-' * 42}|{'-' * 11}:|{'-' * 6}:|"
    for n in names:
        head += f" {n + ' ms':>17s} |" + (f" {'vs PG':>7s} |" if n != "postgres" else "")
        sep += f"{'-' * 18}:|" + (f"{'-' * 8}:|" if n != "postgres" else "")
    head += " same page as PG |"
    sep += "-----------------|"
    out(head)
    out(sep)
    for q in queries:
        pg = median(q.times["postgres"])
        line = f"| {q.label:40s} | {q.count:>9,} | {str(q.resolved_page):>5s} |"
        for n in names:
            t = median(q.times[n])
            line += f" {ms(t):>17s} |"
            if n != "postgres":
                line += f" {pg / t:>6.1f}x |"
        line += f" {q.same:15s} |"
        out(line)


def print_first_calls(queries: list[Query], names: list[str], out=print) -> None:
    out("First (cold-cache) call per system, ms — each system's first request of that query, in the timing process:")
    out("| request | " + " | ".join(names) + " |")
    out("|---|" + "---:|" * len(names))
    for q in queries:
        out(f"| {q.label} | " + " | ".join(ms(q.first[n]) for n in names) + " |")


FIRST_CALL_SYSTEMS = ("postgres", "lake.page", "http")


def measure_first_calls(queries: list[Query], ids: dict[str, str], root: Path, cluster: PgCluster,
                        http_mode: str, smalls: list[str], log=print) -> None:
    """Each query's first call in a process that has served *other* queries
    (benchmarks/first_calls.py): ``page()`` in a fresh process, the HTTP
    server in a fresh ``serve`` process, both after the same warm-up requests;
    PostgreSQL on a fresh connection."""
    from overmind_lake import Lake

    from .first_calls import first_call, warm_requests

    big_count = Lake(root).datapoints(ids[BIG]).count()
    for q in queries:
        ds = ids[q.dataset]
        url = url_for("http://testserver", ds, q.params, q.resolved_page)
        fresh = PgBaseline(cluster)
        t0 = time.perf_counter()
        fresh.page_json(ds, q.params, q.resolved_page, PAGE_SIZE, url)
        q.first_call["postgres"] = time.perf_counter() - t0
        fresh.close()
        warm = warm_requests(ids, q.dataset, BIG, smalls, big_count)
        q.first_call["lake.page"] = first_call(root, (ds, q.params, q.resolved_page), warm)["ms"] / 1000
        if http_mode != "off":
            http = HttpTarget(root, http_mode, log=log)
            try:
                if http.enabled:
                    for wds, params, page in warm:
                        http.get(url_for(http.base, wds, params, page))
                    t0 = time.perf_counter()
                    http.get(url_for(http.base, ds, q.params, q.resolved_page))
                    q.first_call["http"] = time.perf_counter() - t0
            finally:
                http.close()
    log("first calls measured")


def print_first_call_table(queries: list[Query], out=print) -> None:
    names = [n for n in FIRST_CALL_SYSTEMS if all(n in q.first_call for q in queries)]
    out("First call of each query in a process that has served other queries (ms; lake: fresh process after "
        "page 1 of another dataset and a deep page of the big one; PostgreSQL: fresh connection), beside the "
        "median; 'vs PG' = PostgreSQL's first call / the system's:")
    head = "| request | " + " | ".join(f"{n} first | {n} median" + (" | vs PG" if n != "postgres" else "")
                                       for n in names) + " |"
    out(head)
    out("|---|" + "".join("---:|---:|" + ("---:|" if n != "postgres" else "") for n in names))
    for q in queries:
        pg = q.first_call["postgres"]
        cells = []
        for n in names:
            med = q.times.get(n)
            cells.append(f"{ms(q.first_call[n])} | {ms(median(med)) if med else '—'}"
                         + (f" | {pg / q.first_call[n]:.1f}x" if n != "postgres" else ""))
        out(f"| {q.label} | " + " | ".join(cells) + " |")


# -- the cost curve -------------------------------------------------------------------

CURVE_FORMAT = 1


def curve_lake(rows: int, seed: int, log=print) -> tuple[Path, str]:
    """A lake with one single-version dataset of ``rows`` rows (cached under out/)."""
    from overmind_lake import Lake

    root = OUT_DIR / f"curve-c{corpus.CORPUS_FORMAT}.{CURVE_FORMAT}-{rows}-s{seed}"
    marker = root / "_bench_curve.json"
    fingerprint = corpus.lake_code_fingerprint()
    if marker.exists():
        meta = json.loads(marker.read_text())
        if meta.get("lake_code") == fingerprint:
            return root, meta["id"]
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir(parents=True)
    src = root / "_input.parquet"
    t0 = time.perf_counter()
    with pq.ParquetWriter(src, corpus.datapoints_table(1, seed=seed, dataset=2000, version=1).schema) as w:
        for t in _curve_tables(rows, seed):
            w.write_table(t)
    log(f"  curve: generated {rows:,} rows in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    ds = Lake(root).create_dataset(f"curve-{rows}", str(src)).dataset_id
    log(f"  curve: lake ingest of {rows:,} rows in {time.perf_counter() - t0:.1f} s")
    src.unlink()
    marker.write_text(json.dumps({"id": ds, "rows": rows, "lake_code": fingerprint}))
    return root, ds


def _arange(a: int, b: int):
    import numpy as np
    import pyarrow as pa

    return pa.array(np.arange(a, b, dtype=np.int64))


def run_curve(sizes: list[int], seed: int, rounds: int, pg_max: int, log=print, out=print) -> None:
    from overmind_lake import Lake

    rows_out = []
    for n in sizes:
        root, ds = curve_lake(n, seed, log=log)
        lake = Lake(root)
        last = max(1, -(-n // PAGE_SIZE))
        res = {}
        for label, page in (("page 1", 1), ("last page", last)):
            url = url_for("http://testserver", ds, {}, page)
            lake.datapoints(ds).page(page, PAGE_SIZE, url)
            res[label] = median([_t(lambda: lake.datapoints(ds).page(page, PAGE_SIZE, url)) for _ in range(rounds)])
        pg = {"page 1": None, "last page": None}
        if n <= pg_max:
            with PgCluster(log=log) as cluster:
                b = PgBaseline(cluster)
                load_corpus(b, ((ds, f"curve-{n}", 1, t) for t in _curve_tables(n, seed)), log=log)
                for label, page in (("page 1", 1), ("last page", last)):
                    url = url_for("http://testserver", ds, {}, page)
                    b.page_json(ds, {}, page, PAGE_SIZE, url)
                    pg[label] = median([_t(lambda: b.page_json(ds, {}, page, PAGE_SIZE, url)) for _ in range(rounds)])
                b.close()
        rows_out.append((n, res, pg))
    out("")
    out("Cost curve (one dataset, one version; median ms):")
    out("| datapoints | lake page 1 | lake last page | PG page 1 | PG last page |")
    out("|---:|---:|---:|---:|---:|")
    for n, res, pg in rows_out:
        f = lambda v: "—" if v is None else ms(v)  # noqa: E731
        out(f"| {n:,} | {ms(res['page 1'])} | {ms(res['last page'])} | {f(pg['page 1'])} | {f(pg['last page'])} |")
    if rows_out:
        base, top = rows_out[0][1]["page 1"], rows_out[-1][1]["last page"]
        out(f"lake: last page at {rows_out[-1][0]:,} = {top / base:.2f}x page 1 at {rows_out[0][0]:,} "
            f"(target <= 2x)")


def _curve_tables(rows: int, seed: int):
    chunk = 1_000_000
    for i, start in enumerate(range(0, rows, chunk)):
        t = corpus.datapoints_table(min(chunk, rows - start), seed=seed, dataset=2000 + i, version=1)
        yield t.set_column(3, "order", _arange(start, start + t.num_rows))


def _t(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# -- main ------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="default",
                    help="default (10x500000+50x2000), small, tiny, or VERSIONSxROWS[+DATASETSxROWS]")
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds per query and system (default 7)")
    ap.add_argument("--http", choices=("auto", "subprocess", "asgi", "off"), default="auto")
    ap.add_argument("--interleave", choices=("round", "request"), default="round",
                    help="alternate the systems every round (default) or every request")
    ap.add_argument("--no-ingest", action="store_true", help="skip the ingest throughput measurement")
    ap.add_argument("--ingest-rows", type=int, default=500_000)
    ap.add_argument("--ingest-repeats", type=int, default=3)
    ap.add_argument("--curve", action=argparse.BooleanOptionalAction, default=None,
                    help="measure the cost curve (default: on at the default scale only)")
    ap.add_argument("--curve-sizes", default="500000,5000000,20000000")
    ap.add_argument("--curve-pg-max", type=int, default=5_000_000,
                    help="load PostgreSQL for curve sizes up to this many rows (default 5,000,000)")
    ap.add_argument("--reuse-lake", choices=("auto", "always", "never"), default="auto",
                    help="cached corpus lake: auto = reuse while the lake's write path is unchanged (default)")
    ap.add_argument("--json", metavar="PATH", help="also write the measurements as JSON")
    ap.add_argument("--first-calls", action=argparse.BooleanOptionalAction, default=True,
                    help="time each query's first call in a fresh process that served other queries (default on)")
    ap.add_argument("--s3-rows", type=int, default=20_000,
                    help="rows per version of the S3 (moto) request count; 0 skips it (default 20,000)")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731
    scale = Scale.parse(args.scale)
    from overmind_lake import Lake

    root, ids = cached_lake(scale, reuse=args.reuse_lake, log=log)
    lake = Lake(root)
    lake_bytes = dir_bytes(root)
    queries = default_queries(scale.seed)
    if scale.small_datasets == 0:
        queries = [q for q in queries if q.dataset == BIG]

    http = HttpTarget(root, args.http, log=log)
    try:
        with PgCluster(log=log) as cluster:
            baseline = PgBaseline(cluster)
            load_s = load_corpus(
                baseline, ((ids[p.name], p.name, p.version, p.table(scale)) for p in parts(scale)), log=log)
            pg_bytes = baseline.storage_bytes()
            log(f"timing {len(queries)} queries x {args.rounds} rounds (interleaved by {args.interleave})")
            names = run_queries(queries, ids, lake, baseline, http, args.rounds, log=log, interleave=args.interleave)
            baseline.close()
            http.close()
            if args.first_calls:
                log("first calls: a fresh process (and serve process) per query")
                smalls = [small_name(i) for i in range(min(scale.small_datasets, 2))]
                if len(smalls) < 2:
                    smalls = [q.dataset for q in queries if q.dataset != BIG][:1] + [BIG]
                measure_first_calls(queries, ids, root, cluster, "off" if http.mode == "off" else "subprocess",
                                    smalls, log=log)
    finally:
        http.close()

    out = print
    out("")
    out(f"# overmind_lake vs the hosted stack — corpus {scale.key} ({scale.total_rows:,} datapoints)")
    out(f"median of {args.rounds} rounds interleaved by {args.interleave}, page_size={PAGE_SIZE}, count + page + JSON body included; "
        f"'vs PG' = PostgreSQL ms / system ms (higher is better)")
    out(f"systems: postgres = PostgreSQL 15 answering as DRF + django-filter (COUNT(*) + ORDER BY/LIMIT/OFFSET, "
        f"json.dumps); lake.page = Lake.datapoints(...).page() -> dict; lake.page_json -> bytes; "
        f"http = {http.describe}")
    out("")
    print_table(queries, names, out)
    out("")
    print_first_calls(queries, names, out)
    out("")
    if args.first_calls:
        print_first_call_table(queries, out)
        out("")
    s3_results = []
    if args.s3_rows:
        try:
            from .s3_requests import run as s3_run

            s3_results = s3_run(args.s3_rows, 2, out=out, log=log)
        except ImportError as exc:  # the s3 extra (moto, s3fs) is not installed
            out(f"S3 request counts skipped: {exc}")
        out("")
    out("Storage for the same rows:")
    out(f"  lake (Parquet + commit records): {lake_bytes:,} bytes ({lake_bytes / 2**20:,.0f} MiB)")
    out(f"  PostgreSQL: table+TOAST {pg_bytes['table']:,} + indexes {pg_bytes['indexes']:,} = "
        f"{pg_bytes['total']:,} bytes ({pg_bytes['total'] / 2**20:,.0f} MiB)")
    out(f"  lake / PostgreSQL = 1/{pg_bytes['total'] / lake_bytes:.1f} (target <= 1/6); "
        f"PostgreSQL load (COPY + indexes + VACUUM ANALYZE) took {load_s:.0f} s")

    rates: dict[str, list[float]] = {}
    if not args.no_ingest:
        log(f"ingest: {args.ingest_rows:,} rows x {args.ingest_repeats} repeats per input kind")
        rates = ingest_rates(args.ingest_rows, args.ingest_repeats, seed=scale.seed, log=log)
        targets = {"arrow": 500_000, "dicts": 150_000, "jsonl": 200_000}
        out("")
        out(f"Ingest, Lake.add_version of one {args.ingest_rows:,}-row version (validation included), median:")
        for kind, rs in rates.items():
            out(f"  from {kind:5s}: {median(rs):>10,.0f} rows/s   (target >= {targets[kind]:,})")

    if args.curve if args.curve is not None else args.scale == "default":
        sizes = [int(s) for s in args.curve_sizes.split(",") if s.strip()]
        run_curve(sizes, scale.seed, max(3, args.rounds), args.curve_pg_max, log=log, out=out)

    out("")
    out(f"total wall time {time.perf_counter() - t_start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "scale": scale.key, "rounds": args.rounds, "interleave": args.interleave, "http": http.describe,
            "queries": [{"label": q.label, "params": q.params, "page": q.resolved_page, "count": q.count,
                         "same": q.same, "median_ms": {n: median(q.times[n]) * 1000 for n in names},
                         "first_ms": {n: q.first[n] * 1000 for n in names},
                         "first_call_ms": {n: v * 1000 for n, v in q.first_call.items()}} for q in queries],
            "s3_requests": s3_results,
            "storage": {"lake": lake_bytes, "postgres": pg_bytes},
            "ingest_rows_per_s": {k: median(v) for k, v in rates.items()},
        }, indent=1))
    return 0 if all(q.same == "yes" for q in queries) else 1


if __name__ == "__main__":
    sys.exit(main())
