"""Worker processes for the durability tests (run as a script, not collected).

    python durability_worker.py write ROOT OPTIONS_JSON DATASET TAG COUNT MAX_ROWS
    python durability_worker.py read  ROOT OPTIONS_JSON DATASET STOP_FILE

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


if __name__ == "__main__":
    mode, root, options, dataset = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    if mode == "write":
        write(root, options, dataset, sys.argv[5], int(sys.argv[6]), int(sys.argv[7]))
    else:
        read(root, options, dataset, sys.argv[5])
