"""Global options for Click: accepted before the subcommand and, as with the AWS CLI, after it too.

The options are declared once in ``kmscli.cli.options``; :func:`click_option` turns any
declaration (global or per operation) into a Click option, and the command classes here expand
abbreviated long options before Click parses (``options.expand_abbreviations``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from kmscli.cli import options as o
from kmscli.cli.globalopts import GLOBAL_NAMES, check_query, make_invocation, use_color
from kmscli.invocation import Invocation

__all__ = [
    "GLOBAL_NAMES",
    "Choice",
    "Command",
    "Group",
    "add_options",
    "check_query",
    "click_option",
    "pop_globals",
    "use_color",
    "with_global_options",
]

F = TypeVar("F", bound=Callable[..., Any])


def click_name(opt: o.Opt) -> str:
    """The Python name Click passes the option's value under."""
    if opt.target == o.VALUES:
        return "m_" + opt.name[2:].replace("-", "_")
    return opt.dest


class Choice(click.Choice):
    """Click's choice type, refusing a value outside the choices in ``options.invalid_choice``'s words."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The value when it is one of the choices; a usage error naming them otherwise."""
        if value in self.choices:
            return value
        name = (
            "value"
            if param is None
            else param.opts[0]
            if isinstance(param, click.Option)
            else param.human_readable_name
        )
        raise click.UsageError(o.invalid_choice(name, value, [str(c) for c in self.choices]), ctx)


def click_option(opt: o.Opt, *, choices: tuple[str, ...] | None = None, type: Any = None) -> click.Option:
    """The Click option for a declaration (``choices`` narrows a choice list; ``type`` overrides),
    as its kind declares it (``options.KINDS``)."""
    if type is None and (choices or opt.choices):
        type = Choice(choices or opt.choices or ())
    decls, attrs = o.KINDS[opt.kind].click(opt, click, choices or opt.choices, type)
    return click.Option(
        [*decls, click_name(opt)], help=opt.help, hidden=opt.hidden, metavar=opt.metavar, **attrs
    )


def add_options(func: F, options: list[click.Option]) -> F:
    """Attach Click options to a function as ``@click.option`` decorators do (first one listed first)."""
    params = getattr(func, "__click_params__", None)
    if params is None:
        params = []
        func.__click_params__ = params  # type: ignore[attr-defined]
    params.extend(reversed(options))
    return func


def with_global_options(func: F) -> F:
    """Add every global option to a command (values given here win over the root group's)."""
    return add_options(func, [click_option(opt) for opt in o.GLOBAL_OPTIONS])


def merged_globals(kwargs: dict[str, Any], *layers: dict[str, Any]) -> dict[str, Any]:
    """Remove the global options from a command's kwargs; merge them over the root's and ``layers``."""
    root = click.get_current_context().find_root().obj or {}
    merged = dict(root)
    for layer in layers:
        merged.update({k: v for k, v in layer.items() if v is not None})
    for name in GLOBAL_NAMES:
        value = kwargs.pop(name, None)
        if value is not None:
            merged[name] = value
    return merged


def pop_globals(kwargs: dict[str, Any], *, remote: bool = False) -> Invocation:
    """The command's Invocation: its global options merged with the root's, and the environment.

    ``remote``: the command also runs over ``--endpoint-url`` (client mode); every other command
    works on the local vault and refuses the option rather than silently ignore it."""
    inv = make_invocation(merged_globals(kwargs))
    if not remote:
        refuse_endpoint(inv)
    return inv


def refuse_endpoint(inv: Invocation) -> None:
    """Usage error (252) when a local-only command is given ``--endpoint-url``."""
    if inv.options.get("endpoint_url"):
        from kmscli.errors import UsageError

        name = click.get_current_context().command_path
        raise UsageError(
            f"{name} works on the local vault and takes no --endpoint-url (client mode covers the "
            "KMS operations, `artifact` and `policy lint`)"
        )


# -- abbreviations ---------------------------------------------------------------------------------


def long_options(command: click.Command, ctx: click.Context) -> dict[str, bool]:
    """Long option name -> whether a value follows it, for every option of ``command``."""
    found: dict[str, bool] = {}
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option):
            continue
        takes_value = not param.is_flag and not param.count and not getattr(param, "_flag_needs_value", False)
        for name in (*param.opts, *param.secondary_opts):
            if name.startswith("--"):
                found[name] = takes_value
    return found


class Command(click.Command):
    """A Click command that accepts every unambiguous prefix of its long options."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Expand abbreviated options, then parse as Click does (:meth:`parse_known`)."""
        return self.parse_known(ctx, o.expand_abbreviations(args, long_options(self, ctx)))

    def parse_known(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse as Click does, collecting what no option or argument takes (``--bogus``, a stray
        value) as argparse's ``parse_known_args`` leaves it in the AWS CLI, then refusing it as
        ``Unknown options: ...`` once the rest is read (exit 252)."""
        if ctx.allow_extra_args or ctx.ignore_unknown_options:  # a command that wants them
            return click.Command.parse_args(self, ctx, args)
        ctx.allow_extra_args = ctx.ignore_unknown_options = True
        rest = click.Command.parse_args(self, ctx, args)
        if ctx.args and not ctx.resilient_parsing:
            from kmscli.errors import UnknownOptionsError

            raise UnknownOptionsError(f"Unknown options: {', '.join(ctx.args)}")
        return rest


class Group(click.Group):
    """A Click group that accepts every unambiguous prefix of its long options (before its command);
    its subcommands and subgroups are of these classes too."""

    command_class = Command
    group_class = type

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Expand abbreviated options up to the subcommand, then parse as Click does; no command
        at all is a short usage error (exit 252), as the AWS CLI says it, not the whole help."""
        known = long_options(self, ctx)
        expanded = o.expand_abbreviations(args, known, stop_at_command=True)
        if (
            not self.invoke_without_command
            and not ctx.resilient_parsing
            and not _names_command(expanded, known)
        ):
            what = "command" if ctx.parent is None else "subcommand"
            raise click.UsageError(f"the following arguments are required: {what}", ctx)
        return super().parse_args(ctx, expanded)


def _names_command(args: list[str], known: dict[str, bool]) -> bool:
    """Whether ``args`` (a group's) hold a command, or ask for help or the version instead."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--help", "-h", "--version") or not arg.startswith("-"):
            return True
        i += 2 if known.get(arg) else 1
    return False
