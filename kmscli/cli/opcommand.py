"""Click commands generated from the model: one declaration per operation, no hand-copied functions.

Every input member of an operation becomes ``--kebab-name``; its shape decides how the value is
parsed (kmscli.cli.params). Paginated operations get ``--max-items``, ``--page-size`` and
``--starting-token``; every operation gets ``--cli-input-json`` and ``--generate-cli-skeleton``.
"""

from __future__ import annotations

from typing import Any

import click

from kmscli.cli.globals import pop_globals, with_global_options
from kmscli.cli.request import build_request, command_name, kebab, skeleton
from kmscli.model import cli_extension, input_members, operation, paginator, shape

__all__ = [
    "OperationCommand",
    "ShapeParam",
    "build_command",
    "build_request",
    "command_name",
    "kebab",
    "skeleton",
]


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
