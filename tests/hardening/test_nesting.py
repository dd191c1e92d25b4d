"""Deeply nested JSON (issue: adversarial round two, item 10) and the KDF memory cap (item 15).

Before: a vault file, session file, audit line or key policy nested thousands deep exited 255 with a
RecursionError; a header could ask Argon2id for 4 GiB. Now: 253 naming the file, `audit verify`
exit 1 naming the line, 254 MalformedPolicyDocumentException; a header beyond 1 GiB is refused
before any memory is allocated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import skip_fsync

DEEP = 100_000
NESTED = b"[" * DEEP + b"]" * DEEP


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    skip_fsync(monkeypatch)


def _clean_253(res: Any, names: Path) -> None:
    assert res.code == 253, (res.code, res.err)
    assert str(names) in res.err and "Traceback" not in res.err and "Recursion" not in res.err
    assert res.out == ""


@pytest.mark.parametrize("which", ["header", "key", "aliases", "schedule", "key-data"])
def test_nested_vault_file_is_a_clear_253(cli: Any, vault: Path, which: str) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    assert cli("create-alias", "--alias-name", "alias/n", "--target-key-id", key).code == 0
    assert cli("schedule-key-deletion", "--key-id", key).code == 0
    key_file = vault / "keys" / "us-east-1" / f"{key}.json"
    path = {
        "header": vault / "vault.json",
        "key": key_file,
        "key-data": key_file,
        "aliases": vault / "aliases" / "us-east-1.json",
        "schedule": vault / "schedule.json",
    }[which]
    if which == "key-data":  # valid outer document, nested data under the MAC
        path.write_bytes(b'{"format":1,"mac":"00","data":' + NESTED + b"}")
    else:
        path.write_bytes(NESTED)
    _clean_253(cli("describe-key", "--key-id", "alias/n"), path)


def test_nested_session_file_is_a_clear_253(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = cli("unlock", "--raw").out.strip()
    session = next((tmp_path / "run").rglob("*.json"))
    session.write_bytes(b"[" * 2000 + b"]" * 2000)  # within the 4 KiB a session file may have
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_SESSION", token)
    _clean_253(cli("list-keys"), session)


def test_nested_audit_line_fails_verify_naming_the_line(cli: Any, vault: Path) -> None:
    assert cli("create-key").code == 0
    segment = vault / "audit" / "audit-000001.jsonl"
    lines = segment.read_bytes().count(b"\n")
    with segment.open("ab") as fh:
        fh.write(NESTED + b"\n")
    res = cli("audit", "verify", "--output", "json")
    assert res.code == 1, (res.code, res.err)
    assert "Traceback" not in res.err
    problem = res.json()["Problems"][0]
    assert problem["File"] == str(segment) and problem["Line"] == lines + 1 and problem["Kind"] == "edited"
    # readers skip it as unreadable and say so
    for args in (["audit"], ["audit", "stats"]):
        res = cli(*args)
        assert res.code == 0 and "unreadable" in res.err and "Traceback" not in res.err, (args, res.err)
    res = cli("audit", "tail")
    assert res.code == 0 and "CreateKey" in res.out and "Traceback" not in res.err
    # the writer refuses to chain after it (tamper, 253), rather than crash
    res = cli("list-keys")
    assert res.code == 253 and str(segment) in res.err and "Traceback" not in res.err


def test_nested_policy_is_malformed_policy_document(cli: Any) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    policy = "[" * 15_000 + "]" * 15_000  # within the 32 KiB quota
    res = cli("put-key-policy", "--key-id", key, "--policy", policy)
    assert res.code == 254, (res.code, res.err)
    assert "MalformedPolicyDocumentException" in res.err and "Traceback" not in res.err
    res = cli("create-key", "--policy", policy)
    assert res.code == 254 and "MalformedPolicyDocumentException" in res.err


@pytest.mark.parametrize("memory_cost", [4 * 1024 * 1024, 1024 * 1024 + 1])
def test_header_demanding_more_than_1_gib_is_refused_at_once(
    cli: Any, vault: Path, monkeypatch: pytest.MonkeyPatch, memory_cost: int
) -> None:
    def boom(*args: Any) -> bytes:
        raise AssertionError("the KDF must not run")

    monkeypatch.setattr("kmscli.vault.store.derive_root_key", boom)
    header = vault / "vault.json"
    doc = json.loads(header.read_text())
    doc["kdf"]["memory_cost"] = memory_cost
    header.write_text(json.dumps(doc))
    res = cli("list-keys")
    assert res.code == 253 and "memory_cost" in res.err and str(header) in res.err
    assert cli("vault", "status").code == 253


def test_kdf_memory_cap_is_1_gib() -> None:
    from kmscli.errors import VaultEnvironmentError
    from kmscli.vault.store import KDF_CEILING, check_kdf_params

    assert KDF_CEILING["memory_cost"] * 1024 == 1 << 30
    assert check_kdf_params({"memory_cost": 1 << 20, "iterations": 1, "lanes": 4}, source="t")
    with pytest.raises(VaultEnvironmentError, match="memory_cost"):
        check_kdf_params({"memory_cost": (1 << 20) + 1, "iterations": 1, "lanes": 4}, source="t")


def test_vault_init_refuses_more_than_1_gib(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KMSCLI_VAULT", str(tmp_path / "big"))
    res = cli("vault", "init", "--kdf-memory-kib", str(2 * 1024 * 1024))
    assert res.code in (252, 253) and "memory" in res.err.lower()
    assert not (tmp_path / "big" / "vault.json").exists()
