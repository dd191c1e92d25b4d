"""Vault backup / restore / export-key bundles, and KMSCLI_VAULT pointing at a read-only archive."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CHEAP_KDF_ARGS, assert_output_shape

B64 = base64.b64encode(b"payload").decode()


def _key(cli: Any, alias: str | None = None) -> str:
    key_id: str = cli("create-key").json()["KeyMetadata"]["KeyId"]
    if alias:
        assert cli("create-alias", "--alias-name", alias, "--target-key-id", key_id).code == 0
    return key_id


def _encrypt(cli: Any, key: str) -> str:
    res = cli("encrypt", "--key-id", key, "--plaintext", B64, "--query", "CiphertextBlob", "--output", "text")
    assert res.code == 0, res.err
    return str(res.out.strip())


def _decrypts(cli: Any, blob: str) -> bool:
    res = cli("decrypt", "--ciphertext-blob", blob, "--query", "Plaintext", "--output", "text")
    return res.code == 0 and res.out.strip() == B64


def test_backup_restore_round_trip(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _key(cli, "alias/app")
    blob = _encrypt(cli, key)
    out = tmp_path / "vault.kmsbak"
    res = cli("vault", "backup", "--outfile", str(out))
    assert res.code == 0, res.err
    assert res.json()["KeyCount"] == 1
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    raw = out.read_text()
    assert key not in raw and "alias/app" not in raw  # the payload is encrypted
    assert cli("vault", "backup", "--outfile", str(out)).code == 253  # no clobber without --force
    assert cli("vault", "backup", "--outfile", str(out), "--force").code == 0
    target = tmp_path / "restored"
    monkeypatch.setenv("KMSCLI_VAULT", str(target))
    res = cli("vault", "restore", str(out))
    assert res.code == 0, res.err
    assert res.json()["Replaced"] is False
    assert _decrypts(cli, blob)
    assert cli("describe-key", "--key-id", "alias/app").json()["KeyMetadata"]["KeyId"] == key
    events = [
        json.loads(x)["eventName"]
        for p in sorted((target / "audit").glob("*.jsonl"))
        for x in p.read_text().splitlines()
    ]
    assert events.count("BackupVault") == 2  # the refused backup left no event
    assert events[-3:] == ["RestoreVault", "Decrypt", "DescribeKey"]


def test_restore_refuses_to_clobber_without_force(cli: Any, vault: Path, tmp_path: Path) -> None:
    key = _key(cli)
    out = tmp_path / "b.kmsbak"
    assert cli("vault", "backup", "--outfile", str(out)).code == 0
    cli("schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "7")
    before = (vault / "vault.json").read_bytes()
    res = cli("vault", "restore", str(out))
    assert res.code == 253 and "--force" in res.err
    assert (vault / "vault.json").read_bytes() == before
    res = cli("vault", "restore", str(out), "--force")
    assert res.code == 0, res.err
    assert res.json()["Replaced"] is True
    assert cli("describe-key", "--key-id", key).json()["KeyMetadata"]["KeyState"] == "Enabled"
    assert not list(tmp_path.glob(".replaced-*")) and not list(tmp_path.glob(".restore-*"))


def test_restore_never_removes_a_folder_that_is_not_a_vault(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The swap replaces the whole folder: restoring to a path that holds someone's files deleted
    them, even without --force."""
    key = _key(cli)
    out = tmp_path / "b.kmsbak"
    assert cli("vault", "backup", "--outfile", str(out)).code == 0
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "thesis.txt").write_text("precious")
    monkeypatch.setenv("KMSCLI_VAULT", str(docs))
    for force in ([], ["--force"]):
        res = cli("vault", "restore", str(out), *force)
        assert res.code == 253 and "not a vault" in res.err, res.err
        assert (docs / "thesis.txt").read_text() == "precious"
        assert sorted(p.name for p in docs.iterdir()) == ["thesis.txt"]
    assert not list(tmp_path.glob(".replaced-*")) and not list(tmp_path.glob(".restore-*"))
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("KMSCLI_VAULT", str(empty))
    assert cli("vault", "restore", str(out)).code == 0  # an empty folder is fine
    assert cli("describe-key", "--key-id", key).code == 0


def test_restore_through_a_linked_vault_path_replaces_the_vault_where_the_link_leads(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's vault path is followed as given: a link to the vault (say on an encrypted volume)
    stays a link, and the restored vault lands where it leads, not in place of the link."""
    key = _key(cli)
    out = tmp_path / "b.kmsbak"
    assert cli("vault", "backup", "--outfile", str(out)).code == 0
    cli("schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "7")
    link = tmp_path / "linked"
    link.symlink_to(vault)
    monkeypatch.setenv("KMSCLI_VAULT", str(link))
    res = cli("vault", "restore", str(out), "--force")
    assert res.code == 0, res.err
    assert link.is_symlink() and os.readlink(link) == str(vault)
    assert cli("describe-key", "--key-id", key).json()["KeyMetadata"]["KeyState"] == "Enabled"
    monkeypatch.setenv("KMSCLI_VAULT", str(vault))
    assert cli("describe-key", "--key-id", key).json()["KeyMetadata"]["KeyState"] == "Enabled"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".replaced-", ".restore-"))]


def test_restore_with_wrong_passphrase_or_tampered_file(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _key(cli)
    out = tmp_path / "b.kmsbak"
    assert cli("vault", "backup", "--outfile", str(out)).code == 0
    monkeypatch.setenv("KMSCLI_VAULT", str(tmp_path / "new"))
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "wrong")
    res = cli("vault", "restore", str(out))
    assert res.code == 253 and "wrong passphrase" in res.err
    assert not (tmp_path / "new").exists()
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "correct horse battery staple")
    doc = json.loads(out.read_text())
    ct = bytearray(base64.b64decode(doc["payload"]["ciphertext"]))
    ct[5] ^= 1
    doc["payload"]["ciphertext"] = base64.b64encode(bytes(ct)).decode()
    out.write_text(json.dumps(doc))
    res = cli("vault", "restore", str(out))
    assert res.code == 253 and "integrity" in res.err
    assert not (tmp_path / "new").exists()
    (tmp_path / "junk").write_text("not an archive")
    res = cli("vault", "restore", str(tmp_path / "junk"))
    assert res.code == 253 and "not a kmscli vault archive" in res.err
    assert cli("vault", "restore", str(tmp_path / "missing")).code == 253


def _bundle(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *keys: str) -> Path:
    out = tmp_path / "ci.kmsv"
    monkeypatch.setenv("KMSCLI_NEW_PASSPHRASE", "bundle pass")
    args = [a for k in keys for a in ("--key-id", k)]
    res = cli("vault", "export-key", *args, "--outfile", str(out), *CHEAP_KDF_ARGS)
    assert res.code == 0, res.err
    return out


def test_export_key_bundle_holds_only_named_keys(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = _key(cli, "alias/signing")
    other = _key(cli, "alias/other")
    blob = _encrypt(cli, wanted)
    other_blob = _encrypt(cli, other)
    bundle = _bundle(cli, tmp_path, monkeypatch, "alias/signing")
    monkeypatch.setenv("KMSCLI_VAULT", str(bundle))
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "bundle pass")
    keys = cli("list-keys")
    assert keys.code == 0, keys.err
    assert_output_shape("ListKeys", keys.json(), paginated=True)
    assert [k["KeyId"] for k in keys.json()["Keys"]] == [wanted]
    aliases = cli("list-aliases").json()["Aliases"]
    assert [
        a["AliasName"] for a in aliases if a["AliasName"].startswith("alias/") and "TargetKeyId" in a
    ] == ["alias/signing"]
    assert _decrypts(cli, blob)
    res = cli("decrypt", "--ciphertext-blob", other_blob)
    assert res.code == 254
    assert "does not exist" in res.err


def test_bundle_is_read_only_and_audits_to_a_durable_folder(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _key(cli)
    bundle = _bundle(cli, tmp_path, monkeypatch, key)
    before = bundle.read_bytes()
    monkeypatch.setenv("KMSCLI_VAULT", str(bundle))
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "bundle pass")
    res = cli("create-key")
    assert res.code == 253 and "read-only" in res.err and res.out == ""
    res = cli("disable-key", "--key-id", key)
    assert res.code == 253 and "read-only" in res.err
    assert bundle.read_bytes() == before
    res = cli("encrypt", "--key-id", key, "--plaintext", B64)
    assert res.code == 0 and res.err == ""  # issue 14 item 16: not on stderr, where 2>/dev/null drops it
    vault_id = json.loads(bundle.read_bytes())["header"]["vault_id"]
    default = tmp_path / "state" / "kmscli" / "archive-audit" / vault_id / "audit-000001.jsonl"
    assert [json.loads(x)["eventName"] for x in default.read_text().splitlines()] == ["Encrypt"]
    (default.parent).chmod(0o500)  # not writable: the command fails closed, printing nothing
    try:
        res = cli("encrypt", "--key-id", key, "--plaintext", B64)
        assert (res.code, res.out) == (255, "") or os.geteuid() == 0
    finally:
        (default.parent).chmod(0o700)
    log = tmp_path / "ci-audit"
    monkeypatch.setenv("KMSCLI_AUDIT_LOG", str(log))
    res = cli("encrypt", "--key-id", key, "--plaintext", B64)
    assert res.code == 0 and res.err == ""
    lines = [json.loads(x) for x in (log / "audit-000001.jsonl").read_text().splitlines()]
    assert [e["eventName"] for e in lines] == ["Encrypt"]


def test_bundle_with_session_and_wrong_passphrase(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _key(cli)
    bundle = _bundle(cli, tmp_path, monkeypatch, key)
    monkeypatch.setenv("KMSCLI_VAULT", str(bundle))
    status = cli("vault", "status")  # no passphrase needed
    assert status.code == 0, status.err
    assert status.json()["Kind"] == "bundle" and status.json()["ReadOnly"] is True
    res = cli("list-keys")  # the source vault's passphrase does not open the bundle
    assert res.code == 253 and "wrong passphrase" in res.err
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "bundle pass")
    monkeypatch.setenv("KMSCLI_AUDIT_LOG", str(tmp_path / "log"))
    token = cli("unlock", "--raw").out.strip()
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_SESSION", token)
    assert cli("encrypt", "--key-id", key, "--plaintext", B64).code == 0


def test_tampered_key_in_bundle_is_detected(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kmscli.vault import archive

    key = _key(cli)
    bundle_path = _bundle(cli, tmp_path, monkeypatch, key)
    sealed = archive.ArchiveFile.open(bundle_path)
    opened = sealed.unlock(b"bundle pass")
    assert isinstance(opened, archive.ArchiveVault)
    assert list(opened.files) == [f"keys/us-east-1/{key}.json"]
    record = opened.load_key("us-east-1", key)
    assert record is not None and "kms:*" in record["Policy"]  # the policy travels with the key
    rel = next(r for r in opened.files if r.startswith("keys/"))
    doc = json.loads(opened.files[rel])
    doc["data"]["Description"] = "edited"
    opened.files[rel] = json.dumps(doc).encode()
    with pytest.raises(archive.TamperError):
        opened.load_key("us-east-1", key)


def test_export_key_failures(cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "b.kmsv"
    monkeypatch.setenv("KMSCLI_NEW_PASSPHRASE", "x")
    res = cli("vault", "export-key", "--key-id", "alias/nope", "--outfile", str(out), *CHEAP_KDF_ARGS)
    assert res.code == 254
    assert "An error occurred (NotFoundException) when calling the ExportKey operation" in res.err
    assert not out.exists()
    res = cli("vault", "export-key", "--outfile", str(out))
    assert res.code == 252
    monkeypatch.delenv("KMSCLI_NEW_PASSPHRASE")
    key = _key(cli)
    res = cli("vault", "export-key", "--key-id", key, "--outfile", str(out), *CHEAP_KDF_ARGS)
    assert res.code == 253 and "KMSCLI_NEW_PASSPHRASE" in res.err
    assert not out.exists()


def test_backup_of_a_bundle_is_refused_but_a_sub_bundle_works(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep, drop = _key(cli, "alias/keep"), _key(cli)
    bundle = _bundle(cli, tmp_path, monkeypatch, keep, drop)
    monkeypatch.setenv("KMSCLI_VAULT", str(bundle))
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "bundle pass")
    res = cli("vault", "backup", "--outfile", str(tmp_path / "x.bak"))
    assert res.code == 253 and "read-only" in res.err
    assert not (tmp_path / "x.bak").exists()
    sub = tmp_path / "sub.kmsv"
    res = cli("vault", "export-key", "--key-id", "alias/keep", "--outfile", str(sub), *CHEAP_KDF_ARGS)
    assert res.code == 0, res.err
    assert [k["KeyId"] for k in res.json()["Keys"]] == [keep]
    assert res.json()["Keys"][0]["Aliases"] == ["alias/keep"]
    audit = (
        tmp_path
        / "state"
        / "kmscli"
        / "archive-audit"
        / json.loads(bundle.read_bytes())["header"]["vault_id"]
    )
    assert "ExportKeys" in (audit / "audit-000001.jsonl").read_text()  # audited to a durable folder
    monkeypatch.setenv("KMSCLI_VAULT", str(sub))
    assert [k["KeyId"] for k in cli("list-keys").json()["Keys"]] == [keep]


def test_restore_swaps_the_vault_under_its_exclusive_lock(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Operations in flight on the vault being replaced (a server's) finish first: the swap happens
    while restore holds the vault's exclusive lock, so none of them writes into the removed folder."""
    import fcntl

    _key(cli)
    out = tmp_path / "b.kmsbak"
    assert cli("vault", "backup", "--outfile", str(out)).code == 0
    seen: list[bool] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        if not kwargs and Path(src) == vault:  # the old vault moving aside: is anyone able to lock it now?
            fd = os.open(vault / ".lock", os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                seen.append(False)
            except BlockingIOError:
                seen.append(True)
            finally:
                os.close(fd)
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    res = cli("vault", "restore", str(out), "--force")
    assert res.code == 0, res.err
    assert seen == [True]


def test_a_vault_object_opened_before_a_restore_refuses_every_later_call(
    service: Any, vault: Path, tmp_path: Path
) -> None:
    """A long-lived process (`kmscli serve`) keeps the replaced folder open: its next lock, read or
    audit append fails with a 253 that says what happened, instead of reading or writing there."""
    from kmscli.errors import VaultEnvironmentError
    from kmscli.service.pipeline.core import invoke
    from kmscli.vault.fs import FolderReplacedError

    key = invoke(service, "CreateKey", {})["KeyMetadata"]["KeyId"]
    os.replace(vault, tmp_path / "moved-aside")
    vault.mkdir()
    with pytest.raises(FolderReplacedError) as err:
        invoke(service, "DescribeKey", {"KeyId": key})
    assert isinstance(err.value, VaultEnvironmentError) and err.value.exit_code == 253
    assert "was replaced" in err.value.message and str(vault) in err.value.message
    assert os.listdir(vault) == []  # nothing was written into the new folder either
    moved = tmp_path / "moved-aside" / "audit"
    before = sorted(p.read_bytes() for p in moved.iterdir())
    with pytest.raises(FolderReplacedError):
        service.audit.append({"eventName": "Probe"})
    assert sorted(p.read_bytes() for p in moved.iterdir()) == before
