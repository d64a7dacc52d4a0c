"""Turning normalised rows into a version: defaults, id uniqueness, the
storage sort order (``order``, ``id``), per-source counts and the checksum.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, NamedTuple, Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..duck import arrow, one, quiet
from ..errors import ValidationError
from ..schema import FILE_SCHEMA, MAX_ORDER, SOURCES
from ..storage.writer import VersionStats
from .checksum import content_checksum
from . import strict
from .normalize import normalize
from .sources import to_staging

_COLUMNS = ", ".join(f'"{f.name}"' for f in FILE_SCHEMA)


def connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB connection for one write."""
    return quiet(duckdb.connect(config={"threads": 2}))


def canonical_uuid(value: Any, field: str) -> str | None:
    """``value`` as a canonical lower-case UUID string (None stays None)."""
    if value is None:
        return None
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except (ValueError, AttributeError, TypeError):
        raise ValidationError(field, "must be a UUID") from None


def validate_defaults(source: str, agent: str | None, generator_model: str | None) -> str | None:
    """Check the version-level defaults; return the canonical agent UUID."""
    if source not in SOURCES:
        raise ValidationError("source", "must be one of " + ", ".join(SOURCES))
    if generator_model is not None and not isinstance(generator_model, str):
        raise ValidationError("generator_model", "must be a string or null")
    return canonical_uuid(agent, "agent")


def stage(con: duckdb.DuckDBPyConnection, datapoints: Any, *, source: str, agent: str | None,
          generator_model: str | None, storage_options: dict[str, Any] | None = None) -> tuple[pa.Table, str]:
    """Validated canonical rows of ``datapoints`` and how its rows are labelled."""
    staging = to_staging(datapoints, storage_options)
    # the strict-JSON scan (Arrow kernels) runs beside DuckDB's pass; its
    # verdict is taken first, as if it had run first
    with ThreadPoolExecutor(max_workers=1) as pool:
        raw_check = pool.submit(strict.check_raw, staging)
        try:
            rows = normalize(con, staging, source=source, agent=agent, generator_model=generator_model)
        except ValidationError:
            raw_check.result()
            raise
        raw_check.result()
    strict.check_canonical(staging, rows)
    return rows, staging.row_label


def first_duplicate(con: duckdb.DuckDBPyConnection, relation: str, count: int) -> tuple[int, str] | None:
    """(row, id) of the first row of ``relation`` (columns ``rowno, id``, ``count``
    rows) that repeats an earlier row's id, or None when ids are unique."""
    if one(con, f"SELECT count(DISTINCT id) FROM {relation}")[0] == count:
        return None
    return one(con, f"""SELECT rowno, id FROM (
                          SELECT rowno, id, row_number() OVER (PARTITION BY id ORDER BY rowno) AS n FROM {relation})
                        WHERE n = 2 ORDER BY rowno LIMIT 1""")


def check_unique_ids(con: duckdb.DuckDBPyConnection, rows: pa.Table, label: str, what: str = "") -> None:
    """Reject the first row repeating an earlier row's id."""
    if rows.num_rows < 2:
        return
    con.register("__ids", rows.select(["rowno", "id"]))
    try:
        row = first_duplicate(con, "__ids", rows.num_rows)
    finally:
        con.unregister("__ids")
    if row is not None:
        raise ValidationError("id", f"duplicate id {row[1]}{what} (ids must be unique within a version)",
                              row=row[0], row_label=label)


def finish(data: pa.Table) -> tuple[pa.Table, Callable[[], VersionStats]]:
    """``data`` (the version's final columns) in storage order, and a function
    computing its stats (run by the writer beside the Parquet encoding)."""
    data = data.select(FILE_SCHEMA.names).cast(FILE_SCHEMA)
    order = data.column("order").to_numpy()
    if len(order) > 1 and not np.all(order[1:] > order[:-1]):
        data = data.take(pc.sort_indices(data, [("order", "ascending"), ("id", "ascending")]))
    return data, lambda: version_stats(data)


def source_counts_and_models(data: pa.Table) -> tuple[dict[str, int], set[str]]:
    """Rows per source (every source named) and the distinct generator models."""
    counts = {s: 0 for s in SOURCES}
    if data.num_rows:
        for item in pc.value_counts(data.column("source").combine_chunks()).to_pylist():
            counts[item["values"]] = item["counts"]
    models = set(pc.unique(pc.drop_null(data.column("generator_model").combine_chunks())).to_pylist())
    return counts, models


def version_stats(data: pa.Table) -> VersionStats:
    """Row count, per-source counts, distinct generator models and checksum of a sorted version."""
    counts, models = source_counts_and_models(data)
    return VersionStats(count=data.num_rows, source_counts=counts, generator_models=sorted(models),
                        checksum=content_checksum(data))


def with_default_order(rows: pa.Table, first: int = 0, label: str = "row") -> pa.Table:
    """``order`` where given, else ``first`` + the row's position (which must
    not pass the largest order: a derive after a row at the maximum cannot
    place rows without an order)."""
    given = rows.column("order")
    if given.null_count == 0:
        return rows
    missing = given.is_null()
    beyond = pc.and_(missing, pc.greater(rows.column("pos"), pa.scalar(MAX_ORDER - first, pa.int64())))
    if pc.any(beyond).as_py():
        rowno = pc.min(pc.filter(rows.column("rowno"), beyond)).as_py()
        raise ValidationError("order", f"must be given: the default order ({first} + the row's position) "
                                       f"would pass {MAX_ORDER}", row=rowno, row_label=label)
    defaults = pc.add(rows.column("pos"), pa.scalar(first, pa.int64()))
    return rows.set_column(rows.schema.get_field_index("order"), "order", pc.if_else(missing, defaults, given))


def assemble_new(datapoints: Any, *, source: str, agent: str | None, generator_model: str | None,
                 storage_options: dict[str, Any] | None = None) -> tuple[pa.Table, Callable[[], VersionStats]]:
    """Rows of a version written from scratch (create_dataset / add_version)."""
    con = connect()
    try:
        rows, label = stage(con, datapoints, source=source, agent=agent,
                            generator_model=generator_model, storage_options=storage_options)
        check_unique_ids(con, rows, label)
        return finish(with_default_order(rows))
    finally:
        con.close()


def _in_derive(error: ValidationError, argument: str) -> ValidationError:
    return ValidationError(error.field, f"{error.rule} (in {argument})", row=error.row, row_label=error.row_label)


def assemble_derived(base_files: Sequence[str], *, add: Any, remove_ids: Sequence[Any], replace: Any,
                     source: str, agent: str | None, generator_model: str | None,
                     storage_options: dict[str, Any] | None = None,
                     filesystem: Any = None) -> tuple[pa.Table, Callable[[], VersionStats]]:
    """Rows of a copy-on-write edit of the version stored in ``base_files``."""
    con = connect()
    try:
        if filesystem is not None:
            con.register_filesystem(filesystem)
        if base_files:
            base = arrow(con, f"SELECT {_COLUMNS} FROM read_parquet($files)", {"files": list(base_files)})
        else:
            base = FILE_SCHEMA.empty_table()
        removed: list[str] = []
        for i, value in enumerate(remove_ids):
            try:
                removed.append(canonical_uuid(value, "remove_ids"))  # type: ignore[arg-type]
            except ValidationError:
                raise ValidationError("remove_ids", "must be a UUID", row=i) from None
        removed_arr = pa.array(removed, pa.string())
        known = pc.is_in(removed_arr, value_set=base.column("id").combine_chunks())
        if len(removed) and not pc.all(known).as_py():
            i = int(np.flatnonzero(~known.to_numpy(zero_copy_only=False))[0])
            raise ValidationError("remove_ids", f"id {removed[i]} is not in the version being derived from", row=i)

        try:
            repl, label = stage(con, replace, source=source, agent=agent,
                                generator_model=generator_model, storage_options=storage_options)
        except ValidationError as exc:
            raise _in_derive(exc, "replace") from None
        if repl.num_rows:
            generated = repl.column("id_generated").to_numpy(zero_copy_only=False)
            if generated.any():
                raise ValidationError("id", "a replacing datapoint must name the id it replaces (in replace)",
                                      row=int(repl.column("rowno")[int(np.flatnonzero(generated)[0])].as_py()),
                                      row_label=label)
            present = pc.is_in(repl.column("id"), value_set=base.column("id")).to_numpy(zero_copy_only=False)
            if not present.all():
                i = int(np.flatnonzero(~present)[0])
                raise ValidationError("id", f"id {repl.column('id')[i]} is not in the version being derived from"
                                      " (in replace)", row=repl.column("rowno")[i].as_py(), row_label=label)
            clash = pc.is_in(repl.column("id"), value_set=removed_arr).to_numpy(zero_copy_only=False)
            if clash.any():
                i = int(np.flatnonzero(clash)[0])
                raise ValidationError("id", f"id {repl.column('id')[i]} is both removed and replaced (in replace)",
                                      row=repl.column("rowno")[i].as_py(), row_label=label)
            check_unique_ids(con, repl, label, " (in replace)")
            # a replacing row without an order keeps the replaced row's order
            base_order = pc.take(base.column("order"), pc.index_in(repl.column("id"), value_set=base.column("id")))
            repl = repl.set_column(repl.schema.get_field_index("order"), "order",
                                   pc.coalesce(repl.column("order"), base_order))

        try:
            added, add_label = stage(con, add, source=source, agent=agent,
                                     generator_model=generator_model, storage_options=storage_options)
        except ValidationError as exc:
            raise _in_derive(exc, "add") from None
        next_order = (pc.max(base.column("order")).as_py() + 1) if base.num_rows else 0
        added = with_default_order(added, next_order, add_label)
        if added.num_rows:
            clash = pc.is_in(added.column("id"), value_set=base.column("id")).to_numpy(zero_copy_only=False)
            kept_clash = clash & ~pc.is_in(added.column("id"), value_set=removed_arr).to_numpy(zero_copy_only=False)
            if kept_clash.any():
                i = int(np.flatnonzero(kept_clash)[0])
                raise ValidationError("id", f"duplicate id {added.column('id')[i]} (already in the version; in add)",
                                      row=added.column("rowno")[i].as_py(), row_label=add_label)
            check_unique_ids(con, added, add_label, " (in add)")
        dropped = pc.or_(pc.is_in(base.column("id"), value_set=removed_arr),
                         pc.is_in(base.column("id"), value_set=repl.column("id") if repl.num_rows
                                  else pa.array([], pa.string())))
        kept = base.filter(pc.invert(dropped))
        parts = [kept.cast(FILE_SCHEMA)]
        for part in (repl, added):
            if part.num_rows:
                parts.append(part.select(FILE_SCHEMA.names).cast(FILE_SCHEMA))
        return finish(pa.concat_tables(parts))
    finally:
        con.close()


class Assembled(NamedTuple):
    """Rows :func:`assemble_new` validated already, with their stats: a write
    takes them as they are (``pull`` checks a download's checksum before
    writing it, without validating the rows twice)."""

    table: pa.Table
    stats: VersionStats
