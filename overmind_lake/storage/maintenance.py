"""Checking and cleaning a lake's storage: ``verify`` and ``vacuum``.

``verify`` re-reads committed versions and names every file that is missing,
truncated or altered, every file of a committed version still waiting in
staging (docs/staging.md), and every version whose rows no longer match the
checksum in its commit record. ``vacuum`` removes what failed or crashed
writes left behind: files that no commit record names, older than a grace
period so that a write still in flight is never touched.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import replace
from typing import Iterable

import orjson

from . import checksum
from .catalog import Catalog, CommitRecord, FileEntry, commit_path, dataset_dir
from .checksum import ChecksumFn
from .filesystem import TMP_PREFIX, LakeFileSystem
from .staging import STAGED_IN, STAGING_DIR, move_into_place, remove_staging_dir, staged_of
from .streams import modified_time

_COMMIT_NAME = re.compile(r"^_(\d{8,})\.json$")
_DATA_FILE = re.compile(r"^dataset_id=([^/]+)/version=\d+/[^/]+$")
_STAGED_FILE = re.compile(r"^(dataset_id=([^/]+)/%s/[^/]+)/[^/]+$" % STAGING_DIR)
_DATASET_RECORD = re.compile(r"^dataset_id=([^/]+)/_dataset\.json$")
_NAME_CLAIM = re.compile(r"^_names/[0-9a-f]{64}\.json$")


def committed_versions(fs: LakeFileSystem, dataset_id: str) -> list[int]:
    """Version numbers of every commit record stored for a dataset, ascending."""
    out = []
    for name in fs.list_names(f"{dataset_dir(dataset_id)}/_commits"):
        match = _COMMIT_NAME.match(name)
        if match:
            out.append(int(match.group(1)))
    return sorted(out)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_version(fs: LakeFileSystem, commit: CommitRecord, checksum_of_columns: ChecksumFn) -> list[str]:
    """Problems with one committed version's files and rows ([] when healthy)."""
    where = f"dataset {commit.dataset_id} version {commit.version}"
    problems = []
    at: list[FileEntry] = []  # each file where it is now (its final path, or still staged)
    damaged = False
    for entry in commit.files:
        try:
            data = fs.read_bytes(entry.path)
            at.append(entry)
        except FileNotFoundError:
            staged = staged_of(commit, entry)
            try:
                data = fs.read_bytes(staged) if staged else None
            except FileNotFoundError:
                data = None
            if data is None:
                problems.append(f"{where}: {entry.path}: missing")
                damaged = True
                continue
            problems.append(f"{where}: {entry.path}: committed but still staged as {staged} (a raw Hive "
                            "scan of the root misses it until a read of the version or vacuum moves it)")
            entry = replace(entry, path=staged)
            at.append(entry)
        damaged = damaged or len(data) != entry.bytes or _sha256(data) != entry.sha256
        if len(data) < entry.bytes:
            problems.append(f"{where}: {entry.path}: truncated ({len(data)} bytes, commit records {entry.bytes})")
        elif len(data) != entry.bytes:
            problems.append(f"{where}: {entry.path}: size differs ({len(data)} bytes, commit records {entry.bytes})")
        elif _sha256(data) != entry.sha256:
            problems.append(f"{where}: {entry.path}: altered (sha256 differs from the commit record)")
    if damaged:
        return problems
    try:
        count, digest = checksum.recompute(fs, replace(commit, files=tuple(at)), checksum_of_columns)
    except Exception as exc:  # noqa: BLE001 - any read failure is a finding, not a crash
        return problems + [f"{where}: unreadable: {str(exc).splitlines()[0]}"]
    if count != commit.count:
        problems.append(f"{where}: row count mismatch ({count} rows, commit records {commit.count})")
    if digest != commit.checksum:
        problems.append(f"{where}: checksum mismatch (rows hash to {digest}, commit records {commit.checksum})")
    return problems


def verify_dataset(fs: LakeFileSystem, catalog: Catalog, dataset_id: str,
                   checksum_of_columns: ChecksumFn) -> list[str]:
    """Problems with every committed version of one dataset."""
    stored = committed_versions(fs, dataset_id)
    if not stored:
        return []
    problems = []
    if catalog.dataset(dataset_id) is None:
        problems.append(f"dataset {dataset_id}: {dataset_dir(dataset_id)}/_dataset.json: missing")
    expected = list(range(1, stored[-1] + 1))
    for gap in sorted(set(expected) - set(stored)):
        problems.append(f"dataset {dataset_id} version {gap}: {commit_path(dataset_id, gap)}: missing "
                        f"(versions up to {stored[-1]} are committed)")
    for version in stored:
        path = commit_path(dataset_id, version)
        try:
            commit = CommitRecord.from_json(fs.read_bytes(path))
        except FileNotFoundError:
            problems.append(f"dataset {dataset_id} version {version}: {path}: missing")
            continue
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            problems.append(f"dataset {dataset_id} version {version}: {path}: unreadable commit record ({exc})")
            continue
        if commit.dataset_id != dataset_id or commit.version != version:
            problems.append(f"dataset {dataset_id} version {version}: {path}: names dataset "
                            f"{commit.dataset_id} version {commit.version}")
            continue
        problems.extend(verify_version(fs, commit, checksum_of_columns))
    return problems


def verify(fs: LakeFileSystem, catalog: Catalog, checksum_of_columns: ChecksumFn,
           dataset_ids: Iterable[str] | None = None) -> list[str]:
    """Problems found in ``dataset_ids`` (default: every dataset); [] means healthy.

    ``checksum_of_columns`` is the writer's checksum of rows in storage order.
    """
    ids = catalog.dataset_ids() if dataset_ids is None else list(dataset_ids)
    problems = []
    for dataset_id in ids:
        problems.extend(verify_dataset(fs, catalog, dataset_id, checksum_of_columns))
    return problems


def _staged_write(rel: str) -> tuple[str, str] | None:
    """(dataset id, staging directory) of a staged file's path, else None."""
    match = _STAGED_FILE.match(rel)
    return (match.group(2), match.group(1)) if match else None


def vacuum(fs: LakeFileSystem, catalog: Catalog, older_than: float = 3600,
           now: float | None = None) -> list[str]:
    """Remove leftovers of failed writes older than ``older_than`` seconds,
    and move into place the files of committed versions still staged.

    Removed: temporary files (``.tmp-*``) anywhere; files under a
    ``version=<n>/`` directory that no commit record names; a write's
    staging directory (``_staging/<write id>/``) that no commit record names
    once its newest file is older than the grace period (so a write still in
    flight, which keeps adding files, is never touched); the dataset record
    and name claim of a dataset that never committed version 1.
    Moved, whatever their age: staged files of a committed version (a writer
    crashed between its commit and its move; docs/staging.md).
    Never removed: anything a commit record names, commit records, and any
    other file (indexes or caches other parts of the lake may keep).
    A dataset whose commit records cannot all be read is left untouched.
    Returns the removed paths, relative to the root.
    """
    cutoff = (time.time() if now is None else now) - older_than
    named: set[str] = set()
    committed: set[str] = set()
    untouchable: set[str] = set()
    seen: dict[str, set[int]] = {}
    staged_commits: dict[str, CommitRecord] = {}  # staging directory -> its committed record

    def read_commits(dataset_id: str) -> bool:
        """Read the records not read yet; False if one is unreadable."""
        for version in committed_versions(fs, dataset_id):
            if version in seen.setdefault(dataset_id, set()):
                continue
            try:
                record = CommitRecord.from_json(fs.read_bytes(commit_path(dataset_id, version)))
            except Exception:  # noqa: BLE001 - unreadable: do not guess what it names
                return False
            seen[dataset_id].add(version)
            committed.add(dataset_id)
            named.update(entry.path for entry in record.files)
            if record.extra and record.extra.get(STAGED_IN):
                staged_commits[record.extra[STAGED_IN]] = record
        return True

    for dataset_id in catalog.dataset_ids():
        if not read_commits(dataset_id):
            untouchable.add(dataset_id)

    def uncommitted(dataset_id: str) -> bool:
        # Asked again right before removing, in case version 1 just landed.
        return dataset_id not in committed and not fs.exists(commit_path(dataset_id, 1))

    files = list(fs.walk_files(""))
    existing = {rel for rel, _ in files}
    removed: list[str] = []

    def remove(rel: str) -> None:
        fs.remove(rel)
        removed.append(rel)
        if _staged_write(rel) is not None:
            remove_staging_dir(fs, rel.rsplit("/", 1)[0])
        elif "/" in rel:
            fs.remove_empty_dirs(rel.rsplit("/", 1)[0])

    # Staged writes: committed ones are moved in place; the others go once idle.
    staged: dict[str, list[tuple[str, float | None]]] = {}
    for rel, info in files:
        found = _staged_write(rel)
        if found is not None and found[0] not in untouchable:
            staged.setdefault(found[1], []).append((rel, modified_time(info)))
    for where, entries in sorted(staged.items()):
        dataset_id = where.split("/", 1)[0][len("dataset_id="):]
        newest = max((m for _, m in entries), default=None)
        if where not in staged_commits and (newest is None or newest > cutoff):
            continue  # maybe still being written
        if where not in staged_commits and not read_commits(dataset_id):
            continue  # the write may just have committed under a record we cannot read
        record = staged_commits.get(where)
        if record is not None:
            in_place = {f.path for f in record.files if f.path in existing}
            move_into_place(fs, record, in_place)
            # A staged copy whose file is in place already is redundant (an
            # object store's copy done, its delete not); others are not this
            # version's (e.g. a chunk the write had merged away).
            moving = {staged_of(record, f) for f in record.files if f.path not in in_place}
            doomed = [rel for rel, m in entries if rel not in moving and m is not None and m <= cutoff]
        else:
            doomed = [rel for rel, _ in entries]
        for rel in doomed:
            remove(rel)

    for rel, info in files:
        mtime = modified_time(info)
        if mtime is None or mtime > cutoff or rel in named or _staged_write(rel) is not None:
            continue
        base = rel.rsplit("/", 1)[-1]
        doomed = False
        if base.startswith(TMP_PREFIX):
            doomed = True
        elif (match := _DATA_FILE.match(rel)) and match.group(1) not in untouchable:
            # A rename keeps the staged file's age: a version committed (and
            # moved) since the records were read must not look like a leftover.
            doomed = read_commits(match.group(1)) and rel not in named
        elif (match := _DATASET_RECORD.match(rel)) and match.group(1) not in untouchable:
            doomed = uncommitted(match.group(1))
        elif _NAME_CLAIM.match(rel):
            try:
                claimed = orjson.loads(fs.read_bytes(rel)).get("dataset_id")
            except Exception:  # noqa: BLE001 - a torn or foreign file: leave it
                continue
            doomed = isinstance(claimed, str) and claimed not in untouchable and uncommitted(claimed)
        if doomed:
            remove(rel)
    return removed
