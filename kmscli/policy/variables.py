"""IAM policy variables: ``${key}`` in a policy value stands for the request's value of that key.

The contract (docs/policy.md, "Policy variables"):
- only a policy whose ``Version`` is ``2012-10-17`` has variables; in any other policy ``${...}`` is
  ordinary text;
- they are substituted in the values of the string and ARN condition operators, and in the part of a
  ``Resource``/``NotResource`` ARN after its fifth colon; anywhere else they are ordinary text;
- ``${key}`` is the request's value of the condition key (names are not case sensitive), and
  ``${key, 'text'}`` is ``text`` when the request has no value for it;
- ``${*}``, ``${?}`` and ``${$}`` are the characters ``*``, ``?`` and ``$``;
- a substituted value is compared character for character: a ``*`` or ``?`` it contains is not a
  wildcard (nor is that of ``${*}`` and ``${?}``), while the policy's own text, the default included,
  keeps its wildcards;
- a key the request does not have (or has several values for) and no default leaves the value
  unresolved: it matches no request value and no resource;
- ``${`` with no closing ``}``, and ``${}``, are ordinary text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import NamedTuple

from kmscli.policy.wildcard import matches_pieces

#: The only policy language version that has policy variables.
VARIABLES_VERSION = "2012-10-17"
_SPECIAL = {"*": "*", "?": "?", "$": "$"}
_BODY_RE = re.compile(r"^\s*(?P<key>[^\s,'{}\$][^,'{}]*?)\s*(?:,\s*'(?P<default>[^']*)'\s*)?\Z")


class Literal(NamedTuple):
    """Text of the policy itself (wildcards in it stay wildcards)."""

    text: str


class Variable(NamedTuple):
    """``${key}`` or ``${key, 'default'}``."""

    key: str
    default: str | None


class Special(NamedTuple):
    """``${*}``, ``${?}`` or ``${$}``: one character, never a wildcard."""

    char: str


Part = Literal | Variable | Special


class Piece(NamedTuple):
    """A run of resolved text; ``exact`` text matches character for character (no wildcards)."""

    text: str
    exact: bool


class Resolved(NamedTuple):
    """A policy value after substitution."""

    text: str  # the value as text (for the operators that compare text)
    pieces: tuple[Piece, ...]

    @property
    def has_exact_wildcard(self) -> bool:
        """Whether a ``*`` or ``?`` in it must match literally."""
        return any(p.exact and ("*" in p.text or "?" in p.text) for p in self.pieces)

    def like(self, text: str, ignore_case: bool = False) -> bool:
        """IAM wildcard matching of ``text`` against this value."""
        return matches_pieces([(p.text, p.exact) for p in self.pieces], text, ignore_case)


@functools.lru_cache(maxsize=4096)
def parse(text: str) -> tuple[Part, ...]:
    """A value split into literal text and variables (one Literal when it has none)."""
    parts: list[Part] = []
    buf: list[str] = []
    pos = 0
    while pos < len(text):
        start = text.find("${", pos)
        end = text.find("}", start + 2) if start >= 0 else -1
        if start < 0 or end < 0:
            buf.append(text[pos:])
            break
        body = text[start + 2 : end]
        part: Part | None = None
        if body in _SPECIAL:
            part = Special(_SPECIAL[body])
        elif (m := _BODY_RE.match(body)) is not None:
            part = Variable(m.group("key"), m.group("default"))
        if part is None:  # not a variable: the "${" is ordinary text
            buf.append(text[pos : start + 2])
            pos = start + 2
            continue
        buf.append(text[pos:start])
        if "".join(buf):
            parts.append(Literal("".join(buf)))
        buf = []
        parts.append(part)
        pos = end + 1
    if "".join(buf) or not parts:
        parts.append(Literal("".join(buf)))
    return tuple(parts)


def has_variables(text: str) -> bool:
    """Whether a value holds a variable or special form (else it is compared as written)."""
    return any(not isinstance(p, Literal) for p in parse(text))


def looks_like_variable(text: str) -> bool:
    """Whether a value holds ``${`` (for lint: a variable that is not one is ordinary text)."""
    return "${" in text


def keys(text: str) -> tuple[str, ...]:
    """The condition keys a value's variables name."""
    return tuple(p.key for p in parse(text) if isinstance(p, Variable))


#: The request's single value of a condition key as text, or None (conditions.single_value).
ValueOf = Callable[[str], str | None]


def resolve(text: str, value_of: ValueOf) -> Resolved | None:
    """The value with its variables substituted; None when a variable has no value and no default."""
    pieces: list[Piece] = []
    for part in parse(text):
        if isinstance(part, Literal):
            pieces.append(Piece(part.text, False))
        elif isinstance(part, Special):
            pieces.append(Piece(part.char, True))
        else:
            found = value_of(part.key)
            if found is not None:
                pieces.append(Piece(found, True))
            elif part.default is not None:
                pieces.append(Piece(part.default, False))
            else:
                return None
    return Resolved("".join(p.text for p in pieces), tuple(pieces))


def resource_split(pattern: str) -> tuple[str, str] | None:
    """A Resource ARN pattern as (up to and including the fifth colon, the resource part); None when
    it has no resource part (``*``)."""
    fields = pattern.split(":", 5)
    if len(fields) < 6:
        return None
    head = ":".join(fields[:5]) + ":"
    return head, fields[5]


def resource_matches(pattern: str, resource: str, value_of: ValueOf) -> bool:
    """Whether a Resource pattern with variables (in its resource part) matches ``resource``."""
    split = resource_split(pattern)
    if split is None or not has_variables(split[1]):
        return matches_pieces([(pattern, False)], resource)
    head, tail = split
    resolved = resolve(tail, value_of)
    if resolved is None:
        return False  # a variable with no value matches no resource
    return matches_pieces([(head, False), *((p.text, p.exact) for p in resolved.pieces)], resource)
