"""The real clock and randomness: what the front ends inject where no test clock or random is given.

Kept apart from the service pipeline (``service/pipeline/core.py`` re-exports both) so that code
which only needs the time, such as opening a session for an audit query, does not import it.
"""

from __future__ import annotations

import datetime as dt
import os


def utcnow() -> dt.datetime:
    """The real clock (UTC, aware)."""
    return dt.datetime.now(dt.UTC)


def system_random(n: int) -> bytes:
    """The real randomness source."""
    return os.urandom(n)


def to_millis(when: dt.datetime) -> dt.datetime:
    """``when`` cut to whole milliseconds, the precision AWS KMS answers timestamps with.

    kmscli keeps microseconds; what it shows (a served response, a CLI output) is cut here, so the
    wire and the CLI agree with each other and with AWS (``...:32.140000+00:00``, never ``.140123``).
    """
    return when.replace(microsecond=when.microsecond - when.microsecond % 1000)


def parse_time(text: str) -> dt.datetime | None:
    """An ISO 8601 time (``Z`` allowed, a date alone allowed, UTC when no offset is given) or epoch
    seconds in ASCII digits, as the AWS CLI and IAM conditions read one; None when it is neither or
    lies outside what the platform's clock can represent (a huge epoch raises ``OverflowError`` on
    some values and ``OSError`` EOVERFLOW on others)."""
    try:
        if text.isascii() and text.replace(".", "", 1).isdigit():
            return dt.datetime.fromtimestamp(float(text), dt.UTC)
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
