"""Sessions: `kmscli unlock` / `kmscli lock`, KMSCLI_SESSION without any KDF, expiry, tampering."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kmscli.vault import sessions


def _no_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> bytes:
        raise AssertionError("the passphrase KDF ran")

    monkeypatch.setattr("kmscli.vault.store.derive_root_key", boom)


def _session_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "run" / "kmscli" / "sessions").rglob("*.json"))


def _audit_names(vault: Path) -> list[str]:
    lines = [
        json.loads(x) for p in sorted((vault / "audit").glob("*.jsonl")) for x in p.read_text().splitlines()
    ]
    return [e["eventName"] for e in lines]


def test_unlock_prints_export_line_and_session_needs_no_kdf(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = cli("unlock")
    assert res.code == 0, res.err
    assert res.out.startswith('export KMSCLI_SESSION="kms1_') and res.out.endswith('"\n')
    token = res.out.split('"')[1]
    assert "expires at" in res.err and token not in res.err
    key_id = cli("create-key").json()["KeyMetadata"]["KeyId"]
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_SESSION", token)
    _no_kdf(monkeypatch)
    enc = cli("encrypt", "--key-id", key_id, "--plaintext", base64.b64encode(b"hi").decode())
    assert enc.code == 0, enc.err
    dec = cli(
        "decrypt",
        "--ciphertext-blob",
        enc.json()["CiphertextBlob"],
        "--query",
        "Plaintext",
        "--output",
        "text",
    )
    assert base64.b64decode(dec.out) == b"hi"
    names = _audit_names(vault)
    assert "Unlock" in names and names[-1] == "Decrypt"
    assert not any(token in p.read_text() for p in (vault / "audit").glob("*.jsonl"))


def test_session_file_is_private_and_does_not_reveal_token(cli: Any, tmp_path: Path) -> None:
    token = cli("unlock", "--raw").out.strip()
    files = _session_files(tmp_path)
    assert len(files) == 1
    path = files[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    secret = token.removeprefix("kms1_")
    assert secret not in path.name and secret not in path.read_text()
    assert path.stem == sessions.session_id(token)


def test_lock_destroys_every_session_and_tokens_stop_working(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cli("unlock", "--raw").out.strip()
    second = cli("unlock", "--raw").out.strip()
    assert first != second and len(_session_files(tmp_path)) == 2
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_SESSION", first)
    res = cli("lock", "--output", "json")
    assert res.code == 0, res.err
    assert res.json()["SessionsDestroyed"] == 2 and res.json()["Audited"] is True
    assert _session_files(tmp_path) == []
    for token in (first, second):
        monkeypatch.setenv("KMSCLI_SESSION", token)
        again = cli("list-keys")
        assert again.code == 253
        assert "unknown" in again.err and "kmscli unlock" in again.err and "Traceback" not in again.err
        assert "unset KMSCLI_SESSION" in again.err
    assert _audit_names(vault)[-1] == "Lock"


def test_lock_without_any_secret_fails_loudly_and_never_reports_unaudited_success(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a secret, lock cannot authenticate the header naming the sessions: it refuses (253)."""
    cli("unlock", "--raw")
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    res = cli("lock")
    assert res.code == 253 and res.out == ""
    assert "authenticate" in res.err and "Traceback" not in res.err
    assert len(_session_files(tmp_path)) == 1  # nothing was done on an unauthenticated vault id


def test_lock_prints_an_eval_line_and_says_it_was_audited(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`eval "$(kmscli lock)"` unsets KMSCLI_SESSION; stderr says how many ended and that it is audited;
    --output prints the result instead."""
    token = cli("unlock", "--raw").out.strip()
    monkeypatch.setenv("KMSCLI_SESSION", token)
    res = cli("lock")
    assert res.code == 0 and res.out == "unset KMSCLI_SESSION\n"
    assert "1 session(s) ended; recorded in the audit log" in res.err
    assert _audit_names(vault)[-1] == "Lock"
    monkeypatch.delenv("KMSCLI_SESSION")
    cli("unlock", "--raw")
    res = cli("lock", "--output", "json")
    assert res.code == 0 and res.json()["SessionsDestroyed"] == 1 and res.json()["Audited"] is True


def test_expired_session_exits_253_and_is_removed(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = cli("unlock", "--raw", "--ttl", "1s").out.strip()
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_SESSION", token)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    monkeypatch.setattr("kmscli.clock.utcnow", lambda: later)  # the real clock (kmscli/clock.py)
    res = cli("list-keys")
    assert res.code == 253
    assert "expired" in res.err
    assert _session_files(tmp_path) == []


def test_edited_expiry_is_detected(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = cli("unlock", "--raw", "--ttl", "1m").out.strip()
    path = _session_files(tmp_path)[0]
    doc = json.loads(path.read_text())
    doc["expires"] = "2999-01-01T00:00:00+00:00"
    path.write_text(json.dumps(doc))
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_SESSION", token)
    res = cli("list-keys")
    assert res.code == 253 and "damaged or was edited" in res.err


def test_loose_permissions_are_refused(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = cli("unlock", "--raw").out.strip()
    os.chmod(_session_files(tmp_path)[0], 0o644)
    monkeypatch.setenv("KMSCLI_SESSION", token)
    res = cli("list-keys")
    assert res.code == 253 and "not private" in res.err


@pytest.mark.parametrize("token", ["garbage", "kms1_short", "kms1_" + "A" * 43])
def test_malformed_or_unknown_token_exits_253_without_prompt(
    cli: Any, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("KMSCLI_SESSION", token)
    res = cli("list-keys")
    assert res.code == 253
    assert "kmscli unlock" in res.err
    assert token not in res.err or token == "garbage"


def test_session_of_another_vault_is_unknown(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kmscli.service.pipeline.core import system_random
    from kmscli.vault.store import Vault
    from tests.conftest import PASSPHRASE
    from tests.helpers import CHEAP_KDF

    token = cli("unlock", "--raw").out.strip()
    other = tmp_path / "other"
    Vault.create(other, PASSPHRASE.encode(), CHEAP_KDF, system_random, "2026-01-15T12:00:00+00:00")
    monkeypatch.setenv("KMSCLI_VAULT", str(other))
    monkeypatch.setenv("KMSCLI_SESSION", token)
    assert cli("list-keys").code == 253


def test_unlock_wrong_passphrase_creates_no_session(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "wrong")
    res = cli("unlock")
    assert res.code == 253 and res.out == ""
    assert _session_files(tmp_path) == []


@pytest.mark.parametrize("ttl", ["0", "8d", "15x", "", "m"])
def test_bad_ttl_is_usage_error(cli: Any, ttl: str) -> None:
    res = cli("unlock", "--ttl", ttl)
    assert res.code == 252, res.err
    assert "--ttl" in res.err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("900", 900), ("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("7d", 604800)],
)
def test_parse_ttl(text: str, seconds: int) -> None:
    assert sessions.parse_ttl(text).total_seconds() == seconds


def test_unlock_fails_closed_when_audit_cannot_be_written(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kmscli.audit.log import AuditLog, AuditWriteError

    def fail(self: Any, event: Any) -> Any:
        raise AuditWriteError("disk full")

    monkeypatch.setattr(AuditLog, "append", fail)
    res = cli("unlock")
    assert res.code != 0 and res.out == ""
    assert _session_files(tmp_path) == []


def test_change_passphrase_ends_sessions(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = cli("unlock", "--raw").out.strip()
    monkeypatch.setenv("KMSCLI_NEW_PASSPHRASE", "a new passphrase")
    res = cli(
        "vault",
        "change-passphrase",
        "--kdf-memory-kib",
        "8",
        "--kdf-iterations",
        "1",
        "--kdf-parallelism",
        "1",
    )
    assert res.code == 0, res.err
    assert res.json()["SessionsEnded"] == 1
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_SESSION", token)
    assert cli("list-keys").code == 253
