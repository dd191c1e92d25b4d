"""GetKeyLastUsage from the audit log: tracked operations only, successes only, per key and region."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmscli import errors
from tests.helpers import FakeClock, assert_output_shape


def test_last_usage_follows_successful_cryptographic_calls(kms: Any, clock: FakeClock, vault: Path) -> None:
    key = kms("CreateKey")["KeyMetadata"]
    other = kms("CreateKey")["KeyMetadata"]["KeyId"]
    out = kms("GetKeyLastUsage", KeyId=key["KeyId"])
    assert "KeyLastUsage" not in out
    assert out["KeyCreationDate"] == clock.now == out["TrackingStartDate"]
    clock.advance(minutes=5)
    blob = kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    clock.advance(minutes=5)
    kms("Decrypt", CiphertextBlob=blob)
    decrypted_at = clock.now
    clock.advance(minutes=5)
    kms("DescribeKey", KeyId=key["KeyId"])  # not a tracked operation
    kms("Encrypt", KeyId=other, Plaintext=b"y")  # another key
    with pytest.raises(errors.InvalidCiphertextException):
        kms("Decrypt", CiphertextBlob=blob[:-1] + bytes([blob[-1] ^ 1]))  # failures do not count
    used = kms("GetKeyLastUsage", KeyId=key["KeyId"])["KeyLastUsage"]
    assert used["Operation"] == "Decrypt"
    assert used["Timestamp"] == decrypted_at
    events = [
        json.loads(x) for p in sorted((vault / "audit").glob("*.jsonl")) for x in p.read_text().splitlines()
    ]
    match = [e for e in events if e["eventID"] == used["CloudTrailEventId"]]
    assert len(match) == 1 and match[0]["requestID"] == used["KmsRequestId"]
    assert match[0]["eventName"] == "Decrypt"


def test_last_usage_of_a_key_used_by_alias_and_in_other_region(kms: Any, service: Any) -> None:
    from kmscli.service.pipeline.core import invoke

    mrk = kms("CreateKey", MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/u", TargetKeyId=mrk)
    kms("ReplicateKey", KeyId=mrk, ReplicaRegion="eu-west-1")
    kms("GenerateDataKey", KeyId="alias/u", NumberOfBytes=16)
    assert kms("GetKeyLastUsage", KeyId=mrk)["KeyLastUsage"]["Operation"] == "GenerateDataKey"
    with pytest.raises(
        errors.NotFoundException, match="takes no alias"
    ):  # AWS: "Alias names are not supported"
        kms("GetKeyLastUsage", KeyId="alias/u")
    eu = service.in_region("eu-west-1")
    assert "KeyLastUsage" not in invoke(eu, "GetKeyLastUsage", {"KeyId": mrk})
    with pytest.raises(errors.NotFoundException):
        kms("GetKeyLastUsage", KeyId="alias/none")


def test_cli_get_key_last_usage_shape(cli: Any) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    assert cli("generate-data-key-without-plaintext", "--key-id", key, "--key-spec", "AES_256").code == 0
    res = cli("get-key-last-usage", "--key-id", key)
    assert res.code == 0, res.err
    assert_output_shape("GetKeyLastUsage", res.json())
    assert res.json()["KeyLastUsage"]["Operation"] == "GenerateDataKeyWithoutPlaintext"


def test_cryptographic_calls_and_last_usage_do_not_write_key_files(kms: Any, vault: Path) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    files = sorted((vault / "keys").rglob("*.json"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    blob = kms("Encrypt", KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    kms("Decrypt", CiphertextBlob=blob)
    kms("GetKeyLastUsage", KeyId=key)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before
    assert not (vault / "schedule.json").exists()
