"""Export to a directory of Hive-partitioned Parquet plus a manifest (docs/export.md).

Layout under the target (a local directory or any fsspec URL)::

    dataset_id=<uuid>/version=<n>/part-<checksum[:16]>.parquet   the version's rows
    _manifest/<dataset_id>/<n:08d>.json                          the version is complete

A version is **one** data file, so it appears to a raw Hive scan (Spark,
DuckDB, Trino, pyarrow) whole or not at all: on local disk it is written under
a ``.tmp-`` name in its directory and renamed; on an object store it is one
upload that becomes visible when it completes. Its name is derived from the
version's checksum, so two exporters of the same version write the same name
and a scan never sees the rows twice.

The manifest entry is written last, created exclusively (a hard link on local
disk, a conditional put on object stores): it is what ``held()`` reads, and
the one of two concurrent exporters that fails to create it reports the
version as already present. Files do not carry ``dataset_id`` / ``version``
columns: the partition directories do.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ExportConflict, ExportError
from ..schema import FILE_SCHEMA
from ..storage.filesystem import LakeFileSystem
from ..storage.streams import CountingWriter
from .base import VersionRef
from .prefetch import prefetched

MANIFEST_DIR = "_manifest"
MANIFEST_FORMAT = 1
ROW_GROUP_ROWS = 128 * 1024


def manifest_path(dataset_id: str, version: int) -> str:
    return f"{MANIFEST_DIR}/{dataset_id}/{version:08d}.json"


def data_path(ref: VersionRef) -> str:
    return f"dataset_id={ref.dataset_id}/version={ref.version}/part-{ref.checksum[:16]}.parquet"


class ParquetTarget:
    """A Hive-partitioned Parquet directory whose ``_manifest/`` says what it holds."""

    #: versions written at once (each its own file and manifest entry)
    workers = 2

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None):
        self.url = url
        self.fs = LakeFileSystem(url, storage_options)

    def __repr__(self) -> str:
        return f"ParquetTarget({self.url!r})"

    # -- what the target holds -------------------------------------------------
    def manifest(self) -> list[dict[str, Any]]:
        """Every manifest entry (one per complete version), by (dataset_id, version)."""
        rels = [rel for rel, _ in self.fs.walk_files(MANIFEST_DIR)
                if rel.endswith(".json") and not rel.rsplit("/", 1)[-1].startswith(".")]
        if not rels:
            return []
        if self.fs.is_local:
            blobs = [self.fs.read_bytes(rel) for rel in rels]
        else:  # one concurrent fetch instead of one request after another
            fetched = self.fs.fs.cat([self.fs.path(rel) for rel in rels])
            by_path = {k.lstrip("/"): v for k, v in fetched.items()}
            blobs = [by_path[self.fs.path(rel).lstrip("/")] for rel in rels]
        entries = []
        for rel, blob in zip(rels, blobs):
            try:
                entry = orjson.loads(blob)
                key = manifest_path(entry["dataset_id"], int(entry["version"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ExportError(f"unreadable manifest entry {self.fs.uri(rel)}: {exc}") from None
            if key != rel:
                raise ExportError(f"manifest entry {self.fs.uri(rel)} names another version ({key})")
            entries.append(entry)
        entries.sort(key=lambda e: (e["dataset_id"], e["version"]))
        return entries

    def held(self) -> dict[tuple[str, int], str]:
        return {(e["dataset_id"], int(e["version"])): e["checksum"] for e in self.manifest()}

    def _entry(self, dataset_id: str, version: int) -> dict[str, Any] | None:
        try:
            return orjson.loads(self.fs.read_bytes(manifest_path(dataset_id, version)))
        except FileNotFoundError:
            return None

    def _already(self, ref: VersionRef, entry: dict[str, Any]) -> None:
        if entry["checksum"] != ref.checksum:
            raise ExportConflict(ref.dataset_id, ref.version, held=entry["checksum"], lake=ref.checksum)

    # -- writing -----------------------------------------------------------------
    def write_version(self, ref: VersionRef, batches: Iterator[pa.RecordBatch]) -> int | None:
        found = self._entry(ref.dataset_id, ref.version)
        if found is not None:  # another exporter landed it since held() was read
            self._already(ref, found)
            return None
        files = []
        rows = 0
        if ref.count:
            rel = data_path(ref)
            rows, size = self._write_file(rel, ref, batches)
            files.append({"path": rel, "rows": rows, "bytes": size})
        else:
            for batch in batches:
                rows += batch.num_rows
            if rows:
                raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} is recorded with 0 rows "
                                  f"but {rows} were read")
        entry = {
            "format": MANIFEST_FORMAT, "dataset_id": ref.dataset_id, "version": ref.version,
            "checksum": ref.checksum, "rows": rows, "files": files,
            "name": ref.name, "agent": ref.agent, "description": ref.description,
            "dataset_created_at": ref.dataset_created_at, "created_at": ref.created_at,
            "message": ref.message, "parent_version": ref.parent_version,
            "source_counts": ref.source_counts, "generator_models": ref.generator_models,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if self.fs.create_exclusive(manifest_path(ref.dataset_id, ref.version),
                                    orjson.dumps(entry, option=orjson.OPT_INDENT_2)):
            return rows
        winner = self._entry(ref.dataset_id, ref.version)
        if winner is not None and winner["checksum"] != ref.checksum:
            for f in files:  # our file has another name than the winner's: do not leave it visible
                self.fs.remove(f["path"])
            self._already(ref, winner)
        return None

    def _write_file(self, rel: str, ref: VersionRef, batches: Iterator[pa.RecordBatch]) -> tuple[int, int]:
        columns = [f.name for f in FILE_SCHEMA]
        rows = 0
        with self.fs.open_write(rel) as raw:
            sink = CountingWriter(raw)
            writer = pq.ParquetWriter(sink, FILE_SCHEMA, compression="zstd", compression_level=1,
                                      use_dictionary=["persona", "source", "agent", "generator_model"],
                                      write_statistics=["id", "order", "persona", "source", "agent",
                                                        "generator_model"])
            try:
                for batch in prefetched(batches):
                    rows += batch.num_rows
                    writer.write_batch(pa.RecordBatch.from_arrays(
                        [batch.column(name) for name in columns], schema=FILE_SCHEMA),
                        row_group_size=ROW_GROUP_ROWS)
                if rows != ref.count:
                    raise ExportError(f"dataset {ref.dataset_id}: version {ref.version} is recorded with "
                                      f"{ref.count} rows but {rows} were read; not exported")
            finally:
                writer.close()
        return rows, sink.size

    def close(self) -> None:
        pass


def open_target(url: str, storage_options: dict[str, Any] | None = None) -> ParquetTarget:
    """The Parquet directory at ``url`` (created on first write)."""
    return ParquetTarget(url, storage_options)
