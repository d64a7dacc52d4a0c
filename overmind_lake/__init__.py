"""overmind_lake: a columnar, local-first lake for versioned evaluation
datasets of LLM agents (see docs/python.md)."""

from .errors import (
    DatasetExists,
    DatasetNotFound,
    ExportConflict,
    ExportError,
    IntegrityError,
    InvalidPage,
    LakeError,
    MissingExtra,
    StorageError,
    ValidationError,
    VersionConflict,
    VersionNotFound,
)
from .export.base import ExportSummary
from .lake import DatasetVersion, Lake
from .query.listquery import DatapointQuery, ListParams
from .schema import SOURCES

__all__ = [
    "DatapointQuery",
    "DatasetExists",
    "DatasetNotFound",
    "DatasetVersion",
    "ExportConflict",
    "ExportError",
    "ExportSummary",
    "IntegrityError",
    "InvalidPage",
    "Lake",
    "LakeError",
    "MissingExtra",
    "ListParams",
    "SOURCES",
    "StorageError",
    "ValidationError",
    "VersionConflict",
    "VersionNotFound",
]

__version__ = "0.1.0"
