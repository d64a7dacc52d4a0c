"""``demo``: write the bundled demo lake."""

from __future__ import annotations

from typing import Any

import click
from tqdm import tqdm

from ..demo import DEMO_STEPS, write_demo
from .common import lake_command, open_lake, show_progress


@click.command()
@lake_command
def demo(root: str | None, storage_options: dict[str, Any] | None) -> None:
    """Write the demo lake (deterministic datapoints; the root must hold none of its datasets).

    \b
    Example:
      overmind-lake demo --root /tmp/demo-lake
    """
    lake = open_lake(root, storage_options)
    with tqdm(total=DEMO_STEPS, desc="demo", unit=" versions", disable=not show_progress(), leave=False) as bar:
        written = write_demo(lake, progress=bar.update)
    for v in written:
        click.echo(f"{v.name} version {v.version}: {v.count} datapoints, checksum {v.checksum}")
    click.echo(f"demo lake written to {lake.root}")
