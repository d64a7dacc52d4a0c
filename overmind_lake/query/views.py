"""Cross-version and cross-dataset reads: ``diff`` and the SQL views."""

from __future__ import annotations

import duckdb
import polars as pl

from ..storage.catalog import CommitRecord
from ..storage.filesystem import LakeFileSystem

DIFF_FIELDS = ("input", "expected_output", "order", "persona", "tags", "source", "agent", "generator_model")
_DATAPOINT_VIEW_COLUMNS = ("dataset_id, version, id, input, expected_output, \"order\", persona, tags, "
                           "source, agent, generator_model")
_EMPTY_DATAPOINTS = """SELECT NULL::VARCHAR AS dataset_id, NULL::BIGINT AS version, NULL::VARCHAR AS id,
  NULL::VARCHAR AS input, NULL::VARCHAR AS expected_output, NULL::BIGINT AS "order", NULL::VARCHAR AS persona,
  NULL::VARCHAR AS tags, NULL::VARCHAR AS source, NULL::VARCHAR AS agent, NULL::VARCHAR AS generator_model
  WHERE false"""


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def datapoints_relation_sql(fs: LakeFileSystem, commits: list[CommitRecord]) -> str:
    """SQL text reading exactly the files named by ``commits``.

    The file list is the lake's own (paths it generated), written as escaped
    literals because a view cannot hold bound parameters.
    """
    files = [fs.uri(f.path) for c in commits for f in c.files]
    if not files:
        return _EMPTY_DATAPOINTS
    listing = "[" + ", ".join(_literal(f) for f in files) + "]"
    return (f"SELECT {_DATAPOINT_VIEW_COLUMNS} FROM read_parquet({listing}, hive_partitioning = true, "
            "hive_types = {'dataset_id': VARCHAR, 'version': BIGINT})")


def diff(con: duckdb.DuckDBPyConnection, fs: LakeFileSystem, a: CommitRecord, b: CommitRecord) -> pl.DataFrame:
    """Rows added, removed or changed from version ``a`` to ``b``, by datapoint id."""
    side_a = datapoints_relation_sql(fs, [a])
    side_b = datapoints_relation_sql(fs, [b])
    changed = " OR ".join(f'a."{f}" IS DISTINCT FROM b."{f}"' for f in DIFF_FIELDS)
    columns = ", ".join(f'a."{f}" AS "{f}_a", b."{f}" AS "{f}_b"' for f in DIFF_FIELDS)
    sql = f"""
        WITH a AS ({side_a}), b AS ({side_b})
        SELECT coalesce(a.id, b.id) AS id,
               CASE WHEN a.id IS NULL THEN 'added' WHEN b.id IS NULL THEN 'removed' ELSE 'changed' END AS change,
               {columns}
        FROM a FULL OUTER JOIN b ON a.id = b.id
        WHERE a.id IS NULL OR b.id IS NULL OR {changed}
        ORDER BY coalesce(b."order", a."order"), coalesce(a.id, b.id)"""
    return pl.from_arrow(con.sql(sql).to_arrow_table())
