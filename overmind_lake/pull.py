"""Mirror a dataset from any server that speaks the datapoints endpoint.

``pull(lake, url, dataset)`` reads ``GET {url}/api/datasets/{dataset}/datapoints/``
page by page, following ``next`` links, and writes what it read as a new
local version when its checksum differs from the latest local version.

The endpoint's items carry six fields (``id, expected_output, input, order,
persona, tags``). The per-row ``source``, ``generator_model`` and ``agent``
are recovered with the endpoint's own filters: one pass per source, one per
generator model and one for the dataset's agent, when the server also
answers ``GET {url}/api/datasets/{dataset}/`` (this project's ``serve`` does)
with the dataset's agent and its latest version's generator models. That
detail also pins every pass to one version, so a version committed on the
server mid-pull cannot mix two versions. Without it (a server that only
serves the datapoints endpoint) generator models and agents take the local
defaults.

Everything is fetched before anything is written: an error at any point
(HTTP status, network, inconsistent pages) raises :class:`PullError` and
leaves the local lake untouched. Pages are parsed with the standard
``json`` module, which keeps integers of any size.

When that detail lists the latest version with its checksum, the version is
first asked for in one request through the export route, which carries all
nine fields (pull_export.py, docs/http-export.md); the paged walk above is
the fallback for a server without that route or whose export is not a
mirror of its detail.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Callable
from urllib import parse

import httpx

from .errors import DatasetNotFound, LakeError
from .ingest.assemble import Assembled, assemble_new
from .lake import Lake
from .pull_export import NOT_A_MIRROR, ExportFailed, download, export_url, latest_of
from .schema import MAX_PAGE_SIZE, SOURCES


class PullError(LakeError):
    """The remote server failed or answered something that is not a consistent dataset."""


@dataclass(frozen=True)
class PullResult:
    dataset_id: str
    name: str
    count: int
    checksum: str
    version: int  # the local version now holding the pulled content
    created: bool  # a new local dataset was created
    written: bool  # a new local version was written (False: content unchanged)
    route: str = "pages"  # how it was read: "export" (one request) or "pages"


def endpoints(url: str, dataset: str) -> tuple[str, str]:
    """(datapoints URL, dataset detail URL) for a server base URL and a remote dataset id.

    ``url`` is the server's base URL (``https://host``, ``https://host/prefix``),
    optionally already ending in ``/api``, or the datapoints URL itself.
    """
    parts = parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PullError(f"not an http(s) URL: {url!r}")
    path = parts.path.rstrip("/")
    quoted = parse.quote(dataset, safe="")
    suffix = f"/api/datasets/{quoted}/datapoints"
    if path.endswith(suffix):
        path = path[: -len(suffix)]
    elif path.endswith("/api"):
        path = path[: -len("/api")]
    base = parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return f"{base}{suffix}/", f"{base}/api/datasets/{quoted}/"


class _Client:
    def __init__(self, token: str | None, timeout: float, progress: Callable[[int], None] | None,
                 page_size: int = MAX_PAGE_SIZE):
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(headers=headers, timeout=timeout, follow_redirects=True)
        self.progress = progress
        self.page_size = page_size

    def get_json(self, url: str, params: dict[str, Any] | None = None, *, allow_404: bool = False) -> Any:
        try:
            response = self.http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise PullError(f"GET {url} failed: {exc}") from exc
        if allow_404 and response.status_code in (404, 405):
            return None
        if response.status_code != 200:
            raise PullError(f"GET {response.url} answered {response.status_code}: {response.text[:200]}")
        try:
            return json.loads(response.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise PullError(f"GET {response.url} did not answer JSON: {exc}") from exc

    def items(self, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a paginated list, following ``next`` until it is null."""
        page = self.get_json(url, {**params, "page_size": self.page_size})
        count, out, seen_urls = _count(page, url), [], set()
        while True:
            results = page.get("results") if isinstance(page, dict) else None
            if not isinstance(results, list):
                raise PullError(f"{url}: a page without a 'results' list")
            out.extend(results)
            if self.progress:
                self.progress(len(results))
            next_url = page.get("next")
            if not next_url:
                break
            next_url = parse.urljoin(url, next_url)
            if next_url in seen_urls or len(out) > count:
                raise PullError(f"{url}: 'next' links do not end (at {next_url})")
            seen_urls.add(next_url)
            page = self.get_json(next_url)
        if len(out) != count:
            raise PullError(f"{url}: expected {count} items but the pages held {len(out)} (data changed?)")
        return out

    def close(self) -> None:
        self.http.close()


def _count(page: Any, url: str) -> int:
    count = page.get("count") if isinstance(page, dict) else None
    if isinstance(count, bool) or not isinstance(count, int):
        raise PullError(f"{url}: not a datapoints page (no integer 'count')")
    return count


def fetch(url: str, dataset: str, *, token: str | None = None, timeout: float = 60.0,
          progress: Callable[[int], None] | None = None, page_size: int = MAX_PAGE_SIZE) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the remote dataset's detail or None, its datapoints as lake rows); writes nothing."""
    datapoints_url, detail_url = endpoints(url, dataset)
    client = _Client(token, timeout, progress, page_size)
    try:
        detail = client.get_json(detail_url, allow_404=True)
        if not (isinstance(detail, dict) and isinstance(detail.get("versions"), list) and detail["versions"]):
            detail = None
        base: dict[str, Any] = {}
        models: list[str] | None = None
        agent = None
        if detail is not None:
            latest = detail["versions"][-1]
            base["version"] = latest["version"]
            models = list(latest.get("generator_models") or [])
            agent = detail.get("agent")
        items = client.items(datapoints_url, base)
        rows: dict[str, dict[str, Any]] = {}
        for item in items:
            if not isinstance(item, dict) or "id" not in item or item["id"] in rows:
                raise PullError(f"{datapoints_url}: an item without an id, or a repeated id")
            rows[item["id"]] = {k: item.get(k) for k in ("id", "input", "expected_output", "order", "persona",
                                                         "tags")}
        _annotate(client, datapoints_url, rows, "source", [(s, {**base, "source": s}) for s in SOURCES],
                  required=True)
        if models is not None:
            _annotate(client, datapoints_url, rows, "generator_model",
                      [(m, {**base, "generator_model": m}) for m in models])
        if detail is not None:
            _annotate(client, datapoints_url, rows, "agent", [(agent, {**base, "agent": agent})] if agent else [])
        return detail, list(rows.values())
    finally:
        client.close()


def _annotate(client: _Client, url: str, rows: dict[str, dict[str, Any]], field: str,
              passes: list[tuple[Any, dict[str, Any]]], *, required: bool = False) -> None:
    """Set ``field`` on every row from filtered passes; rows no pass returns get null."""
    for row in rows.values():
        row[field] = None
    for value, params in passes:
        for item in client.items(url, params):
            row = rows.get(item.get("id")) if isinstance(item, dict) else None
            if row is None or row[field] is not None:
                raise PullError(f"{url}: the {field}={value} pass returned an unknown or repeated id")
            row[field] = value
    if required and any(row[field] is None for row in rows.values()):
        raise PullError(f"{url}: some datapoints are in no {field} pass")


def pull(lake: Lake, url: str, dataset: str, *, token: str | None = None, name: str | None = None,
         timeout: float = 60.0, progress: Callable[[int], None] | None = None,
         page_size: int = MAX_PAGE_SIZE, download_progress: Callable[[int], None] | None = None,
         export: bool = True) -> PullResult:
    """Mirror remote ``dataset`` into the local dataset ``name``.

    ``name`` defaults to the remote dataset's name (from its detail endpoint),
    else to its id. A missing local dataset is created (with the remote agent
    and description); an existing one gets a new version only if the content
    changed. With ``export`` (default) the version is downloaded in one
    request through the export route when the server has one that mirrors
    its detail (``download_progress`` gets the bytes as they arrive), else
    the pages are walked (``progress`` gets the rows).
    """
    if export:
        with tempfile.TemporaryDirectory(prefix="overmind-lake-pull-") as scratch:
            path = os.path.join(scratch, "export.jsonl")
            detail = _export_to(path, url, dataset, token=token, timeout=timeout, progress=download_progress)
            if detail is not None:
                return _store(lake, url, dataset, name, detail, path, expected=latest_of(detail), route="export")
    detail, rows = fetch(url, dataset, token=token, timeout=timeout, progress=progress, page_size=page_size)
    return _store(lake, url, dataset, name, detail, rows)


def _export_to(path: str, url: str, dataset: str, *, token: str | None, timeout: float,
               progress: Callable[[int], None] | None) -> dict[str, Any] | None:
    """The remote detail once its latest version is in the JSONL file ``path``;
    None when the export route cannot be used (the paged walk then runs)."""
    _, detail_url = endpoints(url, dataset)
    client = _Client(token, timeout, None)
    try:
        detail = client.get_json(detail_url, allow_404=True)
        latest = latest_of(detail)
        if latest is None:
            return None
        try:
            saved = download(client.http, export_url(detail_url), latest, path, progress)
        except ExportFailed as exc:
            raise PullError(str(exc)) from None
        return None if saved is NOT_A_MIRROR else detail
    finally:
        client.close()


def _store(lake: Lake, url: str, dataset: str, name: str | None, detail: dict[str, Any] | None,
           rows: Any, *, expected: dict[str, Any] | None = None, route: str = "pages") -> PullResult:
    """Write pulled ``rows`` (dicts, or a JSONL file checked against ``expected``,
    the detail's latest version) as the local dataset's new version, unless unchanged."""
    target = name or (detail or {}).get("name") or dataset
    message = f"pulled from {endpoints(url, dataset)[0]}"
    try:
        record = lake.dataset(target)
    except DatasetNotFound:
        record = None
    checksum = None
    if expected is not None:
        # the downloaded JSONL file, validated once; every line names its
        # source, agent and generator model, so the defaults never apply
        try:
            table, stats = assemble_new(rows, source="seed", agent=None, generator_model=None)
            rows = Assembled(table, stats() if callable(stats) else stats)
        except LakeError as exc:
            raise PullError(f"the export of version {expected['version']} is not a valid version: {exc}") from None
        checksum = rows.stats.checksum
        if checksum != expected["checksum"]:
            raise PullError(f"the export of version {expected['version']} has checksum {checksum}, but the "
                            f"server lists {expected['checksum']} (changed or damaged in transit); nothing written")
    if record is None:
        v = lake.create_dataset(target, rows, agent=(detail or {}).get("agent"),
                                description=(detail or {}).get("description") or "", message=message)
        return PullResult(v.dataset_id, v.name, v.count, v.checksum, v.version, created=True, written=True,
                          route=route)
    latest = lake.version_infos(record.id)[-1]
    if (checksum or _checksum(lake, rows, record.agent)) == latest["checksum"]:
        return PullResult(record.id, record.name, latest["count"], latest["checksum"], latest["version"],
                          created=False, written=False, route=route)
    v = lake.add_version(record.id, rows, message=message)
    return PullResult(v.dataset_id, v.name, v.count, v.checksum, v.version, created=False, written=True,
                      route=route)


def _checksum(lake: Lake, rows: Any, agent: str | None) -> str:
    """The checksum ``rows`` would get as a version of a dataset whose agent is ``agent``."""
    _, stats = assemble_new(rows, source="seed", agent=agent, generator_model=None,
                            storage_options=lake.fs.storage_options)
    stats = stats() if callable(stats) else stats  # the library may compute stats lazily
    return stats.checksum
