"""The endpoints of docs/http.md.

Each endpoint checks, in order: method (405; auth ran before, in the
middleware), dataset (404), query parameters (400, all at once), page (404).

Concurrency: the dataset endpoints are plain functions, which Starlette runs
in its threadpool. The datapoints endpoint resolves a request (metadata,
validation, ETag, 304, cached page) on the event loop when the lake is local
(file stats only) and builds pages in threads; the lake's engine gives every
thread its own DuckDB cursor, so builds run in parallel, without a lock.

Read-only by construction: the views hold a :class:`LakeReader`, which
exposes the lake's read methods and nothing else.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, BinaryIO

import anyio
import anyio.to_thread
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..errors import DatasetNotFound, InvalidPage
from ..lake import Lake
from ..query.listquery import DatapointQuery, ListParams
from ..storage.catalog import CommitRecord, DatasetRecord, FileEntry
from ..query.pagination import num_pages, page_links, resolve_page
from . import responses as r
from .params import BadRequest, parse_datapoint_query, parse_list_query, parse_uuid, query_dict

IMMUTABLE = "max-age=31536000, immutable"


class PageCache:
    """Bytes of datapoint pages keyed by their strong ETag, LRU-bounded in bytes.

    An ETag names the dataset, the resolved versions (with checksums), the
    normalized parameters, the page and the request URL, so a hit is exactly
    the page that would be rebuilt: committed versions never change. The
    version list itself is never cached (it is resolved on every request).
    """

    def __init__(self, limit_bytes: int = 64 << 20):
        self.limit = limit_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: str, body: bytes) -> None:
        if len(body) > self.limit // 4:  # also: a limit of 0 turns the cache off
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = body
            self._bytes += len(body)
            while self._bytes > self.limit:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old)


class LakeReader:
    """The server's only handle on the lake: read methods, no write method."""

    __slots__ = ("_lake",)

    def __init__(self, lake: Lake):
        self._lake = lake

    @property
    def is_local(self) -> bool:
        return self._lake.fs.is_local

    def dataset(self, dataset_id: uuid.UUID) -> DatasetRecord:
        return self._lake.dataset(dataset_id)

    def latest_version(self, dataset_id: str) -> int:
        return self._lake.catalog.latest_version(dataset_id)

    def query(self, record: DatasetRecord, params: ListParams) -> DatapointQuery:
        return self._lake.query(record, params)

    def dataset_infos(self) -> list[dict[str, Any]]:
        return self._lake.dataset_infos()

    def dataset_info(self, dataset_id: uuid.UUID) -> dict[str, Any]:
        return self._lake.dataset_info(dataset_id)

    def version_infos(self, dataset_id: uuid.UUID) -> list[dict[str, Any]]:
        return self._lake.version_infos(dataset_id)

    def commit(self, dataset_id: uuid.UUID, version: int) -> CommitRecord:
        """The commit record of a committed version (the export reads its files)."""
        return self._lake._commit(str(dataset_id), version)

    def open_file(self, entry: FileEntry) -> BinaryIO:
        """A data file of a commit record, opened for reading."""
        fs = self._lake.fs
        path = fs.path(entry.path)
        return open(path, "rb") if fs.is_local else fs.fs.open(path, "rb")


@dataclass(frozen=True)
class _Prepared:
    """A validated datapoints request whose page must be built."""

    query: DatapointQuery
    page: str
    page_size: int
    base_url: str
    etag: str
    headers: dict[str, str]


def _page_key(page: str) -> object:
    try:
        return int(page)
    except ValueError:
        return page


class Views:
    """Endpoint handlers bound to one lake and the server's settings."""

    def __init__(self, lake: Lake, *, page_size: int, token: str | None, proxy_headers: bool,
                 cache_bytes: int | None = None, build_threads: int | None = None):
        self.lake = LakeReader(lake)
        #: metadata reads of a local lake are file stats: cheap enough for the event loop
        self.inline = self.lake.is_local
        self.page_size = page_size
        self.proxy_headers = proxy_headers
        self.immutable = ("private, " if token else "public, ") + IMMUTABLE
        if cache_bytes is None:
            cache_bytes = int(float(os.environ.get("OVERMIND_LAKE_PAGE_CACHE_MB", 64)) * (1 << 20))
        self.cache = PageCache(cache_bytes)
        self.build_threads = build_threads or int(os.environ.get("OVERMIND_LAKE_BUILD_THREADS", 0)) \
            or max(2, os.cpu_count() or 1)
        self._limiter: anyio.CapacityLimiter | None = None
        self.vary = {"Vary": "X-Forwarded-Proto, X-Forwarded-Host"} if proxy_headers else {}

    # -- helpers ---------------------------------------------------------------
    def _builders(self) -> anyio.CapacityLimiter:
        """Page builds run at most ``build_threads`` at a time, first come first
        served (in parallel, each on its own DuckDB cursor): beyond the cores,
        more threads only share the GIL and stretch every request's latency."""
        if self._limiter is None:  # created lazily: it binds to the running event loop
            self._limiter = anyio.CapacityLimiter(self.build_threads)
        return self._limiter

    def _dataset(self, raw_id: str):
        """The dataset record for a path id, or the 404 response."""
        canonical = parse_uuid(raw_id)
        if canonical is None:
            return None, r.detail(r.NOT_FOUND, 404)
        try:
            return self.lake.dataset(uuid.UUID(canonical)), None
        except DatasetNotFound:
            return None, r.detail(r.NO_DATASET, 404)

    # -- endpoints -------------------------------------------------------------
    async def datapoints(self, request: Request) -> Response:
        """``GET /api/datasets/{id}/datapoints/``: a DRF page of datapoints.

        Resolving the request (metadata reads, validation, ETag, 304, cached
        page) is cheap; on a local lake it runs on the event loop. Building a
        page (DuckDB / Arrow) always runs in the threadpool.
        """
        if self.inline:
            prepared = self._prepare(request)
        else:
            prepared = await run_in_threadpool(self._prepare, request)
        if isinstance(prepared, Response):
            return prepared
        # abandoned when the request times out (limits.RequestLimits): the 503 need not wait for it
        return await anyio.to_thread.run_sync(self._build, prepared, limiter=self._builders(),
                                              abandon_on_cancel=True)

    def _prepare(self, request: Request) -> Response | _Prepared:
        guard = r.method_guard(request, "Datapoint List", "Datapoints of one dataset, paginated.")
        if guard is not None:
            return guard
        record, error = self._dataset(request.path_params["id"])
        if error is not None:
            return error
        try:
            params, page = parse_datapoint_query(query_dict(r.query_string(request)), self.page_size)
        except BadRequest as exc:
            return r.json_response(exc.errors, 400)
        latest = self.lake.latest_version(record.id)
        query = self.lake.query(record, params)
        base_url = r.request_url(request, self.proxy_headers)
        etag = r.strong_etag(record.id, [(c.version, c.checksum) for c in query.commits], params,
                             _page_key(page.page), page.page_size, base_url)
        pinned = ((params.version is not None and params.version <= latest)
                  or (params.version_max is not None and params.version_max <= latest))
        headers = {"ETag": etag, "Cache-Control": self.immutable if pinned else "no-cache", **self.vary}
        if r.if_none_match(request, etag):
            return r.not_modified(headers)
        body = self.cache.get(etag)
        if body is not None:
            return r.json_response(body, 200, headers)
        return _Prepared(query, page.page, page.page_size, base_url, etag, headers)

    def _build(self, p: _Prepared) -> Response:
        try:
            body = p.query.page_json(p.page, p.page_size, p.base_url)
        except InvalidPage:
            return r.detail(r.INVALID_PAGE, 404)
        self.cache.put(p.etag, body)
        return r.json_response(body, 200, p.headers)

    def dataset_list(self, request: Request) -> Response:
        """``GET /api/datasets/``: a DRF page of dataset objects."""
        guard = r.method_guard(request, "Dataset List", "Every dataset of the lake, paginated.")
        if guard is not None:
            return guard
        try:
            page = parse_list_query(query_dict(r.query_string(request)), self.page_size)
        except BadRequest as exc:
            return r.json_response(exc.errors, 400)
        infos = self.lake.dataset_infos()
        try:
            number = resolve_page(page.page, len(infos), page.page_size)
        except InvalidPage:
            return r.detail(r.INVALID_PAGE, 404)
        last = num_pages(len(infos), page.page_size)
        next_link, previous = page_links(r.request_url(request, self.proxy_headers), number, last)
        start = (number - 1) * page.page_size
        body = orjson.dumps({"count": len(infos), "next": next_link, "previous": previous,
                             "results": infos[start:start + page.page_size]})
        return r.cached_json(request, body, self.vary.items())

    def dataset_detail(self, request: Request) -> Response:
        """``GET /api/datasets/{id}/``: the dataset object plus its ``versions``."""
        guard = r.method_guard(request, "Dataset Instance", "One dataset and its versions.")
        if guard is not None:
            return guard
        record, error = self._dataset(request.path_params["id"])
        if error is not None:
            return error
        info = self.lake.dataset_info(uuid.UUID(record.id))
        versions = self.lake.version_infos(uuid.UUID(record.id))
        if versions:  # a version committed between the two reads: stay consistent
            info["latest_version"] = max(info["latest_version"], versions[-1]["version"])
        body = orjson.dumps({**info, "versions": versions})
        return r.cached_json(request, body)
