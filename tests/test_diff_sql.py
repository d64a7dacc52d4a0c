"""docs/python.md: diff between two versions, and SQL over the whole lake."""

from __future__ import annotations

import json
import uuid

import polars as pl
import pytest

import overmind_lake
from conftest import make_rows

AGENT = "11111111-2222-4333-8444-555555555555"
DIFF_COLUMNS = ["id", "change"] + [f"{f}_{s}" for f in ("input", "expected_output", "order", "persona", "tags",
                                                         "source", "agent", "generator_model") for s in "ab"]


def test_diff(lake):
    rows = make_rows(5)
    for i, r in enumerate(rows):
        r["id"] = str(uuid.UUID(int=i + 1))
    lake.create_dataset("d", rows)
    v2 = lake.derive("d", remove_ids=[rows[0]["id"]],
                     replace=[{**rows[1], "persona": "changed"},
                              {**rows[2], "input": {"n": 2, "messages": [{"role": "user", "content": "question 2"}]}}],
                     add=[{"id": str(uuid.UUID(int=99)), "input": "new"}])
    df = lake.diff("d", 1, 2)
    assert df.columns == DIFF_COLUMNS
    changes = dict(zip(df["id"], df["change"]))
    assert changes == {rows[0]["id"]: "removed", rows[1]["id"]: "changed", rows[2]["id"]: "changed",
                       str(uuid.UUID(int=99)): "added"}
    by_id = {r["id"]: r for r in df.iter_rows(named=True)}
    assert (by_id[rows[1]["id"]]["persona_a"], by_id[rows[1]["id"]]["persona_b"]) == ("persona-1", "changed")
    # a key-order change is a change (lossless)
    assert by_id[rows[2]["id"]]["input_a"] != by_id[rows[2]["id"]]["input_b"]
    assert json.loads(by_id[rows[2]["id"]]["input_a"]) == json.loads(by_id[rows[2]["id"]]["input_b"])
    removed = by_id[rows[0]["id"]]
    assert removed["input_b"] is None and json.loads(removed["input_a"]) == rows[0]["input"]
    added = by_id[str(uuid.UUID(int=99))]
    assert added["order_a"] is None and added["order_b"] == 5 and json.loads(added["input_b"]) == "new"
    # the reverse diff swaps added and removed; a version against itself is empty
    back = dict(zip(*lake.diff("d", 2, 1).select("id", "change").to_dict(as_series=False).values()))
    assert back[rows[0]["id"]] == "added" and back[str(uuid.UUID(int=99))] == "removed"
    same = lake.diff("d", 2, 2)
    assert same.height == 0 and same.columns == DIFF_COLUMNS
    assert v2.version == 2


def test_diff_sees_every_field(lake):
    base = {"id": str(uuid.UUID(int=1)), "input": 1, "expected_output": 2, "order": 0, "persona": "p",
            "tags": [1], "source": "seed", "agent": None, "generator_model": None}
    lake.create_dataset("d", [base])
    changes = {"input": 9, "expected_output": 9, "order": 9, "persona": "q", "tags": [2],
               "source": "synthetic", "agent": AGENT, "generator_model": "g"}
    for n, (field, value) in enumerate(changes.items(), start=2):
        lake.add_version("d", [{**base, field: value}])
        df = lake.diff("d", 1, n)
        assert df["change"].to_list() == ["changed"], field
        for other in changes:
            differs = df[f"{other}_a"][0] != df[f"{other}_b"][0]
            assert differs == (other == field), (field, other)


def test_diff_bad_versions(lake):
    lake.create_dataset("d", make_rows(1))
    with pytest.raises(overmind_lake.VersionNotFound):
        lake.diff("d", 1, 2)


def test_sql_over_the_whole_lake(lake):
    a = lake.create_dataset("a", make_rows(4), agent=AGENT, description="first")
    lake.add_version("a", make_rows(2))
    b = lake.create_dataset("b", make_rows(3))
    lake.create_dataset("c", [])
    df = lake.sql("SELECT name, latest_version FROM datasets ORDER BY name")
    assert df.rows() == [("a", 2), ("b", 1), ("c", 1)]
    df = lake.sql("SELECT dataset_id, version, count, parent_version FROM versions ORDER BY dataset_id, version")
    assert sorted(df.rows()) == sorted([(a.dataset_id, 1, 4, None), (a.dataset_id, 2, 2, None),
                                        (b.dataset_id, 1, 3, None), (lake.dataset("c").id, 1, 0, None)])
    df = lake.sql("SELECT dataset_id, version, count(*) AS n FROM datapoints GROUP BY ALL ORDER BY ALL")
    assert sorted(df.rows()) == sorted([(a.dataset_id, 1, 4), (a.dataset_id, 2, 2), (b.dataset_id, 1, 3)])
    cols = lake.sql("SELECT * FROM datapoints LIMIT 0").columns
    assert cols == ["dataset_id", "version", "id", "input", "expected_output", "order", "persona", "tags",
                    "source", "agent", "generator_model"]
    # JSON stays JSON text, queryable with DuckDB's JSON functions
    df = lake.sql("SELECT json_extract_string(input, '$.messages[0].content') AS c FROM datapoints "
                  "WHERE dataset_id = $id AND version = 1 ORDER BY \"order\"", {"id": b.dataset_id})
    assert df["c"].to_list() == ["question 0", "question 1", "question 2"]
    df = lake.sql("SELECT d.name, count(*) AS n FROM datapoints p JOIN datasets d ON d.id = p.dataset_id "
                  "JOIN versions v ON v.dataset_id = p.dataset_id AND v.version = p.version "
                  "WHERE v.version = d.latest_version GROUP BY ALL ORDER BY 1")
    assert df.rows() == [("a", 2), ("b", 3)]
    assert lake.sql("SELECT agent FROM datapoints WHERE dataset_id = ? LIMIT 1", [a.dataset_id])["agent"][0] == AGENT


def test_sql_on_an_empty_lake(lake):
    assert lake.sql("SELECT count(*) AS n FROM datapoints")["n"][0] == 0
    assert lake.sql("SELECT * FROM versions").height == 0
    assert lake.sql("SELECT * FROM datasets").height == 0
