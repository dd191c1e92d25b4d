"""Click commands generated from the model: one declaration per operation, no hand-copied functions.

Every input member of an operation becomes ``--kebab-name``; its shape decides how the value is
parsed (kmscli.cli.params). Paginated operations get ``--max-items``, ``--page-size`` and
``--starting-token``; every operation gets ``--cli-input-json`` and ``--generate-cli-skeleton``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from kmscli.cli import params
from kmscli.cli.globals import pop_globals, with_global_options
from kmscli.errors import UsageError
from kmscli.model import cli_extension, input_members, operation, paginator, shape

_FIRST_CAP = re.compile(r"(.)([A-Z][a-z]+)")
_END_CAP = re.compile(r"([a-z0-9])([A-Z])")


def kebab(name: str) -> str:
    """botocore's xform_name with dashes: ``GrantTokens`` -> ``grant-tokens``."""
    return _END_CAP.sub(r"\1-\2", _FIRST_CAP.sub(r"\1-\2", name)).lower()


def command_name(op_name: str) -> str:
    """``GenerateDataKey`` -> ``generate-data-key``."""
    return kebab(op_name)


class ShapeParam(click.ParamType):
    """Takes the raw text; parsing happens once the whole request is known. Completes enums."""

    name = "value"

    def __init__(self, shape_name: str) -> None:
        self.shape_name = shape_name
        sh = shape(shape_name)
        member = shape(sh["member"]) if sh["type"] == "list" else sh
        self.choices = member.get("enum", [])
        self.name = sh["type"] if sh["type"] != "string" else ("choice" if self.choices else "text")

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(c) for c in self.choices if c.startswith(incomplete)]


class OperationCommand(click.Command):
    """A command for one KMS operation; list options take several space-separated values."""

    def __init__(self, op_name: str, **kwargs: Any) -> None:
        self.op_name = op_name
        self.list_options = {
            "--" + kebab(m)
            for m, spec in input_members(op_name).items()
            if shape(spec["shape"])["type"] == "list"
        }
        super().__init__(**kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Rewrite ``--opt a b c`` into ``--opt a --opt b --opt c`` for list options."""
        out: list[str] = []
        current: str | None = None
        for arg in args:
            if arg.startswith("--"):
                name = arg.split("=", 1)[0]
                current = name if name in self.list_options and "=" not in arg else None
                out.append(arg)
            elif current is not None and out and out[-1] != current:
                out.extend((current, arg))
            else:
                out.append(arg)
        return super().parse_args(ctx, out)


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


def build_request(op_name: str, values: dict[str, Any], input_json: str | None) -> dict[str, Any]:
    """Merge ``--cli-input-json`` with explicit options (which win) into a typed request."""
    try:
        return _build_request(op_name, values, input_json)
    except RecursionError:  # JSON or shorthand nested thousands deep: refuse, do not crash
        raise UsageError("Error parsing parameters: a value is nested too deeply") from None


def _build_request(op_name: str, values: dict[str, Any], input_json: str | None) -> dict[str, Any]:
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
            request[key] = params.coerce(members[key]["shape"], value, "--cli-input-json")
    for member, spec in members.items():
        raw = values.get(member)
        if raw is None or raw == ():
            continue
        option = "--" + kebab(member)
        if isinstance(raw, bool):
            request[member] = raw
        else:
            request[member] = params.parse_value(spec["shape"], raw, option)
    missing = [
        "--" + kebab(m) for m in shape(operation(op_name)["input"]).get("required", []) if m not in request
    ]
    if missing:
        raise UsageError(f"the following arguments are required: {', '.join(missing)}")
    return request


def _param_name(member: str) -> str:
    return "m_" + kebab(member).replace("-", "_")


def build_command(op_name: str) -> click.Command:
    """The Click command for one operation, generated from the model."""
    from kmscli.cli.run import run_operation

    members = input_members(op_name)
    pag = paginator(op_name)
    hidden = {pag["input_token"], pag["limit_key"]} if pag else set()
    decls: list[click.Parameter] = []
    for member, spec in members.items():
        sh = shape(spec["shape"])
        flag = kebab(member)
        required = member in shape(operation(op_name)["input"]).get("required", [])
        help_text = spec.get("doc", "") + (" [required]" if required else "")
        if sh["type"] == "boolean":
            decls.append(
                click.Option(
                    [f"--{flag}/--no-{flag}", _param_name(member)],
                    default=None,
                    help=help_text,
                    hidden=member in hidden,
                )
            )
        else:
            decls.append(
                click.Option(
                    [f"--{flag}", _param_name(member)],
                    type=ShapeParam(spec["shape"]),
                    multiple=sh["type"] == "list",
                    default=None,
                    help=help_text,
                    hidden=member in hidden,
                )
            )
    if pag:
        decls += [
            click.Option(["--max-items"], type=int, help="Total number of items to return."),
            click.Option(["--page-size"], type=int, help="Number of items fetched per service call."),
            click.Option(["--starting-token"], help="A NextToken from a previous truncated response."),
            click.Option(["--no-paginate"], is_flag=True, default=False, help="Make one service call only."),
        ]
    if member_to_file := cli_extension(op_name).get("outfile"):
        decls.append(
            click.Option(
                ["--outfile"],
                type=click.Path(dir_okay=False),
                help=f"Write {member_to_file} (raw bytes) to this file instead of printing it.",
            )
        )
    decls += [
        click.Option(
            ["--cli-input-json"], help="Read the request from JSON (file:// allowed); options override it."
        ),
        click.Option(
            ["--generate-cli-skeleton"],
            type=click.Choice(["input", "output"]),
            is_flag=False,
            flag_value="input",
            help="Print a JSON skeleton of the request (or output) and exit.",
        ),
    ]

    @with_global_options
    def callback(**kwargs: Any) -> None:
        opts = pop_globals(kwargs)
        values = {m: kwargs.pop(_param_name(m), None) for m in members}
        run_operation(op_name, values, kwargs, opts)

    cmd = OperationCommand(
        op_name,
        name=command_name(op_name),
        params=decls,
        callback=callback,
        help=operation(op_name).get("doc", ""),
        short_help=operation(op_name).get("doc", "")[:80],
    )
    cmd.params.extend(getattr(callback, "__click_params__", [])[::-1])
    return cmd
