"""DuckDB connections for reading the lake.

One in-memory database per Lake; every thread gets its own cursor, so
queries from concurrent requests run in parallel without a global lock.
Remote roots are reached through the lake's fsspec filesystem, registered
with DuckDB once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Hashable

import duckdb

from ..duck import quiet

from ..storage.filesystem import LakeFileSystem


class Engine:
    def __init__(self, fs: LakeFileSystem, threads: int | None = None,
                 cache_limit_bytes: int | None = None):
        self.fs = fs
        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        self._con = duckdb.connect(config=config)
        # Parquet footers of committed files never change: keep them parsed.
        self._con.execute("SET parquet_metadata_cache = true").fetchall()
        if not fs.is_local:
            self._con.register_filesystem(fs.fs)
        self._local = threading.local()
        self._cache: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_bytes = 0
        if cache_limit_bytes is None:
            cache_limit_bytes = int(os.environ.get("OVERMIND_LAKE_CACHE_BYTES", 1 << 30))
        self.cache_limit_bytes = cache_limit_bytes

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the shared database."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = quiet(self._con.cursor())
            self._local.cursor = cur
        return cur

    def new_connection(self) -> duckdb.DuckDBPyConnection:
        """A separate connection (for user SQL, whose views must not leak)."""
        con = quiet(duckdb.connect())
        if not self.fs.is_local:
            con.register_filesystem(self.fs.fs)
        return con

    # An LRU, bounded in bytes, for results computed from committed versions
    # only (counts, position arrays): such a value never goes stale.
    def cache_get(self, key: Hashable) -> Any:
        """The cached value of ``key``, or None."""
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is None:
                return None
            self._cache.move_to_end(key)
            return hit[0]

    def cached(self, key: Hashable, compute) -> Any:
        """The cached value of ``key``, computing (and caching) it when absent."""
        hit = self.cache_get(key)
        if hit is not None:
            return hit
        value = compute()
        self.cache_put(key, value)
        return value

    def cache_put(self, key: Hashable, value: Any) -> None:
        size = int(getattr(value, "nbytes", 64)) + 64
        with self._cache_lock:
            if key not in self._cache:
                self._cache[key] = (value, size)
                self._cache_bytes += size
            while self._cache_bytes > self.cache_limit_bytes and len(self._cache) > 1:
                _, (_, evicted) = self._cache.popitem(last=False)
                self._cache_bytes -= evicted

    def close(self) -> None:
        self._con.close()
