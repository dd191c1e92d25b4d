"""JSON that names no object member twice: what vault files and key policies are parsed with.

RFC 8259 leaves duplicate names undefined and parsers disagree (Python keeps the last, others the
first), so a document with one can mean two things. Everything kmscli authenticates or evaluates is
read with :func:`loads`, which refuses it, and refuses ``NaN``, ``Infinity`` and ``-Infinity``:
Python's parser takes them, but they are not JSON (RFC 8259, section 6), and AWS's parsers refuse
them (a key policy holding one is ``MalformedPolicyDocumentException``, a request body
``SerializationException``).
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


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads(raw: bytes | str) -> Any:
    """``json.loads`` that raises :class:`DuplicateMemberError` (a ValueError) on a repeated member,
    a ValueError for ``NaN`` / ``Infinity`` / ``-Infinity``, and a ValueError, not RecursionError,
    for JSON nested too deeply to parse."""
    try:
        return json.loads(raw, object_pairs_hook=_unique_members, parse_constant=_not_json)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
