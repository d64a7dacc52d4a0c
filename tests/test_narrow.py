"""Filters and orderings on dictionary codes (query/narrow.py, query/positions.py)
give exactly DuckDB's answer, whatever slice is asked first."""

from __future__ import annotations

import itertools
import random
import uuid

import numpy as np
import pyarrow as pa
import pytest

import overmind_lake
from overmind_lake.query.listquery import ListParams
from overmind_lake.query.narrow import _id_words
from overmind_lake.query.positions import _by_codes, encoded_positions, query_positions

PERSONAS = ["Zoë", "zoe", "Émilie", "admin", "a", "日本語", "Bob", None, "bob", "ZZ"]
MODELS = ["m1", "m2", "m3", None]
AGENTS = [str(uuid.UUID(int=7)), str(uuid.UUID(int=99)), None]
SOURCES = ["seed", "synthetic", "augmented", "production"]


def _rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    personas = PERSONAS[: 4 + seed % 6]  # versions and row groups see different dictionaries
    return [{"id": str(uuid.UUID(int=rng.getrandbits(128))), "input": {"i": i}, "order": rng.randrange(50),
             "persona": rng.choice(personas), "source": rng.choice(SOURCES[: 2 + seed % 3]),
             "generator_model": rng.choice(MODELS), "agent": rng.choice(AGENTS)} for i in range(n)]


@pytest.fixture(scope="module")
def nlake(tmp_path_factory):
    lake = overmind_lake.Lake(tmp_path_factory.mktemp("n") / "lake")
    lake.create_dataset("d", _rows(5000, 1))  # 3 row groups of 2,048
    lake.add_version("d", _rows(300, 2))
    lake.add_version("d", [])
    lake.add_version("d", _rows(2500, 4))
    return lake


ORDERINGS = [None, "-persona", "persona", "source,-persona", "-generator_model", "order", "-order", "id", "-id",
             "-version", "version,-persona", "persona,-order", "-source,generator_model,-id", "generator_model,order"]
FILTERS = [{}, {"source": "seed"}, {"generator_model": "m2"}, {"agent": AGENTS[1]},
           {"source": "synthetic", "generator_model": "m1"}, {"generator_model": "absent"}]


@pytest.mark.parametrize("versions", [{"version": 1}, {}, {"version_min": 1, "version_max": 4}])
@pytest.mark.parametrize("ordering", ORDERINGS)
def test_codes_give_duckdbs_positions(nlake, versions, ordering):
    record = nlake.dataset("d")
    for filters in FILTERS:
        params = ListParams.build(ordering=ordering, **filters, **versions)
        q = nlake.query(record, params)
        where, bound = q._where()
        keys = None if q.storage_ordered else q.ordering
        expected = encoded_positions(q.engine, q._vfs, where, bound, keys)
        nlake.engine._cache.clear()
        got = _by_codes(q.engine, q._vfs, bound, keys)  # not DuckDB's fallback
        assert got is not None
        assert len(got) == len(expected)
        # a middle slice first (buckets are sorted on demand), then the whole
        rng = np.random.default_rng(len(expected))
        for offset in rng.integers(0, max(1, len(expected)), 3):
            assert np.array_equal(got.slice(int(offset), 37), expected[offset:offset + 37])
        assert np.array_equal(got.slice(0, len(expected)), expected), (ordering, filters, versions)
        cached = query_positions(q.engine, q._vfs, where, bound, keys)
        assert np.array_equal(cached.slice(0, len(expected)), expected)


def test_pages_match_the_sql_ordering(nlake):
    for ordering, filters in itertools.product(["-persona", "source,-id"], FILTERS[:3]):
        q = nlake.datapoints("d", ordering=ordering, version_min=1, **filters)
        expected = [r["id"] for r in q.to_arrow().to_pylist()]
        got = [r["id"] for page in range(1, -(-len(expected) // 500) + 1)
               for r in q.page(page, 500)["results"]]
        assert got == expected


def test_only_canonical_ids_become_numbers():
    ids = [str(uuid.UUID(int=5)), "00000000-0000-0000-0000-00000000000a"]
    words = _id_words(pa.chunked_array([pa.array(ids)]))
    assert words.tolist() == [[0, 5], [0, 10]]
    assert _id_words(pa.chunked_array([pa.array([ids[0].upper()[:-1] + "A"])])) is None
    assert _id_words(pa.chunked_array([pa.array(["not-a-uuid"])])) is None
    assert _id_words(pa.chunked_array([pa.array(["0000000000000000000000000000000000ab"])])) is None
