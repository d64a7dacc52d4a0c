"""Load and consistency under fire, against a real ``serve`` subprocess.

32 keep-alive connections send a mix of requests for ``LOAD_SECONDS``
(default 30): first, deep and last pages, filters, other orderings, version
ranges, pinned versions, whole-version exports (JSONL and CSV),
revalidations, bad requests and unknown datasets. Meanwhile another process
commits new versions of the datasets being read and runs ``vacuum``
(default grace period) beside them.

Asserted: zero unexpected statuses and zero connection errors; a request
pinning a version gets the same bytes before, during and after; a request for
the latest version answers wholly from one version (every row's tag, the
``count`` and the links agree); an ETag never stands for two bodies; the
server's RSS at the end is within ``RSS_GROWTH_MIB`` of its RSS after warm-up
(the caches are byte-bounded, set small here). p50/p99 and requests/s are
printed (``pytest -s``) and written to ``load-summary.json`` beside the log.

Marked ``load``: ``pytest -m "not load"`` skips it locally; CI runs it.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import math
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

import overmind_lake
from load_writer import rows
from servehelpers import request, start_server

pytestmark = pytest.mark.load

SECONDS = float(os.environ.get("LOAD_SECONDS", 30))
CONNECTIONS = 32
WARMUP_SECONDS = 4.0
VERSIONS_DURING = 6
#: Allowed RSS growth from after warm-up to the end (the engine cache is capped at
#: 32 MiB and the page cache at 8 MiB below; the rest is allocator slack and new metadata).
RSS_GROWTH_MIB = 160
CACHE_ENV = {"OVERMIND_LAKE_CACHE_BYTES": str(32 << 20), "OVERMIND_LAKE_PAGE_CACHE_MB": "8"}
AGENT = "5d7e1f0a-2b3c-4d5e-8f90-a1b2c3d4e5f6"
TESTS = Path(__file__).resolve().parent
#: dataset name -> (rows in version 1, rows added per version)
SHAPES = {"small": (120, 7), "deep": (2500, 53)}


def count_of(shape: tuple[int, int], version: int) -> int:
    base, step = shape
    return base + step * (version - 1)


class Conn:
    """One keep-alive HTTP/1.1 connection (asyncio streams; Content-Length or chunked bodies)."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def get(self, target: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            await self.open()
        lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        fields = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            body = await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = b""
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, fields, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def loaded(tmp_path):
    lake = overmind_lake.Lake(tmp_path / "lake")
    ids = {}
    for name, shape in SHAPES.items():
        v = lake.create_dataset(f"load-{name}", rows(1, count_of(shape, 1)), agent=AGENT)
        lake.add_version(v.dataset_id, rows(2, count_of(shape, 2)))
        ids[name] = str(v.dataset_id)
    server = start_server(tmp_path / "lake", log_path=tmp_path / "serve.log", env=CACHE_ENV)
    try:
        yield tmp_path, lake, ids, server
    finally:
        server.stop()


class Mix:
    """The request mix, each request with the statuses it may answer and a check of its body."""

    def __init__(self, ids: dict[str, str], port: int, export: bool):
        self.ids = ids
        self.port = port
        self.export = export
        self.pinned: dict[str, bytes] = {}
        self.unknown = str(uuid.uuid4())
        self.violations: list[tuple] = []
        self.versions_seen: collections.Counter = collections.Counter()

    def targets(self, rnd: random.Random) -> tuple[str, str, set[int]]:
        """(kind, target, allowed statuses) of one random request."""
        name = rnd.choice(list(self.ids))
        ds = self.ids[name]
        base = f"/api/datasets/{ds}/datapoints/"
        pages = count_of(SHAPES[name], 2) // 100  # pages that exist in every version >= 2
        choice = rnd.random()
        if choice < 0.14:
            return "latest:" + name, base, {200}
        if choice < 0.24:
            return "latest:" + name, f"{base}?page={rnd.randint(2, max(2, pages))}", {200}
        if choice < 0.32:
            return "latest:" + name, f"{base}?page=last", {200}
        if choice < 0.40:
            f = rnd.choice(["source=seed", "generator_model=model-1", f"agent={AGENT}", "source=synthetic&page_size=10&page=2"])
            return "filtered", f"{base}?{f}", {200}
        if choice < 0.47:
            o = rnd.choice(["-order", "persona,-id", "-version,order", "source,generator_model", "id"])
            return "latest:" + name, f"{base}?ordering={o}&page={rnd.randint(1, 2)}", {200}
        if choice < 0.55:
            return "pinned", rnd.choice(self.pinned_targets()), {200}
        if choice < 0.60:
            return "range", f"{base}?version_min=2&page={rnd.randint(1, 2)}", {200}
        if choice < 0.65 and self.export:
            return "pinned", f"/api/datasets/{ds}/export/?version=1" + rnd.choice(["", "&fmt=csv"]), {200}
        if choice < 0.67 and self.export:
            return "export-latest", f"/api/datasets/{ds}/export/", {200}
        if choice < 0.75:
            bad = rnd.choice([("?source=bogus", 400), ("?page=0", 404), ("?page_size=5000", 400),
                              ("?ordering=nope", 400), ("?version=x", 400), (f"?page={10**6}", 404)])
            return "bad", base + bad[0], {bad[1]}
        if choice < 0.82:
            return "unknown", rnd.choice([f"/api/datasets/{self.unknown}/datapoints/", "/api/datasets/nope/",
                                          f"/api/datasets/{self.unknown}/", "/api/nothing"]), {404}
        if choice < 0.90:
            return "meta", rnd.choice(["/api/datasets/", f"/api/datasets/{ds}/", "/healthz"]), {200}
        return "revalidate:" + name, base, {200, 304}

    def pinned_targets(self) -> list[str]:
        return list(self.pinned)

    def check_latest(self, name: str, target: str, body: bytes) -> None:
        """One response for the latest version: every part from one version."""
        page = orjson.loads(body)
        tags = {item["tags"]["v"] for item in page["results"]}
        if len(tags) != 1:
            self.violations.append(("rows of several versions", target, sorted(tags)))
            return
        version = tags.pop()
        self.versions_seen[(name, version)] += 1
        count = page["count"]
        if count != count_of(SHAPES[name], version):
            self.violations.append(("count of another version", target, version, count))
            return
        query = parse_qs(urlsplit(target).query)
        size = 100
        last = max(1, math.ceil(count / size))
        raw_page = query.get("page", ["1"])[0]
        number = last if raw_page == "last" else int(raw_page)
        expected_next = number < last
        if (page["next"] is not None) != expected_next or (page["previous"] is not None) != (number > 1):
            self.violations.append(("links of another version", target, version, page["next"], page["previous"]))
        if page["next"] is not None:
            linked = parse_qs(urlsplit(page["next"]).query).get("page", ["1"])[0]
            if int(linked) != number + 1:
                self.violations.append(("next page number", target, page["next"]))
        if len(page["results"]) != min(size, count - (number - 1) * size):
            self.violations.append(("results length", target, version, len(page["results"])))


async def run_load(mix: Mix, port: int, seconds: float, seed: int, stats: dict, etags: dict,
                   done=lambda: True, max_seconds: float | None = None) -> None:
    """CONNECTIONS clients for ``seconds`` (and on while ``done()`` is false, up to
    ``max_seconds``); every outcome goes into ``stats``."""
    start = time.monotonic()
    known_etags: dict[str, str] = {}
    finished = False

    def running() -> bool:
        nonlocal finished
        now = time.monotonic() - start
        if not finished and now >= seconds:
            finished = done() or now >= (max_seconds or seconds)
        return not finished

    async def client(index: int) -> None:
        rnd = random.Random(seed * 1000 + index)
        conn = Conn(port)
        try:
            while running():
                kind, target, allowed = mix.targets(rnd)
                headers = {}
                if kind.startswith("revalidate") and target in known_etags and rnd.random() < 0.7:
                    headers["If-None-Match"] = known_etags[target]
                started = time.perf_counter()
                try:
                    status, fields, body = await conn.get(target, headers)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    stats["errors"].append((target, repr(exc)))
                    await conn.close()
                    continue
                stats["latencies"].append(time.perf_counter() - started)
                stats["statuses"][status] += 1
                stats["kinds"][kind] += 1
                if status not in allowed:
                    stats["unexpected"].append((kind, target, status, body[:200]))
                    continue
                etag = fields.get("etag")
                if etag and status == 200:
                    etags.setdefault(etag, set()).add(hashlib.sha256(body).hexdigest())
                    if kind.startswith("revalidate"):
                        known_etags[target] = etag
                if status != 200:
                    continue
                if kind == "pinned" and body != mix.pinned[target]:
                    mix.violations.append(("pinned body changed", target))
                elif kind.startswith(("latest", "revalidate")):
                    mix.check_latest(kind.split(":", 1)[1], target, body)
        finally:
            await conn.close()

    await asyncio.gather(*(client(i) for i in range(CONNECTIONS)))


def new_stats() -> dict:
    return {"latencies": [], "statuses": collections.Counter(), "kinds": collections.Counter(), "errors": [],
            "unexpected": []}


def test_load_and_consistency_under_fire(loaded):
    tmp_path, lake, ids, server = loaded
    port = server.port
    spec = orjson.loads(request("GET", "/openapi.json", port=port)[2])
    export = "/api/datasets/{id}/export/" in spec["paths"]
    assert export, "the export route is part of the served API (docs/http-export.md)"
    mix = Mix(ids, port, export)
    for name, ds in ids.items():
        for target in (f"/api/datasets/{ds}/datapoints/?version=1", f"/api/datasets/{ds}/datapoints/?version=2&page=2",
                       f"/api/datasets/{ds}/datapoints/?version_max=2&ordering=-order",
                       f"/api/datasets/{ds}/datapoints/?version=1&source=seed&page=last"):
            status, _, body = request("GET", target, port=port)
            assert status == 200
            mix.pinned[target] = body
        if export:
            for target in (f"/api/datasets/{ds}/export/?version=1", f"/api/datasets/{ds}/export/?version=1&fmt=csv"):
                status, _, body = request("GET", target, port=port)
                assert status == 200
                mix.pinned[target] = body

    etags: dict[str, set[str]] = {}
    warm = new_stats()
    asyncio.run(run_load(mix, port, WARMUP_SECONDS, 1, warm, etags))
    rss_warm = rss_mib(server.proc.pid)

    writer_args = [f"{ds}:{SHAPES[name][0]}:{SHAPES[name][1]}" for name, ds in ids.items()]
    writer = subprocess.Popen([sys.executable, str(TESTS / "load_writer.py"), str(tmp_path / "lake"),
                               str(SECONDS * 0.8), str(VERSIONS_DURING), *writer_args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])})
    stats = new_stats()
    started = time.monotonic()
    try:  # the load goes on until the writer is done too (a busy machine slows it), at most 3 min more
        asyncio.run(run_load(mix, port, SECONDS, 2, stats, etags, done=lambda: writer.poll() is not None,
                             max_seconds=SECONDS + 180))
        elapsed = time.monotonic() - started
    finally:
        out, err = writer.communicate(timeout=300)
    rss_end = rss_mib(server.proc.pid)
    assert writer.returncode == 0, err.decode(errors="replace")
    commits = [json.loads(line) for line in out.decode().splitlines()]
    assert len(commits) == VERSIONS_DURING * len(ids)

    # after: pinned bodies unchanged, the latest is the last commit
    for target, body in mix.pinned.items():
        assert request("GET", target, port=port)[2] == body, target
    for name, ds in ids.items():
        status, _, body = request("GET", f"/api/datasets/{ds}/datapoints/", port=port)
        latest = 2 + VERSIONS_DURING
        assert status == 200 and orjson.loads(body)["count"] == count_of(SHAPES[name], latest)

    latencies = sorted(stats["latencies"])
    total = len(latencies)
    summary = {
        "seconds": round(elapsed, 1), "connections": CONNECTIONS, "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "p50_ms": round(1000 * latencies[total // 2], 2), "p99_ms": round(1000 * latencies[int(total * 0.99)], 2),
        "statuses": dict(sorted(stats["statuses"].items())), "kinds": dict(sorted(stats["kinds"].items())),
        "rss_after_warmup_mib": round(rss_warm, 1), "rss_end_mib": round(rss_end, 1),
        "versions_committed_during": len(commits), "export_in_mix": export,
        "latest_versions_seen": {f"{n}:v{v}": c for (n, v), c in sorted(mix.versions_seen.items())},
    }
    (tmp_path / "load-summary.json").write_text(json.dumps(summary, indent=1))
    print("\nload:", json.dumps(summary))

    assert not stats["errors"] and not warm["errors"], (stats["errors"] + warm["errors"])[:10]
    assert not stats["unexpected"] and not warm["unexpected"], (stats["unexpected"] + warm["unexpected"])[:10]
    assert not mix.violations, mix.violations[:10]
    assert all(len(bodies) == 1 for bodies in etags.values()), [e for e, b in etags.items() if len(b) > 1][:5]
    assert total > 0 and stats["statuses"][200] > 0 and stats["statuses"][400] > 0 and stats["statuses"][404] > 0
    # the load saw versions committed during it, not only the first latest
    assert len({v for (_, v) in mix.versions_seen}) >= 3, mix.versions_seen
    assert rss_end <= rss_warm + RSS_GROWTH_MIB, (rss_warm, rss_end)
