"""``verify`` and ``vacuum`` on the command line (thin over Lake.verify / Lake.vacuum)."""

from __future__ import annotations

import os
import time

import pytest
from click.testing import CliRunner

import overmind_lake
from overmind_lake.cli import cli

pytestmark = pytest.mark.skipif(not hasattr(overmind_lake.Lake, "vacuum") or
                                not hasattr(overmind_lake.Lake, "verify"),
                                reason="storage maintenance (Lake.verify / Lake.vacuum) not built yet")


def run(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="overmind-lake")


@pytest.fixture
def small(tmp_path) -> overmind_lake.Lake:
    lake = overmind_lake.Lake(tmp_path / "lake")
    lake.create_dataset("a", [{"input": i} for i in range(5)])
    lake.derive("a", add=[{"input": 9}])
    lake.create_dataset("b", [{"input": "x"}])
    return lake


def test_verify_ok_and_problems(small):
    ok = run("verify", "--root", str(small.root))
    assert (ok.exit_code, ok.stdout) == (0, "ok: no problems found\n")
    part = small.commits("a")[1].files[0].path
    with open(os.path.join(small.root, part), "r+b") as fh:
        fh.truncate(10)
    bad = run("verify", "a", "--root", str(small.root))
    assert bad.exit_code == 1
    assert bad.stdout.strip() and all("version" in line or "version=" in line for line in bad.stdout.splitlines())
    assert part.rsplit("/", 1)[-1] in bad.stdout
    assert run("verify", "b", "--root", str(small.root)).exit_code == 0
    missing = run("verify", "nope", "--root", str(small.root))
    assert (missing.exit_code, missing.stderr) == (1, "error: no dataset matches 'nope'\n")


def test_vacuum_removes_only_old_uncommitted_files(small):
    dataset_id = small.dataset("a").id
    stray = os.path.join(small.root, f"dataset_id={dataset_id}", "version=3", "part-stray-0000.parquet")
    os.makedirs(os.path.dirname(stray))
    with open(stray, "wb") as fh:
        fh.write(b"PAR1 partial")
    fresh = run("vacuum", "--root", str(small.root))
    assert (fresh.exit_code, fresh.stdout) == (0, "0 file(s) removed\n") and os.path.exists(stray)
    old = time.time() - 7200
    os.utime(stray, (old, old))
    result = run("vacuum", "--root", str(small.root))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("removed ") and "part-stray-0000.parquet" in lines[0]
    assert lines[1] == "1 file(s) removed" and not os.path.exists(stray)
    assert run("verify", "--root", str(small.root)).exit_code == 0
    assert run("vacuum", "--older-than", "-1", "--root", str(small.root)).exit_code == 2
