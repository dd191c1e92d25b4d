"""``kmscli configure``: interactive set-up and ``set`` / ``get`` / ``list``, like ``aws configure``."""

from __future__ import annotations

import sys
from typing import Any

import click

from kmscli.cli.globals import pop_globals, with_global_options
from kmscli.cli.listing import ListingGroup
from kmscli.cli.render import visible
from kmscli.cli.run import emit
from kmscli.invocation import Invocation


def _profile(inv: Invocation) -> tuple[str, str]:
    """(profile name, config file path) for this invocation, without loading the profile."""
    from kmscli.settings import config_path, profile_name

    return profile_name(inv.options, inv.environ), config_path(inv.environ)


@click.group(cls=ListingGroup, invoke_without_command=True)
@with_global_options
@click.pass_context
def configure(ctx: click.Context, **kwargs: Any) -> None:
    """Set up profiles in config.toml (aws configure).

    Settings: region, account id, output format, principal and vault path. Without a subcommand, asks for each setting in turn (Enter keeps the value shown in brackets).
    Profiles are chosen with --profile or KMSCLI_PROFILE. At the end of input (a closed stdin) the
    remaining settings keep their values. Prints nothing on stdout, so --output does not apply.
    """
    if ctx.invoked_subcommand is not None:
        return
    from kmscli.errors import UsageError
    from kmscli.service.features.configure import KEYS, get_value, set_value, validate

    profile, path = _profile(pop_globals(kwargs))
    for key, label in KEYS.items():
        current = get_value(profile, key, path)
        while True:
            answer = _ask(f"{label} [{visible(current) if current is not None else 'None'}]")
            if answer is None:
                click.echo(
                    "\nkmscli configure: end of input; the remaining settings keep their values", err=True
                )
                return
            if not answer:
                break
            try:
                validate(key, answer)
            except UsageError as exc:
                if not sys.stdin.isatty():
                    raise
                click.echo(f"  {exc.message}", err=True)
                continue
            set_value(profile, key, answer, path)
            break


def _ask(text: str) -> str | None:
    """One answer, stripped; None at the end of input (a closed or exhausted stdin)."""
    if sys.stdin.isatty():
        answer: str = click.prompt(text, default="", show_default=False, err=True)
        return answer.strip()
    sys.stderr.write(f"{text}: ")
    sys.stderr.flush()
    line = sys.stdin.readline()
    return line.strip() if line else None


@configure.command("set")
@click.argument("key")
@click.argument("value")
@with_global_options
def set_cmd(key: str, value: str, **kwargs: Any) -> None:
    """Set one setting (region, account_id, output, principal, vault) in the profile.

    The value is checked first: a malformed one (e.g. region `us-east`) is refused with exit 252.
    Prints nothing, so --output does not apply."""
    from kmscli.service.features.configure import set_value

    profile, path = _profile(pop_globals(kwargs))
    set_value(profile, key, value, path)


@configure.command("get")
@click.argument("key")
@with_global_options
def get_cmd(key: str, **kwargs: Any) -> None:
    """Print one setting of the profile; exit status 1 when it is not set (as aws configure get).

    The bare value, as `aws configure get` prints it: --output does not apply (`configure list` gives data)."""
    from kmscli.service.features.configure import get_value

    profile, path = _profile(pop_globals(kwargs))
    value = get_value(profile, key, path)
    if value is None:
        raise click.exceptions.Exit(1)
    sys.stdout.write(f"{value}\n")


@configure.command("list")
@with_global_options
def list_cmd(**kwargs: Any) -> None:
    """Show every setting of the profile, its value and where it comes from."""
    from kmscli.service.features.configure import list_values

    inv = pop_globals(kwargs)
    profile, _ = _profile(inv)
    overrides = {"region": inv.options.get("region"), "vault": inv.options.get("vault")}
    result = list_values(profile, overrides, inv.environ)
    emit(result, inv, inv.output("json"), "Configuration")
