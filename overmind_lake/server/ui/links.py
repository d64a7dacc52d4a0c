"""Query strings of the viewer's links: the current view with one change.

Every view of the viewer is a URL: filters, ordering, page and page size
are query parameters, exactly the JSON API's, so a link to the same query
on the API is the same query string on another path (docs/viewer.md).
"""

from __future__ import annotations

from typing import Mapping
from urllib.parse import urlencode

#: Parameters of the datapoints view, as the JSON API names them.
DATAPOINT_PARAMS = ("agent", "generator_model", "ordering", "page", "page_size", "source", "version",
                    "version_max", "version_min")


class Query:
    """The (non-empty) parameters of a request, in a stable order, with helpers for links."""

    def __init__(self, values: Mapping[str, str], keys: tuple[str, ...] = DATAPOINT_PARAMS):
        self.keys = keys
        self.values = {k: values[k] for k in keys if values.get(k, "") != ""}

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    def string(self, **changes: object) -> str:
        """``?a=1&b=2`` of the current values with ``changes`` (None removes a key); "" when empty."""
        values = dict(self.values)
        for key, value in changes.items():
            if value is None or value == "":
                values.pop(key, None)
            else:
                values[key] = str(value)
        items = sorted(values.items())
        return "?" + urlencode(items) if items else ""

    def refilter(self, **changes: object) -> str:
        """The query with ``changes`` applied and the page reset to 1."""
        return self.string(page=None, **changes)

    def __bool__(self) -> bool:
        return bool(self.values)
