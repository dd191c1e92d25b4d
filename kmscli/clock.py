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
