"""Batch export of committed versions to a warehouse (docs/export.md).

The interface every target implements is in :mod:`.base`; the targets are
``postgres.py``, ``duckdb_target.py``, ``parquet.py``, ``delta.py`` and
``iceberg.py``, each imported only when used.
"""

from .base import (
    DATAPOINT_SCHEMA,
    ExportSummary,
    Target,
    VersionRef,
    open_target,
    run_export,
    version_batches,
    version_refs,
)

__all__ = ["DATAPOINT_SCHEMA", "ExportSummary", "Target", "VersionRef", "open_target", "run_export",
           "version_batches", "version_refs"]
