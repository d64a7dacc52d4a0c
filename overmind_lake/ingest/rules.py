"""The rules of docs/python.md as SQL: the query bringing each staging form
to one typed relation, and the one checking it (normalize.py runs them).

The typed relation has, per field, the JSON type of the value (NULL when the
field is absent) and its text; the checking query yields the canonical
columns and, per row, an error column per rule (NULL when the row keeps it).
"""

from __future__ import annotations

import pyarrow as pa

from ..errors import ValidationError
from ..schema import DATAPOINT_FIELDS, JSON_FIELDS, LAKE_COLUMNS, MAX_ORDER, MAX_PERSONA_CHARS, SOURCES

ALLOWED_KEYS = list(DATAPOINT_FIELDS) + list(LAKE_COLUMNS)

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
    allowed_sql = "[" + ", ".join(f"'{k}'" for k in ALLOWED_KEYS) + "]"
    # as many keys as allowed keys present: no unknown key (the list is
    # searched only for a row with more, i.e. unknown or repeated keys)
    all_paths = ", ".join("'$.\"%s\"'" % f for f in ALLOWED_KEYS)
    present = " + ".join(f"(v[{i}] IS NOT NULL)::INT" for i in range(1, len(ALLOWED_KEYS) + 1))
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


TYPED_RECORDS = _typed_records_sql()
TYPED_RECORDS_STRICT = _typed_records_sql(tolerant=False)
DICT_RECORDS = _typed_records_sql(check_keys=False)

# Dicts arrive typed already (dicts.py); their JSON text is brought to the
# same canonical form as every other input's.
TYPED_PREBUILT = "SELECT NULL::VARCHAR AS row_error, * REPLACE (" + ", ".join(
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

ERROR_FIELDS = ("id", "input", "expected_output", "order", "persona", "tags", "source", "agent", "generator_model")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def typed_columns_sql(schema: pa.Schema) -> str:
    """SQL turning a user's Arrow table into the typed relation."""
    names = set(schema.names)
    unknown = [n for n in schema.names if n not in ALLOWED_KEYS]
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
            if is_string(t):
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
        elif is_string(t) or (f in ("id", "agent") and getattr(t, "extension_name", "") == "arrow.uuid"):
            cols += [f"{null_or} 'VARCHAR' END AS {f}_t", f"CAST({q} AS VARCHAR) AS {f}_v"]
        elif pa.types.is_null(t):
            cols += [f"'NULL' AS {f}_t", f"NULL::VARCHAR AS {f}_v"]
        elif pa.types.is_dictionary(t) and is_string(t.value_type):
            cols += [f"{null_or} 'VARCHAR' END AS {f}_t", f"CAST({q} AS VARCHAR) AS {f}_v"]
        else:
            cols += [f"{null_or} 'OTHER' END AS {f}_t", f"NULL::VARCHAR AS {f}_v"]
    return "SELECT " + ",\n  ".join(cols) + " FROM staging"


ERROR_COLUMNS = ["row_error"] + [f"e_{f}" for f in ERROR_FIELDS]


def checked_sql(kept: tuple[str, ...] = ()) -> str:
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


CHECKED_SQL = checked_sql()
