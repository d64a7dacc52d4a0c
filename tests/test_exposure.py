"""Authentication and exposure of a real ``serve`` (docs/security.md):

* with ``--token`` every route but ``/healthz`` is closed for every method and
  every credential form that is absent or wrong — the routes are read from
  the app itself, so routes added later are covered too;
* the token is compared in constant time, and appears in no body and no log
  line, even when a client puts it in the query string;
* CORS is off by default, and with ``--cors`` only for those origins and
  only for GET / HEAD / OPTIONS;
* bound beyond loopback without a token, ``serve`` warns on stderr.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import select
import subprocess
import time

import orjson
import pytest
from starlette.routing import Mount

import overmind_lake
from conftest import make_rows
from overmind_lake.server import create_app
from overmind_lake.server.redact import REDACTED, redact_query
from overmind_lake.server.ui import is_ui_path
from servehelpers import request, start_server

TOKEN = "s3cret-Token-9c2e41"
METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "TRACE", "PROPFIND", "QUERY")
#: (a method the HTTP parser does not know, e.g. FOO, is a 400 before any route: see test_hostile)
PUBLIC = {"/healthz"}
#: Viewer paths that must answer without a session and show no data (docs/viewer.md):
#: the login form itself, the logout redirect, static assets (CSS, Swagger UI files) and
#: the redirect of ``/ui`` to ``/ui/``.
VIEWER_OPEN = ("/ui/login", "/ui/logout", "/ui/static/")


def viewer_open(path: str) -> bool:
    return path == "/ui" or path.startswith(VIEWER_OPEN)
DETAILS_401 = {"Authentication credentials were not provided.", "Invalid token.",
               "Invalid token header. No credentials provided.",
               "Invalid token header. Token string should not contain spaces.",
               "Invalid token header. Token string should not contain invalid characters."}
#: Absent or wrong credentials, in every form a client might try.
WRONG = {
    "none": ({}, ""),
    "bearer-wrong": ({"Authorization": "Bearer wrong"}, ""),
    "bearer-bare": ({"Authorization": "Bearer"}, ""),
    "bearer-lower-wrong": ({"Authorization": "bearer wrong"}, ""),
    "bearer-prefix": ({"Authorization": f"Bearer {TOKEN[:-1]}"}, ""),
    "bearer-longer": ({"Authorization": f"Bearer {TOKEN}x"}, ""),
    "bearer-two-words": ({"Authorization": f"Bearer {TOKEN} {TOKEN}"}, ""),
    "bearer-empty-token": ({"Authorization": "Bearer  "}, ""),
    "api-key-wrong": ({"Authorization": "Api-Key wrong"}, ""),
    "x-api-key-wrong": ({"X-Api-Key": "wrong"}, ""),
    "x-api-key-empty": ({"X-Api-Key": ""}, ""),
    "token-scheme": ({"Authorization": f"Token {TOKEN}"}, ""),
    "basic": ({"Authorization": "Basic " + base64.b64encode(f"user:{TOKEN}".encode()).decode()}, ""),
    "query-token": ({}, f"token={TOKEN}"),
    "query-access-token": ({}, f"access_token={TOKEN}"),
    "query-api-key": ({}, f"api_key={TOKEN}"),
    "cookie": ({"Cookie": f"token={TOKEN}; sessionid={TOKEN}"}, ""),
}
#: The right token in each form a client may use; which of them the server accepts is asked of it.
RIGHT = {
    "bearer": {"Authorization": f"Bearer {TOKEN}"},
    "bearer-lower": {"Authorization": f"bearer {TOKEN}"},
    "api-key": {"Authorization": f"Api-Key {TOKEN}"},
    "x-api-key": {"X-Api-Key": TOKEN},
}


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("exposure") / "lake"
    lake = overmind_lake.Lake(root)
    ds = lake.create_dataset("exposed", make_rows(5))
    return root, str(ds.dataset_id)


@pytest.fixture(scope="module")
def closed(lake_root, tmp_path_factory):
    root, ds = lake_root
    server = start_server(root, "--token", TOKEN, log_path=tmp_path_factory.mktemp("closed") / "serve.log")
    try:
        yield server, ds
    finally:
        server.stop()


def app_paths(root, ds: str) -> list[str]:
    """Every path the app routes, with its parameters filled (a dataset id for ``id``)."""
    app = create_app(root, token=TOKEN, warm_up=False)
    paths = []
    for route in app.routes:
        path = route.path + ("/" if isinstance(route, Mount) else "")
        paths.append(re.sub(r"\{(\w+)(:\w+)?\}", lambda m: ds if m.group(1) == "id" else "x", path))
    assert "/api/datasets/{id}/datapoints/".replace("{id}", ds) in paths
    return paths


def _check_401(status, headers, body, method, what, path=""):
    assert status == 401, what
    assert headers.get("www-authenticate") == "Bearer", what
    if method == "HEAD":
        return
    assert TOKEN.encode() not in body
    if is_ui_path(path):  # a page for people: the login form, and no data
        assert headers["content-type"].startswith("text/html"), what
        assert b'name="token"' in body and b"exposed" not in body, what
        return
    assert headers["content-type"] == "application/json", what
    assert orjson.loads(body)["detail"] in DETAILS_401, (what, body)


def test_every_route_closed_for_every_method_and_wrong_credential(closed, lake_root):
    server, ds = closed
    paths = app_paths(lake_root[0], ds)
    checked = 0
    for path in paths:
        for method in METHODS:
            for name, (headers, query) in WRONG.items():
                target = path + ("?" + query if query else "")
                status, head, body = request(method, target, port=server.port, headers=headers)
                what = (method, target, name)
                if path in PUBLIC:
                    assert status == (200 if method in ("GET", "HEAD", "OPTIONS") else 405), what
                elif viewer_open(path):
                    assert status < 500 and b"exposed" not in body and TOKEN.encode() not in body, what
                else:
                    _check_401(status, head, body, method, what, path)
                    checked += 1
    closed_paths = [p for p in paths if p not in PUBLIC and not viewer_open(p)]
    assert checked == len(closed_paths) * len(METHODS) * len(WRONG)


def test_accepted_forms_open_every_route(closed, lake_root):
    server, ds = closed
    accepted = {name for name, headers in RIGHT.items()
                if request("GET", "/openapi.json", port=server.port, headers=headers)[0] == 200}
    assert {"bearer", "bearer-lower"} <= accepted
    for name in RIGHT.keys() - accepted:  # a form the server does not take is a 401, never a way in
        _check_401(*request("GET", "/api/datasets/", port=server.port, headers=RIGHT[name]), "GET", name)
    for path in app_paths(lake_root[0], ds):
        if viewer_open(path):
            continue
        for name in accepted:
            for method in ("GET", "HEAD", "OPTIONS"):
                status, _, body = request(method, path, port=server.port, headers=RIGHT[name])
                assert status in (200, 304) or (status == 404 and path.endswith(("x/", "/x"))), (method, path, name)
                assert TOKEN.encode() not in body
            status, head, _ = request("POST", path, port=server.port, headers=RIGHT[name])
            assert (status, head.get("allow")) == (405, "GET, HEAD, OPTIONS"), (path, name)


def test_token_compared_in_constant_time(lake_root, monkeypatch):
    """Every token check goes through hmac.compare_digest (never ``==`` on the secret)."""
    from starlette.testclient import TestClient

    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    import secrets

    monkeypatch.setattr(hmac, "compare_digest", spy)
    monkeypatch.setattr(secrets, "compare_digest", spy)
    app = create_app(lake_root[0], token=TOKEN, warm_up=False)
    with TestClient(app) as client:
        for headers in (RIGHT["bearer"], {"Authorization": "Bearer nope"}, {"X-Api-Key": "nope"},
                        {"Authorization": "Api-Key nope"}):
            client.get("/api/datasets/", headers=headers)
    secrets_compared = [(a, b) for a, b in calls if TOKEN in (a if isinstance(a, str) else a.decode(errors="replace"))
                        or TOKEN in (b if isinstance(b, str) else b.decode(errors="replace"))]
    # keys are compared as sha256 digests (so not even the length leaks): look for the token's
    digest = hashlib.sha256(TOKEN.encode()).digest()
    secrets_compared += [(a, b) for a, b in calls if digest in (a, b)]
    assert len(secrets_compared) >= 4, calls  # the right key and each wrong form


# -- the token never in a log line --------------------------------------------------

SECRET_PARAMS = ["token", "access_token", "api_key", "apikey", "key", "password", "secret", "auth",
                 "X-Api-Key", "Token", "ACCESS-TOKEN", "client_secret", "refresh_token", "%74oken", "session_key"]


def test_token_redacted_from_the_access_log(lake_root, tmp_path):
    root, ds = lake_root
    server = start_server(root, "--token", TOKEN, log_path=tmp_path / "serve.log")
    try:
        for name in SECRET_PARAMS:
            for target in (f"/api/datasets/?{name}={TOKEN}", f"/api/datasets/{ds}/datapoints/?page=2&{name}={TOKEN}",
                           f"/nope?a=1&{name}={TOKEN}&b=2"):
                request("GET", target, port=server.port)
                request("GET", target, port=server.port, headers=RIGHT["bearer"])
        request("GET", "/api/datasets/", port=server.port, headers={"Authorization": f"Bearer {TOKEN}x"})
    finally:
        server.stop()
    log = server.log()
    assert TOKEN not in log
    assert TOKEN[:8] not in log
    assert log.count(REDACTED) >= len(SECRET_PARAMS) * 6
    assert "page=2" in log and "a=1" in log and "b=2" in log  # other parameters stay readable
    assert '"GET /api/datasets/?token=[redacted] HTTP/1.1" 401' in log


def test_redact_query():
    assert redact_query("/p") == "/p"
    assert redact_query("/p?page=2&token=abc&x=") == "/p?page=2&token=[redacted]&x="
    assert redact_query("/p?Access-Token=a;API_KEY=b&keyboard=c&auth=d") == \
        "/p?Access-Token=[redacted];API_KEY=[redacted]&keyboard=c&auth=[redacted]"
    assert redact_query("/p?%74oken=a&secret") == "/p?%74oken=[redacted]&secret"


# -- CORS -----------------------------------------------------------------------------

ORIGIN, OTHER = "https://app.example", "https://evil.example"


def _cors_headers(headers: dict) -> dict:
    return {k: v for k, v in headers.items() if k.startswith("access-control-")}


def test_cors_off_by_default(closed):
    server, ds = closed
    for method in ("GET", "HEAD", "OPTIONS", "POST"):
        for origin in (ORIGIN, "null", "http://127.0.0.1"):
            for auth in ({}, RIGHT["bearer"]):
                status, head, _ = request(method, f"/api/datasets/{ds}/datapoints/", port=server.port,
                                          headers={"Origin": origin, "Access-Control-Request-Method": "GET", **auth})
                assert not _cors_headers(head), (method, origin, head)
                assert status == (401 if not auth else 200 if method != "POST" else 405)


@pytest.mark.parametrize("token", [None, TOKEN])
def test_cors_for_the_given_origins_only(lake_root, tmp_path, token):
    root, ds = lake_root
    args = ["--cors", ORIGIN, "--cors", "http://localhost:3000"] + (["--token", token] if token else [])
    server = start_server(root, *args, log_path=tmp_path / "serve.log")
    auth = RIGHT["bearer"] if token else {}
    path = f"/api/datasets/{ds}/datapoints/"
    try:
        for origin in (ORIGIN, "http://localhost:3000"):
            for method in ("GET", "HEAD", "OPTIONS"):
                status, head, _ = request(method, path, port=server.port, headers={"Origin": origin, **auth})
                assert status == 200 and head["access-control-allow-origin"] == origin, (method, head)
                assert "Origin" in head["vary"]
                assert "ETag" in head["access-control-expose-headers"]
                assert "access-control-allow-credentials" not in head
            # preflight: answered before authentication (browsers send no credentials on it)
            status, head, body = request("OPTIONS", path, port=server.port, headers={
                "Origin": origin, "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, x-api-key, if-none-match"})
            assert status == 200 and head["access-control-allow-origin"] == origin
            assert head["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                status, head, body = request("OPTIONS", path, port=server.port, headers={
                    "Origin": origin, "Access-Control-Request-Method": method})
                assert (status, orjson.loads(body)) == (403, {"detail": "CORS preflight refused."})
                assert not _cors_headers(head)
                status, head, body = request(method, path, port=server.port, headers={"Origin": origin, **auth})
                assert status == 405 and not _cors_headers(head)
            status, head, _ = request("OPTIONS", path, port=server.port, headers={
                "Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-evil"})
            assert status == 403 and not _cors_headers(head)
        for origin in (OTHER, ORIGIN + ".evil.example", ORIGIN.upper(), "null", ORIGIN.replace("https", "http")):
            for method in ("GET", "OPTIONS"):
                status, head, _ = request(method, path, port=server.port, headers={
                    "Origin": origin, "Access-Control-Request-Method": "GET", **auth})
                assert not _cors_headers(head), (origin, head)
                assert status == 200
        if token:  # without the token, a real request is still refused (and the browser may read why)
            status, head, body = request("GET", path, port=server.port, headers={"Origin": ORIGIN})
            assert status == 401 and head["access-control-allow-origin"] == ORIGIN
    finally:
        server.stop()


def test_create_app_cors(lake_root):
    from starlette.testclient import TestClient

    with TestClient(create_app(lake_root[0], cors=[ORIGIN], warm_up=False)) as client:
        assert client.get("/healthz", headers={"Origin": ORIGIN}).headers["access-control-allow-origin"] == ORIGIN
        assert "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": OTHER}).headers
    with TestClient(create_app(lake_root[0], warm_up=False)) as client:
        assert "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": ORIGIN}).headers


# -- binding ----------------------------------------------------------------------------

def _startup_output(root, tmp_path, *args: str, host: str) -> str:
    """What ``serve`` prints until uvicorn says it is running (then it is stopped; no request is sent)."""
    server = start_server(root, *args, log_path=tmp_path / f"serve-{host}-{len(args)}.log", host=host, wait=False)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            text = server.log()
            if "Uvicorn running on" in text or server.proc.poll() is not None:
                return text
            time.sleep(0.05)
        raise AssertionError("serve did not start: " + server.log())
    finally:
        server.stop()


def test_warning_when_open_to_the_network(lake_root, tmp_path):
    root, _ = lake_root
    text = _startup_output(root, tmp_path, host="0.0.0.0")
    assert "Uvicorn running on http://0.0.0.0:" in text
    assert "WARNING: serving 0.0.0.0 without a token" in text
    assert text.index("WARNING: serving") < text.index("Uvicorn running")


def test_no_warning_with_a_token_or_on_loopback(lake_root, tmp_path):
    root, _ = lake_root
    assert "without a token" not in _startup_output(root, tmp_path, "--token", TOKEN, host="0.0.0.0")
    assert "without a token" not in _startup_output(root, tmp_path, host="127.0.0.1")


def test_loopback_detection():
    from overmind_lake.server import is_loopback, open_bind_warning

    for host in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host) and open_bind_warning(host, None) is None, host
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.com", "10.0.0.1"):
        assert not is_loopback(host) and open_bind_warning(host, None), host
        assert open_bind_warning(host, TOKEN) is None


def test_serve_binds_loopback_by_default():
    from overmind_lake.cli.serve import serve

    host = next(p for p in serve.params if p.name == "host")
    assert host.default == "127.0.0.1"
