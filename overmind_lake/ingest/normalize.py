"""Validation and canonicalisation of staged datapoints, vectorised in DuckDB.

Every staging form is first brought to one *typed* relation (per field: the
JSON type of the value, or NULL when the field is absent, and its text), then
one SQL pass checks every rule of CONTRACT §2 and yields canonical columns:

* JSON fields as compact JSON text (DuckDB's yyjson writer, which keeps big
  integers, key order, duplicate keys and unicode exactly), SQL NULL for null;
* UUIDs in canonical lower-case form;
* defaults applied for absent ``source`` / ``agent`` / ``generator_model``.

The first broken rule (lowest row) is raised as a ValidationError naming the
row, the field and the rule.
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
from ..schema import DATAPOINT_FIELDS, JSON_FIELDS, LAKE_COLUMNS, MAX_ORDER, MAX_PERSONA_CHARS, SOURCES
from .dicts import hides_non_finite, record_texts
from .scan import matching_rows
from .sources import Staging, typed

_ALLOWED_KEYS = list(DATAPOINT_FIELDS) + list(LAKE_COLUMNS)

RULES = {
    "id": "must be a UUID",
    "json": "must hold valid JSON text",
    "order": f"must be an integer from 0 to {MAX_ORDER}",
    "persona_type": "must be a string or null",
    "persona_len": f"must be at most {MAX_PERSONA_CHARS} characters",
    "source_null": "cannot be null",
    "source": "must be one of " + ", ".join(SOURCES),
    "agent": "must be a UUID or null",
    "generator_model": "must be a string or null",
}

def _json_type(text: str) -> str:
    """SQL naming the JSON type of minified JSON text (NULL when absent),
    told from its first character: cheaper than parsing it again."""
    return (f"CASE WHEN {text} IS NULL THEN NULL WHEN {text} = 'null' THEN 'NULL' "
            f"WHEN starts_with({text}, '\"') THEN 'VARCHAR' WHEN starts_with({text}, '{{') THEN 'OBJECT' "
            f"WHEN starts_with({text}, '[') THEN 'ARRAY' WHEN {text} IN ('true', 'false') THEN 'BOOLEAN' "
            f"ELSE 'NUMBER' END")


def _typed_records_sql(check_keys: bool = True, tolerant: bool = True) -> str:
    """Records (one JSON object per row) to the typed relation, checking each
    is an object with known keys only (``row_error``). Without
    ``check_keys`` (the rows were Python dicts checked already) each object
    is parsed once; else twice (its keys, its fields). A ``tolerant`` query
    turns text that is not JSON into a row error; else it fails as a whole
    (and costs a sixth less: DuckDB's TRY is not free)."""
    cols = []
    for i, f in enumerate(DATAPOINT_FIELDS, start=1):
        cols.append(f"{_json_type(f'v[{i}]')} AS {f}_t")
        if f in JSON_FIELDS or f == "order":
            cols.append(f"CAST(v[{i}] AS VARCHAR) AS {f}_v")
        else:
            cols.append(f"CASE WHEN starts_with(v[{i}], '\"') THEN json_extract_string(v[{i}], '$') END AS {f}_v")
    paths = ", ".join("'$.\"%s\"'" % f for f in DATAPOINT_FIELDS)
    if not check_keys:
        return f"""
SELECT rowno, pos, NULL::VARCHAR AS row_error, {", ".join(cols)}
FROM (SELECT rowno, pos, json_extract(j, [{paths}]) AS v FROM staging)
"""
    allowed_sql = "[" + ", ".join(f"'{k}'" for k in _ALLOWED_KEYS) + "]"
    # as many keys as allowed keys present: no unknown key (the list is
    # searched only for a row with more, i.e. unknown or repeated keys)
    all_paths = ", ".join("'$.\"%s\"'" % f for f in _ALLOWED_KEYS)
    present = " + ".join(f"(v[{i}] IS NOT NULL)::INT" for i in range(1, len(_ALLOWED_KEYS) + 1))
    unknown = f"list_filter(k, lambda x: NOT list_contains({allowed_sql}, x))"
    try_ = "TRY" if tolerant else ""
    return f"""
SELECT rowno, pos,
  CASE WHEN k IS NULL THEN 'not valid JSON'
       WHEN NOT starts_with(j, '{{') AND NOT starts_with(ltrim(j), '{{') THEN 'a datapoint must be a JSON object'
       WHEN len(k) = {present} THEN NULL
       WHEN len({unknown}) > 0 THEN 'unknown:' || {unknown}[1] END AS row_error,
  {", ".join(cols)}
FROM (SELECT rowno, pos, j, {try_}(json_keys(j)) AS k, {try_}(json_extract(j, [{all_paths}])) AS v FROM staging)
"""


_TYPED_RECORDS = _typed_records_sql()
_TYPED_RECORDS_STRICT = _typed_records_sql(tolerant=False)
_DICT_RECORDS = _typed_records_sql(check_keys=False)

# Dicts arrive typed already (dicts.py); their JSON text is brought to the
# same canonical form as every other input's.
_TYPED_PREBUILT = "SELECT NULL::VARCHAR AS row_error, * REPLACE (" + ", ".join(
    f"TRY(json({f}_v)) AS {f}_v" for f in JSON_FIELDS) + ") FROM staging"

_CHECKED = f"""
SELECT rowno, pos, row_error,
  CASE WHEN id_t = 'VARCHAR' THEN id_u ELSE CAST(uuid() AS VARCHAR) END AS id,
  (id_t IS NULL OR id_t = 'NULL') AS id_generated,
  CASE WHEN id_t IS NULL OR id_t = 'NULL' THEN NULL
       WHEN id_t <> 'VARCHAR' OR id_u IS NULL THEN 'id' END AS e_id,
  {{json_values}},
  CASE WHEN order_t IN ('BIGINT', 'NUMBER') THEN order_i END AS "order",
  CASE WHEN order_t IS NULL OR order_t = 'NULL' THEN NULL
       WHEN order_t NOT IN ('BIGINT', 'NUMBER') OR order_i IS NULL OR order_i < 0 THEN 'order' END AS e_order,
  CASE WHEN persona_t = 'VARCHAR' THEN persona_v END AS persona,
  CASE WHEN persona_t IS NULL OR persona_t = 'NULL' THEN NULL
       WHEN persona_t <> 'VARCHAR' THEN 'persona_type'
       WHEN length(persona_v) > {MAX_PERSONA_CHARS} THEN 'persona_len' END AS e_persona,
  CASE WHEN source_t IS NULL THEN $source WHEN source_t = 'VARCHAR' THEN source_v END AS source,
  CASE WHEN source_t IS NULL THEN NULL
       WHEN source_t = 'NULL' THEN 'source_null'
       WHEN source_t <> 'VARCHAR' OR source_v NOT IN ({", ".join(f"'{s}'" for s in SOURCES)}) THEN 'source' END AS e_source,
  CASE WHEN agent_t IS NULL THEN $agent WHEN agent_t = 'VARCHAR' THEN agent_u END AS agent,
  CASE WHEN agent_t IS NULL OR agent_t = 'NULL' THEN NULL
       WHEN agent_t <> 'VARCHAR' OR agent_u IS NULL THEN 'agent' END AS e_agent,
  CASE WHEN generator_model_t IS NULL THEN $generator_model
       WHEN generator_model_t = 'VARCHAR' THEN generator_model_v END AS generator_model,
  CASE WHEN generator_model_t IS NULL OR generator_model_t IN ('NULL', 'VARCHAR') THEN NULL
       ELSE 'generator_model' END AS e_generator_model
FROM (SELECT *, CAST(try_cast(id_v AS UUID) AS VARCHAR) AS id_u, CASE WHEN regexp_full_match(order_v, '[0-9]+') THEN try_cast(order_v AS BIGINT) END AS order_i,
             CAST(try_cast(agent_v AS UUID) AS VARCHAR) AS agent_u FROM typed)
"""

_ERROR_FIELDS = ("id", "input", "expected_output", "order", "persona", "tags", "source", "agent", "generator_model")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _typed_columns_sql(schema: pa.Schema) -> str:
    """SQL turning a user's Arrow table into the typed relation."""
    names = set(schema.names)
    unknown = [n for n in schema.names if n not in _ALLOWED_KEYS]
    if unknown:
        raise ValidationError(unknown[0], "unknown field (allowed: " + ", ".join(DATAPOINT_FIELDS) + ")")
    cols = ["rowno", "pos", "NULL::VARCHAR AS row_error"]
    for f in DATAPOINT_FIELDS:
        if f not in names:
            cols += [f"NULL::VARCHAR AS {f}_t", f"NULL::VARCHAR AS {f}_v"]
            continue
        t = schema.field(f).type
        q = _quote_ident(f)
        null_or = f"CASE WHEN {q} IS NULL THEN 'NULL' ELSE"
        if f in JSON_FIELDS:
            if _is_string(t):
                # parsed once: TRY turns invalid JSON into NULL, told apart from a real NULL by _t
                cols += [f"{null_or} 'JSON' END AS {f}_t", f"TRY(json({q})) AS {f}_v", f"{q} AS {f}_raw"]
            elif pa.types.is_null(t):
                cols += [f"'NULL' AS {f}_t", f"NULL::VARCHAR AS {f}_v"]
            elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
                cols += [f"{null_or} 'BAD' END AS {f}_t", f"NULL::VARCHAR AS {f}_v"]
            else:
                cols += [f"{null_or} 'JSON' END AS {f}_t", f"CAST(to_json({q}) AS VARCHAR) AS {f}_v"]
        elif f == "order":
            if pa.types.is_integer(t):
                cols += [f"{null_or} 'BIGINT' END AS order_t", f"CAST({q} AS VARCHAR) AS order_v"]
            elif pa.types.is_null(t):
                cols += ["'NULL' AS order_t", "NULL::VARCHAR AS order_v"]
            else:
                cols += [f"{null_or} 'OTHER' END AS order_t", "NULL::VARCHAR AS order_v"]
        elif f in ("id", "agent") and pa.types.is_fixed_size_binary(t) and t.byte_width == 16:
            # 16 raw bytes: their hex digits are the UUID
            cols += [f"{null_or} 'VARCHAR' END AS {f}_t", f"hex({q}) AS {f}_v"]
        elif _is_string(t) or (f in ("id", "agent") and getattr(t, "extension_name", "") == "arrow.uuid"):
            cols += [f"{null_or} 'VARCHAR' END AS {f}_t", f"CAST({q} AS VARCHAR) AS {f}_v"]
        elif pa.types.is_null(t):
            cols += [f"'NULL' AS {f}_t", f"NULL::VARCHAR AS {f}_v"]
        elif pa.types.is_dictionary(t) and _is_string(t.value_type):
            cols += [f"{null_or} 'VARCHAR' END AS {f}_t", f"CAST({q} AS VARCHAR) AS {f}_v"]
        else:
            cols += [f"{null_or} 'OTHER' END AS {f}_t", f"NULL::VARCHAR AS {f}_v"]
    return "SELECT " + ",\n  ".join(cols) + " FROM staging"


def _first_bad_row(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None):
    return one(con, sql + " ORDER BY rowno LIMIT 1", params or [])


_ERROR_COLUMNS = ["row_error"] + [f"e_{f}" for f in _ERROR_FIELDS]


def _checked_sql(kept: tuple[str, ...] = ()) -> str:
    """The checking query; for each field of ``kept`` (JSON text given in a
    string column, passed through as ``<field>_raw``) the canonical text is
    left out where it is the given text itself, flagged by ``<field>_keep``
    (see ``_keep_given``)."""
    json_values = []
    for f in JSON_FIELDS:
        if f in kept:
            same = f"(CAST({f}_v AS VARCHAR) = {f}_raw AND {f}_raw <> 'null')"
            json_values.append(f"CASE WHEN {same} OR {f}_v = 'null' THEN NULL ELSE CAST({f}_v AS VARCHAR) END AS {f}")
            json_values.append(f"{same} AS {f}_keep")
        else:
            json_values.append(f"CASE WHEN {f}_v = 'null' THEN NULL ELSE CAST({f}_v AS VARCHAR) END AS {f}")
        json_values.append(f"CASE WHEN {f}_t = 'BAD' OR ({f}_t NOT IN ('NULL') AND {f}_v IS NULL) "
                           f"THEN 'json' END AS e_{f}")
    return _CHECKED.replace("{json_values}", ",\n  ".join(json_values))


_CHECKED_SQL = _checked_sql()


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
        if keep.null_count == given.column(f).null_count and pc.all(keep).as_py():
            # kept wherever there is a value; the others are null in both
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
        return arrow(con, _checked_sql(kept) if kept else _CHECKED_SQL, params)
    finally:
        con.unregister("staging")


def _broken(rows: pa.Table) -> pa.ChunkedArray | pa.Array | None:
    """Which rows break a rule, or None when none does."""
    if not rows.num_rows:
        return None
    broken = pc.is_valid(pc.coalesce(*[rows.column(c) for c in _ERROR_COLUMNS]))
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
    for field in _ERROR_FIELDS:
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
    return checked.drop_columns(_ERROR_COLUMNS)


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
    return _checked_rows(con, pa.table({"rowno": positions, "pos": positions, "j": texts}), _DICT_RECORDS, params)


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
        typed_sql = _typed_columns_sql(staging.table.schema)
        kept = tuple(f for f in JSON_FIELDS if f in table.column_names and _is_string(table.schema.field(f).type))
    elif staging.kind == "typed":
        typed_sql = _TYPED_PREBUILT
    else:
        # records are almost always all JSON: check them without TRY first
        try:
            rows = _checked_rows(con, table, _TYPED_RECORDS_STRICT, params)
        except duckdb.Error:
            rows = None
        typed_sql = _TYPED_RECORDS
    if rows is None:
        rows = _checked_rows(con, table, typed_sql, params, kept)
    broken = _broken(rows)
    if broken is not None:
        _raise_first_error(rows, broken, label)
    return _keep_given(rows.drop_columns(_ERROR_COLUMNS), table, kept)


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
