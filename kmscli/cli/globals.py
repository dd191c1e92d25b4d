"""Global options: accepted before the subcommand and, as with the AWS CLI, after it too."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from kmscli.cli.render import OUTPUT_FORMATS

F = TypeVar("F", bound=Callable[..., Any])

GLOBAL_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (
        ("--output",),
        {"type": click.Choice(OUTPUT_FORMATS), "help": "Output format: json, text, table or yaml."},
    ),
    (("--query",), {"help": "A JMESPath query applied to the result."}),
    (("--region",), {"help": "Region the keys live in (KMSCLI_REGION; default from the profile)."}),
    (("--profile",), {"help": "Profile in config.toml (KMSCLI_PROFILE)."}),
    (("--vault", "vault"), {"help": "Vault folder (KMSCLI_VAULT)."}),
    (("--passphrase-file",), {"help": "File holding the vault passphrase (KMSCLI_PASSPHRASE_FILE)."}),
    (("--debug",), {"is_flag": True, "default": None, "help": "Show tracebacks and debug details."}),
    (("--no-cli-pager",), {"is_flag": True, "default": None, "help": "Never page output."}),
    (("--color",), {"type": click.Choice(("on", "off", "auto")), "help": "Colour in terminal output."}),
]
GLOBAL_NAMES = (
    "output",
    "query",
    "region",
    "profile",
    "vault",
    "passphrase_file",
    "debug",
    "no_cli_pager",
    "color",
)


def with_global_options(func: F) -> F:
    """Add every global option to a command (values given here win over the root group's)."""
    for decls, attrs in reversed(GLOBAL_OPTIONS):
        func = click.option(*decls, **attrs)(func)
    return func


def pop_globals(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the global options from a command's kwargs and merge them with the root's."""
    root = click.get_current_context().find_root().obj or {}
    merged = dict(root)
    for name in GLOBAL_NAMES:
        value = kwargs.pop(name, None)
        if value is not None:
            merged[name] = value
    if merged.get("query"):
        check_query(merged["query"])
    return merged


def check_query(query: str) -> None:
    """Refuse a malformed ``--query`` before anything runs (a mutating call must not commit and
    then fail to print); exit 252 as the AWS CLI does."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    from kmscli.errors import UsageError

    try:
        jmespath.compile(query)
    except (JMESPathError, RecursionError) as exc:
        raise UsageError(f"Bad value for --query {query[:200]}: {str(exc)[:300]}") from None


def use_color(opts: dict[str, Any], stream: Any = None) -> bool:
    """Colour only on a terminal, never under NO_COLOR, unless --color on/off says otherwise."""
    choice = opts.get("color") or "auto"
    if choice != "auto":
        return bool(choice == "on")
    stream = stream or sys.stdout
    return bool(stream.isatty()) and not os.environ.get("NO_COLOR")


def settings_overrides(opts: dict[str, Any]) -> dict[str, Any]:
    """The subset of global options that settings.load_settings understands."""
    return {k: opts.get(k) for k in ("profile", "region", "vault", "passphrase_file", "output")}
