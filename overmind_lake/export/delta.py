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
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import pyarrow as pa

from .._optional import import_optional
from ..errors import ExportConflict, ExportError
from .base import DATAPOINT_SCHEMA, VersionRef
from .prefetch import prefetched

PARTITION_BY = ["dataset_id", "version"]
META_PREFIX = "overmind_lake."


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

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self._dl = import_optional("deltalake", "delta", "Delta Lake export")
        self.url = url
        self.uri = table_uri(url)
        self.storage_options = delta_storage_options(storage_options)
        self._dt: Any = None

    def __repr__(self) -> str:
        return f"DeltaTarget({self.url!r})"

    def _table(self, create: bool = False) -> Any:
        """The table at its latest version; None when absent and ``create`` is false."""
        dl = self._dl
        if self._dt is not None:
            self._dt.update_incremental()
            return self._dt
        if not dl.DeltaTable.is_deltatable(self.uri, storage_options=self.storage_options):
            if not create:
                return None
            try:
                dl.DeltaTable.create(self.uri, schema=DATAPOINT_SCHEMA, partition_by=PARTITION_BY,
                                     mode="ignore", storage_options=self.storage_options,
                                     name="datapoints",
                                     description="overmind_lake export: datapoints of every exported version")
            except Exception:  # noqa: BLE001 - a concurrent exporter created it first
                if not dl.DeltaTable.is_deltatable(self.uri, storage_options=self.storage_options):
                    raise
        self._dt = dl.DeltaTable(self.uri, storage_options=self.storage_options)
        return self._dt

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
        dl = self._dl
        dt = self._table(create=True)
        if self._check_held(dt, ref):
            return None
        rows = [0]
        reader = pa.RecordBatchReader.from_batches(DATAPOINT_SCHEMA, _checked(prefetched(batches), ref, rows))
        properties = dl.CommitProperties(
            app_transactions=[dl.Transaction(app_id(ref.dataset_id, ref.version), txn_version(ref.checksum))],
            custom_metadata={META_PREFIX + "dataset_id": ref.dataset_id,
                             META_PREFIX + "version": str(ref.version),
                             META_PREFIX + "checksum": ref.checksum})
        try:
            dl.write_deltalake(dt, reader, partition_by=PARTITION_BY, mode="append",
                               commit_properties=properties)
        except dl.exceptions.CommitFailedError:
            # a concurrent exporter committed this version's app id first
            dt = self._table()
            if self._check_held(dt, ref):
                return None
            raise
        return rows[0]

    def close(self) -> None:
        self._dt = None


def _checked(batches: Iterator[pa.RecordBatch], ref: VersionRef, rows: list[int]) -> Iterator[pa.RecordBatch]:
    """``batches``, failing (so nothing is committed) if they do not add up to the version's count."""
    for batch in batches:
        rows[0] += batch.num_rows
        yield batch
    if rows[0] != ref.count:
        raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} is recorded with {ref.count} rows "
                          f"but {rows[0]} were read; not exported")


def open_target(url: str, storage_options: dict[str, Any] | None = None) -> DeltaTarget:
    """The Delta table at ``url`` (created on first write)."""
    return DeltaTarget(url, storage_options)
