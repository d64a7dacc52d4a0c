"""A database export (PostgreSQL or DuckDB) in its own process, for the crash
and concurrency tests of tests/test_export_db.py.

    python tests/export_db_worker.py LAKE_ROOT TARGET SLEEP_PER_BATCH

Reads the lake in 200-row Arrow batches (never the files directly, which
the DuckDB target does for a local lake) and sleeps after each one, so a test
can kill it while a version is loading; prints the run's summary as JSON.
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
    base.version_batches = functools.partial(base.version_batches, batch_rows=200)
    refs = base.version_refs
    base.version_refs = lambda *a, **k: [dataclasses.replace(r, files=()) for r in refs(*a, **k)]
    summary = overmind_lake.Lake(root).export(target, progress=lambda done, total: time.sleep(pause))
    print(json.dumps({"exported": [list(v) for v in summary.versions_exported],
                      "skipped": summary.versions_skipped}))


if __name__ == "__main__":
    main()
