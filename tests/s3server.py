"""A local S3 server for tests: moto in server mode on 127.0.0.1, reached over HTTP.

Nothing is patched in-process: the lake talks to the server through s3fs
exactly as it would talk to AWS, with ``endpoint_url`` in storage_options.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterator

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen

    def storage_options(self) -> dict[str, Any]:
        return {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": self.endpoint}}

    def new_root(self, bucket: str = "lake-tests") -> str:
        """A fresh, empty lake root (a new prefix in ``bucket``)."""
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options())
        if not fs.exists(bucket):
            try:
                fs.mkdir(bucket)
            except FileExistsError:
                pass
        return f"s3://{bucket}/{uuid.uuid4().hex}"


def start_server(timeout: float = 30.0) -> S3Server:
    """Start ``python -m moto.server`` on a free loopback port and wait until it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("moto server exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return S3Server(f"http://127.0.0.1:{port}", process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto server did not start")


def stop_server(server: S3Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto S3 server for the whole test session."""
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)
