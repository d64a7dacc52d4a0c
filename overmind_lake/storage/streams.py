"""Small file-object helpers of the storage layer: writers that count (and
hash) what they write, a file that appears only when its write completes, and the
modification time of an fsspec entry."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import IO, Any, Callable


class CountingWriter:
    """A write-only file wrapper that counts the bytes passing through it
    (what ``pyarrow.parquet.ParquetWriter`` needs of a sink)."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self.size = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        self._seen(view)
        self.size += view.nbytes
        self._raw.write(data)
        return view.nbytes

    def _seen(self, view: memoryview) -> None:
        """Hook for subclasses: each written buffer, before it goes to the file."""

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


class HashingWriter(CountingWriter):
    """A write-only file wrapper that counts and hashes what passes through it."""

    def __init__(self, raw: IO[bytes]):
        super().__init__(raw)
        self.sha256 = hashlib.sha256()

    def _seen(self, view: memoryview) -> None:
        self.sha256.update(view)


class AtomicWriteFile:
    """A file that appears under its final name only if the ``with`` body succeeds.

    ``commit`` runs on a clean exit, ``abort`` on an exception: a failed or
    killed write never leaves a half-written file under a data file's name.
    """

    def __init__(self, raw: IO[bytes], commit: Callable[[], None], abort: Callable[[], None]):
        self._raw = raw
        self._commit = commit
        self._abort = abort

    def write(self, data: bytes) -> int:
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()

    def __enter__(self) -> "AtomicWriteFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._commit()
        else:
            self._abort()


def modified_time(info: dict[str, Any]) -> float | None:
    """Last-modified time (epoch seconds) from an fsspec ``info`` dict, if it has one."""
    for key in ("mtime", "LastModified", "last_modified", "updated", "created", "timeCreated"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None
