"""AWS managed keys (issue 15 item 2): a predefined ``alias/aws/<service>`` creates its key on first use.

AWS: KeyManager AWS, AWS's key policy for them (use only through the service, view for the account),
yearly rotation, ListAliases shows the predefined aliases before their key exists. And the
PutKeyPolicy alias hint (issue 15 item 7).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmscli import errors
from tests.helpers import FakeClock, assert_output_shape
from tests.service.test_policy_ops import events

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def _predefined(aliases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["AliasName"]: a for a in aliases if a["AliasName"].startswith("alias/aws/")}


def test_list_aliases_shows_predefined_aliases_before_their_key_exists(kms: Any) -> None:
    out = kms("ListAliases")
    assert_output_shape("ListAliases", out, paginated=True)
    predefined = _predefined(out["Aliases"])
    assert {"alias/aws/s3", "alias/aws/ebs", "alias/aws/rds", "alias/aws/lambda"} <= set(predefined)
    assert all(set(a) == {"AliasName", "AliasArn"} for a in predefined.values())
    assert predefined["alias/aws/s3"]["AliasArn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/aws/s3"
    assert kms("ListKeys")["Keys"] == []  # listing creates nothing
    page = kms("ListAliases", Limit=3)
    assert len(page["Aliases"]) == 3 and page["Truncated"] is True


def test_describe_key_creates_the_aws_managed_key_once(kms: Any, vault: Path) -> None:
    meta = kms("DescribeKey", KeyId="alias/aws/s3")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS" and meta["KeyState"] == "Enabled" and meta["Origin"] == "AWS_KMS"
    assert meta["KeySpec"] == "SYMMETRIC_DEFAULT" and meta["KeyUsage"] == "ENCRYPT_DECRYPT"
    again = kms("DescribeKey", KeyId=f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/aws/s3")["KeyMetadata"]
    assert again["KeyId"] == meta["KeyId"]
    assert [k["KeyId"] for k in kms("ListKeys")["Keys"]] == [meta["KeyId"]]
    s3 = _predefined(kms("ListAliases")["Aliases"])["alias/aws/s3"]
    assert s3["TargetKeyId"] == meta["KeyId"] and "CreationDate" in s3
    assert [a["AliasName"] for a in kms("ListAliases", KeyId=meta["KeyId"])["Aliases"]] == ["alias/aws/s3"]
    log = events(vault)
    created = [e for e in log if e["eventName"] == "CreateKey"]
    assert len(created) == 1 and created[0]["eventType"] == "AwsServiceEvent"
    assert created[0]["additionalEventData"]["aliasName"] == "alias/aws/s3"
    assert created[0]["resources"][0]["ARN"] == meta["Arn"]
    described = [e for e in log if e["eventName"] == "DescribeKey"]
    assert len(described) == 2 and all("errorCode" not in e and e["readOnly"] for e in described)
    assert log.index(created[0]) < log.index(described[0])  # the write came first, under its own lock


def test_key_policy_is_awss_and_denies_direct_use_and_management(
    kms: Any, service: Any, tmp_path: Path
) -> None:
    key = kms("DescribeKey", KeyId="alias/aws/ebs")["KeyMetadata"]["KeyId"]
    policy = json.loads(kms("GetKeyPolicy", KeyId=key)["Policy"])
    via, meta = policy["Statement"]
    assert via["Principal"] == {"AWS": "*"}
    assert via["Condition"]["StringEquals"] == {
        "kms:CallerAccount": ACCOUNT,
        "kms:ViaService": "ec2.us-east-1.amazonaws.com",
    }
    assert meta["Principal"] == {"AWS": ROOT} and "kms:Describe*" in meta["Action"]
    with pytest.raises(errors.AccessDeniedException, match="kms:Encrypt"):
        kms("Encrypt", KeyId="alias/aws/ebs", Plaintext=b"p")  # only through the service
    for op, request in (
        ("PutKeyPolicy", {"Policy": json.dumps(policy), "PolicyName": "default"}),
        ("DisableKey", {}),
        ("ScheduleKeyDeletion", {"PendingWindowInDays": 7}),
        ("EnableKeyRotation", {}),
        ("DisableKeyRotation", {}),
        ("RotateKeyOnDemand", {}),
        ("TagResource", {"Tags": [{"TagKey": "a", "TagValue": "b"}]}),
        ("UpdateKeyDescription", {"Description": "mine"}),
        ("CreateGrant", {"GranteePrincipal": ROOT, "Operations": ["Decrypt"]}),
    ):
        with pytest.raises(errors.AccessDeniedException, match="no resource-based policy allows"):
            kms(op, KeyId=key, **request)
    assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    from kmscli.service.features.policy_inspect import simulate

    through_ec2 = simulate(
        service, key, f"arn:aws:iam::{ACCOUNT}:user/Bob", "kms:Decrypt",
        conditions={"kms:ViaService": "ec2.us-east-1.amazonaws.com"},
    )  # fmt: skip
    assert through_ec2["Decision"] == "Allowed"


def test_rotates_every_year(kms: Any, clock: FakeClock) -> None:
    key = kms("DescribeKey", KeyId="alias/aws/rds")["KeyMetadata"]["KeyId"]
    status = kms("GetKeyRotationStatus", KeyId=key)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 365
    before = kms("DescribeKey", KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
    clock.advance(days=366)
    after = kms("DescribeKey", KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert after != before
    assert len(kms("ListKeyRotations", KeyId=key)["Rotations"]) == 1


def test_a_denied_first_use_still_creates_the_key_and_every_operation_accepts_the_alias(
    kms: Any, vault: Path
) -> None:
    with pytest.raises(errors.AccessDeniedException):
        kms("GenerateDataKey", KeyId="alias/aws/lambda", NumberOfBytes=32)
    meta = kms("DescribeKey", KeyId="alias/aws/lambda")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS"
    assert sum(e["eventName"] == "CreateKey" for e in events(vault)) == 1
    assert events(vault)[-2]["errorCode"] == "AccessDeniedException"  # GenerateDataKey, audited once


def test_unknown_aws_alias_and_no_alias_operations(kms: Any, vault: Path) -> None:
    with pytest.raises(errors.NotFoundException, match="alias/aws/nosuchservice is not found"):
        kms("DescribeKey", KeyId="alias/aws/nosuchservice")
    assert events(vault)[-1]["errorCode"] == "NotFoundException"
    assert kms("ListKeys")["Keys"] == []
    with pytest.raises(
        errors.NotFoundException, match="PutKeyPolicy takes no alias: give the key id or key ARN"
    ):
        kms("PutKeyPolicy", KeyId="alias/aws/s3", Policy="{}", PolicyName="default")
    assert kms("ListKeys")["Keys"] == []  # an operation that refuses aliases creates nothing


def test_put_key_policy_alias_hint_on_the_command_line(cli: Any) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    assert cli("create-alias", "--alias-name", "alias/app", "--target-key-id", key).code == 0
    res = cli("put-key-policy", "--key-id", "alias/app", "--policy", "{}")
    assert res.code == 254
    assert "PutKeyPolicy takes no alias: give the key id or key ARN" in res.err
    assert "kmscli describe-key --key-id alias/app" in res.err


def test_a_read_only_bundle_creates_nothing(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import CHEAP_KDF_ARGS

    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("KMSCLI_NEW_PASSPHRASE", "bundle pass")
    bundle = tmp_path / "b.kmsv"
    assert cli("vault", "export-key", "--key-id", key, "--outfile", str(bundle), *CHEAP_KDF_ARGS).code == 0
    monkeypatch.setenv("KMSCLI_VAULT", str(bundle))
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "bundle pass")
    monkeypatch.setenv("KMSCLI_AUDIT_LOG", str(tmp_path / "log"))
    res = cli("describe-key", "--key-id", "alias/aws/s3")
    assert res.code == 254 and "NotFoundException" in res.err


def test_second_creator_finds_the_key_already_made(service: Any, kms: Any) -> None:
    """Two processes miss the alias at once: the second to take the write lock creates nothing."""
    from kmscli.service.pipeline.core import _create_managed_key

    first = kms("DescribeKey", KeyId="alias/aws/ssm")["KeyMetadata"]["KeyId"]
    _create_managed_key(service, "alias/aws/ssm", service.clock())
    assert [k["KeyId"] for k in kms("ListKeys")["Keys"]] == [first]
