"""Session files: the vault key wrapped under a random token, so scripts skip the passphrase KDF.

``kmscli unlock`` draws a 256-bit token and writes ``RUNTIME/sessions/VAULT_ID/FILE_ID.json``
(folder 0700, file 0600), where ``FILE_ID`` is a SHA-256 of the token: the name does not reveal the
token. The file holds the vault key encrypted with AES-256-GCM under a key derived from the token
with HKDF; the vault id, the session id and the expiry are the associated data, so an edited expiry
fails to decrypt. ``kmscli lock`` removes every session file of the vault, which makes every token
useless (a token without its file unwraps nothing).

Every open, lock and destroy checks the runtime folder first: the folder holding ``kmscli/``
(``$XDG_RUNTIME_DIR`` or platformdirs' fallback) must belong to this user and be closed to group and
others, and every folder and file below it too (0700 / 0600), reached without following links
(:class:`kmscli.vault.fs.VaultDir`). Anything else is refused (exit 253) before any file is touched.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import warnings
from typing import Any, NamedTuple

from kmscli.crypto import primitives
from kmscli.errors import VaultEnvironmentError
from kmscli.vault import fs, layout

TOKEN_PREFIX = "kms1_"
TOKEN_BYTES = 32
SESSION_FORMAT = 1
#: The characters of a token's URL-safe base64 part and of a vault id (written-out checks: exact, and
#: no regex compiled on the start of every command that reads a session).
_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_VAULT_ID_CHARS = frozenset("0123456789abcdef-")
_MAX_SESSION_FILE = 4096


class SessionError(VaultEnvironmentError):
    """A session token is malformed, unknown, expired or was locked (exit 253, never a prompt)."""


def runtime_dir() -> str:
    """``platformdirs.user_runtime_dir("kmscli")``: ``$XDG_RUNTIME_DIR/kmscli`` when that is set.

    platformdirs ignores an ``XDG_RUNTIME_DIR`` that does not exist yet or is not 0700 and falls back
    to a shared temporary folder; kmscli takes the variable at its word (and creates the folder 0700),
    so every process of the user agrees on one place.
    """
    env = os.environ.get("XDG_RUNTIME_DIR")
    if env:
        return fs.join(fs.pathstr(env), "kmscli")
    import platformdirs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fs.pathstr(platformdirs.user_runtime_dir("kmscli"))


def new_token(random: Any) -> str:
    """A fresh session token: a prefix and 256 random bits in URL-safe base64."""
    raw: bytes = random(TOKEN_BYTES)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _token_bytes(token: str) -> bytes:
    body = token[len(TOKEN_PREFIX) :]
    if not (token.startswith(TOKEN_PREFIX) and len(body) == 43 and _B64URL.issuperset(body)):
        raise SessionError(
            "KMSCLI_SESSION is not a kmscli session token; run `kmscli unlock` to get a new one, "
            "or `unset KMSCLI_SESSION` to use the passphrase"
        )
    return base64.urlsafe_b64decode(body + "=")


def session_id(token: str) -> str:
    """The session file's name: a hash of the token (reveals nothing about it)."""
    return primitives.sha256(b"kmscli-session-id\0" + _token_bytes(token)).hex()[:32]


def _wrap_key(token: str) -> bytes:
    return primitives.hkdf_sha256(_token_bytes(token), b"kmscli/v1/session-wrap")


def _aad(vault_id: str, sid: str, expires: str) -> bytes:
    return b"kmscli-session\0" + fs.canonical_json(
        {"format": SESSION_FORMAT, "vault_id": vault_id, "session": sid, "expires": expires}
    )


def _is_vault_id(text: str) -> bool:
    return len(text) == 36 and _VAULT_ID_CHARS.issuperset(text)


def _check_vault_id(vault_id: str) -> None:
    if not _is_vault_id(vault_id):
        raise SessionError(f"vault id {vault_id!r} is malformed")


def sessions_dir(vault_id: str) -> str:
    """The folder holding every session file of one vault."""
    _check_vault_id(vault_id)
    return fs.join(runtime_dir(), layout.session_folder(vault_id))


def _runtime(create: bool) -> fs.VaultDir:
    """The runtime folder (``.../kmscli``), checked with its parent; FileNotFoundError when missing.

    The parent (``$XDG_RUNTIME_DIR``, or platformdirs' fallback under /tmp) is followed as the
    environment names it, but must belong to this user and be closed to others (0700), as the XDG
    specification demands; another user's folder there is refused rather than trusted.
    """
    runtime = runtime_dir()
    try:
        with fs.VaultDir.open(fs.parent(runtime), create=create, private=True) as base:
            return base.subdir(os.path.basename(runtime), create=create)
    except FileNotFoundError:
        raise
    except fs.UnsafePathError as exc:
        raise SessionError(f"the session runtime folder is not safe to use: {exc.message}") from None
    except OSError as exc:
        raise SessionError(
            f"cannot use the session runtime folder {runtime}: {exc.strerror or exc}"
        ) from None


def _sessions(vault_id: str, create: bool = False) -> fs.VaultDir:
    """The checked folder of one vault's sessions (FileNotFoundError when it does not exist)."""
    _check_vault_id(vault_id)
    with _runtime(create) as runtime:
        try:
            return runtime.subdir(layout.session_folder(vault_id), create=create)
        except fs.UnsafePathError as exc:
            raise SessionError(f"the session folder is not safe to use: {exc.message}") from None


class SessionInfo(NamedTuple):
    """What ``unlock`` reports: never the vault key."""

    session_id: str
    expires: dt.datetime
    path: str


def create(
    vault_id: str, vault_key: bytes, ttl: dt.timedelta, now: dt.datetime, random: Any
) -> tuple[str, SessionInfo]:
    """Write a new session file; returns the token (shown once) and its description."""

    token = new_token(random)
    sid = session_id(token)
    expires = (now + ttl).astimezone(dt.UTC).isoformat(timespec="seconds")
    nonce: bytes = random(12)
    doc = {
        "format": SESSION_FORMAT,
        "vault_id": vault_id,
        "session": sid,
        "expires": expires,
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(
            primitives.aesgcm(_wrap_key(token)).encrypt(nonce, vault_key, _aad(vault_id, sid, expires))
        ).decode(),
    }
    folder_path = sessions_dir(vault_id)
    try:
        with _sessions(vault_id, create=True) as folder:
            folder.replace_atomic(layout.session_name(sid), json.dumps(doc).encode() + b"\n")
            path = folder.name(layout.session_name(sid))
    except OSError as exc:
        raise SessionError(f"cannot write the session file in {folder_path}: {exc.strerror or exc}") from None
    return token, SessionInfo(sid, dt.datetime.fromisoformat(expires), path)


def open_session(vault_id: str, token: str, now: dt.datetime) -> bytes:
    """The vault key held by the session ``token``; SessionError when unknown, expired or forged."""
    from cryptography.exceptions import InvalidTag

    sid = session_id(token)
    name = layout.session_name(sid)
    path = fs.join(sessions_dir(vault_id), name)
    hint = "run `kmscli unlock` to start a new session, or `unset KMSCLI_SESSION` to use the passphrase"
    try:
        with _sessions(vault_id) as folder:
            raw = folder.read(name, limit=_MAX_SESSION_FILE)
    except FileNotFoundError:
        raise SessionError(
            f"the session in KMSCLI_SESSION is unknown for the vault {vault_id} "
            f"(locked, expired or never created); {hint}"
        ) from None
    except fs.UnsafePathError as exc:
        raise SessionError(f"session file {path} is refused: {exc.message}") from None
    except (OSError, ValueError) as exc:
        raise SessionError(
            f"cannot read session file {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        doc = fs.loads(raw)
        # the associated data binds these, but a file that names other values is damaged, not ours
        if (doc["format"], doc["vault_id"], doc["session"]) != (SESSION_FORMAT, vault_id, sid):
            raise ValueError("names another format, vault or session")
        expires = str(doc["expires"])
        when = dt.datetime.fromisoformat(expires)
        nonce = base64.b64decode(doc["nonce"], validate=True)
        ct = base64.b64decode(doc["ciphertext"], validate=True)
        key = bytes(primitives.aesgcm(_wrap_key(token)).decrypt(nonce, ct, _aad(vault_id, sid, expires)))
    except (InvalidTag, ValueError, KeyError, TypeError):
        raise SessionError(f"session file {path} is damaged or was edited; {hint}") from None
    if when <= now:
        destroy_one(vault_id, sid)
        raise SessionError(f"the session in KMSCLI_SESSION expired at {expires}; {hint}")
    return key


def destroy_one(vault_id: str, sid: str) -> bool:
    """Overwrite and remove one session file; False when it was not there.

    The runtime folder is checked first (SessionError when it is not safe: nothing is touched).
    """
    try:
        with _sessions(vault_id) as folder:
            if not folder.exists(layout.session_name(sid)):
                return False
            folder.shred(layout.session_name(sid))
            return True
    except FileNotFoundError:
        return False
    except fs.UnsafePathError as exc:
        raise SessionError(f"cannot destroy the session: {exc.message}") from None


def destroy_all(vault_id: str) -> int:
    """Remove every session file of the vault; returns how many were removed."""
    try:
        folder = _sessions(vault_id)
    except FileNotFoundError:
        return 0
    count = 0
    with folder:
        for name in sorted(folder.listdir()):
            if layout.json_stem(name) is not None:
                try:
                    folder.shred(name)
                except fs.UnsafePathError as exc:
                    raise SessionError(f"cannot destroy the session: {exc.message}") from None
                count += 1
        folder.sweep()  # and what a crash left (a half-done shred still holds a wrapped vault key)
    return count


def destroy_token(token: str) -> list[str]:
    """Destroy the session of ``token`` in whichever vault's folder holds it; the vault ids it was in.

    ``kmscli lock`` uses it when the header it was pointed at cannot be trusted: the token's own
    session still ends, since only its holder can name its file.
    """
    sid = session_id(token)
    try:
        with _runtime(create=False) as runtime:
            vault_ids = [v for v in runtime.listdir(layout.SESSIONS) if _is_vault_id(v)]
    except FileNotFoundError:
        return []
    return [vault_id for vault_id in sorted(vault_ids) if destroy_one(vault_id, sid)]


def parse_ttl(text: str) -> dt.timedelta:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d`` or combinations such as ``1h30m`` (1 s to 7 days)."""
    match = re.fullmatch(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s?)?", text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise ValueError(f"invalid duration {text!r}; use e.g. 900, 90s, 15m, 2h or 1h30m")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    try:
        ttl = dt.timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:  # e.g. 99999999999999999999: far beyond the limit, not a crash
        ttl = dt.timedelta.max
    if not dt.timedelta(seconds=1) <= ttl <= dt.timedelta(days=7):
        raise ValueError(f"duration {text!r} must be between 1 second and 7 days")
    return ttl
