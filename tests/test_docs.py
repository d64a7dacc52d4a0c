"""docs/ describes what the code does: every CLI command and option, every
HTTP route, and the on-disk format precisely enough to read a lake with it
alone (the checksum and the commit records are recomputed from the text)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from overmind_lake.cli import cli
from overmind_lake.server import create_app

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
CLI_DOC = (DOCS / "cli.md").read_text()
FORMAT_DOC = (DOCS / "format.md").read_text()
ALL_DOCS = "\n".join(p.read_text() for p in sorted(DOCS.glob("*.md")))
#: Pages other parts of the project write; the reference links to them.
SIBLING_PAGES = {"export.md", "http-export.md", "viewer.md", "security.md", "performance.md"}
COMMON_OPTIONS = {"--root", "--storage-option", "--debug", "--help", "-h"}


def _section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section of ``text`` ('' when absent)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return match.group(1) if match else ""


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_cli_command_and_option_is_in_cli_md(name):
    section = _section(CLI_DOC, f"`{name}`")
    assert section, f"docs/cli.md has no '## `{name}`' section"
    assert f"overmind-lake {name}" in section, f"docs/cli.md: the {name} section shows no usage"
    for param in cli.commands[name].params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("-") and opt not in COMMON_OPTIONS:
                assert f"{opt}" in section, f"docs/cli.md: option {opt} of {name} is not described"
    for opt in COMMON_OPTIONS - {"-h"}:
        assert f"`{opt}" in CLI_DOC


def _route_paths(app) -> list[tuple[str, bool]]:
    """(path, is_mount) of every route of the app, path converters dropped."""
    out = []
    for route in app.routes:
        path = getattr(route, "path", None)
        if path is None:
            continue
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)
        out.append((path or "/", hasattr(route, "routes") and not hasattr(route, "endpoint")))
    return out


def test_every_http_route_is_in_the_docs(tmp_path):
    app = create_app(tmp_path / "lake", warm_up=False)
    paths = _route_paths(app)
    assert ("/api/datasets/{id}/datapoints/", False) in paths
    for path, is_mount in paths:
        end = r"(?:[`?/ …])" if is_mount else r"(?:[`? ])"
        pattern = rf"`(?:GET |HEAD )?{re.escape(path.rstrip('/') if is_mount else path)}{end}"
        assert re.search(pattern, ALL_DOCS), f"route {path} is not described in docs/*.md"


def test_doc_links_point_at_pages_that_exist_or_are_written_alongside():
    for page in sorted(DOCS.glob("*.md")):
        for target in re.findall(r"\]\(([\w.-]+\.md)(?:#[\w-]+)?\)", page.read_text()):
            assert (DOCS / target).exists() or target in SIBLING_PAGES, f"{page.name} links to {target}"
    readme = (REPO / "README.md").read_text()
    for name in ("format.md", "python.md", "cli.md", "http.md"):
        assert f"docs/{name}" in readme


# -- the format, read from docs/format.md alone ---------------------------------

def _json_block_after(text: str, marker: str) -> dict:
    start = text.index(marker)
    block = re.search(r"```json\n(.*?)```", text[start:], re.S)
    return json.loads(block.group(1))


def _int64(value: int) -> bytes:
    return struct.pack("<q", value)


def _doc_checksum(rows: list[dict]) -> str:
    """The checksum exactly as docs/format.md defines it, one row at a time."""
    h = hashlib.sha256(b"overmind-lake-checksum-v1")
    h.update(_int64(len(rows)))
    for column in ["id", "input", "expected_output", "order", "persona", "tags", "source", "agent",
                   "generator_model"]:
        h.update(column.encode("utf-8") + b"\x00")
        if column == "order":
            for row in rows:
                h.update(_int64(row["order"]))
        else:
            values = [None if row[column] is None else row[column].encode("utf-8") for row in rows]
            for value in values:
                h.update(_int64(-1 if value is None else len(value)))
            for value in values:
                h.update(value or b"")
    return h.hexdigest()


def _doc_latest(commits: Path) -> int:
    """Latest version as docs/format.md says: listing, then probing n + 1."""
    names = [p.name for p in commits.iterdir()] if commits.is_dir() else []
    found = [int(n[1:-5]) for n in names if re.fullmatch(r"_\d{8,}\.json", n)]
    latest = max(found, default=0)
    while (commits / f"_{latest + 1:08d}.json").exists():
        latest += 1
    return latest


def test_a_reader_written_from_format_md_reads_the_demo_lake(tmp_path):
    import overmind_lake

    root = tmp_path / "lake"
    shutil.copytree(REPO / "data" / "lake", root)
    (root / "dataset_id=00000000-0000-0000-0000-000000000000").mkdir()  # no version 1: not a dataset
    schema = _json_block_after(FORMAT_DOC, "The record's JSON Schema")
    file_schema = schema["properties"]["files"]["items"]
    lake = overmind_lake.Lake(root)
    seen = set()
    for directory in sorted(root.glob("dataset_id=*")):
        if not (directory / "_commits" / "_00000001.json").exists():
            continue
        record = json.loads((directory / "_dataset.json").read_text())
        assert record["id"] == directory.name.split("=", 1)[1] and record["format"] == 1
        claim = root / "_names" / f"{hashlib.sha256(record['name'].encode('utf-8')).hexdigest()}.json"
        assert json.loads(claim.read_text()) == {"name": record["name"], "dataset_id": record["id"]}
        seen.add(record["id"])
        latest = _doc_latest(directory / "_commits")
        assert latest == lake.dataset_info(record["id"])["latest_version"]
        for version in range(1, latest + 1):
            commit = json.loads((directory / "_commits" / f"_{version:08d}.json").read_text())
            assert list(commit) == schema["required"] and set(commit) == set(schema["properties"])
            rows = []
            for entry in commit["files"]:
                assert list(entry) == file_schema["required"]
                data = (root / entry["path"]).read_bytes()
                assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"])
                table = pq.read_table(root / entry["path"])
                assert table.column_names == ["id", "input", "expected_output", "order", "persona", "tags",
                                              "source", "agent", "generator_model"]
                assert table.num_rows == entry["rows"]
                rows.extend(table.to_pylist())
            assert rows == sorted(rows, key=lambda r: (r["order"], r["id"].encode("utf-8")))
            assert len(rows) == commit["count"]
            assert _doc_checksum(rows) == commit["checksum"]
            counts = {s: sum(r["source"] == s for r in rows) for s in ("seed", "synthetic", "augmented",
                                                                       "production")}
            assert commit["source_counts"] == counts
            assert commit["generator_models"] == sorted({r["generator_model"] for r in rows} - {None})
            ours = lake.datapoints(record["id"], version=version).to_arrow()
            assert ours.drop_columns(["dataset_id", "version"]).to_pylist() == rows
    assert seen == {d["id"] for d in lake.dataset_infos()} and len(seen) == 3


def test_the_doc_checksum_matches_on_edge_values(tmp_path):
    """Nulls versus empty strings, unicode, an empty version."""
    import overmind_lake

    lake = overmind_lake.Lake(tmp_path / "lake")
    v = lake.create_dataset("edges", [
        {"input": "", "expected_output": None, "persona": "", "tags": {"é": "ü"}, "order": 3},
        {"input": {"n": 2 ** 70}, "expected_output": [], "persona": None, "tags": None, "order": 1,
         "generator_model": "gpt-☃"},
    ])
    rows = lake.datapoints("edges").to_arrow().drop_columns(["dataset_id", "version"]).to_pylist()
    assert _doc_checksum(rows) == v.checksum
    empty = lake.create_dataset("empty", [])
    assert _doc_checksum([]) == empty.checksum
