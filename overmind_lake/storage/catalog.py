"""Dataset records and commit records: the lake's metadata.

Layout under the root (every non-Parquet name starts with ``_`` so engines
reading the Hive tree skip it)::

    _names/<sha256(name)>.json                   name -> dataset id (exclusive create)
    dataset_id=<uuid>/_dataset.json              the dataset's immutable record
    dataset_id=<uuid>/_commits/_<n:08d>.json     commit record of version n
    dataset_id=<uuid>/version=<n>/part-*.parquet the version's data
    dataset_id=<uuid>/_staging/<write id>/…      files of writes not yet moved in place

A version exists exactly when its commit record exists. Data files are
written to ``_staging/`` and moved to ``version=<n>/`` after the commit
(staging.py, docs/staging.md): a Hive engine reading the tree never sees a
file of an uncommitted write. Records are
immutable, so they are cached forever; only "what is the latest version" can
change, and that is answered by probing for the next record, which costs one
existence check whatever the number of versions or datasets.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from ..errors import StorageError
from .filesystem import LakeFileSystem

FORMAT_VERSION = 1


@dataclass(frozen=True)
class DatasetRecord:
    id: str
    name: str
    agent: str | None
    description: str
    created_at: str  # ISO 8601, UTC

    def to_json(self) -> bytes:
        return orjson.dumps({"format": FORMAT_VERSION, **asdict(self)})

    @classmethod
    def from_json(cls, data: bytes) -> "DatasetRecord":
        obj = orjson.loads(data)
        return cls(obj["id"], obj["name"], obj["agent"], obj["description"], obj["created_at"])


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the lake root
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class CommitRecord:
    dataset_id: str
    version: int
    created_at: str
    message: str
    parent_version: int | None
    count: int
    source_counts: dict[str, int]
    generator_models: list[str]
    checksum: str
    files: tuple[FileEntry, ...]
    write_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        obj = asdict(self)
        obj["files"] = [asdict(f) for f in self.files]
        return orjson.dumps({"format": FORMAT_VERSION, **obj}, option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> "CommitRecord":
        obj = orjson.loads(data)
        obj.pop("format", None)
        obj["files"] = tuple(FileEntry(**f) for f in obj["files"])
        return cls(**obj)


def dataset_dir(dataset_id: str) -> str:
    return f"dataset_id={dataset_id}"


def version_dir(dataset_id: str, version: int) -> str:
    return f"dataset_id={dataset_id}/version={version}"


def commit_path(dataset_id: str, version: int) -> str:
    return f"dataset_id={dataset_id}/_commits/_{version:08d}.json"


def name_path(name: str) -> str:
    return f"_names/{hashlib.sha256(name.encode('utf-8')).hexdigest()}.json"


class Catalog:
    """Reads and writes dataset and commit records, caching what is immutable."""

    def __init__(self, fs: LakeFileSystem):
        self.fs = fs
        self._lock = threading.Lock()
        self._datasets: dict[str, DatasetRecord] = {}
        self._commits: dict[tuple[str, int], CommitRecord] = {}
        self._latest: dict[str, int] = {}

    # -- datasets ------------------------------------------------------------
    def dataset_ids(self) -> list[str]:
        """Ids of every dataset directory in the lake (committed or not)."""
        prefix = "dataset_id="
        return sorted(n[len(prefix):] for n in self.fs.list_names("") if n.startswith(prefix))

    def dataset(self, dataset_id: str) -> DatasetRecord | None:
        cached = self._datasets.get(dataset_id)
        if cached is not None:
            return cached
        try:
            record = DatasetRecord.from_json(self.fs.read_bytes(f"{dataset_dir(dataset_id)}/_dataset.json"))
        except FileNotFoundError:
            return None
        with self._lock:
            self._datasets[dataset_id] = record
        return record

    def id_for_name(self, name: str) -> str | None:
        try:
            return orjson.loads(self.fs.read_bytes(name_path(name)))["dataset_id"]
        except FileNotFoundError:
            return None

    def claim_name(self, name: str, dataset_id: str) -> bool:
        """Reserve ``name`` for ``dataset_id``; False if another dataset holds it."""
        return self.fs.create_exclusive(
            name_path(name), orjson.dumps({"name": name, "dataset_id": dataset_id})
        )

    def release_name(self, name: str) -> None:
        self.fs.remove(name_path(name))

    def write_dataset(self, record: DatasetRecord) -> None:
        if not self.fs.create_exclusive(f"{dataset_dir(record.id)}/_dataset.json", record.to_json()):
            raise StorageError(f"dataset {record.id} already has a record")

    def remove_uncommitted_dataset(self, record: DatasetRecord) -> None:
        """Undo a create whose version 1 never landed: its record, its name
        claim and its (empty) directory, so a failed create leaves no trace."""
        with self._lock:
            self._datasets.pop(record.id, None)
        from .staging import staging_root

        self.fs.remove(f"{dataset_dir(record.id)}/_dataset.json")
        # (no other writer uses a dataset that never committed: _staging/ may go too)
        self.fs.remove_empty_dirs(staging_root(record.id))
        self.fs.remove_empty_dirs(dataset_dir(record.id))
        self.release_name(record.name)

    # -- versions ------------------------------------------------------------
    def latest_version(self, dataset_id: str) -> int:
        """The highest committed version (0 if none), checked against storage now."""
        latest = self._latest.get(dataset_id)
        if latest is None:
            latest = 0
            for name in self.fs.list_names(f"{dataset_dir(dataset_id)}/_commits"):
                if name.startswith("_") and name.endswith(".json"):
                    try:
                        latest = max(latest, int(name[1:-5]))
                    except ValueError:
                        continue
            if latest:
                # the listing was just made (never cached): it is as fresh as a
                # probe, so the probe below starts one further (one request fewer)
                with self._lock:
                    self._latest.setdefault(dataset_id, latest)
                return latest
        while self.fs.exists(commit_path(dataset_id, latest + 1)):
            latest += 1
        with self._lock:
            if latest > self._latest.get(dataset_id, -1):
                self._latest[dataset_id] = latest
        return latest

    def committed(self, dataset_id: str, version: int) -> bool:
        """Whether ``version`` is committed. A commit record is never removed,
        so a version seen committed once is answered from memory: a pinned
        version read before costs no request (docs/performance.md)."""
        known = self._latest.get(dataset_id)
        if known is not None and 1 <= version <= known:
            return True
        return 1 <= version <= self.latest_version(dataset_id)

    def commit(self, dataset_id: str, version: int) -> CommitRecord | None:
        key = (dataset_id, version)
        cached = self._commits.get(key)
        if cached is not None:
            return cached
        try:
            record = CommitRecord.from_json(self.fs.read_bytes(commit_path(dataset_id, version)))
        except FileNotFoundError:
            return None
        from .staging import settle  # (staging builds on this module)

        # Once per version: files a crashed writer left staged are moved in place.
        record, final = settle(self.fs, record)
        if final:
            self.remember(record)
        return record

    def remember(self, record: CommitRecord) -> None:
        """Cache ``record``, whose files are all at the paths it names."""
        with self._lock:
            self._commits[(record.dataset_id, record.version)] = record

    def commits(self, dataset_id: str, versions: range | list[int] | None = None) -> list[CommitRecord]:
        """Commit records of ``versions`` (default: all) that exist, ascending."""
        if versions is None:
            versions = range(1, self.latest_version(dataset_id) + 1)
        out = []
        for v in versions:
            record = self.commit(dataset_id, v)
            if record is None:
                raise StorageError(f"dataset {dataset_id}: commit record of version {v} is missing")
            out.append(record)
        return out

    def try_commit(self, record: CommitRecord) -> bool:
        """Make ``record`` visible; False if its version number is taken."""
        created = self.fs.create_exclusive(commit_path(record.dataset_id, record.version), record.to_json())
        if created:
            with self._lock:
                if not record.extra.get("staged_in"):  # else remembered once moved in place
                    self._commits[(record.dataset_id, record.version)] = record
                if record.version > self._latest.get(record.dataset_id, -1):
                    self._latest[record.dataset_id] = record.version
        return created
