"""Identity, key policy operations, and enforcement of the key policy on every call."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from kmscli import errors
from tests.helpers import assert_output_shape

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
BOB = f"arn:aws:iam::{ACCOUNT}:user/Bob"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/Alice"
EVE = "arn:aws:iam::444455556666:user/Eve"
#: Key administrator of the custom policies (a named role: naming the account root would delegate
#: to every principal of the account, as AWS does).
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/KeyAdmin"


def events(vault: Path) -> list[dict[str, Any]]:
    """Every audit event, oldest first."""
    return [
        json.loads(line)
        for p in sorted((vault / "audit").glob("*.jsonl"))
        for line in p.read_text().splitlines()
        if line.strip()
    ]


def policy_doc(*statements: dict[str, Any]) -> str:
    """A policy whose first statement keeps ADMIN as key administrator (lockout-safe for ADMIN)."""
    admin = {
        "Sid": "Admin",
        "Effect": "Allow",
        "Principal": {"AWS": ADMIN},
        "Action": [
            "kms:PutKeyPolicy",
            "kms:GetKeyPolicy",
            "kms:DescribeKey",
            "kms:TagResource",
            "kms:CreateAlias",
            "kms:ScheduleKeyDeletion",
            "kms:DisableKey",
            "kms:CreateGrant",
            "kms:ListGrants",
            "kms:RevokeGrant",
        ],
        "Resource": "*",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [admin, *statements]})


def app_user(principal: str = BOB, **condition: Any) -> dict[str, Any]:
    """A key-user statement."""
    out: dict[str, Any] = {
        "Sid": "KeyUser",
        "Effect": "Allow",
        "Principal": {"AWS": principal},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
        "Resource": "*",
    }
    if condition:
        out["Condition"] = condition
    return out


def as_principal(service: Any, arn: str) -> None:
    """Switch the caller of the in-process service."""
    service.identity = service.identity._replace(principal=arn)


# -- identity ------------------------------------------------------------------------------------------


def test_caller_defaults_to_account_root_and_is_audited(cli: Any, vault: Path) -> None:
    assert cli("create-key").code == 0
    ident = events(vault)[-1]["userIdentity"]
    assert ident["arn"] == ROOT and ident["type"] == "Root" and ident["accountId"] == ACCOUNT


def test_principal_from_environment_wins_over_profile(
    cli: Any, vault: Path, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Path(str(env.parent / "config.toml"))
    config.write_text(f'[default]\nprincipal = "{ALICE}"\n')
    assert cli("create-key").code == 0
    assert events(vault)[-1]["userIdentity"]["arn"] == ALICE
    monkeypatch.setenv("KMSCLI_PRINCIPAL", BOB)
    assert cli("list-keys").code == 0
    assert events(vault)[-1]["userIdentity"]["arn"] == BOB
    assert events(vault)[-1]["userIdentity"]["userName"] == "Bob"


def test_account_and_region_come_from_the_config(cli: Any, vault: Path, env: Path) -> None:
    (env.parent / "config.toml").write_text('[default]\naccount_id = "210987654321"\nregion = "eu-west-1"\n')
    res = cli("create-key")
    assert res.code == 0, res.err
    assert res.json()["KeyMetadata"]["Arn"].startswith("arn:aws:kms:eu-west-1:210987654321:key/")
    policy = json.loads(
        cli("get-key-policy", "--key-id", res.json()["KeyMetadata"]["KeyId"]).json()["Policy"]
    )
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}
    assert events(vault)[-1]["userIdentity"]["accountId"] == "210987654321"
    assert events(vault)[-1]["awsRegion"] == "eu-west-1"


# -- GetKeyPolicy / ListKeyPolicies / PutKeyPolicy ---------------------------------------------------------


def test_default_policy_and_list_key_policies(cli: Any) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    got = cli("get-key-policy", "--key-id", key)
    assert got.code == 0, got.err
    assert_output_shape("GetKeyPolicy", got.json())
    doc = json.loads(got.json()["Policy"])
    assert doc["Statement"] == [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    assert got.json()["PolicyName"] == "default"
    listed = cli("list-key-policies", "--key-id", key)
    assert listed.code == 0, listed.err
    assert_output_shape("ListKeyPolicies", listed.json(), paginated=True)
    assert listed.json()["PolicyNames"] == ["default"]


def test_create_key_with_policy_and_put_key_policy(kms: Any, service: Any) -> None:
    as_principal(service, ADMIN)
    text = policy_doc(app_user())
    key = kms("CreateKey", Policy=text)["KeyMetadata"]["KeyId"]
    assert kms("GetKeyPolicy", KeyId=key)["Policy"] == text
    newer = policy_doc(app_user(ALICE))
    assert kms("PutKeyPolicy", KeyId=key, Policy=newer, PolicyName="default") == {}
    assert kms("GetKeyPolicy", KeyId=key, PolicyName="default")["Policy"] == newer
    with pytest.raises(errors.NotFoundException):
        kms("GetKeyPolicy", KeyId=key, PolicyName="other")


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        ("{not json", "not valid JSON"),
        (
            json.dumps(
                {"Statement": [{"Effect": "Permit", "Principal": "*", "Action": "kms:*", "Resource": "*"}]}
            ),
            "unknown Effect 'Permit'",
        ),
        (
            json.dumps({"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}),
            "neither Principal and NotPrincipal",
        ),
        (
            json.dumps(
                {
                    "Statement": [
                        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
                    ]
                }
            ),
            "'s3:GetObject' is not a KMS action",
        ),
        (
            json.dumps(
                {
                    "Statement": [
                        {"Effect": "Allow", "Principal": "*", "Action": "kms:Frobnicate", "Resource": "*"}
                    ]
                }
            ),
            "'kms:Frobnicate' is not a KMS action",
        ),
        (
            json.dumps(
                {
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "kms:*", "Resource": "*"}
                    ]
                }
            ),
            "invalid principals",
        ),
        (
            json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": "kms:*",
                            "Resource": "*",
                            "Condition": {"StringEqualz": {"kms:CallerAccount": ACCOUNT}},
                        }
                    ]
                }
            ),
            "unknown operator 'StringEqualz'",
        ),
        (
            json.dumps(
                {
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": []}, "Action": "kms:*", "Resource": "*"}
                    ]
                }
            ),
            "AWS lists no principal",
        ),
        (json.dumps({"Version": "2012-10-17"}), "no Statement"),
        (json.dumps(["Statement"]), "must be a JSON object"),
        # Python's parser takes NaN and Infinity; JSON (RFC 8259) and AWS do not
        (
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                            "Action": "kms:*",
                            "Resource": "*",
                            "Condition": {"NumericLessThan": {"aws:EpochTime": float("inf")}},
                        }
                    ],
                }
            ),
            "not valid JSON: Infinity is not a JSON value",
        ),
        ('{"Version": "2012-10-17", "Id": NaN, "Statement": []}', "not valid JSON: NaN is not a JSON value"),
        # JSON syntax, but no text: stored, it broke `kmscli policy show` (UnicodeEncodeError)
        (
            json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "\ud800",
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                            "Action": "kms:*",
                            "Resource": "*",
                            "Condition": {"StringEquals": {"kms:EncryptionContext:\udc80": "x"}},
                        }
                    ],
                }
            ),
            "a \\u escape spells a lone surrogate",
        ),
    ],
    ids=[
        "json",
        "effect",
        "principal",
        "non-kms",
        "unknown-kms",
        "bad-principal",
        "operator",
        "empty-principal",
        "no-stmt",
        "array",
        "infinity",
        "nan",
        "lone-surrogate",
    ],
)
def test_malformed_policies_name_the_problem(kms: Any, document: str, needle: str) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.MalformedPolicyDocumentException) as put:
        kms("PutKeyPolicy", KeyId=key, Policy=document)
    assert needle in put.value.message
    with pytest.raises(errors.MalformedPolicyDocumentException) as created:
        kms("CreateKey", Policy=document)
    assert needle in created.value.message


def test_malformed_policy_on_the_cli(cli: Any, tmp_path: Path) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    doc = tmp_path / "p.json"
    doc.write_text(json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*"}]}))
    res = cli("put-key-policy", "--key-id", key, "--policy", f"file://{doc}")
    assert res.code == 254
    assert (
        "An error occurred (MalformedPolicyDocumentException) when calling the PutKeyPolicy operation: "
        "Statement 0: statement has neither Resource and NotResource" in res.err
    )
    assert "Traceback" not in res.err


def test_policy_size_quota(kms: Any, service: Any) -> None:
    as_principal(service, ADMIN)
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    base = json.loads(policy_doc())
    base["Statement"][0]["Sid"] = "A" * 33000
    with pytest.raises(errors.LimitExceededException, match="32768 bytes"):
        kms("PutKeyPolicy", KeyId=key, Policy=json.dumps(base))
    base["Statement"][0]["Sid"] = "A" * 32000
    assert kms("PutKeyPolicy", KeyId=key, Policy=json.dumps(base)) == {}


def test_lockout_safety_check(kms: Any, service: Any) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    only_bob = json.dumps(
        {"Statement": [{"Effect": "Allow", "Principal": {"AWS": BOB}, "Action": "kms:*", "Resource": "*"}]}
    )
    with pytest.raises(
        errors.MalformedPolicyDocumentException,
        match="will not allow you to update the key policy in the future",
    ):
        kms("PutKeyPolicy", KeyId=key, Policy=only_bob)
    with pytest.raises(errors.MalformedPolicyDocumentException, match="will not allow you to update"):
        kms("CreateKey", Policy=only_bob)
    assert kms("PutKeyPolicy", KeyId=key, Policy=only_bob, BypassPolicyLockoutSafetyCheck=True) == {}
    with pytest.raises(errors.AccessDeniedException):
        kms("GetKeyPolicy", KeyId=key)  # the root is locked out now
    as_principal(service, BOB)
    assert kms("GetKeyPolicy", KeyId=key)["Policy"] == only_bob
    assert kms("CreateKey", Policy=only_bob)["KeyMetadata"]["KeyState"] == "Enabled"  # Bob keeps access


def test_put_key_policy_accepted_when_pending_deletion(kms: Any, service: Any) -> None:
    # AWS's key state table: PutKeyPolicy succeeds in every state, PendingDeletion included
    as_principal(service, ADMIN)
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
    assert kms("PutKeyPolicy", KeyId=key, Policy=policy_doc()) == {}
    assert kms("GetKeyPolicy", KeyId=key)["Policy"] == policy_doc()


# -- enforcement on every call -----------------------------------------------------------------------------


def test_policy_decides_crypto_calls_with_conditions(kms: Any, service: Any, vault: Path) -> None:
    as_principal(service, ADMIN)
    key = kms(
        "CreateKey", Policy=policy_doc(app_user(**{"StringEquals": {"kms:EncryptionContext:tenant": "t1"}}))
    )
    arn = key["KeyMetadata"]["Arn"]
    kid = key["KeyMetadata"]["KeyId"]
    as_principal(service, BOB)
    blob = kms("Encrypt", KeyId=kid, Plaintext=b"secret", EncryptionContext={"tenant": "t1"})[
        "CiphertextBlob"
    ]
    assert kms("Decrypt", CiphertextBlob=blob, EncryptionContext={"tenant": "t1"})["Plaintext"] == b"secret"
    with pytest.raises(errors.AccessDeniedException) as denied:
        kms("Encrypt", KeyId=kid, Plaintext=b"secret", EncryptionContext={"tenant": "t2"})
    assert denied.value.message == (
        f"User: {BOB} is not authorized to perform: kms:Encrypt on resource: {arn} "
        "because no resource-based policy allows the kms:Encrypt action"
    )
    as_principal(service, ALICE)
    with pytest.raises(
        errors.AccessDeniedException, match=f"User: {ALICE} is not authorized to perform: kms:Decrypt"
    ):
        kms("Decrypt", CiphertextBlob=blob, EncryptionContext={"tenant": "t1"})
    last = events(vault)[-1]
    assert last["eventName"] == "Decrypt" and last["errorCode"] == "AccessDeniedException"
    assert last["userIdentity"]["arn"] == ALICE
    assert last["additionalEventData"]["policyDecision"] == {
        "action": "kms:Decrypt",
        "decision": "ImplicitDeny",
    }
    assert "secret" not in json.dumps(events(vault))


def test_explicit_deny_wins_and_is_audited(cli: Any, vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deny = {
        "Sid": "NoDecryptForBob",
        "Effect": "Deny",
        "Principal": {"AWS": BOB},
        "Action": "kms:Decrypt",
        "Resource": "*",
    }
    monkeypatch.setenv("KMSCLI_PRINCIPAL", ADMIN)
    created = cli("create-key", "--policy", policy_doc(app_user(), deny))
    assert created.code == 0, created.err
    key = created.json()["KeyMetadata"]
    monkeypatch.setenv("KMSCLI_PRINCIPAL", BOB)
    enc = cli("encrypt", "--key-id", key["KeyId"], "--plaintext", base64.b64encode(b"x").decode())
    assert enc.code == 0, enc.err
    res = cli("decrypt", "--ciphertext-blob", enc.json()["CiphertextBlob"])
    assert res.code == 254
    assert res.err.strip() == (
        "kmscli: [ERROR]: An error occurred (AccessDeniedException) when calling the Decrypt operation: "
        f"User: {BOB} is not authorized to perform: kms:Decrypt on resource: {key['Arn']} "
        "with an explicit deny in a resource-based policy"
    )
    assert res.out == ""
    last = events(vault)[-1]
    assert last["errorCode"] == "AccessDeniedException"
    assert last["additionalEventData"]["policyDecision"]["decidedBy"] == {
        "Type": "Statement",
        "Index": 2,
        "Sid": "NoDecryptForBob",
        "Effect": "Deny",
    }


def test_denial_comes_before_key_state_and_material(kms: Any, service: Any) -> None:
    as_principal(service, ADMIN)
    kid = kms("CreateKey", Policy=policy_doc())["KeyMetadata"]["KeyId"]
    kms("DisableKey", KeyId=kid)
    as_principal(service, BOB)
    with pytest.raises(errors.AccessDeniedException):
        kms("Encrypt", KeyId=kid, Plaintext=b"x")  # not DisabledException: policy first
    kms_enabled = kms  # a DryRun that would be denied reports the denial, not DryRunOperationException
    with pytest.raises(errors.AccessDeniedException):
        kms_enabled("GenerateDataKey", KeyId=kid, NumberOfBytes=32, DryRun=True)


def test_other_account_caller_is_denied_by_default_policy(kms: Any, service: Any) -> None:
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    as_principal(service, BOB)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyId"] == kid  # root delegation
    as_principal(service, EVE)
    with pytest.raises(errors.AccessDeniedException, match="kms:DescribeKey"):
        kms("DescribeKey", KeyId=kid)


def test_request_alias_condition(kms: Any, service: Any) -> None:
    as_principal(service, ADMIN)
    user = app_user(**{"StringEquals": {"kms:RequestAlias": "alias/app"}})
    kid = kms("CreateKey", Policy=policy_doc(user))["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/app", TargetKeyId=kid)
    as_principal(service, BOB)
    assert kms("Encrypt", KeyId="alias/app", Plaintext=b"x")["KeyId"].endswith(kid)
    with pytest.raises(errors.AccessDeniedException):
        kms("Encrypt", KeyId=kid, Plaintext=b"x")


def test_resource_tag_and_aliases_conditions(kms: Any, service: Any) -> None:
    as_principal(service, ADMIN)
    user = app_user(
        **{
            "StringEquals": {"aws:ResourceTag/Project": "Alpha"},
            "ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/alpha-*"},
        }
    )
    kid = kms("CreateKey", Policy=policy_doc(user))["KeyMetadata"]["KeyId"]
    as_principal(service, BOB)
    with pytest.raises(errors.AccessDeniedException):
        kms("Encrypt", KeyId=kid, Plaintext=b"x")
    as_principal(service, ADMIN)
    kms("TagResource", KeyId=kid, Tags=[{"TagKey": "Project", "TagValue": "Alpha"}])
    kms("CreateAlias", AliasName="alias/alpha-data", TargetKeyId=kid)
    as_principal(service, BOB)
    assert kms("Encrypt", KeyId=kid, Plaintext=b"x")["CiphertextBlob"]


def test_request_tag_condition_on_tag_resource(kms: Any, service: Any) -> None:
    as_principal(service, ADMIN)
    tagger = {
        "Effect": "Allow",
        "Principal": {"AWS": BOB},
        "Action": "kms:TagResource",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:RequestTag/Owner": "bob"},
            "ForAllValues:StringEquals": {"aws:TagKeys": ["Owner"]},
        },
    }
    kid = kms("CreateKey", Policy=policy_doc(tagger))["KeyMetadata"]["KeyId"]
    as_principal(service, BOB)
    kms("TagResource", KeyId=kid, Tags=[{"TagKey": "Owner", "TagValue": "bob"}])
    with pytest.raises(errors.AccessDeniedException):
        kms("TagResource", KeyId=kid, Tags=[{"TagKey": "Owner", "TagValue": "eve"}])
    with pytest.raises(errors.AccessDeniedException):
        kms(
            "TagResource",
            KeyId=kid,
            Tags=[{"TagKey": "Owner", "TagValue": "bob"}, {"TagKey": "Env", "TagValue": "x"}],
        )


def test_schedule_deletion_window_condition(kms: Any, service: Any) -> None:
    as_principal(service, ADMIN)
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:ScheduleKeyDeletion",
        "Resource": "*",
        "Condition": {"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "21"}},
    }
    kid = kms("CreateKey", Policy=policy_doc(deny))["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.AccessDeniedException, match="explicit deny"):
        kms("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7)
    assert kms("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=30)["PendingWindowInDays"] == 30
