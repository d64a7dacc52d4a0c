"""``pull``: mirroring a dataset over HTTP, through real servers on 127.0.0.1.

Two servers are used: this project's ``python -m overmind_lake serve`` (a
subprocess), and a small threaded ``http.server`` answering the datapoints
endpoint from a real Lake, which can also fail on purpose mid-pull.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib import parse

import pytest
from click.testing import CliRunner

import overmind_lake
from overmind_lake.cli import cli
from overmind_lake.pull import PullError, endpoints, pull
from lakehelpers import start_serve

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data" / "lake"


class LakeHandler(BaseHTTPRequestHandler):
    lake: overmind_lake.Lake
    detail = True  # answer GET /api/datasets/{id}/
    token: str | None = None
    fail_on: int | None = None  # the n-th datapoints request (1-based) fails
    failure = "500"  # or "drop": close the connection without answering
    requests: list[str]

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if self.token and self.headers.get("Authorization") != f"Bearer {self.token}":
            return self.send(401, b'{"detail":"Authentication credentials were not provided."}')
        if parts[:2] != ["api", "datasets"] or len(parts) not in (3, 4):
            return self.send(404, b'{"detail":"Not found."}')
        if len(parts) == 4 and parts[3] != "datapoints":  # e.g. export/: not served here
            return self.send(404, b'{"detail":"Not found."}')
        if len(parts) == 3:
            if not self.detail:
                return self.send(404, b'{"detail":"Not found."}')
            body = {**self.lake.dataset_info(parts[2]), "versions": self.lake.version_infos(parts[2])}
            return self.send(200, json.dumps(body).encode())
        self.requests.append(self.path)
        if self.fail_on is not None and len(self.requests) >= self.fail_on:
            if self.failure == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            return self.send(500, b'{"detail":"boom"}')
        query = {k: v[-1] for k, v in parse.parse_qs(url.query).items()}
        page, page_size = query.pop("page", 1), int(query.pop("page_size", 100))
        for key in ("version", "version_min", "version_max"):
            if key in query:
                query[key] = int(query[key])
        q = self.lake.datapoints(parts[2], **query)
        self.send(200, q.page_json(page, page_size, base_url=f"http://{self.headers['Host']}{self.path}"))


@pytest.fixture
def http_lake():
    """Start a LakeHandler server over a given lake; yields a factory returning its base URL."""
    servers = []

    def start(lake: overmind_lake.Lake, **attrs) -> tuple[str, type[LakeHandler]]:
        handler = type("Handler", (LakeHandler,), {"lake": lake, "requests": [], **attrs})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}", handler

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def latest(lake: overmind_lake.Lake, name: str) -> dict:
    return lake.version_infos(name)[-1]


def test_endpoints_mapping():
    dp = "https://h.example/api/datasets/abc/datapoints/"
    detail = "https://h.example/api/datasets/abc/"
    assert endpoints("https://h.example", "abc") == (dp, detail)
    assert endpoints("https://h.example/", "abc") == (dp, detail)
    assert endpoints("https://h.example/api", "abc") == (dp, detail)
    assert endpoints(dp, "abc") == (dp, detail)
    assert endpoints("http://h/prefix", "abc")[0] == "http://h/prefix/api/datasets/abc/datapoints/"
    with pytest.raises(PullError):
        endpoints("ftp://h", "abc")


def test_pull_follows_pages_and_recovers_sources_models_agent(tmp_path, http_lake):
    remote = overmind_lake.Lake(BUNDLED)
    url, handler = http_lake(remote)
    local = overmind_lake.Lake(tmp_path / "local")
    remote_id = remote.dataset("customer-support").id
    result = pull(local, url, remote_id, page_size=40)
    assert (result.name, result.version, result.created, result.written) == ("customer-support", 1, True, True)
    assert result.checksum == latest(remote, "customer-support")["checksum"]
    assert local.dataset_info("customer-support")["agent"] == remote.dataset_info("customer-support")["agent"]
    assert latest(local, "customer-support")["message"] == f"pulled from {url}/api/datasets/{remote_id}/datapoints/"
    # 152 rows in pages of 40, then a pass per source (33, 60, 34, 25 rows), per generator model (60, 30)
    # and for the agent (152), all pinned to the remote's latest version
    assert len(handler.requests) == 4 + (1 + 2 + 1 + 1) + (2 + 1) + 4 and all("version=4" in r for r in handler.requests)
    again = pull(local, url, remote_id)
    assert (again.version, again.written) == (1, False)


def test_cli_pull_adds_a_version_only_when_content_changed(tmp_path, http_lake):
    remote = overmind_lake.Lake(tmp_path / "remote")
    remote.create_dataset("r", [{"input": {"n": 2 ** 70}, "persona": "p"}, {"input": None, "tags": [1.5, "x"]}])
    url, _ = http_lake(remote, detail=False)
    remote_id = remote.dataset("r").id
    root = tmp_path / "local"
    first = CliRunner().invoke(cli, ["pull", url, "--dataset", remote_id, "--name", "mirror", "--root", str(root)])
    local = overmind_lake.Lake(root)
    info = latest(local, "mirror")
    assert first.exit_code == 0, first.output
    assert first.stdout == (f"created dataset mirror ({local.dataset('mirror').id}): version 1, 2 datapoints, "
                            f"checksum {info['checksum']}\n")
    assert info["checksum"] == latest(remote, "r")["checksum"]
    assert local.datapoints("mirror").to_polars()["input"][0] == '{"n":1180591620717411303424}'
    same = CliRunner().invoke(cli, ["pull", url, "--dataset", remote_id, "--name", "mirror", "--root", str(root)])
    assert same.stdout == (f"unchanged: mirror ({local.dataset('mirror').id}) version 1 already has these 2 "
                           f"datapoints, checksum {info['checksum']}\n")
    remote.derive("r", add=[{"input": 3}], source="synthetic")
    changed = CliRunner().invoke(cli, ["pull", url, "--dataset", remote_id, "--name", "mirror", "--root", str(root)])
    assert changed.exit_code == 0 and changed.stdout.startswith("added version to mirror (")
    assert latest(local, "mirror")["checksum"] == latest(remote, "r")["checksum"]
    # without the detail endpoint the local dataset is named after the remote id
    by_id = CliRunner().invoke(cli, ["pull", url, "--dataset", remote_id, "--root", str(root)])
    assert by_id.exit_code == 0 and local.dataset(remote_id).name == remote_id


@pytest.mark.parametrize("failure", ["500", "drop"])
def test_a_failure_midway_writes_nothing(tmp_path, http_lake, failure):
    remote = overmind_lake.Lake(BUNDLED)
    url, handler = http_lake(remote, fail_on=3, failure=failure)
    root = tmp_path / "local"
    local = overmind_lake.Lake(root)
    local.create_dataset("travel-booking", [{"input": 1}])
    remote_id = remote.dataset("travel-booking").id
    with pytest.raises(PullError):
        pull(local, url, remote_id, page_size=50)
    assert len(handler.requests) == 3
    assert len(local.version_infos("travel-booking")) == 1
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    result = CliRunner().invoke(cli, ["pull", url, "--dataset", remote_id, "--root", str(root)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: GET http://127.0.0.1:") and result.stderr.count("\n") == 1
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_pull_token(tmp_path, http_lake):
    remote = overmind_lake.Lake(BUNDLED)
    url, _ = http_lake(remote, token="s3cret")
    root = str(tmp_path / "local")
    remote_id = remote.dataset("sql-agent").id
    denied = CliRunner().invoke(cli, ["pull", url, "--dataset", remote_id, "--root", root])
    assert denied.exit_code == 1 and "answered 401" in denied.stderr
    ok = CliRunner().invoke(cli, ["pull", url, "--dataset", remote_id, "--token", "s3cret", "--root", root])
    assert ok.exit_code == 0, ok.output
    assert latest(overmind_lake.Lake(root), "sql-agent")["checksum"] == latest(remote, "sql-agent")["checksum"]


@pytest.mark.skipif(importlib.util.find_spec("overmind_lake.server") is None, reason="server not built yet")
def test_round_trip_through_serve_subprocess(tmp_path):
    remote_root = tmp_path / "remote"
    shutil.copytree(BUNDLED, remote_root)
    proc, url = start_serve(remote_root, env={"OVERMIND_LAKE_TOKEN": "tok"})
    try:
        remote = overmind_lake.Lake(remote_root)
        local_root = tmp_path / "local"
        for name in ("customer-support", "sql-agent", "travel-booking"):
            out = subprocess.run([sys.executable, "-m", "overmind_lake", "pull", url, "--dataset",
                                  remote.dataset(name).id, "--token", "tok", "--root", str(local_root)],
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            assert out.stdout.startswith(f"created dataset {name} (")
        local = overmind_lake.Lake(local_root)
        for name in ("customer-support", "sql-agent", "travel-booking"):
            assert latest(local, name)["checksum"] == latest(remote, name)["checksum"]
        # the server dies: pulling again fails with exit 1 and writes nothing
        proc.terminate()
        proc.wait(timeout=10)
        out = subprocess.run([sys.executable, "-m", "overmind_lake", "pull", url, "--dataset",
                              remote.dataset("sql-agent").id, "--root", str(local_root)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1 and out.stderr.startswith("error: GET ") and "Traceback" not in out.stderr
        assert len(local.version_infos("sql-agent")) == 1
    finally:
        proc.kill()
        proc.wait()
