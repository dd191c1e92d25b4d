"""Scale: reads cost what the page costs, and writes touch only the key they change plus its index.

No timing assertions (the 10,000-key benchmark lives in bench/); these count work instead.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import skip_fsync
from tests.helpers import assert_output_shape

N_KEYS = 2000


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durability is not this module's subject: skip the disk waits (see hardening.skip_fsync)."""
    skip_fsync(monkeypatch)


def _bulk_keys(service: Any, kms: Any, count: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``count`` real, MAC'd key records, fast: one CreateKey, then copies re-wrapped for their own ARN."""
    import os

    from kmscli.ids import is_key_id
    from kmscli.vault import state

    template = kms("CreateKey", Description="bulk")["KeyMetadata"]["KeyId"]
    vault = service.vault
    record = vault.load_key("us-east-1", template)
    mid = record["CurrentKeyMaterialId"]
    raw = vault.unwrap_material(record["Arn"], mid, record["Materials"][0]["Wrapped"])
    ids = [template]
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", lambda fd: None)  # durability is not under test here
        with vault.lock(exclusive=True):
            for n in range(count - 1):
                key_id = str(uuid.UUID(int=n + 1, version=4))
                assert is_key_id(key_id)
                arn = record["Arn"].rsplit("/", 1)[0] + "/" + key_id
                wrapped = vault.wrap_material(arn, mid, raw, os.urandom(12))
                clone = {
                    **record,
                    "KeyId": key_id,
                    "Arn": arn,
                    "Materials": [{**record["Materials"][0], "Wrapped": wrapped}],
                }
                vault.save_key("us-east-1", clone)
                ids.append(key_id)
            state.migrate(vault)  # list the copies as current (written behind the vault state's back)
    return sorted(ids)


class Counter:
    """Counts key-file loads and vault file reads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from kmscli.vault import fs
        from kmscli.vault.store import UnlockedVault

        self.key_loads = 0
        self.file_reads: list[str] = []
        real_load, real_read = UnlockedVault.load_key, fs.VaultDir.read
        real_read_stat = fs.VaultDir.read_stat

        def load_key(vault: Any, region: str, key_id: str) -> Any:
            self.key_loads += 1
            return real_load(vault, region, key_id)

        def read(folder: fs.VaultDir, rel: str, limit: int = fs.MAX_VAULT_FILE) -> bytes:
            self.file_reads.append(Path(rel).name)
            return real_read(folder, rel, limit)

        def read_stat(folder: fs.VaultDir, rel: str, limit: int = fs.MAX_VAULT_FILE) -> Any:
            self.file_reads.append(Path(rel).name)
            return real_read_stat(folder, rel, limit)

        monkeypatch.setattr(UnlockedVault, "load_key", load_key)
        monkeypatch.setattr(fs.VaultDir, "read", read)
        monkeypatch.setattr(fs.VaultDir, "read_stat", read_stat)


@pytest.fixture
def many(service: Any, kms: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return _bulk_keys(service, kms, N_KEYS, monkeypatch)


def test_list_keys_page_reads_no_key_files(
    cli: Any, many: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = Counter(monkeypatch)
    res = cli("list-keys", "--max-items", "100")
    assert res.code == 0, res.err
    out = res.json()
    assert_output_shape("ListKeys", out, paginated=True)
    assert [k["KeyId"] for k in out["Keys"]] == many[:100]
    assert "NextToken" in out
    assert counter.key_loads == 0
    # header, vault state, schedule and the audit head record: a fixed few, whatever the key count
    assert "vault.json" in counter.file_reads
    assert set(counter.file_reads) <= {"vault.json", "state.json", "schedule.json", "head"}
    nxt = cli("list-keys", "--max-items", "100", "--starting-token", out["NextToken"])
    assert [k["KeyId"] for k in nxt.json()["Keys"]] == many[100:200]
    assert counter.key_loads == 0

    from kmscli.service.pipeline import core

    calls: list[dict[str, Any]] = []
    real = core.invoke

    def spy(ctx: Any, name: str, request: dict[str, Any]) -> dict[str, Any]:
        calls.append(dict(request))
        return real(ctx, name, request)

    monkeypatch.setattr(core, "invoke", spy)
    res = cli("list-keys", "--max-items", "100", "--page-size", "25")
    assert res.code == 0 and len(res.json()["Keys"]) == 100
    assert len(calls) == 4 and all(c["Limit"] == 25 for c in calls)  # one service call per page
    assert counter.key_loads == 0


def test_one_key_operations_read_one_key_file(
    cli: Any, many: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = Counter(monkeypatch)
    key = many[1234]
    enc = cli("encrypt", "--key-id", key, "--plaintext", "aGk=")
    assert enc.code == 0, enc.err
    assert cli("decrypt", "--ciphertext-blob", enc.json()["CiphertextBlob"]).code == 0
    assert cli("describe-key", "--key-id", key).code == 0
    assert counter.key_loads == 3
    assert len([n for n in counter.file_reads if n == f"{key}.json"]) == 3


# -- what each operation may write ---------------------------------------------------------------
# (operation, request builder from the fixture's ids, files it may write besides nothing).
# Later operations (grants, rotation, import, policies) each add one line here.
Ids = dict[str, str]
_GRANTEE = "arn:aws:iam::111122223333:role/reader"
_ROOT_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
)
WRITE_CASES: list[tuple[str, Callable[[Ids], dict[str, Any]], Callable[[Ids], set[str]]]] = [
    ("CreateKey", lambda i: {}, lambda i: {"<new key>"}),
    ("DescribeKey", lambda i: {"KeyId": i["a"]}, lambda i: set()),
    ("ListKeys", lambda i: {}, lambda i: set()),
    ("ListAliases", lambda i: {}, lambda i: set()),
    ("ListResourceTags", lambda i: {"KeyId": i["a"]}, lambda i: set()),
    ("Encrypt", lambda i: {"KeyId": i["a"], "Plaintext": b"x"}, lambda i: set()),
    ("GenerateDataKey", lambda i: {"KeyId": i["a"], "NumberOfBytes": 16}, lambda i: set()),
    ("GenerateRandom", lambda i: {"NumberOfBytes": 16}, lambda i: set()),
    ("UpdateKeyDescription", lambda i: {"KeyId": i["a"], "Description": "d"}, lambda i: {i["a"]}),
    ("DisableKey", lambda i: {"KeyId": i["a"]}, lambda i: {i["a"]}),
    ("EnableKey", lambda i: {"KeyId": i["a"]}, lambda i: set()),  # already Enabled: nothing to write
    (
        "TagResource",
        lambda i: {"KeyId": i["a"], "Tags": [{"TagKey": "t", "TagValue": "v"}]},
        lambda i: {i["a"]},
    ),
    ("UntagResource", lambda i: {"KeyId": i["a"], "TagKeys": ["t"]}, lambda i: {i["a"]}),
    ("CreateAlias", lambda i: {"AliasName": "alias/new", "TargetKeyId": i["a"]}, lambda i: {"aliases"}),
    ("UpdateAlias", lambda i: {"AliasName": "alias/a", "TargetKeyId": i["b"]}, lambda i: {"aliases"}),
    ("DeleteAlias", lambda i: {"AliasName": "alias/a"}, lambda i: {"aliases"}),
    ("ScheduleKeyDeletion", lambda i: {"KeyId": i["a"]}, lambda i: {i["a"], "schedule"}),
    ("CancelKeyDeletion", lambda i: {"KeyId": i["pending"]}, lambda i: {i["pending"], "schedule"}),
    # merged operations: policies, grants and rotation state live in the key file
    (
        "PutKeyPolicy",
        lambda i: {"KeyId": i["a"], "PolicyName": "default", "Policy": _ROOT_POLICY},
        lambda i: {i["a"]},
    ),
    (
        "CreateGrant",
        lambda i: {"KeyId": i["a"], "GranteePrincipal": _GRANTEE, "Operations": ["Decrypt"]},
        lambda i: {i["a"]},
    ),
    ("ListGrants", lambda i: {"KeyId": i["a"]}, lambda i: set()),
    ("EnableKeyRotation", lambda i: {"KeyId": i["a"]}, lambda i: {i["a"], "schedule"}),
    ("RotateKeyOnDemand", lambda i: {"KeyId": i["a"]}, lambda i: {i["a"]}),
    ("GetKeyRotationStatus", lambda i: {"KeyId": i["a"]}, lambda i: set()),
]


@pytest.fixture
def writes(service: Any, kms: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Ids, list[str]]:
    from kmscli.vault import fs

    ids = {name: kms("CreateKey")["KeyMetadata"]["KeyId"] for name in ("a", "b", "pending")}
    for _ in range(20):  # bystanders that must never be rewritten
        kms("CreateKey")
    kms("CreateAlias", AliasName="alias/a", TargetKeyId=ids["a"])
    kms("CreateAlias", AliasName="alias/b", TargetKeyId=ids["b"])
    kms("CreateAlias", AliasName="alias/p", TargetKeyId=ids["pending"])
    kms("ScheduleKeyDeletion", KeyId=ids["pending"])
    written: list[str] = []
    real_write, real_shred = fs.VaultDir.replace_atomic, fs.VaultDir.shred

    def record(self: fs.VaultDir, rel: str, data: bytes) -> None:
        written.append(_label(rel))
        real_write(self, rel, data)

    def shred(self: fs.VaultDir, rel: str) -> None:
        written.append("destroyed:" + _label(rel))
        real_shred(self, rel)

    monkeypatch.setattr(fs.VaultDir, "replace_atomic", record)
    monkeypatch.setattr(fs.VaultDir, "shred", shred)
    return ids, written


def _label(written: str | Path) -> str:
    path = Path(written)
    if path.parent.name == "aliases":
        return "aliases"
    if path.name == "schedule.json":
        return "schedule"
    if path.parent.name == "manifest":
        return "manifest"
    return path.stem


@pytest.mark.parametrize("case", WRITE_CASES, ids=[c[0] for c in WRITE_CASES])
def test_operation_writes_only_its_key_and_index(kms: Any, writes: tuple[Ids, list[str]], case: Any) -> None:
    name, build, allowed = case
    ids, written = writes
    out = kms(name, **build(ids))
    expected = allowed(ids)
    if "<new key>" in expected:
        expected = (expected - {"<new key>"}) | {out["KeyMetadata"]["KeyId"]}
    # the vault state (kmscli/vault/state.py) is written twice per commit (intent, then done) and
    # never by a read; one manifest bucket per key file changed
    state = [w for w in written if w == "state"]
    buckets = [w for w in written if w == "manifest"]
    files = [w for w in written if w not in ("state", "manifest")]
    assert set(files) == expected
    assert len(files) == len(set(files))  # and each at most once
    assert len(state) == (2 if expected else 0)
    assert len(buckets) <= len([f for f in files if f not in ("aliases", "schedule")])


def test_due_deletion_writes_only_that_key_its_aliases_and_schedule(
    kms: Any, clock: Any, writes: tuple[Ids, list[str]]
) -> None:
    ids, written = writes
    clock.advance(days=31)
    kms("ListKeys")
    files = [w for w in written if w not in ("state", "manifest")]
    assert sorted(files) == sorted(["destroyed:" + ids["pending"], "aliases", "schedule"])
    assert written.count("state") == 2 and written.count("manifest") == 1
