"""``pull``'s one-request path: a version downloaded through the export route
(``GET {url}/api/datasets/{id}/export/?cell=N``, docs/http-export.md).

The body is streamed to a temporary JSONL file (bounded memory), then read
with the lake's JSONL ingest and its checksum compared with both the
dataset detail's checksum and the ``X-Overmind-Fingerprint`` header before
anything is written. A server whose export route is absent (404, 405) or is
not a mirror of its dataset detail (no fingerprint header, another version,
another content type, other columns — the hosted service's export answers
its own columns) gets :data:`NOT_A_MIRROR`, and ``pull`` walks the pages
instead.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable
from urllib import parse

import httpx

from .schema import DATAPOINT_FIELDS

#: What :func:`download` returns when the remote's export cannot be used.
NOT_A_MIRROR = None
#: Bytes of a first line read before deciding it is not a datapoint line.
FIRST_LINE_LIMIT = 64 << 20


class ExportFailed(Exception):
    """The export was a mirror's but its download failed or was inconsistent (message says why)."""


def export_url(detail_url: str) -> str:
    """The export route beside a dataset detail URL (``…/api/datasets/{id}/``)."""
    return parse.urljoin(detail_url, "export/")


def latest_of(detail: Any) -> dict[str, Any] | None:
    """The detail's latest version when it names a checksum (a mirror can be asked for it)."""
    versions = detail.get("versions") if isinstance(detail, dict) else None
    if not isinstance(versions, list) or not versions or not isinstance(versions[-1], dict):
        return None
    latest = versions[-1]
    version, checksum = latest.get("version"), latest.get("checksum")
    if isinstance(version, bool) or not isinstance(version, int) or not isinstance(checksum, str) or not checksum:
        return None
    return latest


def _is_datapoint_line(line: bytes) -> bool:
    try:
        obj = json.loads(line)
    except ValueError:
        return False
    return isinstance(obj, dict) and list(obj) == list(DATAPOINT_FIELDS)


def download(http: httpx.Client, url: str, latest: dict[str, Any], path: str,
             progress: Callable[[int], None] | None = None) -> bool | None:
    """Stream version ``latest["version"]`` from export ``url`` into the file ``path``.

    True when ``path`` holds the export; :data:`NOT_A_MIRROR` when the route
    cannot be used (the file is then removed). Raises :class:`ExportFailed`
    for a mirror whose fingerprint disagrees with its detail, an error status
    or a cut download.
    """
    version = latest["version"]
    try:
        with http.stream("GET", url, params={"fmt": "jsonl", "cell": str(version)},
                         headers={"Accept": "application/x-ndjson"}) as response:
            if response.status_code in (404, 405):
                return NOT_A_MIRROR
            if response.status_code != 200:
                raise ExportFailed(f"GET {response.url} answered {response.status_code}: "
                                   f"{response.read()[:200].decode('utf-8', 'replace')}")
            headers = response.headers
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            fingerprint = headers.get("x-overmind-fingerprint")
            if (media != "application/x-ndjson" or not fingerprint
                    or headers.get("x-overmind-version", str(version)) != str(version)):
                return NOT_A_MIRROR
            if fingerprint != latest["checksum"]:
                raise ExportFailed(f"GET {response.url}: X-Overmind-Fingerprint {fingerprint} is not the "
                                   f"checksum {latest['checksum']} its dataset detail lists")
            return _save(response, path, progress)
    except httpx.HTTPError as exc:
        raise ExportFailed(f"GET {url} failed: {exc}") from exc


def _save(response: httpx.Response, path: str, progress: Callable[[int], None] | None) -> bool | None:
    """Write the body to ``path``, checking its first line is a datapoint of the nine fields."""
    checked = False
    head = b""
    last = b"\n"
    with open(path, "wb") as out:
        for chunk in response.iter_bytes():
            if not chunk:
                continue
            if progress is not None:
                progress(len(chunk))
            if not checked:
                head += chunk
                if b"\n" not in head and len(head) < FIRST_LINE_LIMIT:
                    continue
                if not _is_datapoint_line(head.split(b"\n", 1)[0]):
                    out.close()
                    os.remove(path)
                    return NOT_A_MIRROR
                checked, chunk, head = True, head, b""
            out.write(chunk)
            last = chunk[-1:]
        if not checked and head:  # a one-line body without its newline
            if not _is_datapoint_line(head):
                out.close()
                os.remove(path)
                return NOT_A_MIRROR
            out.write(head)
            last = head[-1:]
    if last != b"\n":
        raise ExportFailed(f"GET {response.url}: the export does not end with a newline (cut short?)")
    return True
