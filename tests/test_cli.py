"""The command line of docs/cli.md (data commands), through click's runner on real lakes."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

import overmind_lake
from overmind_lake.cli import cli

AGENT = "6a1f0000-0000-4000-8000-000000000001"
ROWS = [
    {"id": "00000000-0000-4000-8000-000000000001", "input": {"q": "hi"}, "expected_output": "hello",
     "persona": "alice", "tags": ["a"], "source": "seed"},
    {"id": "00000000-0000-4000-8000-000000000002", "input": {"big": 123456789012345678901234567890},
     "expected_output": None, "persona": "bob", "tags": None, "source": "synthetic", "generator_model": "m1"},
    {"id": "00000000-0000-4000-8000-000000000003", "input": "ünïcode", "expected_output": {"x": [1, 2]},
     "persona": None, "tags": {}, "source": "production"},
]


def run(*args: str, root=None, input: str | None = None):
    argv = list(args) + (["--root", str(root)] if root is not None else [])
    return CliRunner().invoke(cli, argv, input=input, prog_name="overmind-lake")


@pytest.fixture
def tiny(tmp_path):
    """A lake with dataset 'tiny': v1 = ROWS, v2 = ROWS minus row 2 plus one changed row."""
    lake = overmind_lake.Lake(tmp_path / "lake")
    lake.create_dataset("tiny", ROWS, agent=AGENT, description="three rows", message="first")
    lake.derive("tiny", remove_ids=[ROWS[1]["id"]], replace=[{**ROWS[0], "expected_output": "hey"}],
                add=[{"id": "00000000-0000-4000-8000-000000000004", "input": 4, "persona": "carol"}],
                source="augmented", generator_model="m2", message="second")
    return lake


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_ingest_creates_then_adds_a_version(tmp_path):
    root = tmp_path / "lake"
    data = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    first = run("ingest", str(data), "--name", "t", "--message", "m", root=root)
    lake = overmind_lake.Lake(root)
    info = lake.version_infos("t")[0]
    dataset_id = lake.dataset("t").id
    assert first.exit_code == 0, first.output
    assert first.stderr == ""  # no progress bar when stderr is not a terminal
    assert first.stdout == (f"created dataset t ({dataset_id}): version 1, 3 datapoints, "
                            f"checksum {info['checksum']}\n")
    agent = str(uuid.uuid4())
    second = run("ingest", str(data), "--dataset", "t", "--source", "augmented", "--generator-model", "g",
                 "--agent", agent, root=root)
    assert second.exit_code == 0, second.output
    v2 = overmind_lake.Lake(root).version_infos("t")[1]
    assert second.stdout == (f"added version to t ({dataset_id}): version 2, 3 datapoints, "
                             f"checksum {v2['checksum']}\n")
    frame = overmind_lake.Lake(root).datapoints("t").to_polars()
    # rows that set source / generator_model keep theirs; the others take the options
    assert frame["source"].to_list() == ["seed", "synthetic", "production"]
    assert frame["generator_model"].to_list() == ["g", "m1", "g"]
    assert frame["agent"].to_list() == [agent] * 3
    assert frame["input"].to_list()[1] == '{"big":123456789012345678901234567890}'


def test_ingest_parquet_and_json(tmp_path, tiny):
    parquet = tmp_path / "v.parquet"
    tiny.datapoints("tiny", version=1).to_polars().write_parquet(parquet)
    result = run("ingest", str(parquet), "--name", "copy", root=tiny.root)
    assert result.exit_code == 0, result.output
    assert tiny.version_infos("copy")[0]["checksum"] == tiny.version_infos("tiny")[0]["checksum"]
    array = tmp_path / "rows.json"
    array.write_text(json.dumps(ROWS))
    assert run("ingest", str(array), "--dataset", "copy", root=tiny.root).exit_code == 0


@pytest.mark.parametrize("args", [[], ["--name", "a", "--dataset", "b"]])
def test_ingest_needs_exactly_one_target(tmp_path, args):
    result = run("ingest", str(write_jsonl(tmp_path / "r.jsonl", ROWS)), *args, root=tmp_path / "lake")
    assert result.exit_code == 2
    assert "Error: give exactly one of --name (new dataset) or --dataset (new version)" in result.stderr


def test_ingest_errors_are_one_line_exit_1(tmp_path, tiny):
    data = write_jsonl(tmp_path / "r.jsonl", ROWS)
    result = run("ingest", str(data), "--name", "tiny", root=tiny.root)
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "", "error: a dataset named 'tiny' already exists\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": 1}\n{"input": 2, "source": "nope"}\n')
    result = run("ingest", str(bad), "--dataset", "tiny", root=tiny.root)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: line 2, field 'source'") and result.stderr.count("\n") == 1
    assert len(tiny.version_infos("tiny")) == 2  # nothing written


def test_debug_shows_the_exception(tiny):
    result = CliRunner().invoke(cli, ["show", "nope", "--root", str(tiny.root), "--debug"])
    assert isinstance(result.exception, overmind_lake.DatasetNotFound)
    plain = run("show", "nope", root=tiny.root)
    assert (plain.exit_code, plain.stderr) == (1, "error: no dataset matches 'nope'\n")


def test_datasets_table(tiny):
    result = run("datasets", root=tiny.root)
    info = tiny.dataset_infos()[0]
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "id                                    name  latest_version  created_at                   "
        "agent                                 description",
        "------------------------------------  ----  --------------  ---------------------------  "
        "------------------------------------  -----------",
        f"{info['id']}  tiny  2               {info['created_at']}  {AGENT}  three rows",
    ]


def test_versions_table(tiny):
    result = run("versions", "tiny", root=tiny.root)
    v1, v2 = tiny.version_infos("tiny")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["version", "created_at", "parent", "count", "sources", "generator_models",
                                "checksum", "message"]
    assert lines[2] == (f"1        {v1['created_at']}          3      seed=1 synthetic=1 production=1  m1"
                        f"                {v1['checksum'][:12]}  first")
    assert lines[3] == (f"2        {v2['created_at']}  1       3      seed=1 augmented=1 production=1  m2"
                        f"                {v2['checksum'][:12]}  second")


def test_show_json_is_the_documented_page(tiny):
    result = run("show", "tiny", "--format", "json", "--page-size", "2", "--version-min", "1",
                 "--ordering", "-persona", root=tiny.root)
    assert result.exit_code == 0
    query = tiny.datapoints("tiny", version_min=1, ordering="-persona")
    assert result.stdout == query.page_json(1, 2).decode() + "\n"
    page = json.loads(result.stdout)
    assert list(page) == ["count", "next", "previous", "results"]
    assert page["count"] == 6 and page["next"] == "?ordering=-persona&page=2&page_size=2&version_min=1"
    assert list(page["results"][0]) == ["id", "expected_output", "input", "order", "persona", "tags"]


def test_show_jsonl_filters_and_last_page(tiny):
    result = run("show", "tiny", "--version", "1", "--source", "synthetic", "--generator-model", "m1",
                 "--agent", AGENT, "--format", "jsonl", root=tiny.root)
    assert result.exit_code == 0
    assert result.stdout == ('{"id":"00000000-0000-4000-8000-000000000002","expected_output":null,'
                             '"input":{"big":123456789012345678901234567890},"order":1,"persona":"bob",'
                             '"tags":null}\n')
    last = run("show", "tiny", "--page", "last", "--page-size", "2", "--format", "jsonl", root=tiny.root)
    assert [json.loads(x)["id"][-1] for x in last.stdout.splitlines()] == ["4"]


def test_show_table(tiny):
    result = run("show", "tiny", root=tiny.root)
    assert result.exit_code == 0
    assert result.stdout == (
        "order  id                                    persona  input       expected_output  tags\n"
        "-----  ------------------------------------  -------  ----------  ---------------  -----\n"
        '0      00000000-0000-4000-8000-000000000001  alice    {"q":"hi"}  "hey"            ["a"]\n'
        '2      00000000-0000-4000-8000-000000000003           "ünïcode"   {"x":[1,2]}      {}\n'
        "3      00000000-0000-4000-8000-000000000004  carol    4           null             null\n"
        "page 1 of 1 (3 datapoints)\n")


@pytest.mark.parametrize("args, code, message", [
    (["--page", "9"], 1, "error: invalid page: 9\n"),
    (["--ordering", "nope"], 1, "error: field 'ordering': unknown ordering field 'nope'; allowed fields: "
                                "order, id, persona, version, source, generator_model (prefix - for descending)\n"),
    (["--agent", "x"], 1, "error: field 'agent': must be a UUID\n"),
    (["--page-size", "1001"], 1, "error: field 'page_size': must be an integer from 1 to 1000\n"),
    (["--version", "9"], 0, None),
])
def test_show_errors(tiny, args, code, message):
    result = run("show", "tiny", *args, root=tiny.root)
    assert result.exit_code == code
    if message:
        assert result.stderr == message


@pytest.mark.parametrize("args", [["--source", "Seed"], ["--format", "csv"], ["--page", "x"],
                                  ["--version", "1.5"], ["--storage-option", "novalue"]])
def test_bad_usage_is_exit_2(tiny, args):
    result = run("show", "tiny", *args, root=tiny.root)
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: overmind-lake show [OPTIONS] ID")


def test_diff(tiny):
    result = run("diff", "tiny", "1", "2", root=tiny.root)
    assert result.exit_code == 0
    assert result.stdout == (
        "change   id                                    fields\n"
        "-------  ------------------------------------  --------------------------------\n"
        "changed  00000000-0000-4000-8000-000000000001  expected_output, generator_model\n"
        "removed  00000000-0000-4000-8000-000000000002\n"
        "added    00000000-0000-4000-8000-000000000004\n"
        "1 added, 1 removed, 1 changed\n")
    missing = run("diff", "tiny", "1", "7", root=tiny.root)
    assert (missing.exit_code, missing.stderr) == (1, f"error: dataset {tiny.dataset('tiny').id} has no version 7\n")
