"""Requests to the object store per query, counted at a local S3 server (moto).

    .venv/bin/python -m benchmarks.s3_requests              # 2 versions x 20,000 rows
    .venv/bin/python -m benchmarks.s3_requests --rows 5000

The lake is written to a moto server on 127.0.0.1 (the one the tests use,
tests/s3server.py); the server's access log has one line per request, so
every request is counted whoever makes it (s3fs, pyarrow through it, DuckDB
through the registered filesystem). Each scenario runs in a fresh process:
it serves its warm-up requests, then the parent counts the log lines the
measured request adds. Targets (issue 16): a repeated page of a pinned
version 0, of the latest version at most 1, a first page at most 4.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

CHILD = r"""
import json, sys
spec = json.loads(sys.argv[1])
from overmind_lake import Lake
lake = Lake(spec["root"], spec["options"])
for params, page in spec["warm"]:
    lake.datapoints(spec["dataset"], **params).page_json(page, 100)
print("ready", flush=True)
sys.stdin.readline()
params, page = spec["query"]
body = lake.datapoints(spec["dataset"], **params).page_json(page, 100)
print("done", len(body), flush=True)
sys.stdin.readline()
"""

#: (label, warm-up requests, measured request, target)
SCENARIOS = [
    ("page 1 of the latest version, first call of a new process", [], ({}, 1), None),
    ("page 1 of the latest version, repeated", [({}, 1)], ({}, 1), 1),
    ("page 1 of pinned version=1, repeated", [({"version": 1}, 1)], ({"version": 1}, 1), 0),
    ("page 2, latest (after page 1)", [({}, 1)], ({}, 2), 4),
    ("version_min=1&version_max=2, page 1 (after latest page 1)", [({}, 1)],
     ({"version_min": 1, "version_max": 2}, 1), 4),
    ("source+generator_model, page 1 (after latest page 1)", [({}, 1)],
     ({"source": "synthetic", "generator_model": "gpt-4o-2024-08-06"}, 1), 4),
    ("ordering=-persona, page 1 (after latest page 1)", [({}, 1)], ({"ordering": "-persona"}, 1), 4),
    ("ordering=-persona, page 2 (after -persona page 1)", [({"ordering": "-persona"}, 1)],
     ({"ordering": "-persona"}, 2), 4),
]


_REQUEST = re.compile(r'"(?:\x1b\[[0-9;]*m)*(GET|HEAD|PUT|POST|DELETE) ')


def _request_lines(path: Path) -> list[str]:
    """The access-log lines of requests (werkzeug colours some: ANSI codes skipped)."""
    return [line for line in path.read_text(errors="replace").splitlines() if _REQUEST.search(line)]


def _log_requests(path: Path) -> int:
    return len(_request_lines(path))


def run(rows: int, versions: int, out=print, log=print) -> list[dict]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from s3server import free_port  # noqa: E402  (the tests' helper)

    import s3fs

    from overmind_lake import Lake

    from . import corpus

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        access_log = Path(tmp) / "moto.log"
        with open(access_log, "wb") as err:
            server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                      stdout=subprocess.DEVNULL, stderr=err)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}
            deadline = time.monotonic() + 30
            while True:
                try:
                    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
                    fs.mkdir("bench")
                    break
                except Exception:  # noqa: BLE001  (not up yet)
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            root = f"s3://bench/{uuid.uuid4().hex}"
            lake = Lake(root, options)
            t0 = time.perf_counter()
            ds = lake.create_dataset("s3-bench", corpus.datapoints_table(rows, seed=1, dataset=1, version=1)).dataset_id
            for v in range(2, versions + 1):
                lake.add_version(ds, corpus.datapoints_table(rows, seed=1, dataset=1, version=v))
            log(f"s3: wrote {versions} x {rows:,} rows in {time.perf_counter() - t0:.1f} s")
            results = []
            for label, warm, query, target in SCENARIOS:
                spec = {"root": root, "options": options, "dataset": ds, "warm": warm, "query": query}
                child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(spec)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, env=dict(os.environ))
                assert child.stdout.readline().strip() == "ready"
                time.sleep(0.3)
                before = _log_requests(access_log)
                child.stdin.write("\n")
                child.stdin.flush()
                assert child.stdout.readline().startswith("done")
                time.sleep(0.3)
                count = _log_requests(access_log) - before
                if os.environ.get("S3_REQUESTS_DEBUG"):
                    log(label, [re.sub(r'\x1b\[[0-9;]*m', '', line)[-90:] for line in _request_lines(access_log)[before:]])
                    log([re.sub(r'\x1b\[[0-9;]*m', '', line).split('"')[1][:5] for line in _request_lines(access_log)[before:]])
                child.stdin.write("\n")
                child.stdin.flush()
                child.wait(60)
                results.append({"label": label, "requests": count, "target": target})
            out("")
            out(f"Requests to S3 (moto) per query, {versions} versions x {rows:,} rows, page_size=100:")
            out("| request | requests | target |")
            out("|---|---:|---:|")
            for r in results:
                t = "—" if r["target"] is None else f"<= {r['target']}"
                out(f"| {r['label']} | {r['requests']} | {t} |")
            return results
        finally:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.s3_requests", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20_000, help="rows per version (default 20,000)")
    ap.add_argument("--versions", type=int, default=2)
    args = ap.parse_args(argv)
    run(args.rows, args.versions, log=lambda *a: print(*a, file=sys.stderr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
