"""The real server: a uvicorn subprocess on a free loopback port, talked to
with httpx; a version committed while it runs is served on the next request."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import overmind_lake
from conftest import make_rows
from lakehelpers import start_serve, stop

REPO = Path(__file__).resolve().parent.parent
TOKEN = "live-token"


@pytest.fixture
def server(tmp_path):
    lake = overmind_lake.Lake(tmp_path / "lake")
    v = lake.create_dataset("live", make_rows(4))
    proc, base = start_serve(tmp_path / "lake", "--page-size", "3", cwd=tmp_path,
                             env={"OVERMIND_LAKE_TOKEN": TOKEN, "PYTHONPATH": str(REPO)})
    try:
        yield base, lake, v.dataset_id
    finally:
        stop(proc)


def test_real_server_and_live_versions(server):
    base, lake, ds = server
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
        resp = client.get(f"/api/datasets/{ds}/datapoints/")
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/json"
        body = resp.json()
        assert body["count"] == 4 and len(body["results"]) == 3
        assert body["next"] == f"{base}/api/datasets/{ds}/datapoints/?page=2"
        etag = resp.headers["etag"]

        assert httpx.get(f"{base}/api/datasets/", timeout=10).status_code == 401
        bad = client.get(f"/api/datasets/{ds}/datapoints/?source=x&version=y")
        assert (bad.status_code, bad.json()) == (400, {
            "source": ["Select a valid choice. x is not one of the available choices."],
            "version": ["Enter a whole number."]})
        post = client.post(f"/api/datasets/{ds}/datapoints/")
        assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD, OPTIONS")
        assert client.get("/nope").json() == {"detail": "Not found."}

        # another process (here: another Lake object) commits version 2 while the server runs
        lake.add_version(ds, make_rows(7, start=4))
        resp = client.get(f"/api/datasets/{ds}/datapoints/", headers={"If-None-Match": etag})
        assert resp.status_code == 200
        assert resp.json()["count"] == 7 and resp.headers["etag"] != etag
        assert client.get(f"/api/datasets/{ds}/").json()["latest_version"] == 2
        pinned = client.get(f"/api/datasets/{ds}/datapoints/?version=1")
        assert pinned.json()["count"] == 4
        assert pinned.headers["cache-control"] == "private, max-age=31536000, immutable"
