"""``kmscli unlock`` / ``kmscli lock``: start and end sessions (both audited)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kmscli.invocation import Sources
from kmscli.service.features.session import Prompt, audit_event, get_passphrase, open_vault
from kmscli.service.pipeline.core import system_random, utcnow
from kmscli.settings import Settings
from kmscli.vault import sessions
from kmscli.vault.store import UnlockedVault


def unlock_session(
    settings: Settings, sources: Sources, prompt: Prompt | None, ttl: dt.timedelta
) -> tuple[str, dict[str, Any]]:
    """Unlock with the passphrase (the one KDF run) and start a session; returns (token, details).

    The token is shown once; the audit event records only the session id (a hash of the token).
    """
    vault = open_vault(settings)
    unlocked = vault.unlock(get_passphrase(sources, prompt))
    now = utcnow()
    vault_id = str(vault.header.raw["vault_id"])
    token, info = sessions.create(vault_id, unlocked.vault_key, ttl, now, system_random)
    try:
        audit_event(
            unlocked,
            settings,
            sources,
            "Unlock",
            {
                "sessionId": info.session_id,
                "expires": info.expires.isoformat(),
                "ttlSeconds": int(ttl.total_seconds()),
            },
        )
    except BaseException:
        sessions.destroy_one(info.path)  # fail closed: no unaudited session
        raise
    return token, {
        "SessionId": info.session_id,
        "Expiration": info.expires,
        "VaultId": vault_id,
        "VaultPath": str(settings.vault_path),
    }


def lock_sessions(settings: Settings, sources: Sources) -> dict[str, Any]:
    """Destroy every session file of the vault, so every token stops working.

    The Lock event is written when the vault key is at hand without a prompt (a valid
    KMSCLI_SESSION, KMSCLI_PASSPHRASE or passphrase file); locking itself never waits for a secret.
    """
    vault = open_vault(settings)
    vault_id = str(vault.header.raw["vault_id"])
    unlocked: UnlockedVault | None = None
    token = sources.session_token
    try:
        if token:
            unlocked = vault.unlock_with_vault_key(sessions.open_session(vault_id, token, utcnow()))
        elif sources.has_secret():
            unlocked = vault.unlock(get_passphrase(sources, None))
    except sessions.SessionError:
        unlocked = None
    count = sessions.destroy_all(vault_id)
    audited = False
    if unlocked is not None:
        audit_event(unlocked, settings, sources, "Lock", {"sessionsDestroyed": count})
        audited = True
    return {"VaultId": vault_id, "SessionsDestroyed": count, "Audited": audited}


def end_sessions(vault_id: str) -> int:
    """Destroy every session of a vault (after a passphrase change: old sessions must not outlive it)."""
    return sessions.destroy_all(vault_id)
