"""``export``: ship the lake's committed versions to a warehouse (docs/export.md)."""

from __future__ import annotations

from typing import Any

import click
from tqdm import tqdm

from ..export.base import FILE_FORMATS
from .common import lake_command, open_lake, parse_storage_options, show_progress


@click.command()
@click.option("--to", "target", metavar="TARGET", required=True,
              help="postgresql://…, duckdb:///path.duckdb, or a directory / fsspec URL (see --format).")
@click.option("--dataset", "datasets", metavar="ID_OR_NAME", multiple=True,
              help="Export only this dataset (repeatable; default: every dataset).")
@click.option("--format", "format", type=click.Choice(FILE_FORMATS), default=None,
              help="Table format of a directory target (default: parquet).")
@click.option("--target-option", "target_options", metavar="KEY=VALUE", multiple=True,
              help="fsspec storage option of a directory / object-store target (repeatable).")
@lake_command
def export(target: str, datasets: tuple[str, ...], format: str | None, target_options: tuple[str, ...],
           root: str | None, storage_options: dict[str, Any] | None) -> None:
    """Export the committed versions TARGET does not hold yet, each exactly once.

    \b
    Examples:
      overmind-lake export --to postgresql://user@db.internal/warehouse
      overmind-lake export --to duckdb:///data/warehouse.duckdb --dataset support-tickets
      overmind-lake export --to s3://bucket/export --format delta
    """
    lake = open_lake(root, storage_options)
    with tqdm(total=0, desc="export", unit="row", unit_scale=True, disable=not show_progress(),
              leave=False) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        summary = lake.export(target, list(datasets) or None, format=format,
                              storage_options=parse_storage_options(target_options) or None, progress=progress)
    click.echo(str(summary))
