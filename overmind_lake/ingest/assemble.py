"""Turning normalised rows into a version: defaults, id uniqueness, the
storage sort order (``order``, ``id``), per-source counts and the checksum.
"""

from __future__ import annotations

from typing import Any, Sequence

import duckdb
import pyarrow as pa

from ..duck import arrow, one, run
from ..errors import ValidationError
from ..schema import FILE_SCHEMA, SOURCES
from ..storage.writer import VersionStats
from .normalize import normalize
from .sources import Staging, to_staging

_COLUMNS = ", ".join(f'"{f.name}"' for f in FILE_SCHEMA)

# One line per datapoint, fields separated by U+001F and NULL written as
# U+001E: neither can appear raw in JSON text, a UUID, a number or a
# JSON-escaped string, so distinct rows never share a line.
_ROW_TEXT = """concat_ws(chr(31), id, coalesce(input, chr(30)), coalesce(expected_output, chr(30)),
  CAST("order" AS VARCHAR), coalesce(CAST(to_json(persona) AS VARCHAR), chr(30)), coalesce(tags, chr(30)),
  source, coalesce(agent, chr(30)), coalesce(CAST(to_json(generator_model) AS VARCHAR), chr(30)))"""


def connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection for one write."""
    return duckdb.connect(config={"threads": 2})


def validate_defaults(source: str, agent: str | None, generator_model: str | None) -> str | None:
    """Check the version-level defaults; return the canonical agent UUID."""
    if source not in SOURCES:
        raise ValidationError("source", "must be one of " + ", ".join(SOURCES))
    if generator_model is not None and not isinstance(generator_model, str):
        raise ValidationError("generator_model", "must be a string or null")
    return canonical_uuid(agent, "agent")


def canonical_uuid(value: Any, field: str) -> str | None:
    if value is None:
        return None
    import uuid

    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except (ValueError, AttributeError, TypeError):
        raise ValidationError(field, "must be a UUID") from None


def stage(con: duckdb.DuckDBPyConnection, datapoints: Any, *, source: str, agent: str | None,
          generator_model: str | None, storage_options: dict[str, Any] | None = None) -> tuple[str, Staging]:
    staging = to_staging(datapoints, storage_options)
    return normalize(con, staging, source=source, agent=agent, generator_model=generator_model), staging


def check_unique_ids(con: duckdb.DuckDBPyConnection, table: str, label: str) -> None:
    distinct, total = one(con, f"SELECT count(DISTINCT id), count(*) FROM {table}")
    if distinct == total:
        return
    row = one(con, 
        f"""SELECT rowno, id FROM (
              SELECT rowno, id, row_number() OVER (PARTITION BY id ORDER BY rowno) AS n FROM {table})
            WHERE n = 2 ORDER BY rowno LIMIT 1"""
    )
    raise ValidationError("id", f"duplicate id {row[1]} (ids must be unique within a version)",
                          row=row[0], row_label=label)


def finish(con: duckdb.DuckDBPyConnection, table: str) -> tuple[pa.Table, VersionStats]:
    """Sort ``table`` into storage order and compute the version's stats."""
    counts = ", ".join(f"count(*) FILTER (WHERE source = '{s}')" for s in SOURCES)
    row = one(con, 
        f"""SELECT count(*), {counts},
                   list_sort(list(DISTINCT generator_model) FILTER (WHERE generator_model IS NOT NULL)),
                   sha256(coalesce(string_agg(md5({_ROW_TEXT}), '' ORDER BY "order", id), ''))
            FROM {table}"""
    )
    stats = VersionStats(
        count=row[0],
        source_counts=dict(zip(SOURCES, row[1:5])),
        generator_models=list(row[5] or []),
        checksum=row[6],
    )
    data = arrow(con, f'SELECT {_COLUMNS} FROM {table} ORDER BY "order", id')
    return data.cast(FILE_SCHEMA), stats


def assemble_new(datapoints: Any, *, source: str, agent: str | None, generator_model: str | None,
                 storage_options: dict[str, Any] | None = None) -> tuple[pa.Table, VersionStats]:
    """Rows of a version written from scratch (create_dataset / add_version)."""
    con = connect()
    try:
        rows, staging = stage(con, datapoints, source=source, agent=agent,
                              generator_model=generator_model, storage_options=storage_options)
        run(con, 
            f"""CREATE TEMP TABLE version_rows AS
                SELECT rowno, coalesce(id, CAST(uuid() AS VARCHAR)) AS id, input, expected_output,
                       coalesce("order", pos) AS "order", persona, tags, source, agent, generator_model
                FROM {rows}"""
        )
        check_unique_ids(con, "version_rows", staging.row_label)
        return finish(con, "version_rows")
    finally:
        con.close()


def assemble_derived(base_files: Sequence[str], *, add: Any, remove_ids: Sequence[Any], replace: Any,
                     source: str, agent: str | None, generator_model: str | None,
                     storage_options: dict[str, Any] | None = None,
                     filesystem: Any = None) -> tuple[pa.Table, VersionStats]:
    """Rows of a copy-on-write edit of a version stored in ``base_files``."""
    con = connect()
    try:
        if filesystem is not None:
            con.register_filesystem(filesystem)
        if base_files:
            run(con, f"CREATE TEMP TABLE base AS SELECT {_COLUMNS} FROM read_parquet($1)", [list(base_files)])
        else:
            run(con, f"CREATE TEMP TABLE base AS SELECT {_COLUMNS} FROM (SELECT "
                        "NULL::VARCHAR id, NULL::VARCHAR input, NULL::VARCHAR expected_output, NULL::BIGINT \"order\", "
                        "NULL::VARCHAR persona, NULL::VARCHAR tags, NULL::VARCHAR source, NULL::VARCHAR agent, "
                        "NULL::VARCHAR generator_model) WHERE false")
        removed = []
        for i, value in enumerate(remove_ids):
            try:
                removed.append(canonical_uuid(value, "remove_ids"))
            except ValidationError:
                raise ValidationError("remove_ids", "must be a UUID", row=i) from None
        run(con, "CREATE TEMP TABLE removed AS SELECT unnest($1::VARCHAR[]) AS id", [removed])
        missing = one(con, "SELECT id FROM removed WHERE id NOT IN (SELECT id FROM base) LIMIT 1")
        if missing:
            raise ValidationError("remove_ids", f"id {missing[0]} is not in the version being derived from",
                                  row=removed.index(missing[0]))

        repl, repl_staging = stage(con, replace, source=source, agent=agent,
                                   generator_model=generator_model, storage_options=storage_options)
        label = repl_staging.row_label
        bad = one(con, f"SELECT rowno FROM {repl} WHERE id IS NULL ORDER BY rowno LIMIT 1")
        if bad:
            raise ValidationError("id", "a replacing datapoint must name the id it replaces", row=bad[0], row_label=label)
        bad = one(con, f"SELECT rowno, id FROM {repl} WHERE id NOT IN (SELECT id FROM base) ORDER BY rowno LIMIT 1")
        if bad:
            raise ValidationError("id", f"id {bad[1]} is not in the version being derived from", row=bad[0], row_label=label)
        bad = one(con, f"SELECT rowno, id FROM {repl} WHERE id IN (SELECT id FROM removed) ORDER BY rowno LIMIT 1")
        if bad:
            raise ValidationError("id", f"id {bad[1]} is both removed and replaced", row=bad[0], row_label=label)
        check_unique_ids(con, repl, label)

        added, add_staging = stage(con, add, source=source, agent=agent,
                                   generator_model=generator_model, storage_options=storage_options)
        next_order = one(con, 'SELECT coalesce(max("order") + 1, 0) FROM base')[0]
        run(con, 
            f"""CREATE TEMP TABLE version_rows AS
                SELECT -1 AS rowno, {_COLUMNS} FROM base
                  WHERE id NOT IN (SELECT id FROM removed) AND id NOT IN (SELECT id FROM {repl})
                UNION ALL
                SELECT -1 AS rowno, r.id, r.input, r.expected_output, coalesce(r."order", b."order"), r.persona,
                       r.tags, r.source, r.agent, r.generator_model
                  FROM {repl} r JOIN base b USING (id)
                UNION ALL
                SELECT rowno, coalesce(id, CAST(uuid() AS VARCHAR)), input, expected_output,
                       coalesce("order", $1 + pos), persona, tags, source, agent, generator_model
                  FROM {added}"""
            , [next_order])
        bad = one(con, 
            "SELECT rowno, id FROM version_rows WHERE rowno >= 0 AND id IN "
            "(SELECT id FROM version_rows WHERE rowno < 0) ORDER BY rowno LIMIT 1")
        if bad:
            raise ValidationError("id", f"duplicate id {bad[1]} (already in the version)", row=bad[0],
                                  row_label=add_staging.row_label)
        check_unique_ids(con, "version_rows", add_staging.row_label)
        return finish(con, "version_rows")
    finally:
        con.close()
