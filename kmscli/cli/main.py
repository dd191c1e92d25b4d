"""The root ``kmscli`` command: global options, lazily built subcommands, error contract."""

from __future__ import annotations

import importlib
from typing import Any

import click

from kmscli import __version__
from kmscli.cli.globals import GLOBAL_NAMES, with_global_options
from kmscli.cli.listing import ListingGroup

#: Commands beyond the KMS API: name -> "module:attribute" (imported only when used).
EXTRA_COMMANDS: dict[str, str] = {
    "vault": "kmscli.cli.vault_cmds:vault",
    "audit": "kmscli.cli.audit_cmds:audit",
    "policy": "kmscli.cli.policy_cmds:policy",
    "artifact": "kmscli.cli.artifact_cmds:artifact",
    "unlock": "kmscli.cli.session_cmds:unlock",
    "lock": "kmscli.cli.session_cmds:lock",
    "_complete-ids": "kmscli.cli.complete_cmd:complete_ids",
    "configure": "kmscli.cli.configure_cmds:configure",
    "credentials": "kmscli.cli.credentials_cmds:credentials",
    "serve": "kmscli.cli.serve_cmd:serve",
}


def _operation_names() -> dict[str, str]:
    from kmscli.cli.opcommand import command_name
    from kmscli.service.pipeline.registry import OPERATION_MODULES

    return {command_name(op): op for op in OPERATION_MODULES}


class RootGroup(ListingGroup):
    """Lists KMS operations and extra command groups; builds each only when it is invoked."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Click's, except that an unknown command suggests the closest names (exit 252): the
        commands are built lazily, so Click's own suggestions (from ``self.commands``) see none."""
        name = args[0]
        if self.get_command(ctx, name) is None and not ctx.resilient_parsing and not name.startswith("-"):
            import difflib

            close = sorted(difflib.get_close_matches(name, self.list_commands(ctx)))
            hint = ""
            if len(close) == 1:
                hint = f" Did you mean {close[0]!r}?"
            elif close:
                hint = f" (Did you mean one of: {', '.join(repr(c) for c in close)}?)"
            raise click.UsageError(f"No such command {name!r}.{hint}", ctx)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Click's, except that an interrupt leaves as :class:`kmscli.errors.Interrupted`, so that
        ``kmscli.__main__`` ends it as the AWS CLI does (Click would write a newline to stderr)."""
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, EOFError):
            from kmscli.errors import Interrupted

            raise Interrupted from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every subcommand name, sorted."""
        return sorted([*_operation_names(), *EXTRA_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Build the named subcommand."""
        if cmd_name in EXTRA_COMMANDS:
            module, attr = EXTRA_COMMANDS[cmd_name].split(":")
            cmd: click.Command = getattr(importlib.import_module(module), attr)
            return cmd
        ops = _operation_names()
        if cmd_name in ops:
            from kmscli.cli.opcommand import build_command

            return build_command(ops[cmd_name])
        return None


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="kmscli", message="%(prog)s %(version)s")
@with_global_options
@click.pass_context
def cli(ctx: click.Context, **kwargs: Any) -> None:
    """kmscli: the `aws kms` commands, offline, over a local passphrase-protected vault.

    Replace `aws kms` with `kmscli` in a script and it runs against the vault in KMSCLI_VAULT.
    """
    ctx.obj = {name: kwargs.get(name) for name in GLOBAL_NAMES}
