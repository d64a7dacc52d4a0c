"""Big inputs written chunk by chunk (ingest/stream.py): same version as an
in-memory write of the same rows, errors numbered from the input's start,
nothing left behind on failure. Chunks are made tiny so the tests exercise
many of them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from overmind_lake import Lake, ValidationError
from overmind_lake.ingest import stream

from conftest import make_rows

N = 50


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(stream, "CHUNK_ROWS", 7)
    monkeypatch.setattr(stream, "STREAM_MIN_ROWS", 10)
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 1000)
    monkeypatch.setattr(stream, "JSONL_CHUNK_BYTES", 700)


def arrow_rows(n: int = N, *, order=None, ids=None) -> pa.Table:
    rows = make_rows(n)
    for i, row in enumerate(rows):
        row["id"] = ids[i] if ids else str(uuid.UUID(int=i + 1))
        for field in ("input", "expected_output", "tags"):
            row[field] = json.dumps(row[field])
        if order is not None:
            row["order"] = order(i)
    return pa.Table.from_pylist(rows)


def write_parquet(table: pa.Table, path: Path) -> str:
    pq.write_table(table, path)
    return str(path)


def data_files(lake_root: Path, dataset_id: str) -> list[Path]:
    return sorted((lake_root / f"dataset_id={dataset_id}").rglob("*.parquet"))


def same_version(lake: Lake, a: str, b: str) -> None:
    va, vb = lake.versions(a).row(0, named=True), lake.versions(b).row(0, named=True)
    for key in ("count", "checksum", "source_counts", "generator_models"):
        assert va[key] == vb[key], key
    ra = lake.datapoints(a).to_polars().drop("dataset_id")
    rb = lake.datapoints(b).to_polars().drop("dataset_id")
    assert ra.equals(rb)


def test_parquet_in_order_is_streamed_and_equals_in_memory(lake, tmp_path):
    table = arrow_rows()
    streamed = lake.create_dataset("streamed", write_parquet(table, tmp_path / "in.parquet")).dataset_id
    in_memory = lake.create_dataset("in-memory", table).dataset_id
    same_version(lake, streamed, in_memory)
    # one file per chunk of 7 rows: the chunks arrived in order and were kept
    assert len(lake.commits(streamed)[0].files) == -(-N // 7)
    assert len(data_files(tmp_path / "lake", streamed)) == -(-N // 7)
    assert lake.datapoints(streamed).to_polars()["order"].to_list() == list(range(N))
    assert lake.verify(streamed) == []


def test_overlapping_chunks_are_merged_into_storage_order(lake, tmp_path):
    table = arrow_rows(order=lambda i: (i * 17) % N)  # every chunk spans the whole key range
    streamed = lake.create_dataset("streamed", write_parquet(table, tmp_path / "in.parquet")).dataset_id
    in_memory = lake.create_dataset("in-memory", table).dataset_id
    same_version(lake, streamed, in_memory)
    orders = lake.datapoints(streamed).to_polars()["order"].to_list()
    assert orders == sorted(orders)
    # the chunk files were replaced by the merged ones
    record = lake.commits(streamed)[0]
    assert sorted(Path(f.path).name for f in record.files) == [p.name for p in data_files(tmp_path / "lake", streamed)]
    assert lake.datapoints(streamed, ordering="order").page(page="last", page_size=7)["results"][-1]["order"] == N - 1
    assert lake.verify(streamed) == []


def test_record_batch_reader_in_small_batches(lake):
    table = arrow_rows()
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=3))
    ds = lake.create_dataset("d", arrow_rows().slice(0, 1)).dataset_id
    lake.add_version(ds, reader, message="from a reader")
    in_memory = lake.create_dataset("in-memory", table).dataset_id
    va = lake.versions(ds).row(1, named=True)
    vb = lake.versions(in_memory).row(0, named=True)
    assert (va["version"], va["message"], va["count"], va["checksum"]) == (2, "from a reader", N, vb["checksum"])


def test_default_order_counts_from_the_start_of_the_input(lake, tmp_path):
    table = arrow_rows().drop_columns(["id"])
    ds = lake.create_dataset("d", write_parquet(table, tmp_path / "in.parquet")).dataset_id
    frame = lake.datapoints(ds).to_polars()
    assert frame["order"].to_list() == list(range(N))
    assert frame["input"].map_elements(lambda s: json.loads(s)["n"], return_dtype=int).to_list() == list(range(N))


def test_invalid_row_in_a_later_chunk_names_its_row_and_leaves_nothing(lake, tmp_path):
    table = arrow_rows()
    ids = table.column("id").to_pylist()
    ids[23] = "not-a-uuid"
    table = table.set_column(table.schema.get_field_index("id"), "id", pa.array(ids))
    ds = lake.create_dataset("d", arrow_rows().slice(0, 2)).dataset_id
    before = data_files(tmp_path / "lake", ds)
    with pytest.raises(ValidationError) as exc:
        lake.add_version(ds, write_parquet(table, tmp_path / "in.parquet"))
    assert (exc.value.row, exc.value.field) == (23, "id")
    assert lake.versions(ds)["version"].to_list() == [1]
    assert data_files(tmp_path / "lake", ds) == before


def test_duplicate_id_across_chunks_names_the_second_row(lake, tmp_path):
    ids = [str(uuid.UUID(int=i + 1)) for i in range(N)]
    ids[40] = ids[3]
    ids[45] = ids[44]
    table = arrow_rows(ids=ids)
    with pytest.raises(ValidationError) as exc:
        lake.create_dataset("d", write_parquet(table, tmp_path / "in.parquet"))
    assert exc.value.row == 40 and ids[3] in str(exc.value)
    # the name was released and no file or directory of the failed write remains
    assert lake.datasets().height == 0
    assert [p for p in (tmp_path / "lake").rglob("*") if "dataset_id=" in str(p)] == []


def test_a_failing_cleanup_does_not_hide_the_error_that_stopped_the_create(lake, tmp_path, monkeypatch):
    ids = [str(uuid.UUID(int=i + 1)) for i in range(N)]
    ids[30] = ids[2]

    def refuse(record):
        raise PermissionError("the name claim cannot be removed")

    monkeypatch.setattr(lake.catalog, "remove_uncommitted_dataset", refuse)
    with pytest.raises(ValidationError) as exc:
        lake.create_dataset("d", write_parquet(arrow_rows(ids=ids), tmp_path / "in.parquet"))
    assert exc.value.row == 30


def test_small_parquet_files_are_written_in_memory(lake, tmp_path):
    path = write_parquet(arrow_rows(9), tmp_path / "in.parquet")
    ds = lake.create_dataset("d", path).dataset_id
    assert len(lake.commits(ds)[0].files) == 1


def test_empty_reader_writes_an_empty_version_like_an_empty_table(lake):
    table = arrow_rows(3)
    ds = lake.create_dataset("d", table).dataset_id
    lake.add_version(ds, pa.RecordBatchReader.from_batches(table.schema, []))
    lake.add_version(ds, table.slice(0, 0))
    versions = lake.versions(ds)
    assert versions["count"].to_list() == [3, 0, 0]
    assert versions["checksum"][1] == versions["checksum"][2]


def test_empty_reader_with_an_unknown_column_is_rejected_like_an_empty_table(lake):
    schema = pa.schema([("input", pa.string()), ("bogus", pa.string())])
    ds = lake.create_dataset("d", arrow_rows(3)).dataset_id
    with pytest.raises(ValidationError) as from_table:
        lake.add_version(ds, schema.empty_table())
    with pytest.raises(ValidationError) as from_reader:
        lake.add_version(ds, pa.RecordBatchReader.from_batches(schema, []))
    assert str(from_reader.value) == str(from_table.value)
    assert from_reader.value.field == "bogus"
    assert lake.versions(ds)["version"].to_list() == [1]


def test_derive_takes_a_record_batch_reader(lake):
    ds = lake.create_dataset("d", arrow_rows(3)).dataset_id
    extra = arrow_rows(5).slice(3)
    lake.derive(ds, add=pa.RecordBatchReader.from_batches(extra.schema, extra.to_batches()))
    assert lake.versions(ds)["count"].to_list() == [3, 5]


def jsonl_text(rows: list[dict], *, blank_every: int = 0) -> str:
    lines = []
    for i, row in enumerate(rows):
        lines.append(json.dumps(row))
        if blank_every and i % blank_every == 0:
            lines.append("   ")  # blank lines keep their number
    return "\n".join(lines) + "\n"


def jsonl_rows(n: int = N) -> list[dict]:
    rows = make_rows(n)
    for i, row in enumerate(rows):
        row["id"] = str(uuid.UUID(int=i + 1))
    return rows


def test_big_jsonl_is_streamed_in_blocks_of_lines_and_equals_in_memory(lake, tmp_path, monkeypatch):
    path = tmp_path / "in.jsonl"
    path.write_text(jsonl_text(jsonl_rows(), blank_every=4), encoding="utf-8")
    assert path.stat().st_size > 3 * stream.JSONL_CHUNK_BYTES
    streamed = lake.create_dataset("streamed", str(path)).dataset_id
    assert len(lake.commits(streamed)[0].files) > 3  # one file per block
    monkeypatch.setattr(stream, "STREAM_MIN_BYTES", 1 << 40)
    in_memory = lake.create_dataset("in-memory", str(path)).dataset_id
    assert len(lake.commits(in_memory)[0].files) == 1
    same_version(lake, streamed, in_memory)
    assert lake.datapoints(streamed).to_polars()["order"].to_list() == list(range(N))


def test_jsonl_error_in_a_later_block_names_its_line_in_the_file(lake, tmp_path):
    rows = jsonl_rows()
    text = jsonl_text(rows, blank_every=4).splitlines()
    bad_line = len(text) - 3  # 1-based number of a line near the end
    text[bad_line - 1] = '{"input": 1, "source": "nope"}'
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as exc:
        lake.create_dataset("d", str(path))
    assert (exc.value.row, exc.value.row_label, exc.value.field) == (bad_line, "line", "source")
    text[bad_line - 1] = '{"input": [1, nan]}'
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as exc:
        lake.create_dataset("d", str(path))
    assert (exc.value.row, exc.value.row_label) == (bad_line, "line")
    assert lake.datasets().height == 0
    assert list((tmp_path / "lake").rglob("*.parquet")) == []


def test_jsonl_duplicate_id_across_blocks_names_the_later_line(lake, tmp_path):
    rows = jsonl_rows()
    rows[40]["id"] = rows[2]["id"]
    path = tmp_path / "in.jsonl"
    path.write_text(jsonl_text(rows), encoding="utf-8")
    with pytest.raises(ValidationError) as exc:
        lake.create_dataset("d", str(path))
    assert (exc.value.row, exc.value.row_label) == (41, "line")
    assert rows[2]["id"] in str(exc.value)


def test_jsonl_line_longer_than_a_block_and_no_final_newline(lake, tmp_path):
    rows = jsonl_rows(20)
    rows[5]["input"] = {"text": "x" * (3 * stream.JSONL_CHUNK_BYTES)}
    path = tmp_path / "in.jsonl"
    path.write_text(jsonl_text(rows).rstrip("\n"), encoding="utf-8")
    ds = lake.create_dataset("d", str(path)).dataset_id
    got = lake.datapoints(ds).to_polars()
    assert got.height == 20
    assert json.loads(got["input"][5]) == rows[5]["input"]
    assert got["id"].to_list() == [r["id"] for r in rows]


def test_jsonl_bad_utf8_in_a_later_block_names_its_line(lake, tmp_path):
    lines = [json.dumps(r).encode() for r in jsonl_rows()]
    lines[37] = b'{"input": "\xff"}'
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(ValidationError) as exc:
        lake.create_dataset("d", str(path))
    assert (exc.value.row, exc.value.row_label) == (38, "line")
