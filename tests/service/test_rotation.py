"""Rotation: automatic (lazy, audited, injected clock), on demand, status, listing, failure paths."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from kmscli import errors
from tests.helpers import FakeClock, assert_output_shape


def _audit_events(vault: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for p in sorted((vault / "audit").glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]


def test_enable_default_period_and_status(kms: Any, clock: FakeClock) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    assert kms("GetKeyRotationStatus", KeyId=key) == {
        "KeyId": kms("DescribeKey", KeyId=key)["KeyMetadata"]["Arn"],
        "KeyRotationEnabled": False,
    }
    kms("EnableKeyRotation", KeyId=key)
    status = kms("GetKeyRotationStatus", KeyId=key)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 365
    assert status["NextRotationDate"] == clock.now + dt.timedelta(days=365)
    kms("DisableKeyRotation", KeyId=key)
    status = kms("GetKeyRotationStatus", KeyId=key)
    assert status["KeyRotationEnabled"] is False
    assert "NextRotationDate" not in status


@pytest.mark.parametrize("days", [89, 2561, 0])
def test_rotation_period_limits(kms: Any, days: int) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.ValidationException, match="rotationPeriodInDays"):
        kms("EnableKeyRotation", KeyId=key, RotationPeriodInDays=days)


@pytest.mark.parametrize("days", [90, 2560])
def test_rotation_period_bounds_accepted(kms: Any, days: int) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("EnableKeyRotation", KeyId=key, RotationPeriodInDays=days)
    assert kms("GetKeyRotationStatus", KeyId=key)["RotationPeriodInDays"] == days


def test_automatic_rotation_when_due_is_lazy_audited_and_old_blobs_decrypt(
    kms: Any, clock: FakeClock, vault: Path
) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    first_mid = kms("DescribeKey", KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
    kms("EnableKeyRotation", KeyId=key, RotationPeriodInDays=90)
    old = kms("Encrypt", KeyId=key, Plaintext=b"before")["CiphertextBlob"]
    clock.advance(days=89)
    assert kms("ListKeyRotations", KeyId=key)["Rotations"] == []
    clock.advance(days=2)
    new = kms("Encrypt", KeyId=key, Plaintext=b"after")["CiphertextBlob"]  # due work runs first
    rotations = kms("ListKeyRotations", KeyId=key)["Rotations"]
    assert len(rotations) == 1
    assert rotations[0]["RotationType"] == "AUTOMATIC"
    assert rotations[0]["KeyMaterialState"] == "CURRENT"
    new_mid = rotations[0]["KeyMaterialId"]
    assert new_mid != first_mid
    assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"] == new_mid
    assert kms("Decrypt", CiphertextBlob=old)["KeyMaterialId"] == first_mid
    assert kms("Decrypt", CiphertextBlob=old)["Plaintext"] == b"before"
    assert kms("Decrypt", CiphertextBlob=new)["KeyMaterialId"] == new_mid
    status = kms("GetKeyRotationStatus", KeyId=key)
    start = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
    assert status["NextRotationDate"] == start + dt.timedelta(days=180)
    events = [e for e in _audit_events(vault) if e["eventName"] == "RotateKey"]
    assert len(events) == 1
    assert events[0]["eventType"] == "AwsServiceEvent"
    assert events[0]["additionalEventData"]["rotationType"] == "AUTOMATIC"
    assert "Wrapped" not in json.dumps(events[0])


def test_many_missed_periods_rotate_once_and_schedule_the_future(kms: Any, clock: FakeClock) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("EnableKeyRotation", KeyId=key, RotationPeriodInDays=90)
    clock.advance(days=400)
    kms("DescribeKey", KeyId=key)
    assert len(kms("ListKeyRotations", KeyId=key)["Rotations"]) == 1
    assert kms("GetKeyRotationStatus", KeyId=key)["NextRotationDate"] > clock.now


def test_disabled_key_is_not_rotated_until_enabled(kms: Any, clock: FakeClock) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("EnableKeyRotation", KeyId=key, RotationPeriodInDays=90)
    kms("DisableKey", KeyId=key)
    clock.advance(days=91)
    kms("DescribeKey", KeyId=key)
    assert kms("ListKeyRotations", KeyId=key)["Rotations"] == []
    kms("EnableKey", KeyId=key)
    clock.advance(days=1, seconds=1)
    kms("DescribeKey", KeyId=key)
    assert len(kms("ListKeyRotations", KeyId=key)["Rotations"]) == 1


def test_rotation_operations_refuse_disabled_and_pending_deletion_keys(kms: Any) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("DisableKey", KeyId=key)
    for op in ("EnableKeyRotation", "DisableKeyRotation", "RotateKeyOnDemand"):
        with pytest.raises(errors.DisabledException):
            kms(op, KeyId=key)
    kms("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
    for op in ("EnableKeyRotation", "RotateKeyOnDemand"):
        with pytest.raises(errors.KMSInvalidStateException):
            kms(op, KeyId=key)
    # the status can still be read: AWS's key state table marks it "?" (imported material only)
    assert kms("GetKeyRotationStatus", KeyId=key)["KeyRotationEnabled"] is False


def test_rotation_refuses_aliases_and_unknown_keys(kms: Any) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/rot", TargetKeyId=key)
    with pytest.raises(errors.NotFoundException):
        kms("EnableKeyRotation", KeyId="alias/rot")
    with pytest.raises(errors.NotFoundException):
        kms("GetKeyRotationStatus", KeyId="0" * 8 + "-0000-4000-8000-" + "0" * 12)


def test_on_demand_rotation_keeps_schedule_and_enforces_limit(kms: Any, clock: FakeClock) -> None:
    from kmscli.service.operations.rotation import MAX_ON_DEMAND_ROTATIONS

    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("EnableKeyRotation", KeyId=key, RotationPeriodInDays=730)
    before = kms("GetKeyRotationStatus", KeyId=key)["NextRotationDate"]
    blob = kms("Encrypt", KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    assert kms("RotateKeyOnDemand", KeyId=key)["KeyId"].endswith(key)
    assert kms("GetKeyRotationStatus", KeyId=key)["NextRotationDate"] == before
    rotations = kms("ListKeyRotations", KeyId=key)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"]
    assert rotations[0]["RotationDate"] == clock.now
    for _ in range(MAX_ON_DEMAND_ROTATIONS - 1):
        kms("RotateKeyOnDemand", KeyId=key)
    with pytest.raises(errors.LimitExceededException, match="25"):
        kms("RotateKeyOnDemand", KeyId=key)
    assert kms("Decrypt", CiphertextBlob=blob)["Plaintext"] == b"x"
    # automatic rotations do not count against the on-demand quota
    clock.advance(days=731)
    kms("DescribeKey", KeyId=key)
    assert len(kms("ListKeyRotations", KeyId=key, Limit=1000)["Rotations"]) == MAX_ON_DEMAND_ROTATIONS + 1


def test_list_key_rotations_all_material_and_paging(kms: Any) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    first = kms("DescribeKey", KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
    kms("RotateKeyOnDemand", KeyId=key)
    kms("RotateKeyOnDemand", KeyId=key)
    everything = kms("ListKeyRotations", KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [r["KeyMaterialState"] for r in everything] == ["NON_CURRENT", "NON_CURRENT", "CURRENT"]
    assert everything[0]["KeyMaterialId"] == first
    assert "RotationDate" not in everything[0]
    page1 = kms("ListKeyRotations", KeyId=key, Limit=1)
    assert page1["Truncated"] is True and len(page1["Rotations"]) == 1
    page2 = kms("ListKeyRotations", KeyId=key, Limit=1, Marker=page1["NextMarker"])
    assert page2["Truncated"] is False
    assert page2["Rotations"][0]["KeyMaterialId"] == everything[2]["KeyMaterialId"]
    with pytest.raises(errors.InvalidMarkerException):
        kms("ListKeyRotations", KeyId=key, Marker="a")


def test_imported_key_cannot_enable_automatic_rotation(kms: Any) -> None:
    key = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.UnsupportedOperationException, match="origin is EXTERNAL"):
        kms("EnableKeyRotation", KeyId=key)
    with pytest.raises(errors.UnsupportedOperationException, match="origin is EXTERNAL"):
        kms("DisableKeyRotation", KeyId=key)
    assert kms("GetKeyRotationStatus", KeyId=key)["KeyRotationEnabled"] is False


def test_cli_rotation_commands_shapes_and_errors(cli: Any) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    res = cli("enable-key-rotation", "--key-id", key, "--rotation-period-in-days", "100")
    assert res.code == 0, res.err
    assert res.out == ""
    status = cli("get-key-rotation-status", "--key-id", key)
    assert status.code == 0, status.err
    assert_output_shape("GetKeyRotationStatus", status.json())
    assert status.json()["RotationPeriodInDays"] == 100
    assert cli("rotate-key-on-demand", "--key-id", key).code == 0
    listed = cli("list-key-rotations", "--key-id", key, "--include-key-material", "ALL_KEY_MATERIAL")
    assert listed.code == 0, listed.err
    assert_output_shape("ListKeyRotations", listed.json(), paginated=True)
    assert len(listed.json()["Rotations"]) == 2
    bad = cli("enable-key-rotation", "--key-id", key, "--rotation-period-in-days", "30")
    assert bad.code == 252  # below the model's minimum: botocore's check in the AWS CLI, before any call
    assert "Invalid value for parameter RotationPeriodInDays, value: 30, valid min value: 90" in bad.err
    too_long = cli("enable-key-rotation", "--key-id", key, "--rotation-period-in-days", "3000")
    assert too_long.code == 254  # a maximum is the service's to check
    assert (
        "An error occurred (ValidationException) when calling the EnableKeyRotation operation" in too_long.err
    )
    syntax = cli("enable-key-rotation", "--key-id", key, "--rotation-period-in-days", "soon")
    assert syntax.code == 255  # int() refuses it: the AWS CLI v2's general exit code
    assert "Traceback" not in syntax.err + bad.err


def test_reencrypt_reports_both_material_versions(kms: Any) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    old = kms("Encrypt", KeyId=key, Plaintext=b"p")["CiphertextBlob"]
    old_mid = kms("Decrypt", CiphertextBlob=old)["KeyMaterialId"]
    kms("RotateKeyOnDemand", KeyId=key)
    out = kms("ReEncrypt", CiphertextBlob=old, DestinationKeyId=key)
    assert out["SourceKeyMaterialId"] == old_mid
    assert (
        out["DestinationKeyMaterialId"]
        == kms("DescribeKey", KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
    )
    assert out["DestinationKeyMaterialId"] != old_mid
    assert (
        kms("GenerateDataKey", KeyId=key, NumberOfBytes=16)["KeyMaterialId"]
        == out["DestinationKeyMaterialId"]
    )


@pytest.mark.parametrize("spec", ["RSA_2048", "HMAC_256"])
def test_rotation_refuses_asymmetric_and_hmac_keys(kms: Any, spec: str) -> None:
    usage = "SIGN_VERIFY" if spec.startswith("RSA") else "GENERATE_VERIFY_MAC"
    key = kms("CreateKey", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    for op in ("EnableKeyRotation", "DisableKeyRotation", "RotateKeyOnDemand", "ListKeyRotations"):
        with pytest.raises(errors.UnsupportedOperationException, match="symmetric encryption"):
            kms(op, KeyId=key)
    # AWS's key type table (and AWS's answer, as clients such as Terraform's provider read it for
    # every key): asymmetric and HMAC keys report rotation disabled instead of an error
    status = kms("GetKeyRotationStatus", KeyId=key)
    assert status == {
        "KeyId": kms("DescribeKey", KeyId=key)["KeyMetadata"]["Arn"],
        "KeyRotationEnabled": False,
    }


def test_due_rotation_happens_once_under_concurrent_access(service: Any, kms: Any, clock: FakeClock) -> None:
    import threading

    from kmscli.service.pipeline.core import invoke

    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("EnableKeyRotation", KeyId=key, RotationPeriodInDays=90)
    clock.advance(days=91)
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(3):
                invoke(service, "DescribeKey", {"KeyId": key})
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(kms("ListKeyRotations", KeyId=key)["Rotations"]) == 1


def test_rotation_status_reads_false_while_pending_deletion_and_returns_on_cancel(kms: Any) -> None:
    """AWS (GetKeyRotationStatus): pending deletion, the status is false and nothing rotates; a
    cancelled deletion restores the original status."""
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("EnableKeyRotation", KeyId=key, RotationPeriodInDays=90)
    kms("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
    status = kms("GetKeyRotationStatus", KeyId=key)
    assert status["KeyRotationEnabled"] is False
    assert "RotationPeriodInDays" not in status and "NextRotationDate" not in status
    kms("CancelKeyDeletion", KeyId=key)
    restored = kms("GetKeyRotationStatus", KeyId=key)
    assert restored["KeyRotationEnabled"] is True and restored["RotationPeriodInDays"] == 90
