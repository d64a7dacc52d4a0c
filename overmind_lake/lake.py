"""The Python API of docs/python.md: one object over a lake root."""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Any, Iterable

import polars as pl

from .duck import run
from .errors import DatasetExists, DatasetNotFound, ValidationError, VersionNotFound
from .ingest.assemble import Assembled, assemble_derived, assemble_new, canonical_uuid, validate_defaults
from .ingest.stream import chunks_of, write_stream
from .ingest.checksum import checksum_of_columns
from .query.engine import Engine
from .query.listquery import DatapointQuery, ListParams
from .query.views import datapoints_relation_sql, diff as diff_versions
from .schema import MAX_NAME_CHARS, SOURCES
from .storage.catalog import Catalog, CommitRecord, DatasetRecord
from .storage import maintenance
from .storage.checksum import recompute as recompute_checksum
from .storage.filesystem import LakeFileSystem
from .storage.writer import VersionWriter, commit_version, utc_now

DEFAULT_ROOT = os.path.join("data", "lake")


def default_root() -> str:
    """``$OVERMIND_LAKE_ROOT``, else ``./data/lake``."""
    return os.environ.get("OVERMIND_LAKE_ROOT") or DEFAULT_ROOT


class DatasetVersion:
    """What a write returns: the committed version's record."""

    def __init__(self, dataset: DatasetRecord, record: CommitRecord):
        self.dataset = dataset
        self.record = record
        self.dataset_id = dataset.id
        self.name = dataset.name
        self.version = record.version
        self.count = record.count
        self.checksum = record.checksum
        self.parent_version = record.parent_version
        self.created_at = record.created_at
        self.message = record.message
        self.source_counts = record.source_counts
        self.generator_models = record.generator_models

    def __repr__(self) -> str:
        return (f"DatasetVersion(dataset_id={self.dataset_id!r}, name={self.name!r}, version={self.version}, "
                f"count={self.count}, checksum={self.checksum[:12]!r}…)")


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Lake:
    """A lake of versioned datasets rooted at a local path or fsspec URL."""

    def __init__(self, root: str | os.PathLike[str] | None = None,
                 storage_options: dict[str, Any] | None = None):
        self.root = os.fspath(root) if root is not None else default_root()
        self.fs = LakeFileSystem(self.root, storage_options)
        self.catalog = Catalog(self.fs)
        self.engine = Engine(self.fs)

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    # -- datasets ------------------------------------------------------------
    def dataset(self, dataset: str | uuid.UUID) -> DatasetRecord:
        """The record of a committed dataset, by id or name; DatasetNotFound otherwise."""
        key = str(dataset)
        try:  # an id first; a name is only looked up when no dataset has that id
            record = self._committed(str(uuid.UUID(key)))
        except ValueError:
            record = None
        if record is None and not isinstance(dataset, uuid.UUID):
            found = self.catalog.id_for_name(key)
            record = self._committed(found) if found else None
        if record is None:
            raise DatasetNotFound(key)
        return record

    def _committed(self, dataset_id: str) -> DatasetRecord | None:
        record = self.catalog.dataset(dataset_id)
        return record if record is not None and self.catalog.committed(dataset_id, 1) else None

    def dataset_info(self, dataset: str | uuid.UUID) -> dict[str, Any]:
        """``{id, name, agent, description, created_at, latest_version}`` of a dataset."""
        record = self.dataset(dataset)
        return {"id": record.id, "name": record.name, "agent": record.agent,
                "description": record.description, "created_at": record.created_at,
                "latest_version": self.catalog.latest_version(record.id)}

    def dataset_infos(self) -> list[dict[str, Any]]:
        """Every committed dataset, ordered by creation time then name."""
        out = []
        for dataset_id in self.catalog.dataset_ids():
            record = self.catalog.dataset(dataset_id)
            if record is None:
                continue
            latest = self.catalog.latest_version(dataset_id)
            if latest < 1:
                continue
            out.append({"id": record.id, "name": record.name, "agent": record.agent,
                        "description": record.description, "created_at": record.created_at,
                        "latest_version": latest})
        out.sort(key=lambda d: (d["created_at"], d["name"]))
        return out

    def datasets(self) -> pl.DataFrame:
        """One row per dataset: id, name, agent, description, created_at, latest_version."""
        infos = self.dataset_infos()
        return pl.DataFrame(
            {
                "id": [d["id"] for d in infos],
                "name": [d["name"] for d in infos],
                "agent": [d["agent"] for d in infos],
                "description": [d["description"] for d in infos],
                "created_at": [_timestamp(d["created_at"]) for d in infos],
                "latest_version": [d["latest_version"] for d in infos],
            },
            schema={"id": pl.String, "name": pl.String, "agent": pl.String, "description": pl.String,
                    "created_at": pl.Datetime("us", "UTC"), "latest_version": pl.Int64},
        )

    def commits(self, dataset: str | uuid.UUID) -> list[CommitRecord]:
        """Commit records of every version of a dataset, ascending."""
        return self.catalog.commits(self.dataset(dataset).id)

    def version_infos(self, dataset: str | uuid.UUID) -> list[dict[str, Any]]:
        return [
            {"version": c.version, "created_at": c.created_at, "message": c.message,
             "parent_version": c.parent_version, "count": c.count, "checksum": c.checksum,
             "source_counts": {s: c.source_counts.get(s, 0) for s in SOURCES},
             "generator_models": list(c.generator_models)}
            for c in self.commits(dataset)
        ]

    def versions(self, dataset: str | uuid.UUID) -> pl.DataFrame:
        """One row per committed version of a dataset."""
        infos = self.version_infos(dataset)
        return pl.DataFrame(
            {
                "version": [v["version"] for v in infos],
                "created_at": [_timestamp(v["created_at"]) for v in infos],
                "message": [v["message"] for v in infos],
                "parent_version": [v["parent_version"] for v in infos],
                "count": [v["count"] for v in infos],
                "checksum": [v["checksum"] for v in infos],
                "source_counts": [v["source_counts"] for v in infos],
                "generator_models": [v["generator_models"] for v in infos],
            },
            schema={"version": pl.Int64, "created_at": pl.Datetime("us", "UTC"), "message": pl.String,
                    "parent_version": pl.Int64, "count": pl.Int64, "checksum": pl.String,
                    "source_counts": pl.Struct({s: pl.Int64 for s in SOURCES}),
                    "generator_models": pl.List(pl.String)},
        )

    # -- writes --------------------------------------------------------------
    def create_dataset(self, name: str, datapoints: Any = (), *, agent: str | uuid.UUID | None = None,
                       description: str = "", source: str = "seed", generator_model: str | None = None,
                       message: str = "") -> DatasetVersion:
        """Create a dataset named ``name`` whose version 1 holds ``datapoints``."""
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_CHARS:
            raise ValidationError("name", f"must be a string of 1 to {MAX_NAME_CHARS} characters")
        if not isinstance(description, str):
            raise ValidationError("description", "must be a string")
        if not isinstance(message, str):
            raise ValidationError("message", "must be a string")
        agent = canonical_uuid(agent, "agent")
        validate_defaults(source, agent, generator_model)
        if self.catalog.id_for_name(name) is not None:
            raise DatasetExists(name)
        chunks = chunks_of(datapoints, self.fs.storage_options)
        if chunks is None:
            table, stats = datapoints if isinstance(datapoints, Assembled) else assemble_new(
                datapoints, source=source, agent=agent, generator_model=generator_model,
                storage_options=self.fs.storage_options)
        record = DatasetRecord(id=str(uuid.uuid4()), name=name, agent=agent, description=description,
                               created_at=utc_now())
        if not self.catalog.claim_name(name, record.id):
            raise DatasetExists(name)
        try:
            self.catalog.write_dataset(record)
            if chunks is None:
                commit = commit_version(self.fs, self.catalog, record.id, table, stats, message=message)
            else:
                commit = self._commit_stream(record.id, chunks, source=source, agent=agent,
                                             generator_model=generator_model, message=message)
        except Exception:
            # version 1 never landed: undo the create at once rather than after a
            # vacuum; best effort, so the caller sees the error that stopped the write
            try:
                if self.catalog.latest_version(record.id) == 0:
                    self.catalog.remove_uncommitted_dataset(record)
            except Exception:  # noqa: BLE001 - vacuum removes what is left
                pass
            raise
        return DatasetVersion(record, commit)

    def add_version(self, dataset: str | uuid.UUID, datapoints: Any = (), *, source: str = "seed",
                    generator_model: str | None = None, message: str = "",
                    agent: str | uuid.UUID | None = None) -> DatasetVersion:
        """Write ``datapoints`` as the dataset's next version.

        ``agent`` is the rows' default agent (default: the dataset's agent).
        A big Parquet or JSONL file or a ``RecordBatchReader`` is written chunk by
        chunk, in bounded memory (see ingest/stream.py).
        """
        record = self.dataset(dataset)
        if not isinstance(message, str):
            raise ValidationError("message", "must be a string")
        agent = canonical_uuid(agent, "agent")
        validate_defaults(source, agent, generator_model)
        chunks = chunks_of(datapoints, self.fs.storage_options)
        if chunks is not None:
            commit = self._commit_stream(record.id, chunks, source=source, agent=agent or record.agent,
                                         generator_model=generator_model, message=message)
            return DatasetVersion(record, commit)
        table, stats = datapoints if isinstance(datapoints, Assembled) else assemble_new(
            datapoints, source=source, agent=agent or record.agent, generator_model=generator_model,
            storage_options=self.fs.storage_options)
        commit = commit_version(self.fs, self.catalog, record.id, table, stats, message=message)
        return DatasetVersion(record, commit)

    def _commit_stream(self, dataset_id: str, chunks: Any, *, source: str, agent: str | None,
                       generator_model: str | None, message: str) -> CommitRecord:
        """A version written chunk by chunk (a big Parquet or JSONL file, a RecordBatchReader)."""
        writer = VersionWriter(self.fs, self.catalog, dataset_id)
        stats = write_stream(writer, chunks, source=source, agent=agent, generator_model=generator_model)
        return writer.commit(stats, message=message)

    def derive(self, dataset: str | uuid.UUID, *, from_version: int | None = None, add: Any = (),
               remove_ids: Iterable[Any] = (), replace: Any = (), source: str = "seed",
               generator_model: str | None = None, message: str = "") -> DatasetVersion:
        """A new version that edits ``from_version`` (default: latest) copy-on-write."""
        record = self.dataset(dataset)
        if not isinstance(message, str):
            raise ValidationError("message", "must be a string")
        validate_defaults(source, None, generator_model)
        base = self._commit(record.id, from_version)
        table, stats = assemble_derived(
            [self.fs.uri(f.path) for f in base.files], add=add, remove_ids=list(remove_ids), replace=replace,
            source=source, agent=record.agent, generator_model=generator_model,
            storage_options=self.fs.storage_options, filesystem=None if self.fs.is_local else self.fs.fs,
        )
        commit = commit_version(self.fs, self.catalog, record.id, table, stats, message=message,
                                parent_version=base.version)
        return DatasetVersion(record, commit)

    def _commit(self, dataset_id: str, version: int | None) -> CommitRecord:
        latest = self.catalog.latest_version(dataset_id)
        if version is None:
            version = latest
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= latest:
            raise VersionNotFound(dataset_id, version)  # type: ignore[arg-type]
        commit = self.catalog.commit(dataset_id, version)
        assert commit is not None
        return commit

    # -- reads ---------------------------------------------------------------
    def datapoints(self, dataset: str | uuid.UUID, *, agent: Any = None, generator_model: str | None = None,
                   source: str | None = None, version: int | None = None, version_min: int | None = None,
                   version_max: int | None = None, ordering: str | None = None) -> DatapointQuery:
        """The §5 list query over one dataset (latest version unless a version filter is given)."""
        params = ListParams.build(agent=agent, generator_model=generator_model, source=source,
                                  version=version, version_min=version_min, version_max=version_max,
                                  ordering=ordering)
        return self.query(self.dataset(dataset), params)

    def query(self, record: DatasetRecord, params: ListParams) -> DatapointQuery:
        """Run validated ``params`` against a resolved dataset (used by the server)."""
        pinned = params.version if params.version is not None else params.version_max
        if pinned is not None and self.catalog.committed(record.id, pinned):
            latest = pinned  # the selection ends at or below it: no need to ask the store
        else:
            latest = self.catalog.latest_version(record.id)
        commits = self.catalog.commits(record.id, params.select_versions(latest))
        return DatapointQuery(self.engine, record, params, commits)

    def warm_up(self, inspect: int = 10) -> str | None:
        """Read a page and a filtered count of the smallest non-empty one of
        the first ``inspect`` datasets, so this process's one-time costs (lazy
        imports, Arrow kernels, DuckDB's first query: tens to hundreds of ms)
        are paid now, not by a server's first request. Returns the dataset id
        read (None when there is no datapoint to read)."""
        sizes = []
        for dataset_id in self.catalog.dataset_ids()[:inspect]:
            latest = self.catalog.latest_version(dataset_id)
            commit = self.catalog.commit(dataset_id, latest) if latest else None
            if commit is not None and commit.count and self.catalog.dataset(dataset_id) is not None:
                sizes.append((commit.count, dataset_id))
        if not sizes:
            return None
        dataset_id = min(sizes)[1]
        self.datapoints(dataset_id).page_json(1, 1)
        self.datapoints(dataset_id, source=SOURCES[0]).count()
        return dataset_id

    def diff(self, dataset: str | uuid.UUID, a: int, b: int) -> pl.DataFrame:
        """Datapoints added, removed or changed between versions ``a`` and ``b``."""
        record = self.dataset(dataset)
        return diff_versions(self.engine.cursor(), self.fs, self._commit(record.id, a), self._commit(record.id, b))

    # -- maintenance -----------------------------------------------------------
    def verify(self, dataset: str | uuid.UUID | None = None) -> list[str]:
        """Re-read one dataset (by id or name) or the whole lake; [] when healthy.

        Each problem names the version and the path: a missing, truncated or
        altered file, or rows that no longer match the version's checksum.
        """
        ids = None if dataset is None else [self.dataset(dataset).id]
        return maintenance.verify(self.fs, self.catalog, checksum_of_columns, ids)

    def recompute_checksum(self, dataset: str | uuid.UUID, version: int | None = None) -> str:
        """The checksum of a version's rows as stored now (compare with ``versions()``)."""
        commit = self._commit(self.dataset(dataset).id, version)
        return recompute_checksum(self.fs, commit, checksum_of_columns)[1]

    def vacuum(self, older_than: float = 3600) -> list[str]:
        """Remove files no commit names, older than ``older_than`` seconds; the removed paths."""
        return maintenance.vacuum(self.fs, self.catalog, older_than)

    def export(self, target: str, datasets: Iterable[str] | str | None = None, *, format: str | None = None,
               storage_options: dict[str, Any] | None = None,
               progress: Any = None) -> "ExportSummary":  # noqa: F821 - imported when called
        """Export the committed versions ``target`` does not hold yet (docs/export.md).

        ``target``: ``postgresql://…``, ``duckdb:///path.duckdb`` or a directory /
        fsspec URL with ``format`` ``parquet`` (default), ``delta`` or ``iceberg``.
        ``datasets``: ids or names (None: every dataset). ``progress(rows_done,
        rows_total)`` is called as rows land. Returns an ``ExportSummary``.
        """
        from .export import open_target, run_export
        from .export.base import redact

        opened = open_target(target, format, storage_options)
        try:
            return run_export(self, opened, datasets, progress, label=redact(target))
        finally:
            opened.close()

    def sql(self, query: str, params: Any = None) -> pl.DataFrame:
        """Run SQL over the views ``datasets``, ``versions`` and ``datapoints`` of the whole lake."""
        con = self.engine.new_connection()
        try:
            infos = self.dataset_infos()
            datasets = self.datasets()
            versions = []
            commits: list[CommitRecord] = []
            for info in infos:
                frame = self.versions(info["id"]).with_columns(pl.lit(info["id"]).alias("dataset_id"))
                versions.append(frame.select(["dataset_id", *frame.columns[:-1]]))
                commits.extend(self.catalog.commits(info["id"]))
            versions_frame = pl.concat(versions) if versions else _empty_versions()
            con.register("__datasets", datasets.to_arrow())
            con.register("__versions", versions_frame.to_arrow())
            run(con, "CREATE VIEW datasets AS SELECT * FROM __datasets")
            run(con, "CREATE VIEW versions AS SELECT * FROM __versions")
            run(con, "CREATE VIEW datapoints AS " + datapoints_relation_sql(self.fs, commits))
            relation = con.sql(query, params=params)
            if relation is None:
                return pl.DataFrame()
            return pl.from_arrow(relation.to_arrow_table())
        finally:
            con.close()


def _empty_versions() -> pl.DataFrame:
    return pl.DataFrame(schema={
        "dataset_id": pl.String, "version": pl.Int64, "created_at": pl.Datetime("us", "UTC"),
        "message": pl.String, "parent_version": pl.Int64, "count": pl.Int64, "checksum": pl.String,
        "source_counts": pl.Struct({s: pl.Int64 for s in SOURCES}), "generator_models": pl.List(pl.String),
    })
