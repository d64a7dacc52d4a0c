"""Worker processes for the durability tests (run as a script, not collected).

    python durability_worker.py write ROOT OPTIONS_JSON DATASET TAG COUNT MAX_ROWS
    python durability_worker.py read  ROOT OPTIONS_JSON DATASET STOP_FILE
    python durability_worker.py crash ROOT OPTIONS_JSON DATASET TAG POINT ROWS

``crash`` adds one version of ROWS rows, streamed in files of 10 rows, and
kills itself with SIGKILL at POINT of the write: ``writing`` (after its first
data file, before the last), ``staged`` (every file written, before the
commit record), ``committed`` (right after the commit record, before any
file is moved in place) ``moving`` (after the first file is moved) or ``copied`` (object stores:
after the first file is copied in place, before its staged copy is deleted).

``write`` adds COUNT versions (0: forever), each holding 1..MAX_ROWS rows that
all carry the marker ``TAG-i`` and the version's row count, and prints one
JSON line per committed version. ``read`` queries the latest version in a loop
until STOP_FILE exists, checking every version it sees is whole, and prints a
JSON summary.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import traceback


def rows_for(marker: str, n: int) -> list[dict]:
    return [{"input": {"marker": marker, "i": i}, "expected_output": {"n": n},
             "persona": f"p{i % 5}", "tags": {"marker": marker, "n": n}} for i in range(n)]


def check_version(frame, where: str) -> str | None:
    """None if ``frame`` is one whole version written by ``rows_for``, else what is wrong."""
    if frame.height == 0:
        return None
    markers = {json.loads(t)["marker"] for t in frame["tags"].to_list()}
    sizes = {json.loads(t)["n"] for t in frame["tags"].to_list()}
    if len(markers) != 1 or len(sizes) != 1 or sizes.pop() != frame.height:
        return f"{where}: partial or mixed version ({frame.height} rows, markers {sorted(markers)[:3]})"
    return None


def write(root: str, options: dict, dataset: str, tag: str, count: int, max_rows: int) -> None:
    import overmind_lake

    lake = overmind_lake.Lake(root, options or None)
    rng = random.Random(tag)
    i = 0
    print(json.dumps({"ready": tag}), flush=True)
    while count == 0 or i < count:
        marker = f"{tag}-{i}"
        v = lake.add_version(dataset, rows_for(marker, rng.randint(1, max_rows)), message=marker)
        print(json.dumps({"version": v.version, "marker": marker, "count": v.count}), flush=True)
        i += 1


def read(root: str, options: dict, dataset: str, stop_file: str) -> None:
    import overmind_lake

    lake = overmind_lake.Lake(root, options or None)
    reads, errors, versions_seen = 0, [], set()
    while not os.path.exists(stop_file):
        try:
            latest = lake.dataset_info(dataset)["latest_version"]
            for version in {latest, random.randint(1, latest)}:
                q = lake.datapoints(dataset, version=version)
                frame = q.to_polars()
                problem = check_version(frame, f"version {version}")
                if problem is None and q.count() != frame.height:
                    problem = f"version {version}: count {q.count()} != {frame.height} rows"
                if problem is None and frame.height:
                    last = q.page(page="last", page_size=7)
                    if last["count"] != frame.height:
                        problem = f"version {version}: page count {last['count']} != {frame.height}"
                if problem:
                    errors.append(problem)
                versions_seen.add(version)
                reads += 1
        except Exception:  # noqa: BLE001 - every failure is reported to the test
            errors.append(traceback.format_exc(limit=3))
    print(json.dumps({"reads": reads, "errors": errors[:10], "n_errors": len(errors),
                      "versions_seen": len(versions_seen)}), flush=True)


def crash(root: str, options: dict, dataset: str, tag: str, point: str, rows: int) -> None:
    import pyarrow as pa

    import overmind_lake
    import overmind_lake.ingest.stream as stream
    from overmind_lake.storage import catalog, filesystem, writer

    def die() -> None:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    # Only the moment of death is chosen here; the write itself is the real one.
    if point == "writing":
        write_parquet, written = writer.write_parquet, []

        def dying_write(*args, **kwargs):
            if written:
                die()
            written.append(write_parquet(*args, **kwargs))
            return written[-1]

        writer.write_parquet = dying_write
    elif point in ("staged", "committed"):
        try_commit = catalog.Catalog.try_commit

        def dying_commit(self, record):
            if point == "staged":
                die()
            created = try_commit(self, record)
            if created:
                die()
            return created

        catalog.Catalog.try_commit = dying_commit
    elif point == "moving":
        move = filesystem.LakeFileSystem.move

        def dying_move(self, src, dst):
            move(self, src, dst)
            die()

        filesystem.LakeFileSystem.move = dying_move
    elif point == "copied":
        def dying_copy(self, src, dst):
            self.fs.copy(self.path(src), self.path(dst))  # the first half of an object store's move
            die()

        filesystem.LakeFileSystem.move = dying_copy
    else:
        raise SystemExit(f"unknown crash point {point!r}")
    stream.CHUNK_ROWS = 10
    lake = overmind_lake.Lake(root, options or None)
    table = pa.Table.from_pylist(rows_for(f"{tag}-0", rows))
    print(json.dumps({"ready": tag}), flush=True)
    lake.add_version(dataset, table.to_reader(max_chunksize=10), message=f"{tag}-0")
    print(json.dumps({"survived": tag}), flush=True)


if __name__ == "__main__":
    mode, root, options, dataset = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    if mode == "write":
        write(root, options, dataset, sys.argv[5], int(sys.argv[6]), int(sys.argv[7]))
    elif mode == "crash":
        crash(root, options, dataset, sys.argv[5], sys.argv[6], int(sys.argv[7]))
    else:
        read(root, options, dataset, sys.argv[5])
