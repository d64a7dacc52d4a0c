"""Page numbers and next/previous links, exactly as Django REST framework's
PageNumberPagination computes them (docs/http.md#links)."""

from __future__ import annotations

from urllib import parse

from ..errors import InvalidPage, ValidationError
from ..schema import MAX_PAGE_SIZE


def validate_page_size(page_size: object) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise ValidationError("page_size", f"must be an integer from 1 to {MAX_PAGE_SIZE}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError("page_size", f"must be an integer from 1 to {MAX_PAGE_SIZE}")
    return page_size


def num_pages(count: int, page_size: int) -> int:
    """Number of pages; an empty result still has page 1."""
    return max(1, -(-count // page_size))


def resolve_page(page: object, count: int, page_size: int) -> int:
    """The 1-based page number ``page`` names, or InvalidPage."""
    last = num_pages(count, page_size)
    if page == "last":
        return last
    if isinstance(page, bool):
        raise InvalidPage(page)
    try:
        if isinstance(page, float) and not page.is_integer():
            raise ValueError
        number = int(page)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidPage(page) from None
    if number < 1 or number > last:
        raise InvalidPage(page)
    return number


def replace_query_param(url: str, key: str, value: object) -> str:
    scheme, netloc, path, query, fragment = parse.urlsplit(str(url))
    query_dict = parse.parse_qs(query, keep_blank_values=True)
    query_dict[str(key)] = [str(value)]
    query = parse.urlencode(sorted(query_dict.items()), doseq=True)
    return parse.urlunsplit((scheme, netloc, path, query, fragment))


def remove_query_param(url: str, key: str) -> str:
    scheme, netloc, path, query, fragment = parse.urlsplit(str(url))
    query_dict = parse.parse_qs(query, keep_blank_values=True)
    query_dict.pop(key, None)
    query = parse.urlencode(sorted(query_dict.items()), doseq=True)
    return parse.urlunsplit((scheme, netloc, path, query, fragment))


def page_links(url: str, number: int, last: int) -> tuple[str | None, str | None]:
    """(next, previous) for page ``number`` of ``last``, built from ``url``."""
    next_link = replace_query_param(url, "page", number + 1) if number < last else None
    if number <= 1:
        previous = None
    elif number == 2:
        previous = remove_query_param(url, "page")
    else:
        previous = replace_query_param(url, "page", number - 1)
    if url.startswith("?") or url == "":
        # relative links: an empty query still needs its "?" to be a link
        next_link = next_link or (None if next_link is None else "?")
        previous = None if previous is None else (previous or "?")
    return next_link, previous
