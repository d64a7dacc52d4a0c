"""Strict JSON: what DuckDB's lenient JSON reader lets through.

DuckDB parses JSON with yyjson in a lenient mode: trailing commas (``[1,]``)
are accepted and silently dropped, and the non-finite literals ``NaN``,
``Infinity`` and ``inf`` — in any letter case, with or without a minus — are
accepted and written back out as bare tokens. None of that is JSON
(RFC 8259), so none of it may be stored.

Cheap vectorised filters (Polars' regex engine, which finds literals with
SIMD and runs the columns side by side) pick the few texts that could hold
one of them; only those are parsed again, strictly, in Python.
"""

from __future__ import annotations

import json
import re

import pyarrow as pa

from ..errors import ValidationError
from ..schema import JSON_FIELDS
from .rules import is_string
from .scan import matching_rows, refine
from .sources import Staging

#: Every text holding a non-finite literal holds one of these (case-insensitive).
_NON_FINITE_HINT = r"(?i)nan|inf"
#: ...and, outside a string, in this shape: a value of its own.
_NON_FINITE = r"(?i)(?:^|[\[:,])[ \t\r\n]*-?(?:nan|inf|infinity)[ \t\r\n]*(?:[,\]}]|$)"
_TRAILING_COMMA = r",[ \t\r\n]*[\]}]"
#: A JSON string (in text yyjson accepts, every '"' outside a string opens one).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
#: What only a lenient parser takes, once the strings are blanked out.
_LENIENT = re.compile(_TRAILING_COMMA + "|" + _NON_FINITE.replace("(?i)", "").replace("$", r"\Z"), re.I)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _strict_error(text: str) -> str | None:
    """Why ``text`` is not strict JSON, or None."""
    try:  # parse_int=str: Python refuses to convert integers of over 4300 digits
        json.loads(text, parse_constant=_reject_constant, parse_int=str)
    except ValueError as exc:
        return str(exc)
    except RecursionError:
        # nested deeper than Python parses: look for what only a lenient
        # parser takes outside the strings (DuckDB judges everything else)
        if _LENIENT.search(_STRING.sub('""', text)):
            return "a trailing comma or a non-finite number (NaN, Infinity) is not JSON"
        return None
    return None


def _suspects(columns: dict[str, pa.ChunkedArray | pa.Array]) -> dict[str, list[int]]:
    """Per column, the indices (ascending) of the texts that might not be strict JSON."""
    found = {}
    for name, rows in matching_rows(columns, _TRAILING_COMMA, _NON_FINITE_HINT).items():
        kept = refine(columns[name], rows, _TRAILING_COMMA, _NON_FINITE)
        if kept:
            found[name] = kept
    return found


def _first_not_strict(columns: dict[str, pa.ChunkedArray | pa.Array]) -> tuple[int, str] | None:
    """(index, column) of the first text that is not strict JSON: the lowest
    index, then the first column in ``columns``' order; None when all are."""
    bad = []
    for name, rows in _suspects(columns).items():
        column = columns[name]
        first = next((i for i in rows if _strict_error(column[i].as_py()) is not None), None)
        if first is not None:
            bad.append((first, list(columns).index(name), name))
    if not bad:
        return None
    row, _, name = min(bad)
    return row, name


def check_raw(staging: Staging) -> None:
    """Reject JSON text that only a lenient parser accepts, before DuckDB reads it."""
    table = staging.table
    if staging.kind == "records":
        found = _first_not_strict({"j": table.column("j")})
        if found is not None:
            raise ValidationError(None, "not valid JSON", row=table.column("rowno")[found[0]].as_py(),
                                  row_label=staging.row_label)
    elif staging.kind == "json_array":
        doc = table.column("doc")
        if _suspects({"doc": doc}):
            error = _strict_error(doc[0].as_py())
            if error is not None:
                raise ValidationError(None, f"the .json file is not valid JSON: {error}")
    elif staging.kind == "columns":
        found = _first_not_strict({f: table.column(f) for f in JSON_FIELDS
                                   if f in table.column_names and is_string(table.schema.field(f).type)})
        if found is not None:
            raise ValidationError(found[1], "must hold valid JSON text", row=found[0], row_label=staging.row_label)


def check_canonical(staging: Staging, rows: pa.Table) -> None:
    """Reject NaN / Infinity that nested or float columns turned into JSON text."""
    if staging.kind != "columns" or not rows.num_rows:
        return
    names = staging.table.column_names
    found = _first_not_strict({f: rows.column(f) for f in JSON_FIELDS
                               if f in names and not is_string(staging.table.schema.field(f).type)})
    if found is not None:
        raise ValidationError(found[1], "must be a JSON value (NaN and Infinity are not JSON)",
                              row=rows.column("rowno")[found[0]].as_py(), row_label=staging.row_label)
