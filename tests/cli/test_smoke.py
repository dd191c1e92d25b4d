"""End-to-end smoke tests of the foundation: vault, symmetric round trip, errors, audit chain."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from kmscli import errors
from tests.helpers import assert_output_shape


def test_encrypt_decrypt_round_trip_with_context(kms: Any) -> None:
    key = kms("CreateKey", Description="app")["KeyMetadata"]
    out = kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"secret", EncryptionContext={"a": "1"})
    back = kms("Decrypt", CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"a": "1"})
    assert back["Plaintext"] == b"secret"
    assert back["KeyId"] == key["Arn"]
    with pytest.raises(errors.InvalidCiphertextException):
        kms("Decrypt", CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"a": "2"})


def test_cli_round_trip_and_shapes(cli: Any) -> None:
    created = cli("create-key", "--description", "demo")
    assert created.code == 0, created.err
    assert_output_shape("CreateKey", created.json())
    key_id = created.json()["KeyMetadata"]["KeyId"]
    enc = cli(
        "encrypt",
        "--key-id",
        key_id,
        "--plaintext",
        base64.b64encode(b"hi").decode(),
        "--encryption-context",
        "k=v",
    )
    assert enc.code == 0, enc.err
    assert_output_shape("Encrypt", enc.json())
    dec = cli(
        "decrypt",
        "--ciphertext-blob",
        enc.json()["CiphertextBlob"],
        "--encryption-context",
        '{"k":"v"}',
        "--query",
        "Plaintext",
        "--output",
        "text",
    )
    assert dec.code == 0, dec.err
    assert base64.b64decode(dec.out.strip()) == b"hi"


def test_wrong_passphrase_exits_253_and_leaves_vault(
    cli: Any, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {p: p.read_bytes() for p in vault.rglob("*") if p.is_file()}
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "wrong")
    res = cli("list-keys")
    assert res.code == 253
    assert "wrong passphrase" in res.err
    assert "Traceback" not in res.err
    after = {p: p.read_bytes() for p in vault.rglob("*") if p.is_file()}
    assert before == after


def test_kms_error_format(cli: Any) -> None:
    res = cli("describe-key", "--key-id", "alias/missing")
    assert res.code == 254
    assert "An error occurred (NotFoundException) when calling the DescribeKey operation:" in res.err
    assert res.out == ""


def test_audit_lines_are_chained(kms: Any, vault: Path) -> None:
    from kmscli.audit import chain
    from kmscli.vault.store import Vault

    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("Encrypt", KeyId=key, Plaintext=b"x")
    unlocked = Vault.open(vault).unlock(b"correct horse battery staple")
    prev = chain.genesis(unlocked.audit_key)
    lines = [
        json.loads(line)
        for p in sorted((vault / "audit").glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    assert [e["eventName"] for e in lines][-2:] == ["CreateKey", "Encrypt"]
    for event in lines:
        assert chain.link(unlocked.audit_key, prev, event) == event["chain"]
        prev = event["chain"]


def test_small_things_of_issue_15(cli: Any, vault: Path, tmp_path: Path) -> None:
    """restore of a missing file names the file; KDF values out of range are parameter errors (252);
    `configure` at the end of input says so and keeps the rest."""
    res = cli("vault", "restore", str(tmp_path / "missing.kmsbak"))
    assert res.code == 253 and "no vault archive at" in res.err and "already exists" not in res.err
    for option, value in (("--kdf-memory-kib", "4"), ("--kdf-iterations", "0"), ("--kdf-parallelism", "65")):
        res = cli("--vault", str(tmp_path / "new"), "vault", "init", option, value)
        assert res.code == 252 and option in res.err, res.err
    res = cli("configure", stdin=b"")
    assert res.code == 0 and "end of input" in res.err
    res = cli("configure", stdin=b"eu-west-3\n")
    assert res.code == 0 and cli("configure", "get", "region").out == "eu-west-3\n"
