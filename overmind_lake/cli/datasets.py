"""``ingest``, ``datasets`` and ``versions``: writing and listing datasets."""

from __future__ import annotations

from typing import Any

import click
from tqdm import tqdm

from ..schema import SOURCES
from .common import lake_command, open_lake, render_table, show_progress


@click.command()
@click.argument("file", metavar="FILE")
@click.option("--name", default=None, help="Create a new dataset with this name (fails if the name exists).")
@click.option("--dataset", "dataset", metavar="ID", default=None,
              help="Add a version to this existing dataset (id or name).")
@click.option("--source", type=click.Choice(SOURCES), default="seed", show_default=True,
              help="Source of rows that do not set one.")
@click.option("--generator-model", default=None, help="Generator model of rows that do not set one.")
@click.option("--agent", metavar="UUID", default=None,
              help="Agent of rows that do not set one (with --name: also the dataset's agent).")
@click.option("--message", default="", help="Message of the new version.")
@lake_command
def ingest(file: str, name: str | None, dataset: str | None, source: str, generator_model: str | None,
           agent: str | None, message: str, root: str | None, storage_options: dict[str, Any] | None) -> None:
    """Write FILE (.jsonl, .json array or .parquet; a path or URL) as a new version.

    \b
    Examples:
      overmind-lake ingest tickets.jsonl --name support-tickets --source production
      overmind-lake ingest more.parquet --dataset support-tickets --message "May batch"
    """
    if (name is None) == (dataset is None):
        raise click.UsageError("give exactly one of --name (new dataset) or --dataset (new version)")
    lake = open_lake(root, storage_options)
    with tqdm(total=1, desc=f"ingest {file}", unit="file", disable=not show_progress(), leave=False) as bar:
        if name is not None:
            v = lake.create_dataset(name, file, agent=agent, source=source, generator_model=generator_model,
                                    message=message)
        else:
            v = lake.add_version(dataset, file, source=source, generator_model=generator_model,
                                 message=message, agent=agent)
        bar.update(1)
    verb = "created dataset" if name is not None else "added version to"
    click.echo(f"{verb} {v.name} ({v.dataset_id}): version {v.version}, {v.count} datapoints, "
               f"checksum {v.checksum}")


@click.command()
@lake_command
def datasets(root: str | None, storage_options: dict[str, Any] | None) -> None:
    """List the datasets of the lake.

    \b
    Example:
      overmind-lake datasets --root s3://bucket/lake --storage-option anon=false
    """
    infos = open_lake(root, storage_options).dataset_infos()
    rows = [[d["id"], d["name"], d["latest_version"], d["created_at"], d["agent"], d["description"]]
            for d in infos]
    click.echo(render_table(["id", "name", "latest_version", "created_at", "agent", "description"], rows))


@click.command()
@click.argument("dataset", metavar="ID")
@lake_command
def versions(dataset: str, root: str | None, storage_options: dict[str, Any] | None) -> None:
    """List the committed versions of dataset ID (an id or a name).

    \b
    Example:
      overmind-lake versions customer-support
    """
    infos = open_lake(root, storage_options).version_infos(dataset)
    rows = []
    for v in infos:
        sources = " ".join(f"{s}={n}" for s, n in v["source_counts"].items() if n)
        rows.append([v["version"], v["created_at"], v["parent_version"], v["count"], sources,
                     ",".join(v["generator_models"]), v["checksum"][:12], v["message"]])
    click.echo(render_table(["version", "created_at", "parent", "count", "sources", "generator_models",
                             "checksum", "message"], rows))
