"""The lake's view of its root: an fsspec filesystem plus the few primitives
the commit protocol needs (atomic whole-file writes, exclusive create).

Everything above this module speaks in paths relative to the lake root.

Object stores: listings are never cached (``use_listings_cache=False`` unless
the caller set it), because the commit protocol asks "does the next commit
record exist?" and a stale listing would answer wrongly. Exclusive create is a
conditional put (``If-None-Match: *``); whether the store honours it is probed
once, before the first write, and a store that does not is refused for writing.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from typing import Any, Iterator

import fsspec
from fsspec.implementations.local import LocalFileSystem

from .._optional import import_optional
from ..errors import StorageError
from .streams import AtomicWriteFile

_memory_create_lock = threading.Lock()
#: Prefix of every temporary file the lake writes (``vacuum`` removes stale ones).
TMP_PREFIX = ".tmp-"
#: Read-ahead of object-store reads; uploads use parts of WRITE_BLOCK_SIZE.
READ_BLOCK_SIZE = 1 << 20
WRITE_BLOCK_SIZE = 16 << 20
#: fsspec protocols whose filesystem is a pip extra: protocol -> (module, extra).
PROTOCOL_EXTRAS = {
    "s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"), "abfs": ("adlfs", "azure"), "abfss": ("adlfs", "azure"),
    "adl": ("adlfs", "azure"),
}


def require_backend(root: str) -> None:
    """Raise MissingExtra when ``root`` needs a filesystem package that is not
    installed (``s3://`` without s3fs, …), naming the extra that installs it."""
    for part in root.split("::"):  # chained URLs: simplecache::s3://…
        protocol = fsspec.core.split_protocol(part)[0]
        needed = PROTOCOL_EXTRAS.get(protocol or "")
        if needed is not None:
            import_optional(needed[0], needed[1], f"the lake root {root!r}")


def _conditional_conflict(exc: OSError) -> bool:
    """True for S3's 409 ConditionalRequestConflict (a concurrent conditional put: retry)."""
    cause = getattr(exc, "__cause__", None)
    code = getattr(cause, "response", {}).get("Error", {}).get("Code") if cause is not None else None
    return code == "ConditionalRequestConflict" or "ConditionalRequestConflict" in str(exc)


class LakeFileSystem:
    """A lake root (local path or fsspec URL) and operations relative to it."""

    def __init__(self, root: str | os.PathLike[str], storage_options: dict[str, Any] | None = None):
        root = os.fspath(root)
        self.url = root
        self.storage_options = dict(storage_options or {})
        protocol = fsspec.core.split_protocol(root)[0] or "file"
        options = dict(self.storage_options)
        if protocol not in ("file", "local", "memory"):
            options.setdefault("use_listings_cache", False)
        if protocol in ("s3", "s3a"):
            # Reads are small ranges (a footer, a row group): s3fs's 50 MB
            # default read-ahead would fetch whole files for one page.
            options.setdefault("default_block_size", READ_BLOCK_SIZE)
        require_backend(root)
        try:
            self.fs, path = fsspec.core.url_to_fs(root, **options)
        except (ImportError, ValueError) as exc:
            raise StorageError(f"cannot open lake root {root!r}: {exc}") from exc
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.root = path.rstrip("/") if path not in ("/", "") else path
        if self.is_local:
            self.root = os.path.abspath(self.root)
        protocol = self.fs.protocol
        self.protocol = protocol if isinstance(protocol, str) else protocol[0]
        self.is_memory = self.protocol == "memory"
        # s3fs asks for an object's size (a HEAD) before a whole-object read,
        # to split big downloads; the lake's records are small: one GET each.
        self._whole = {"max_concurrency": 1} if self.protocol in ("s3", "s3a") else {}
        self._atomic_create: bool | None = None
        self._probe_lock = threading.Lock()

    # -- paths ---------------------------------------------------------------
    def path(self, rel: str) -> str:
        """The filesystem path of ``rel`` (what ``self.fs`` methods take)."""
        if not rel:
            return self.root
        return f"{self.root}/{rel}" if self.root not in ("", "/") else f"{self.root}{rel}"

    def uri(self, rel: str) -> str:
        """A URL of ``rel`` that other engines (DuckDB, Polars) can open."""
        full = self.path(rel)
        if self.is_local:
            return full
        return f"{self.protocol}://{full.lstrip('/')}" if not self.is_memory else f"memory://{full}"

    def _fresh(self, path: str) -> str:
        """``path`` after dropping any cached listing that could answer for it."""
        if not self.is_local:
            self.fs.invalidate_cache(path)
        return path

    # -- reads ---------------------------------------------------------------
    def read_bytes(self, rel: str) -> bytes:
        if self.is_local:
            with open(self.path(rel), "rb") as fh:
                return fh.read()
        return self.fs.cat_file(self._fresh(self.path(rel)), **self._whole)

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` exists now (asks the store; never a cached listing)."""
        if self.is_local:
            return os.path.exists(self.path(rel))
        path = self._fresh(self.path(rel))
        if self.is_memory:
            return self.fs.exists(path)
        # A one-byte ranged read is one request; ``exists`` on an object store
        # is a HEAD plus, when absent, a listing to rule out a "directory".
        try:
            self.fs.cat_file(path, start=0, end=1)
            return True
        except FileNotFoundError:
            return False
        except OSError:  # e.g. an empty object: the range is not satisfiable
            return self.fs.exists(path)

    def list_names(self, rel: str) -> list[str]:
        """Base names of the entries directly under ``rel`` ([] if it is absent)."""
        if self.is_local:
            try:
                return os.listdir(self.path(rel))
            except (FileNotFoundError, NotADirectoryError):
                return []
        path = self._fresh(self.path(rel))
        try:
            entries = self.fs.ls(path, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        finally:
            self._fresh(path)
        return [e.rstrip("/").rsplit("/", 1)[-1] for e in entries]

    def walk_files(self, rel: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        """Every file below ``rel``: (path relative to the root, fsspec info)."""
        base = self._fresh(self.path(rel))
        try:
            found = self.fs.find(base, detail=True, withdirs=False)
        except FileNotFoundError:
            return
        finally:
            self._fresh(base)
        prefix = self.root.rstrip("/") + "/"
        for full, info in sorted(found.items()):
            if self.is_memory and not full.startswith("/"):
                full = "/" + full
            if full.startswith(prefix):
                yield full[len(prefix):], info

    def size(self, rel: str) -> int:
        if self.is_local:
            return os.path.getsize(self.path(rel))
        return int(self.fs.size(self._fresh(self.path(rel))))

    # -- writes --------------------------------------------------------------
    def makedirs(self, rel: str) -> None:
        if self.is_local:
            os.makedirs(self.path(rel), exist_ok=True)
        elif self.is_memory:
            self.fs.makedirs(self.path(rel), exist_ok=True)

    def _tmp_name(self, parent: str) -> str:
        name = f"{TMP_PREFIX}{uuid.uuid4().hex}"
        return f"{parent}/{name}" if parent else name

    def open_write(self, rel: str) -> AtomicWriteFile:
        """A file for ``rel`` that becomes visible, complete, when its ``with`` block ends.

        Local disk: written to a temporary name, fsynced, renamed. Object
        stores: the upload completes on close (a PUT is atomic); on an error
        the upload is discarded.
        """
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        self.makedirs(parent)
        final = self.path(rel)
        if self.is_local:
            tmp = self.path(self._tmp_name(parent))
            fh = open(tmp, "wb")

            def commit() -> None:
                fh.flush()
                os.fsync(fh.fileno())
                fh.close()
                os.replace(tmp, final)

            def abort() -> None:
                fh.close()
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass

            return AtomicWriteFile(fh, commit, abort)
        raw = self.fs.open(final, "wb", block_size=WRITE_BLOCK_SIZE)

        def abort_remote() -> None:
            discard = getattr(raw, "discard", None)
            if discard is not None:
                discard()
            else:
                raw.close()
                self.remove(rel)

        return AtomicWriteFile(raw, raw.close, abort_remote)

    def _durable_tmp(self, parent: str, data: bytes) -> str:
        """A new temporary file in ``parent`` holding ``data``, fsynced (local disk)."""
        tmp = self.path(self._tmp_name(parent))
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return tmp

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write ``data`` so that readers see either nothing or all of it."""
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        self.makedirs(parent)
        if self.is_local:
            os.replace(self._durable_tmp(parent, data), self.path(rel))
        else:
            self.fs.pipe_file(self.path(rel), data)

    def supports_atomic_create(self) -> bool:
        """Whether this store can create a file only if it is absent (probed once)."""
        if self.is_local or self.is_memory:
            return True
        with self._probe_lock:
            if self._atomic_create is None:
                self._atomic_create = self._probe_atomic_create()
            return self._atomic_create

    def _probe_atomic_create(self) -> bool:
        probe = self.path(self._tmp_name("") + "-atomic-create-probe")
        try:
            self.fs.pipe_file(probe, b"1", mode="create")
        except (ValueError, NotImplementedError, TypeError):
            return False
        try:
            self.fs.pipe_file(probe, b"2", mode="create")
            return False  # the second create overwrote the first: the condition is ignored
        except FileExistsError:
            return True
        except (ValueError, NotImplementedError, TypeError):
            return False
        finally:
            try:
                self.fs.rm_file(probe)
            except FileNotFoundError:
                pass

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Create ``rel`` holding ``data`` unless it exists; True if we created it.

        Local disk: the bytes go to a temporary file which is hard-linked to
        the final name (``link`` fails if the name exists), so the record
        appears complete and at most one writer wins. Memory: a process-wide
        lock. Object stores: a conditional put (``If-None-Match: *``); a store
        that ignores the condition is refused (StorageError), since two
        writers could then both "win" and one version would be lost.
        """
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        self.makedirs(parent)
        if self.is_local:
            tmp = self._durable_tmp(parent, data)
            try:
                os.link(tmp, self.path(rel))
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        if self.is_memory:
            with _memory_create_lock:
                if self.fs.exists(self.path(rel)):
                    return False
                self.fs.pipe_file(self.path(rel), data)
                return True
        if not self.supports_atomic_create():
            raise StorageError(
                f"the {self.protocol!r} store at {self.url!r} cannot create a file only if it is "
                "absent (no conditional put), so concurrent writers could lose a version; "
                "refusing to write"
            )
        for attempt in range(8):
            try:
                self.fs.pipe_file(self.path(rel), data, mode="create")
                return True
            except FileExistsError:
                return False
            except OSError as exc:
                if not _conditional_conflict(exc) or attempt == 7:
                    raise
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        return False  # unreachable

    def move(self, src: str, dst: str) -> None:
        parent = dst.rsplit("/", 1)[0] if "/" in dst else ""
        self.makedirs(parent)
        if self.is_local:
            os.replace(self.path(src), self.path(dst))
        else:
            # One file, so no glob expansion: a server-side copy, then a
            # delete (s3fs: HEAD + COPY + DELETE, where ``mv`` spends ~5 requests).
            self.fs.cp_file(self._fresh(self.path(src)), self.path(dst))
            self.fs.rm_file(self.path(src))

    def remove(self, rel: str) -> None:
        try:
            if self.is_local:
                os.unlink(self.path(rel))
            else:
                self.fs.rm_file(self._fresh(self.path(rel)))
        except FileNotFoundError:
            pass

    def remove_empty_dirs(self, rel: str) -> None:
        """Remove ``rel`` and its parents up to the root while they are empty (local only)."""
        if not self.is_local:
            return
        path = self.path(rel)
        while path.startswith(self.root) and path != self.root:
            try:
                os.rmdir(path)
            except OSError:
                return
            path = os.path.dirname(path)
