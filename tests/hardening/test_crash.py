"""Crash torture: after a crash at any point the vault opens, every acknowledged change is there
and usable, no partial file is read as valid, and the audit chain verifies (a torn final line is
tolerated until the next append repairs it).

Two layers: deterministic crash points injected in-process (every mutating operation x every
write step), and bounded random SIGKILLs of real ``python -m kmscli`` subprocesses.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import (
    PASSPHRASE,
    check_vault_files,
    child_env,
    kmscli_argv,
    make_vault,
    run_kmscli,
    skip_fsync,
    verify_chain,
)


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durability is not this module's subject: skip the disk waits (see hardening.skip_fsync)."""
    skip_fsync(monkeypatch)


class SimulatedCrash(BaseException):
    """Raised at an injected crash point; BaseException so no handler in kmscli swallows it."""


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def _is_state_file(path: Any) -> bool:
    """The vault state and its manifest buckets (kmscli/vault/state.py; a bucket is ``XY.json``)."""
    name = os.path.basename(path)
    return name == "state.json" or re.fullmatch(r"[0-9a-f]{2}\.json", name) is not None


def _inject(point: str, vault: Path, patch: pytest.MonkeyPatch) -> None:
    from kmscli.vault import fs

    audit = str(vault / "audit") + "/audit-"
    # the crash points hit the operation's own files; the vault state's writes around them
    # (kmscli/vault/state.py) have crash tests of their own in test_audit_integrity.py
    if point == "before-rename":  # temp file complete and fsynced, not yet renamed over the target
        real_replace = os.replace

        def replace(src: Any, dst: Any, **kw: Any) -> None:
            if not _is_state_file(dst):
                raise SimulatedCrash()
            real_replace(src, dst, **kw)

        patch.setattr(os, "replace", replace)
    elif point == "after-rename":  # renamed, the folder entry not yet fsynced
        real_replace = os.replace

        def replace(src: Any, dst: Any, **kw: Any) -> None:
            real_replace(src, dst, **kw)
            if not _is_state_file(dst):
                raise SimulatedCrash()

        patch.setattr(os, "replace", replace)
    elif point == "between-files":  # the first file of a multi-file commit is written, the next not
        real_write, count = fs.VaultDir.replace_atomic, [0]

        def replace_atomic(self: fs.VaultDir, rel: str, data: bytes) -> None:
            count[0] += not _is_state_file(rel)
            if count[0] == 2:
                raise SimulatedCrash()
            real_write(self, rel, data)

        patch.setattr(fs.VaultDir, "replace_atomic", replace_atomic)
    elif point == "audit-torn":  # half of the audit line reached the disk
        real = os.write

        def write(fd: int, data: Any) -> int:
            if _fd_path(fd).startswith(audit):
                real(fd, bytes(data[: len(data) // 2]))
                raise SimulatedCrash()
            return real(fd, data)

        patch.setattr(os, "write", write)
    elif point == "audit-unsynced":  # the whole line written, the crash before its fsync
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            if _fd_path(fd).startswith(audit):
                raise SimulatedCrash()
            real_fsync(fd)

        patch.setattr(os, "fsync", fsync)
    elif point == "mid-shred":  # a due deletion: key file renamed away and zeroed, not yet unlinked
        real_unlink = os.unlink

        def unlink(target: Any, *args: Any, **kwargs: Any) -> None:  # Path.unlink calls os.unlink too
            if os.path.basename(target).startswith(".shred-"):
                raise SimulatedCrash()
            real_unlink(target, *args, **kwargs)

        patch.setattr(os, "unlink", unlink)
    else:
        raise AssertionError(point)


@dataclass
class Scene:
    """Keys and aliases that exist before the crashing call (``extra``: what an op's SETUP made)."""

    a: str
    b: str
    pending: str
    extra: dict[str, Any] = field(default_factory=dict)


GRANTEE = "arn:aws:iam::111122223333:role/crash-grantee"


def _setup_grant(kms: Any, s: Scene) -> None:
    grant = kms("CreateGrant", KeyId=s.b, GranteePrincipal=GRANTEE, Operations=["Decrypt"])
    s.extra.update(grant=grant["GrantId"], token=grant["GrantToken"])


def _setup_policy(kms: Any, s: Scene) -> None:
    doc = json.loads(kms("GetKeyPolicy", KeyId=s.a, PolicyName="default")["Policy"])
    doc["Statement"].append({**doc["Statement"][0], "Sid": "added-before-crash"})
    s.extra["policy"] = json.dumps(doc)


def _setup_import(kms: Any, s: Scene) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    ext = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms(
        "GetParametersForImport",
        KeyId=ext,
        WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048",
    )
    public = serialization.load_der_public_key(params["PublicKey"])
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    wrapped = public.encrypt(os.urandom(32), oaep)  # type: ignore[union-attr]
    s.extra.update(ext=ext, token=params["ImportToken"], wrapped=wrapped)


def _setup_signing_key(kms: Any, s: Scene) -> None:
    s.extra["ecc"] = kms("CreateKey", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]


def _setup_due_rotation(kms: Any, s: Scene) -> None:
    kms("EnableKeyRotation", KeyId=s.a, RotationPeriodInDays=90)


def _versions(v: Any, key_id: str) -> int:
    return len(v.load_key("us-east-1", key_id)["Materials"])


#: Extra set-up an operation needs before the crashing call (run before the crash is armed).
SETUP: dict[str, Callable[[Any, Scene], None]] = {
    "RetireGrant": _setup_grant,
    "RevokeGrant": _setup_grant,
    "PutKeyPolicy": _setup_policy,
    "ImportKeyMaterial": _setup_import,
    "Sign": _setup_signing_key,
    "GetParametersForImport": lambda kms, s: s.extra.update(
        ext=kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    ),
    "DueRotation": _setup_due_rotation,
}
#: Table entries that run another operation: variants of CreateKey, and due work run by any call.
INVOKE_AS = {
    "CreateKeyEcc": "CreateKey",
    "CreateKeyHmac": "CreateKey",
    "CreateKeyRsa": "CreateKey",
    "CreateKeyEd25519": "CreateKey",
    "CreateKeyMlDsa": "CreateKey",
    "DueDeletion": "ListKeys",
    "DueRotation": "ListKeys",
}
#: Read-only operations: nothing must change, whatever the crash point.
READ_OPS = {"Encrypt", "Sign", "GenerateDataKeyPair"}


# op name -> (request from the scene, probe telling whether the change is visible)
Probe = Callable[[Any, Scene], bool]
CRASH_OPS: dict[str, tuple[Callable[[Scene], dict[str, Any]], Probe]] = {
    "CreateKey": (lambda s: {"Description": "new"}, lambda v, s: len(v.list_key_ids("us-east-1")) == 4),
    "CreateAlias": (
        lambda s: {"AliasName": "alias/new", "TargetKeyId": s.a},
        lambda v, s: "alias/new" in v.load_aliases("us-east-1"),
    ),
    "UpdateAlias": (
        lambda s: {"AliasName": "alias/a", "TargetKeyId": s.b},
        lambda v, s: v.load_aliases("us-east-1")["alias/a"]["TargetKeyId"] == s.b,
    ),
    "DeleteAlias": (
        lambda s: {"AliasName": "alias/a"},
        lambda v, s: "alias/a" not in v.load_aliases("us-east-1"),
    ),
    "TagResource": (
        lambda s: {"KeyId": s.a, "Tags": [{"TagKey": "new", "TagValue": "v"}]},
        lambda v, s: {"TagKey": "new", "TagValue": "v"} in v.load_key("us-east-1", s.a)["Tags"],
    ),
    "ScheduleKeyDeletion": (
        lambda s: {"KeyId": s.a, "PendingWindowInDays": 7},
        lambda v, s: v.load_key("us-east-1", s.a)["KeyState"] == "PendingDeletion",
    ),
    "CancelKeyDeletion": (
        lambda s: {"KeyId": s.pending},
        lambda v, s: v.load_key("us-east-1", s.pending)["KeyState"] == "Disabled",
    ),
    "Encrypt": (lambda s: {"KeyId": "alias/a", "Plaintext": b"x"}, lambda v, s: False),
    "DueDeletion": (lambda s: {}, lambda v, s: v.load_key("us-east-1", s.pending) is None),
    # asymmetric and HMAC keys: PKCS#8 or raw material wrapped like symmetric material
    "CreateKeyEcc": (
        lambda s: {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
        lambda v, s: len(v.list_key_ids("us-east-1")) == 4,
    ),
    "CreateKeyHmac": (
        lambda s: {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
        lambda v, s: len(v.list_key_ids("us-east-1")) == 4,
    ),
    "CreateKeyRsa": (
        lambda s: {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
        lambda v, s: len(v.list_key_ids("us-east-1")) == 4,
    ),
    "CreateKeyEd25519": (
        lambda s: {"KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "SIGN_VERIFY"},
        lambda v, s: len(v.list_key_ids("us-east-1")) == 4,
    ),
    "CreateKeyMlDsa": (
        lambda s: {"KeySpec": "ML_DSA_44", "KeyUsage": "SIGN_VERIFY"},
        lambda v, s: len(v.list_key_ids("us-east-1")) == 4,
    ),
    "GenerateDataKeyPair": (lambda s: {"KeyId": s.a, "KeyPairSpec": "ECC_NIST_P256"}, lambda v, s: False),
    "GetParametersForImport": (
        lambda s: {
            "KeyId": s.extra["ext"],
            "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
            "WrappingKeySpec": "RSA_2048",
        },
        lambda v, s: len(v.load_key("us-east-1", s.extra["ext"]).get("ImportParameters", [])) == 1,
    ),
    "Sign": (
        lambda s: {"KeyId": s.extra["ecc"], "Message": b"m", "SigningAlgorithm": "ECDSA_SHA_256"},
        lambda v, s: False,
    ),
    # policies and grants live in the key file
    "PutKeyPolicy": (
        lambda s: {"KeyId": s.a, "PolicyName": "default", "Policy": s.extra["policy"]},
        lambda v, s: "added-before-crash" in v.load_key("us-east-1", s.a)["Policy"],
    ),
    "CreateGrant": (
        lambda s: {"KeyId": s.a, "GranteePrincipal": GRANTEE, "Operations": ["Encrypt", "Decrypt"]},
        lambda v, s: len(v.load_key("us-east-1", s.a).get("Grants", [])) == 1,
    ),
    "RetireGrant": (
        lambda s: {"GrantToken": s.extra["token"]},
        lambda v, s: not v.load_key("us-east-1", s.b).get("Grants"),
    ),
    "RevokeGrant": (
        lambda s: {"KeyId": s.b, "GrantId": s.extra["grant"]},
        lambda v, s: not v.load_key("us-east-1", s.b).get("Grants"),
    ),
    # rotation: the key file and the schedule (rotate_at) change together
    "EnableKeyRotation": (
        lambda s: {"KeyId": s.a, "RotationPeriodInDays": 90},
        lambda v, s: bool((v.load_key("us-east-1", s.a).get("Rotation") or {}).get("Enabled")),
    ),
    "RotateKeyOnDemand": (lambda s: {"KeyId": s.a}, lambda v, s: _versions(v, s.a) == 2),
    "DueRotation": (lambda s: {}, lambda v, s: _versions(v, s.a) == 2),
    # import: the wrapping key is consumed and the key leaves PendingImport
    "ImportKeyMaterial": (
        lambda s: {
            "KeyId": s.extra["ext"],
            "ImportToken": s.extra["token"],
            "EncryptedKeyMaterial": s.extra["wrapped"],
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
        },
        lambda v, s: v.load_key("us-east-1", s.extra["ext"])["KeyState"] == "Enabled",
    ),
}
#: Whether the change must be visible after a crash at each point (None: either is fine).
EXPECT_APPLIED: dict[str, bool | None] = {
    "before-rename": False,
    "after-rename": True,
    "between-files": None,
    "audit-torn": False,
    "audit-unsynced": False,
    "mid-shred": None,
}


#: Operations that commit more than one file (each crash point hits their first write).
MULTI_FILE_OPS = {
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "DueDeletion",
    "EnableKeyRotation",
    "DueRotation",
}


def _assert_recoverable(vault: Any) -> None:
    """No state a crash between two files could strand: every PendingDeletion key is still in the
    schedule (so it will be deleted), and every alias points at a key that exists."""
    schedule = vault.load_schedule()
    ids = set(vault.list_key_ids("us-east-1"))
    for key_id in ids:
        if vault.load_key("us-east-1", key_id)["KeyState"] == "PendingDeletion":
            assert f"us-east-1/{key_id}" in schedule, f"{key_id} is PendingDeletion but never due"
        if (vault.load_key("us-east-1", key_id).get("Rotation") or {}).get("Enabled"):
            entry = schedule.get(f"us-east-1/{key_id}", {})
            assert "rotate_at" in entry, f"{key_id} has rotation enabled but is never rotated"
    for name, entry in vault.load_aliases("us-east-1").items():
        assert entry["TargetKeyId"] in ids, f"{name} points at a deleted key"


@pytest.mark.parametrize("point", sorted(EXPECT_APPLIED))
@pytest.mark.parametrize("op", sorted(CRASH_OPS))
def test_crash_point(op: str, point: str, kms: Any, service: Any, clock: Any, vault: Path) -> None:
    from kmscli.service.pipeline.core import invoke
    from kmscli.vault.store import Vault

    scene = Scene(*(kms("CreateKey")["KeyMetadata"]["KeyId"] for _ in range(3)))
    kms("CreateAlias", AliasName="alias/a", TargetKeyId=scene.a)
    kms("CreateAlias", AliasName="alias/p", TargetKeyId=scene.pending)
    kms("ScheduleKeyDeletion", KeyId=scene.pending, PendingWindowInDays=7)
    build, probe = CRASH_OPS[op]
    if op in SETUP:
        SETUP[op](kms, scene)
    name = INVOKE_AS.get(op, op)
    if op == "DueDeletion":
        clock.advance(days=8)
    elif op == "DueRotation":
        clock.advance(days=91)
    crashed = False
    with pytest.MonkeyPatch.context() as patch:
        _inject(point, vault, patch)
        try:
            invoke(service, name, build(scene))
        except SimulatedCrash:
            crashed = True

    # after the "restart": every file kmscli reads authenticates, and the vault works
    check_vault_files(vault)
    fresh = Vault.open(vault).unlock(PASSPHRASE.encode())
    expect = EXPECT_APPLIED[point]
    if op in MULTI_FILE_OPS and point in ("after-rename", "before-rename"):
        expect = None  # the first of several files: any prefix of the commit is a valid state...
    _assert_recoverable(fresh)  # ...as long as nothing is left stuck or dangling
    if crashed and expect is not None and op not in READ_OPS:
        assert probe(fresh, scene) == expect, (op, point)
    if not crashed:
        assert probe(fresh, scene) or op in READ_OPS
    verify_chain(vault)  # a torn final line is tolerated here...
    kms("Encrypt", KeyId=scene.b, Plaintext=b"after the crash")
    new = kms("CreateKey")["KeyMetadata"]["KeyId"]
    assert (
        kms("Decrypt", CiphertextBlob=kms("Encrypt", KeyId=new, Plaintext=b"y")["CiphertextBlob"])[
            "Plaintext"
        ]
        == b"y"
    )
    report = verify_chain(vault, allow_torn_tail=False)  # ...and repaired by the next append
    if point == "audit-torn" and crashed:
        assert any(e["eventName"] == "RepairAuditLog" for e in report.events)


def test_crash_mid_shred_does_not_brick_the_vault(kms: Any, service: Any, clock: Any, vault: Path) -> None:
    """Regression: shred zeroed the key file in place; a crash before unlink left a zero-filled
    key file that failed authentication on every later call (due work re-reads it first)."""
    from kmscli.service.pipeline.core import invoke

    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
    clock.advance(days=8)
    with pytest.MonkeyPatch.context() as patch:
        _inject("mid-shred", vault, patch)
        with pytest.raises(SimulatedCrash):
            invoke(service, "ListKeys", {})
    assert invoke(service, "ListKeys", {})["Keys"] == []
    assert not (vault / "keys" / "us-east-1" / f"{key}.json").exists()


# -- random SIGKILLs of real subprocesses ------------------------------------------------------------

TORTURE_SECONDS = 15.0  # at least this long and MIN_RUNS runs, never longer than TORTURE_CAP
TORTURE_CAP = 40.0
MIN_RUNS = 15

#: A "slow disk" shim for half of the runs: each write lands in two halves with a pause between,
#: and renames and fsyncs pause first, so a kill at a random time often lands inside a write.
SLOW_DISK = """
import os, sys, time
_write, _replace, _fsync = os.write, os.replace, os.fsync
def write(fd, data):
    if len(data) > 1:
        n = _write(fd, bytes(data[: len(data) // 2]))
        time.sleep(0.015)
        return n
    return _write(fd, data)
def replace(*a, **k):
    time.sleep(0.015)
    return _replace(*a, **k)
def fsync(fd):
    time.sleep(0.01)
    return _fsync(fd)
os.write, os.replace, os.fsync = write, replace, fsync
from kmscli.__main__ import main
main(sys.argv[1:])
"""


@dataclass
class Model:
    """What was acknowledged (exit 0) and must therefore survive every later crash."""

    keys: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)
    disabled: set[str] = field(default_factory=set)
    rotations: dict[str, int] = field(default_factory=dict)  # acknowledged on-demand rotations
    policies: dict[str, str] = field(default_factory=dict)  # key -> Sid of its acknowledged policy
    grants: dict[str, set[str]] = field(default_factory=dict)  # key -> acknowledged grant ids
    policy_template: str = ""  # a key's default policy (JSON), to derive new policies from
    acked: dict[str, int] = field(default_factory=dict)

    def ack(self, event: str) -> None:
        self.acked[event] = self.acked.get(event, 0) + 1


def _plan(rng: random.Random, model: Model, step: int) -> tuple[str, list[str], Callable[[str], None]]:
    """A random command and what to record if it is acknowledged."""
    live = sorted(model.keys - model.pending - model.disabled)
    choice = rng.choice(
        [
            "create",
            "alias",
            "realias",
            "unalias",
            "tag",
            "schedule",
            "cancel",
            "encrypt",
            "rotate",
            "policy",
            "grant",
        ]
    )
    if choice == "create" or len(live) < 2:
        return (
            "CreateKey",
            ["create-key", "--description", f"k{step}"],
            lambda out: model.keys.add(json.loads(out)["KeyMetadata"]["KeyId"]),
        )
    if choice == "alias" or (choice in ("realias", "unalias") and not model.aliases):
        name, target = f"alias/a{step}", rng.choice(live)
        return (
            "CreateAlias",
            ["create-alias", "--alias-name", name, "--target-key-id", target],
            (lambda out: model.aliases.__setitem__(name, target)),
        )
    if choice == "realias":
        name, target = rng.choice(sorted(model.aliases)), rng.choice(live)
        return (
            "UpdateAlias",
            ["update-alias", "--alias-name", name, "--target-key-id", target],
            (lambda out: model.aliases.__setitem__(name, target)),
        )
    if choice == "unalias":
        name = rng.choice(sorted(model.aliases))
        return "DeleteAlias", ["delete-alias", "--alias-name", name], lambda out: model.aliases.pop(name)
    if choice == "tag":
        key, value = rng.choice(live), f"v{step}"
        tag_key = rng.choice(["owner", "team", f"t{step}"])
        return (
            "TagResource",
            ["tag-resource", "--key-id", key, "--tags", f"TagKey={tag_key},TagValue={value}"],
            (lambda out: model.tags.__setitem__((key, tag_key), value)),
        )
    if choice == "schedule" and len(live) > 3:
        key = rng.choice(live)
        return (
            "ScheduleKeyDeletion",
            ["schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "7"],
            (lambda out: model.pending.add(key)),
        )
    if choice == "cancel" and model.pending:
        key = rng.choice(sorted(model.pending))
        return (
            "CancelKeyDeletion",
            ["cancel-key-deletion", "--key-id", key],
            (lambda out: (model.pending.discard(key), model.disabled.add(key))),
        )
    if choice == "rotate":
        key = rng.choice(live)
        return (
            "RotateKeyOnDemand",
            ["rotate-key-on-demand", "--key-id", key],
            (lambda out: model.rotations.__setitem__(key, model.rotations.get(key, 0) + 1)),
        )
    if choice == "policy" and model.policy_template:
        key, sid = rng.choice(live), f"p{step}"
        doc = json.loads(model.policy_template)
        doc["Statement"].append({**doc["Statement"][0], "Sid": sid})
        return (
            "PutKeyPolicy",
            ["put-key-policy", "--key-id", key, "--policy-name", "default", "--policy", json.dumps(doc)],
            (lambda out: model.policies.__setitem__(key, sid)),
        )
    if choice == "grant":
        key = rng.choice(live)
        return (
            "CreateGrant",
            ["create-grant", "--key-id", key, "--grantee-principal", "arn:aws:iam::111122223333:role/g",
             "--operations", "Decrypt"],
            (lambda out: model.grants.setdefault(key, set()).add(json.loads(out)["GrantId"])),
        )  # fmt: skip
    key = rng.choice(live)
    return "Encrypt", ["encrypt", "--key-id", key, "--plaintext", "aGk="], lambda out: None


def _forget_uncertain(model: Model, args: list[str], known: set[str]) -> None:
    """A killed command may or may not have landed: stop asserting whatever it touched."""
    if args[0] in ("create-alias", "update-alias", "delete-alias"):
        model.aliases.pop(args[2], None)
    elif args[0] == "put-key-policy":
        model.policies.pop(args[2], None)  # the old or the new policy: either is a valid state
    elif args[0] == "tag-resource":
        key, spec = args[2], args[4]
        tag_key = spec.split(",")[0].split("=", 1)[1]
        model.tags.pop((key, tag_key), None)
    elif args[0] in ("schedule-key-deletion", "cancel-key-deletion"):
        model.keys.discard(args[2])  # state unknown: leave it out of later commands and checks
        model.pending.discard(args[2])
        model.disabled.discard(args[2])
        known.add(args[2])  # it must still exist and be whole, whatever its state
        model.tags = {k: v for k, v in model.tags.items() if k[0] != args[2]}
        model.aliases = {n: t for n, t in model.aliases.items() if t != args[2]}


def _check(vault: Path, model: Model, known: set[str]) -> int:
    """Assert everything acknowledged is present and usable; returns 1 if the audit tail is torn."""
    records = check_vault_files(vault)  # every file authenticates: nothing partial is accepted
    from kmscli.vault.store import Vault

    unlocked = Vault.open(vault).unlock(PASSPHRASE.encode())
    for key_id in model.keys | model.pending | model.disabled | known:
        record = records.get(key_id)
        assert record is not None, f"acknowledged key {key_id} is gone"
        mid = record["CurrentKeyMaterialId"]
        wrapped = next(m["Wrapped"] for m in record["Materials"] if m["KeyMaterialId"] == mid)
        assert len(unlocked.unwrap_material(record["Arn"], mid, wrapped)) == 32  # usable
        if key_id in model.pending:
            assert record["KeyState"] == "PendingDeletion", key_id
        elif key_id in model.disabled:
            assert record["KeyState"] == "Disabled", key_id
        elif key_id in model.keys:
            assert record["KeyState"] == "Enabled", key_id
    aliases = unlocked.load_aliases("us-east-1")
    for name, target in model.aliases.items():
        assert aliases.get(name, {}).get("TargetKeyId") == target, name
    for (key_id, tag_key), value in model.tags.items():
        tags = {t["TagKey"]: t["TagValue"] for t in records[key_id]["Tags"]}
        assert tags.get(tag_key) == value, (key_id, tag_key)
    for key_id, count in model.rotations.items():  # a killed rotation may add one more, never fewer
        if key_id in records:
            assert len(records[key_id]["Materials"]) >= 1 + count, key_id
    for key_id, sid in model.policies.items():
        sids = [st.get("Sid") for st in json.loads(records[key_id]["Policy"])["Statement"]]
        assert sid in sids, (key_id, sid)
    for key_id, grant_ids in model.grants.items():
        if key_id in records:
            assert grant_ids <= {g["GrantId"] for g in records[key_id].get("Grants", [])}, key_id
    return int(verify_chain(vault).torn_tail)


def test_random_sigkill_torture(tmp_path: Path) -> None:
    vault = make_vault(tmp_path / "vault")
    env = child_env(vault)
    model = Model()
    rng = random.Random(int(os.environ.get("KMSCLI_TORTURE_SEED", "20261128")))
    for step in range(3):
        res = run_kmscli(vault, "create-key", "--description", f"seed{step}")
        assert res.returncode == 0, res.stderr
        model.keys.add(json.loads(res.stdout)["KeyMetadata"]["KeyId"])
        model.ack("CreateKey")
    res = run_kmscli(vault, "get-key-policy", "--key-id", sorted(model.keys)[0], "--policy-name", "default")
    assert res.returncode == 0, res.stderr
    model.policy_template = json.loads(res.stdout)["Policy"]
    known: set[str] = set()  # keys whose creation was killed but which exist: must stay usable
    started = time.monotonic()
    runs = kills = torn = leftovers = 0
    durations: dict[bool, list[float]] = {False: [0.2], True: [0.3]}
    while (elapsed := time.monotonic() - started) < TORTURE_CAP and (
        elapsed < TORTURE_SECONDS or runs < MIN_RUNS
    ):
        event, args, on_ack = _plan(rng, model, runs)
        slow = rng.random() < 0.5
        argv = [sys.executable, "-c", SLOW_DISK, *args] if slow else kmscli_argv(*args)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        # kill somewhere in a typical run (late-biased: writes happen at the end), or let it finish
        if rng.random() < 0.6:
            times = durations[slow]
            typical = sorted(times)[len(times) // 2]
            time.sleep(rng.uniform(0.3, 1.1) * typical)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        runs += 1
        if proc.returncode == -signal.SIGKILL:
            kills += 1
            _forget_uncertain(model, args, known)
        else:
            durations[slow].append(time.monotonic() - t0)
            assert proc.returncode == 0, (args, proc.returncode, err)
            assert "Traceback" not in err
            on_ack(out)
            model.ack(event)
        if args[0] == "create-key" and proc.returncode != 0:
            ids = set(check_vault_files(vault)) - model.keys - model.pending - model.disabled - known
            known |= ids  # a killed create-key may have committed: the key must be whole
        tail_torn = _check(vault, model, known)
        if tail_torn and torn < 2:  # kmscli's own verifier must agree: only a torn final line
            res = run_kmscli(vault, "audit", "verify", "--output", "json")
            assert res.returncode == 1 and "torn" in res.stdout + res.stderr, (res.stdout, res.stderr)
            assert "Traceback" not in res.stderr
        torn += tail_torn
        leftovers = max(leftovers, len(list(vault.rglob(".tmp-*"))))
    print(f"torture: {runs} runs, {kills} killed, {torn} torn audit tails, {leftovers} temp files left")
    print(f"acknowledged: {dict(sorted(model.acked.items()))}")
    assert runs >= MIN_RUNS and kills >= runs // 5, f"only {kills} of {runs} runs were killed"
    res = run_kmscli(vault, "list-keys")  # one more append repairs a torn tail, if any
    assert res.returncode == 0, res.stderr
    report = verify_chain(vault, allow_torn_tail=False)
    res = run_kmscli(vault, "audit", "verify")  # and `kmscli audit verify` agrees the chain is whole
    assert res.returncode == 0, (res.stdout, res.stderr)
    counts: dict[str, int] = {}
    for e in report.events:
        if "errorCode" not in e:
            counts[e["eventName"]] = counts.get(e["eventName"], 0) + 1
    for event, acked in model.acked.items():
        assert counts.get(event, 0) >= acked, (event, counts, model.acked)


# -- power-loss durability: folder entries are flushed, not only file contents ---------------------


def test_new_folders_and_segments_are_flushed_in_their_parent(
    kms: Any, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a new region folder (keys/REGION) and a new audit segment were fsynced as
    files but their entries in the parent folder were not, so a power loss could drop a whole
    folder of acknowledged keys or a whole segment of acknowledged events."""
    import shutil

    shutil.rmtree(vault / "keys")
    # keys/ itself is made, and its entry flushed, by `vault init`; a vault without it is damaged
    # and refused (tests/hardening/test_tamper.py), so only the region folder is new here
    (vault / "keys").mkdir(mode=0o700)
    for segment in (vault / "audit").glob("audit-*.jsonl"):
        segment.unlink()
    flushed: list[Path] = []
    real = os.fsync

    def record(fd: int) -> None:
        flushed.append(Path(_fd_path(fd)))
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    kms("CreateKey")
    assert vault / "keys" in flushed  # the new keys/us-east-1 folder's entry
    assert vault / "audit" in flushed  # the new audit segment's entry
    flushed.clear()
    kms("CreateKey")
    assert vault / "audit" not in flushed  # an existing segment needs no folder flush
