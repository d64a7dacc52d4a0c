"""Hostile requests against a real ``serve`` subprocess, sent as raw bytes
(no client normalises them): path traversal, huge numbers, huge and many
parameters, NUL / invalid UTF-8 / lone surrogates, SQL and DuckDB syntax in
every parameter, and the request size and time limits (docs/security.md).

Every answer is a clear 4xx with a JSON body, or a correct (possibly empty)
page; never a 5xx, a traceback, SQL, or a server path in a body.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import orjson
import pytest

import overmind_lake
from conftest import make_rows
from servehelpers import json_body, raw, parse, request, start_server

AGENT = "0b6f3f8e-7a52-4c43-9b1e-5d2c8e9a1f00"
PARAMS = ("agent", "generator_model", "ordering", "page", "page_size", "source", "version", "version_max",
          "version_min")
SQL = [
    "'; ATTACH '{attach}' AS pwn; --",
    "read_csv('/etc/passwd')",
    "x' OR '1'='1",
    "1; DROP TABLE datapoints; --",
    "$$ || read_text('/etc/passwd') || $$",
    "order) UNION SELECT * FROM read_parquet('/etc/*') --",
    "-- ",
    "order -- ",
    "\"order\"",
    "getenv('HOME')",
    "1::VARCHAR",
    "version, (SELECT 1)",
    "COPY datapoints TO '{attach}'",
]
#: Markers that must never appear in a body: engine errors, SQL, tracebacks, file contents.
LEAKS = re.compile(r"Traceback|File \"|[Dd]uck[Dd][Bb]|Binder Error|Parser Error|Catalog Error|SELECT |FROM "
                   r"|read_parquet|root:x:0|\.py\b|site-packages")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    lake = overmind_lake.Lake(base / "lake")
    ds = lake.create_dataset("hostile", make_rows(30), agent=AGENT)
    lake.add_version(ds.dataset_id, make_rows(12, start=30))
    server = start_server(base / "lake", "--page-size", "10", log_path=base / "serve.log")
    try:
        yield server, lake, str(ds.dataset_id), base
    finally:
        server.stop()


def _scrub(text: str, sent: str | None) -> str:
    """``text`` without the echoes of what the client sent (error messages quote the bad value
    or the bad ``ordering`` fields, as DRF's do)."""
    if not sent:
        return text
    pieces = {sent, sent.strip()} | {t.strip() for t in sent.split(",")} | {t.strip()[1:] for t in sent.split(",")}
    for piece in sorted(pieces, key=len, reverse=True):
        if piece:
            text = text.replace(orjson.dumps(piece).decode()[1:-1], "")
    return text


def _checked(status: int, headers: dict, body: bytes, base, sent: str | None = None) -> object:
    """The decoded JSON body, after the checks every answer must pass."""
    assert status < 500, (status, body[:300])
    assert headers.get("content-type") == "application/json", headers
    text = _scrub(body.decode("utf-8"), sent)  # strict decode: invalid UTF-8 in a body is a failure
    assert not LEAKS.search(text), text[:500]
    assert str(base) not in text and "/tmp/" not in text, text[:500]
    return orjson.loads(body)


def get(env, target: str | bytes, headers: dict | None = None, sent: str | None = None):
    server, _, _, base = env
    status, head, body = request("GET", target, port=server.port, headers=headers)
    return status, _checked(status, head, body, base, sent)


# -- paths ----------------------------------------------------------------------

TRAVERSALS = [
    "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "%2e%2e", "..", "...",
    "..%252F..%252Fetc%252Fpasswd", "%252e%252e%252f", "..\\..\\..\\etc\\passwd", "..%5c..%5cetc%5cpasswd",
    "%c0%ae%c0%ae%c0%af", "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", "%e0%80%ae%e0%80%ae", "%uff0e%uff0e",
    "%00", "x%00y", "%ff", "%ed%a0%80", "%f0%9f%98%80", "%", "%zz", "~root", "${HOME}", "$(id)",
    "dataset_id=..", "'%20OR%20'1'='1", "*", "%2a",
]


@pytest.mark.parametrize("segment", TRAVERSALS)
@pytest.mark.parametrize("template", ["/api/datasets/{s}/", "/api/datasets/{s}/datapoints/",
                                      "/api/datasets/{s}/datapoints/?version=1",
                                      "/api/{s}/datasets/", "/{s}/openapi.json", "/api/datasets/{id}/{s}/",
                                      "/api/datasets/{id}/datapoints/{s}"])
def test_path_traversal_is_a_404(env, template, segment):
    target = template.format(s=segment, id=env[2])
    status, body = get(env, target)
    assert (status, body) == (404, {"detail": "Not found."}), target


@pytest.mark.parametrize("target", [
    "/api/datasets/../healthz", "/api/datasets/{id}/../../datasets/", "/api/datasets/{id}/datapoints/../",
    "/api/datasets/{id}/datapoints/..%2F", "/api/datasets/%2e%2e/{id}/datapoints/", "//api/datasets/",
    "/api/datasets//", "/api/datasets/{id}//datapoints/", "/./api/datasets/", "/api/./datasets/",
])
def test_dot_segments_are_not_resolved(env, target):
    """The path is matched as sent: dot segments never reach another route or a file."""
    status, body = get(env, target.format(id=env[2]))
    assert (status, body) == (404, {"detail": "Not found."}), target


@pytest.mark.parametrize("target", [b"/api/datasets/\xff/", b"/api/datasets/\x00/", b"/api/\xed\xa0\x80/",
                                    b"/api/datasets/ /", b"/api/datasets/\\/", b"/\xc0\xae\xc0\xae/"])
def test_raw_bytes_in_the_path(env, target):
    """Bytes that are not valid in a request line: 400 JSON from the protocol layer, or a 404."""
    server, _, _, base = env
    status, head, body = request("GET", target, port=server.port)
    data = _checked(status, head, body, base)
    assert (status, data) in ((400, {"detail": "Invalid HTTP request received."}), (404, {"detail": "Not found."}))


# -- numbers --------------------------------------------------------------------

@pytest.mark.parametrize("page", [str(10**30), "-0", "0", "-1", "1e3", "0x10", "last ", "LAST", "nan",
                                  "inf", "9" * 5000, "1.0", "1_"])
def test_unusable_pages_are_invalid(env, page):
    status, body = get(env, f"/api/datasets/{env[2]}/datapoints/?page={quote(page)}")
    assert (status, body) == (404, {"detail": "Invalid page."}), page


def test_pages_python_int_accepts(env):
    """As Django's paginator (``int(page)``): surrounding space and other digit scripts are numbers."""
    for page in (" 1", "１", "+1", "0_1"):
        status, body = get(env, f"/api/datasets/{env[2]}/datapoints/?page={quote(page)}")
        assert status == 200 and body["previous"] is None and len(body["results"]) == 10, page


def test_huge_page_size_and_version(env):
    ds = env[2]
    status, body = get(env, f"/api/datasets/{ds}/datapoints/?page_size={10**9}")
    assert (status, body) == (400, {"page_size": ["Ensure this value is less than or equal to 1000."]})
    status, body = get(env, f"/api/datasets/{ds}/datapoints/?page_size=-0")
    assert (status, body) == (400, {"page_size": ["Ensure this value is greater than or equal to 1."]})
    lake = env[1]
    for name in ("version", "version_min", "version_max"):
        for number in (10**30, -10**30, 2**63, -2**63 - 1):
            # beyond int64: no version matches, or the range holds every version; never an overflow
            status, body = get(env, f"/api/datasets/{ds}/datapoints/?{name}={number}")
            assert status == 200, (name, body)
            assert body["count"] == lake.datapoints(ds, **{name: number}).count(), (name, number)
    assert lake.datapoints(ds, version_max=10**30).count() == 42
    assert lake.datapoints(ds, version_min=10**30).count() == 0
    status, body = get(env, f"/api/datasets/?page_size={10**9}")
    assert status == 400 and list(body) == ["page_size"]


# -- size -------------------------------------------------------------------------

@pytest.mark.parametrize("param", PARAMS)
def test_100kb_value_is_a_414(env, param):
    status, body = get(env, f"/api/datasets/{env[2]}/datapoints/?{param}=" + "a" * 100_000)
    assert (status, body) == (414, {"detail": "Request-URI too long."})


def test_100kb_query_string_is_a_414(env):
    query = "&".join(f"p{i}=" + "x" * 90 for i in range(1100))
    status, body = get(env, f"/api/datasets/{env[2]}/datapoints/?{query}")
    assert (status, body) == (414, {"detail": "Request-URI too long."})


@pytest.mark.parametrize("param", PARAMS)
def test_long_value_under_the_limit(env, param):
    """15 kB in one parameter (under the 16 KiB limit): the parameter's own 4xx, or an empty page."""
    value = "7" * 15_000
    status, body = get(env, f"/api/datasets/{env[2]}/datapoints/?{param}={value}", sent=value)
    # 15,000 digits are beyond what Python's int() parses (as in Django): "Enter a whole number."
    expected = {"agent": 400, "generator_model": 200, "ordering": 400, "page": 404, "page_size": 400,
                "source": 400, "version": 400, "version_max": 400, "version_min": 400}[param]
    assert status == expected, (param, body)
    if status == 200:
        assert body["count"] == env[1].datapoints(env[2], generator_model=value).count() == 0
    elif status == 400:
        assert list(body) == [param]


def test_a_thousand_parameters(env):
    ds = env[2]
    query = "&".join(f"x{i}=1" for i in range(1000))
    status, body = get(env, f"/api/datasets/{ds}/datapoints/?{query}")
    assert status == 200 and body["count"] == 12  # unknown parameters are ignored
    repeated = "&".join(["source=nope"] * 999 + ["source=seed"])
    status, body = get(env, f"/api/datasets/{ds}/datapoints/?{repeated}")
    assert status == 200 and body["count"] == env[1].datapoints(ds, source="seed").count()  # last one wins
    status, body = get(env, f"/api/datasets/{ds}/datapoints/?" + "&".join(f"{p}=%00" for p in PARAMS * 100))
    assert status in (400, 404)


# -- bytes and SQL in every parameter ----------------------------------------------

def _expect(param: str, value: str, status: int, body, lake, ds) -> None:
    """The one right answer to ``?param=value`` (decoded as the server decodes it)."""
    stripped = value.strip()
    ignored = value == "" or (param in ("agent", "generator_model", "ordering") and stripped == "")
    if param == "ordering" and all(t.strip() == "" for t in value.split(",")):
        ignored = True  # no field named: the default ordering, as DRF's OrderingFilter
    if ignored:
        assert status == 200 and body["count"] == 12, (param, value, body)
    elif param == "page":
        assert (status, body) == (404, {"detail": "Invalid page."}), (value, body)
    elif param == "generator_model":
        if "\x00" in stripped:
            assert (status, body) == (400, {"generator_model": ["Null characters are not allowed."]})
        else:
            assert status == 200, body
            assert body["count"] == lake.datapoints(ds, generator_model=stripped).count() == 0
    else:
        assert status == 400 and list(body) == [param], (param, value, body)


VALUES = ["\x00", "a\x00b", "\udcff", "\ud800", "\ufffd", "é\x00", "\u202e", "\n\r", "\t", "%00", " "]


@pytest.mark.parametrize("param", PARAMS)
@pytest.mark.parametrize("encoded", ["%00", "a%00b", "%ff", "%ed%a0%80", "%c0%ae", "%fe%ff", "%e2%80%ae",
                                     "%0d%0aX-Injected:%201", "%", "%zz", "+", "%20", "%2B%2B"])
def test_bytes_in_every_parameter(env, param, encoded):
    from urllib.parse import unquote_plus

    server, lake, ds, base = env
    value = unquote_plus(encoded, errors="replace")
    status, body = get(env, f"/api/datasets/{ds}/datapoints/?{param}={encoded}", sent=value)
    _expect(param, value, status, body, lake, ds)


@pytest.mark.parametrize("param", PARAMS)
@pytest.mark.parametrize("fragment", SQL)
def test_sql_in_every_parameter(env, param, fragment):
    server, lake, ds, base = env
    attach = base / f"pwn-{param}.db"
    value = fragment.format(attach=attach)
    status, body = get(env, f"/api/datasets/{ds}/datapoints/?{param}={quote(value, safe='')}", sent=value)
    _expect(param, value, status, body, lake, ds)
    assert not attach.exists()  # nothing built from the input ever ran


def test_sql_in_the_dataset_list_and_detail(env):
    server, lake, ds, base = env
    for fragment in SQL:
        value = quote(fragment.format(attach=base / "pwn.db"), safe="")
        status, body = get(env, f"/api/datasets/?page={value}")
        assert (status, body) == (404, {"detail": "Invalid page."})
        status, body = get(env, f"/api/datasets/?page_size={value}")
        assert status == 400 and list(body) == ["page_size"]
        status, body = get(env, f"/api/datasets/{value}/")
        assert (status, body) == (404, {"detail": "Not found."})
    assert not (base / "pwn.db").exists()


def test_hostile_headers(env):
    """Odd Host / forwarding headers, a huge If-None-Match: links come from Host, no 5xx."""
    server, lake, ds, base = env
    status, body = get(env, f"/api/datasets/{ds}/datapoints/", {"Host": "evil.example:1", "X-Forwarded-Host": "x"})
    assert status == 200 and body["next"].startswith("http://evil.example:1/api/")
    status, body = get(env, f"/api/datasets/{ds}/datapoints/", {"If-None-Match": ", ".join(['"x"'] * 2000)})
    assert status == 200
    status, body = get(env, f"/api/datasets/{ds}/datapoints/", {"Authorization": "Bearer '; ATTACH --"})
    assert status == 200  # no token configured: the header is ignored


# -- limits --------------------------------------------------------------------------

def test_request_target_limit_boundary(env):
    server, _, ds, base = env
    prefix = f"/api/datasets/{ds}/datapoints/?generator_model="
    at_limit = prefix + "m" * (16 * 1024 - len(prefix))
    status, body = get(env, at_limit)
    assert status == 200 and body["count"] == 0
    status, body = get(env, at_limit + "m")
    assert (status, body) == (414, {"detail": "Request-URI too long."})
    assert get(env, "/healthz")[0] == 200  # the server is still there


def test_header_limit(env):
    server, _, ds, base = env
    status, body = get(env, "/healthz", {"X-Pad": "p" * 20_000})
    assert status == 200
    for headers in ({"X-Pad": "p" * 40_000}, {f"X-Pad-{i}": "p" * 100 for i in range(400)},
                    {"X-Pad": "p" * 4_000_000}):
        status, body = get(env, "/healthz", headers)
        assert (status, body) == (431, {"detail": "Request header fields too large."})


def test_garbage_requests_get_json(env):
    server, _, _, base = env
    for data in (b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: -1\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64):
        status, head, body = parse(raw(server.port, data))
        assert (status, json_body(body)) == (400, {"detail": "Invalid HTTP request received."}), data
        assert head["content-type"] == "application/json"


def test_request_time_limit(tmp_path):
    """A request whose response does not start in time: 503 JSON (a tiny limit makes every page late)."""
    lake = overmind_lake.Lake(tmp_path / "lake")
    ds = lake.create_dataset("slow", make_rows(5))
    server = start_server(tmp_path / "lake", "--request-timeout", "0.000001", log_path=tmp_path / "serve.log")
    try:
        status, head, body = request("GET", f"/api/datasets/{ds.dataset_id}/datapoints/", port=server.port)
        assert (status, json_body(body)) == (503, {"detail": "Request timed out."})
        assert head["content-type"] == "application/json"
    finally:
        server.stop()
    assert "Traceback" not in server.log()


def test_limits_hold_in_worker_processes(tmp_path):
    """With --workers, each worker process enforces the same limits (and redacts its access log)."""
    lake = overmind_lake.Lake(tmp_path / "lake")
    lake.create_dataset("workers", make_rows(3))
    server = start_server(tmp_path / "lake", "--workers", "2", "--request-timeout", "0.000001",
                          log_path=tmp_path / "serve.log")
    try:
        for i in range(4):
            status, _, body = request("GET", "/api/datasets/?" + "a" * 17_000, port=server.port)
            assert (status, json_body(body)) == (414, {"detail": "Request-URI too long."})
            status, _, body = request("GET", "/healthz", port=server.port, headers={"X-Pad": "p" * 40_000})
            assert status == 431
            ds = lake.dataset_infos()[0]["id"]
            # a new query each time: a page an abandoned build finished meanwhile is served from the cache
            status, _, body = request("GET", f"/api/datasets/{ds}/datapoints/?token=abc123&n={i}", port=server.port)
            assert (status, json_body(body)) == (503, {"detail": "Request timed out."})
    finally:
        server.stop()
    assert "abc123" not in server.log()
