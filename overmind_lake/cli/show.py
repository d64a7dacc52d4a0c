"""``show`` and ``diff``: reading one dataset."""

from __future__ import annotations

import json
from typing import Any

import click

from ..query.views import DIFF_FIELDS
from ..schema import DEFAULT_PAGE_SIZE, SOURCES
from .common import lake_command, open_lake, render_table

FORMATS = ("table", "json", "jsonl")


class PageType(click.ParamType):
    name = "N|last"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | str:
        if isinstance(value, int) or value == "last":
            return value
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is not a page number or 'last'", param, ctx)


@click.command()
@click.argument("dataset", metavar="ID")
@click.option("--agent", metavar="UUID", default=None, help="Only rows of this agent.")
@click.option("--generator-model", default=None, help="Only rows of this generator model.")
@click.option("--source", type=click.Choice(SOURCES), default=None, help="Only rows of this source.")
@click.option("--version", type=int, default=None, help="Exactly this version (default: the latest).")
@click.option("--version-min", type=int, default=None, help="Versions from this one (inclusive).")
@click.option("--version-max", type=int, default=None, help="Versions up to this one (inclusive).")
@click.option("--ordering", default=None,
              help="Comma-separated fields of: order, id, persona, version, source, generator_model; "
                   "prefix - for descending.")
@click.option("--page", type=PageType(), default=1, show_default=True, help="Page number, or 'last'.")
@click.option("--page-size", type=int, default=DEFAULT_PAGE_SIZE, show_default=True, help="Rows per page (1-1000).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table: readable; json: the documented page; jsonl: one result per line.")
@lake_command
def show(dataset: str, agent: str | None, generator_model: str | None, source: str | None,
         version: int | None, version_min: int | None, version_max: int | None, ordering: str | None,
         page: int | str, page_size: int, fmt: str, root: str | None,
         storage_options: dict[str, Any] | None) -> None:
    """Show one page of the datapoints of dataset ID (an id or a name).

    \b
    Examples:
      overmind-lake show customer-support --source production --page-size 5
      overmind-lake show customer-support --version-min 1 --ordering -persona --format json
    """
    query = open_lake(root, storage_options).datapoints(
        dataset, agent=agent, generator_model=generator_model, source=source, version=version,
        version_min=version_min, version_max=version_max, ordering=ordering)
    if fmt == "json":
        click.echo(query.page_json(page, page_size).decode("utf-8"))
        return
    body = query.page(page, page_size)
    if fmt == "jsonl":
        for item in body["results"]:
            click.echo(json.dumps(item, ensure_ascii=False, separators=(",", ":")))
        return
    rows = [[item["order"], item["id"], item["persona"], _json(item["input"]),
             _json(item["expected_output"]), _json(item["tags"])] for item in body["results"]]
    click.echo(render_table(["order", "id", "persona", "input", "expected_output", "tags"], rows, max_width=40))
    pages = max(1, -(-body["count"] // page_size))
    number = pages if page == "last" else page
    click.echo(f"page {number} of {pages} ({body['count']} datapoints)")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@click.command()
@click.argument("dataset", metavar="ID")
@click.argument("a", type=int)
@click.argument("b", type=int)
@lake_command
def diff(dataset: str, a: int, b: int, root: str | None, storage_options: dict[str, Any] | None) -> None:
    """List the datapoints added, removed or changed from version A to version B of dataset ID.

    \b
    Example:
      overmind-lake diff customer-support 1 2
    """
    frame = open_lake(root, storage_options).diff(dataset, a, b)
    rows = []
    for rec in frame.iter_rows(named=True):
        fields = [f for f in DIFF_FIELDS if rec[f"{f}_a"] != rec[f"{f}_b"]] if rec["change"] == "changed" else []
        rows.append([rec["change"], rec["id"], ", ".join(fields)])
    click.echo(render_table(["change", "id", "fields"], rows, max_width=80))
    counts = {c: sum(1 for r in rows if r[0] == c) for c in ("added", "removed", "changed")}
    click.echo(f"{counts['added']} added, {counts['removed']} removed, {counts['changed']} changed")
