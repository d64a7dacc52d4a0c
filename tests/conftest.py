"""Shared fixtures: real lakes in temporary directories."""

from __future__ import annotations

import pytest

import overmind_lake


@pytest.fixture
def lake(tmp_path) -> overmind_lake.Lake:
    """An empty lake on local disk."""
    return overmind_lake.Lake(tmp_path / "lake")


def make_rows(n: int, *, start: int = 0, **overrides) -> list[dict]:
    """``n`` small, varied datapoints (deterministic)."""
    sources = ("seed", "synthetic", "augmented", "production")
    rows = []
    for i in range(start, start + n):
        row = {
            "input": {"messages": [{"role": "user", "content": f"question {i}"}], "n": i},
            "expected_output": {"answer": f"answer {i}"},
            "persona": f"persona-{i % 7}",
            "tags": {"difficulty": ["easy", "hard"][i % 2]},
            "source": sources[i % 4],
            "generator_model": None if i % 3 == 0 else f"model-{i % 3}",
        }
        row.update(overrides)
        rows.append(row)
    return rows
