"""Export and one-request ``pull`` over HTTP (issue 15, docs/http-export.md).

On the benchmark corpus's big dataset (latest version: 500,000 rows at the
default scale), with a real server subprocess on 127.0.0.1:

* ``GET /api/datasets/{id}/export/`` (JSONL and CSV) downloaded to a file by
  a separate client process (curl when installed, else httpx), in MB/s and
  rows/s, against a same-run baseline: ``Lake.datapoints(...).to_arrow()``
  plus Polars ``write_ndjson`` to a file. Target: >= 0.5x the baseline's rows/s.
* The server's resident memory while it exports, sampled from
  /proc/<pid>/status (VmRSS every 20 ms, and VmHWM): target growth < 200 MB.
* ``pull`` of that version from the local server: the export route against
  the paged walk, wall time side by side. Target: >= 10x faster.

    python -m benchmarks.bench_export_http                  # 5.1M-row corpus (cached)
    python -m benchmarks.bench_export_http --scale small    # 50,000-row version, a quick look
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TARGET_RATIO = 0.5
TARGET_RSS_MB = 200.0
TARGET_PULL_SPEEDUP = 10.0


def proc_status_kb(pid: int, key: str) -> int:
    """A ``/proc/<pid>/status`` field in kB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class RssSampler:
    """The peak VmRSS of a process, sampled on a thread while a ``with`` block runs."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid, self.interval, self.peak_kb = pid, interval, 0
        self._stop = threading.Event()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, proc_status_kb(self.pid, "VmRSS"))
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self.peak_kb = proc_status_kb(self.pid, "VmRSS")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, proc_status_kb(self.pid, "VmRSS"))


def download(url: str, path: str, client: str) -> float:
    """Seconds to GET ``url`` into the file ``path`` with a separate client process."""
    if client == "curl":
        cmd = ["curl", "-sS", "--fail", "-o", path, url]
    else:
        code = ("import sys, httpx\n"
                "with httpx.stream('GET', sys.argv[1], timeout=600) as r, open(sys.argv[2], 'wb') as f:\n"
                "    r.raise_for_status()\n"
                "    for chunk in r.iter_raw(1 << 20): f.write(chunk)\n")
        cmd = [sys.executable, "-c", code, url, path]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t


def baseline(lake, dataset: str, path: str) -> float:
    """Seconds for ``to_arrow()`` + Polars ``write_ndjson`` of the latest version to a file."""
    import polars as pl

    t = time.perf_counter()
    table = lake.datapoints(dataset).to_arrow()
    pl.from_arrow(table).write_ndjson(path)
    return time.perf_counter() - t


def _summary(name: str, times: list[float], rows: int, size: int) -> dict:
    med = statistics.median(times)
    print(f"  {name:<28} first {times[0]:7.2f} s  median {med:7.2f} s  {size / med / 1e6:8.1f} MB/s  "
          f"{rows / med:>12,.0f} rows/s")
    return {"median": med, "first": times[0], "rows_per_s": rows / med, "mb_per_s": size / med / 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="default", help="corpus scale (default: 10x500000+50x2000)")
    parser.add_argument("--out", default=None, help="where the corpus lake is cached (default: benchmarks/out)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each export and of the baseline")
    parser.add_argument("--client", choices=("auto", "curl", "httpx"), default="auto")
    parser.add_argument("--skip-paged", action="store_true", help="do not time the paged pull")
    args = parser.parse_args(argv)

    from benchmarks.bench_http import free_port, start_server, stop
    from benchmarks.corpus import BIG, OUT_DIR, Scale, cached_lake
    from overmind_lake import Lake
    from overmind_lake.pull import pull

    out_dir = Path(args.out) if args.out else OUT_DIR
    root, ids = cached_lake(Scale.parse(args.scale), out_dir=out_dir)
    dataset = ids[BIG]
    lake = Lake(root)
    version = lake.catalog.latest_version(dataset)
    rows = lake.catalog.commit(dataset, version).count
    client = args.client if args.client != "auto" else ("curl" if shutil.which("curl") else "httpx")
    print(f"lake {root}: dataset {BIG} version {version}, {rows:,} rows; client: {client}")

    scratch = tempfile.mkdtemp(prefix="bench-export-", dir=out_dir)
    port = free_port()
    proc = start_server(str(root), port, 1, False)
    url = f"http://127.0.0.1:{port}/api/datasets/{dataset}/export/"
    results: dict[str, dict] = {}
    try:
        target = os.path.join(scratch, "out")
        times = []
        for _ in range(args.repeats):
            times.append(baseline(lake, dataset, target))
        results["baseline"] = _summary("baseline to_arrow+ndjson", times, rows, os.path.getsize(target))
        os.remove(target)

        rss_before = proc_status_kb(proc.pid, "VmRSS")
        hwm_before = proc_status_kb(proc.pid, "VmHWM")
        peak = rss_before
        for fmt in ("jsonl", "csv"):
            times = []
            for _ in range(args.repeats):
                with RssSampler(proc.pid) as sampler:
                    times.append(download(f"{url}?fmt={fmt}", target, client))
                peak = max(peak, sampler.peak_kb)
            results[fmt] = _summary(f"export {fmt} over HTTP", times, rows, os.path.getsize(target))
            os.remove(target)
        hwm_after = proc_status_kb(proc.pid, "VmHWM")
        growth = (peak - rss_before) / 1024
        print(f"  server RSS: {rss_before / 1024:.0f} MB before, peak {peak / 1024:.0f} MB during the exports "
              f"(+{growth:.0f} MB); VmHWM {hwm_before / 1024:.0f} -> {hwm_after / 1024:.0f} MB "
              f"(+{(hwm_after - hwm_before) / 1024:.0f} MB)")

        base = f"http://127.0.0.1:{port}"
        pulls = {}
        for route in ("export", "pages"):
            if route == "pages" and args.skip_paged:
                continue
            local = Lake(os.path.join(scratch, f"pull-{route}"))
            t = time.perf_counter()
            result = pull(local, base, dataset, export=route == "export", timeout=600)
            pulls[route] = time.perf_counter() - t
            assert result.route == route and result.count == rows, result
            print(f"  pull via {route:<7} {pulls[route]:8.2f} s  ({rows / pulls[route]:,.0f} rows/s), "
                  f"checksum {result.checksum[:12]}…")
            shutil.rmtree(local.root, ignore_errors=True)
    finally:
        stop(proc)
        shutil.rmtree(scratch, ignore_errors=True)

    print("targets:")
    for fmt in ("jsonl", "csv"):
        ratio = results[fmt]["rows_per_s"] / results["baseline"]["rows_per_s"]
        print(f"  export {fmt}: {ratio:.2f}x the baseline's rows/s (target >= {TARGET_RATIO}x) "
              f"{'PASS' if ratio >= TARGET_RATIO else 'MISS'}")
    print(f"  server RSS growth: {growth:.0f} MB (target < {TARGET_RSS_MB:.0f} MB) "
          f"{'PASS' if growth < TARGET_RSS_MB else 'MISS'}")
    if "pages" in pulls:
        speedup = pulls["pages"] / pulls["export"]
        print(f"  pull: export route {speedup:.1f}x faster than the paged walk (target >= {TARGET_PULL_SPEEDUP:.0f}x) "
              f"{'PASS' if speedup >= TARGET_PULL_SPEEDUP else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
