"""Fail closed: when the audit event cannot be written the operation fails, prints nothing, and a
mutating operation commits nothing (the pipeline audits before it commits)."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import skip_fsync, verify_chain

AUDIT_BREAKERS = ["segment-is-directory", "open-eacces", "write-enospc", "torn-enospc", "fsync-eio"]


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durability is not this module's subject: skip the disk waits (see hardening.skip_fsync)."""
    skip_fsync(monkeypatch)


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


@pytest.fixture
def break_audit(vault: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make the next audit append fail in one of several ways; key/alias files stay writable."""
    audit = str(vault / "audit")

    def apply(how: str) -> None:
        if how == "segment-is-directory":
            segment = vault / "audit" / "audit-000001.jsonl"
            if segment.exists():
                segment.rename(vault.parent / "moved-away")  # out of audit/: an odd file there is tamper
            segment.mkdir()
            return
        if how == "open-eacces":
            real_open = os.open

            def fake_open(path: Any, flags: int, *args: Any, **kw: Any) -> int:
                # segments are opened by name relative to the audit folder's descriptor
                where = _fd_path(kw["dir_fd"]) if kw.get("dir_fd") is not None else str(path)
                if where.startswith(audit) and str(path).endswith(".jsonl"):
                    raise PermissionError(errno.EACCES, "Permission denied", str(path))
                return real_open(path, flags, *args, **kw)

            monkeypatch.setattr(os, "open", fake_open)
            return
        if how in ("write-enospc", "torn-enospc"):
            real_write = os.write

            def fake_write(fd: int, data: Any) -> int:
                if _fd_path(fd).startswith(audit + "/audit-"):
                    if how == "torn-enospc" and len(data) > 10:
                        return real_write(fd, bytes(data[: len(data) // 2]))
                    raise OSError(errno.ENOSPC, "No space left on device")
                return real_write(fd, data)

            monkeypatch.setattr(os, "write", fake_write)
            return
        if how == "fsync-eio":
            real_fsync = os.fsync

            def fake_fsync(fd: int) -> None:
                if _fd_path(fd).startswith(audit + "/audit-"):
                    raise OSError(errno.EIO, "Input/output error")
                real_fsync(fd)

            monkeypatch.setattr(os, "fsync", fake_fsync)
            return
        raise AssertionError(how)

    return apply


def _state(vault: Path) -> dict[str, bytes]:
    files = {
        str(p.relative_to(vault)): p.read_bytes()
        for p in vault.rglob("*")
        if p.is_file() and "audit" not in p.parts and not p.name.startswith(".")
    }
    if "state.json" in files:  # the vault state may keep a generation claimed (docs/format.md 1.5)
        data = json.loads(files["state.json"])["data"]
        data.pop("pending", None)
        files["state.json"] = json.dumps(data, sort_keys=True).encode()
    return files


@pytest.fixture
def prepared(cli: Any) -> dict[str, str]:
    key = cli("create-key", "--description", "before").json()["KeyMetadata"]["KeyId"]
    assert cli("create-alias", "--alias-name", "alias/before", "--target-key-id", key).code == 0
    blob = cli("encrypt", "--key-id", key, "--plaintext", "aGk=").json()["CiphertextBlob"]
    policy = json.loads(cli("get-key-policy", "--key-id", key).json()["Policy"])
    policy["Statement"][0]["Sid"] = "edited"
    ecc = cli("create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY").json()["KeyMetadata"]
    hmac = cli("create-key", "--key-spec", "HMAC_256", "--key-usage", "GENERATE_VERIFY_MAC").json()[
        "KeyMetadata"
    ]
    return {
        "key": key,
        "blob": blob,
        "policy": json.dumps(policy),
        "grantee": "arn:aws:iam::111122223333:role/reader",
        "ecc": ecc["KeyId"],
        "hmac": hmac["KeyId"],
    }


def _mutations(p: dict[str, str]) -> dict[str, list[str]]:
    key = p["key"]
    return {
        "create-key": ["create-key"],
        "create-alias": ["create-alias", "--alias-name", "alias/new", "--target-key-id", key],
        "delete-alias": ["delete-alias", "--alias-name", "alias/before"],
        "tag-resource": ["tag-resource", "--key-id", key, "--tags", "TagKey=a,TagValue=b"],
        "update-key-description": ["update-key-description", "--key-id", key, "--description", "after"],
        "disable-key": ["disable-key", "--key-id", key],
        "schedule-key-deletion": ["schedule-key-deletion", "--key-id", key],
        "put-key-policy": ["put-key-policy", "--key-id", key, "--policy", p["policy"]],
        "create-grant": [
            "create-grant",
            "--key-id",
            key,
            "--grantee-principal",
            p["grantee"],
            "--operations",
            "Decrypt",
        ],
        "enable-key-rotation": ["enable-key-rotation", "--key-id", key],
        "rotate-key-on-demand": ["rotate-key-on-demand", "--key-id", key],
    }


def _reads(p: dict[str, str]) -> dict[str, list[str]]:
    return {
        "encrypt": ["encrypt", "--key-id", p["key"], "--plaintext", "aGk="],
        "decrypt": ["decrypt", "--ciphertext-blob", p["blob"]],
        "generate-data-key": ["generate-data-key", "--key-id", p["key"], "--number-of-bytes", "32"],
        "describe-key-error": ["describe-key", "--key-id", "alias/missing"],
        "sign": ["sign", "--key-id", p["ecc"], "--message", "aGk=", "--signing-algorithm", "ECDSA_SHA_256"],
        "generate-mac": [
            "generate-mac",
            "--key-id",
            p["hmac"],
            "--message",
            "aGk=",
            "--mac-algorithm",
            "HMAC_SHA_256",
        ],
        "generate-data-key-pair": [
            "generate-data-key-pair",
            "--key-id",
            p["key"],
            "--key-pair-spec",
            "ECC_NIST_P256",
        ],
    }


@pytest.mark.parametrize("how", AUDIT_BREAKERS)
@pytest.mark.parametrize(
    "op",
    [
        "create-key",
        "create-alias",
        "delete-alias",
        "tag-resource",
        "update-key-description",
        "disable-key",
        "schedule-key-deletion",
        "put-key-policy",
        "create-grant",
        "enable-key-rotation",
        "rotate-key-on-demand",
    ],
)
def test_mutation_not_committed_when_audit_fails(
    cli: Any, vault: Path, prepared: dict[str, str], break_audit: Callable[[str], None], op: str, how: str
) -> None:
    before = _state(vault)
    break_audit(how)
    res = cli(*_mutations(prepared)[op])
    assert res.code not in (0, 254), res
    assert res.out == ""
    assert "audit log" in res.err and "Traceback" not in res.err
    assert _state(vault) == before


@pytest.mark.parametrize("how", AUDIT_BREAKERS)
@pytest.mark.parametrize(
    "op",
    [
        "encrypt",
        "decrypt",
        "generate-data-key",
        "describe-key-error",
        "sign",
        "generate-mac",
        "generate-data-key-pair",
    ],
)
def test_read_returns_nothing_when_audit_fails(
    cli: Any, vault: Path, prepared: dict[str, str], break_audit: Callable[[str], None], op: str, how: str
) -> None:
    break_audit(how)
    res = cli(*_reads(prepared)[op])
    assert res.code not in (0, 254), res
    assert res.out == ""
    assert "audit log" in res.err and "Traceback" not in res.err


class _Crash(BaseException):
    """A crash in the middle of a write (not an error kmscli can clean up after)."""


@pytest.mark.parametrize("how", ["refused", "crash"])
def test_torn_append_is_cut_or_repaired_and_chain_verifies(
    cli: Any, vault: Path, prepared: dict[str, str], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A write the disk refuses part way (ENOSPC after 7 bytes) is cut back off at once: no torn
    line, nothing to repair. Before, the 7 bytes stayed and `audit verify` failed until the next
    append. Only a crash mid-write leaves a torn line; the next append repairs it."""
    with monkeypatch.context() as patch:
        real_write = os.write
        audit = str(vault / "audit")

        def torn(fd: int, data: Any) -> int:
            if _fd_path(fd).startswith(audit + "/audit-"):
                real_write(fd, bytes(data[:7]))
                if how == "crash":
                    raise _Crash()
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(fd, data)

        patch.setattr(os, "write", torn)
        if how == "crash":
            with pytest.raises(_Crash):
                cli("create-key")
        else:
            assert cli("create-key").code == 253
    assert verify_chain(vault).torn_tail is (how == "crash")
    assert cli("create-key").code == 0
    report = verify_chain(vault, allow_torn_tail=False)
    names = [e["eventName"] for e in report.events]
    if how == "crash":
        assert names[-2:] == ["RepairAuditLog", "CreateKey"]
        assert report.events[-2]["additionalEventData"]["removedBytes"] == 7
    else:
        assert names[-2:] == ["CreateKey", "CreateKey"] and "RepairAuditLog" not in names


def test_due_deletion_not_applied_when_audit_fails(
    kms: Any, service: Any, clock: Any, vault: Path, break_audit: Callable[[str], None]
) -> None:
    from kmscli.audit.log import AuditWriteError

    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
    clock.advance(days=8)
    before = _state(vault)
    # a write error, not an open error: this context's log keeps its segment open between
    # appends (a long-lived writer, as in `kmscli serve`), so it opens nothing to fail
    break_audit("write-enospc")
    with pytest.raises(AuditWriteError):
        kms("ListKeys")
    assert _state(vault) == before


def test_audit_precedes_every_write(kms: Any, vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Order check on the real pipeline: the audit line is durable before any vault file changes."""
    from kmscli.audit.log import AuditLog
    from kmscli.vault import fs

    order: list[str] = []
    real_append, real_write = AuditLog.append, fs.VaultDir.replace_atomic

    def append(self: AuditLog, event: dict[str, Any]) -> dict[str, Any]:
        order.append("audit:" + event["eventName"])
        return real_append(self, event)

    def write(self: fs.VaultDir, rel: str, data: bytes) -> None:
        order.append("write:" + Path(rel).name)
        real_write(self, rel, data)

    monkeypatch.setattr(AuditLog, "append", append)
    monkeypatch.setattr(fs.VaultDir, "replace_atomic", write)
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/o", TargetKeyId=key)
    # the vault state records the commit's intent first (docs/format.md 1.5: readers still see the
    # old files as current), then the audit line, then the files, then the state naming the event
    bucket = f"write:{key[:2]}.json"
    assert order == [
        *("write:state.json", "audit:CreateKey", f"write:{key}.json", bucket, "write:state.json"),
        *("write:state.json", "audit:CreateAlias", "write:us-east-1.json", "write:state.json"),
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_audit_folder_real_permissions(cli: Any, vault: Path) -> None:
    before = _state(vault)
    (vault / "audit").chmod(0o500)
    try:
        res = cli("create-key")
        mode = (vault / "audit").stat().st_mode & 0o777
    finally:
        (vault / "audit").chmod(0o700)
    assert res.code not in (0, 254) and res.out == ""
    assert mode == 0o500  # kmscli did not grant itself write access back
    assert _state(vault) == before


def test_ensure_dir_never_adds_permissions(tmp_path: Path) -> None:
    """Regression: ensure_dir used to chmod any folder to exactly 0700, re-enabling writes."""
    from kmscli.vault import fs

    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    ro.chmod(0o500)
    fs.ensure_dir(ro)
    assert ro.stat().st_mode & 0o777 == 0o500
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o755)
    fs.ensure_dir(loose)
    assert loose.stat().st_mode & 0o777 == 0o700
    ro.chmod(0o700)


@pytest.mark.parametrize("how", AUDIT_BREAKERS)
def test_unlock_hands_out_no_token_when_audit_fails(
    cli: Any, vault: Path, tmp_path: Path, break_audit: Callable[[str], None], how: str
) -> None:
    """A session is a credential: if its Unlock event cannot be recorded, no token and no file."""
    break_audit(how)
    res = cli("unlock", "--raw")
    assert res.code not in (0, 254), res
    assert res.out == "" and "kms1_" not in res.err
    assert "audit log" in res.err and "Traceback" not in res.err
    assert not [p for p in (tmp_path / "run").rglob("*.json")]  # no usable session file left behind
