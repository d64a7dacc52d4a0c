"""A file-target export in its own process, for the crash and concurrency tests.

    python tests/export_files_worker.py LAKE_ROOT TARGET FORMAT SLEEP_PER_BATCH

Reads the lake in 500-row batches and sleeps after each one so a test can
kill it midway; prints the run's summary as JSON on success.
"""

from __future__ import annotations

import functools
import json
import sys
import time

import overmind_lake
from overmind_lake.export import base


def main() -> None:
    root, target, fmt, pause = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    base.version_batches = functools.partial(base.version_batches, batch_rows=500)
    lake = overmind_lake.Lake(root)
    opened = base.open_target(target, fmt)
    try:
        summary = base.run_export(lake, opened, progress=lambda done, total: time.sleep(pause))
    finally:
        opened.close()
    print(json.dumps({"exported": [list(v) for v in summary.versions_exported],
                      "skipped": summary.versions_skipped}))


if __name__ == "__main__":
    main()
