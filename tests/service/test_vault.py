"""Vault: init, status without passphrase, change-passphrase, permissions, passphrase sources."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CHEAP_KDF_ARGS, run_cli


def _modes(root: Path) -> list[tuple[Path, int]]:
    return [(p, stat.S_IMODE(p.stat().st_mode)) for p in [root, *root.rglob("*")]]


def test_init_status_and_refuse_overwrite(env: Path) -> None:
    res = run_cli(["vault", "init", *CHEAP_KDF_ARGS])
    assert res.code == 0, res.err
    assert res.json()["Kdf"] == {"Algorithm": "argon2id", "MemoryKiB": 8, "Iterations": 1, "Parallelism": 1}
    again = run_cli(["vault", "init", *CHEAP_KDF_ARGS])
    assert again.code == 253
    assert "refusing to overwrite" in again.err
    status = run_cli(["vault", "status"], stdin=b"")
    assert status.code == 0
    assert status.json()["KeyCount"] == 0


def test_status_needs_no_passphrase(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_cli(["create-key"]).code == 0
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    res = run_cli(["vault", "status", "--output", "text", "--query", "KeyCount"])
    assert res.code == 0, res.err
    assert res.out.strip() == "1"


def test_default_kdf_is_rfc9106_second_recommendation() -> None:
    from kmscli.vault.store import DEFAULT_KDF

    assert DEFAULT_KDF == {"memory_cost": 65536, "iterations": 3, "lanes": 4}


def test_kdf_below_floor_is_refused(env: Path) -> None:
    res = run_cli(
        ["vault", "init", "--kdf-memory-kib", "4", "--kdf-iterations", "1", "--kdf-parallelism", "1"]
    )
    assert res.code == 252  # a parameter out of range is a usage error, as any bad option value
    assert "--kdf-memory-kib" in res.err


def test_permissions_are_private(vault: Path) -> None:
    assert run_cli(["create-key"]).code == 0
    assert (
        run_cli(
            [
                "create-alias",
                "--alias-name",
                "alias/x",
                "--target-key-id",
                run_cli(["list-keys", "--query", "Keys[0].KeyId", "--output", "text"]).out.strip(),
            ]
        ).code
        == 0
    )
    for path, mode in _modes(vault):
        assert mode == (0o700 if path.is_dir() else 0o600), path


def test_no_passphrase_source_and_no_tty_is_253(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    res = run_cli(["list-keys"], stdin=b"")
    assert res.code == 253
    for name in ("KMSCLI_PASSPHRASE", "KMSCLI_PASSPHRASE_FILE", "--passphrase-file"):
        assert name in res.err


def test_passphrase_file_sources(vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    pw = tmp_path / "pw"
    pw.write_text("correct horse battery staple\n")
    assert run_cli(["list-keys", "--passphrase-file", str(pw)]).code == 0
    monkeypatch.setenv("KMSCLI_PASSPHRASE_FILE", str(pw))
    assert run_cli(["list-keys"]).code == 0
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "wrong")  # the environment variable comes first
    assert run_cli(["list-keys"]).code == 253


def test_missing_vault_says_how_to_create(env: Path) -> None:
    res = run_cli(["list-keys"])
    assert res.code == 253
    assert "kmscli vault init" in res.err


def test_change_passphrase_rewraps_only_the_vault_key(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created = run_cli(["create-key"]).json()["KeyMetadata"]["KeyId"]
    ct = run_cli(
        [
            "encrypt",
            "--key-id",
            created,
            "--plaintext",
            "aGVsbG8=",
            "--query",
            "CiphertextBlob",
            "--output",
            "text",
        ]
    ).out.strip()
    key_file = next((vault / "keys").rglob("*.json"))
    before = key_file.read_bytes()
    monkeypatch.setenv("KMSCLI_NEW_PASSPHRASE", "a new passphrase")
    res = run_cli(["vault", "change-passphrase"])
    assert res.code == 0, res.err
    assert key_file.read_bytes() == before
    assert run_cli(["list-keys"]).code == 253  # the old passphrase fails now
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "a new passphrase")
    out = run_cli(["decrypt", "--ciphertext-blob", ct, "--query", "Plaintext", "--output", "text"])
    assert out.code == 0, out.err
    assert out.out.strip() == "aGVsbG8="


@pytest.mark.parametrize("content", [b"", b"\n", b"\r\n"])
def test_an_empty_new_passphrase_file_is_refused_not_a_lockout(
    vault: Path, tmp_path: Path, content: bytes
) -> None:
    """An empty new passphrase file was taken: the vault key was rewrapped under an empty
    passphrase, which no source can ever give again, so the vault could not be opened."""
    key = run_cli(["create-key"]).json()["KeyMetadata"]["KeyId"]
    header = (vault / "vault.json").read_bytes()
    empty = tmp_path / "new-pw"
    empty.write_bytes(content)
    res = run_cli(["vault", "change-passphrase", "--new-passphrase-file", str(empty)])
    assert res.code == 253 and "the new passphrase is empty" in res.err, res.err
    assert (vault / "vault.json").read_bytes() == header
    assert run_cli(["describe-key", "--key-id", key]).code == 0  # the old passphrase still opens it
    bundle = tmp_path / "b.kmsbundle"
    res = run_cli(
        [
            "vault",
            "export-key",
            "--key-id",
            key,
            "--outfile",
            str(bundle),
            "--new-passphrase-file",
            str(empty),
        ]
    )
    assert res.code == 253 and "the bundle passphrase is empty" in res.err, res.err
    assert not bundle.exists()
    events = [
        json.loads(x)["eventName"]
        for p in (vault / "audit").glob("*.jsonl")
        for x in p.read_text().splitlines()
    ]
    assert "ChangePassphrase" not in events and "ExportKeys" not in events


def test_a_passphrase_that_is_not_utf8_is_its_bytes_from_any_source(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KMSCLI_PASSPHRASE holding bytes that are not UTF-8 was an internal error (exit 255); it is
    now those bytes, as a passphrase file holding them gives."""
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "pass\udcffword")  # how Python shows the byte 0xff
    res = run_cli(["vault", "init", *CHEAP_KDF_ARGS])
    assert res.code == 0, res.err
    assert "\udcff" not in res.err
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    pw = tmp_path / "pw"
    pw.write_bytes(b"pass\xffword\n")
    assert run_cli(["list-keys", "--passphrase-file", str(pw)]).code == 0
    monkeypatch.setenv("KMSCLI_NEW_PASSPHRASE", "new\udcfe")
    assert run_cli(["vault", "change-passphrase", "--passphrase-file", str(pw)]).code == 0
    pw.write_bytes(b"new\xfe")
    assert run_cli(["list-keys", "--passphrase-file", str(pw)]).code == 0


def test_no_secret_in_any_vault_file(vault: Path) -> None:
    import base64

    plaintext = b"MARKER-PLAINTEXT-7f3a9"
    key = run_cli(["create-key"]).json()["KeyMetadata"]["KeyId"]
    enc = run_cli(["encrypt", "--key-id", key, "--plaintext", base64.b64encode(plaintext).decode()])
    dec = run_cli(["decrypt", "--ciphertext-blob", enc.json()["CiphertextBlob"]])
    assert dec.code == 0
    gdk = run_cli(["generate-data-key", "--key-id", key, "--key-spec", "AES_256"]).json()
    forms = [
        plaintext,
        base64.b64encode(plaintext),
        plaintext.hex().encode(),
        b"correct horse battery staple",
        base64.b64decode(gdk["Plaintext"]),
        gdk["Plaintext"].encode(),
    ]
    for path in vault.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for form in forms:
                assert form not in data, (path, form)


def test_tampered_key_file_is_detected_and_named(vault: Path) -> None:
    key = run_cli(["create-key"]).json()["KeyMetadata"]["KeyId"]
    path = next((vault / "keys").rglob(f"{key}.json"))
    doc = json.loads(path.read_text())
    doc["data"]["Description"] = "edited offline"
    path.write_text(json.dumps(doc))
    res = run_cli(["describe-key", "--key-id", key])
    assert res.code == 253
    assert str(path) in res.err and "integrity" in res.err


def _parallel_create(vault: str, n: int) -> list[str]:
    import os

    os.environ["KMSCLI_VAULT"] = vault
    from tests.helpers import run_cli as run

    return [
        run(["create-key", "--query", "KeyMetadata.KeyId", "--output", "text"]).out.strip() for _ in range(n)
    ]


def test_parallel_processes_creating_keys_lose_none(vault: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results: list[Any] = pool.starmap(_parallel_create, [(str(vault), 8)] * 4)
    created = {k for batch in results for k in batch}
    assert len(created) == 32 and all(created)
    listed = run_cli(["list-keys", "--query", "Keys[].KeyId"]).json()
    assert set(listed) == created


def test_a_header_write_that_fails_is_253_and_recorded_as_not_done(
    vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a full disk while writing the new header was exit 255 ("internal error"), and the
    audit log showed ChangePassphrase as done although the old passphrase still opened the vault."""
    import errno

    from kmscli.vault import fs

    key = run_cli(["create-key"]).json()["KeyMetadata"]["KeyId"]
    header = (vault / "vault.json").read_bytes()
    real = fs.VaultDir.replace_atomic

    def full_disk(self: Any, rel: str, data: bytes) -> None:
        if rel == "vault.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, rel, data)

    monkeypatch.setattr(fs.VaultDir, "replace_atomic", full_disk)
    monkeypatch.setenv("KMSCLI_NEW_PASSPHRASE", "a new passphrase")
    res = run_cli(["vault", "change-passphrase"])
    assert res.code == 253, res.err
    assert "could not be written (No space left on device); the passphrase is unchanged" in res.err
    assert "internal error" not in res.err and "a new passphrase" not in res.err
    assert (vault / "vault.json").read_bytes() == header
    assert run_cli(["describe-key", "--key-id", key]).code == 0  # the old passphrase still opens it
    changes = [
        e
        for p in sorted((vault / "audit").glob("*.jsonl"))
        for e in map(json.loads, p.read_text().splitlines())
        if e["eventName"] == "ChangePassphrase"
    ]
    assert [e.get("errorCode") for e in changes] == [None, "VaultWriteFailed"]
    assert "the passphrase is unchanged" in changes[1]["errorMessage"]
    assert run_cli(["audit", "verify"]).code == 0

    # the rename landed but the folder's flush failed: the new passphrase is the one in effect
    def flush_fails(self: Any, rel: str, data: bytes) -> None:
        real(self, rel, data)
        if rel == "vault.json":
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fs.VaultDir, "replace_atomic", flush_fails)
    res = run_cli(["vault", "change-passphrase"])
    assert res.code == 253 and "is in place but could not be flushed" in res.err, res.err
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "a new passphrase")
    assert run_cli(["describe-key", "--key-id", key]).code == 0
