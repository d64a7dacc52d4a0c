"""Schema fuzzing: schemathesis (its CLI, ``st run``) against the served
``/openapi.json`` of a real ``serve`` subprocess, with and without a token.

Every operation, positive and negative cases, every check schemathesis has
(no 5xx; status, content type, headers and body as the document declares;
undeclared methods answered 405; auth enforced where declared), stateful
runs over the document's links. Then the recorded traffic (a HAR file) is
checked again here: at least 1,000 requests, no 5xx, every 4xx a JSON body
of the documented shapes, the token in no response. Counts per operation and
statuses seen are printed (``pytest -s``) and written beside the HAR file.

``FUZZ_EXAMPLES`` (default 50 per operation) and ``FUZZ_SEED`` (default a
fixed seed, so CI is reproducible; ``random`` for a new one) tune a run.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import overmind_lake
from conftest import make_rows
from servehelpers import request, start_server

pytest.importorskip("schemathesis")

TOKEN = "fuzz-token-5f1c"
AGENT = "6f0f6c2e-8a51-4d0e-9d36-1f0b3c9a7e11"
TESTS = Path(__file__).resolve().parent
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", 50))
SEED = os.environ.get("FUZZ_SEED", "20261201")
#: Path templates of the served operations, matched against request paths.
TEMPLATES = [
    ("/api/datasets/{id}/export/", re.compile(r"^/api/datasets/[^/]*/export/$")),
    ("/api/datasets/{id}/datapoints/", re.compile(r"^/api/datasets/[^/]*/datapoints/$")),
    ("/api/datasets/{id}/", re.compile(r"^/api/datasets/[^/]*/$")),
    ("/api/datasets/", re.compile(r"^/api/datasets/$")),
]


@pytest.fixture(scope="module")
def lake_ids(tmp_path_factory):
    """A small lake: several versions, empty and multi-page datasets, real agents and models."""
    root = tmp_path_factory.mktemp("fuzz") / "lake"
    lake = overmind_lake.Lake(root)
    a = lake.create_dataset("fuzz-a", make_rows(25), agent=AGENT)
    lake.add_version(a.dataset_id, make_rows(12, start=25), source="synthetic", generator_model="model-1")
    lake.add_version(a.dataset_id, make_rows(40, start=37))
    b = lake.create_dataset("fuzz-empty", [])
    c = lake.create_dataset("fuzz-pages", make_rows(230))
    return root, [str(a.dataset_id), str(b.dataset_id), str(c.dataset_id)]


def _template(path: str) -> str:
    for name, pattern in TEMPLATES:
        if pattern.match(path):
            return name
    return path


def _shape_ok(status: int, body) -> bool:
    """A 4xx body is DRF's: ``{"detail": str}`` or ``{param: [str, …]}`` (non-empty)."""
    if not isinstance(body, dict) or not body:
        return False
    if "detail" in body:
        return set(body) == {"detail"} and isinstance(body["detail"], str)
    return status == 400 and all(isinstance(v, list) and v and all(isinstance(m, str) for m in v)
                                 for v in body.values())


@pytest.mark.parametrize("token", [None, TOKEN], ids=["open", "token"])
def test_schemathesis_finds_nothing(lake_ids, token, tmp_path):
    root, ids = lake_ids
    args = ("--token", token) if token else ()
    server = start_server(root, *args, "--page-size", "10", log_path=tmp_path / "serve.log")
    har = tmp_path / "fuzz.har.json"
    config = tmp_path / "schemathesis.toml"
    # The key through the document's own bearer scheme (not a raw --header, which would stay on
    # the probes that check a wrong key in each of the three declared schemes is refused).
    config.write_text(f'[auth.openapi.bearer]\nbearer = "{token}"\n' if token else "")
    # the served document, fetched as a client with the key would (it is closed too)
    status, _, document = request("GET", "/openapi.json", port=server.port,
                                  headers={"Authorization": f"Bearer {token}"} if token else {})
    assert status == 200
    spec = tmp_path / "openapi.json"
    spec.write_bytes(document)
    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
               str(spec), "--url", server.base,
               "--checks", "all", "--mode", "all", "--phases", "examples,coverage,fuzzing,stateful",
               "--max-examples", str(EXAMPLES), "--generation-database", "none", "--workers", "2",
               "--request-timeout", "30", "--report", "har", "--report-har-path", str(har), "--no-color",
               "--suppress-health-check", "all"]
    if SEED != "random":
        command += ["--seed", SEED]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "fuzz_hooks", "FUZZ_DATASET_IDS": ",".join(ids),
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    try:
        run = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    finally:
        server.stop()
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20000:]

    entries = json.loads(har.read_text())["log"]["entries"]
    per_operation: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    problems = []
    for entry in entries:
        req, resp = entry["request"], entry["response"]
        path = re.sub(r"^https?://[^/]+", "", req["url"]).split("?", 1)[0]
        status = resp["status"]
        per_operation[f"{req['method']} {_template(path)}"][status] += 1
        text = resp.get("content", {}).get("text") or ""
        if status >= 500:
            problems.append(("5xx", req["method"], req["url"], status, text[:200]))
        if token and token in text:
            problems.append(("token in body", req["url"]))
        if 400 <= status < 500 and req["method"] != "HEAD":
            if resp["content"].get("mimeType") != "application/json":
                problems.append(("4xx not JSON", req["method"], req["url"], status, resp["content"].get("mimeType")))
                continue
            try:
                body = json.loads(text)
            except ValueError:
                problems.append(("4xx body not JSON", req["url"], status, text[:200]))
                continue
            if not _shape_ok(status, body):
                problems.append(("4xx shape", req["url"], status, text[:200]))
    summary = {op: dict(sorted(statuses.items())) for op, statuses in sorted(per_operation.items())}
    (tmp_path / "fuzz-summary.json").write_text(json.dumps(summary, indent=1))
    print(f"\nschemathesis ({'with' if token else 'without'} token): {len(entries)} requests")
    for op, statuses in summary.items():
        print(f"  {op}: {sum(statuses.values())} requests, statuses {statuses}")
    assert not problems, problems[:20]
    assert len(entries) >= 1000, len(entries)
    operations = {op for op in summary if op.split()[0] in ("GET", "HEAD", "OPTIONS")}
    for path in ("/api/datasets/", "/api/datasets/{id}/", "/api/datasets/{id}/datapoints/",
                 "/api/datasets/{id}/export/", "/healthz"):
        for method in ("GET", "HEAD", "OPTIONS"):
            assert f"{method} {path}" in operations, (method, path, sorted(operations))
    datapoints = per_operation["GET /api/datasets/{id}/datapoints/"]
    assert datapoints[200] > 0 and datapoints[400] > 0 and datapoints[404] > 0, datapoints
    exports = per_operation["GET /api/datasets/{id}/export/"]
    assert exports[200] > 0 and exports[404] > 0, exports
    if token:
        assert sum(c[401] for c in per_operation.values()) > 0  # schemathesis checked auth is enforced
    assert "Stateful" in output
