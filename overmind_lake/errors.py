"""Every error the lake raises; all derive from :class:`LakeError`.

Interfaces (CLI, HTTP) map these to exit codes and status codes, so each
carries enough structure (field, row, rule) to render a precise message.
"""

from __future__ import annotations


class LakeError(Exception):
    """Base class of every error raised by overmind_lake."""


class DatasetNotFound(LakeError, KeyError):
    """No dataset has the given id or name."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        super().__init__(f"no dataset matches {dataset!r}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class DatasetExists(LakeError):
    """A dataset with that name already exists (names are unique in a lake)."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"a dataset named {name!r} already exists")


class VersionNotFound(LakeError, KeyError):
    """The dataset has no committed version with that number."""

    def __init__(self, dataset_id: str, version: int):
        self.dataset_id = dataset_id
        self.version = version
        super().__init__(f"dataset {dataset_id} has no version {version}")

    def __str__(self) -> str:
        return self.args[0]


class ValidationError(LakeError, ValueError):
    """A write or a query argument broke a rule of the contract.

    ``row`` is the 0-based row index (or the 1-based line number of a JSONL
    file, with ``row_label="line"``), ``field`` the offending field and
    ``rule`` a short statement of the rule that was broken.
    """

    def __init__(self, field: str | None, rule: str, *, row: int | None = None,
                 row_label: str = "row"):
        self.field = field
        self.rule = rule
        self.row = row
        self.row_label = row_label
        where = [] if row is None else [f"{row_label} {row}"]
        if field:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {rule}" if prefix else rule)


class InvalidPage(LakeError):
    """The requested page is not an integer >= 1, 'last', or is past the end."""

    def __init__(self, page: object):
        self.page = page
        super().__init__(f"invalid page: {page!r}")


class VersionConflict(LakeError):
    """Another writer committed the version number this writer was about to use."""

    def __init__(self, dataset_id: str, version: int):
        self.dataset_id = dataset_id
        self.version = version
        super().__init__(
            f"dataset {dataset_id}: version {version} was committed by another writer"
        )


class StorageError(LakeError):
    """The lake's storage is unreadable, inconsistent or cannot do what was asked."""


class IntegrityError(StorageError):
    """``verify`` found missing, truncated or altered files."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s): " + "; ".join(problems[:5]))


class MissingExtra(LakeError, ImportError):
    """An optional part of overmind_lake was used but its packages are not installed.

    ``extra`` is the name of the pip extra that installs them, so the message
    can say exactly what to run: ``pip install 'overmind-lake[EXTRA]'``.
    """

    def __init__(self, what: str, extra: str, module: str):
        self.what = what
        self.extra = extra
        self.module = module
        super().__init__(f"{what} needs the '{module}' package: pip install 'overmind-lake[{extra}]'")


class ExportError(LakeError):
    """A warehouse export cannot run: an unknown format, an unusable target."""


class ExportConflict(ExportError):
    """The target holds a version whose checksum differs from the lake's.

    Never overwritten: the target was written from another lake, or the
    version was altered in one of them (docs/export.md).
    """

    def __init__(self, dataset_id: str, version: int, *, held: str, lake: str):
        self.dataset_id = dataset_id
        self.version = version
        self.held = held
        self.lake = lake
        super().__init__(f"dataset {dataset_id}: version {version} is in the target with checksum "
                         f"{held[:16]}… but the lake's is {lake[:16]}…; not overwritten")
