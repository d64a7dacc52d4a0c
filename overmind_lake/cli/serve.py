"""``serve``: the read-only HTTP server of docs/http.md."""

from __future__ import annotations

from typing import Any

import click

from ..schema import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from .common import lake_command


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=int, default=8000, show_default=True, help="Port to bind.")
@click.option("--page-size", type=click.IntRange(1, MAX_PAGE_SIZE), default=DEFAULT_PAGE_SIZE, show_default=True,
              help="Default page size of list endpoints.")
@click.option("--token", envvar="OVERMIND_LAKE_TOKEN", default=None,
              help="Require TOKEN as 'X-Api-Key: TOKEN', 'Authorization: Bearer TOKEN' or "
                   "'Authorization: Api-Key TOKEN' (default: $OVERMIND_LAKE_TOKEN).")
@click.option("--proxy-headers", is_flag=True, help="Honour X-Forwarded-Proto / X-Forwarded-Host in links.")
@click.option("--cors", "cors", multiple=True, metavar="ORIGIN",
              help="Allow browser apps on ORIGIN to read (GET/HEAD/OPTIONS); repeatable. Default: no CORS.")
@click.option("--request-timeout", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds a request may take before its response starts (else 503); 0: no limit.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@lake_command
def serve(host: str, port: int, page_size: int, token: str | None, proxy_headers: bool, cors: tuple[str, ...],
          request_timeout: float, workers: int, root: str | None, storage_options: dict[str, Any] | None) -> None:
    """Serve the lake read-only over HTTP (GET /api/datasets/{id}/datapoints/ and more).

    \b
    Example:
      overmind-lake serve --port 8080 --token s3cret
    """
    from ..server import serve as run_server
    from ..server.limits import Limits

    run_server(root=root, host=host, port=port, page_size=page_size, token=token,
               proxy_headers=proxy_headers, workers=workers, storage_options=storage_options,
               cors=cors, limits=Limits(request_timeout=request_timeout or None))
