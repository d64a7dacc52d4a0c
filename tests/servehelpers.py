"""Helpers for the hardening tests: a real ``serve`` subprocess whose stderr
(access log included) goes to a file, and raw HTTP over a socket, so the
request bytes are exactly the test's (no client normalisation)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from lakehelpers import free_port

REPO = Path(__file__).resolve().parent.parent
#: Where the server subprocess imports overmind_lake from: this checkout, or
#: another one (e.g. an unpacked older commit, to see a test fail there).
SERVER_PATH = os.environ.get("OVERMIND_LAKE_TEST_SERVER_PATH") or str(REPO)


@dataclass
class Server:
    """A running ``serve`` subprocess on 127.0.0.1."""

    proc: subprocess.Popen
    port: int
    log_path: Path
    token: str | None = None
    args: tuple[str, ...] = field(default_factory=tuple)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(root: Path, *args: str, log_path: Path, env: dict | None = None,
                 pythonpath: str | os.PathLike[str] = SERVER_PATH, host: str = "127.0.0.1",
                 wait: bool = True) -> Server:
    """``python -m overmind_lake serve`` on a free port; waits until it answers HTTP."""
    port = free_port() if host == "127.0.0.1" else _free_port_any()
    full_env = {**os.environ, "PYTHONPATH": str(pythonpath), **(env or {})}
    if "OVERMIND_LAKE_TOKEN" not in (env or {}):
        full_env.pop("OVERMIND_LAKE_TOKEN", None)
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "overmind_lake", "serve", "--root", str(root),
                             "--host", host, "--port", str(port), *args], env=full_env,
                            cwd=str(log_path.parent), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    server = Server(proc, port, log_path, args=args)
    if not wait:
        return server
    deadline = time.monotonic() + 60
    while True:
        try:
            status, _, _ = request("GET", "/healthz", port=port, timeout=2)
            if status:
                return server
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError("server did not start: " + server.log())
        time.sleep(0.1)


def _free_port_any() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def raw(port: int, data: bytes, timeout: float = 30) -> bytes:
    """Send ``data`` as is on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading it all: read that answer
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def parse(response: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body) of one raw HTTP/1.1 response."""
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[:int(headers["content-length"])]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(body)
    return status, headers, body


def dechunk(data: bytes) -> bytes:
    """The payload of a ``Transfer-Encoding: chunked`` body (streamed responses)."""
    out, pos = [], 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";", 1)[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(data[end + 2:end + 2 + size])
        pos = end + 2 + size + 2


def request(method: str, target: str | bytes, *, port: int, headers: dict[str, str] | None = None,
            timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """One request with the exact request target given (bytes are sent verbatim)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    lines = [method.encode("ascii") + b" " + target + b" HTTP/1.1", b"Connection: close"]
    if not any(name.lower() == "host" for name in headers or {}):
        lines.insert(1, b"Host: 127.0.0.1:%d" % port)
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}".encode("latin-1"))
    return parse(raw(port, b"\r\n".join(lines) + b"\r\n\r\n", timeout))


def json_body(body: bytes):
    return orjson.loads(body)
