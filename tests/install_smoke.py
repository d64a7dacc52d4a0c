"""What a user does right after ``pip install overmind-lake`` (no extras).

Run by tests/test_install.py with a fresh virtual environment's interpreter,
from a directory outside the repository: ``python install_smoke.py CHECK WORKDIR``.
CHECK is ``base`` (library, CLI, serve), ``missing-extra`` (an s3:// root
without s3fs) or ``notebook`` (executes the quickstart notebook). Prints
``ok CHECK`` at the end; any failure is an exception or a non-zero exit.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(sys.prefix).resolve()
BIN = Path(sys.executable).parent
CLI = str(BIN / "overmind-lake")


def installed_here() -> None:
    """overmind_lake is imported from this environment's site-packages, not a checkout."""
    import overmind_lake

    where = Path(overmind_lake.__file__).resolve()
    assert where.is_relative_to(HERE) and "site-packages" in where.parts, where


def run_cli(*args: str, expect: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == expect, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_one_request(root: Path, dataset_id: str) -> dict:
    """Start ``overmind-lake serve`` and read one datapoints page over real HTTP."""
    port = free_port()
    proc = subprocess.Popen([CLI, "serve", "--root", str(root), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/api/datasets/{dataset_id}/datapoints/?page_size=1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    assert resp.status == 200 and resp.headers["Content-Type"] == "application/json"
                    return json.loads(resp.read())
            except (ConnectionError, urllib.error.URLError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("serve did not answer: " + proc.stderr.read().decode(errors="replace"))
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def import_every_module() -> None:
    """Every module of the package imports with the base install alone (optional
    backends are imported lazily, inside the function that needs them)."""
    import importlib
    import pkgutil

    import overmind_lake

    for info in pkgutil.walk_packages(overmind_lake.__path__, "overmind_lake."):
        if not info.name.endswith(".__main__"):  # importing it would run the CLI
            importlib.import_module(info.name)


def check_base(work: Path) -> None:
    import overmind_lake

    installed_here()
    import_every_module()
    root = work / "lake"
    lake = overmind_lake.Lake(root)
    v1 = lake.create_dataset("smoke", [
        {"input": {"question": "Where is my order?"}, "expected_output": {"tool": "track_order"},
         "persona": "new-user", "tags": {"difficulty": "easy"}},
        {"input": "refund?", "expected_output": None, "source": "synthetic", "generator_model": "m"},
    ], description="smoke test", message="seed")
    assert (v1.version, v1.count) == (1, 2), v1
    jsonl = work / "rows.jsonl"
    jsonl.write_text('{"input": {"n": 1}, "expected_output": [1, 2], "order": 5}\n'
                     '{"input": {"n": 12345678901234567890}, "expected_output": null, "persona": "p"}\n')
    v2 = lake.create_dataset("smoke-jsonl", str(jsonl), source="production")
    assert (v2.version, v2.count) == (1, 2), v2

    page = lake.datapoints("smoke").page(page=1, page_size=1)
    assert page["count"] == 2 and page["next"] == "?page=2&page_size=1" and page["previous"] is None, page
    assert page["results"][0]["input"] == {"question": "Where is my order?"}, page
    frame = lake.datapoints("smoke-jsonl").to_polars()
    assert frame.height == 2 and frame["source"].to_list() == ["production", "production"], frame
    assert frame["order"].to_list() == [1, 5], frame  # storage order: ``order``, then ``id``
    assert json.loads(frame["input"][0]) == {"n": 12345678901234567890}, frame
    counts = lake.sql("SELECT count(*) AS n FROM datapoints")
    assert counts["n"].to_list() == [4], counts

    assert "Commands:" in run_cli("--help").stdout
    shown = json.loads(run_cli("show", "smoke", "--root", str(root), "--format", "json").stdout)
    assert shown["count"] == 2 and [r["persona"] for r in shown["results"]] == ["new-user", None], shown
    table = run_cli("show", "smoke-jsonl", "--root", str(root)).stdout
    assert "order" in table and "persona" in table, table
    served = serve_one_request(root, v1.dataset_id)
    assert served["count"] == 2 and len(served["results"]) == 1, served
    assert served["next"].endswith(f"/api/datasets/{v1.dataset_id}/datapoints/?page=2&page_size=1"), served


def check_missing_extra(work: Path) -> None:
    import importlib.util

    import overmind_lake

    installed_here()
    assert importlib.util.find_spec("s3fs") is None, "the base install must not bring s3fs"
    try:
        overmind_lake.Lake("s3://some-bucket/lake")
    except overmind_lake.LakeError as exc:
        assert isinstance(exc, overmind_lake.MissingExtra), type(exc)
        assert exc.extra == "s3" and "pip install 'overmind-lake[s3]'" in str(exc), exc
    else:
        raise AssertionError("an s3:// root without s3fs did not fail")
    proc = run_cli("datasets", "--root", "s3://some-bucket/lake", expect=1)
    assert proc.stdout == "", proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "pip install 'overmind-lake[s3]'" in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def check_notebook(work: Path) -> None:
    """Execute notebooks/quickstart.ipynb (copied with the demo lake to ``work``) headless."""
    import nbformat
    from nbclient import NotebookClient

    installed_here()
    notebook = work / "notebooks" / "quickstart.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('import sys; print("kernel prefix:", sys.prefix)'))
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(notebook.parent)}}).execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "25 production datapoints" in text, text
    assert '"count": 210' in text, text
    assert "hard travel datapoints written to" in text, text
    kernel = text.rsplit("kernel prefix:", 1)[1].split()[0]
    assert Path(kernel).resolve() == HERE, f"the kernel ran in {kernel}, not in {HERE}"


CHECKS = {"base": check_base, "missing-extra": check_missing_extra, "notebook": check_notebook}

if __name__ == "__main__":
    name, workdir = sys.argv[1], Path(sys.argv[2])
    os.environ.pop("OVERMIND_LAKE_ROOT", None)
    CHECKS[name](workdir)
    print(f"ok {name}")
