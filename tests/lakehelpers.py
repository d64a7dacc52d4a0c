"""Helpers shared by the core test files (not fixtures: plain functions)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import overmind_lake


def files_under(root: str | os.PathLike[str]) -> set[str]:
    """Every file under ``root``, as relative paths (empty when it does not exist)."""
    root = Path(root)
    if not root.exists():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def snapshot(lake: overmind_lake.Lake) -> tuple:
    """What a reader of ``lake`` can see: datasets, their versions, every file."""
    infos = lake.dataset_infos()
    versions = {d["id"]: [(v["version"], v["checksum"], v["count"]) for v in lake.version_infos(d["id"])]
                for d in infos}
    return (tuple(sorted((d["id"], d["name"], d["latest_version"]) for d in infos)),
            tuple(sorted(versions.items())), frozenset(files_under(lake.root)))


def all_rows(lake: overmind_lake.Lake, dataset, **filters) -> list[dict]:
    """Every row of a query through page() with JSON values decoded."""
    q = lake.datapoints(dataset, **filters)
    out, page = [], 1
    while True:
        body = q.page(page=page, page_size=1000)
        out.extend(body["results"])
        if body["next"] is None:
            return out
        page += 1


def frame_json(df, column: str) -> list:
    """A JSON text column of a frame, decoded (None stays None = JSON null)."""
    return [None if v is None else json.loads(v) for v in df[column].to_list()]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(root: Path, *args: str, env: dict | None = None, cwd: Path | None = None):
    """Start ``python -m overmind_lake serve`` on a free loopback port and wait
    until /healthz answers; returns (process, base URL). The caller stops it."""
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "overmind_lake", "serve", "--root", str(root),
                             "--port", str(port), *args], env={**os.environ, **(env or {})}, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("server did not start: " + proc.stderr.read().decode(errors="replace"))
        time.sleep(0.1)


def stop(proc) -> None:
    """Terminate a server process, killing it if it does not exit in 10 s."""
    import subprocess

    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
