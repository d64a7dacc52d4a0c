"""Export to one Iceberg table through ``pyiceberg`` with a SQL catalog beside it (docs/export.md).

Layout under the target directory::

    _catalog.db                                   the SQL catalog (SQLite)
    datapoints/metadata/…                         the table's metadata
    datapoints/data/dataset_id=…/version=…/*.parquet

The table ``overmind_lake.datapoints`` is partitioned by ``dataset_id`` and
``version`` (identity transforms). Each exported version is one catalog
commit holding an append whose snapshot summary records
``overmind-lake.dataset-id`` / ``.version`` / ``.checksum`` and, in the same
commit, the table property ``overmind-lake.held/<dataset_id>/<version>`` =
checksum (properties outlive snapshot expiry; :meth:`held` reads both).

Concurrency: the catalog's optimistic commit (the metadata location it swaps
must be the one this writer read). pyiceberg's own retry would rebase the
append and land it twice, so the table is created with
``commit.retry.num-retries = 0`` and the exporter retries itself after
re-checking what the table holds.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Iterator

import pyarrow as pa

from .._optional import import_optional
from ..errors import ExportConflict, ExportError
from .base import DATAPOINT_SCHEMA, VersionRef
from .prefetch import prefetched

NAMESPACE = "overmind_lake"
TABLE = "datapoints"
CATALOG_FILE = "_catalog.db"
HELD_PREFIX = "overmind-lake.held/"
SUMMARY_PREFIX = "overmind-lake."
MAX_ATTEMPTS = 20
ROW_GROUP_ROWS = 128 * 1024


def local_root(url: str) -> str:
    if url.startswith("file://"):
        url = url[len("file://"):]
    if "://" in url:
        raise ExportError(f"an Iceberg export needs a local directory for its SQLite catalog, not {url!r}")
    return os.path.abspath(url)


def held_key(dataset_id: str, version: int) -> str:
    return f"{HELD_PREFIX}{dataset_id}/{version}"


def _iceberg_schema() -> Any:
    types = import_optional("pyiceberg.types", "iceberg", "Iceberg export")
    from pyiceberg.schema import Schema

    fields = []
    for i, field in enumerate(DATAPOINT_SCHEMA, start=1):
        kind = types.LongType() if pa.types.is_int64(field.type) else types.StringType()
        fields.append(types.NestedField(i, field.name, kind, required=not field.nullable))
    return Schema(*fields)


def _partition_spec() -> Any:
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    return PartitionSpec(PartitionField(1, 1000, IdentityTransform(), "dataset_id"),
                         PartitionField(2, 1001, IdentityTransform(), "version"))


class IcebergTarget:
    """One Iceberg table in a SQLite SQL catalog stored in the target directory."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        import_optional("pyiceberg", "iceberg", "Iceberg export")
        sqlalchemy = import_optional("sqlalchemy", "iceberg", "Iceberg export")
        sql = import_optional("pyiceberg.catalog.sql", "iceberg", "Iceberg export")
        self.url = url
        self.root = local_root(url)
        os.makedirs(self.root, exist_ok=True)
        for attempt in range(5):  # two exporters creating the catalog's tables at once: one retries
            try:
                self.catalog = sql.SqlCatalog(
                    NAMESPACE, uri=f"sqlite:///{os.path.join(self.root, CATALOG_FILE)}",
                    warehouse=f"file://{self.root}", **dict(storage_options or {}))
                break
            except sqlalchemy.exc.OperationalError:
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))
        self.identifier = (NAMESPACE, TABLE)

    def __repr__(self) -> str:
        return f"IcebergTarget({self.url!r})"

    def _table(self, create: bool = False) -> Any:
        from pyiceberg.exceptions import (NamespaceAlreadyExistsError, NoSuchTableError,
                                          TableAlreadyExistsError)
        try:
            return self.catalog.load_table(self.identifier)
        except NoSuchTableError:
            if not create:
                return None
        try:
            self.catalog.create_namespace(NAMESPACE)
        except NamespaceAlreadyExistsError:
            pass
        try:
            return self.catalog.create_table(
                self.identifier, schema=_iceberg_schema(), partition_spec=_partition_spec(),
                location=f"file://{os.path.join(self.root, TABLE)}",
                properties={"commit.retry.num-retries": "0"})
        except TableAlreadyExistsError:  # a concurrent exporter created it first
            return self.catalog.load_table(self.identifier)

    @staticmethod
    def _held_in(table: Any) -> dict[tuple[str, int], str]:
        held: dict[tuple[str, int], str] = {}
        for snapshot in table.snapshots():
            summary = snapshot.summary
            props = summary.additional_properties if summary is not None else {}
            checksum = props.get(SUMMARY_PREFIX + "checksum")
            if checksum is not None:
                held[(props[SUMMARY_PREFIX + "dataset-id"], int(props[SUMMARY_PREFIX + "version"]))] = checksum
        for key, checksum in table.properties.items():
            if key.startswith(HELD_PREFIX):
                dataset_id, _, version = key[len(HELD_PREFIX):].rpartition("/")
                held[(dataset_id, int(version))] = checksum
        return held

    def held(self) -> dict[tuple[str, int], str]:
        table = self._table()
        return {} if table is None else self._held_in(table)

    def _check_held(self, table: Any, ref: VersionRef) -> bool:
        found = self._held_in(table).get(ref.key)
        if found is None:
            return False
        if found != ref.checksum:
            raise ExportConflict(ref.dataset_id, ref.version, held=found, lake=ref.checksum)
        return True

    def write_version(self, ref: VersionRef, batches: Iterator[pa.RecordBatch]) -> int | None:
        from pyiceberg.exceptions import CommitFailedException

        table = self._table(create=True)
        if self._check_held(table, ref):
            return None
        files = [self._write_data_file(ref, batches)] if ref.count else []
        if not files and any(batch.num_rows for batch in batches):
            raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} is recorded with 0 rows "
                              "but more were read; not exported")
        summary = {SUMMARY_PREFIX + "dataset-id": ref.dataset_id, SUMMARY_PREFIX + "version": str(ref.version),
                   SUMMARY_PREFIX + "checksum": ref.checksum}
        try:
            for _ in range(MAX_ATTEMPTS):
                try:
                    with table.transaction() as tx:
                        if files:
                            tx.add_files([f"file://{f}" for f in files], snapshot_properties=summary,
                                         check_duplicate_files=False)
                        tx.set_properties({held_key(ref.dataset_id, ref.version): ref.checksum})
                    files = []  # the table owns them now
                    return ref.count
                except CommitFailedException:
                    table = self._table()  # another commit landed first: is it this version?
                    if self._check_held(table, ref):
                        return None
            raise ExportError(f"dataset {ref.dataset_id}: version {ref.version}: the Iceberg commit kept "
                              f"conflicting with other writers ({MAX_ATTEMPTS} attempts)")
        finally:
            for path in files:  # not committed: no table references them
                _unlink(path)

    def _write_data_file(self, ref: VersionRef, batches: Iterator[pa.RecordBatch]) -> str:
        """The version's rows as one Parquet data file in the table's data directory, streamed
        (one version is never held in memory whole); its path."""
        import pyarrow.parquet as pq

        directory = os.path.join(self.root, TABLE, "data", f"dataset_id={ref.dataset_id}", f"version={ref.version}")
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{uuid.uuid4().hex}.parquet")
        rows = 0
        try:
            with pq.ParquetWriter(path, DATAPOINT_SCHEMA, compression="zstd", compression_level=1,
                                  use_dictionary=["dataset_id", "persona", "source", "agent",
                                                  "generator_model"]) as writer:
                for batch in prefetched(batches):
                    rows += batch.num_rows
                    writer.write_batch(batch, row_group_size=ROW_GROUP_ROWS)
            if rows != ref.count:
                raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} is recorded with "
                                  f"{ref.count} rows but {rows} were read; not exported")
        except BaseException:
            _unlink(path)
            raise
        return path

    def close(self) -> None:
        engine = getattr(self.catalog, "engine", None)
        if engine is not None:
            engine.dispose()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def open_target(url: str, storage_options: dict[str, Any] | None = None) -> IcebergTarget:
    """The Iceberg table in the directory ``url`` (created on first write)."""
    return IcebergTarget(url, storage_options)
