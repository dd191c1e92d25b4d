"""``kmscli unlock`` / ``kmscli lock``: start and end sessions (both audited)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kmscli.errors import VaultEnvironmentError
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
        sessions.destroy_one(vault_id, info.session_id)  # fail closed: no unaudited session
        raise
    return token, {
        "SessionId": info.session_id,
        "Expiration": info.expires,
        "VaultId": vault_id,
        "VaultPath": str(settings.vault_path),
    }


def lock_sessions(settings: Settings, sources: Sources, prompt: Prompt | None = None) -> dict[str, Any]:
    """Destroy every session file of the vault, so every token stops working (audited).

    The vault id names the folder of session files, so ``lock`` first authenticates the header it
    read: with KMSCLI_SESSION (its session unwraps the vault key only under the header's vault id),
    else with the passphrase (KMSCLI_PASSPHRASE, a passphrase file, or a prompt on a terminal).
    When KMSCLI_SESSION cannot authenticate it (an edited header, or the session is already gone),
    that session's own file is destroyed wherever it is, and the passphrase is tried; failing
    that, lock fails (exit 253) rather than report success for sessions it could not reach.
    """
    vault = open_vault(settings)
    vault_id = str(vault.header.raw["vault_id"])
    unlocked: UnlockedVault | None = None
    token = sources.session_token
    token_problem: sessions.SessionError | None = None
    ended_elsewhere: list[str] = []
    if token:
        try:
            unlocked = vault.unlock_with_vault_key(sessions.open_session(vault_id, token, utcnow()))
        except sessions.SessionError as exc:
            token_problem = exc
            ended_elsewhere = sessions.destroy_token(token)
    if unlocked is None:
        if token_problem is not None and not _passphrase_at_hand(sources, prompt):
            ended = (
                f" Its own session file was destroyed ({len(ended_elsewhere)} found)."
                if ended_elsewhere
                else ""
            )
            raise VaultEnvironmentError(
                f"lock could not authenticate the vault {vault.path} with KMSCLI_SESSION "
                f"({token_problem.message}).{ended} Other sessions were NOT ended: run `kmscli lock` "
                "with the vault passphrase (KMSCLI_PASSPHRASE, --passphrase-file or a terminal)"
            )
        try:
            unlocked = vault.unlock(get_passphrase(sources, prompt))
        except VaultEnvironmentError as exc:
            raise VaultEnvironmentError(
                f"lock needs the vault key to authenticate the vault it locks: {exc.message}"
            ) from None
    vault_id = str(unlocked.header.raw["vault_id"])  # authenticated by the header MAC
    count = sessions.destroy_all(vault_id)
    audit_event(unlocked, settings, sources, "Lock", {"sessionsDestroyed": count})
    return {"VaultId": vault_id, "SessionsDestroyed": count, "Audited": True}


def _passphrase_at_hand(sources: Sources, prompt: Prompt | None) -> bool:
    return sources.passphrase is not None or sources.passphrase_file is not None or prompt is not None


def end_sessions(vault_id: str) -> int:
    """Destroy every session of a vault (after a passphrase change: old sessions must not outlive it)."""
    return sessions.destroy_all(vault_id)
