"""``pull``: mirror a dataset from a remote server into the local lake."""

from __future__ import annotations

from typing import Any

import click
from tqdm import tqdm

from ..pull import pull as pull_dataset
from .common import lake_command, open_lake, show_progress


@click.command()
@click.argument("url")
@click.option("--dataset", "dataset", metavar="ID", required=True, help="Id of the dataset on the server.")
@click.option("--token", envvar="OVERMIND_LAKE_PULL_TOKEN", default=None,
              help="Send 'Authorization: Bearer TOKEN' (default: $OVERMIND_LAKE_PULL_TOKEN).")
@click.option("--name", default=None,
              help="Local dataset that receives it (default: the remote dataset's name, else its id).")
@lake_command
def pull(url: str, dataset: str, token: str | None, name: str | None, root: str | None,
         storage_options: dict[str, Any] | None) -> None:
    """Mirror dataset ID from the server at URL (GET URL/api/datasets/ID/datapoints/).

    One request (GET URL/api/datasets/ID/export/) when the server mirrors its
    dataset detail there, as serve does; else the pages are walked. Writes a new local version only when the content differs from the latest
    local version; a failure at any point writes nothing.

    \b
    Example:
      overmind-lake pull https://lake.example.com --dataset 0b6f…-…e1 --token $TOKEN --name support
    """
    lake = open_lake(root, storage_options)
    bars = _Bars(show_progress())
    try:
        result = pull_dataset(lake, url, dataset, token=token, name=name, progress=bars.rows,
                              download_progress=bars.bytes)
    finally:
        bars.close()
    if not result.written:
        click.echo(f"unchanged: {result.name} ({result.dataset_id}) version {result.version} already has "
                   f"these {result.count} datapoints, checksum {result.checksum}")
    else:
        verb = "created dataset" if result.created else "added version to"
        click.echo(f"{verb} {result.name} ({result.dataset_id}): version {result.version}, {result.count} "
                   f"datapoints, checksum {result.checksum}")


class _Bars:
    """Progress on stderr (a terminal only): bytes of an export download, rows of a paged walk."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    def _bar(self, kind: str, **kwargs: Any) -> tqdm:
        if kind not in self.bars:
            self.bars[kind] = tqdm(disable=not self.enabled, leave=False, **kwargs)
        return self.bars[kind]

    def rows(self, n: int) -> None:
        self._bar("rows", desc="pull", unit=" rows").update(n)

    def bytes(self, n: int) -> None:
        self._bar("bytes", desc="download", unit="B", unit_scale=True, unit_divisor=1024).update(n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
