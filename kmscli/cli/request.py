"""Building a request from command-line values, without Click (shared by both CLI paths).

``kmscli.cli.opcommand`` (the Click commands) and ``kmscli.cli.fastpath`` (the Click-free fast path
for operation commands) both turn option text into a request here, so they cannot disagree.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kmscli.cli import params
from kmscli.errors import UsageError
from kmscli.model import input_members, operation, shape

_FIRST_CAP = re.compile(r"(.)([A-Z][a-z]+)")
_END_CAP = re.compile(r"([a-z0-9])([A-Z])")


def kebab(name: str) -> str:
    """botocore's xform_name with dashes: ``GrantTokens`` -> ``grant-tokens``."""
    return _END_CAP.sub(r"\1-\2", _FIRST_CAP.sub(r"\1-\2", name)).lower()


def command_name(op_name: str) -> str:
    """``GenerateDataKey`` -> ``generate-data-key``."""
    return kebab(op_name)


def _skeleton(shape_name: str, stack: list[str], member_names: bool = False, name: str = "") -> Any:
    """botocore's ArgumentGenerator, which the AWS CLI uses for ``--generate-cli-skeleton``.

    Strings are ``""`` (or the member name, for output skeletons), enums their first value, numbers
    0, booleans true, timestamps the epoch, blobs null; a structure met again inside itself is ``{}``.
    """
    sh = shape(shape_name)
    kind = sh["type"]
    stack.append(shape_name)
    try:
        if kind == "structure":
            if stack.count(shape_name) > 1:
                return {}
            return {m: _skeleton(s["shape"], stack, member_names, m) for m, s in sh["members"].items()}
        if kind == "list":
            return [_skeleton(sh["member"], stack, member_names, sh["member"] if member_names else "")]
        if kind == "map":
            return {"KeyName": _skeleton(sh["value"], stack, member_names)}
        if kind == "string":
            if member_names:
                return name
            return sh["enum"][0] if sh.get("enum") else ""
        if kind in ("integer", "long"):
            return 0
        if kind in ("float", "double"):
            return 0.0
        if kind == "boolean":
            return True
        if kind == "timestamp":
            return "1970-01-01T00:00:00"
        return None  # blob
    finally:
        stack.pop()


def skeleton(op_name: str, which: str) -> dict[str, Any]:
    """``--generate-cli-skeleton input|output``: member names as strings in the output skeleton."""
    op = operation(op_name)
    target = op["input"] if which == "input" else op["output"]
    result: dict[str, Any] = _skeleton(target, [], member_names=which == "output") if target else {}
    return result


def build_request(
    op_name: str, values: dict[str, Any], input_json: str | None, *, raw_blobs: bool = False
) -> dict[str, Any]:
    """Merge ``--cli-input-json`` with explicit options (which win) into a typed request; with
    ``raw_blobs`` (``--cli-binary-format raw-in-base64-out``) blob text is taken as raw UTF-8."""
    try:
        return _build_request(op_name, values, input_json, raw_blobs)
    except RecursionError:  # JSON or shorthand nested thousands deep: refuse, do not crash
        raise UsageError("Error parsing parameters: a value is nested too deeply") from None


def _build_request(
    op_name: str, values: dict[str, Any], input_json: str | None, raw_blobs: bool
) -> dict[str, Any]:
    members = input_members(op_name)
    request: dict[str, Any] = {}
    if input_json:
        text = params.load_text(input_json, "--cli-input-json")
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"Error parsing parameter '--cli-input-json': Invalid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise UsageError("Error parsing parameter '--cli-input-json': expected a JSON object")
        for key, value in doc.items():
            if key not in members:
                raise UsageError(f'Unknown parameter in input: "{key}", must be one of: {", ".join(members)}')
            request[key] = params.coerce(members[key]["shape"], value, "--cli-input-json", raw_blobs)
    for member, spec in members.items():
        raw = values.get(member)
        if raw is None or raw == ():
            continue
        option = "--" + kebab(member)
        if isinstance(raw, bool):
            request[member] = raw
        else:
            request[member] = params.parse_value(spec["shape"], raw, option, raw_blobs)
    missing = [
        "--" + kebab(m) for m in shape(operation(op_name)["input"]).get("required", []) if m not in request
    ]
    if missing:
        raise UsageError(f"the following arguments are required: {', '.join(missing)}")
    return request
