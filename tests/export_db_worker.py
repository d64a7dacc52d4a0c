"""A database export (PostgreSQL or DuckDB) in its own process, for the crash
and concurrency tests of tests/test_export_db.py.

    python tests/export_db_worker.py LAKE_ROOT TARGET SLEEP_PER_BATCH [PROGRESS_FILE]

Reads the lake in 200-row Arrow batches (never the files directly, which
the DuckDB target does for a local lake) and sleeps after each one, so a test
can kill it while a version is loading; prints the run's summary as JSON.
With PROGRESS_FILE, the number of batches loaded so far is written there
before each sleep (how a test knows the run is under way without reading the
target, which DuckDB keeps locked).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import time

import overmind_lake
from overmind_lake.export import base


def main() -> None:
    root, target, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])
    marker = sys.argv[4] if len(sys.argv) > 4 else None
    batches = 0

    def progress(done: int, total: int) -> None:
        nonlocal batches
        batches += 1
        if marker:
            with open(marker, "w") as out:
                out.write(str(batches))
        time.sleep(pause)

    base.version_batches = functools.partial(base.version_batches, batch_rows=200)
    refs = base.version_refs
    base.version_refs = lambda *a, **k: [dataclasses.replace(r, files=()) for r in refs(*a, **k)]
    summary = overmind_lake.Lake(root).export(target, progress=progress)
    print(json.dumps({"exported": [list(v) for v in summary.versions_exported],
                      "skipped": summary.versions_skipped}))


if __name__ == "__main__":
    main()
