"""Global options: accepted before the subcommand and, as with the AWS CLI, after it too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from kmscli.cli.globalopts import GLOBAL_NAMES, check_query, settings_overrides, use_color
from kmscli.cli.render import OUTPUT_FORMATS

__all__ = [
    "GLOBAL_NAMES",
    "GLOBAL_OPTIONS",
    "check_query",
    "pop_globals",
    "settings_overrides",
    "use_color",
    "with_global_options",
]

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
