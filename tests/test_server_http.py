"""The server's HTTP surface in-process: auth, methods, unknown paths, JSON
500s, ETag / Cache-Control / 304, the dataset endpoints and OpenAPI."""

from __future__ import annotations

import os
import uuid

import pytest
from starlette.testclient import TestClient

import overmind_lake
from overmind_lake.server import create_app
from conftest import make_rows

TOKEN = "s3cret-token"
BASE = "http://testserver"
PATHS = ["/api/datasets/", "/api/datasets/{ds}/", "/api/datasets/{ds}/datapoints/", "/healthz",
         "/openapi.json", "/docs", "/api/datasets/{ds}/export/"]


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> overmind_lake.Lake:
    lake = overmind_lake.Lake(tmp_path_factory.mktemp("http") / "lake")
    v = lake.create_dataset("first", make_rows(4), description="the first", message="one")
    lake.add_version(v.dataset_id, make_rows(3, start=4), message="two")
    lake.create_dataset("second", make_rows(2), agent=str(uuid.uuid4()))
    lake.create_dataset("third", [])
    return lake


@pytest.fixture(scope="module")
def ds(lake) -> str:
    return lake.dataset("first").id


@pytest.fixture(scope="module")
def client(lake) -> TestClient:
    return TestClient(create_app(lake))


@pytest.fixture(scope="module")
def secured(lake) -> TestClient:
    return TestClient(create_app(lake, token=TOKEN))


# -- authentication ------------------------------------------------------------

@pytest.mark.parametrize("header,detail", [
    (None, "Authentication credentials were not provided."),
    ("Basic abc", "Authentication credentials were not provided."),
    ("Bearer", "Invalid token header. No credentials provided."),
    ("Bearer a b", "Invalid token header. Token string should not contain spaces."),
    ("Bearer wrong", "Invalid token."),
    (f"Bearer {TOKEN}x", "Invalid token."),
])
def test_auth_401(secured, ds, header, detail):
    headers = {"Authorization": header} if header is not None else {}
    for path in PATHS[:3] + PATHS[4:] + ["/nope"]:
        resp = secured.get(path.format(ds=ds), headers=headers)
        assert resp.status_code == 401, path
        assert resp.json() == {"detail": detail}
        assert resp.headers["www-authenticate"] == "Bearer"
        assert resp.headers["content-type"] == "application/json"


def test_auth_ok(secured, ds):
    for header in (f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER  {TOKEN} "):
        resp = secured.get(f"/api/datasets/{ds}/datapoints/", headers={"Authorization": header})
        assert resp.status_code == 200
    assert secured.get("/healthz").json() == {"status": "ok"}
    assert secured.get("/nope", headers={"Authorization": f"Bearer {TOKEN}"}).json() == {"detail": "Not found."}


def test_pinned_pages_are_private_with_a_token(secured, ds):
    resp = secured.get(f"/api/datasets/{ds}/datapoints/?version=1", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.headers["cache-control"] == "private, max-age=31536000, immutable"


def test_serve_token_falls_back_to_environment(monkeypatch):
    import overmind_lake.server as server
    seen = {}
    monkeypatch.setenv("OVERMIND_LAKE_TOKEN", "from-env")
    monkeypatch.setattr(server, "create_app", lambda *a, **kw: seen.update(kw))
    import uvicorn
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(run=kw))
    server.serve(root="x", port=1)
    assert seen["token"] == "from-env" and seen["run"]["proxy_headers"] is False


# -- methods, unknown paths, errors ------------------------------------------

@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "TRACE", "FOO"])
def test_405_on_every_route(client, ds, method):
    for path in PATHS:
        resp = client.request(method, path.format(ds=ds))
        assert resp.status_code == 405, path
        assert resp.json() == {"detail": f'Method "{method}" not allowed.'}
        assert resp.headers["allow"] == "GET, HEAD, OPTIONS"


def test_options_and_head(client, ds):
    for path in PATHS:
        resp = client.options(path.format(ds=ds))
        assert resp.status_code == 200 and resp.headers["allow"] == "GET, HEAD, OPTIONS"
        assert resp.headers["content-type"] == "application/json"
    assert client.options(f"/api/datasets/{ds}/datapoints/").json() == {
        "name": "Datapoint List", "description": "Datapoints of one dataset, paginated.",
        "renders": ["application/json"], "parses": ["application/json"]}
    resp = client.head(f"/api/datasets/{ds}/datapoints/")
    assert resp.status_code == 200 and resp.content == b"" and "etag" in resp.headers


@pytest.mark.parametrize("path", ["/nope", "/api/datasets", "/api/datasets/x/datapoints",
                                  "/api/datasets/x/y/", "/api/datasets/{ds}/datapoints/extra/",
                                  "/api/datasets/{ds}/datapoints"])
def test_unknown_path_404_json(client, ds, path):
    for method in ("GET", "POST"):
        resp = client.request(method, path.format(ds=ds))
        assert (resp.status_code, resp.json()) == (404, {"detail": "Not found."})
        assert resp.headers["content-type"] == "application/json"


def test_unexpected_error_is_json_500_without_traceback(tmp_path):
    lake = overmind_lake.Lake(tmp_path / "lake")
    v = lake.create_dataset("broken", make_rows(3))
    for dirpath, _, files in os.walk(tmp_path / "lake"):
        for name in files:
            if name.endswith(".parquet"):
                os.remove(os.path.join(dirpath, name))
    client = TestClient(create_app(lake), raise_server_exceptions=False)
    resp = client.get(f"/api/datasets/{v.dataset_id}/datapoints/")
    assert (resp.status_code, resp.json()) == (500, {"detail": "A server error occurred."})
    assert resp.headers["content-type"] == "application/json"


# -- caching -------------------------------------------------------------------

def test_etag_and_304(client, ds):
    path = f"/api/datasets/{ds}/datapoints/?version=1&page_size=2"
    resp = client.get(path)
    etag = resp.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
    again = client.get(path, headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag and again.headers["cache-control"] == resp.headers["cache-control"]
    assert client.get(path, headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304
    assert client.get(path, headers={"If-None-Match": "*"}).status_code == 304
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    # a different page, page size, parameter or host is a different representation
    others = {client.get(p).headers["etag"] for p in (
        path + "&page=2", path.replace("page_size=2", "page_size=3"), path + "&source=seed")}
    others.add(client.get(path, headers={"Host": "elsewhere"}).headers["etag"])
    assert etag not in others and len(others) == 4


def test_cache_control_pinned_only_when_versions_are_committed(client, ds):
    def cc(query: str) -> str:
        return client.get(f"/api/datasets/{ds}/datapoints/?{query}").headers["cache-control"]
    immutable = "public, max-age=31536000, immutable"
    assert cc("version=2") == immutable
    assert cc("version_max=1") == immutable
    assert cc("version_min=1&version_max=2") == immutable
    assert cc("") == "no-cache"
    assert cc("version_min=1") == "no-cache"
    assert cc("version=3") == "no-cache"  # not committed yet: may change
    assert cc("version_max=9") == "no-cache"


def test_new_version_changes_the_latest_etag(tmp_path):
    lake = overmind_lake.Lake(tmp_path / "lake")
    v = lake.create_dataset("live", make_rows(2))
    client = TestClient(create_app(lake))
    path = f"/api/datasets/{v.dataset_id}/datapoints/"
    first = client.get(path)
    pinned = client.get(path + "?version=1")
    other = overmind_lake.Lake(tmp_path / "lake")  # another writer, same root
    other.add_version(v.dataset_id, make_rows(5, start=2))
    resp = client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert resp.status_code == 200 and resp.json()["count"] == 5
    assert resp.headers["etag"] != first.headers["etag"]
    assert client.get(path + "?version=1", headers={"If-None-Match": pinned.headers["etag"]}).status_code == 304


# -- dataset endpoints ---------------------------------------------------------

def test_dataset_list_page(lake, client):
    infos = lake.dataset_infos()
    assert [d["name"] for d in infos] == ["first", "second", "third"]
    resp = client.get("/api/datasets/")
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {"count": 3, "next": None, "previous": None, "results": infos}
    assert list(resp.json()["results"][0]) == ["id", "name", "agent", "description", "created_at",
                                                "latest_version"]
    assert infos[0]["latest_version"] == 2 and infos[0]["description"] == "the first"
    resp = client.get("/api/datasets/?page_size=1&page=2&q=x")
    assert resp.json() == {"count": 3, "next": f"{BASE}/api/datasets/?page=3&page_size=1&q=x",
                           "previous": f"{BASE}/api/datasets/?page_size=1&q=x", "results": [infos[1]]}
    assert client.get("/api/datasets/?page=4&page_size=1").json() == {"detail": "Invalid page."}
    assert client.get("/api/datasets/?page_size=x&page=4").json() == {"page_size": ["A valid integer is required."]}


def test_dataset_detail(lake, client, ds):
    resp = client.get(f"/api/datasets/{ds}/")
    body = resp.json()
    assert body == {**lake.dataset_info(ds), "versions": lake.version_infos(ds)}
    assert list(body) == ["id", "name", "agent", "description", "created_at", "latest_version", "versions"]
    assert [(v["version"], v["message"], v["count"]) for v in body["versions"]] == [(1, "one", 4), (2, "two", 3)]
    assert list(body["versions"][0]) == ["version", "created_at", "message", "parent_version", "count",
                                         "checksum", "source_counts", "generator_models"]
    assert body["versions"][0]["source_counts"] == {"seed": 1, "synthetic": 1, "augmented": 1, "production": 1}
    etag = resp.headers["etag"]
    assert client.get(f"/api/datasets/{ds}/", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/api/datasets/nope/").json() == {"detail": "Not found."}
    assert client.get(f"/api/datasets/{uuid.uuid4()}/").json() == {"detail": "No Dataset matches the given query."}


# -- health and documentation --------------------------------------------------

def test_healthz(client):
    resp = client.get("/healthz")
    assert (resp.status_code, resp.json()) == (200, {"status": "ok"})


def test_openapi_describes_what_is_served(client, secured):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    assert set(spec["paths"]) == {p.replace("{ds}", "{id}") for p in PATHS}
    op = spec["paths"]["/api/datasets/{id}/datapoints/"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert sorted(params) == ["agent", "generator_model", "id", "ordering", "page", "page_size", "source",
                              "version", "version_max", "version_min"]
    # each query parameter: its schema, or a blank value (ignored)
    assert params["source"]["schema"]["anyOf"][0]["enum"] == ["seed", "synthetic", "augmented", "production"]
    assert params["agent"]["schema"]["anyOf"] == [{"type": "string", "format": "uuid"},
                                                  {"type": "string", "pattern": r"^\s*$"}]
    item = spec["components"]["schemas"]["Datapoint"]
    assert list(item["properties"]) == ["id", "expected_output", "input", "order", "persona", "tags"]
    assert item["properties"]["id"]["format"] == "uuid"
    assert item["properties"]["order"] == {"type": "integer", "format": "int64", "minimum": 0,
                                           "maximum": 9223372036854775807}
    assert item["properties"]["persona"]["maxLength"] == 128
    assert "security" not in spec
    secured_spec = secured.get("/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert secured_spec["security"] == [{"apiKey": []}, {"bearer": []}, {"apiKeyAuthorization": []}]
    assert secured_spec["components"]["securitySchemes"] == {
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                   "description": "`X-Api-Key: <key>`; when sent, it alone decides."},
        "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>`."},
        "apiKeyAuthorization": {"type": "apiKey", "in": "header", "name": "Authorization",
                                "description": "`Authorization: Api-Key <key>` (scheme word case-insensitive)."}}
    assert secured_spec["paths"]["/healthz"]["get"]["security"] == []
    docs = client.get("/docs")
    assert docs.headers["content-type"].startswith("text/html")
    assert "/api/datasets/{id}/datapoints/" in docs.text


# -- remote roots and concurrency ------------------------------------------------

def test_remote_root_resolves_in_the_threadpool():
    lake = overmind_lake.Lake(f"memory://server-{uuid.uuid4().hex}")
    v = lake.create_dataset("remote", make_rows(5))
    app = create_app(lake, page_size=2)
    assert app.state.views.inline is False
    client = TestClient(app)
    body = client.get(f"/api/datasets/{v.dataset_id}/datapoints/?page=2").json()
    assert body["count"] == 5 and [r["order"] for r in body["results"]] == [2, 3]
    assert client.get(f"/api/datasets/{uuid.uuid4()}/datapoints/").status_code == 404


def test_busy_page_builders_do_not_block_healthz(lake, ds):
    """/healthz answers on the event loop while every page-build slot is taken."""
    import threading

    app = create_app(lake)
    views = app.state.views
    release = threading.Event()
    build = views._build

    def slow_build(prepared):  # a real build that first waits, like a slow query would
        release.wait(10)
        return build(prepared)

    views._build = slow_build
    with TestClient(app) as client:
        results = []
        threads = [threading.Thread(target=lambda i=i: results.append(
            client.get(f"/api/datasets/{ds}/datapoints/?page_size={i + 1}").status_code))
            for i in range(views.build_threads + 2)]
        for t in threads:
            t.start()
        try:
            import time
            time.sleep(0.3)
            resp = client.get("/healthz", timeout=2)
            assert (resp.status_code, resp.json()) == (200, {"status": "ok"})
            assert results == []  # the page requests are still waiting
        finally:
            release.set()
            for t in threads:
                t.join(10)
    assert results == [200] * len(threads)


def test_views_hold_no_write_method(lake):
    reader = create_app(lake).state.views.lake
    for name in ("create_dataset", "add_version", "derive", "vacuum", "sql", "catalog", "fs", "engine"):
        assert not hasattr(reader, name)
    assert not hasattr(reader, "__dict__")  # no attribute can be added to smuggle one in


# -- warm-up at startup ----------------------------------------------------------

def test_warm_up_reads_the_smallest_committed_dataset(tmp_path):
    lake = overmind_lake.Lake(tmp_path / "lake")
    assert lake.warm_up() is None  # an empty lake: nothing to read
    lake.create_dataset("empty", [])
    assert lake.warm_up() is None  # no datapoint to read either
    lake.create_dataset("big", make_rows(5))
    small = lake.create_dataset("small", make_rows(2)).dataset_id
    with pytest.raises(overmind_lake.ValidationError):
        lake.create_dataset("failed", make_rows(1) + [{"order": -1}])
    assert lake.warm_up() == small
    # the filtered count it ran is cached: the same query is answered without DuckDB
    assert any(key[0] == "positions" for key in lake.engine._cache)


def test_startup_warms_up_and_survives_a_failing_warm_up(tmp_path, caplog):
    lake = overmind_lake.Lake(tmp_path / "lake")
    ds = lake.create_dataset("d", make_rows(3)).dataset_id
    served = overmind_lake.Lake(tmp_path / "lake")
    with TestClient(create_app(served)) as client:  # runs the lifespan
        assert served.engine._cache  # warmed before the first request
        assert client.get(f"/api/datasets/{ds}/datapoints/").json()["count"] == 3
    for path in (tmp_path / "lake").rglob("*.parquet"):
        path.unlink()
    broken = create_app(overmind_lake.Lake(tmp_path / "lake"))
    with TestClient(broken, raise_server_exceptions=False) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get(f"/api/datasets/{ds}/datapoints/").status_code == 500
    assert "warm-up failed" in caplog.text
    served = overmind_lake.Lake(tmp_path / "lake")
    with TestClient(create_app(served, warm_up=False)):
        assert not served.engine._cache
