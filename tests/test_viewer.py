"""The dataset viewer's pages rendered in-process (docs/viewer.md): the lake,
a dataset (versions, filters, ordering, pages, facets), the diff, errors as
HTML pages with the API's messages, escaping, the login cookie, /docs."""

from __future__ import annotations

import re
import uuid
from html import unescape

import pytest
from starlette.testclient import TestClient

import overmind_lake
from overmind_lake.query.facets import facet_counts
from overmind_lake.server import create_app
from overmind_lake.server.ui.cells import INLINE_CHARS, MAX_PRETTY_CHARS, cell, chips
from overmind_lake.server.ui.session import COOKIE, session_value
from conftest import make_rows

TOKEN = "viewer-token"
AGENT = str(uuid.uuid4())
HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', "x" * 50_000]


def _deep(n: int):
    value: object = "bottom"
    for _ in range(n):
        value = [value]
    return value


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> overmind_lake.Lake:
    lake = overmind_lake.Lake(tmp_path_factory.mktemp("viewer") / "lake")
    rows = make_rows(30)
    rows[0]["agent"] = AGENT
    v = lake.create_dataset("support <b>bot</b>", rows, description="the first", message="seed rows")
    hostile = [{"id": str(uuid.UUID(int=i + 1)), "order": 100 + i, "input": {"text": text},
                "expected_output": text, "persona": text[:128], "tags": [text[:40]], "source": "production"}
               for i, text in enumerate(HOSTILE)]
    hostile.append({"input": _deep(300), "expected_output": {"big": 2 ** 70}, "persona": "deep", "order": 200,
                    "source": "production"})
    lake.derive(v.dataset_id, add=hostile, replace=[{**make_rows(2)[1], "id": lake.datapoints(v.dataset_id)
                                                     .to_polars()["id"][1], "expected_output": {"answer": "new"}}],
                remove_ids=[lake.datapoints(v.dataset_id).to_polars()["id"][2]], message="hostile rows")
    lake.create_dataset("other-set", make_rows(3))
    return lake


@pytest.fixture(scope="module")
def ds(lake) -> str:
    return lake.dataset("support <b>bot</b>").id


@pytest.fixture(scope="module")
def client(lake) -> TestClient:
    return TestClient(create_app(lake, page_size=10))


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


# -- the lake page ---------------------------------------------------------------

def test_lake_page_lists_every_dataset(client, lake, ds):
    resp = client.get("/")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert f'href="/ui/datasets/{ds}/"' in html
    assert "support &lt;b&gt;bot&lt;/b&gt;" in html and "<b>bot</b>" not in html
    assert "other-set" in html and "hostile rows" in html  # last commit message
    assert 'href="/api/datasets/"' in html  # the same list as JSON
    latest = lake.versions(ds).row(-1, named=True)
    assert f"{latest['count']:,}" in text_of(html)
    assert f"production {latest['source_counts']['production']}" in text_of(html)  # per-source counts
    assert client.get("/ui/").text == html


def test_lake_search_filters_names(client):
    html = client.get("/?q=OTHER").text
    assert "other-set" in html and "support &lt;b&gt;" not in html
    assert 'value="OTHER"' in html
    none = client.get("/?q=zzz").text
    assert "No dataset name contains" in none


def test_empty_lake_says_how_to_add_data(tmp_path):
    html = TestClient(create_app(overmind_lake.Lake(tmp_path / "empty"))).get("/").text
    assert "This lake is empty" in html and "python -m overmind_lake ingest" in html


# -- the dataset page ------------------------------------------------------------

def test_dataset_page_versions_and_first_page(client, lake, ds):
    resp = client.get(f"/ui/datasets/{ds}/")
    assert resp.status_code == 200
    html = resp.text
    for v in lake.versions(ds).iter_rows(named=True):
        assert f'href="?version={v["version"]}"' in html
        assert v["checksum"][:12] in html and v["message"] in html
    assert 'href="diff/?a=1&amp;b=2"' in html
    api = re.search(r'id="api-link" href="([^"]+)"', html).group(1)
    assert unescape(api) == f"/api/datasets/{ds}/datapoints/"
    # the page shows the same rows, in the same order, as the JSON page
    body = client.get(f"/api/datasets/{ds}/datapoints/").json()
    shown = re.findall(r'<code class="id" title="([^"]+)"', html)
    assert shown == [r["id"] for r in body["results"]]
    assert f"<strong>{body['count']}</strong>" in html
    assert 'rel="next"' in html and "Page 1 of 4" in html


@pytest.mark.parametrize("query", ["source=seed&ordering=-persona&page=2&page_size=3",
                                   "version=1&ordering=persona,-order", "version_min=1&version_max=2&page=last",
                                   f"agent={AGENT}&version=1", "generator_model=model-1&ordering=-id"])
def test_filters_ordering_and_pages_match_the_api(client, ds, query):
    html = client.get(f"/ui/datasets/{ds}/?{query}").text
    body = client.get(f"/api/datasets/{ds}/datapoints/?{query}").json()
    assert re.findall(r'<code class="id" title="([^"]+)"', html) == [r["id"] for r in body["results"]]
    assert f"<strong>{body['count']}</strong>" in html
    api = unescape(re.search(r'id="api-link" href="([^"]+)"', html).group(1))
    assert client.get(api).json() == body  # the JSON link is the same query


def test_links_keep_the_query_and_change_one_thing(client, ds):
    html = unescape(client.get(f"/ui/datasets/{ds}/?source=seed&page_size=2&page=2").text)
    assert 'href="?page=3&page_size=2&source=seed" rel="next"' in html
    assert 'href="?page_size=2&source=seed" rel="prev"' in html  # previous of page 2 drops page
    assert 'href="?page=last&page_size=2&source=seed" rel="last"' in html
    assert 'href="?page_size=2" title="Remove"' in html  # drop the source filter
    assert 'href="?ordering=-order&page_size=2&source=seed"' not in html
    assert 'href="?ordering=order&page_size=2&source=seed" class="sort"' in html


def test_facets_count_the_current_filter_and_link_to_it(client, lake, ds):
    html = unescape(client.get(f"/ui/datasets/{ds}/?version=1").text)
    frame = lake.datapoints(ds, version=1).to_polars()
    seeds = frame.filter(frame["source"] == "seed").height
    assert re.search(rf'href="\?source=seed&version=1">seed</a>\s*<span class="n">{seeds}</span>', html)
    m1 = frame.filter(frame["generator_model"] == "model-1").height
    assert re.search(rf'href="\?generator_model=model-1&version=1">model-1</a>\s*<span class="n">{m1}</span>', html)
    persona = frame.filter(frame["persona"] == "persona-0").height
    assert re.search(rf'persona-0</span>\s*<span class="n">{persona}</span>', html)
    # the chosen value is marked and its link removes it
    on = unescape(client.get(f"/ui/datasets/{ds}/?version=1&source=seed").text)
    assert 'class="label on" href="?version=1"' in on


def test_facets_are_computed_once_and_keyed_by_versions(lake, ds):
    query = lake.datapoints(ds, source="production")
    first = facet_counts(query)
    assert facet_counts(lake.datapoints(ds, source="production")) is first  # cached
    total = sum(n for _, n in first["source"])
    assert total == query.count() and first["source"] == [("production", total)]
    other = facet_counts(lake.datapoints(ds, version=1, source="production"))
    assert other is not first
    assert sum(n for _, n in other["persona"]) == lake.datapoints(ds, version=1, source="production").count()


def test_bad_parameters_show_the_api_messages(client, ds):
    resp = client.get(f"/ui/datasets/{ds}/?source=bad&agent=nope&version=x&ordering=nope&page_size=0")
    assert resp.status_code == 400 and resp.headers["content-type"].startswith("text/html")
    api = client.get(f"/api/datasets/{ds}/datapoints/?source=bad&agent=nope&version=x&ordering=nope&page_size=0")
    text = text_of(resp.text)
    for name, messages in api.json().items():
        assert name in text
        for message in messages:
            assert message in text


@pytest.mark.parametrize("path,message", [
    ("/ui/datasets/not-a-uuid/", "Not found."),
    (f"/ui/datasets/{uuid.uuid4()}/", "No Dataset matches the given query."),
    ("/ui/datasets/{ds}/?page=99", "Invalid page."),
    ("/ui/datasets/{ds}/?page=0", "Invalid page."),
    ("/ui/nothing/here", "Not found."),
    ("/ui/datasets/{ds}/diff/?a=1&b=9", "Version 9 of this dataset does not exist"),
])
def test_not_found_pages_are_html(client, ds, path, message):
    resp = client.get(path.format(ds=ds))
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("text/html")
    assert message in text_of(resp.text)


def test_methods(client, ds):
    resp = client.post(f"/ui/datasets/{ds}/")
    assert resp.status_code == 405 and resp.headers["allow"] == "GET, HEAD, OPTIONS"
    assert 'Method "POST" not allowed.' in text_of(resp.text)
    assert client.head("/").status_code == 200
    assert client.options("/").headers["allow"] == "GET, HEAD, OPTIONS"
    assert client.get("/ui", follow_redirects=False).headers["location"] == "/"


# -- what a cell shows -----------------------------------------------------------

def test_hostile_content_is_escaped(client, ds):
    html = client.get(f"/ui/datasets/{ds}/?version=2&ordering=-order&page_size=10").text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<script" not in html.replace('<script type="application/json"', "")
    csp = client.get(f"/ui/datasets/{ds}/").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_long_and_deep_values_fold(client, ds):
    html = client.get(f"/ui/datasets/{ds}/?version=2&ordering=-order&page_size=10").text
    assert "more characters (the JSON API has the whole value)" in html  # the 50,000-char string is cut
    assert str(2 ** 70) in html  # lossless: an integer beyond 64 bits
    assert html.count("<details") >= 4


def test_cells():
    assert cell(None).inline == "null"
    assert cell({"a": 1}).inline == '{"a":1}'
    long = cell({"k": "v" * 200})
    assert long.inline is None and long.pretty.startswith('{\n  "k": "') and long.preview.endswith("…")
    huge = cell("y" * (MAX_PRETTY_CHARS + 10))
    assert huge.cut == 10 and len(huge.pretty) == MAX_PRETTY_CHARS
    assert cell({"n": 2 ** 70}).inline == '{"n":1180591620717411303424}'
    deep = cell(_deep(400))
    assert deep.inline is None and deep.pretty.startswith("[") and deep.preview.startswith("[[[")
    assert len(cell("z" * (INLINE_CHARS - 2)).inline) == INLINE_CHARS
    assert chips({"difficulty": "easy", "n": 2}) == ["difficulty: easy", "n: 2"]
    assert chips(["a", "b"]) == ["a", "b"]
    assert chips({"nested": {"x": 1}}) is None


# -- the diff page ---------------------------------------------------------------

def test_diff_page_shows_lake_diff(client, lake, ds):
    frame = lake.diff(ds, 1, 2)
    html = client.get(f"/ui/datasets/{ds}/diff/?a=1&b=2").text
    counts = {c: frame.filter(frame["change"] == c).height for c in ("added", "removed", "changed")}
    assert counts == {"added": 4, "removed": 1, "changed": 1}
    text = text_of(html)
    for change, n in counts.items():
        assert f"{n} {change}" in text
    for row_id in frame["id"]:
        assert row_id in html
    # the changed field is highlighted, by key inside the JSON object
    assert re.search(r'<tr class="changed">\s*<th>expected_output.answer</th>', html)
    assert "unchanged: input, order, persona, tags, source, agent, generator_model" in html
    only = client.get(f"/ui/datasets/{ds}/diff/?a=1&b=2&change=removed").text
    assert only.count('<article class="drow') == 1
    assert 'href="/api/datasets/' + ds + '/datapoints/?version=1"' in html


def test_diff_defaults_and_errors(client, ds):
    default = client.get(f"/ui/datasets/{ds}/diff/").text
    assert "v1 → v2" in default  # the latest version against its parent
    bad = client.get(f"/ui/datasets/{ds}/diff/?a=x&change=nope")
    assert bad.status_code == 400
    assert "Enter a whole number." in bad.text and "nope is not one of the available choices" in bad.text
    assert "identical to itself" in client.get(f"/ui/datasets/{ds}/diff/?a=2&b=2").text


# -- login ------------------------------------------------------------------------

@pytest.fixture
def secured(lake) -> TestClient:
    return TestClient(create_app(lake, token=TOKEN), base_url="http://testserver")


def test_pages_need_the_login_cookie(secured, ds):
    for path in ("/", f"/ui/datasets/{ds}/", f"/ui/datasets/{ds}/diff/?a=1&b=2", "/ui/docs"):
        resp = secured.get(path)
        assert resp.status_code == 401 and 'action="/ui/login"' in resp.text
        assert "support &lt;b&gt;" not in resp.text and "persona-0" not in resp.text  # no data
        assert 'id="datapoints"' not in resp.text and "seed rows" not in resp.text
        assert "Log out" not in resp.text
    assert secured.get("/ui/static/viewer/viewer.css").status_code == 200  # the style is public


def test_a_token_in_the_url_is_not_echoed(secured, ds):
    resp = secured.get(f"/ui/datasets/{ds}/?token={TOKEN}&source=seed")
    assert resp.status_code == 401 and TOKEN not in resp.text


def test_login_sets_a_signed_httponly_cookie(secured, ds):
    form = {"token": TOKEN, "next": f"/ui/datasets/{ds}/"}
    bad = secured.post("/ui/login", data={**form, "token": "wrong"}, headers={"Origin": "http://testserver"})
    assert bad.status_code == 401 and "Invalid token." in bad.text and COOKIE not in bad.headers.get("set-cookie", "")
    resp = secured.post("/ui/login", data=form, headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == f"/ui/datasets/{ds}/"
    cookie = resp.headers["set-cookie"]
    assert f"{COOKIE}={session_value(TOKEN)}" in cookie and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert secured.get(f"/ui/datasets/{ds}/").status_code == 200
    assert "Log out" in secured.get("/").text
    # the cookie opens the pages only: the JSON API still needs a header
    api = secured.get(f"/api/datasets/{ds}/datapoints/")
    assert api.status_code == 401 and api.json() == {"detail": "Authentication credentials were not provided."}
    out = secured.get("/ui/logout", follow_redirects=False)
    assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]


def test_login_checks_origin_and_next(secured):
    other = secured.post("/ui/login", data={"token": TOKEN}, headers={"Origin": "http://evil.example"})
    assert other.status_code == 403 and COOKIE not in other.headers.get("set-cookie", "")
    ref = secured.post("/ui/login", data={"token": TOKEN}, headers={"Referer": "http://evil.example/x"})
    assert ref.status_code == 403
    away = secured.post("/ui/login", data={"token": TOKEN, "next": "//evil.example/"},
                        headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert away.headers["location"] == "/"
    api_next = secured.post("/ui/login", data={"token": TOKEN, "next": "/api/datasets/"},
                            headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert api_next.headers["location"] == "/"
    assert secured.post("/ui/login", content=b"{}", headers={"Content-Type": "application/json"}).status_code == 400
    assert secured.put("/ui/login").status_code == 405


def test_a_forged_cookie_opens_nothing(secured):
    secured.cookies.set(COOKIE, session_value("another-token"))
    assert secured.get("/").status_code == 401
    secured.cookies.set(COOKIE, TOKEN)  # the token itself is not the cookie
    assert secured.get("/").status_code == 401


# -- /docs -------------------------------------------------------------------------

def test_docs_render_the_openapi_document_with_packaged_swagger_ui(client):
    resp = client.get("/docs")
    assert resp.status_code == 200
    html = resp.text
    assert 'src="/ui/static/swagger-ui/swagger-ui-bundle.js"' in html and "http" not in html.split("<body>")[1]
    spec = client.get("/openapi.json").json()
    embedded = re.search(r'<script type="application/json" id="openapi-spec">(.*?)</script>', html, re.S).group(1)
    import json
    assert json.loads(embedded) == spec
    asset = client.get("/ui/static/swagger-ui/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert client.get("/ui/docs").text == html


def test_docs_without_the_package_name_it(client, monkeypatch):
    from overmind_lake.server.ui import docs

    monkeypatch.setattr(docs, "swagger_ui_path", lambda: None)
    resp = client.get("/docs")
    assert resp.status_code == 503 and "pip install openapi-ui-bundles" in resp.text


def test_a_row_too_deep_for_python_is_shown_raw(tmp_path):
    import pyarrow as pa

    lake = overmind_lake.Lake(tmp_path / "lake")
    v = lake.create_dataset("deep", [{"input": {"a": 1}}])
    deep = "[" * 5000 + "]" * 5000
    lake.add_version(v.dataset_id, pa.table({"input": [deep, '{"b":2}'], "expected_output": ["1", "2"]}))
    resp = TestClient(create_app(lake)).get(f"/ui/datasets/{v.dataset_id}/")
    assert resp.status_code == 200
    assert resp.text.count('colspan="6"') == 1  # that row as raw JSON text; the other as cells
    assert "[[[[" in resp.text and '{"b":2}' in unescape(resp.text)
