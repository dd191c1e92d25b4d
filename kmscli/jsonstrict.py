"""JSON that names no object member twice: what vault files and key policies are parsed with.

RFC 8259 leaves duplicate names undefined and parsers disagree (Python keeps the last, others the
first), so a document with one can mean two things. Everything kmscli authenticates or evaluates is
read with :func:`loads`, which refuses it.
"""

from __future__ import annotations

import json
from typing import Any


class DuplicateMemberError(ValueError):
    """A JSON object names one member twice."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        names = [k for k, _ in pairs]
        dup = next(k for i, k in enumerate(names) if k in names[:i])
        raise DuplicateMemberError(f"the member {dup!r} appears twice")
    return found


def loads(raw: bytes | str) -> Any:
    """``json.loads`` that raises :class:`DuplicateMemberError` (a ValueError) on a repeated member,
    and a ValueError, not RecursionError, for JSON nested too deeply to parse."""
    try:
        return json.loads(raw, object_pairs_hook=_unique_members)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
