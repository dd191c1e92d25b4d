"""Request validation against the model's limits, with AWS's wording."""

from __future__ import annotations

import functools
import re
from typing import Any

from kmscli.errors import SerializationException, ValidationException, not_convertible, printable
from kmscli.model import shape


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _bounds(sh: dict[str, Any], size: int, what: str, prefix: str, problems: list[str]) -> None:
    """The shape's ``min``/``max`` on a length or a value, in AWS's words."""
    if "min" in sh and size < sh["min"]:
        problems.append(
            f"{prefix} failed to satisfy constraint: Member must have {what} greater than or equal to {sh['min']}"
        )
    if "max" in sh and size > sh["max"]:
        problems.append(
            f"{prefix} failed to satisfy constraint: Member must have {what} less than or equal to {sh['max']}"
        )


def _check(shape_name: str, value: Any, where: str, problems: list[str]) -> None:
    sh = shape(shape_name)
    kind = sh["type"]
    shown = "" if sh.get("sensitive") or kind == "blob" else repr(value)[:100]
    prefix = f"Value {shown} at '{where}'" if shown else f"Value at '{where}'"
    if kind == "string":
        if not isinstance(value, str):
            problems.append(f"{prefix} failed to satisfy constraint: Member must be a string")
            return
        if not _is_unicode(value):
            problems.append(
                f"Value at '{where}' failed to satisfy constraint: Member must be valid Unicode text"
            )
            return
        if "enum" in sh and value not in sh["enum"]:
            problems.append(
                f"{prefix} failed to satisfy constraint: Member must satisfy enum value set: "
                f"[{', '.join(sh['enum'])}]"
            )
        _bounds(sh, len(value), "length", prefix, problems)
        if "pattern" in sh and not _pattern(sh["pattern"]).fullmatch(value):
            problems.append(
                f"{prefix} failed to satisfy constraint: Member must satisfy regular expression pattern: "
                f"{sh['pattern']}"
            )
    elif kind == "blob":
        if not isinstance(value, bytes | bytearray):
            problems.append(f"{prefix} failed to satisfy constraint: Member must be a blob")
            return
        _bounds(sh, len(value), "length", prefix, problems)
    elif kind == "integer":
        if isinstance(value, bool):
            # botocore's client-side check takes a bool as an int, so the CLI sends one where AWS's
            # JSON decoder (and kmscli serve's) refuses it before any validation
            raise SerializationException(not_convertible(value, kind))
        if not isinstance(value, int):
            problems.append(f"{prefix} failed to satisfy constraint: Member must be an integer")
            return
        _bounds(sh, value, "value", prefix, problems)
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{prefix} failed to satisfy constraint: Member must be a boolean")
    elif kind == "timestamp":
        import datetime as _dt

        if not isinstance(value, _dt.datetime):
            problems.append(f"{prefix} failed to satisfy constraint: Member must be a timestamp")
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{prefix} failed to satisfy constraint: Member must be a list")
            return
        _bounds(sh, len(value), "length", prefix, problems)
        for i, item in enumerate(value):
            _check(sh["member"], item, f"{where}.{i + 1}.member", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{prefix} failed to satisfy constraint: Member must be a map")
            return
        for k, v in value.items():
            if isinstance(k, str) and not _is_unicode(k):
                problems.append(
                    f"Key at '{where}' failed to satisfy constraint: Member must be valid Unicode text"
                )
                continue
            _check(sh["key"], k, f"{where}.key", problems)
            _check(sh["value"], v, f"{where}.{k}", problems)
    elif kind == "structure":
        _check_structure(shape_name, value, where, problems)


def _check_structure(shape_name: str, value: Any, where: str, problems: list[str]) -> None:
    sh = shape(shape_name)
    if not isinstance(value, dict):
        problems.append(
            f"Value at '{where or shape_name}' failed to satisfy constraint: Member must be a structure"
        )
        return
    members = sh.get("members", {})
    for name in value:
        if name not in members:
            problems.append(f"Unknown parameter '{printable(name)}' in {shape_name}")
    for name in sh.get("required", []):
        if value.get(name) is None:
            problems.append(
                f"Value null at '{_join(where, name)}' failed to satisfy constraint: Member must not be null"
            )
    for name, spec in members.items():
        if value.get(name) is not None:
            _check(spec["shape"], value[name], _join(where, name), problems)


def _is_unicode(text: str) -> bool:
    """False for strings holding lone surrogates (they cannot be encoded, stored or audited)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _join(where: str, name: str) -> str:
    return f"{where}.{_lower_first(name)}" if where else _lower_first(name)


@functools.cache
def _pattern(java: str) -> re.Pattern[str]:
    """botocore patterns are Java regexes; the subset KMS uses means the same in Python once its
    classes are ASCII, as Java's are (``\\d`` is 0-9 there, not every script's digits)."""
    return re.compile(java, re.ASCII)


def validate_request(input_shape: str, request: dict[str, Any]) -> None:
    """Raise ValidationException listing every constraint ``request`` breaks, as AWS words it
    (SerializationException for a bool where an integer goes, as AWS's JSON decoder refuses it)."""
    problems: list[str] = []
    _check_structure(input_shape, request, "", problems)
    if problems:
        count = len(problems)
        noun = "validation error" if count == 1 else "validation errors"
        raise ValidationException(f"{count} {noun} detected: " + "; ".join(problems))
