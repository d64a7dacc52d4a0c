"""Names and rules of the data model (docs/python.md, docs/format.md) shared by every layer."""

from __future__ import annotations

import pyarrow as pa

SOURCES: tuple[str, ...] = ("seed", "synthetic", "augmented", "production")
JSON_FIELDS: tuple[str, ...] = ("input", "expected_output", "tags")
DATAPOINT_FIELDS: tuple[str, ...] = (
    "id", "input", "expected_output", "order", "persona", "tags",
    "source", "agent", "generator_model",
)
#: Columns the lake assigns itself; accepted and ignored on write so a frame
#: read back from the lake can be written as a new version unchanged.
LAKE_COLUMNS: tuple[str, ...] = ("dataset_id", "version")
#: The six keys of an item of the documented JSON page, in their order.
PAGE_ITEM_FIELDS: tuple[str, ...] = (
    "id", "expected_output", "input", "order", "persona", "tags",
)
ORDERING_FIELDS: tuple[str, ...] = (
    "order", "id", "persona", "version", "source", "generator_model",
)
DEFAULT_ORDERING: tuple[str, ...] = ("version", "order", "id")

MAX_ORDER = 9_223_372_036_854_775_807
MAX_PERSONA_CHARS = 128
MAX_NAME_CHARS = 255
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

#: Physical schema of a version's Parquet files; JSON fields are JSON text.
FILE_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("input", pa.string()),
    pa.field("expected_output", pa.string()),
    pa.field("order", pa.int64(), nullable=False),
    pa.field("persona", pa.string()),
    pa.field("tags", pa.string()),
    pa.field("source", pa.string(), nullable=False),
    pa.field("agent", pa.string()),
    pa.field("generator_model", pa.string()),
])

#: Schema of query results (``to_arrow`` / ``to_polars``).
RESULT_SCHEMA = pa.schema(
    [pa.field("dataset_id", pa.string(), nullable=False),
     pa.field("version", pa.int64(), nullable=False)]
    + list(FILE_SCHEMA)
)
