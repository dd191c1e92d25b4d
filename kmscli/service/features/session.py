"""Opening the vault for one invocation: passphrase sources, unlocking, the service context."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from kmscli.audit.log import AuditLog
from kmscli.errors import VaultEnvironmentError
from kmscli.service.pipeline.core import Identity, ServiceContext
from kmscli.settings import Settings
from kmscli.vault import fs
from kmscli.vault.store import UnlockedVault, Vault

#: Asks the user for a secret on a terminal: (prompt text, confirm twice) -> passphrase.
Prompt = Callable[[str, bool], str]
MAX_PASSPHRASE_FILE = 64 * 1024


def read_passphrase_file(path: fs.StrPath) -> bytes:
    """The passphrase in a file (one trailing newline removed)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_PASSPHRASE_FILE + 1)
    except OSError as exc:
        raise VaultEnvironmentError(f"cannot read passphrase file {path}: {exc.strerror}") from None
    if len(data) > MAX_PASSPHRASE_FILE:
        raise VaultEnvironmentError(f"passphrase file {path} is larger than {MAX_PASSPHRASE_FILE} bytes")
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    return data


def get_passphrase(
    settings: Settings, prompt: Prompt | None, *, confirm: bool = False, what: str = "Vault passphrase"
) -> bytes:
    """KMSCLI_PASSPHRASE, then KMSCLI_PASSPHRASE_FILE / --passphrase-file, then a no-echo prompt."""
    env = os.environ.get("KMSCLI_PASSPHRASE")
    if env is not None:
        secret = env.encode()
    elif settings.passphrase_file is not None:
        secret = read_passphrase_file(settings.passphrase_file)
    elif prompt is not None:
        secret = prompt(what, confirm).encode()
    else:
        raise VaultEnvironmentError(
            "no passphrase: set KMSCLI_PASSPHRASE, KMSCLI_PASSPHRASE_FILE or --passphrase-file, "
            "or KMSCLI_SESSION (see `kmscli unlock`), or run on a terminal to be prompted"
        )
    if not secret:
        raise VaultEnvironmentError("the passphrase is empty")
    return secret


def open_vault(settings: Settings) -> Vault:
    """The configured vault: a folder, or a read-only archive file (backup or bundle)."""
    if fs.is_file(settings.vault_path):
        from kmscli.vault.archive import ArchiveFile

        return ArchiveFile.open(settings.vault_path)
    return Vault.open(settings.vault_path)


def unlock(settings: Settings, prompt: Prompt | None) -> UnlockedVault:
    """Open and unlock the configured vault: with KMSCLI_SESSION (no KDF) or the passphrase."""
    vault = open_vault(settings)
    token = os.environ.get("KMSCLI_SESSION")
    if token:
        from kmscli.service.pipeline.core import utcnow
        from kmscli.vault import sessions

        return vault.unlock_with_vault_key(
            sessions.open_session(vault.header.raw["vault_id"], token, utcnow())
        )
    return vault.unlock(get_passphrase(settings, prompt))


def audit_log_for(vault: UnlockedVault, settings: Settings) -> AuditLog:
    """The vault's chained log. A read-only archive logs to the folder KMSCLI_AUDIT_LOG names, else
    to a durable folder of the user's (:func:`kmscli.settings.archive_audit_path`): never to a
    stream that ``2>/dev/null`` would drop. An append that cannot be made durable fails closed."""
    if getattr(vault, "read_only", False):  # an ArchiveVault (not imported: the hot path)
        from kmscli.settings import archive_audit_path

        folder = os.environ.get("KMSCLI_AUDIT_LOG") or archive_audit_path(vault.header.raw["vault_id"])
        return AuditLog(folder, vault.audit_key, settings.audit_segment_bytes)
    log = AuditLog(fs.join(vault.path, "audit"), vault.audit_key, settings.audit_segment_bytes)
    state = vault.vault_state()  # read by every call anyway (cached)
    log.require_head = state is not None and state.head is not None  # a commit's event was appended
    return log


def context_for(vault: UnlockedVault, settings: Settings) -> ServiceContext:
    """The service context of an unlocked vault for these settings."""
    return ServiceContext(
        vault=vault,
        identity=Identity(settings.principal, settings.account_id, settings.region),
        audit=audit_log_for(vault, settings),
    )


def open_service(settings: Settings, prompt: Prompt | None) -> ServiceContext:
    """Unlock the vault and build the context every operation runs in."""
    return context_for(unlock(settings, prompt), settings)


def kmscli_event(
    settings: Settings, name: str, extra: dict[str, Any] | None = None, *, read_only: bool = False
) -> dict[str, Any]:
    """A CloudTrail-shaped record of something kmscli itself did (not a KMS API call)."""
    from kmscli.audit import events
    from kmscli.ids import uuid4
    from kmscli.service.pipeline.core import utcnow

    return events.build(
        name=name,
        when=utcnow(),
        principal=settings.principal,
        account_id=settings.account_id,
        region=settings.region,
        request=None,
        response=None,
        resources=[],
        read_only=read_only,
        request_id=uuid4(os.urandom(16)),
        event_id=uuid4(os.urandom(16)),
        source="kmscli",
        extra=extra,
    )


def audit_event(
    vault: UnlockedVault, settings: Settings, name: str, extra: dict[str, Any], *, read_only: bool = False
) -> None:
    """Append a kmscli event (not a KMS API call) to the vault's audit log (fail closed)."""
    audit_log_for(vault, settings).append(kmscli_event(settings, name, extra, read_only=read_only))
