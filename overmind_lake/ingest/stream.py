"""Writing a version too big to hold in memory, one chunk at a time.

A big Parquet file or an Arrow ``RecordBatchReader`` is read in chunks of
``CHUNK_ROWS`` rows, a big JSONL file in blocks of about ``JSONL_CHUNK_BYTES``
cut at line ends. Each chunk goes through the same staging, validation
and defaults as an in-memory write (assemble.py), is sorted by ``order, id``
and written as one data file of the version, while the next chunk is being
validated. Row numbers in errors count from the start of the input.

Afterwards, over the written files (bounded memory, DuckDB spilling to disk
where it must):

* ids are checked unique across chunks (DuckDB over a side file of
  ``id, row`` per chunk, kept in a local temporary directory);
* when the chunks' key ranges overlap, DuckDB merges the files into storage
  order — chunks that arrive in order, the common case, are kept as they are;
* the content checksum is computed file by file, column by column, and equals
  the one an in-memory write of the same rows gets.

Any error removes every file written; no commit record is made, so no reader
ever saw them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Iterable, Iterator

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..duck import run
from ..errors import ValidationError
from ..schema import FILE_SCHEMA, SOURCES
from ..storage.catalog import FileEntry
from ..storage.checksum import column_chunks
from ..storage.writer import VersionStats, VersionWriter
from .sources import Staging, jsonl_lines
from .assemble import connect, finish, first_duplicate, source_counts_and_models, stage, with_default_order
from .checksum import checksum_of_columns

#: Rows validated and written at a time (about 1 GB of working memory for
#: rows of a few hundred bytes of JSON).
CHUNK_ROWS = 1_000_000
#: A Parquet file with more rows than this is written chunk by chunk.
STREAM_MIN_ROWS = 2_000_000
#: A JSONL file of more bytes than this is written chunk by chunk (in memory,
#: a 1.5 GB file of 2M rows peaked at 3.2 GB RSS and went twice as fast)...
STREAM_MIN_BYTES = 2 << 30
#: ...in blocks of about this many bytes (whole lines; a longer line is one block).
JSONL_CHUNK_BYTES = 256 << 20
#: DuckDB's memory for the cross-chunk checks and the merge; it spills beyond.
DUCKDB_MEMORY = "4GB"

_COLUMNS = ", ".join(f'"{f.name}"' for f in FILE_SCHEMA)


def chunks_of(datapoints: Any,
              storage_options: dict[str, Any] | None = None) -> Iterator[pa.Table | Staging] | None:
    """The input as a stream of Arrow chunks, or None when it is small enough
    (or of a kind) to be written in memory."""
    if isinstance(datapoints, pa.RecordBatchReader):
        return _rechunk(datapoints, datapoints.schema)
    if isinstance(datapoints, (str, os.PathLike)) and os.fspath(datapoints).lower().endswith(".parquet"):
        import fsspec

        path = os.fspath(datapoints)
        try:
            with fsspec.open(path, "rb", **(storage_options or {})) as fh:
                rows = pq.ParquetFile(fh).metadata.num_rows
        except (OSError, pa.ArrowInvalid):
            return None  # the in-memory path reports it
        if rows > STREAM_MIN_ROWS:
            return _parquet_chunks(path, storage_options)
    if isinstance(datapoints, (str, os.PathLike)) and os.fspath(datapoints).lower().endswith((".jsonl", ".ndjson")):
        import fsspec

        path = os.fspath(datapoints)
        try:
            fs, inner = fsspec.core.url_to_fs(path, **(storage_options or {}))
            size = fs.size(inner)
        except OSError:
            return None  # the in-memory path reports it
        if size is not None and size > STREAM_MIN_BYTES:
            return _jsonl_chunks(path, storage_options)
    return None


def _jsonl_chunks(path: str, storage_options: dict[str, Any] | None) -> Iterator[Staging]:
    """Blocks of whole lines, each staged with its lines' numbers in the file."""
    import fsspec

    first_line = 1
    with fsspec.open(path, "rb", **(storage_options or {})) as fh:
        parts: list[bytes] = []  # a line longer than a block, read so far
        while True:
            block = fh.read(JSONL_CHUNK_BYTES)
            if not block:
                data = b"".join(parts)
                if data:
                    yield jsonl_lines(data, first_line)
                return
            if b"\n" not in block:
                parts.append(block)
                continue
            data = b"".join(parts + [block]) if parts else block
            cut = data.rfind(b"\n") + 1
            parts = [data[cut:]] if cut < len(data) else []
            yield jsonl_lines(data[:cut], first_line)
            first_line += data.count(b"\n", 0, cut)


def _parquet_chunks(path: str, storage_options: dict[str, Any] | None) -> Iterator[pa.Table]:
    import fsspec

    with fsspec.open(path, "rb", **(storage_options or {})) as fh:
        file = pq.ParquetFile(fh)
        yield from _rechunk(file.iter_batches(batch_size=64 * 1024), file.schema_arrow)


def _rechunk(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.Table]:
    """Tables of ``CHUNK_ROWS`` rows (the last one shorter; one empty table,
    with the input's columns, when there are no rows at all)."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        pending.append(batch)
        size += batch.num_rows
        while size >= CHUNK_ROWS:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, CHUNK_ROWS)
            rest = table.slice(CHUNK_ROWS)
            pending, size = rest.to_batches(), rest.num_rows
    if size or not pending:
        yield pa.Table.from_batches(pending, schema=schema)


def _shifted(error: ValidationError, offset: int) -> ValidationError:
    row = None if error.row is None else error.row + offset
    return ValidationError(error.field, error.rule, row=row, row_label=error.row_label)


class _Tally:
    """Per-source counts and generator models, summed over chunks."""

    def __init__(self) -> None:
        self.count = 0
        self.sources = {s: 0 for s in SOURCES}
        self.models: set[str] = set()

    def add(self, data: pa.Table) -> None:
        self.count += data.num_rows
        counts, models = source_counts_and_models(data)
        for source, n in counts.items():
            self.sources[source] += n
        self.models |= models


def _key(data: pa.Table, i: int) -> tuple[int, str]:
    return data.column("order")[i].as_py(), data.column("id")[i].as_py()


def write_stream(writer: VersionWriter, chunks: Iterable[pa.Table | Staging], *, source: str, agent: str | None,
                 generator_model: str | None) -> VersionStats:
    """Validate and write ``chunks`` as ``writer``'s version; its stats.

    On any error every file written is removed and the error is raised.
    """
    con = connect()
    scratch = tempfile.mkdtemp(prefix="overmind-lake-stream-")
    # the checks across chunks and the merge see the whole version: DuckDB
    # gets a memory limit there and spills to the scratch directory beyond it
    big = connect()
    run(big, f"SET memory_limit = '{DUCKDB_MEMORY}'")
    run(big, "SET temp_directory = '%s'" % scratch.replace("'", "''"))
    if not writer.fs.is_local:
        big.register_filesystem(writer.fs.fs)
    written: list[FileEntry] = []
    tally = _Tally()
    ranges: list[tuple[tuple[int, str], tuple[int, str]]] = []
    label = "row"
    def write(data: pa.Table) -> None:
        written.append(writer.write(data))  # (one writer thread: files stay in order)

    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending: Future | None = None
            offset = 0
            for chunk in chunks:
                # a staged part of a file numbers its rows (lines) already
                shift = 0 if isinstance(chunk, Staging) else offset
                try:
                    rows, label = stage(con, chunk, source=source, agent=agent, generator_model=generator_model)
                    rows = with_default_order(rows, first=offset, label=label)
                except ValidationError as exc:
                    raise _shifted(exc, shift) from None
                ids = rows.select(["id"]).append_column("rowno", pc.add(rows.column("rowno"), shift))
                pq.write_table(ids, os.path.join(scratch, f"ids-{offset:015d}.parquet"), compression="none")
                data, _ = finish(rows)
                del rows
                if data.num_rows:
                    tally.add(data)
                    ranges.append((_key(data, 0), _key(data, data.num_rows - 1)))
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(write, data)
                offset += chunk.table.num_rows if isinstance(chunk, Staging) else chunk.num_rows
            if pending is not None:
                pending.result()
        _check_unique(big, scratch, tally.count, label)
        in_order = all(a[1] < b[0] for a, b in zip(ranges, ranges[1:]))
        if in_order:
            writer.keep(written)
        else:
            writer.keep(_merge(big, writer, written))
            writer.discard(written)
        checksum = checksum_of_columns(tally.count, column_chunks(writer.fs, writer.files))
    except BaseException:
        writer.abort(written)
        raise
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:  # a generator reading a file: closed now, not when the traceback goes
            close()
        con.close()
        big.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return VersionStats(count=tally.count, source_counts=tally.sources, generator_models=sorted(tally.models),
                        checksum=checksum)


def _check_unique(con: duckdb.DuckDBPyConnection, scratch: str, count: int, label: str) -> None:
    if count < 2:
        return
    pattern = os.path.join(scratch, "ids-*.parquet").replace("'", "''")
    relation = f"read_parquet('{pattern}')"
    row = first_duplicate(con, relation, count)
    if row is not None:
        raise ValidationError("id", f"duplicate id {row[1]} (ids must be unique within a version)",
                              row=row[0], row_label=label)


def _merge(con: duckdb.DuckDBPyConnection, writer: VersionWriter, files: list[FileEntry]) -> list[FileEntry]:
    """The rows of ``files`` rewritten in storage order (DuckDB sorts, spilling
    to disk beyond its memory limit), ``CHUNK_ROWS`` rows per file."""
    uris = [writer.fs.uri(f.path) for f in files]
    relation = con.sql(f'SELECT {_COLUMNS} FROM read_parquet($files) ORDER BY "order", id', params={"files": uris})
    merged: list[FileEntry] = []
    try:
        reader = relation.to_arrow_reader(batch_size=64 * 1024)
        for table in _rechunk(reader, reader.schema):
            if table.num_rows:
                merged.append(writer.write(table))
    except BaseException:
        writer.discard(merged)
        raise
    return merged
