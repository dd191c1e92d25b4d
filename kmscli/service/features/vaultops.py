"""Vault management beyond the KMS API: init, status, change-passphrase (all audited)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kmscli.errors import VaultEnvironmentError
from kmscli.invocation import Sources
from kmscli.service.features.session import Prompt, audit_event, get_passphrase, require_passphrase
from kmscli.service.pipeline.core import system_random, utcnow
from kmscli.settings import Settings
from kmscli.vault import fs, layout
from kmscli.vault.store import DEFAULT_KDF, UnlockedVault, Vault


def init_vault(
    settings: Settings, sources: Sources, prompt: Prompt | None, kdf: dict[str, int] | None = None
) -> dict[str, Any]:
    """Create a vault at the configured path; refuses to overwrite one."""
    params = dict(DEFAULT_KDF, **(kdf or {}))
    if Vault.exists(settings.vault_path):
        raise VaultEnvironmentError(
            f"a vault already exists at {settings.vault_path}; refusing to overwrite it"
        )
    passphrase = get_passphrase(sources, prompt, confirm=True, what="New vault passphrase")
    vault = Vault.create(
        settings.vault_path, passphrase, params, system_random, utcnow().isoformat(timespec="seconds")
    )
    try:
        audit_event(vault, settings, sources, "InitVault", {"kdf": {"name": "argon2id", **params}})
    except BaseException:
        _unmake(vault)
        raise
    return status(settings) | {"Created": True}


def _unmake(vault: UnlockedVault) -> None:
    """Fail closed: no vault without its InitVault event. The vault just made holds nothing yet, so
    its log (which may hold the event's line: the head record after it can fail too) and then its
    header go; without a header it is no vault (``Vault.exists``), the error's "not performed" is
    true, and a retry once the disk has room makes it afresh over the other leftovers."""
    folder = vault.folder
    try:
        for name in folder.listdir(layout.AUDIT):
            folder.unlink(f"{layout.AUDIT}/{name}")
        folder.unlink(layout.HEADER)
    except OSError:
        pass  # then it stays a vault, its log as the failed append left it (verify reports it)


def status(settings: Settings) -> dict[str, Any]:
    """What can be known without the passphrase."""
    if fs.is_file(settings.vault_path):  # a backup or bundle used read-only through KMSCLI_VAULT
        from kmscli.service.features.portability import archive_status

        return archive_status(settings)
    vault = Vault.open(settings.vault_path)
    kdf = vault.header.raw["kdf"]
    return {
        "Path": str(vault.path),
        "FormatVersion": vault.header.raw["format"],
        "VaultId": vault.header.raw["vault_id"],
        "CreationDate": dt.datetime.fromisoformat(vault.header.raw["created"]),
        "Kdf": {
            "Algorithm": "argon2id",
            "MemoryKiB": kdf["memory_cost"],
            "Iterations": kdf["iterations"],
            "Parallelism": kdf["lanes"],
        },
        "KeyCount": vault.key_count(),
    }


def change_passphrase(
    settings: Settings,
    sources: Sources,
    prompt: Prompt | None,
    new_passphrase: bytes | None,
    kdf: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Rewrap the vault key under a new passphrase; nothing else is rewritten."""
    if new_passphrase is not None:  # before anything: an empty one would lock the vault for good
        require_passphrase(new_passphrase, "the new passphrase")
    vault = Vault.open(settings.vault_path)
    unlocked = vault.unlock(get_passphrase(sources, prompt))
    if new_passphrase is None:
        if prompt is None:
            raise VaultEnvironmentError(
                "no new passphrase: set KMSCLI_NEW_PASSPHRASE or --new-passphrase-file, or run on a terminal"
            )
        new_passphrase = prompt("New vault passphrase", True).encode()
    params = {k: unlocked.header.raw["kdf"][k] for k in DEFAULT_KDF} | (kdf or {})
    extra = {"kdf": {"name": "argon2id", **params}}
    with unlocked.lock(exclusive=True):
        audit_event(unlocked, settings, sources, "ChangePassphrase", extra)
        old = unlocked.header.raw
        try:
            unlocked.rewrap(new_passphrase, params, system_random)
        except OSError as exc:
            _header_write_failed(unlocked, settings, sources, extra, old, exc)
    return status(settings)


def _header_write_failed(
    unlocked: Any, settings: Settings, sources: Sources, extra: dict[str, Any], old: Any, exc: OSError
) -> None:
    """The new header could not be written (a full disk, an I/O error): say whether it is in place
    (the header is replaced atomically, so the file on disk is either the old one or the new one),
    and when it is not, record that the ChangePassphrase just logged did not happen. Exit 253."""
    reason = exc.strerror or type(exc).__name__
    try:
        landed = Vault.open(settings.vault_path).header.raw != old
    except Exception:  # the header cannot even be read back: say what is certain
        landed = None
    if landed:
        raise VaultEnvironmentError(
            f"the new vault header is in place but could not be flushed to disk ({reason}): the new "
            "passphrase opens the vault; check the disk, then run `kmscli vault status`"
        )
    message = f"the new vault header could not be written ({reason}); " + (
        "the passphrase is unchanged"
        if landed is False
        else "it cannot be read back either: try the old passphrase first, then the new one"
    )
    try:
        audit_event(
            unlocked, settings, sources, "ChangePassphrase", extra, error=("VaultWriteFailed", message)
        )
    except Exception:  # the same full disk may refuse the record too: the error below still stands
        pass
    raise VaultEnvironmentError(message)
