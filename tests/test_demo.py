"""The bundled demo lake: reproducible, varied, small, and the default root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import overmind_lake
from overmind_lake.cli import cli
from overmind_lake.demo import DEMO_STEPS, MODELS, PERSONAS

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data" / "lake"


def checksums(lake: overmind_lake.Lake) -> dict[str, list[str]]:
    return {d["name"]: [v["checksum"] for v in lake.version_infos(d["id"])] for d in lake.dataset_infos()}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> tuple[overmind_lake.Lake, str]:
    root = tmp_path_factory.mktemp("demo") / "lake"
    result = CliRunner().invoke(cli, ["demo", "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    return overmind_lake.Lake(root), result.stdout


def test_regenerating_gives_the_committed_checksums(regenerated):
    lake, stdout = regenerated
    assert checksums(lake) == checksums(overmind_lake.Lake(BUNDLED))
    assert stdout.splitlines()[-1] == f"demo lake written to {lake.root}"
    assert len(stdout.splitlines()) == DEMO_STEPS + 1


def test_demo_is_varied(regenerated):
    lake, _ = regenerated
    everything = lake.sql("SELECT source, persona, generator_model, agent FROM datapoints")
    assert sorted(everything["source"].unique()) == sorted(overmind_lake.SOURCES)
    assert set(everything["persona"].drop_nulls().unique()) == set(PERSONAS) and len(PERSONAS) == 12
    assert set(everything["generator_model"].drop_nulls().unique()) == set(MODELS)
    assert everything["agent"].n_unique() == 3
    versions = lake.sql("SELECT dataset_id, max(version) AS n, count(parent_version) AS derived "
                        "FROM versions GROUP BY 1")
    assert versions["n"].min() >= 3 and versions["derived"].sum() >= 6


def test_demo_refuses_a_root_that_has_it(regenerated):
    lake, _ = regenerated
    result = CliRunner().invoke(cli, ["demo", "--root", str(lake.root)])
    assert (result.exit_code, result.stderr) == (1, "error: a dataset named 'customer-support' already exists\n")


def test_bundled_lake_is_small_and_the_default_root():
    size = sum(p.stat().st_size for p in BUNDLED.rglob("*") if p.is_file())
    assert size < 3_000_000
    env = {k: v for k, v in os.environ.items() if k != "OVERMIND_LAKE_ROOT"}
    out = subprocess.run([sys.executable, "-m", "overmind_lake", "show", "sql-agent", "--page-size", "1",
                          "--format", "json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('{"count":100,"next":"?page=2&page_size=1","previous":null,"results":[{"id":')
