"""The ``overmind-lake`` command line (docs/cli.md): thin commands over the library."""

from __future__ import annotations

import click

from .datasets import datasets, ingest, versions
from .demo import demo
from .export import export
from .maintenance import vacuum, verify
from .pull import pull
from .serve import serve
from .show import diff, show

COMMANDS = (serve, ingest, datasets, versions, show, diff, pull, export, verify, vacuum, demo)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="overmind-lake", prog_name="overmind-lake")
def cli() -> None:
    """A columnar lake for versioned evaluation datasets of LLM agents.

    Every command takes --root (default: $OVERMIND_LAKE_ROOT, else ./data/lake),
    --storage-option KEY=VALUE (repeatable) and --debug.

    \b
    Example:
      overmind-lake show customer-support --source production --format json
    """


for _command in COMMANDS:
    cli.add_command(_command)


def main() -> None:
    """Entry point of ``overmind-lake`` and ``python -m overmind_lake``."""
    cli(prog_name="overmind-lake")
