"""Python dicts to a staging form DuckDB can check.

Fast path (``record_texts``): a chunk of rows becomes one JSON object text
per row, all from a single ``orjson.dumps`` call, and DuckDB takes the
objects apart like JSONL lines. It applies only to plain rows it can vouch
for (see ``_plain``); anything else, and any row that breaks a rule, goes to
the exact path below, which decides the outcome and the error message.

Exact path (``typed_from_dicts``): each field becomes two Arrow columns:
``<field>_t`` (the value's JSON type name, NULL when the key is absent) and
``<field>_v`` (its text). Scalar fields go to Arrow in one conversion per
column; only the three JSON fields are serialised per value (orjson, with the
standard library as the exact fallback). The checks themselves run in SQL,
shared with every other input shape (normalize.py).
"""

from __future__ import annotations

import itertools
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


#: Top-level types that mean the same to orjson and the exact path in any field.
_SIMPLE_TYPES = frozenset({str, int, bool, type(None), dict, list, tuple})
#: Top-level value types whose orjson text means exactly what the exact path
#: makes of them (UUIDs and floats are checked further in ``_plain``).
_PLAIN_TYPES = _SIMPLE_TYPES | {float, uuid.UUID}
_UUID_FIELDS = frozenset({"id", "agent"})
#: Put between rows. orjson writes it as its four UTF-8 bytes, the first of
#: which (0xF4) only code points from U+100000 up start with: candidates are
#: found by a vectorised byte search, then checked for the whole separator.
_SENTINEL = "\U0010FFFF"
_SEPARATOR_BYTES = b',"' + _SENTINEL.encode() + b'",'
_SEARCH_BLOCK = 1 << 20


def _plain(rows: list[Any]) -> bool:
    """Whether every row is a dict with allowed keys only and top-level values
    orjson writes as the exact path reads them: no NaN/Infinity at the top,
    no UUID object outside ``id`` and ``agent``, no subclasses. (Lake
    columns are ignored by both paths; nested values go through orjson in
    both.)

    One pass over all the rows' values answers the common case: when every
    top-level value is a str, int, bool, None, dict, list or tuple, wherever
    it sits, the rows are plain. Only rows holding other types (floats,
    UUID objects, ...) are looked at field by field."""
    if not rows or set(map(type, rows)) != {dict} or not set().union(*rows) <= _ALLOWED:
        return False
    if set(map(type, itertools.chain.from_iterable(map(dict.values, rows)))) <= _SIMPLE_TYPES:
        return True
    for field in DATAPOINT_FIELDS:
        types = set(map(type, map(dict.get, rows, itertools.repeat(field))))
        if not types <= _PLAIN_TYPES:
            return False
        if float in types and not all(math.isfinite(r.get(field)) for r in rows if type(r.get(field)) is float):
            return False
        if uuid.UUID in types and field not in _UUID_FIELDS:
            return False
    return True


def _views(data: bytes, starts: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """A string-view array of the slices ``data[start:start + length]``:
    16 bytes per value (its length, then the bytes themselves when at most
    12, else their first 4 bytes, buffer 0 and the offset), no copy of the
    text."""
    n = len(starts)
    views = np.zeros((n, 4), dtype="<i4")
    views[:, 0] = lengths
    long = lengths > 12
    at = starts[long]
    # a long value's first 4 bytes as one int32, read from the text seen as
    # int32s from offset 0, 1, 2 or 3 (whichever has the value's start aligned)
    prefix = np.empty(len(at), dtype="<i4")
    for shift in range(4):
        aligned = (at & 3) == shift
        if aligned.any():
            words = np.frombuffer(data, dtype="<i4", count=(len(data) - shift) // 4, offset=shift)
            prefix[aligned] = words[(at[aligned] - shift) >> 2]
    views[long, 1] = prefix
    views[long, 3] = at
    short = np.flatnonzero(~long)
    if len(short):
        take = np.arange(12)
        text = np.frombuffer(data, dtype=np.uint8)
        head = text[np.minimum(starts[short, None] + take, len(text) - 1)]  # never past the end
        head[take >= lengths[short, None]] = 0  # padding of an inline value is zeros
        views.view(np.uint8).reshape(n, 16)[short, 4:16] = head
    return pa.Array.from_buffers(pa.string_view(), n, [None, pa.py_buffer(views), pa.py_buffer(data)])


def record_texts(rows: list[Any]) -> pa.Array | None:
    """One JSON object text per row (a string-view array over orjson's output),
    or None when the rows are not plain (the exact path decides then).

    orjson writes the rows, separated by a sentinel element, in one call; the
    separators are found by a byte search, and each row's text is the
    slice between two of them. A row whose text happened to hold the
    separator would make one too many: then None.
    """
    if not _plain(rows):
        return None
    items = [_SENTINEL] * (2 * len(rows) - 1)
    items[::2] = rows
    try:
        data = orjson.dumps(items)
    except (TypeError, orjson.JSONEncodeError):
        return None
    if len(data) >= 1 << 31:  # views address their text with 32-bit offsets
        return None
    seps = _separators(data)
    if len(seps) != len(rows) - 1:
        return None
    width = len(_SEPARATOR_BYTES)
    starts = np.empty(len(rows), dtype=np.int64)
    ends = np.empty(len(rows), dtype=np.int64)
    starts[0], ends[-1] = 1, len(data) - 1  # inside the list's brackets
    starts[1:], ends[:-1] = seps + width, seps
    return _views(data, starts, ends - starts)


def _separators(data: bytes) -> np.ndarray:
    """Start of every ``_SEPARATOR_BYTES`` in ``data``, overlapping ones
    included (a row ends with "}", so no false match can overlap a real
    separator: any false match makes one too many)."""
    text = np.frombuffer(data, dtype=np.uint8)
    lead = 2  # the separator's 0xF4 byte follows ',"'
    # block by block, so the comparison's mask stays in cache
    found = [np.flatnonzero(text[lo:lo + _SEARCH_BLOCK] == _SEPARATOR_BYTES[lead]) + lo
             for lo in range(0, len(text), _SEARCH_BLOCK)]
    starts = np.concatenate(found) - lead if found else np.empty(0, np.int64)
    starts = starts[(starts >= 0) & (starts + len(_SEPARATOR_BYTES) <= len(text))]
    whole = np.ones(len(starts), dtype=bool)
    for k, byte in enumerate(_SEPARATOR_BYTES):
        whole &= text[starts + k] == byte
    return starts[whole]


def hides_non_finite(rows: list[Any], rownos: np.ndarray, field: str) -> bool:
    """Whether any of these rows' ``field`` holds a NaN or Infinity (which
    orjson wrote as null)."""
    return any(_has_non_finite(rows[int(i)].get(field)) for i in rownos)


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
