"""Python dicts to the *typed* staging form, column by column.

Each field becomes two Arrow columns: ``<field>_t`` (the value's JSON type
name, NULL when the key is absent) and ``<field>_v`` (its text). Scalar
fields go to Arrow in one conversion per column; only the three JSON fields
are serialised per value (orjson, with the standard library as the exact
fallback). The checks themselves run in SQL, shared with every other input
shape (normalize.py).
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ValidationError
from ..schema import DATAPOINT_FIELDS, JSON_FIELDS, LAKE_COLUMNS, SOURCES

_ALLOWED = frozenset(DATAPOINT_FIELDS) | frozenset(LAKE_COLUMNS)
_STRING_FIELDS = ("id", "persona", "source", "agent", "generator_model")


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_non_finite(v) for v in value)
    return False


def dump_json(value: Any, index: int, field: str | None = None) -> bytes:
    """Exact JSON text of a Python value (big integers kept; NaN/Infinity refused)."""
    try:
        text = orjson.dumps(value)
        # orjson writes NaN/Infinity as null: only a value with a null in it can hide one
        if b"null" not in text or not _has_non_finite(value):
            return text
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(field, f"not a JSON value: {exc}", row=index) from None


def _json_texts(values: list[Any], field: str) -> pa.Array:
    dumps = orjson.dumps
    try:
        texts = [None if v is None else dumps(v) for v in values]
    except (TypeError, orjson.JSONEncodeError):
        texts = [None if v is None else dump_json(v, i, field) for i, v in enumerate(values)]
    try:
        arr = pa.array(texts, pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        raise ValidationError(field, "holds a string that is not valid Unicode") from None
    # orjson writes NaN/Infinity as null: only values whose text has a null can hide one
    suspects = pc.fill_null(pc.match_substring_regex(arr, "null"), False).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(suspects):
        if _has_non_finite(values[i]):
            dump_json(values[i], int(i), field)  # raises, naming the row
    return arr


def _type_column(present: list[bool] | None, values: pa.Array, kind: str) -> pa.Array:
    """'NULL' for None, ``kind`` for a value, NULL where the key is absent."""
    t = pc.if_else(values.is_null(), pa.scalar("NULL"), pa.scalar(kind))
    if present is not None:
        t = pc.if_else(pa.array(present, pa.bool_()), t, pa.scalar(None, pa.string()))
    return t


def _first_bad(values: list[Any], ok) -> int:
    return next(i for i, v in enumerate(values) if not ok(v))


def typed_from_dicts(rows: list[Any]) -> pa.Table:
    """The typed staging table of a list of datapoint dicts."""
    n = len(rows)
    first = rows[0].keys() if n and isinstance(rows[0], dict) else None
    uniform = first is not None
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValidationError(None, f"a datapoint must be a dict, not {type(row).__name__}", row=i)
        keys = row.keys()
        if keys != first:
            uniform = False
        if not keys <= _ALLOWED:
            unknown = sorted(str(k) for k in keys if k not in _ALLOWED)[0]
            raise ValidationError(unknown, "unknown field (allowed: " + ", ".join(DATAPOINT_FIELDS) + ")", row=i)
    columns: dict[str, pa.Array] = {
        "rowno": pa.array(np.arange(n, dtype=np.int64)),
        "pos": pa.array(np.arange(n, dtype=np.int64)),
    }
    for field in DATAPOINT_FIELDS:
        if uniform:
            present = None
            all_present = field in first
        else:
            present = [field in r for r in rows]
            all_present = all(present)
        if not all_present and (present is None or not any(present)):
            columns[f"{field}_t"] = pa.nulls(n, pa.string())
            columns[f"{field}_v"] = pa.nulls(n, pa.string())
            continue
        values = [r.get(field) for r in rows]
        mask = None if all_present else present
        if field in JSON_FIELDS:
            arr = _json_texts(values, field)
            columns[f"{field}_t"] = _type_column(mask, arr, "JSON")
            columns[f"{field}_v"] = arr
        elif field == "order":
            if any(type(v) is not int and v is not None for v in values):
                i = _first_bad(values, lambda v: v is None or type(v) is int)
                raise ValidationError("order", "must be an integer from 0 to 9223372036854775807", row=i)
            try:
                arr = pa.array(values, pa.int64())
            except (OverflowError, pa.ArrowInvalid):
                i = _first_bad(values, lambda v: v is None or v <= 9223372036854775807)
                raise ValidationError("order", "must be an integer from 0 to 9223372036854775807", row=i) from None
            columns["order_t"] = _type_column(mask, arr, "BIGINT")
            columns["order_v"] = pc.cast(arr, pa.string())
        else:
            try:
                arr = pa.array(values, pa.string())
            except (pa.ArrowTypeError, pa.ArrowInvalid):
                arr = None
                if field in ("id", "agent"):  # uuid.UUID objects are welcome
                    values = [str(v) if isinstance(v, uuid.UUID) else v for v in values]
                    try:
                        arr = pa.array(values, pa.string())
                    except (pa.ArrowTypeError, pa.ArrowInvalid):
                        pass
            if arr is None:
                i = _first_bad(values, lambda v: v is None or type(v) is str)
                rule = "must be a UUID or null" if field == "agent" else (
                    "must be a UUID" if field == "id" else
                    "must be one of " + ", ".join(SOURCES) if field == "source" else "must be a string or null")
                raise ValidationError(field, rule, row=i)
            columns[f"{field}_t"] = _type_column(mask, arr, "VARCHAR")
            columns[f"{field}_v"] = arr
    return pa.table(columns)
