"""Credential redaction in the access log (docs/security.md).

The server never reads a token from the query string, but a client may put
one there anyway (``?token=…``, ``?access_token=…``); uvicorn's access log
would then write it verbatim. :class:`RedactQueryFilter`, installed on the
``uvicorn.access`` logger, replaces the value of every credential-looking
query parameter with ``[redacted]`` before a record is formatted.
"""

from __future__ import annotations

import logging
import re

#: Query parameter names whose values are never logged (compared case-insensitively,
#: ignoring ``-`` and ``_``; a name ending in one of the tails below counts too).
SECRET_NAMES = frozenset({
    "token", "accesstoken", "apikey", "key", "password", "passwd", "pwd", "secret", "auth",
    "authorization", "credential", "credentials", "session", "sessionid", "signature", "sig",
    "jwt", "bearer", "code",
})
_SECRET_TAILS = ("token", "key", "secret", "password", "auth")
REDACTED = "[redacted]"
ACCESS_LOGGER = "uvicorn.access"

_PAIR = re.compile(r"([^&;=]*)(=?)([^&;]*)")


def is_secret_name(name: str) -> bool:
    """Whether a query parameter called ``name`` (raw, maybe percent-encoded) may hold a credential."""
    from urllib.parse import unquote_plus

    plain = re.sub(r"[-_.\s\[\]]", "", unquote_plus(name)).lower()
    return plain in SECRET_NAMES or plain.endswith(_SECRET_TAILS)


def redact_query(target: str) -> str:
    """``target`` (a path with an optional ``?query``) with credential values replaced."""
    path, sep, query = target.partition("?")
    if not sep:
        return target

    def replace(match: re.Match[str]) -> str:
        name, eq, value = match.group(1), match.group(2), match.group(3)
        if eq and value and is_secret_name(name):
            return f"{name}={REDACTED}"
        return match.group(0)

    return path + "?" + _PAIR.sub(replace, query)


class RedactQueryFilter(logging.Filter):
    """Redacts credential query parameters in every string argument of a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact_query(a) if isinstance(a, str) and "?" in a else a for a in record.args)
        if isinstance(record.msg, str) and "?" in record.msg:
            record.msg = redact_query(record.msg)
        return True


def install_access_log_redaction(logger_name: str = ACCESS_LOGGER) -> None:
    """Add the redaction filter to the access logger (once)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactQueryFilter) for f in logger.filters):
        logger.addFilter(RedactQueryFilter())
