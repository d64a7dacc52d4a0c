"""Optional dependencies, imported only by the face that needs them.

Each optional backend (object stores, warehouse targets, the notebook) is a
pip extra. Importing it through :func:`import_optional` turns a missing
package into :class:`~overmind_lake.errors.MissingExtra`, one line naming
the extra to install, instead of a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingExtra


def import_optional(module: str, extra: str, what: str | None = None) -> ModuleType:
    """Import ``module``; when it is not installed raise MissingExtra naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".", 1)[0]
        if exc.name is not None and exc.name.split(".", 1)[0] != top:
            raise  # the module is there but one of *its* imports is broken: show that
        raise MissingExtra(what or module, extra, top) from None
