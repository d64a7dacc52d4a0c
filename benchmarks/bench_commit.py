"""What staged writes cost a write, on local disk and on S3 (moto), side by side.

Two protocols write the same prepared version (the same Arrow table, already
in storage order, the same stats), alternating, in one process:

  direct  the protocol before staging (the baseline): data files straight
          into ``version=<n>/``, then the commit record
  staged  today's (docs/staging.md): data files into ``_staging/<write id>/``,
          the commit record, then each file moved to ``version=<n>/``
          (local: a rename; S3: a server-side copy plus a delete)

For each size it prints the median and first write (files + commit, wall
seconds), the median of the commit step alone (record, plus the move for
``staged``) and the ratio staged/direct::

    python -m benchmarks.bench_commit [--small 20] [--big 3] [--big-rows 500000] [--no-s3]

The S3 run starts ``python -m moto.server`` on 127.0.0.1 (needs the ``test``
extra: moto, s3fs); each lake is a fresh prefix, removed afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from overmind_lake import Lake
from overmind_lake.storage.catalog import CommitRecord, version_dir
from overmind_lake.storage import writer as writer_module
from overmind_lake.storage.staging import move_into_place
from overmind_lake.storage.writer import PARALLEL_FILES, VersionStats, VersionWriter, rows_per_file, utc_now

from ._common import median, ms
from .corpus import Scale, datapoints_table


class DirectWriter(VersionWriter):
    """The protocol before staging: files written straight into ``version=<n>/``."""

    def path(self, name: str) -> str:
        return f"{version_dir(self.dataset_id, self.version)}/part-{self.write_id}-{name}.parquet"

    def commit(self, stats: VersionStats, *, message: str = "",
               parent_version: int | None = None) -> CommitRecord:
        record = CommitRecord(dataset_id=self.dataset_id, version=self.version, created_at=utc_now(),
                              message=message, parent_version=parent_version, count=stats.count,
                              source_counts=dict(stats.source_counts),
                              generator_models=list(stats.generator_models), checksum=stats.checksum,
                              files=tuple(self.files), write_id=self.write_id)
        if not self.catalog.try_commit(record):  # one writer here: never happens
            raise RuntimeError("lost a race in a single-writer benchmark")
        return record


@dataclass
class Times:
    total: list[float] = field(default_factory=list)
    commit: list[float] = field(default_factory=list)
    requests: list[Counter] = field(default_factory=list)  # S3 requests of each write, by operation
    window: list[float] = field(default_factory=list)  # staged: commit record made -> last file in place


def request_counter(lake: Lake) -> Counter | None:
    """A running count of the S3 requests ``lake`` sends, by operation (None off S3)."""
    client = getattr(lake.fs.fs, "s3", None)
    if client is None:
        return None
    calls: Counter = Counter()
    client.meta.events.register("before-call.s3", lambda model=None, **_: calls.update([model.name]))
    return calls


_moves: list[float] = []


def _timed_move(fs, record, present=None):
    t0 = time.perf_counter()
    try:
        return move_into_place(fs, record, present)
    finally:
        _moves.append(time.perf_counter() - t0)


writer_module.move_into_place = _timed_move  # the writer's move, timed: the raw-scan window


def write_once(lake: Lake, dataset_id: str, cls: type[VersionWriter], table: pa.Table,
               stats: VersionStats, times: Times, calls: Counter | None) -> None:
    """One version written as ``commit_version`` does it, with writer class ``cls``."""
    before = Counter(calls) if calls is not None else None
    t0 = time.perf_counter()
    writer = cls(lake.fs, lake.catalog, dataset_id)
    per_file = rows_per_file(table.num_rows)
    count = max(1, -(-table.num_rows // per_file))
    with ThreadPoolExecutor(max_workers=PARALLEL_FILES) as pool:
        writes = [pool.submit(writer.write, table.slice(i * per_file, per_file), writer.path(f"{i:04d}"))
                  for i in range(count)]
        writer.keep([w.result() for w in writes])
    t1 = time.perf_counter()
    _moves.clear()
    writer.commit(stats)
    t2 = time.perf_counter()
    if _moves:
        times.window.append(_moves[-1])
    times.total.append(t2 - t0)
    times.commit.append(t2 - t1)
    if calls is not None:
        times.requests.append(calls - before)


def prepared(lake: Lake, rows: int, seed: int) -> tuple[str, pa.Table, VersionStats]:
    """A dataset holding one version of ``rows`` rows, and that version as stored."""
    source = datapoints_table(rows, seed=seed, dataset=rows, version=1)
    info = lake.create_dataset(f"bench-{rows}", source)
    commit = lake.catalog.commit(info.dataset_id, 1)
    table = pa.concat_tables(pq.read_table(lake.fs.path(f.path), filesystem=None if lake.fs.is_local else lake.fs.fs)
                             for f in commit.files)
    stats = VersionStats(commit.count, commit.source_counts, commit.generator_models, commit.checksum)
    return info.dataset_id, table, stats


def run_size(lake: Lake, rows: int, writes: int, log) -> dict[str, Times]:
    dataset_id, table, stats = prepared(lake, rows, Scale.seed)
    times = {"direct": Times(), "staged": Times()}
    calls = request_counter(lake)
    for i in range(writes):
        order = [("direct", DirectWriter), ("staged", VersionWriter)]
        for name, cls in (order if i % 2 == 0 else order[::-1]):
            write_once(lake, dataset_id, cls, table, stats, times[name], calls)
    d, s = times["direct"], times["staged"]
    files = max(1, -(-rows // rows_per_file(rows)))
    log(f"  {rows:>9,} rows x {writes:>2} writes ({files} file{'s' if files > 1 else ''} each)")
    for name, t in times.items():
        log(f"    {name:<7} write median {ms(median(t.total)):>8} ms  first {ms(t.total[0]):>8} ms  "
            f"commit step median {ms(median(t.commit)):>7} ms")
        if t.window:
            log(f"            move in place (the window a raw scan may miss the version) median "
                f"{ms(median(t.window))} ms, max {ms(max(t.window))} ms")
        if t.requests:
            last = t.requests[-1]
            log(f"            S3 requests per write: {sum(last.values())} "
                f"({', '.join(f'{n} {op}' for op, n in sorted(last.items()))})")
    log(f"    staged/direct: write {median(s.total) / median(d.total):.2f}x, "
        f"{(median(s.total) - median(d.total)) * 1000:+.1f} ms per write "
        f"(commit step {(median(s.commit) - median(d.commit)) * 1000:+.1f} ms)")
    return times


def start_moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start")


def s3_root(endpoint: str) -> tuple[str, dict[str, Any]]:
    import s3fs

    options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint}}
    fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
    if not fs.exists("bench-commit"):
        fs.mkdir("bench-commit")
    return f"s3://bench-commit/{uuid.uuid4().hex}", options


def main(argv: list[str] | None = None, log=print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=20, help="writes of --small-rows rows (default 20)")
    parser.add_argument("--small-rows", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=3, help="writes of --big-rows rows (default 3)")
    parser.add_argument("--big-rows", type=int, default=500_000)
    parser.add_argument("--no-s3", action="store_true", help="local disk only")
    args = parser.parse_args(argv)

    sizes = [(args.small_rows, args.small), (args.big_rows, args.big)]
    scratch = tempfile.mkdtemp(prefix="bench-commit-")
    try:
        log(f"local disk ({scratch})")
        lake = Lake(f"{scratch}/lake")
        for rows, writes in sizes:
            if writes:
                run_size(lake, rows, writes, log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.no_s3:
        return 0
    try:
        import moto.server  # noqa: F401
        import s3fs  # noqa: F401
    except ImportError:
        log("S3: skipped (moto and s3fs come with the 'test' extra)")
        return 0
    proc, endpoint = start_moto()
    try:
        root, options = s3_root(endpoint)
        log(f"S3 on moto ({endpoint})")
        lake = Lake(root, options)
        for rows, writes in sizes:
            if writes:
                run_size(lake, rows, writes, log)
        lake.fs.fs.rm(lake.fs.root, recursive=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
