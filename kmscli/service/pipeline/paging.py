"""Server-side paging (Limit and Marker) shared by the List operations."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kmscli import errors

T = TypeVar("T")


#: What every marker this service issues starts with (before encoding), so that a marker it never
#: issued, such as any base64 text, is InvalidMarkerException rather than a listing from some point.
_TAG = "kmscli-marker:"


def _encode(marker: str) -> str:
    return base64.urlsafe_b64encode((_TAG + marker).encode()).decode()


def _decode(marker: str) -> str:
    try:
        text = base64.urlsafe_b64decode(marker.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith(_TAG):
        raise errors.InvalidMarkerException("The marker is not valid.")
    return text[len(_TAG) :]


#: Each List operation's page size without a Limit, and the largest Limit it honours, as AWS's API
#: reference states them ("If you include a value, it must be between 1 and 100, inclusive. If you
#: do not include a value, it defaults to 50."; botocore's documentation of each Limit member, which
#: tests/service/test_operations.py checks this table against). A larger Limit is cut to the
#: largest: AWS "does not return more than the specified number of items, but it might return fewer".
PAGE_SIZES: dict[str, tuple[int, int]] = {
    "ListAliases": (50, 100),
    "ListGrants": (50, 100),
    "ListRetirableGrants": (50, 100),
    "ListResourceTags": (50, 50),
    "ListKeys": (100, 1000),
    "ListKeyPolicies": (100, 1000),
    "ListKeyRotations": (100, 1000),
}


def page(
    items: Sequence[T], request: dict[str, Any], key: Callable[[T], str], operation: str
) -> tuple[list[T], dict[str, Any]]:
    """One page of ``items`` (sorted by ``key``) after the request's Marker, at most Limit long
    (``operation``'s default and largest page size: ``PAGE_SIZES``).

    Returns the page and the ``Truncated``/``NextMarker`` members. A marker is the (encoded) key of
    the last item returned, so pages stay stable while items are added or removed.
    """
    default, largest = PAGE_SIZES[operation]
    limit = min(request.get("Limit") or default, largest)
    start = 0
    if request.get("Marker"):
        after = _decode(request["Marker"])
        lo, hi = 0, len(items)
        while lo < hi:  # items are sorted by key: binary search for the first key > marker
            mid = (lo + hi) // 2
            if key(items[mid]) <= after:
                lo = mid + 1
            else:
                hi = mid
        start = lo
    chunk = list(items[start : start + limit])
    truncated = start + limit < len(items)
    extra: dict[str, Any] = {"Truncated": truncated}
    if truncated:
        extra["NextMarker"] = _encode(key(chunk[-1]))
    return chunk, extra
