"""``kmscli vault``: init, status, change-passphrase."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kmscli.cli.globals import pop_globals, with_global_options
from kmscli.cli.listing import ListingGroup
from kmscli.cli.prompt import tty_prompt
from kmscli.cli.run import emit
from kmscli.invocation import Invocation
from kmscli.vault.store import KDF_CEILING, KDF_FLOOR


def _kdf_range(name: str) -> click.IntRange:
    """The accepted range of one KDF parameter: out of it is a parameter error (252), as any bad value."""
    return click.IntRange(min=KDF_FLOOR[name], max=KDF_CEILING[name])


KDF_OPTIONS = [
    click.option(
        "--kdf-memory-kib",
        type=_kdf_range("memory_cost"),
        help="Argon2id memory in KiB (default 65536; test floor 8).",
    ),
    click.option(
        "--kdf-iterations", type=_kdf_range("iterations"), help="Argon2id passes (default 3; test floor 1)."
    ),
    click.option(
        "--kdf-parallelism", type=_kdf_range("lanes"), help="Argon2id lanes (default 4; test floor 1)."
    ),
]


def new_passphrase_file_option(help_text: str) -> Any:
    """``--new-passphrase-file`` (change-passphrase, export-key); KMSCLI_NEW_PASSPHRASE wins over it."""
    return click.option("--new-passphrase-file", type=click.Path(dir_okay=False), help=help_text)


def kdf_options(func: Any) -> Any:
    """Add the KDF cost options."""
    for option in reversed(KDF_OPTIONS):
        func = option(func)
    return func


def _kdf(kwargs: dict[str, Any]) -> dict[str, int]:
    names = {"kdf_memory_kib": "memory_cost", "kdf_iterations": "iterations", "kdf_parallelism": "lanes"}
    return {target: kwargs.pop(name) for name, target in names.items() if kwargs.get(name) is not None}


@click.group(cls=ListingGroup)
def vault() -> None:
    """Create and manage the vault that holds the keys."""


@vault.command()
@kdf_options
@with_global_options
def init(**kwargs: Any) -> None:
    """Create a new vault (refuses to overwrite one). Passphrase from KMSCLI_PASSPHRASE,
    KMSCLI_PASSPHRASE_FILE / --passphrase-file, or a prompt asked twice."""
    from kmscli.service.features.vaultops import init_vault

    inv = pop_globals(kwargs)
    settings = inv.settings
    emit(init_vault(settings, inv.sources, tty_prompt(), _kdf(kwargs)), inv, inv.output(), "Vault")


@vault.command()
@with_global_options
def status(**kwargs: Any) -> None:
    """Show the vault's path, format, KDF parameters and key count (no passphrase needed)."""
    from kmscli.service.features.vaultops import status as vault_status

    inv = pop_globals(kwargs)
    settings = inv.settings
    emit(vault_status(settings), inv, inv.output(), "Vault")


@vault.command("change-passphrase")
@new_passphrase_file_option("File holding the new passphrase.")
@kdf_options
@with_global_options
def change_passphrase(new_passphrase_file: str | None, **kwargs: Any) -> None:
    """Rewrap the vault key under a new passphrase (KMSCLI_NEW_PASSPHRASE, --new-passphrase-file or prompt)."""
    from kmscli.service.features.vaultops import change_passphrase as change

    inv = pop_globals(kwargs)
    settings = inv.settings
    new = _new_passphrase(inv, new_passphrase_file)
    import contextlib

    from kmscli.cli.progress import progress_bar

    # a bar only when nothing will be asked: a prompt under a live bar would be garbled
    quiet = new is not None and (
        inv.sources.passphrase is not None or inv.sources.passphrase_file is not None
    )
    with progress_bar("Deriving keys", inv) if quiet else contextlib.nullcontext(None) as advance:
        result = change(settings, inv.sources, tty_prompt(), new, _kdf(kwargs) or None)
        if advance is not None:
            advance(1, 1)
    from kmscli.service.features.sessionops import end_sessions

    result["SessionsEnded"] = end_sessions(str(result["VaultId"]))
    emit(result, inv, inv.output(), "Vault")


def _new_passphrase(inv: Invocation, new_passphrase_file: str | None) -> bytes | None:
    """KMSCLI_NEW_PASSPHRASE, else --new-passphrase-file, else None (ask)."""
    from kmscli.service.features.session import read_passphrase_file

    if inv.sources.new_passphrase:
        return inv.sources.new_passphrase
    if new_passphrase_file:
        return read_passphrase_file(Path(new_passphrase_file))
    return None


@vault.command()
@click.option("--outfile", required=True, type=click.Path(dir_okay=False), help="The backup file to write.")
@click.option("--force", is_flag=True, help="Replace an existing backup file.")
@with_global_options
def backup(outfile: str, force: bool, **kwargs: Any) -> None:
    """Write the whole vault (keys, aliases, audit log) to one encrypted file.

    The backup opens with the vault's passphrase; `kmscli vault restore` brings it back, and
    KMSCLI_VAULT may point at it to read it without restoring.
    """
    from kmscli.cli.progress import progress_bar
    from kmscli.service.features.portability import backup as do_backup

    inv = pop_globals(kwargs)
    settings = inv.settings
    with progress_bar("Backing up", inv) as advance:
        result = do_backup(settings, inv.sources, tty_prompt(), Path(outfile), force=force, progress=advance)
    emit(result, inv, inv.output(), "Backup")


@vault.command()
@click.argument("infile", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace the existing vault at the vault path.")
@with_global_options
def restore(infile: str, force: bool, **kwargs: Any) -> None:
    """Recreate the vault at the vault path from a backup (or bundle) file.

    Refuses to replace an existing vault without --force. Asks for the backup's passphrase.
    """
    from kmscli.cli.progress import progress_bar
    from kmscli.service.features.portability import restore as do_restore

    inv = pop_globals(kwargs)
    settings = inv.settings
    with progress_bar("Restoring", inv) as advance:
        result = do_restore(settings, inv.sources, tty_prompt(), Path(infile), force=force, progress=advance)
    emit(result, inv, inv.output(), "Restore")


@vault.command("export-key")
@click.option(
    "--key-id", "key_ids", multiple=True, required=True, help="Key id, ARN or alias to export (repeat it)."
)
@click.option("--outfile", required=True, type=click.Path(dir_okay=False), help="The bundle file to write.")
@new_passphrase_file_option("File holding the bundle's passphrase.")
@click.option("--force", is_flag=True, help="Replace an existing bundle file.")
@kdf_options
@with_global_options
def export_key(
    key_ids: tuple[str, ...], outfile: str, new_passphrase_file: str | None, force: bool, **kwargs: Any
) -> None:
    """Write a bundle: a new vault file holding only the named keys, their policies and aliases.

    The bundle has its own passphrase (KMSCLI_NEW_PASSPHRASE, --new-passphrase-file or a prompt
    asked twice). Point KMSCLI_VAULT at it to use the keys read-only, e.g. in a CI job.
    """
    from kmscli.errors import VaultEnvironmentError
    from kmscli.service.features.portability import export_keys

    inv = pop_globals(kwargs)
    settings = inv.settings
    new = _new_passphrase(inv, new_passphrase_file)
    prompt = tty_prompt()
    if new is None:
        if prompt is None:
            raise VaultEnvironmentError(
                "no passphrase for the bundle: set KMSCLI_NEW_PASSPHRASE or --new-passphrase-file, "
                "or run on a terminal"
            )
        new = prompt("Bundle passphrase", True).encode()
    result = export_keys(
        settings,
        inv.sources,
        prompt,
        list(key_ids),
        Path(outfile),
        new,
        kdf=_kdf(kwargs) or None,
        force=force,
    )
    emit(result, inv, inv.output(), "Bundle")
