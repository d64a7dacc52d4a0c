"""The export route and the API-key forms, against a real ``serve`` subprocess
on 127.0.0.1 (docs/http-export.md)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest

import overmind_lake
from conftest import make_rows
from lakehelpers import start_serve, stop

REPO = Path(__file__).resolve().parent.parent
TOKEN = "s3cret-Key_1"
FIELDS = ["id", "input", "expected_output", "order", "persona", "tags", "source", "agent", "generator_model"]
JSON_FIELDS = ("input", "expected_output", "tags")
AGENT = "6f1c2a9e-0d3b-4c1a-9b7e-2f4d5a6b7c8d"

#: The lossless edge values, one datapoint each.
EDGE_ROWS = [
    {"input": {"big": 2 ** 70, "neg": -(2 ** 63), "just_over": 2 ** 53 + 1}, "expected_output": 2 ** 64},
    {"input": {"z": 1, "a": 2, "m": {"y": [3, {"b": 1, "a": 0}]}}, "tags": {"b": None, "a": []}},
    {"input": "日本語 é ü 🎉 \u2028", "persona": "Zoë — ünïcode 🎉", "generator_model": "модель"},
    {"input": {"present_null": None}, "expected_output": {}, "tags": None},
    {"input": {}, "persona": None, "agent": None},
    {"input": "0123", "expected_output": "1e5", "tags": ["true", "null", "12.50", "-0"], "persona": "007"},
    {"input": [], "expected_output": "", "tags": {}, "persona": "  padded  "},
    {"input": None, "expected_output": [[], {}, [[]]], "persona": 'comma, "quote"\nnewline\r\tand \x01',
     "generator_model": 'back\\slash "q"'},
    {"input": 1.5, "expected_output": True, "tags": False, "persona": "", "source": "production"},
    {"input": {"s": "line\nbreak, \"quoted\" \\ \u0000"}, "order": 9_223_372_036_854_775_807},
]


def _decoded(value):
    return None if value is None else json.loads(value)


def _canonical(value) -> str:
    """A JSON value's text with key order kept (dict == ignores order; this does not)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def lake_rows(lake: overmind_lake.Lake, dataset: str, version: int) -> list[dict]:
    """The version's rows in storage order, JSON fields decoded (None = null)."""
    frame = lake.datapoints(dataset, version=version).to_polars()
    out = []
    for row in frame.select(FIELDS).iter_rows(named=True):
        out.append({k: (_decoded(v) if k in JSON_FIELDS else v) for k, v in row.items()})
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("export") / "lake"
    lake = overmind_lake.Lake(root)
    edge = lake.create_dataset("edge cases/ü?", EDGE_ROWS, agent=AGENT, generator_model="gen-1")
    lake.add_version(edge.dataset_id, make_rows(5))
    big = lake.create_dataset("big", make_rows(20_000))  # several batches of the stream
    empty = lake.create_dataset("empty", [])
    proc, base = start_serve(root, env={"OVERMIND_LAKE_TOKEN": TOKEN, "PYTHONPATH": str(REPO)})
    try:
        yield base, lake, {"edge": edge.dataset_id, "big": big.dataset_id, "empty": empty.dataset_id}
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def bare(served):
    """A client sending no key of its own."""
    with httpx.Client(base_url=served[0], timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def client(served):
    base, _, _ = served
    with httpx.Client(base_url=base, headers={"X-Api-Key": TOKEN}, timeout=30) as c:
        yield c


# -- authentication ------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"X-Api-Key": TOKEN}, {"x-api-key": TOKEN},
    {"Authorization": f"Bearer {TOKEN}"}, {"Authorization": f"bEaReR {TOKEN}"},
    {"Authorization": f"Api-Key {TOKEN}"}, {"Authorization": f"api-key {TOKEN}"}, {"Authorization": f"API-KEY {TOKEN}"},
    # X-Api-Key, when sent, decides alone: a wrong Authorization beside a right key is not looked at
    {"X-Api-Key": TOKEN, "Authorization": "Bearer wrong"},
    # a blank X-Api-Key counts as not sent
    {"X-Api-Key": "", "Authorization": f"Bearer {TOKEN}"},
])
def test_each_key_form_is_admitted(served, bare, headers):
    _, _, ids = served
    for path in ("/api/datasets/", f"/api/datasets/{ids['edge']}/", f"/api/datasets/{ids['edge']}/datapoints/",
                 f"/api/datasets/{ids['edge']}/export/", "/openapi.json"):
        resp = bare.get(path, headers=headers)
        assert resp.status_code == 200, (path, resp.text)


@pytest.mark.parametrize("headers,detail", [
    ({}, "Authentication credentials were not provided."),
    ({"Authorization": f"Basic {TOKEN}"}, "Authentication credentials were not provided."),
    ({"X-Api-Key": "wrong"}, "Invalid token."),
    ({"X-Api-Key": TOKEN + "x"}, "Invalid token."),
    ({"X-Api-Key": TOKEN[:-1]}, "Invalid token."),
    ({"Authorization": "Bearer wrong"}, "Invalid token."),
    ({"Authorization": f"Api-Key {TOKEN.upper()}"}, "Invalid token."),
    ({"Authorization": "api-key wrong"}, "Invalid token."),
    ({"X-Api-Key": "wrong", "Authorization": f"Bearer {TOKEN}"}, "Invalid token."),
    ({"Authorization": "Bearer"}, "Invalid token header. No credentials provided."),
    ({"Authorization": "Api-Key"}, "Invalid token header. No credentials provided."),
    ({"Authorization": f"Bearer {TOKEN} extra"}, "Invalid token header. Token string should not contain spaces."),
])
def test_wrong_or_missing_keys_are_refused(served, bare, headers, detail):
    _, _, ids = served
    for path in ("/api/datasets/", f"/api/datasets/{ids['edge']}/export/", f"/api/datasets/{ids['edge']}/export/?fmt=csv",
                 "/nope"):
        resp = bare.get(path, headers=headers)
        assert (resp.status_code, resp.json()) == (401, {"detail": detail}), path
        assert resp.headers["www-authenticate"] == "Bearer"
        assert resp.headers["content-type"] == "application/json"
    assert bare.post(f"/api/datasets/{ids['edge']}/export/", headers=headers).status_code == 401
    assert bare.get("/healthz", headers=headers).json() == {"status": "ok"}


# -- the export: content ---------------------------------------------------------

def test_jsonl_export_is_exactly_the_lakes_rows(served, client):
    _, lake, ids = served
    resp = client.get(f"/api/datasets/{ids['edge']}/export/?cell=1")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/x-ndjson"
    body = resp.content
    assert body.endswith(b"\n") and body.count(b"\n") == len(EDGE_ROWS)
    lines = [json.loads(line) for line in body.decode("utf-8").split("\n")[:-1]]
    expected = lake_rows(lake, ids["edge"], 1)
    assert [list(line) for line in lines] == [FIELDS] * len(EDGE_ROWS)  # all nine keys, in this order
    assert lines == expected
    for line, row in zip(lines, expected):  # key order inside the JSON values too
        for field in JSON_FIELDS:
            assert _canonical(line[field]) == _canonical(row[field])
    by_order = {line["order"]: line for line in lines}
    assert by_order[0]["input"]["big"] == 2 ** 70 and by_order[0]["expected_output"] == 2 ** 64
    assert list(by_order[1]["input"]) == ["z", "a", "m"] and list(by_order[1]["input"]["m"]["y"][1]) == ["b", "a"]
    assert by_order[3]["input"] == {"present_null": None} and by_order[3]["tags"] is None
    assert by_order[4]["tags"] is None and "tags" in by_order[4]  # absent: stored and exported as null
    assert by_order[5]["input"] == "0123" and by_order[5]["tags"] == ["true", "null", "12.50", "-0"]
    assert by_order[6]["expected_output"] == "" and by_order[6]["input"] == []
    assert by_order[7]["persona"] == 'comma, "quote"\nnewline\r\tand \x01'
    assert by_order[8]["persona"] == "" and by_order[8]["source"] == "production"
    assert by_order[9_223_372_036_854_775_807]["input"]["s"] == "line\nbreak, \"quoted\" \\ \u0000"
    assert by_order[0]["agent"] == AGENT and by_order[2]["generator_model"] == "модель"
    assert by_order[0]["generator_model"] == "gen-1" and by_order[4]["agent"] is None


def _csv_rows(text: str) -> tuple[list[str], list[dict]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header, *records = list(reader)
    out = []
    for record in records:
        row = dict(zip(header, record))
        out.append({k: (_decoded(v or None) if k in JSON_FIELDS else int(v) if k == "order" else (v or None))
                    for k, v in row.items()})
    return header, out


def test_csv_export_parses_back_to_the_lakes_rows(served, client):
    _, lake, ids = served
    resp = client.get(f"/api/datasets/{ids['edge']}/export/", params={"fmt": "csv", "version": "1"})
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert resp.content.startswith(b"id,input,expected_output,order,persona,tags,source,agent,generator_model\r\n")
    assert resp.content.endswith(b"\r\n")
    header, rows = _csv_rows(resp.content.decode("utf-8"))
    assert header == FIELDS
    # CSV cannot tell null from "" in a text column: the empty persona reads back as None
    expected = [{**row, "persona": row["persona"] or None} for row in lake_rows(lake, ids["edge"], 1)]
    assert rows == expected
    for got, row in zip(rows, expected):
        for field in JSON_FIELDS:
            assert _canonical(got[field]) == _canonical(row[field])
    # a JSON value that is the empty string is not an empty cell: it is the JSON text ""
    assert '""""' in resp.text


def test_many_batches_keep_storage_order(served, client):
    _, lake, ids = served
    jsonl = client.get(f"/api/datasets/{ids['big']}/export/")
    lines = jsonl.content.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 20_001
    frame = lake.datapoints(ids["big"]).to_polars()
    assert [json.loads(line)["id"] for line in lines[:-1]] == frame["id"].to_list()
    csv_resp = client.get(f"/api/datasets/{ids['big']}/export/?fmt=csv")
    _, rows = _csv_rows(csv_resp.text)
    assert [r["id"] for r in rows] == frame["id"].to_list() and rows[123]["input"] == json.loads(frame["input"][123])


def test_empty_version(served, client):
    _, _, ids = served
    resp = client.get(f"/api/datasets/{ids['empty']}/export/")
    assert (resp.status_code, resp.content) == (200, b"")
    resp = client.get(f"/api/datasets/{ids['empty']}/export/?fmt=csv")
    assert resp.content == b"id,input,expected_output,order,persona,tags,source,agent,generator_model\r\n"


# -- the export: headers, versions, caching --------------------------------------

def test_headers_fingerprint_and_version_choice(served, client):
    _, lake, ids = served
    ds = ids["edge"]
    infos = lake.version_infos(ds)
    latest = client.get(f"/api/datasets/{ds}/export/")
    assert latest.headers["x-overmind-version"] == latest.headers["x-overmind-cell"] == "2"
    assert latest.headers["x-overmind-fingerprint"] == infos[1]["checksum"]
    assert latest.headers["content-disposition"] == 'attachment; filename="edge_cases___-2.jsonl"'
    assert latest.headers["cache-control"] == "no-cache"
    etag = latest.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert latest.content.count(b"\n") == 5
    for query, version in (("cell=1", 1), ("cell=1.0", 1), ("version=1", 1), ("cell=1&version=2", 1),
                           ("version=1&cell=2", 2), ("cell=&version=1", 1), ("cell=2.00", 2)):
        resp = client.get(f"/api/datasets/{ds}/export/?{query}")
        assert resp.status_code == 200, query
        assert resp.headers["x-overmind-version"] == str(version), query
        assert resp.headers["x-overmind-fingerprint"] == infos[version - 1]["checksum"]
        assert resp.headers["cache-control"] == "private, max-age=31536000, immutable"
    csv_resp = client.get(f"/api/datasets/{ds}/export/?fmt=csv&cell=1")
    assert csv_resp.headers["content-disposition"] == 'attachment; filename="edge_cases___-1.csv"'
    for other in ("xml", "JSONL", "CSV", ""):  # anything but "csv" means JSONL
        resp = client.get(f"/api/datasets/{ds}/export/?fmt={other}&cell=1")
        assert resp.headers["content-type"] == "application/x-ndjson", other
    etags = {client.get(f"/api/datasets/{ds}/export/?{q}").headers["etag"]
             for q in ("cell=1", "cell=2", "cell=1&fmt=csv", "cell=2&fmt=csv")}
    assert len(etags) == 4 and etag in etags


def test_304_and_head(served, client):
    _, _, ids = served
    url = f"/api/datasets/{ids['edge']}/export/?cell=1"
    first = client.get(url)
    etag = first.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == etag and again.headers["x-overmind-fingerprint"] == first.headers["x-overmind-fingerprint"]
    assert client.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get(url + "&fmt=csv", headers={"If-None-Match": etag}).status_code == 200
    head = client.head(url)
    assert (head.status_code, head.content) == (200, b"")
    for name in ("etag", "content-type", "content-disposition", "x-overmind-version", "x-overmind-cell",
                 "x-overmind-fingerprint", "cache-control"):
        assert head.headers[name] == first.headers[name], name


@pytest.mark.parametrize("query", ["cell=9", "cell=0", "cell=-1", "cell=1.2", "cell=abc", "version=abc",
                                   "version=9", "cell=abc&version=1", "cell=3"])
def test_unknown_or_unusable_version_is_404(served, client, query):
    _, _, ids = served
    resp = client.get(f"/api/datasets/{ids['edge']}/export/?{query}")
    assert (resp.status_code, resp.json()) == (404, {"detail": "Not found."})
    assert resp.headers["content-type"] == "application/json"


def test_bad_dataset_ids_method_and_options(served, client):
    _, _, ids = served
    assert client.get("/api/datasets/not-a-uuid/export/").json() == {"detail": "Not found."}
    resp = client.get("/api/datasets/00000000-0000-4000-8000-000000000000/export/")
    assert (resp.status_code, resp.json()) == (404, {"detail": "No Dataset matches the given query."})
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        resp = client.request(method, f"/api/datasets/{ids['edge']}/export/")
        assert resp.status_code == 405 and resp.json() == {"detail": f'Method "{method}" not allowed.'}
        assert resp.headers["allow"] == "GET, HEAD, OPTIONS"
    resp = client.options(f"/api/datasets/{ids['edge']}/export/")
    assert resp.status_code == 200 and resp.headers["allow"] == "GET, HEAD, OPTIONS"
    assert resp.json()["name"] == "Datapoint Export"


def test_openapi_lists_the_export_route(served, client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/datasets/{id}/export/"]["get"]
    # 405 is declared once for every path (components.responses.MethodNotAllowed)
    assert sorted(op["responses"]) == ["200", "304", "400", "401", "404", "414", "431", "503"]
    assert "MethodNotAllowed" in spec["components"]["responses"]
    assert set(spec["paths"]["/api/datasets/{id}/export/"]) == {"get", "head", "options"}
    assert sorted(op["responses"]["200"]["content"]) == ["application/x-ndjson", "text/csv"]
    assert {p["name"] for p in op["parameters"]} == {"id", "fmt", "cell", "version"}
    assert "X-Overmind-Fingerprint" in op["responses"]["200"]["headers"]
    assert set(spec["components"]["securitySchemes"]) == {"apiKey", "bearer", "apiKeyAuthorization"}
