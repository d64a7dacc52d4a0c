"""Three ways to run SQL on a DuckDB connection, each finishing its result
(DuckDB refuses new work on a connection with an unfinished result)."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa


def run(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> None:
    """Run a statement for its effect."""
    con.execute(sql, params if params is not None else []).fetchall()


def one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> tuple | None:
    """The first row of a query, or None."""
    rows = con.sql(sql, params=params).fetchall()
    return rows[0] if rows else None


def arrow(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> pa.Table:
    """A query's result as an Arrow table."""
    return con.sql(sql, params=params).to_arrow_table()


def quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Turn DuckDB's progress bar off: a library must not draw on the user's
    terminal. (Inside Jupyter without ipywidgets DuckDB refuses to change the
    setting at all; there is nothing to turn off then.)"""
    try:
        con.execute("SET enable_progress_bar = false").fetchall()
    except duckdb.Error:
        pass
    return con
