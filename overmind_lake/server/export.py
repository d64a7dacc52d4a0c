"""``GET /api/datasets/{id}/export/``: one whole version as a streamed file
(docs/http-export.md).

The request is resolved cheaply (method, dataset, version, ETag, 304); the
body is then produced batch by batch straight from the version's Parquet
files, each batch rendered by Arrow kernels (exportfmt.py) in a worker
thread, so the event loop stays free and memory does not grow with the
version's size: at most one batch is held, and uvicorn's flow control holds
the next one back while the client is slower than the server.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

import pyarrow.parquet as pq
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..schema import DATAPOINT_FIELDS
from ..storage.catalog import CommitRecord
from . import responses as r
from .exportfmt import csv_header, csv_records, jsonl_lines
from .params import _whole_number as whole_number, query_dict

#: Rows read and rendered at a time (a few MB of text for typical rows).
BATCH_ROWS = 16 * 1024
JSONL_TYPE = "application/x-ndjson"
CSV_TYPE = "text/csv; charset=utf-8"
DICTIONARY_FIELDS = ("persona", "source", "agent", "generator_model")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class ExportFormat:
    ext: str
    media_type: str
    header: bytes
    render: Callable


FORMATS = {
    "jsonl": ExportFormat("jsonl", JSONL_TYPE, b"", jsonl_lines),
    "csv": ExportFormat("csv", CSV_TYPE, csv_header(), csv_records),
}


def export_format(value: str | None) -> ExportFormat:
    """``csv`` means CSV; any other value (or none) means JSONL, as the hosted service does."""
    return FORMATS["csv"] if value == "csv" else FORMATS["jsonl"]


def requested_version(query: dict[str, str]) -> str | None:
    """The raw version asked for: ``cell``, else ``version`` (blank values ignored)."""
    return query.get("cell") or query.get("version") or None


def attachment_name(name: str, version: int, ext: str) -> str:
    return f"{_UNSAFE_NAME.sub('_', name)}-{version}.{ext}"


def body_chunks(open_file: Callable, commit: CommitRecord, fmt: ExportFormat,
                batch_rows: int = BATCH_ROWS) -> Iterator[bytes]:
    """The export's bytes, one rendered batch at a time, in storage order."""
    if fmt.header:
        yield fmt.header
    for entry in commit.files:
        if not entry.rows:
            continue
        with open_file(entry) as fh:
            # the columns stored dictionary-encoded stay so: rendered once per distinct value
            reader = pq.ParquetFile(fh, read_dictionary=DICTIONARY_FIELDS)
            for batch in reader.iter_batches(batch_size=batch_rows, columns=list(DATAPOINT_FIELDS),
                                             use_threads=False):
                chunk = fmt.render(batch)
                if chunk:
                    yield chunk


class ExportView:
    """The export endpoint over the server's views (their lake reader and settings)."""

    def __init__(self, views) -> None:
        self.views = views

    async def __call__(self, request: Request) -> Response:
        if self.views.inline:
            return self._respond(request)
        return await run_in_threadpool(self._respond, request)

    def _respond(self, request: Request) -> Response:
        views = self.views
        guard = r.method_guard(request, "Datapoint Export", "One whole version of a dataset as a file.")
        if guard is not None:
            return guard
        record, error = views._dataset(request.path_params["id"])
        if error is not None:
            return error
        query = query_dict(r.query_string(request))
        raw = requested_version(query)
        latest = views.lake.latest_version(record.id)
        version = latest if raw is None else whole_number(raw)
        if version is None or not 1 <= version <= latest:
            return r.detail(r.NOT_FOUND, 404)
        commit = views.lake.commit(uuid.UUID(record.id), version)
        fmt = export_format(query.get("fmt"))
        etag = r.strong_etag("export", record.id, version, commit.checksum, fmt.ext)
        headers = {
            "ETag": etag,
            "Cache-Control": views.immutable if raw is not None else "no-cache",
            "Content-Disposition": f'attachment; filename="{attachment_name(record.name, version, fmt.ext)}"',
            "X-Overmind-Version": str(version),
            "X-Overmind-Cell": str(version),
            "X-Overmind-Fingerprint": commit.checksum,
        }
        if r.if_none_match(request, etag):
            return r.not_modified(headers)
        if request.method == "HEAD":
            return StreamingResponse(iter(()), headers=headers, media_type=fmt.media_type)
        return StreamingResponse(body_chunks(views.lake.open_file, commit, fmt), headers=headers,
                                 media_type=fmt.media_type)
