"""Click commands generated from the model: one declaration per operation, no hand-copied functions.

Every input member of an operation becomes ``--kebab-name``; its shape decides how the value is
parsed (kmscli.cli.params). Paginated operations get ``--max-items``, ``--page-size`` and
``--starting-token``; every operation gets ``--cli-input-json`` and ``--generate-cli-skeleton``.
"""

from __future__ import annotations

from typing import Any

import click

from kmscli.cli import options as o
from kmscli.cli.globals import (
    Command,
    click_name,
    click_option,
    long_options,
    pop_globals,
    with_global_options,
)
from kmscli.cli.request import build_request, command_name, kebab, skeleton
from kmscli.model import operation, shape

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


class OperationCommand(Command):
    """A command for one KMS operation; list options take several space-separated values."""

    def __init__(self, op_name: str, **kwargs: Any) -> None:
        self.op_name = op_name
        self.list_options = {opt.name for opt in o.operation_options(op_name) if opt.kind == o.LIST}
        super().__init__(**kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Rewrite ``--opt a b c`` into ``--opt a --opt b --opt c`` for list options (after
        expanding abbreviations, so ``--tag-k a b`` is a list too)."""
        args = o.expand_abbreviations(args, long_options(self, ctx))
        return self.parse_known(ctx, o.repeat_list_options(args, self.list_options))


def build_command(op_name: str) -> click.Command:
    """The Click command for one operation, from its declaration (``options.operation_options``)."""
    from kmscli.cli.run import run_operation

    declared = o.operation_options(op_name)
    decls: list[click.Parameter] = [
        click_option(opt, type=ShapeParam(opt.shape) if opt.shape and opt.kind != o.BOOL else None)
        for opt in declared
    ]
    members = [opt for opt in declared if opt.target == o.VALUES]

    @with_global_options
    def callback(**kwargs: Any) -> None:
        inv = pop_globals(kwargs, remote=True)
        values = {opt.dest: kwargs.pop(click_name(opt), None) for opt in members}
        run_operation(op_name, values, kwargs, inv)

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
