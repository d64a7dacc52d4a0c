"""Export to one Delta Lake table written with ``deltalake`` (docs/export.md).

The table is partitioned by ``dataset_id`` and ``version``; each exported
version is one table commit that carries, in the same commit:

- an application transaction (a Delta ``txn`` action) whose app id names the
  version, ``overmind-lake/<dataset_id>/<version>``, and whose transaction
  version is the first 60 bits of the version's checksum. Delta keeps ``txn``
  actions in checkpoints, so this record outlives log clean-up; and delta-rs
  refuses a commit whose app id another commit set since this writer read the
  table, so two exporters never append the same version twice;
- commit metadata ``overmind_lake.dataset_id`` / ``.version`` / ``.checksum``
  (the full checksum, read back from the table's history by :meth:`held`).

Rows reach the table one of two ways. From a lake on local disk into a local
table, the version's own Parquet files are copied into the table and
committed as they are (``create_write_transaction``): they hold exactly the
table's non-partition columns, so nothing is decoded or encoded. Otherwise
the rows are streamed through ``write_deltalake``.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from typing import Any, Iterator

import pyarrow as pa

from .._optional import import_optional
from ..errors import ExportConflict, ExportError
from ..schema import FILE_SCHEMA
from .base import DATAPOINT_SCHEMA, VersionRef
from .prefetch import prefetched

PARTITION_BY = ["dataset_id", "version"]
META_PREFIX = "overmind_lake."
MAX_ATTEMPTS = 10


def app_id(dataset_id: str, version: int) -> str:
    return f"overmind-lake/{dataset_id}/{version}"


def txn_version(checksum: str) -> int:
    """The checksum as a Delta transaction version (its first 15 hex digits: non-negative, < 2**60)."""
    return int(checksum[:15], 16)


def table_uri(url: str) -> str:
    """A local path made absolute; any other URL as given (delta-rs resolves it)."""
    if url.startswith("file://"):
        url = url[len("file://"):]
    if "://" in url:
        return url.rstrip("/")
    return os.path.abspath(url)


def delta_storage_options(options: dict[str, Any] | None) -> dict[str, str] | None:
    """fsspec/s3fs-style options (``key``, ``secret``, ``client_kwargs.endpoint_url``) as delta-rs's; string
    options of delta-rs's own (``AWS_…``) pass through."""
    if not options:
        return None
    out: dict[str, str] = {}
    for name, value in options.items():
        if name == "key":
            out["AWS_ACCESS_KEY_ID"] = str(value)
        elif name == "secret":
            out["AWS_SECRET_ACCESS_KEY"] = str(value)
        elif name == "token":
            out["AWS_SESSION_TOKEN"] = str(value)
        elif name in ("client_kwargs", "endpoint_url"):
            endpoint = value.get("endpoint_url") if isinstance(value, dict) else value
            if endpoint:
                out["AWS_ENDPOINT_URL"] = str(endpoint)
                if str(endpoint).startswith("http://"):
                    out["AWS_ALLOW_HTTP"] = "true"
            region = value.get("region_name") if isinstance(value, dict) else None
            if region:
                out["AWS_REGION"] = str(region)
        elif isinstance(value, (str, int, float, bool)):
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
    if "AWS_ENDPOINT_URL" in out:
        out.setdefault("AWS_REGION", "us-east-1")
    return out


class DeltaTarget:
    """One Delta table holding every exported version."""

    #: versions written at once, each its own commit (appends of different
    #: app ids do not conflict; delta-rs retries the commit)
    workers = 2
    #: copy a local lake's files into a local table instead of re-encoding the rows
    copy_files = True

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self._dl = import_optional("deltalake", "delta", "Delta Lake export")
        self.url = url
        self.uri = table_uri(url)
        self.storage_options = delta_storage_options(storage_options)
        self._local = threading.local()  # one DeltaTable object per writing thread
        self._create_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DeltaTarget({self.url!r})"

    def _table(self, create: bool = False) -> Any:
        """The table at its latest version; None when absent and ``create`` is false."""
        dl = self._dl
        dt = getattr(self._local, "dt", None)
        if dt is not None:
            dt.update_incremental()
            return dt
        if not dl.DeltaTable.is_deltatable(self.uri, storage_options=self.storage_options):
            if not create:
                return None
            with self._create_lock:
                self._create(dl)
        self._local.dt = dl.DeltaTable(self.uri, storage_options=self.storage_options)
        return self._local.dt

    def _create(self, dl: Any) -> None:
        """Create the empty table unless someone did. No commit retry: a second
        creator must fail, not land a second metadata action (which would make
        every writer that read the first one conflict)."""
        if dl.DeltaTable.is_deltatable(self.uri, storage_options=self.storage_options):
            return
        try:
            dl.DeltaTable.create(self.uri, schema=DATAPOINT_SCHEMA, partition_by=PARTITION_BY,
                                 mode="ignore", storage_options=self.storage_options, name="datapoints",
                                 description="overmind_lake export: datapoints of every exported version",
                                 commit_properties=dl.CommitProperties(max_commit_retries=0))
        except Exception:  # noqa: BLE001 - a concurrent exporter created it first
            if not dl.DeltaTable.is_deltatable(self.uri, storage_options=self.storage_options):
                raise

    def held(self) -> dict[tuple[str, int], str]:
        dt = self._table()
        if dt is None:
            return {}
        held = {}
        for commit in dt.history():
            checksum = commit.get(META_PREFIX + "checksum")
            if checksum is None:
                continue
            dataset_id = str(commit[META_PREFIX + "dataset_id"])
            version = int(commit[META_PREFIX + "version"])
            # the txn action is the record; a commit's metadata only names it
            if dt.transaction_version(app_id(dataset_id, version)) == txn_version(checksum):
                held[(dataset_id, version)] = checksum
        return held

    def _check_held(self, dt: Any, ref: VersionRef) -> bool:
        """True when ``ref`` is in the table already (ExportConflict if with another checksum)."""
        found = dt.transaction_version(app_id(ref.dataset_id, ref.version))
        if found is None:
            return False
        if found != txn_version(ref.checksum):
            raise ExportConflict(ref.dataset_id, ref.version, held=f"{found:015x}", lake=ref.checksum)
        return True

    def write_version(self, ref: VersionRef, batches: Iterator[pa.RecordBatch]) -> int | None:
        dt = self._table(create=True)
        if self._check_held(dt, ref):
            return None
        if self.copy_files and ref.files and "://" not in self.uri and _same_layout(ref.files):
            return self._add_copies(dt, ref)
        return self._write(dt, ref, batches)

    def _properties(self, ref: VersionRef) -> Any:
        dl = self._dl
        return dl.CommitProperties(
            app_transactions=[dl.Transaction(app_id(ref.dataset_id, ref.version), txn_version(ref.checksum))],
            custom_metadata={META_PREFIX + "dataset_id": ref.dataset_id,
                             META_PREFIX + "version": str(ref.version),
                             META_PREFIX + "checksum": ref.checksum})

    def _lost_race(self, ref: VersionRef) -> bool:
        """After a failed commit: True if a concurrent exporter committed this version."""
        return self._check_held(self._table(), ref)

    def _write(self, dt: Any, ref: VersionRef, batches: Iterator[pa.RecordBatch]) -> int | None:
        """Encode the rows with ``write_deltalake`` (any lake, any target store)."""
        dl = self._dl
        rows = [0]
        reader = pa.RecordBatchReader.from_batches(DATAPOINT_SCHEMA, _checked(prefetched(batches), ref, rows))
        try:
            dl.write_deltalake(dt, reader, partition_by=PARTITION_BY, mode="append",
                               commit_properties=self._properties(ref))
        except dl.exceptions.CommitFailedError:
            if self._lost_race(ref):
                return None
            raise
        return rows[0]

    def _add_copies(self, dt: Any, ref: VersionRef) -> int | None:
        """Copy the version's Parquet files into the table and commit them as they are.

        A local lake's files already are valid Delta data files: Parquet with
        exactly the non-partition columns (Delta keeps partition values in the
        log, not in the files). Copying them skips a decode and an encode.
        """
        import pyarrow.parquet as pq

        dl = self._dl
        from deltalake.transaction import AddAction

        directory = f"dataset_id={ref.dataset_id}/version={ref.version}"
        os.makedirs(os.path.join(self.uri, directory), exist_ok=True)
        token = uuid.uuid4().hex
        actions, copied, rows = [], [], 0
        try:
            for i, source in enumerate(ref.files):
                rel = f"{directory}/part-{token}-{i:04d}.parquet"
                dest = os.path.join(self.uri, rel)
                shutil.copyfile(source, dest)
                copied.append(dest)
                n = pq.ParquetFile(dest).metadata.num_rows
                rows += n
                info = os.stat(dest)
                actions.append(AddAction(rel, info.st_size, {"dataset_id": ref.dataset_id, "version": str(ref.version)},
                                         int(info.st_mtime * 1000), True, json.dumps({"numRecords": n})))
            if rows != ref.count:
                raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} is recorded with {ref.count} "
                                  f"rows but its files hold {rows}; not exported")
            for attempt in range(MAX_ATTEMPTS):
                try:
                    dt.create_write_transaction(actions, "append", DATAPOINT_SCHEMA, PARTITION_BY,
                                                commit_properties=self._properties(ref))
                    break
                except dl.exceptions.CommitFailedError:
                    if self._lost_race(ref):
                        return None
                    if attempt == MAX_ATTEMPTS - 1:
                        raise
                    dt = self._table()  # another change landed first: commit on top of it
            copied = []  # the table owns them now
            return rows
        finally:
            for path in copied:  # not committed: remove them (no reader would see them anyway)
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        self._local = threading.local()


def _checked(batches: Iterator[pa.RecordBatch], ref: VersionRef, rows: list[int]) -> Iterator[pa.RecordBatch]:
    """``batches``, failing (so nothing is committed) if they do not add up to the version's count."""
    for batch in batches:
        rows[0] += batch.num_rows
        yield batch
    if rows[0] != ref.count:
        raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} is recorded with {ref.count} rows "
                          f"but {rows[0]} were read; not exported")


def _same_layout(paths: tuple[str, ...]) -> bool:
    """Whether the lake's files have exactly the table's non-partition columns and types."""
    import pyarrow.parquet as pq

    want = [(f.name, f.type) for f in FILE_SCHEMA]
    for path in paths:
        have = pq.read_schema(path)
        if [(f.name, f.type) for f in have] != want:
            return False
    return True


def open_target(url: str, storage_options: dict[str, Any] | None = None) -> DeltaTarget:
    """The Delta table at ``url`` (created on first write)."""
    return DeltaTarget(url, storage_options)
