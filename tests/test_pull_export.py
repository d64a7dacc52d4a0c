"""``pull`` in one request through the export route, against a real ``serve``
subprocess on 127.0.0.1 — directly, or through a small TCP proxy on loopback
that cuts or alters the export's body mid-stream — and its fallback to the
paged walk for servers whose export is absent or not a mirror."""

from __future__ import annotations

import json
import socket
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib import parse

import pytest
from click.testing import CliRunner

import overmind_lake
from conftest import make_rows
from lakehelpers import files_under, snapshot, start_serve, stop
from overmind_lake.cli import cli
from overmind_lake.pull import PullError, pull
from test_export_live import AGENT, EDGE_ROWS
from test_pull import LakeHandler

REPO = Path(__file__).resolve().parent.parent
TOKEN = "pull-key"


class Proxy:
    """A loopback TCP proxy in front of ``serve``. Once a response carrying
    ``x-overmind-fingerprint`` passes, ``mode`` "cut" closes both sockets
    after ``cut_after`` more bytes; "tamper" rewrites ``question`` to
    ``questiom`` in what follows (same length: the framing stays valid)."""

    def __init__(self, port: int, mode: str, cut_after: int = 200_000):
        self.port, self.mode, self.cut_after = port, mode, cut_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.port))
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        seen, passed = b"", None
        try:
            while data := upstream.recv(65536):
                if passed is None:
                    seen += data
                    if b"x-overmind-fingerprint" in seen.lower():
                        passed = 0
                if passed is not None and self.mode == "tamper":
                    data = data.replace(b"question", b"questiom")
                if passed is not None and self.mode == "cut":
                    passed += len(data)
                    if passed > self.cut_after:
                        client.sendall(data[: len(data) - (passed - self.cut_after)])
                        self.cuts += 1
                        break
                client.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    root = tmp_path_factory.mktemp("pull-export") / "remote"
    lake = overmind_lake.Lake(root)
    edge = lake.create_dataset("edge", EDGE_ROWS, agent=AGENT, generator_model="gen-1",
                               description="edge values")
    big = lake.create_dataset("big", make_rows(12_000))
    proc, base = start_serve(root, env={"OVERMIND_LAKE_TOKEN": TOKEN, "PYTHONPATH": str(REPO)})
    try:
        yield base, lake, {"edge": edge.dataset_id, "big": big.dataset_id}
    finally:
        stop(proc)


def _latest(lake: overmind_lake.Lake, name: str) -> dict:
    return lake.version_infos(name)[-1]


@pytest.mark.parametrize("name", ["edge", "big"])
def test_export_and_paged_routes_give_the_same_version(tmp_path, remote, name):
    base, lake, ids = remote
    one = overmind_lake.Lake(tmp_path / "one")
    paged = overmind_lake.Lake(tmp_path / "paged")
    via_export = pull(one, base, ids[name], token=TOKEN)
    via_pages = pull(paged, base, ids[name], token=TOKEN, export=False)
    assert (via_export.route, via_pages.route) == ("export", "pages")
    expected = _latest(lake, name)["checksum"]
    assert via_export.checksum == via_pages.checksum == expected
    assert _latest(one, name)["checksum"] == _latest(paged, name)["checksum"] == expected
    assert one.dataset_info(name)["agent"] == paged.dataset_info(name)["agent"] == lake.dataset_info(name)["agent"]
    assert one.dataset_info(name)["description"] == lake.dataset_info(name)["description"]
    if name == "edge":
        rows = one.datapoints(name).to_polars()
        assert json.loads(rows["input"][0]) == {"big": 2 ** 70, "neg": -(2 ** 63), "just_over": 2 ** 53 + 1}
    again = pull(one, base, ids[name], token=TOKEN)
    assert (again.route, again.written, again.version) == ("export", False, 1)


def test_new_remote_versions_arrive_through_the_export(tmp_path):
    root = tmp_path / "remote"
    lake = overmind_lake.Lake(root)
    ds = lake.create_dataset("grow", make_rows(10)).dataset_id
    proc, base = start_serve(root)
    try:
        local = overmind_lake.Lake(tmp_path / "local")
        assert pull(local, base, ds, name="mirror").version == 1
        lake.derive(ds, add=[{"input": {"n": 2 ** 80}}], remove_ids=[lake.datapoints(ds).to_polars()["id"][0]],
                    source="augmented", generator_model="m2")
        result = pull(local, base, ds, name="mirror")
        assert (result.route, result.written, result.version) == ("export", True, 2)
        assert _latest(local, "mirror")["checksum"] == _latest(lake, "grow")["checksum"]
        out = CliRunner().invoke(cli, ["pull", base, "--dataset", ds, "--name", "mirror", "--root",
                                       str(tmp_path / "local")])
        assert out.exit_code == 0 and out.stdout.startswith("unchanged: mirror (")
    finally:
        stop(proc)


@pytest.mark.parametrize("mode", ["cut", "tamper"])
def test_a_cut_or_altered_download_writes_nothing(tmp_path, remote, mode):
    base, lake, ids = remote
    proxy = Proxy(int(parse.urlsplit(base).port), mode)
    try:
        root = tmp_path / "local"
        local = overmind_lake.Lake(root)
        local.create_dataset("big", make_rows(3))
        before = snapshot(local)
        with pytest.raises(PullError) as err:
            pull(local, proxy.url, ids["big"], token=TOKEN)
        assert ("failed" in str(err.value)) if mode == "cut" else ("checksum" in str(err.value))
        assert snapshot(overmind_lake.Lake(root)) == before
        # a new dataset is not created either
        fresh = tmp_path / "fresh"
        out = CliRunner().invoke(cli, ["pull", proxy.url, "--dataset", ids["big"], "--token", TOKEN,
                                       "--root", str(fresh)])
        assert out.exit_code == 1 and out.stdout == ""
        assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
        assert overmind_lake.Lake(fresh).dataset_infos() == []
        assert not any("version=" in f for f in files_under(fresh))
        if mode == "cut":
            assert proxy.cuts == 2
    finally:
        proxy.close()


class ExportHandler(LakeHandler):
    """The test server of test_pull.py with an export route answering as ``export`` says."""

    export = "404"

    def do_GET(self) -> None:
        url = parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 4 or parts[3] != "export":
            return super().do_GET()
        self.exports.append(self.path)
        if self.export in ("404", "405"):
            return self.send(int(self.export), b'{"detail":"nope"}')
        versions = self.lake.version_infos(parts[2])
        rows = self.lake.datapoints(parts[2]).to_polars()
        if self.export == "other-columns":  # the hosted service's own export: other fields
            lines = [json.dumps({"id": r["id"], "input": r["input"], "metadata": {}}) for r in rows.iter_rows(named=True)]
        else:
            lines = [json.dumps(r) for r in rows.iter_rows(named=True)]
        body = "".join(line + "\n" for line in lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Content-Length", str(len(body)))
        if self.export != "no-fingerprint":
            fingerprint = "0" * 64 if self.export == "wrong-fingerprint" else versions[-1]["checksum"]
            self.send_header("X-Overmind-Fingerprint", fingerprint)
            self.send_header("X-Overmind-Version", str(versions[-1]["version"]))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def export_server():
    servers = []

    def start(lake: overmind_lake.Lake, export: str):
        handler = type("Handler", (ExportHandler,), {"lake": lake, "requests": [], "exports": [], "export": export})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}", handler

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("export", ["404", "405", "other-columns", "no-fingerprint"])
def test_no_usable_export_falls_back_to_the_pages(tmp_path, remote, export_server, export):
    _, lake, ids = remote
    url, handler = export_server(lake, export)
    local = overmind_lake.Lake(tmp_path / "local")
    result = pull(local, url, ids["edge"])
    assert result.route == "pages" and len(handler.exports) == 1 and handler.requests
    assert result.checksum == _latest(lake, "edge")["checksum"]


def test_a_fingerprint_that_disagrees_with_the_detail_is_an_error(tmp_path, remote, export_server):
    _, lake, ids = remote
    url, handler = export_server(lake, "wrong-fingerprint")
    root = tmp_path / "local"
    with pytest.raises(PullError, match="X-Overmind-Fingerprint 0{64} is not the checksum"):
        pull(overmind_lake.Lake(root), url, ids["edge"])
    assert handler.requests == [] and files_under(root) == set()
