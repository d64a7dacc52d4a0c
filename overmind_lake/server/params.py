"""Query-string parsing for the HTTP API, exactly as django-filter and Django
REST framework parse it (docs/http.md).

* An empty value (``?source=``) is ignored; a repeated key takes its last value.
* ``agent``: Django's ``forms.UUIDField`` (whitespace stripped, any form
  ``uuid.UUID`` accepts, e.g. upper case or braces).
* ``generator_model``: ``forms.CharField`` (whitespace stripped, NUL rejected).
* ``source``: ``forms.ChoiceField`` (case-sensitive, not stripped).
* ``version``, ``version_min``, ``version_max``: ``forms.IntegerField``
  (``"2.0"`` is 2; ``"2.5"`` is an error).
* ``ordering``: DRF's ``OrderingFilter`` (comma-separated, spaces around
  fields ignored) -- except that an unknown field is a 400, not dropped.
* ``page_size``: DRF's ``_positive_int`` parse -- except that a bad value is a
  400, not clamped.

Every bad parameter is reported at once: :class:`BadRequest` carries the
whole ``{param: [message, ...]}`` body.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import parse_qsl

from ..query.listquery import ListParams, parse_ordering
from ..schema import MAX_PAGE_SIZE, ORDERING_FIELDS, SOURCES

#: Django's IntegerField drops a trailing decimal point and zeros ("2.0" -> "2").
_RE_DECIMAL = re.compile(r"\.0*\s*$")

MSG_UUID = "Enter a valid UUID."
MSG_WHOLE = "Enter a whole number."
MSG_NULL = "Null characters are not allowed."
MSG_INT = "A valid integer is required."


class BadRequest(Exception):
    """One or more query parameters are invalid; ``errors`` is the 400 body."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__(errors)


@dataclass(frozen=True)
class PageRequest:
    """What a list request asks for besides its filters."""

    page: str  # raw page number or "last"; resolved against the count later
    page_size: int


def query_dict(query_string: str) -> dict[str, str]:
    """Parse a raw query string; blank values kept, a repeated key's last value wins."""
    return dict(parse_qsl(query_string, keep_blank_values=True))


def parse_uuid(value: str) -> str | None:
    """The canonical lower-case form of a UUID string, or None if it is not one."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        return None


def _whole_number(value: str) -> int | None:
    try:
        return int(_RE_DECIMAL.sub("", value))
    except (ValueError, TypeError):
        return None


def _ordering_errors(value: str) -> list[str]:
    allowed = ", ".join(ORDERING_FIELDS)
    errors = []
    for term in value.split(","):
        term = term.strip()
        if not term:
            continue
        name = term[1:] if term.startswith("-") else term
        if name not in ORDERING_FIELDS:
            errors.append(f'Unknown ordering field "{name}". Allowed fields: {allowed} '
                          f'(prefix a field with "-" for descending order).')
    return errors


def parse_page(query: Mapping[str, str], default_page_size: int,
               errors: dict[str, list[str]]) -> PageRequest:
    """``page`` (kept raw) and ``page_size`` (validated into ``errors``)."""
    page_size = default_page_size
    raw = query.get("page_size", "")
    if raw != "":
        try:
            page_size = int(raw)
        except ValueError:
            errors["page_size"] = [MSG_INT]
        else:
            if page_size < 1:
                errors["page_size"] = ["Ensure this value is greater than or equal to 1."]
            elif page_size > MAX_PAGE_SIZE:
                errors["page_size"] = [f"Ensure this value is less than or equal to {MAX_PAGE_SIZE}."]
    return PageRequest(page=query.get("page") or "1", page_size=page_size)


def parse_list_params(query: Mapping[str, str]) -> tuple[ListParams, dict[str, list[str]]]:
    """The §5 filters and ordering of a query string, and the errors found."""
    errors: dict[str, list[str]] = {}
    values: dict[str, object] = {}

    agent = query.get("agent", "").strip()
    if agent:
        canonical = parse_uuid(agent)
        if canonical is None:
            errors["agent"] = [MSG_UUID]
        values["agent"] = canonical

    model = query.get("generator_model", "").strip()
    if model:
        if "\x00" in model:
            errors["generator_model"] = [MSG_NULL]
        values["generator_model"] = model

    source = query.get("source", "")
    if source:
        if source not in SOURCES:
            errors["source"] = [f"Select a valid choice. {source} is not one of the available choices."]
        values["source"] = source

    for name in ("version", "version_min", "version_max"):
        raw = query.get(name, "")
        if raw:
            number = _whole_number(raw)
            if number is None:
                errors[name] = [MSG_WHOLE]
            values[name] = number

    ordering = query.get("ordering", "")
    keys: tuple[tuple[str, bool], ...] = ()
    if ordering:
        bad = _ordering_errors(ordering)
        if bad:
            errors["ordering"] = bad
        else:
            keys = parse_ordering(ordering)

    if errors:
        return ListParams(), errors
    return ListParams(agent=values.get("agent"), generator_model=values.get("generator_model"),  # type: ignore[arg-type]
                      source=values.get("source"), version=values.get("version"),  # type: ignore[arg-type]
                      version_min=values.get("version_min"), version_max=values.get("version_max"),  # type: ignore[arg-type]
                      ordering=keys), errors


def parse_datapoint_query(query: Mapping[str, str], default_page_size: int) -> tuple[ListParams, PageRequest]:
    """Filters, ordering and paging of ``GET …/datapoints/``; BadRequest lists every bad param."""
    params, errors = parse_list_params(query)
    page = parse_page(query, default_page_size, errors)
    if errors:
        raise BadRequest(errors)
    return params, page


def parse_list_query(query: Mapping[str, str], default_page_size: int) -> PageRequest:
    """Paging of a plain list endpoint (``GET /api/datasets/``)."""
    errors: dict[str, list[str]] = {}
    page = parse_page(query, default_page_size, errors)
    if errors:
        raise BadRequest(errors)
    return page
