"""Strict JSON: what DuckDB's lenient JSON reader lets through.

DuckDB parses JSON with yyjson in a lenient mode: trailing commas (``[1,]``)
are accepted and silently dropped, and ``NaN`` / ``Infinity`` are accepted
and written back out as bare tokens. Neither is JSON (RFC 8259), so neither
may be stored. Cheap vectorised filters pick the few texts that could hold
one of them; only those are parsed again, strictly, in Python.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ValidationError
from ..schema import JSON_FIELDS
from .sources import Staging

#: Patterns of texts that might hold a trailing comma, NaN or Infinity
#: (inside a string they are harmless: the strict parse of a candidate
#: decides). Three single-pattern passes are several times faster than one
#: alternation.
_SUSPECT = (r",[ \t\r\n]*[\]}]", "NaN", "Infinity")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _strict_error(text: str) -> str | None:
    """Why ``text`` is not strict JSON, or None."""
    try:
        json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        return str(exc)
    except RecursionError:  # nested deeper than Python parses: DuckDB's parse stands
        return None
    return None


def _suspects(column: pa.ChunkedArray | pa.Array) -> list[int]:
    """Indices of the texts that might not be strict JSON."""
    found = None
    for pattern in _SUSPECT:  # RE2 finds even a literal faster than match_substring
        hits = pc.fill_null(pc.match_substring_regex(column, pattern), False)
        found = hits if found is None else pc.or_(found, hits)
    if found is None or not pc.any(found).as_py():
        return []
    return pc.indices_nonzero(found if isinstance(found, pa.Array) else found.combine_chunks()).to_pylist()


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def check_raw(staging: Staging) -> None:
    """Reject JSON text that only a lenient parser accepts, before DuckDB reads it."""
    table = staging.table
    if staging.kind == "records":
        texts, rownos = table.column("j"), table.column("rowno")
        for i in _suspects(texts):
            if _strict_error(texts[i].as_py()) is not None:
                raise ValidationError(None, "not valid JSON", row=rownos[i].as_py(), row_label=staging.row_label)
    elif staging.kind == "json_array":
        doc = table.column("doc")
        if _suspects(doc):
            error = _strict_error(doc[0].as_py())
            if error is not None:
                raise ValidationError(None, f"the .json file is not valid JSON: {error}")
    elif staging.kind == "columns":
        for field in JSON_FIELDS:
            if field not in table.column_names:
                continue
            column = table.column(field)
            if not _is_string(column.type):
                continue
            for i in _suspects(column):
                if _strict_error(column[i].as_py()) is not None:
                    raise ValidationError(field, "must hold valid JSON text", row=i, row_label=staging.row_label)


def check_canonical(staging: Staging, rows: pa.Table) -> None:
    """Reject NaN / Infinity that nested or float columns turned into JSON text."""
    if staging.kind != "columns" or not rows.num_rows:
        return
    names = staging.table.column_names
    for field in JSON_FIELDS:
        if field not in names or _is_string(staging.table.schema.field(field).type):
            continue
        column = rows.column(field)
        for i in _suspects(column):
            if _strict_error(column[i].as_py()) is not None:
                raise ValidationError(field, "must be a JSON value (NaN and Infinity are not JSON)",
                                      row=rows.column("rowno")[i].as_py(), row_label=staging.row_label)
