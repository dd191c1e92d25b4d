"""Building a request from command-line values, without Click (shared by both CLI paths).

``kmscli.cli.opcommand`` (the Click commands) and ``kmscli.cli.fastpath`` (the Click-free fast path
for operation commands) both turn option text into a request here, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from kmscli.cli import params
from kmscli.errors import ArgumentError, ParamValueError, UsageError, require_text
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


def yaml_skeleton(op_name: str) -> str:
    """``--generate-cli-skeleton yaml-input``: the input skeleton as YAML for ``--cli-input-yaml``,
    laid out as the AWS CLI v2 writes it: each member with the skeleton's value (a blob is ``!!binary
    ''``) and, as a comment, its first sentence of help, ``[REQUIRED]`` and an enum's valid values."""
    lines: list[str] = []
    _yaml_members(operation(op_name)["input"], 0, lines, [])
    return "".join(lines)


def _yaml_members(shape_name: str, indent: int, lines: list[str], stack: list[str]) -> None:
    sh = shape(shape_name)
    required = set(sh.get("required", []))
    pad = " " * indent
    for i, (member, spec) in enumerate(sh["members"].items()):
        member_shape = shape(spec["shape"])
        note = spec.get("doc", "")
        if member in required:
            note = "[REQUIRED] " + note
        if member_shape.get("enum"):
            note += f" Valid values are: {', '.join(member_shape['enum'])}."
        gap = "  " if i == 0 else " "  # ruamel.yaml puts the first key's comment one space further
        comment = f"{gap}# {note}" if note else ""
        kind = member_shape["type"]
        if kind == "structure" and spec["shape"] not in stack:
            lines.append(f"{pad}{member}:{comment}\n")
            _yaml_members(spec["shape"], indent + 2, lines, [*stack, spec["shape"]])
        elif kind in ("list", "map", "structure"):
            lines.append(f"{pad}{member}:{comment}\n")
            inner = _skeleton(spec["shape"], list(stack))
            nested = pad if kind == "list" else pad + "  "  # a list's items sit under the key
            lines.extend(f"{nested}{line}\n" for line in _yaml_block(inner))
        else:
            lines.append(f"{pad}{member}: {_yaml_scalar(kind, _skeleton(spec['shape'], []))}{comment}\n")


def _yaml_scalar(kind: str, value: Any) -> str:
    if kind == "blob":
        return "!!binary ''"
    if kind == "timestamp":
        return "1970-01-01 00:00:00"
    import yaml

    return str(yaml.safe_dump(value, default_flow_style=True)).removesuffix("\n...\n").strip()


def _yaml_block(value: Any) -> list[str]:
    import yaml

    return str(yaml.safe_dump(value, default_flow_style=False, sort_keys=False)).splitlines()


def build_request(
    op_name: str,
    values: dict[str, Any],
    input_json: str | None,
    *,
    raw_blobs: bool = False,
    input_yaml: str | None = None,
) -> dict[str, Any]:
    """Merge ``--cli-input-json`` or ``--cli-input-yaml`` with explicit options (which win) into a
    typed request; with ``raw_blobs`` (``--cli-binary-format raw-in-base64-out``) blob text is taken
    as raw UTF-8."""
    if input_json is not None and input_yaml is not None:
        raise UsageError("Only one --cli-input- parameter may be specified.")
    try:
        return _build_request(op_name, values, _input_document(input_json, input_yaml), raw_blobs)
    except RecursionError:  # JSON or shorthand nested thousands deep: refuse, do not crash
        raise UsageError("Error parsing parameters: a value is nested too deeply") from None


def _input_document(input_json: str | None, input_yaml: str | None) -> dict[str, Any] | None:
    """The members ``--cli-input-json`` / ``--cli-input-yaml`` give (``file://`` read), or None."""
    if input_json is None and input_yaml is None:  # given empty, it is invalid JSON or YAML there
        return None
    option = "--cli-input-json" if input_json is not None else "--cli-input-yaml"
    text = params.load_param(input_json or input_yaml or "", option)  # fileb:// too, as the AWS CLI
    doc: Any
    if input_json is not None:
        try:
            doc = json.loads(text)
        except ValueError:  # the AWS CLI v2's words, the option named without its dashes as there
            raise UsageError("Error parsing parameter 'cli-input-json': Invalid JSON received.") from None
    else:
        import yaml  # only when asked for, as for YAML output

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UsageError("Error parsing parameter 'cli-input-yaml': Invalid YAML received.") from None
        _refuse_alias_bombs(doc, option)
    if not isinstance(doc, dict):
        raise UsageError(
            f"Error parsing parameter '{option}': Invalid type: expecting map, received {type(doc)}"
        )
    return doc


#: Most values a ``--cli-input-yaml`` document may expand to: YAML aliases let a short text name the
#: same list thousands of times over, which every later walk would visit.
MAX_INPUT_NODES = 100_000


def _refuse_alias_bombs(doc: Any, option: str) -> None:
    seen, stack = 0, [doc]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > MAX_INPUT_NODES:
            raise UsageError(f"Error parsing parameter '{option}': more than {MAX_INPUT_NODES} values")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _build_request(
    op_name: str, values: dict[str, Any], doc: dict[str, Any] | None, raw_blobs: bool
) -> dict[str, Any]:
    """In the AWS CLI's order: argparse's required options; each option's value read (its usage
    errors, 252, and ``int()``'s, 255, stop at once); ``--cli-input-json``; then, as the call is about
    to go out, blobs decoded and timestamps checked (errors ``at_send``, 255, reported only when
    nothing before them failed); then botocore's check (252)."""
    members = input_members(op_name)
    if doc is None:  # argparse's check; with --cli-input-json, botocore's below names members
        missing = [
            "--" + kebab(m)
            for m in shape(operation(op_name)["input"]).get("required", [])
            if values.get(m) is None or values.get(m) == ()
        ]
        if missing:
            raise ArgumentError(f"the following arguments are required: {', '.join(missing)}")
    at_send: list[ParamValueError] = []
    request: dict[str, Any] = {}
    for member, spec in members.items():
        raw = values.get(member)
        if raw is None or raw == ():
            continue
        option = "--" + kebab(member)
        if isinstance(raw, bool):
            request[member] = raw
            continue
        try:
            request[member] = params.parse_value(spec["shape"], raw, option, raw_blobs)
        except ParamValueError as exc:
            if not exc.at_send:
                raise
            at_send.append(exc)
    from_doc: dict[str, Any] = {}
    for key, value in (doc or {}).items():
        spec = members.get(key)
        try:
            from_doc[key] = _from_json(spec["shape"], value, raw_blobs) if spec else value
        except ParamValueError as exc:
            at_send.append(exc)
    if at_send:
        raise at_send[0]
    request = {**from_doc, **request}  # options given as well override the document's members
    check_request(op_name, request)
    return request


def _from_json(shape_name: str, value: Any, raw_blobs: bool) -> Any:
    """A ``--cli-input-json`` value as the AWS CLI hands it to botocore: JSON types kept as they are
    (botocore's check below refuses a wrong one), blob text base64-decoded (taken as UTF-8 text with
    ``raw-in-base64-out``), a timestamp given as text or epoch seconds read; text must be Unicode."""
    sh = shape(shape_name)
    kind = sh["type"]
    if isinstance(value, str):
        require_text(value, "--cli-input-json")
        if kind == "blob":
            return value.encode("utf-8") if raw_blobs else params.base64_blob(value, "--cli-input-json")
        if kind == "timestamp":
            try:
                return params.parse_timestamp(value, "--cli-input-json")
            except UsageError:
                return value  # reported by check_request, as botocore reports it
    if kind == "timestamp" and isinstance(value, dt.datetime):  # a YAML timestamp
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if kind == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            if params.epoch_out_of_range(value):
                raise params.timestamp_out_of_range(value, "--cli-input-json") from None
            return value
    if kind == "structure" and isinstance(value, dict):
        members = sh["members"]
        return {
            k: _from_json(members[k]["shape"], v, raw_blobs) if k in members else v for k, v in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [_from_json(sh["member"], item, raw_blobs) for item in value]
    if kind == "map" and isinstance(value, dict):
        for k in value:
            require_text(k, "--cli-input-json")
        return {k: _from_json(sh["value"], v, raw_blobs) for k, v in value.items()}
    return value


# -- botocore's client-side parameter check ----------------------------------------------------------

#: The Python types botocore accepts for each shape type (its ``ParamValidator``), as it names them.
_VALID_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "list": (list, tuple),
    "map": (dict,),
    "structure": (dict,),
    "double": (float, int),
    "float": (float, int),
}


def check_request(op_name: str, request: dict[str, Any]) -> None:
    """What botocore checks before the AWS CLI sends a call, and so what fails there with exit 252
    rather than as the service's ValidationException (254): every member's Python type, required and
    unknown members, and the shapes' ``min`` lengths and values (never ``max``, enums or patterns,
    which only the service checks). Every problem is listed, in botocore's words; a blob or sensitive
    value is never shown."""
    problems: list[str] = []
    _check(operation(op_name)["input"], request, "", problems)
    if problems:
        raise UsageError("Parameter validation failed:\n" + "\n".join(problems))


def _type_problem(name: str, value: Any, valid: list[str], shown: bool) -> str:
    text = str(value) if shown else "(not shown)"
    return f"Invalid type for parameter {name}, value: {text}, type: {type(value)}, valid types: {', '.join(valid)}"


def _check(shape_name: str, value: Any, name: str, problems: list[str]) -> None:
    sh = shape(shape_name)
    kind = sh["type"]
    label = name[1:] if name.startswith(".") else name or "input"
    if kind == "blob":
        if not isinstance(value, bytes | bytearray | str):
            valid = [str(bytes), str(bytearray), "file-like object"]
            problems.append(_type_problem(label, value, valid, shown=value is None))
        return
    if kind == "timestamp":
        if not isinstance(value, dt.datetime):
            problems.append(_type_problem(label, value, [str(dt.datetime), "timestamp-string"], shown=True))
        return
    valid_types = _VALID_TYPES[kind]
    if not isinstance(value, valid_types):
        valid = [str(t) for t in valid_types]
        problems.append(_type_problem(label, value, valid, shown=not sh.get("sensitive")))
        return
    _check_inside(sh, value, name, label, problems)


def _check_inside(sh: dict[str, Any], value: Any, name: str, label: str, problems: list[str]) -> None:
    """The members, items or bounds of a value whose type ``_check`` found right."""
    kind = sh["type"]
    if kind == "structure":
        members = sh["members"]
        for required in sh.get("required", []):
            if required not in value:
                problems.append(f'Missing required parameter in {label}: "{required}"')
        for member in value:
            if member not in members:
                problems.append(
                    f'Unknown parameter in {label}: "{member}", must be one of: {", ".join(members)}'
                )
        for member, item in value.items():
            if member in members:
                _check(members[member]["shape"], item, f"{name}.{member}", problems)
    elif kind == "list":
        _min_problem(sh, len(value), label, "length", problems)
        for i, item in enumerate(value):
            _check(sh["member"], item, f"{name}[{i}]", problems)
    elif kind == "map":
        for key, item in value.items():
            _check(sh["key"], key, f"{name} (key: {key})", problems)
            _check(sh["value"], item, f"{name}.{key}", problems)
    elif kind == "string":
        _min_problem(sh, len(value), label, "length", problems)
    elif kind != "boolean":
        _min_problem(sh, value, label, "value", problems)


def _min_problem(sh: dict[str, Any], size: int | float, label: str, what: str, problems: list[str]) -> None:
    if "min" in sh and size < sh["min"]:
        noun = "length" if what == "length" else "value"
        problems.append(f"Invalid {noun} for parameter {label}, value: {size}, valid min {what}: {sh['min']}")
