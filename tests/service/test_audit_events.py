"""Completeness of the event log: one CloudTrail-shaped event per call, failures included."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from kmscli.audit.log import segments
from kmscli.errors import KMSError
from tests.helpers import CHEAP_KDF_ARGS

CLOUDTRAIL_FIELDS = {
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
}


def read_events(vault: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for p in map(Path, segments(vault / "audit")) for line in p.read_bytes().splitlines()
    ]


def assert_cloudtrail(event: dict[str, Any]) -> None:
    missing = CLOUDTRAIL_FIELDS - set(event)
    assert not missing, f"{event['eventName']} lacks {missing}"
    assert set(event["userIdentity"]) >= {"type", "arn", "accountId", "principalId"}
    dt.datetime.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert isinstance(event["sequence"], int) and len(event["chain"]) == 64
    if "errorCode" in event:
        assert event["errorMessage"]


def test_every_operation_records_exactly_one_event_even_when_validation_fails(kms: Any, vault: Path) -> None:
    from kmscli.service.pipeline.registry import load_all

    OPERATIONS = load_all()

    assert len(OPERATIONS) >= 20
    for name in sorted(OPERATIONS):
        before = len(read_events(vault))
        error: Exception | None = None
        try:
            kms(name)  # an empty request: most operations fail validation
        except Exception as exc:
            error = exc
        events = read_events(vault)
        assert len(events) == before + 1, f"{name} recorded {len(events) - before} events"
        last = events[-1]
        assert last["eventName"] == name
        assert_cloudtrail(last)
        if isinstance(error, KMSError):
            assert (last["errorCode"], last["errorMessage"]) == (error.code, error.message)
        elif error is not None:  # a defect in the operation: recorded, never silently dropped
            assert last["errorCode"] == "KMSInternalException"
            assert last["errorMessage"] == f"internal error ({type(error).__name__})"
        else:
            assert "errorCode" not in last


def test_failures_and_successes_are_cloudtrail_shaped(kms: Any, vault: Path) -> None:
    key = kms("CreateKey")["KeyMetadata"]
    kms("CreateAlias", AliasName="alias/a", TargetKeyId=key["KeyId"])
    kms("TagResource", KeyId=key["KeyId"], Tags=[{"TagKey": "team", "TagValue": "blue"}])
    kms("UntagResource", KeyId=key["KeyId"], TagKeys=["team"])
    kms("DisableKey", KeyId=key["KeyId"])
    with pytest.raises(KMSError):
        kms("Encrypt", KeyId="alias/a", Plaintext=b"p")
    kms("DeleteAlias", AliasName="alias/a")
    events = read_events(vault)
    for event in events:
        assert_cloudtrail(event)
        assert event["eventSource"] == "kms.amazonaws.com" and event["eventType"] == "AwsApiCall"
        assert event["resources"] == [
            {"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": key["Arn"]}
        ]
    by_name = {e["eventName"]: e for e in events}
    assert by_name["CreateAlias"]["requestParameters"] == {
        "aliasName": "alias/a",
        "targetKeyId": key["KeyId"],
    }
    assert by_name["TagResource"]["requestParameters"]["tags"] == [{"tagKey": "team", "tagValue": "blue"}]
    assert by_name["UntagResource"]["requestParameters"]["tagKeys"] == ["team"]
    assert by_name["DeleteAlias"]["requestParameters"] == {"aliasName": "alias/a"}
    failed = by_name["Encrypt"]
    assert failed["errorCode"] == "DisabledException" and key["Arn"] in failed["errorMessage"]
    assert failed["responseElements"] is None
    assert failed["additionalEventData"] == {"requestAlias": "alias/a"}
    assert by_name["CreateKey"]["readOnly"] is False and by_name["Encrypt"]["readOnly"] is True


def test_key_policy_changes_carry_the_new_policy() -> None:
    """PutKeyPolicy and CreateKey keep the policy document (it is not secret); blobs never."""
    from kmscli.audit.events import sanitize
    from kmscli.model import operation

    policy = '{"Version":"2012-10-17","Statement":[]}'
    request = {"KeyId": "k", "Policy": policy, "PolicyName": "default"}
    assert sanitize(operation("PutKeyPolicy")["input"], request) == {
        "keyId": "k",
        "policy": policy,
        "policyName": "default",
    }
    grant = sanitize(
        operation("CreateGrant")["input"],
        {"KeyId": "k", "GranteePrincipal": "arn:p", "Operations": ["Decrypt"]},
    )
    assert grant == {"keyId": "k", "granteePrincipal": "arn:p", "operations": ["Decrypt"]}
    assert sanitize(operation("Encrypt")["input"], {"KeyId": "k", "Plaintext": b"secret"}) == {"keyId": "k"}
    assert sanitize(
        operation("GenerateDataKey")["output"], {"Plaintext": b"s", "CiphertextBlob": b"c", "KeyId": "k"}
    ) == {"keyId": "k"}


def test_due_deletion_records_delete_key(kms: Any, vault: Path, clock: Any) -> None:
    key = kms("CreateKey")["KeyMetadata"]
    kms("ScheduleKeyDeletion", KeyId=key["KeyId"], PendingWindowInDays=7)
    clock.advance(days=8)
    kms("ListKeys")
    events = read_events(vault)
    assert [e["eventName"] for e in events[-2:]] == ["DeleteKey", "ListKeys"]
    deletion = events[-2]
    assert deletion["eventType"] == "AwsServiceEvent"
    assert deletion["resources"][0]["ARN"] == key["Arn"]
    assert_cloudtrail(deletion)


def test_vault_init_and_change_passphrase_are_recorded(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import run_cli

    assert run_cli(["vault", "init", *CHEAP_KDF_ARGS]).code == 0
    monkeypatch.setenv("KMSCLI_NEW_PASSPHRASE", "a new passphrase")
    assert run_cli(["vault", "change-passphrase"]).code == 0
    events = read_events(env)
    assert [e["eventName"] for e in events] == ["InitVault", "ChangePassphrase"]
    for event in events:
        assert_cloudtrail(event)
        assert event["eventSource"] == "kmscli"
        assert "passphrase" not in json.dumps(event).replace("ChangePassphrase", "")
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "a new passphrase")
    res = run_cli(["audit", "verify"])
    assert res.code == 0, res.out  # the chain key survives a passphrase change
