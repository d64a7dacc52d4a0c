"""``verify`` and ``vacuum``: checking and cleaning the lake's storage."""

from __future__ import annotations

from typing import Any

import click

from .common import lake_command, open_lake


@click.command()
@click.argument("dataset", metavar="[ID]", required=False)
@lake_command
def verify(dataset: str | None, root: str | None, storage_options: dict[str, Any] | None) -> None:
    """Check that every committed file is present and intact (one dataset, or all).

    Prints one line per problem and exits 1 if there is any.

    \b
    Example:
      overmind-lake verify customer-support
    """
    problems = open_lake(root, storage_options).verify(dataset)
    for problem in problems:
        click.echo(problem)
    if problems:
        raise click.exceptions.Exit(1)
    click.echo("ok: no problems found")


@click.command()
@click.option("--older-than", type=click.FloatRange(min=0), default=3600, show_default=True, metavar="SECONDS",
              help="Only remove uncommitted files older than this grace period.")
@lake_command
def vacuum(older_than: float, root: str | None, storage_options: dict[str, Any] | None) -> None:
    """Remove files that no commit record names (left by crashed or failed writes).

    \b
    Example:
      overmind-lake vacuum --older-than 86400
    """
    removed = open_lake(root, storage_options).vacuum(older_than=older_than)
    for path in removed:
        click.echo(f"removed {path}")
    click.echo(f"{len(removed)} file(s) removed")
