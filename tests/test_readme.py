"""README.md documents every command, and every command documents itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from overmind_lake.cli import COMMANDS, cli

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
NAMES = sorted(c.name for c in COMMANDS)


def test_every_contract_command_exists():
    assert NAMES == sorted(["serve", "ingest", "datasets", "versions", "show", "diff", "pull", "export",
                            "verify", "vacuum", "demo"])
    assert sorted(cli.commands) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_command_is_in_readme_and_has_help_with_an_example(name):
    assert re.search(rf"^\| `{name}( |`)", README, re.M), f"{name} missing from the README's CLI reference"
    result = CliRunner().invoke(cli, [name, "--help"], prog_name="overmind-lake")
    assert result.exit_code == 0
    assert f"Usage: overmind-lake {name} " in result.stdout
    assert "Example" in result.stdout and f"overmind-lake {name}" in result.stdout.split("Example")[1]
    for option in ("--root", "--storage-option", "--debug"):
        assert option in result.stdout


def test_readme_keeps_the_two_commands():
    assert "scripts/serve-demo" in README and "scripts/test" in README


def test_both_entry_points_run():
    module = subprocess.run([sys.executable, "-m", "overmind_lake", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert module.returncode == 0 and "Commands:" in module.stdout
    script = Path(sys.executable).with_name("overmind-lake")
    if script.exists():  # the console script of the installed package
        out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout == module.stdout
