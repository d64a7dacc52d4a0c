"""Validation and canonicalisation of staged datapoints, vectorised in DuckDB.

Every staging form is first brought to one *typed* relation (per field: the
JSON type of the value, or NULL when the field is absent, and its text), then
one SQL pass checks every rule of docs/python.md and yields canonical columns:

* JSON fields as compact JSON text (DuckDB's yyjson writer, which keeps big
  integers, key order, duplicate keys and unicode exactly), SQL NULL for null;
* UUIDs in canonical lower-case form;
* defaults applied for absent ``source`` / ``agent`` / ``generator_model``.

The first broken rule (lowest row) is raised as a ValidationError naming the
row, the field and the rule. The SQL itself is in rules.py.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..duck import arrow, one, run
from ..errors import ValidationError
from ..schema import DATAPOINT_FIELDS, JSON_FIELDS
from .dicts import hides_non_finite, record_texts
from .rules import (CHECKED_SQL, DICT_RECORDS, ERROR_COLUMNS, ERROR_FIELDS, RULES, TYPED_PREBUILT,
                    TYPED_RECORDS, TYPED_RECORDS_STRICT, checked_sql, is_string, typed_columns_sql)
from .scan import matching_rows
from .sources import Staging, typed


#: Bytes of text a string array (32-bit offsets: the stored type) can hold.
MAX_STRING_BYTES = 2**31 - 1


def _text_bytes(chunk: pa.Array) -> int:
    """Bytes of text in a string, large_string or string_view array (at
    least: a string_view's null slots count whatever length they hold)."""
    n, first = len(chunk), chunk.offset
    if not n:
        return 0
    if pa.types.is_string_view(chunk.type):
        views = np.frombuffer(chunk.buffers()[1], dtype="<i4", count=4 * (first + n))
        return int(views[4 * first::4].sum(dtype=np.int64))
    dtype = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(chunk.buffers()[1], dtype=dtype, count=first + n + 1)
    return int(offsets[-1]) - int(offsets[first])


def _fits_string(column: pa.ChunkedArray) -> bool:
    """Whether each chunk's text fits one string array (the stored type, with
    32-bit offsets): a large_string or string_view chunk may hold more."""
    return all(pa.types.is_string(chunk.type) or _text_bytes(chunk) <= MAX_STRING_BYTES for chunk in column.chunks)


def _keep_given(rows: pa.Table, given: pa.Table, kept: tuple[str, ...]) -> pa.Table:
    """``rows`` with the JSON text of each ``kept`` field taken from ``given``
    (the user's column, row for row) wherever it is canonical already.

    Most JSON text handed over in a column is compact JSON already (what
    ``json.dumps(..., separators=(",", ":"))``, Polars or this lake writes):
    DuckDB then only compares it with its canonical form instead of
    materialising a second copy of every text, and a column kept whole is
    the given column itself, no copy at all."""
    if kept and rows.num_rows:
        # rows come back in the given order (DuckDB preserves insertion order
        # without ORDER BY); were they ever not, the given rows follow them
        pos = rows.column("pos").to_numpy()
        if not np.array_equal(pos, np.arange(len(pos))):
            given = given.take(pa.array(pos))
    for f in kept:
        keep = rows.column(f"{f}_keep")
        rows = rows.drop_columns([f"{f}_keep"])
        if not pc.any(keep).as_py():
            continue
        column = given.column(f)
        if pc.all(keep).as_py():
            # kept wherever there is a value (keep is null where the text is)
            rows = rows.set_column(rows.schema.get_field_index(f), f, column)
            continue
        canonical = rows.column(f)
        if column.type != canonical.type:
            column = column.cast(canonical.type)
        rows = rows.set_column(rows.schema.get_field_index(f), f, pc.if_else(keep, column, canonical))
    return rows


#: Dict rows written to JSON per orjson call: each chunk is its own buffer,
#: and a DuckDB scan thread takes one chunk at a time, so a part of a few
#: chunks is checked on every core. orjson holds the GIL for a whole call:
#: a small chunk lets the checking thread start soon.
DICT_CHUNK_ROWS = 25_000
#: Dict rows checked per DuckDB query. Python writes the JSON text of one part
#: while DuckDB checks the one before (it releases the GIL); the first part is
#: smaller, so DuckDB starts early.
DICT_PART_ROWS = 100_000
DICT_FIRST_PART_ROWS = 50_000


def _checked_rows(con: duckdb.DuckDBPyConnection, table: pa.Table, typed_sql: str,
                  params: dict[str, Any], kept: tuple[str, ...] = ()) -> pa.Table:
    """``table`` registered as ``staging``, typed by ``typed_sql`` and checked:
    canonical columns plus the error columns (and the ``<field>_keep``
    flags of the ``kept`` fields)."""
    con.register("staging", table)
    try:
        run(con, f"CREATE OR REPLACE TEMP VIEW typed AS {typed_sql}")
        return arrow(con, checked_sql(kept) if kept else CHECKED_SQL, params)
    finally:
        con.unregister("staging")


def _broken(rows: pa.Table) -> pa.ChunkedArray | pa.Array | None:
    """Which rows break a rule, or None when none does."""
    if not rows.num_rows:
        return None
    broken = pc.is_valid(pc.coalesce(*[rows.column(c) for c in ERROR_COLUMNS]))
    return broken if pc.any(broken).as_py() else None


def _raise_first_error(rows: pa.Table, broken: pa.ChunkedArray | pa.Array, label: str) -> None:
    first = pc.min(pc.filter(rows.column("rowno"), broken)).as_py()
    row = rows.filter(pc.equal(rows.column("rowno"), first)).slice(0, 1).to_pylist()[0]
    if row["row_error"]:
        problem = row["row_error"]
        if problem.startswith("unknown:"):
            raise ValidationError(problem[len("unknown:"):], "unknown field (allowed: "
                                  + ", ".join(DATAPOINT_FIELDS) + ")", row=first, row_label=label)
        raise ValidationError(None, problem, row=first, row_label=label)
    for field in ERROR_FIELDS:
        if row[f"e_{field}"]:
            raise ValidationError(field, RULES[row[f"e_{field}"]], row=first, row_label=label)


def _dict_rows(con: duckdb.DuckDBPyConnection, rows: list[Any], params: dict[str, Any]) -> pa.Table | None:
    """Canonical rows of plain, valid dicts, checked through their JSON text;
    None when the rows are not plain or break any rule: the exact path then
    decides (and words the error).

    The list is done in parts, pipelined: DuckDB checks a part (releasing
    the GIL) while Python writes the next part's JSON text.
    """
    n = len(rows)
    if n == 0:
        return None
    bounds = _part_bounds(n)
    with ThreadPoolExecutor(max_workers=1) as pool:
        checks = []
        try:
            for lo, hi in bounds:
                if checks and checks[-1].done() and isinstance(checks[-1].exception(), duckdb.Error):
                    return None  # a part failed: the exact path decides, no need to go on
                texts = _dict_texts(rows, lo, hi)
                if texts is None:
                    return None
                checks.append(pool.submit(_check_texts, con, texts, lo, params))
            parts = [c.result() for c in checks]
        except duckdb.Error:
            return None
        finally:
            for c in checks:
                c.cancel()
    checked = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    if _broken(checked) is not None or _hides_non_finite(checked, rows):
        return None
    return checked.drop_columns(ERROR_COLUMNS)


def _part_bounds(n: int) -> list[tuple[int, int]]:
    """[start, stop) of each part of ``n`` dict rows checked by one query."""
    cuts = [0, min(n, DICT_FIRST_PART_ROWS)]
    while cuts[-1] < n:
        cuts.append(min(n, cuts[-1] + DICT_PART_ROWS))
    return list(zip(cuts[:-1], cuts[1:]))


def _dict_texts(rows: list[Any], start: int, stop: int) -> pa.ChunkedArray | None:
    texts = []
    for lo in range(start, stop, DICT_CHUNK_ROWS):
        chunk = record_texts(rows[lo:min(stop, lo + DICT_CHUNK_ROWS)])
        if chunk is None:
            return None
        texts.append(chunk)
    return pa.chunked_array(texts)


def _check_texts(con: duckdb.DuckDBPyConnection, texts: pa.ChunkedArray, start: int,
                 params: dict[str, Any]) -> pa.Table:
    positions = pa.array(np.arange(start, start + len(texts), dtype=np.int64))
    return _checked_rows(con, pa.table({"rowno": positions, "pos": positions, "j": texts}), DICT_RECORDS, params)


def _hides_non_finite(part: pa.Table, rows: list[Any]) -> bool:
    """orjson writes NaN/Infinity as null: only a JSON value with a null inside
    can hide one (a top-level one was ruled out before)."""
    suspects = matching_rows({f: part.column(f) for f in JSON_FIELDS}, "null", literal=True)
    for field, found in suspects.items():
        rownos = pc.take(part.column("rowno"), pa.array(found.to_numpy())).to_numpy()
        if hides_non_finite(rows, rownos, field):
            return True
    return False


def normalize(
    con: duckdb.DuckDBPyConnection,
    staging: Staging,
    *,
    source: str,
    agent: str | None,
    generator_model: str | None,
) -> pa.Table:
    """Validate ``staging`` and return its canonical rows as Arrow.

    Columns: ``rowno`` (the row label), ``pos`` (0-based position), ``id``
    (given, or generated when ``id_generated``), the JSON fields as text,
    ``order`` (NULL when not given), ``persona``, ``tags``, ``source``,
    ``agent``, ``generator_model``. Raises ValidationError for the first
    broken rule (lowest row).
    """
    params = {"source": source, "agent": agent, "generator_model": generator_model}
    if staging.kind == "dicts":
        rows = _dict_rows(con, staging.rows or [], params)
        if rows is not None:
            return rows
        staging = typed(staging)
    label = staging.row_label
    table = staging.table
    rows = None
    kept: tuple[str, ...] = ()
    if staging.kind == "json_array":
        table = _expand_json_array(con, table)
    elif staging.kind == "columns":
        n = table.num_rows
        table = table.append_column("rowno", pa.array(np.arange(n, dtype=np.int64)))
        table = table.append_column("pos", pa.array(np.arange(n, dtype=np.int64)))
    if staging.kind == "columns":
        typed_sql = typed_columns_sql(staging.table.schema)
        # a column whose chunks could not be stored as they are (too much text
        # for one string array) takes DuckDB's copy, which comes in batches
        kept = tuple(f for f in JSON_FIELDS if f in table.column_names and is_string(table.schema.field(f).type)
                     and _fits_string(table.column(f)))
    elif staging.kind == "typed":
        typed_sql = TYPED_PREBUILT
    else:
        # records are almost always all JSON: check them without TRY first
        try:
            rows = _checked_rows(con, table, TYPED_RECORDS_STRICT, params)
        except duckdb.Error:
            rows = None
        typed_sql = TYPED_RECORDS
    if rows is None:
        rows = _checked_rows(con, table, typed_sql, params, kept)
    broken = _broken(rows)
    if broken is not None:
        _raise_first_error(rows, broken, label)
    return _keep_given(rows.drop_columns(ERROR_COLUMNS), table, kept)


def _expand_json_array(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Table:
    """The elements of a ``.json`` array document as one JSON text per row."""
    con.register("doc_table", table)
    try:
        valid, kind = one(con, "SELECT json_valid(doc), CASE WHEN json_valid(doc) THEN json_type(doc) END "
                               "FROM doc_table")
        if not valid:
            raise ValidationError(None, "the .json file is not valid JSON")
        if kind != "ARRAY":
            raise ValidationError(None, "a .json file must hold an array of datapoint objects")
        items = arrow(con, "SELECT unnest(CAST(json_extract(doc, '$[*]') AS VARCHAR[])) AS j FROM doc_table")
    finally:
        con.unregister("doc_table")
    n = items.num_rows
    return pa.table({"rowno": pa.array(np.arange(n, dtype=np.int64)), "pos": pa.array(np.arange(n, dtype=np.int64)),
                     "j": items.column("j")})
