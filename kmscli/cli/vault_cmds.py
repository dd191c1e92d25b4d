"""``kmscli vault``: init, status, change-passphrase."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from kmscli.cli.globals import pop_globals, settings_overrides, with_global_options
from kmscli.cli.prompt import tty_prompt
from kmscli.cli.run import emit

KDF_OPTIONS = [
    click.option("--kdf-memory-kib", type=int, help="Argon2id memory in KiB (default 65536; test floor 8)."),
    click.option("--kdf-iterations", type=int, help="Argon2id passes (default 3; test floor 1)."),
    click.option("--kdf-parallelism", type=int, help="Argon2id lanes (default 4; test floor 1)."),
]


def kdf_options(func: Any) -> Any:
    """Add the KDF cost options."""
    for option in reversed(KDF_OPTIONS):
        func = option(func)
    return func


def _kdf(kwargs: dict[str, Any]) -> dict[str, int]:
    names = {"kdf_memory_kib": "memory_cost", "kdf_iterations": "iterations", "kdf_parallelism": "lanes"}
    return {target: kwargs.pop(name) for name, target in names.items() if kwargs.get(name) is not None}


def _settings(opts: dict[str, Any]) -> Any:
    from kmscli.settings import load_settings

    return load_settings(settings_overrides(opts))


@click.group()
def vault() -> None:
    """Create and manage the vault that holds the keys."""


@vault.command()
@kdf_options
@with_global_options
def init(**kwargs: Any) -> None:
    """Create a new vault (refuses to overwrite one). Passphrase from KMSCLI_PASSPHRASE,
    KMSCLI_PASSPHRASE_FILE / --passphrase-file, or a prompt asked twice."""
    from kmscli.service.vaultops import init_vault

    opts = pop_globals(kwargs)
    settings = _settings(opts)
    emit(
        init_vault(settings, tty_prompt(), _kdf(kwargs)), opts, opts.get("output") or settings.output, "Vault"
    )


@vault.command()
@with_global_options
def status(**kwargs: Any) -> None:
    """Show the vault's path, format, KDF parameters and key count (no passphrase needed)."""
    from kmscli.service.vaultops import status as vault_status

    opts = pop_globals(kwargs)
    settings = _settings(opts)
    emit(vault_status(settings), opts, opts.get("output") or settings.output, "Vault")


@vault.command("change-passphrase")
@click.option(
    "--new-passphrase-file", type=click.Path(dir_okay=False), help="File holding the new passphrase."
)
@kdf_options
@with_global_options
def change_passphrase(new_passphrase_file: str | None, **kwargs: Any) -> None:
    """Rewrap the vault key under a new passphrase (KMSCLI_NEW_PASSPHRASE, --new-passphrase-file or prompt)."""
    from kmscli.service.session import read_passphrase_file
    from kmscli.service.vaultops import change_passphrase as change

    opts = pop_globals(kwargs)
    settings = _settings(opts)
    new: bytes | None = None
    if os.environ.get("KMSCLI_NEW_PASSPHRASE"):
        new = os.environ["KMSCLI_NEW_PASSPHRASE"].encode()
    elif new_passphrase_file:
        new = read_passphrase_file(Path(new_passphrase_file))
    emit(
        change(settings, tty_prompt(), new, _kdf(kwargs) or None),
        opts,
        opts.get("output") or settings.output,
        "Vault",
    )
