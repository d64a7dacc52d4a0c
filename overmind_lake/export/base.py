"""The export interface: what every warehouse target implements, and the run
that decides what to send (docs/export.md).

A *target* is anything that holds exported versions: a PostgreSQL database,
a DuckDB file, a Parquet directory, a Delta or an Iceberg table. It implements
:class:`Target`:

- ``held() -> {(dataset_id, version): checksum}``: what the target itself
  records that it holds (a table, a manifest, Delta transaction ids, Iceberg
  snapshot properties — never a side file of the exporter);
- ``write_version(ref, batches) -> int | None``: land one version whole or not
  at all, recording ``(dataset_id, version, checksum)`` in the same
  transaction / table commit as the rows. It returns the rows written, or
  ``None`` when it found the version already held with the same checksum
  (a concurrent export landed it first: the caller counts it as skipped). A
  version held with another checksum raises :class:`ExportConflict`;
- ``close()``.

A target may set ``workers`` (an int, default 1): that many versions are then
written at once from as many threads (its ``write_version`` must be
thread-safe); each is still its own transaction, so versions may land out of
order but each lands whole, once.

``batches`` yields Arrow record batches with the columns of the lake's
``datapoints`` SQL view (:data:`DATAPOINT_SCHEMA`: ``dataset_id, version, id,
input, expected_output, order, persona, tags, source, agent,
generator_model``; the JSON fields as JSON text), in storage order, a bounded
number of rows at a time. An empty version yields no batch; the target still
records it.

:func:`run_export` lists the committed versions of the chosen datasets, compares
them with ``held()`` (a held version whose checksum differs from the lake's is
an :class:`ExportConflict` naming it, raised before anything is written) and
writes the missing ones in ``(dataset_id, version)`` order.

:func:`open_target` turns a target string into a Target: ``postgresql://`` /
``postgres://`` (export/postgres.py), ``duckdb:///path`` (export/duckdb_target.py),
anything else a directory or fsspec URL whose ``format`` is ``parquet`` (the
default), ``delta`` or ``iceberg`` (export/parquet.py, delta.py, iceberg.py),
each module exposing ``open_target(url, storage_options) -> Target`` and
imported only when used.
"""

from __future__ import annotations

import importlib
import re
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ExportConflict, ExportError
from ..schema import FILE_SCHEMA, RESULT_SCHEMA, SOURCES

if TYPE_CHECKING:
    from ..lake import Lake

#: Tables of the database targets (PostgreSQL and DuckDB write the same three; docs/export.md).
DATASETS_TABLE = "overmind_datasets"
VERSIONS_TABLE = "overmind_versions"
DATAPOINTS_TABLE = "overmind_datapoints"

#: Columns of every batch a target receives (the ``datapoints`` SQL view).
DATAPOINT_SCHEMA: pa.Schema = RESULT_SCHEMA
#: Rows per batch read from a version's Parquet files.
BATCH_ROWS = 64 * 1024
FILE_FORMATS: tuple[str, ...] = ("parquet", "delta", "iceberg")

#: ``progress(rows_done, rows_total)``: called once before the first write and
#: after every batch a target consumes.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class VersionRef:
    """One committed version to export: its dataset's record and its commit record."""

    dataset_id: str
    name: str
    agent: str | None
    description: str
    dataset_created_at: str  # ISO 8601, UTC
    version: int
    created_at: str  # ISO 8601, UTC: when the version was committed
    message: str
    parent_version: int | None
    count: int
    checksum: str
    source_counts: dict[str, int] = field(default_factory=dict)
    generator_models: list[str] = field(default_factory=list)
    #: Local paths of the version's Parquet files in storage order (columns of
    #: the lake's file schema, no dataset_id/version), for a target that reads
    #: them natively; empty when the lake is not on local disk.
    files: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, int]:
        return (self.dataset_id, self.version)


@dataclass
class ExportSummary:
    """What one export run did."""

    target: str
    versions_exported: list[tuple[str, int, int]] = field(default_factory=list)  # (dataset_id, version, rows)
    versions_skipped: int = 0
    rows_exported: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        n = len(self.versions_exported)
        return (f"exported {n} version{'' if n == 1 else 's'} ({self.rows_exported:,} rows) to {self.target}; "
                f"{self.versions_skipped} already present; {self.seconds:.2f} s")


class Target(Protocol):
    """A warehouse that holds exported versions (see the module docstring)."""

    def held(self) -> dict[tuple[str, int], str]:
        """``{(dataset_id, version): checksum}`` of every version the target holds."""
        ...

    def write_version(self, ref: VersionRef, batches: Iterator[pa.RecordBatch]) -> int | None:
        """Land ``ref`` whole (rows + its record) or not at all; rows written, or
        None when it was already held with the same checksum."""
        ...

    def close(self) -> None:
        ...


# -- reading the lake ----------------------------------------------------------
def version_refs(lake: "Lake", datasets: Iterable[str] | str | None = None) -> list[VersionRef]:
    """Every committed version of ``datasets`` (ids or names; None: all), by (dataset_id, version)."""
    if datasets is None:
        records = [lake.catalog.dataset(info["id"]) for info in lake.dataset_infos()]
    else:
        names = [datasets] if isinstance(datasets, str) else list(datasets)
        records = [lake.dataset(name) for name in names]
    unique = {r.id: r for r in records if r is not None}
    refs = []
    for dataset_id in sorted(unique):
        record = unique[dataset_id]
        for c in lake.catalog.commits(dataset_id):
            refs.append(VersionRef(
                dataset_id=record.id, name=record.name, agent=record.agent, description=record.description,
                dataset_created_at=record.created_at, version=c.version, created_at=c.created_at,
                message=c.message, parent_version=c.parent_version, count=c.count, checksum=c.checksum,
                source_counts={s: c.source_counts.get(s, 0) for s in SOURCES},
                generator_models=list(c.generator_models),
                files=tuple(lake.fs.path(f.path) for f in c.files if f.rows) if lake.fs.is_local else ()))
    return refs


def version_batches(lake: "Lake", ref: VersionRef, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The rows of ``ref`` as :data:`DATAPOINT_SCHEMA` batches, file by file in
    storage order, at most ``batch_rows`` rows in memory at a time."""
    commit = lake.catalog.commit(ref.dataset_id, ref.version)
    if commit is None:
        raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} is not committed")
    fs = lake.fs
    columns = [f.name for f in FILE_SCHEMA]
    dataset_scalar = pa.scalar(ref.dataset_id, pa.string())
    version_scalar = pa.scalar(ref.version, pa.int64())
    for entry in commit.files:
        if not entry.rows:
            continue
        path = fs.path(entry.path)
        with (open(path, "rb") if fs.is_local else fs.fs.open(path, "rb")) as fh:
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=batch_rows, columns=columns,
                                                         use_threads=True):
                n = batch.num_rows
                arrays = [pa.repeat(dataset_scalar, n), pa.repeat(version_scalar, n)]
                arrays += [batch.column(i) for i in range(len(columns))]
                yield pa.RecordBatch.from_arrays(arrays, schema=DATAPOINT_SCHEMA)


# -- the run ---------------------------------------------------------------------
class _Counter:
    """Rows landed so far, reported to ``progress`` (from any worker thread)."""

    def __init__(self, total: int, progress: Progress | None):
        self.total = total
        self.done = 0
        self.progress = progress
        self._lock = threading.Lock()

    def add(self, rows: int) -> None:
        with self._lock:
            self.done += rows
            if self.progress is not None:
                self.progress(self.done, self.total)

    def batches(self, batches: Iterator[pa.RecordBatch], seen: list[int]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield batch
            seen[0] += batch.num_rows
            self.add(batch.num_rows)


def _write(lake: "Lake", target: Target, ref: VersionRef, counter: _Counter) -> int | None:
    seen = [0]
    rows = target.write_version(ref, counter.batches(version_batches(lake, ref), seen))
    if rows is not None and rows != seen[0]:  # a target that read the files itself
        counter.add(rows - seen[0])
    return rows


def run_export(lake: "Lake", target: Target, datasets: Iterable[str] | str | None = None,
               progress: Progress | None = None, *, label: str | None = None) -> ExportSummary:
    """Export every committed version of ``datasets`` that ``target`` does not hold yet."""
    started = time.perf_counter()
    summary = ExportSummary(target=label or type(target).__name__)
    refs = version_refs(lake, datasets)
    held = target.held()
    missing = []
    for ref in refs:
        checksum = held.get(ref.key)
        if checksum is None:
            missing.append(ref)
        elif checksum != ref.checksum:
            raise ExportConflict(ref.dataset_id, ref.version, held=checksum, lake=ref.checksum)
        else:
            summary.versions_skipped += 1
    counter = _Counter(sum(ref.count for ref in missing), progress)
    if progress is not None:
        progress(0, counter.total)
    workers = max(1, int(getattr(target, "workers", 1) or 1))
    if workers == 1 or len(missing) < 2:
        results = [_write(lake, target, ref, counter) for ref in missing]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="overmind-export") as pool:
            futures = [pool.submit(_write, lake, target, ref, counter) for ref in missing]
            wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                if future.done() and future.exception() is not None:
                    for other in futures:
                        other.cancel()
                    raise future.exception()  # type: ignore[misc]
            results = [f.result() for f in futures]
    for ref, rows in zip(missing, results):
        if rows is None:
            summary.versions_skipped += 1
        else:
            summary.versions_exported.append((ref.dataset_id, ref.version, rows))
            summary.rows_exported += rows
    summary.seconds = time.perf_counter() - started
    return summary


# -- choosing a target -----------------------------------------------------------
def redact(url: str) -> str:
    """``url`` without a password (for summaries and messages)."""
    return re.sub(r"^([a-zA-Z][\w+.-]*://[^/:@]*):[^@/]*@", r"\1:***@", url)


def open_target(target: str, format: str | None = None, storage_options: dict[str, Any] | None = None) -> Target:
    """The Target a string names (see the module docstring)."""
    if not isinstance(target, str) or not target.strip():
        raise ExportError("the export target must be a non-empty string (a URL or a directory)")
    scheme = target.split("://", 1)[0].lower() if "://" in target else ""
    if scheme in ("postgresql", "postgres"):
        _no_format(format, target)
        from . import postgres
        return postgres.open_target(target)
    if scheme == "duckdb":
        _no_format(format, target)
        from . import duckdb_target
        return duckdb_target.open_target(target)
    fmt = (format or "parquet").lower()
    if fmt not in FILE_FORMATS:
        raise ExportError(f"unknown export format {format!r}: expected one of {', '.join(FILE_FORMATS)}")
    module = importlib.import_module(f"{__package__}.{fmt}")
    return module.open_target(target, storage_options)


def _no_format(format: str | None, target: str) -> None:
    if format is not None:
        raise ExportError(f"--format {format} applies to a directory or object-store target, "
                          f"not to {redact(target)}")
