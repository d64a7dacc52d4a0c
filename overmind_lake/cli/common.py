"""What every command shares: the lake options, error handling and output helpers.

Every command takes ``--root``, repeatable ``--storage-option KEY=VALUE`` and
``--debug``. Errors become a one-line message on stderr and exit code 1
(no traceback unless ``--debug``); click's usage errors keep exit code 2.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import click

from ..errors import LakeError
from ..lake import Lake


def parse_storage_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("key=value", …)`` -> a dict; values ``true``/``false``/integers are typed."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="'--storage-option'")
        options[key] = _typed(value)
    return options


def _typed(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return int(value)
    except ValueError:
        return value


def lake_command(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--root``, ``--storage-option`` and ``--debug``; turn errors into exit code 1.

    The wrapped function receives ``root`` (str or None) and
    ``storage_options`` (dict or None) instead of the raw options.
    """

    @click.option("--root", metavar="PATH_OR_URL", default=None,
                  help="Lake root: a path or fsspec URL (default: $OVERMIND_LAKE_ROOT, else ./data/lake).")
    @click.option("--storage-option", "storage_option", metavar="KEY=VALUE", multiple=True,
                  help="fsspec storage option of a remote root (repeatable).")
    @click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
    @functools.wraps(func)
    def wrapper(*args: Any, root: str | None, storage_option: tuple[str, ...], debug: bool,
                **kwargs: Any) -> Any:
        storage_options = parse_storage_options(storage_option) or None
        try:
            return func(*args, root=root, storage_options=storage_options, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - every other error is reported in one line
            if debug:
                raise
            fail(exc)

    return wrapper


def fail(exc: BaseException | str) -> None:
    """Print ``error: <message>`` on one line to stderr and exit with code 1."""
    if isinstance(exc, BaseException):
        message = str(exc) or type(exc).__name__
        if not isinstance(exc, (LakeError, OSError)):
            message = f"{type(exc).__name__}: {message}"
    else:
        message = exc
    click.echo("error: " + " ".join(message.split()), err=True)
    sys.exit(1)


def open_lake(root: str | None, storage_options: dict[str, Any] | None) -> Lake:
    return Lake(root, storage_options=storage_options)


def show_progress() -> bool:
    """Progress bars only when stderr is a terminal (never in CI or pipes)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def render_table(headers: list[str], rows: list[list[Any]], max_width: int = 48) -> str:
    """A plain, left-aligned text table; cells longer than ``max_width`` end in '…'."""
    cells = [[_cell(v, max_width) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _cell(value: Any, max_width: int) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split()) if "\n" in text or "\t" in text else text
    return text if len(text) <= max_width else text[: max_width - 1] + "…"
