"""HTTP benchmark of the read-only server (issue 3).

Starts the real server (uvicorn, as ``overmind_lake.server.serve`` runs it) as
a subprocess on a free 127.0.0.1 port, over the benchmark corpus (or
``--root``), and drives it from a separate process with 16 concurrent
connections: Debian's ``wrk`` when installed, else an asyncio httpx client.

Scenarios, each for ``--duration`` seconds after a short warm-up:

  page1   page 1 of the latest version of the big dataset
  random  uniformly random pages of the latest version

Prints requests/s, p50, p99 and the number of non-2xx responses.

    python -m benchmarks.bench_http                    # 5M-row corpus (cached)
    python -m benchmarks.bench_http --scale small --duration 5
    python -m benchmarks.bench_http --root data/lake --dataset <id>
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TARGETS = {"page1": (1000.0, 50.0), "random": (200.0, 100.0)}  # req/s >=, p99 ms <=


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: str, port: int, workers: int, access_log: bool) -> subprocess.Popen:
    code = (f"from overmind_lake.server import serve; serve(root={root!r}, port={port}, "
            f"workers={workers}, access_log={access_log!r})")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("OVERMIND_LAKE_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("server exited before it was ready")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("server did not become ready")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- load generators -------------------------------------------------------------

_WRK_LUA = """
math.randomseed(%(seed)d)
request = function()
  return wrk.format("GET", "%(path)s?page=" .. math.random(1, %(pages)d))
end
"""


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(url: str, path: str, pages: int | None, connections: int, duration: float,
            threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:.0f}s", "--latency", "--timeout", "10s"]
        if pages is not None:
            script = Path(tmp) / "random.lua"
            script.write_text(_WRK_LUA % {"seed": 42, "path": path, "pages": pages})
            cmd += ["-s", str(script)]
        out = subprocess.run(cmd + [url + path], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"tool": "wrk", "requests": total, "rps": rps, "p50_ms": _ms(lat["50"]), "p99_ms": _ms(lat["99"]),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(0) if errors else ""}


_CLIENT = textwrap.dedent("""
    import asyncio, json, random, sys, time
    import httpx
    url, path, pages, conns, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    rng = random.Random(42)
    lat, bad = [], 0
    async def worker(client, stop):
        global bad
        while time.perf_counter() < stop:
            target = path if pages <= 0 else f"{path}?page={rng.randint(1, pages)}"
            t0 = time.perf_counter()
            r = await client.get(target)
            lat.append(time.perf_counter() - t0)
            bad += not (200 <= r.status_code < 300)
    async def main():
        limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
            t0 = time.perf_counter()
            await asyncio.gather(*(worker(client, t0 + duration) for _ in range(conns)))
            elapsed = time.perf_counter() - t0
        lat.sort()
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
        print(json.dumps({"tool": "httpx", "requests": len(lat), "rps": len(lat) / elapsed,
                          "p50_ms": q(0.50), "p99_ms": q(0.99), "non_2xx": bad}))
    asyncio.run(main())
""")


def run_httpx(url: str, path: str, pages: int | None, connections: int, duration: float) -> dict:
    out = subprocess.run([sys.executable, "-c", _CLIENT, url, path, str(pages or 0), str(connections),
                          str(duration)], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# -- main ------------------------------------------------------------------------

def pick_lake(args) -> tuple[str, str]:
    """(root, dataset id) to benchmark."""
    from overmind_lake import Lake

    if args.root:
        lake = Lake(args.root)
        if args.dataset:
            return args.root, lake.dataset(args.dataset).id
        infos = lake.dataset_infos()
        if not infos:
            raise SystemExit(f"no dataset in {args.root}")
        biggest = max(infos, key=lambda d: lake.catalog.commit(d["id"], d["latest_version"]).count)
        return args.root, biggest["id"]
    from benchmarks.corpus import BIG, Scale, cached_lake

    root, ids = cached_lake(Scale.parse(args.scale))
    return str(root), args.dataset or ids[BIG]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="lake to serve (default: the benchmark corpus)")
    parser.add_argument("--scale", default="default", help="corpus scale when no --root (default: 5M rows)")
    parser.add_argument("--dataset", help="dataset id or name (default: the biggest)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--client", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--access-log", action="store_true", help="keep uvicorn's access log on")
    parser.add_argument("--scenarios", default="page1,random", help="comma-separated: page1, random")
    args = parser.parse_args(argv)

    from overmind_lake import Lake

    root, dataset = pick_lake(args)
    lake = Lake(root)
    latest = lake.catalog.latest_version(dataset)
    count = lake.catalog.commit(dataset, latest).count
    pages = max(1, -(-count // 100))
    tool = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "httpx")
    print(f"lake {root}: dataset {dataset}, latest version {latest} ({count:,} rows, {pages:,} pages of 100)")
    print(f"server: uvicorn, {args.workers} worker(s); load: {tool}, {args.connections} connections, "
          f"{args.duration:.0f} s per scenario")

    port = free_port()
    proc = start_server(root, port, args.workers, args.access_log)
    url = f"http://127.0.0.1:{port}"
    path = f"/api/datasets/{dataset}/datapoints/"
    results = {}
    try:
        chosen = args.scenarios.split(",")
        for name, scenario_pages in [s for s in (("page1", None), ("random", pages)) if s[0] in chosen]:
            warm = min(3.0, args.duration)
            for phase, seconds in (("warm-up", warm), ("measure", args.duration)):
                if tool == "wrk":
                    res = run_wrk(url, path, scenario_pages, args.connections, seconds, threads=2)
                else:
                    res = run_httpx(url, path, scenario_pages, args.connections, seconds)
            results[name] = res
            target_rps, target_p99 = TARGETS[name]
            ok = res["rps"] >= target_rps and res["p99_ms"] <= target_p99 and res["non_2xx"] == 0
            print(f"{name:7s} {res['rps']:9.1f} req/s   p50 {res['p50_ms']:7.2f} ms   p99 {res['p99_ms']:7.2f} ms   "
                  f"non-2xx {res['non_2xx']}   requests {res['requests']}   "
                  f"[target >= {target_rps:.0f} req/s, p99 <= {target_p99:.0f} ms: {'met' if ok else 'MISSED'}]"
                  + (f"   {res.get('socket_errors')}" if res.get("socket_errors") else ""))
    finally:
        stop(proc)
    out = REPO / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_http.json").write_text(json.dumps(
        {"root": root, "dataset": dataset, "rows": count, "workers": args.workers, "tool": tool,
         "connections": args.connections, "duration": args.duration, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
