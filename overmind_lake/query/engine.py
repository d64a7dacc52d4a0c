"""DuckDB connections for reading the lake.

One in-memory database per Lake; every thread gets its own cursor, so
queries from concurrent requests run in parallel without a global lock.
Remote roots are reached through the lake's fsspec filesystem, registered
with DuckDB once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Hashable

import duckdb

from ..storage.filesystem import LakeFileSystem


class Engine:
    def __init__(self, fs: LakeFileSystem, threads: int | None = None):
        self.fs = fs
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        self._con = duckdb.connect(config=config)
        if not fs.is_local:
            self._con.register_filesystem(fs.fs)
        self._local = threading.local()
        self._cache: OrderedDict[Hashable, Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_size = 4096

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the shared database."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            self._local.cursor = cur
        return cur

    def new_connection(self) -> duckdb.DuckDBPyConnection:
        """A separate connection (for user SQL, whose views must not leak)."""
        con = duckdb.connect()
        if not self.fs.is_local:
            con.register_filesystem(self.fs.fs)
        return con

    # A small LRU for results of immutable inputs (e.g. filtered counts of
    # committed versions): such a value never goes stale.
    def cached(self, key: Hashable, compute) -> Any:
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = compute()
        with self._cache_lock:
            self._cache[key] = value
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    def close(self) -> None:
        self._con.close()
