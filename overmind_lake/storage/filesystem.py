"""The lake's view of its root: an fsspec filesystem plus the few primitives
the commit protocol needs (atomic replace, exclusive create).

Everything above this module speaks in paths relative to the lake root.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from typing import IO, Any, Iterator

import fsspec
from fsspec.implementations.local import LocalFileSystem

from ..errors import StorageError

_memory_create_lock = threading.Lock()


class HashingWriter:
    """A write-only file wrapper that counts and hashes what passes through it."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self.size += view.nbytes
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()

    def tell(self) -> int:
        return self.size

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


class LakeFileSystem:
    """A lake root (local path or fsspec URL) and operations relative to it."""

    def __init__(self, root: str | os.PathLike[str], storage_options: dict[str, Any] | None = None):
        root = os.fspath(root)
        self.url = root
        self.storage_options = dict(storage_options or {})
        try:
            self.fs, path = fsspec.core.url_to_fs(root, **self.storage_options)
        except (ImportError, ValueError) as exc:
            raise StorageError(f"cannot open lake root {root!r}: {exc}") from exc
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.root = path.rstrip("/") if path not in ("/", "") else path
        if self.is_local:
            self.root = os.path.abspath(self.root)
        protocol = self.fs.protocol
        self.protocol = protocol if isinstance(protocol, str) else protocol[0]
        self.is_memory = self.protocol == "memory"

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

    # -- reads ---------------------------------------------------------------
    def read_bytes(self, rel: str) -> bytes:
        if self.is_local:
            with open(self.path(rel), "rb") as fh:
                return fh.read()
        return self.fs.cat_file(self.path(rel))

    def exists(self, rel: str) -> bool:
        if self.is_local:
            return os.path.exists(self.path(rel))
        return self.fs.exists(self.path(rel))

    def list_names(self, rel: str) -> list[str]:
        """Base names of the entries directly under ``rel`` ([] if it is absent)."""
        if self.is_local:
            try:
                return os.listdir(self.path(rel))
            except (FileNotFoundError, NotADirectoryError):
                return []
        try:
            entries = self.fs.ls(self.path(rel), detail=False, refresh=True)
        except FileNotFoundError:
            return []
        return [e.rstrip("/").rsplit("/", 1)[-1] for e in entries]

    def walk_files(self, rel: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
        """Every file below ``rel``: (path relative to the root, fsspec info)."""
        base = self.path(rel)
        try:
            found = self.fs.find(base, detail=True, withdirs=False)
        except FileNotFoundError:
            return
        prefix = self.root.rstrip("/") + "/"
        for full, info in found.items():
            full = full if self.is_local or not full.startswith(f"{self.protocol}://") else full
            if self.is_memory and not full.startswith("/"):
                full = "/" + full
            rel_path = full[len(prefix):] if full.startswith(prefix) else full
            yield rel_path, info

    def size(self, rel: str) -> int:
        if self.is_local:
            return os.path.getsize(self.path(rel))
        return int(self.fs.size(self.path(rel)))

    # -- writes --------------------------------------------------------------
    def makedirs(self, rel: str) -> None:
        if self.is_local:
            os.makedirs(self.path(rel), exist_ok=True)
        elif self.is_memory:
            self.fs.makedirs(self.path(rel), exist_ok=True)

    def open_write(self, rel: str) -> IO[bytes]:
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        self.makedirs(parent)
        return self.fs.open(self.path(rel), "wb")

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write ``data`` so that readers see either nothing or all of it."""
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        self.makedirs(parent)
        if self.is_local:
            tmp = self.path(f"{parent}/.tmp-{uuid.uuid4().hex}" if parent else f".tmp-{uuid.uuid4().hex}")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path(rel))
        else:
            self.fs.pipe_file(self.path(rel), data)

    def create_exclusive(self, rel: str, data: bytes) -> bool:
        """Create ``rel`` holding ``data`` unless it exists; True if we created it.

        Local disk: the bytes go to a temporary file which is hard-linked to
        the final name (``link`` fails if the name exists), so the record
        appears complete and at most one writer wins. Object stores: a
        conditional put (``If-None-Match: *``) where the filesystem supports
        exclusive mode.
        """
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        self.makedirs(parent)
        if self.is_local:
            tmp = self.path(f"{parent}/.tmp-{uuid.uuid4().hex}" if parent else f".tmp-{uuid.uuid4().hex}")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
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
        try:
            with self.fs.open(self.path(rel), "xb") as fh:
                fh.write(data)
            return True
        except FileExistsError:
            return False
        except (ValueError, NotImplementedError) as exc:
            raise StorageError(
                f"the {self.protocol!r} filesystem cannot create files exclusively, "
                "so concurrent writers could lose a version; refusing to write"
            ) from exc

    def move(self, src: str, dst: str) -> None:
        parent = dst.rsplit("/", 1)[0] if "/" in dst else ""
        self.makedirs(parent)
        if self.is_local:
            os.replace(self.path(src), self.path(dst))
        else:
            self.fs.mv(self.path(src), self.path(dst))

    def remove(self, rel: str) -> None:
        try:
            if self.is_local:
                os.unlink(self.path(rel))
            else:
                self.fs.rm_file(self.path(rel))
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
