"""The read-only HTTP server of docs/http.md (Starlette on uvicorn).

``create_app`` builds the ASGI app over a lake; ``serve`` runs it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import sys
from typing import Any, Iterable

from ..schema import DEFAULT_PAGE_SIZE
from .app import CONFIG_ENV, create_app
from .limits import Limits, LimitedHttpToolsProtocol

__all__ = ["create_app", "serve"]

TOKEN_ENV = "OVERMIND_LAKE_TOKEN"

OPEN_WARNING = ("WARNING: serving {host} without a token: anyone who can reach this address can read "
                "every dataset. Pass --token (or set $OVERMIND_LAKE_TOKEN), or bind 127.0.0.1.")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def open_bind_warning(host: str, token: str | None) -> str | None:
    """The warning ``serve`` prints when bound beyond loopback without a token, else None."""
    return None if token or is_loopback(host) else OPEN_WARNING.format(host=host)


def serve(root: str | os.PathLike[str] | None = None, host: str = "127.0.0.1", port: int = 8000,
          page_size: int = DEFAULT_PAGE_SIZE, token: str | None = None, proxy_headers: bool = False,
          workers: int = 1, storage_options: dict[str, Any] | None = None, access_log: bool = True,
          cors: Iterable[str] = (), limits: Limits = Limits()) -> None:
    """Serve the lake at ``root`` until interrupted.

    ``token`` (default ``$OVERMIND_LAKE_TOKEN``; empty means none) requires
    ``Authorization: Bearer <token>`` on every request but ``/healthz``.
    ``proxy_headers`` honours X-Forwarded-Proto / X-Forwarded-Host in links.
    ``workers`` > 1 runs that many processes, each building its app from
    the environment. ``cors``: origins allowed to read from a browser;
    ``limits``: request size and time limits (docs/security.md). Bound to a
    non-loopback address without a token, a warning goes to stderr.
    """
    import uvicorn

    if token is None:
        token = os.environ.get(TOKEN_ENV)
    token = token or None
    cors = tuple(cors)
    warning = open_bind_warning(host, token)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    # uvicorn's own proxy-header handling is off: X-Forwarded-* are the app's
    # business, and only with proxy_headers.
    options: dict[str, Any] = dict(host=host, port=port, proxy_headers=False, server_header=False,
                                   access_log=access_log, log_level="info",
                                   # by name: a worker imports it once started, not while unpickling
                                   http="overmind_lake.server.limits:LimitedHttpToolsProtocol")
    LimitedHttpToolsProtocol.limits = limits
    if workers > 1:
        os.environ[CONFIG_ENV] = json.dumps({
            "root": os.fspath(root) if root is not None else None, "page_size": page_size, "token": token,
            "proxy_headers": proxy_headers, "storage_options": storage_options, "cors": list(cors),
            "limits": dataclasses.asdict(limits),
        })
        uvicorn.run("overmind_lake.server.app:app_from_env", factory=True, workers=workers, **options)
        return
    app = create_app(root, page_size=page_size, token=token, proxy_headers=proxy_headers,
                     storage_options=storage_options, cors=cors, limits=limits)
    uvicorn.run(app, **options)
