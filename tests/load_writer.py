"""Writer for tests/test_load.py, run as its own process while the server is
under load: commits new versions of the given datasets (every row of
version k tagged ``{"v": k}``, version k holding ``base + step * (k - 1)``
rows), and runs ``vacuum`` (default grace period) as a separate process
beside them.

Usage: python load_writer.py ROOT SECONDS VERSIONS DATASET:BASE:STEP ...
Prints one JSON line per commit: {"dataset", "version", "count"}.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import overmind_lake


def rows(version: int, n: int) -> list[dict]:
    sources = ("seed", "synthetic", "augmented", "production")
    return [{"input": {"q": i, "v": version}, "expected_output": {"a": i}, "persona": f"p{i % 5}",
             "tags": {"v": version, "i": i}, "source": sources[i % 4],
             "generator_model": None if i % 3 == 0 else f"model-{i % 3}"} for i in range(n)]


def main() -> None:
    root, seconds, versions, *specs = sys.argv[1:]
    lake = overmind_lake.Lake(root)
    datasets = [(ds, int(base), int(step)) for ds, base, step in (s.split(":") for s in specs)]
    interval = float(seconds) / int(versions)
    vacuums = []
    for round_ in range(int(versions)):
        time.sleep(interval * 0.5)
        for ds, base, step in datasets:
            latest = int(lake.versions(ds)["version"].max())
            version = latest + 1
            committed = lake.add_version(ds, rows(version, base + step * (version - 1)), message=f"v{version}")
            assert committed.version == version, (committed.version, version)
            print(json.dumps({"dataset": ds, "version": version, "count": committed.count}), flush=True)
        if round_ % 2 == 0:
            vacuums.append(subprocess.Popen([sys.executable, "-m", "overmind_lake", "vacuum", "--root", root],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        time.sleep(interval * 0.5)
    for proc in vacuums:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode(errors="replace")


if __name__ == "__main__":
    main()
