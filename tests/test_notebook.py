"""notebooks/quickstart.ipynb runs top to bottom against a copy of the demo lake."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    root = tmp_path / "lake"
    shutil.copytree(REPO / "data" / "lake", root)
    monkeypatch.setenv("OVERMIND_LAKE_ROOT", str(root))  # the kernel inherits it
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "25 production datapoints" in text
    assert '"count": 210' in text  # sql-agent versions 1-3: 30 + 80 + 100
    assert "hard travel datapoints written to" in text
