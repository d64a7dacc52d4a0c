"""The viewer in a real browser: Debian's headless Chromium, driven through
Selenium and chromedriver, against a real ``serve`` subprocess on 127.0.0.1
(docs/viewer.md). Each step is screenshotted into the test's tmp dir and
checked not to be blank; hostile datapoints must show as text, never run.

.ci/run installs ``chromium`` and ``chromium-driver`` with apt-get; without
them (outside CI) these tests skip.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

import overmind_lake
from conftest import make_rows
from lakehelpers import start_serve, stop

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException, TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TOKEN = "browser-token"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
HOSTILE = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>', "</textarea><svg onload=alert(3)>",
           "L" * 30_000]

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs chromium and chromedriver (.ci/run installs them with apt-get)")
    pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)



def _deep(n: int):
    value: object = {"leaf": "<b>deep</b>"}
    for _ in range(n):
        value = {"d": value}
    return value


@pytest.fixture(scope="module")
def lake_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser") / "lake"
    lake = overmind_lake.Lake(root)
    v = lake.create_dataset("browser-set", make_rows(250), description="rows for the browser", message="v1 rows")
    hostile = [{"input": {"text": text}, "expected_output": text, "persona": text[:128], "tags": [text[:30]],
                "order": 10_000 + i, "source": "production"} for i, text in enumerate(HOSTILE)]
    hostile.append({"input": _deep(200), "expected_output": None, "persona": "deep", "order": 20_000,
                    "source": "production"})
    first_id = lake.datapoints(v.dataset_id).to_polars()["id"][0]
    lake.derive(v.dataset_id, add=hostile, remove_ids=[first_id], message="hostile rows")
    lake.create_dataset("another", make_rows(5))
    return root


@pytest.fixture(scope="module")
def server(lake_root):
    proc, base = start_serve(lake_root, cwd=lake_root.parent, env={"PYTHONPATH": str(REPO),
                                                                   "OVERMIND_LAKE_TOKEN": ""})
    try:
        yield base
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def secured(lake_root):
    proc, base = start_serve(lake_root, "--token", TOKEN, cwd=lake_root.parent, env={"PYTHONPATH": str(REPO)})
    try:
        yield base
    finally:
        stop(proc)


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_window_size(1280, 900)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, tmp_path: Path, name: str) -> Path:
    """A screenshot of the page, checked not to be blank (many distinct colours)."""
    from PIL import Image

    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path))
    with Image.open(path) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, f"{name}: the page looks blank"
    return path


def no_alert(driver) -> None:
    try:
        WebDriverWait(driver, 0.5).until(EC.alert_is_present())
    except TimeoutException:
        return
    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    pytest.fail(f"a datapoint ran a script: alert({text!r})")


def no_horizontal_overflow(driver) -> None:
    width, inner = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{driver.current_url}: {width}px wide in a {inner}px window"


def api(base: str, url: str) -> dict:
    path = re.sub(r"^https?://[^/]+", "", url)
    return httpx.get(base + path, timeout=10).json()


def test_browse_filter_page_and_diff(server, browser, tmp_path):
    d = browser
    d.get(server + "/")
    assert d.title == "Datasets · overmind_lake"
    assert "browser-set" in d.find_element(By.TAG_NAME, "table").text
    shot(d, tmp_path, "1-lake")

    d.find_element(By.LINK_TEXT, "browser-set").click()
    WebDriverWait(d, 10).until(EC.presence_of_element_located((By.ID, "datapoints")))
    assert d.find_element(By.ID, "dataset-name").text == "browser-set"
    assert "254 datapoints" in d.find_element(By.ID, "count").text
    shot(d, tmp_path, "2-dataset")

    form = d.find_element(By.ID, "filters")
    Select(form.find_element(By.NAME, "source")).select_by_value("synthetic")
    Select(form.find_element(By.NAME, "ordering")).select_by_value("-order")
    Select(form.find_element(By.NAME, "page_size")).select_by_value("25")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(d, 10).until(EC.url_contains("source=synthetic"))
    assert "ordering=-order" in d.current_url
    expected = api(server, d.find_element(By.ID, "api-link").get_attribute("href"))
    assert f"{expected['count']} datapoints" in d.find_element(By.ID, "count").text
    orders = [int(td.text) for td in d.find_elements(By.CSS_SELECTOR, "#datapoints td[data-label=order]")]
    assert orders == [r["order"] for r in expected["results"]] and orders == sorted(orders, reverse=True)
    shot(d, tmp_path, "3-filtered")

    d.find_element(By.CSS_SELECTOR, "a[rel=next]").click()
    WebDriverWait(d, 10).until(EC.url_contains("page=2"))
    assert "Page 2 of 3" in d.find_element(By.CSS_SELECTOR, ".pager").text
    second = api(server, d.find_element(By.ID, "api-link").get_attribute("href"))
    ids = [e.get_attribute("title") for e in d.find_elements(By.CSS_SELECTOR, "#datapoints code.id")]
    assert ids == [r["id"] for r in second["results"]]
    shot(d, tmp_path, "4-page-2")

    d.find_element(By.CSS_SELECTOR, "a[href$='/']").click()  # the breadcrumb back to the lake
    d.get(server + "/")
    d.find_element(By.LINK_TEXT, "browser-set").click()
    d.find_element(By.CSS_SELECTOR, "a.difflink").click()
    WebDriverWait(d, 10).until(EC.presence_of_element_located((By.ID, "diff-summary")))
    assert d.find_element(By.ID, "diff-title").text == "v1 → v2"
    summary = d.find_element(By.ID, "diff-summary").text
    assert "5 added" in summary and "1 removed" in summary and "0 changed" in summary
    assert len(d.find_elements(By.CSS_SELECTOR, "article.drow")) == 6
    shot(d, tmp_path, "5-diff")
    no_alert(d)


def test_hostile_datapoints_are_text(server, browser, tmp_path):
    d = browser
    d.get(server + "/")
    d.find_element(By.LINK_TEXT, "browser-set").click()
    url = d.current_url + "?ordering=-order&page_size=10"
    for page in (url, d.current_url + "diff/?a=1&b=2"):
        d.get(page)
        no_alert(d)
        title = d.title
        assert d.execute_script("return document.querySelectorAll('main img, main svg, main script').length") == 0
        body = d.find_element(By.TAG_NAME, "main").text
        assert "<script>alert(1)</script>" in body
        assert '"><img src=x onerror=alert(2)>' in body
        for details in d.find_elements(By.CSS_SELECTOR, "details.j"):
            d.execute_script("arguments[0].open = true", details)
        no_alert(d)
        assert d.title == title and "alert" not in d.title
        assert "LLLL" in d.find_element(By.TAG_NAME, "main").text
    shot(d, tmp_path, "hostile")


def test_phone_width_has_no_horizontal_overflow(server, browser, tmp_path):
    d = browser
    d.set_window_size(390, 844)
    d.get(server + "/")
    no_horizontal_overflow(d)
    shot(d, tmp_path, "390-lake")
    d.find_element(By.LINK_TEXT, "browser-set").click()
    base = d.current_url
    for i, query in enumerate(("", "?ordering=-order&page_size=10", "diff/?a=1&b=2")):
        d.get(base + query)
        for details in d.find_elements(By.CSS_SELECTOR, "details.j")[:20]:
            d.execute_script("arguments[0].open = true", details)
        no_horizontal_overflow(d)
        shot(d, tmp_path, f"390-{i}")


def test_token_login_cookie(secured, browser, tmp_path):
    d = browser
    d.get(secured + "/")
    login = d.find_element(By.ID, "login")
    assert "browser-set" not in d.find_element(By.TAG_NAME, "body").text  # no data before login
    shot(d, tmp_path, "login")
    login.find_element(By.NAME, "token").send_keys("wrong")
    login.find_element(By.CSS_SELECTOR, "button").click()
    # the POST's answer is a new page: wait for it rather than read the old one's body
    WebDriverWait(d, 10).until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), "Invalid token."))
    d.find_element(By.NAME, "token").send_keys(TOKEN)
    d.find_element(By.CSS_SELECTOR, "#login button").click()
    WebDriverWait(d, 10).until(EC.presence_of_element_located((By.LINK_TEXT, "browser-set")))
    d.find_element(By.LINK_TEXT, "browser-set").click()
    WebDriverWait(d, 10).until(EC.presence_of_element_located((By.ID, "datapoints")))
    assert d.get_cookie("overmind_lake_session")["httpOnly"] is True
    assert d.execute_script("return document.cookie") == ""  # no script can read it
    shot(d, tmp_path, "logged-in")
    # the cookie opens the pages only: the JSON API still answers 401
    d.get(secured + "/api/datasets/")
    assert d.get_cookie("overmind_lake_session") is not None  # sent, and not enough
    assert d.find_element(By.TAG_NAME, "body").text == '{"detail":"Authentication credentials were not provided."}'
    d.back()
    d.find_element(By.ID, "logout").click()
    WebDriverWait(d, 10).until(EC.presence_of_element_located((By.ID, "login")))
    d.get(secured + "/")
    assert d.find_elements(By.ID, "login") and "browser-set" not in d.find_element(By.TAG_NAME, "body").text


def test_docs_render_offline(server, browser, tmp_path):
    d = browser
    d.get(server + "/docs")
    WebDriverWait(d, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    text = d.find_element(By.ID, "swagger-ui").text
    assert "/api/datasets/{id}/datapoints/" in text
    shot(d, tmp_path, "docs")
    requested = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert requested and all(u.startswith(server) for u in requested), requested
