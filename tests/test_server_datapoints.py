"""GET /api/datasets/{id}/datapoints/ in-process: whole bodies, links, every
query parameter and every error row of docs/http.md, and the check order."""

from __future__ import annotations

import json
import uuid

import pytest
from starlette.testclient import TestClient

import overmind_lake
from overmind_lake.server import create_app

AGENT = "5b0a8a1e-6a5e-4a57-9a56-2f1c3b0d9e01"
NS = uuid.UUID("00000000-0000-0000-0000-00000000abcd")
BASE = "http://testserver"


def pid(version: int, i: int) -> str:
    return str(uuid.uuid5(NS, f"{version}-{i}"))


def v1_rows() -> list[dict]:
    sources = ("seed", "synthetic", "augmented", "production")
    return [{"id": pid(1, i), "input": {"q": i}, "expected_output": {"a": i}, "order": i,
             "persona": f"p{i % 3}", "tags": ["t", i], "source": sources[i % 4],
             "agent": AGENT if i % 2 == 0 else None,
             "generator_model": "model-x" if i % 3 == 0 else None} for i in range(5)]


LOSSLESS = {"big": 12345678901234567890123, "uni": "héllo ☃ 😀", "nested": [[[{"a": []}]]],
            "z": None, "a": {}, "num": "007"}


def v2_rows() -> list[dict]:
    return [
        {"id": pid(2, 0), "input": LOSSLESS, "expected_output": None, "order": 0, "persona": None, "tags": None},
        {"id": pid(2, 1), "input": "text", "expected_output": [1, 2.5, True], "order": 1, "persona": "ü \"q\"",
         "tags": {"k": "v"}},
        {"id": pid(2, 2), "input": 9007199254740993, "expected_output": "x", "order": 9223372036854775807,
         "persona": "p", "tags": []},
    ]


def item(row: dict) -> dict:
    return {k: row[k] for k in ("id", "expected_output", "input", "order", "persona", "tags")}


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> overmind_lake.Lake:
    lake = overmind_lake.Lake(tmp_path_factory.mktemp("srv") / "lake")
    v = lake.create_dataset("ds", v1_rows())
    lake.add_version(v.dataset_id, v2_rows())
    return lake


@pytest.fixture(scope="module")
def ds(lake) -> str:
    return lake.dataset("ds").id


@pytest.fixture(scope="module")
def client(lake) -> TestClient:
    return TestClient(create_app(lake, page_size=2))


def url(ds: str, query: str = "") -> str:
    return f"/api/datasets/{ds}/datapoints/" + (f"?{query}" if query else "")


def test_latest_version_page_whole_body(client, ds):
    resp = client.get(url(ds))
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == {
        "count": 3, "next": f"{BASE}{url(ds)}?page=2", "previous": None,
        "results": [item(r) for r in v2_rows()[:2]],
    }
    # compact, keys in the documented order, JSON values embedded losslessly
    assert resp.content.startswith(b'{"count":3,"next":')
    page = json.loads(resp.content, object_pairs_hook=lambda pairs: pairs)
    assert [k for k, _ in page] == ["count", "next", "previous", "results"]
    for obj in page[3][1]:
        assert [k for k, _ in obj] == ["id", "expected_output", "input", "order", "persona", "tags"]
    first = json.loads(resp.content)["results"][0]["input"]
    assert list(first) == list(LOSSLESS) and first == LOSSLESS
    assert b"12345678901234567890123" in resp.content and '"007"'.encode() in resp.content


def test_last_page_and_links(client, ds):
    resp = client.get(url(ds, "page=2"))
    assert resp.json() == {"count": 3, "next": None, "previous": f"{BASE}{url(ds)}",
                           "results": [item(v2_rows()[2])]}
    assert b"9007199254740993" in resp.content and b"9223372036854775807" in resp.content
    assert client.get(url(ds, "page=last")).json() == resp.json()


def test_links_rebuilt_as_drf(client, ds):
    query = "version_max=1&z=%2Fa+b&x=&x=%C3%A9&page=2&a=1"
    body = client.get(url(ds, query)).json()
    kept = "a=1&version_max=1&x=&x=%C3%A9&z=%2Fa+b"
    assert body["next"] == f"{BASE}{url(ds)}?a=1&page=3&version_max=1&x=&x=%C3%A9&z=%2Fa+b"
    assert body["previous"] == f"{BASE}{url(ds)}?{kept}"
    body = client.get(url(ds, "page=3&version_max=1&x=")).json()
    assert body["previous"] == f"{BASE}{url(ds)}?page=2&version_max=1&x="
    assert body["next"] is None


def test_links_use_host_header_and_proxy_headers(lake, ds):
    plain = TestClient(create_app(lake, page_size=2))
    fwd = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}
    resp = plain.get(url(ds), headers={"Host": "lake.local:8080", **fwd})
    assert resp.json()["next"] == f"http://lake.local:8080{url(ds)}?page=2"
    proxied = TestClient(create_app(lake, page_size=2, proxy_headers=True))
    resp = proxied.get(url(ds), headers={"Host": "lake.local:8080", **fwd})
    assert resp.json()["next"] == f"https://api.example.com{url(ds)}?page=2"
    assert proxied.get(url(ds), headers={"Host": "h"}).json()["next"] == f"http://h{url(ds)}?page=2"


def ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [r["id"] for r in resp.json()["results"]]


def test_version_filters(client, ds):
    assert ids(client.get(url(ds, "version=1&page_size=10"))) == [pid(1, i) for i in range(5)]
    assert ids(client.get(url(ds, "version=1.0&page_size=10"))) == [pid(1, i) for i in range(5)]
    assert ids(client.get(url(ds, "version= 1.00 &page_size=10"))) == [pid(1, i) for i in range(5)]
    both = [pid(1, i) for i in range(5)] + [pid(2, i) for i in range(3)]
    assert ids(client.get(url(ds, "version_min=1&page_size=10"))) == both
    assert ids(client.get(url(ds, "version_max=1&page_size=10"))) == both[:5]
    assert ids(client.get(url(ds, "version_min=2&version_max=1"))) == []
    assert client.get(url(ds, "version=7")).json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_row_filters_and_ordering(client, ds):
    q = "version=1&page_size=10"
    assert ids(client.get(url(ds, f"{q}&source=seed"))) == [pid(1, 0), pid(1, 4)]
    assert ids(client.get(url(ds, f"{q}&agent={AGENT.upper()}"))) == [pid(1, 0), pid(1, 2), pid(1, 4)]
    assert ids(client.get(url(ds, f"{q}&agent={{{AGENT}}}"))) == [pid(1, 0), pid(1, 2), pid(1, 4)]
    assert ids(client.get(url(ds, f"{q}&generator_model=model-x"))) == [pid(1, 0), pid(1, 3)]
    assert ids(client.get(url(ds, f"{q}&generator_model=+model-x+"))) == [pid(1, 0), pid(1, 3)]
    assert ids(client.get(url(ds, f"{q}&ordering=-order"))) == [pid(1, i) for i in (4, 3, 2, 1, 0)]
    assert ids(client.get(url(ds, f"{q}&ordering=+persona+,+-order+"))) == [
        pid(1, i) for i in (3, 0, 4, 1, 2)]
    assert ids(client.get(url(ds, f"{q}&ordering=,"))) == [pid(1, i) for i in range(5)]


def test_empty_params_ignored_and_last_value_wins(client, ds):
    empty = "agent=&generator_model=&ordering=&page=&page_size=&source=&version=&version_max=&version_min="
    assert client.get(url(ds, empty)).json()["results"] == client.get(url(ds)).json()["results"]
    assert ids(client.get(url(ds, "version=2&version=1&page_size=10&source=bad&source=seed"))) == [
        pid(1, 0), pid(1, 4)]
    assert ids(client.get(url(ds, "page=1&page=2"))) == [pid(2, 2)]


@pytest.mark.parametrize("query,body", [
    ("agent=nope", {"agent": ["Enter a valid UUID."]}),
    ("agent=" + AGENT[:-1], {"agent": ["Enter a valid UUID."]}),
    ("source=Seed", {"source": ["Select a valid choice. Seed is not one of the available choices."]}),
    ("source=+seed", {"source": ["Select a valid choice.  seed is not one of the available choices."]}),
    ("version=x", {"version": ["Enter a whole number."]}),
    ("version=2.5", {"version": ["Enter a whole number."]}),
    ("version_min=1e3", {"version_min": ["Enter a whole number."]}),
    ("version_max=+", {"version_max": ["Enter a whole number."]}),
    ("generator_model=a%00b", {"generator_model": ["Null characters are not allowed."]}),
    ("page_size=0", {"page_size": ["Ensure this value is greater than or equal to 1."]}),
    ("page_size=1001", {"page_size": ["Ensure this value is less than or equal to 1000."]}),
    ("page_size=2.0", {"page_size": ["A valid integer is required."]}),
    ("ordering=-nope", {"ordering": ['Unknown ordering field "nope". Allowed fields: order, id, persona, '
                                     'version, source, generator_model (prefix a field with "-" for '
                                     'descending order).']}),
])
def test_bad_param_400(client, ds, query, body):
    resp = client.get(url(ds, query))
    assert resp.status_code == 400
    assert resp.headers["content-type"] == "application/json"
    assert resp.json() == body


def test_every_bad_param_in_one_body(client, ds):
    resp = client.get(url(ds, "agent=x&source=nope&version=a&version_min=b&version_max=c"
                              "&ordering=order,foo,-bar&page_size=-1&generator_model=ok&page=zzz"))
    assert resp.status_code == 400
    unknown = 'Unknown ordering field "{}". Allowed fields: order, id, persona, version, source, ' \
              'generator_model (prefix a field with "-" for descending order).'
    assert resp.json() == {
        "agent": ["Enter a valid UUID."],
        "source": ["Select a valid choice. nope is not one of the available choices."],
        "version": ["Enter a whole number."], "version_min": ["Enter a whole number."],
        "version_max": ["Enter a whole number."],
        "ordering": [unknown.format("foo"), unknown.format("bar")],
        "page_size": ["Ensure this value is greater than or equal to 1."],
    }


@pytest.mark.parametrize("page", ["0", "-1", "abc", "2.0", "3", "99999999999999999999", "LAST"])
def test_invalid_page_404(client, ds, page):
    resp = client.get(url(ds, f"page={page}"))
    assert (resp.status_code, resp.json()) == (404, {"detail": "Invalid page."})


def test_empty_result_has_page_one(client, ds):
    resp = client.get(url(ds, "source=production&version=2"))
    assert resp.json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert client.get(url(ds, "source=production&version=2&page=2")).status_code == 404


@pytest.mark.parametrize("path_id", ["not-a-uuid", "1234", "5b0a8a1e-6a5e-4a57-9a56-2f1c3b0d9e0"])
def test_non_uuid_dataset_404(client, path_id):
    resp = client.get(url(path_id))
    assert (resp.status_code, resp.json()) == (404, {"detail": "Not found."})


def test_unknown_dataset_404(client, ds):
    for missing in (str(uuid.uuid4()), str(uuid.uuid4()).upper()):
        resp = client.get(url(missing))
        assert (resp.status_code, resp.json()) == (404, {"detail": "No Dataset matches the given query."})
    assert client.get(url(ds.upper())).status_code == 200


def test_dataset_name_is_not_an_id(client, lake):
    assert client.get(url("ds")).json() == {"detail": "Not found."}
    # a dataset whose *name* is another dataset's id is never found by name over HTTP
    other = str(uuid.uuid4())
    lake.create_dataset(other, [])
    assert client.get(url(other)).json() == {"detail": "No Dataset matches the given query."}


def test_check_order(lake, ds, client):
    missing = str(uuid.uuid4())
    # dataset (404) before params (400)
    assert client.get(url(missing, "source=bad")).json() == {"detail": "No Dataset matches the given query."}
    assert client.get(url("xyz", "source=bad")).json() == {"detail": "Not found."}
    # params (400) before page (404)
    resp = client.get(url(ds, "source=bad&page=999"))
    assert resp.status_code == 400 and list(resp.json()) == ["source"]
    # method (405) before dataset (404)
    resp = client.post(url(missing))
    assert (resp.status_code, resp.headers["allow"]) == (405, "GET, HEAD, OPTIONS")
    assert client.delete(url("xyz")).json() == {"detail": 'Method "DELETE" not allowed.'}
    # auth (401) before method (405)
    secured = TestClient(create_app(lake, token="s3cret"))
    resp = secured.post(url(ds), headers={"Authorization": "Bearer wrong"})
    assert (resp.status_code, resp.json()) == (401, {"detail": "Invalid token."})
    assert secured.get(url(missing, "source=x&page=0")).status_code == 401


PARAMS = ["agent", "generator_model", "ordering", "page", "page_size", "source", "version", "version_max",
          "version_min"]


def test_no_input_reaches_the_500_handler(lake, ds):
    from urllib.parse import urlencode

    from hypothesis import HealthCheck, given, settings, strategies as st

    client = TestClient(create_app(lake, page_size=2), raise_server_exceptions=True)
    values = st.one_of(st.text(max_size=12), st.sampled_from(
        ["1", "2.0", "-1", "last", "1e2", " 3 ", AGENT.upper(), "seed", "-order,id", "version, -persona"]))

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(PARAMS), values), max_size=6))
    def check(items):
        resp = client.get(url(ds, urlencode(items)))
        assert resp.status_code in (200, 400, 404), resp.text
        assert resp.headers["content-type"] == "application/json"
        body = resp.json()
        if resp.status_code == 400:
            assert set(body) <= set(PARAMS) and all(isinstance(v, list) for v in body.values())

    check()
