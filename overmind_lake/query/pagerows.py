"""A page of a list query as Python rows, for faces that show datapoints to
people (the viewer, docs/viewer.md) rather than send the JSON page on.

The rows are the documented page's items, decoded losslessly; an item too
deeply nested for Python to decode is kept as its raw JSON text instead, so
one hostile datapoint never makes a page unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..schema import DEFAULT_PAGE_SIZE
from .listquery import DatapointQuery, loads_exact
from .pagejson import join_items
from .pagination import num_pages, resolve_page, validate_page_size


@dataclass(frozen=True)
class PageRows:
    count: int
    number: int  # the resolved page number (``page="last"`` resolved)
    last: int  # the last page's number (1 for an empty result)
    rows: list[dict[str, Any] | None]  # None where the item could not be decoded
    raw: list[str] | None  # each item's JSON text, when some item could not be decoded


def page_rows(query: DatapointQuery, page: object = 1, page_size: int = DEFAULT_PAGE_SIZE) -> PageRows:
    """Page ``page`` of ``query`` (InvalidPage / ValidationError as ``DatapointQuery.page``)."""
    page_size = validate_page_size(page_size)
    count = query.count()
    number = resolve_page(page, count, page_size)
    items = query._items((number - 1) * page_size, page_size)
    try:  # the whole page at once; item by item only when some item cannot be decoded
        rows: list[dict[str, Any] | None] = loads_exact(join_items(items))
        return PageRows(count, number, num_pages(count, page_size), rows, None)
    except (RecursionError, ValueError):
        raw = [item[:-1] for item in items.to_pylist()]  # every item ends with a comma
        rows = []
        for text in raw:
            try:
                rows.append(loads_exact(text.encode("utf-8", "surrogatepass")))
            except (RecursionError, ValueError):
                rows.append(None)
    return PageRows(count, number, num_pages(count, page_size), rows, raw)
