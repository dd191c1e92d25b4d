"""Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, and their use."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from kmscli import errors
from tests.helpers import assert_output_shape
from tests.service.test_policy_ops import ACCOUNT, ADMIN, ALICE, ROOT, as_principal, events, policy_doc

EVE = "arn:aws:iam::444455556666:user/Eve"
BOB = f"arn:aws:iam::{ACCOUNT}:user/Bob"
RETIRER = f"arn:aws:iam::{ACCOUNT}:role/Retirer"


@pytest.fixture
def key(kms: Any, service: Any) -> str:
    """A key whose policy names only ADMIN (so grants are the only way in for others)."""
    as_principal(service, ADMIN)
    return str(kms("CreateKey", Policy=policy_doc())["KeyMetadata"]["KeyId"])


def test_grant_allows_grantee_under_constraints_and_is_audited(
    kms: Any, service: Any, key: str, vault: Path
) -> None:
    out = kms(
        "CreateGrant",
        KeyId=key,
        GranteePrincipal=EVE,
        Operations=["Encrypt", "Decrypt"],
        Constraints={"EncryptionContextSubset": {"tenant": "t1"}},
    )
    assert len(out["GrantId"]) == 64 and out["GrantToken"]
    created = events(vault)[-1]
    assert (
        created["eventName"] == "CreateGrant"
        and created["additionalEventData"]["newGrantId"] == out["GrantId"]
    )
    as_principal(service, EVE)
    blob = kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"tenant": "t1", "x": "y"})
    assert events(vault)[-1]["additionalEventData"]["grantId"] == out["GrantId"]
    plain = kms(
        "Decrypt", CiphertextBlob=blob["CiphertextBlob"], EncryptionContext={"tenant": "t1", "x": "y"}
    )
    assert plain["Plaintext"] == b"p"
    with pytest.raises(errors.AccessDeniedException, match="no resource-based policy allows the kms:Encrypt"):
        kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"tenant": "t2"})
    with pytest.raises(errors.AccessDeniedException):
        kms("GenerateDataKey", KeyId=key, NumberOfBytes=32, EncryptionContext={"tenant": "t1"})  # not granted


def test_equals_constraint_and_unconstrained_describe(kms: Any, service: Any, key: str) -> None:
    kms(
        "CreateGrant",
        KeyId=key,
        GranteePrincipal=EVE,
        Operations=["GenerateDataKey", "DescribeKey"],
        Constraints={"EncryptionContextEquals": {"Dept": "IT"}},
    )
    as_principal(service, EVE)
    assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyId"] == key
    assert kms("GenerateDataKey", KeyId=key, NumberOfBytes=16, EncryptionContext={"dept": "IT"})["Plaintext"]
    with pytest.raises(errors.AccessDeniedException):
        kms("GenerateDataKey", KeyId=key, NumberOfBytes=16, EncryptionContext={"Dept": "IT", "more": "x"})


def test_name_makes_create_grant_idempotent(kms: Any, key: str) -> None:
    first = kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], Name="app")
    again = kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], Name="app")
    assert again == first
    other = kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt", "Encrypt"], Name="app")
    assert other["GrantId"] != first["GrantId"]
    assert len(kms("ListGrants", KeyId=key)["Grants"]) == 2


def test_grant_tokens_are_checked(kms: Any, service: Any, key: str) -> None:
    token = kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Encrypt"])["GrantToken"]
    as_principal(service, EVE)
    assert kms("Encrypt", KeyId=key, Plaintext=b"x", GrantTokens=[token])["CiphertextBlob"]
    with pytest.raises(errors.InvalidGrantTokenException):
        kms("Encrypt", KeyId=key, Plaintext=b"x", GrantTokens=["not-a-token"])


def _token(body: bytes) -> str:
    return "kmscli-grant-token:" + base64.urlsafe_b64encode(body).decode().rstrip("=")


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000,  # nested past the parser's recursion limit: was a RecursionError (an internal error)
        b'{"k": 1, "g": "g"}',
        b'{"k": "arn:aws:kms:us-east-1:111122223333:key/k", "g": 2}',
        b'{"k": "b", "g": "g"}',  # not a key ARN: not a token kmscli issued
        b'{"k": "arn:aws:kms:us-east-1:111122223333:alias/a", "g": "g"}',
        b'{"k": NaN, "g": "g"}',
        b'{"k": "x", "k": "arn:aws:kms:us-east-1:111122223333:key/k", "g": "g"}',
        b'{"k": "arn:aws:kms:us-east-1:111122223333:key/k", "g": ""}',
        b"\xff\xfe",
        b'"text"',
    ],
)
def test_a_forged_grant_token_is_invalid_not_a_fault(kms: Any, key: str, body: bytes) -> None:
    token = _token(body)
    with pytest.raises(errors.InvalidGrantTokenException, match="The grant token is not valid"):
        kms("RetireGrant", GrantToken=token)
    with pytest.raises(errors.InvalidGrantTokenException):
        kms("Encrypt", KeyId=key, Plaintext=b"x", GrantTokens=[token])
    with pytest.raises(errors.InvalidGrantTokenException):
        kms("DescribeKey", KeyId=key, GrantTokens=[token])


def test_list_grants_filters_and_pages(kms: Any, key: str) -> None:
    a = kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"])["GrantId"]
    b = kms("CreateGrant", KeyId=key, GranteePrincipal=BOB, Operations=["Encrypt"], RetiringPrincipal=RETIRER)
    listed = kms("ListGrants", KeyId=key)
    assert {g["GrantId"] for g in listed["Grants"]} == {a, b["GrantId"]}
    entry = next(g for g in listed["Grants"] if g["GrantId"] == b["GrantId"])
    assert entry["IssuingAccount"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert entry["RetiringPrincipal"] == RETIRER and entry["Operations"] == ["Encrypt"]
    assert "GrantToken" not in entry
    assert [g["GrantId"] for g in kms("ListGrants", KeyId=key, GranteePrincipal=EVE)["Grants"]] == [a]
    assert [g["GrantId"] for g in kms("ListGrants", KeyId=key, GrantId=a)["Grants"]] == [a]
    page = kms("ListGrants", KeyId=key, Limit=1)
    assert page["Truncated"] is True and len(page["Grants"]) == 1
    rest = kms("ListGrants", KeyId=key, Limit=1, Marker=page["NextMarker"])
    assert rest["Truncated"] is False and rest["Grants"][0]["GrantId"] != page["Grants"][0]["GrantId"]


def test_list_retirable_grants_scans_keys(kms: Any, key: str) -> None:
    other = kms("CreateKey", Policy=policy_doc())["KeyMetadata"]["KeyId"]
    g1 = kms(
        "CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], RetiringPrincipal=RETIRER
    )
    g2 = kms(
        "CreateGrant", KeyId=other, GranteePrincipal=EVE, Operations=["Decrypt"], RetiringPrincipal=RETIRER
    )
    kms("CreateGrant", KeyId=other, GranteePrincipal=EVE, Operations=["Decrypt"])
    found = kms("ListRetirableGrants", RetiringPrincipal=RETIRER)["Grants"]
    assert {g["GrantId"] for g in found} == {g1["GrantId"], g2["GrantId"]}


def test_retire_by_token_by_ids_and_refusals(kms: Any, service: Any, key: str) -> None:
    g1 = kms(
        "CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], RetiringPrincipal=RETIRER
    )
    g2 = kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Encrypt", "RetireGrant"])
    as_principal(service, BOB)  # neither retiring principal, grantee, nor allowed by the policy
    with pytest.raises(errors.AccessDeniedException, match="kms:RetireGrant"):
        kms("RetireGrant", GrantToken=g1["GrantToken"])
    as_principal(service, RETIRER)
    assert kms("RetireGrant", GrantToken=g1["GrantToken"]) == {}
    as_principal(service, EVE)
    blob = b"x"
    assert kms("Encrypt", KeyId=key, Plaintext=blob)["CiphertextBlob"]
    assert kms("RetireGrant", KeyId=key, GrantId=g2["GrantId"]) == {}
    with pytest.raises(errors.AccessDeniedException):
        kms("Encrypt", KeyId=key, Plaintext=blob)  # the grant is gone at once
    as_principal(service, ADMIN)
    assert kms("ListGrants", KeyId=key)["Grants"] == []
    with pytest.raises(errors.ValidationException):
        kms("RetireGrant", GrantId=g2["GrantId"])
    with pytest.raises(errors.NotFoundException):
        kms("RetireGrant", KeyId=key, GrantId=g2["GrantId"])


def test_a_grants_retire_grant_retires_only_that_grant(kms: Any, service: Any, key: str, vault: Path) -> None:
    mine = kms("CreateGrant", KeyId=key, GranteePrincipal=BOB, Operations=["Encrypt", "RetireGrant"])
    other = kms("CreateGrant", KeyId=key, GranteePrincipal=ALICE, Operations=["Decrypt"])
    as_principal(service, BOB)
    with pytest.raises(errors.AccessDeniedException, match="not the retiring principal"):
        kms("RetireGrant", KeyId=key, GrantId=other["GrantId"])
    assert "grantId" not in events(vault)[-1].get("additionalEventData", {})
    assert kms("RetireGrant", GrantToken=mine["GrantToken"]) == {}
    assert events(vault)[-1]["additionalEventData"]["retiredBy"] == "GranteePrincipal"
    as_principal(service, ADMIN)
    assert [g["GrantId"] for g in kms("ListGrants", KeyId=key)["Grants"]] == [other["GrantId"]]


def test_retire_grant_in_a_key_policy_is_not_effective_for_another_account(
    kms: Any, service: Any, vault: Path
) -> None:
    as_principal(service, ADMIN)
    retire = {
        "Effect": "Allow",
        "Principal": {"AWS": [EVE, BOB]},
        "Action": "kms:RetireGrant",
        "Resource": "*",
    }
    key = kms("CreateKey", Policy=policy_doc(retire))["KeyMetadata"]["KeyId"]
    grants = [kms("CreateGrant", KeyId=key, GranteePrincipal=ALICE, Operations=["Decrypt"]) for _ in range(3)]
    as_principal(service, EVE)  # allowed kms:RetireGrant by the key policy, but not of the issuing account
    with pytest.raises(errors.AccessDeniedException, match="account that created it"):
        kms("RetireGrant", GrantToken=grants[0]["GrantToken"])
    as_principal(service, BOB)  # of the issuing account, delegated kms:RetireGrant
    assert kms("RetireGrant", GrantToken=grants[0]["GrantToken"]) == {}
    assert events(vault)[-1]["additionalEventData"]["retiredBy"] == "KeyPolicy"
    as_principal(service, ROOT)  # the issuing account itself, though the key policy does not name it
    assert kms("RetireGrant", KeyId=key, GrantId=grants[1]["GrantId"]) == {}
    assert events(vault)[-1]["additionalEventData"]["retiredBy"] == "IssuingAccount"
    as_principal(service, ALICE)  # the issuing account's principal without the permission, nor RetireGrant
    with pytest.raises(errors.AccessDeniedException, match="kms:RetireGrant"):
        kms("RetireGrant", GrantToken=grants[2]["GrantToken"])


def test_retire_grant_by_token_with_another_keys_id_retires_nothing(kms: Any, service: Any, key: str) -> None:
    """A KeyId beside a grant token must name the token's key (key id or ARN); another key's is
    NotFoundException and the grant stays, an unknown key is NotFoundException too."""
    grant = kms(
        "CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], RetiringPrincipal=RETIRER
    )
    other = kms("CreateKey", Policy=policy_doc())["KeyMetadata"]
    as_principal(service, RETIRER)
    with pytest.raises(errors.NotFoundException, match=f"not found for key {other['Arn']}"):
        kms("RetireGrant", GrantToken=grant["GrantToken"], KeyId=other["KeyId"])
    with pytest.raises(errors.NotFoundException):
        kms("RetireGrant", GrantToken=grant["GrantToken"], KeyId="0" * 8 + "-0000-4000-8000-" + "0" * 12)
    as_principal(service, ADMIN)
    assert [g["GrantId"] for g in kms("ListGrants", KeyId=key)["Grants"]] == [grant["GrantId"]]
    as_principal(service, RETIRER)
    arn = kms("ListRetirableGrants", RetiringPrincipal=RETIRER)["Grants"][0]["KeyId"]
    assert kms("RetireGrant", GrantToken=grant["GrantToken"], KeyId=arn) == {}


def test_a_key_policy_deny_of_retire_grant_does_not_bind_the_grant_it_names(
    kms: Any, service: Any, vault: Path
) -> None:
    """AWS: kms:RetireGrant "is not effective in a key policy": the grant decides who retires it, so
    a key-policy Deny binds neither its retiring principal nor its grantee with RetireGrant. It does
    bind kmscli's stand-in for IAM delegation (a principal of the issuing account allowed
    kms:RetireGrant by the key policy): there, as in IAM, an explicit deny wins."""
    as_principal(service, ADMIN)
    deny = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:RetireGrant", "Resource": "*"}
    allow_bob = {"Effect": "Allow", "Principal": {"AWS": BOB}, "Action": "kms:RetireGrant", "Resource": "*"}
    key = kms("CreateKey", Policy=policy_doc(deny, allow_bob))["KeyMetadata"]["KeyId"]
    by_retirer = kms(
        "CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], RetiringPrincipal=RETIRER
    )
    by_grantee = kms("CreateGrant", KeyId=key, GranteePrincipal=ALICE, Operations=["Encrypt", "RetireGrant"])
    delegated = kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"])
    as_principal(service, RETIRER)
    assert kms("RetireGrant", GrantToken=by_retirer["GrantToken"]) == {}
    as_principal(service, ALICE)
    assert kms("RetireGrant", GrantToken=by_grantee["GrantToken"]) == {}
    as_principal(service, BOB)
    with pytest.raises(errors.AccessDeniedException, match="kms:RetireGrant"):
        kms("RetireGrant", GrantToken=delegated["GrantToken"])
    as_principal(service, ADMIN)
    assert [g["GrantId"] for g in kms("ListGrants", KeyId=key)["Grants"]] == [delegated["GrantId"]]


def test_an_account_as_retiring_principal_covers_its_principals(kms: Any, service: Any, key: str) -> None:
    by_id, by_root = (
        kms("CreateGrant", KeyId=key, GranteePrincipal=BOB, Operations=["Decrypt"], RetiringPrincipal=who)
        for who in ("444455556666", "arn:aws:iam::444455556666:root")
    )
    as_principal(service, BOB)  # the grantee, without RetireGrant in the grant
    with pytest.raises(errors.AccessDeniedException):
        kms("RetireGrant", GrantToken=by_id["GrantToken"])
    as_principal(service, EVE)
    assert kms("RetireGrant", GrantToken=by_id["GrantToken"]) == {}
    assert kms("RetireGrant", GrantToken=by_root["GrantToken"]) == {}


def test_list_retirable_grants_only_for_a_principal_of_the_callers_account(
    kms: Any, service: Any, key: str
) -> None:
    gid = kms(
        "CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], RetiringPrincipal=RETIRER
    )
    as_principal(service, EVE)
    with pytest.raises(errors.AccessDeniedException, match="kms:ListRetirableGrants"):
        kms("ListRetirableGrants", RetiringPrincipal=RETIRER)
    assert kms("ListRetirableGrants", RetiringPrincipal=EVE)["Grants"] == []
    as_principal(service, RETIRER)
    found = kms("ListRetirableGrants", RetiringPrincipal=RETIRER)["Grants"]
    assert [g["GrantId"] for g in found] == [gid["GrantId"]]


def test_iam_only_permissions_ignore_the_key_policy(kms: Any, service: Any) -> None:
    """kms:ListAliases and kms:ListRetirableGrants are IAM policy permissions: a key policy neither
    grants nor denies them. Every principal of the account may (kmscli's stand-in for IAM), even
    one the key policy denies everything; another account's principal may not."""
    as_principal(service, ADMIN)
    deny_bob = {"Effect": "Deny", "Principal": {"AWS": BOB}, "Action": "kms:*", "Resource": "*"}
    key = kms("CreateKey", Policy=policy_doc(deny_bob))["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/iam-only", TargetKeyId=key)
    kms("CreateGrant", KeyId=key, GranteePrincipal=ALICE, Operations=["Decrypt"], RetiringPrincipal=BOB)
    as_principal(service, BOB)
    assert [a["AliasName"] for a in kms("ListAliases", KeyId=key)["Aliases"]] == ["alias/iam-only"]
    assert len(kms("ListRetirableGrants", RetiringPrincipal=BOB)["Grants"]) == 1
    with pytest.raises(errors.AccessDeniedException):  # the key policy still decides key operations
        kms("DescribeKey", KeyId=key)
    as_principal(service, EVE)
    with pytest.raises(errors.AccessDeniedException, match="kms:ListAliases on resource: arn:aws:kms:"):
        kms("ListAliases", KeyId=key)


def test_revoke_grant(kms: Any, service: Any, key: str) -> None:
    gid = kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"])["GrantId"]
    with pytest.raises(errors.InvalidGrantIdException):
        kms("RevokeGrant", KeyId=key, GrantId="nope")
    with pytest.raises(errors.NotFoundException):
        kms("RevokeGrant", KeyId=key, GrantId="0" * 64)
    as_principal(service, EVE)
    with pytest.raises(errors.AccessDeniedException, match="kms:RevokeGrant"):
        kms("RevokeGrant", KeyId=key, GrantId=gid)
    as_principal(service, ADMIN)
    with pytest.raises(errors.DryRunOperationException):
        kms("RevokeGrant", KeyId=key, GrantId=gid, DryRun=True)
    assert len(kms("ListGrants", KeyId=key)["Grants"]) == 1
    assert kms("RevokeGrant", KeyId=key, GrantId=gid) == {}
    assert kms("ListGrants", KeyId=key)["Grants"] == []


def test_create_grant_validation(kms: Any, key: str) -> None:
    with pytest.raises(errors.ValidationException, match="not a valid principal"):
        kms("CreateGrant", KeyId=key, GranteePrincipal="eve", Operations=["Decrypt"])
    with pytest.raises(errors.ValidationException, match="GranteePrincipal is required"):
        kms("CreateGrant", KeyId=key, Operations=["Decrypt"])
    with pytest.raises(errors.ValidationException, match="Sign"):
        kms(
            "CreateGrant",
            KeyId=key,
            GranteePrincipal=EVE,
            Operations=["Decrypt", "Sign"],
            Constraints={"EncryptionContextSubset": {"a": "b"}},
        )
    with pytest.raises(errors.UnsupportedOperationException):
        kms("CreateGrant", KeyId=key, GranteeServicePrincipal="logs.amazonaws.com", Operations=["Decrypt"])
    with pytest.raises(errors.ValidationException):
        kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Frobnicate"])
    with pytest.raises(errors.DryRunOperationException):
        kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], DryRun=True)
    assert kms("ListGrants", KeyId=key)["Grants"] == []


@pytest.mark.parametrize(
    ("spec", "usage", "supported", "unsupported"),
    [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["GenerateDataKeyPair", "ReEncryptFrom"], ["Sign"]),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["Encrypt"], ["GetPublicKey"]),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["Decrypt"], ["GenerateMac"]),
        ("RSA_2048", "ENCRYPT_DECRYPT", ["Encrypt", "Decrypt", "GetPublicKey"], ["GenerateDataKey"]),
        ("RSA_2048", "ENCRYPT_DECRYPT", ["ReEncryptTo"], ["Sign"]),
        ("RSA_2048", "SIGN_VERIFY", ["Sign", "Verify", "DescribeKey"], ["Encrypt"]),
        ("ECC_NIST_P256", "SIGN_VERIFY", ["Verify"], ["GenerateDataKeyPairWithoutPlaintext"]),
        ("ECC_NIST_P256", "KEY_AGREEMENT", ["DeriveSharedSecret", "GetPublicKey"], ["Sign"]),
        ("HMAC_256", "GENERATE_VERIFY_MAC", ["GenerateMac", "VerifyMac", "CreateGrant"], ["Encrypt"]),
        ("HMAC_256", "GENERATE_VERIFY_MAC", ["RetireGrant"], ["GetPublicKey"]),
    ],
)
def test_grant_operations_must_be_supported_by_the_key_type(
    kms: Any, spec: str, usage: str, supported: list[str], unsupported: list[str]
) -> None:
    """AWS: a grant that allows an operation the KMS key does not support fails with ValidationException."""
    kid = kms("CreateKey", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"]
    kms("CreateGrant", KeyId=kid, GranteePrincipal=EVE, Operations=supported)
    with pytest.raises(errors.ValidationException, match=f"Grant operations {unsupported[0]} are not valid"):
        kms("CreateGrant", KeyId=kid, GranteePrincipal=EVE, Operations=[*supported, *unsupported])
    assert len(kms("ListGrants", KeyId=kid)["Grants"]) == 1


def test_a_grant_constraint_holds_at_most_8_pairs(kms: Any, key: str) -> None:
    """AWS: each grant constraint value can include up to 8 encryption context pairs."""
    eight = {f"k{i}": "v" for i in range(8)}

    def grant(constraints: dict[str, Any]) -> Any:
        return kms(
            "CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], Constraints=constraints
        )

    for member in ("EncryptionContextEquals", "EncryptionContextSubset"):
        grant({member: eight})
        with pytest.raises(errors.ValidationException, match="at most 8"):
            grant({member: {**eight, "k8": "v"}})


def test_a_grant_constraint_holds_at_most_384_characters(kms: Any, key: str) -> None:
    """AWS: the encryption context in each constraint cannot exceed 384 characters (kmscli counts
    its keys and values together, each constraint on its own)."""
    full = {"k": "v" * 383}  # 1 + 383

    def grant(constraints: dict[str, Any]) -> Any:
        return kms(
            "CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], Constraints=constraints
        )

    for member in ("EncryptionContextEquals", "EncryptionContextSubset"):
        grant({member: full})
        with pytest.raises(errors.ValidationException, match=f"{member} has 385 characters.*at most 384"):
            grant({member: {"k": "v" * 384}})
        with pytest.raises(errors.ValidationException, match="has 385 characters"):  # keys count too
            grant({member: {"a" * 200: "b" * 185}})
    assert len(kms("ListGrants", KeyId=key)["Grants"]) == 2  # only the two that fit


def test_a_key_holds_at_most_its_quota_of_grants(
    kms: Any, service: Any, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS's "Grants per KMS key" quota (50,000): past it CreateGrant is LimitExceededException,
    checked before DryRun; a retry of a named grant still answers it, and retiring one makes room.
    (The quota is lowered here so the test does not create 50,000 grants.)"""
    from kmscli.policy import actions

    assert actions.MAX_GRANTS_PER_KEY == 50_000
    monkeypatch.setattr(actions, "MAX_GRANTS_PER_KEY", 3)
    named = kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], Name="app")
    for _ in range(2):
        last = kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Encrypt"])
    with pytest.raises(errors.LimitExceededException, match="already has 3 grants"):
        kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Encrypt"])
    with pytest.raises(errors.LimitExceededException):
        kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Encrypt"], DryRun=True)
    again = kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Decrypt"], Name="app")
    assert again == named  # the same named grant is not a new one
    assert len(kms("ListGrants", KeyId=key)["Grants"]) == 3
    kms("RevokeGrant", KeyId=key, GrantId=last["GrantId"])
    kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Encrypt"])
    assert len(kms("ListGrants", KeyId=key)["Grants"]) == 3


def test_create_grant_through_a_grant_cannot_widen_it(kms: Any, service: Any, key: str) -> None:
    kms(
        "CreateGrant",
        KeyId=key,
        GranteePrincipal=EVE,
        Operations=["CreateGrant", "Decrypt"],
        Constraints={"EncryptionContextSubset": {"tenant": "t1"}},
    )
    as_principal(service, EVE)
    child = kms(
        "CreateGrant",
        KeyId=key,
        GranteePrincipal=BOB,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"tenant": "t1", "env": "prod"}},
    )
    assert child["GrantId"]
    with pytest.raises(errors.AccessDeniedException, match="subset of its operations"):
        kms(
            "CreateGrant",
            KeyId=key,
            GranteePrincipal=BOB,
            Operations=["Encrypt"],
            Constraints={"EncryptionContextSubset": {"tenant": "t1"}},
        )
    with pytest.raises(errors.AccessDeniedException, match="equally strict"):
        kms("CreateGrant", KeyId=key, GranteePrincipal=BOB, Operations=["Decrypt"])


def test_cli_constraints_shorthand_and_json(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMSCLI_PRINCIPAL", ADMIN)
    key = cli("create-key", "--policy", policy_doc()).json()["KeyMetadata"]["KeyId"]
    short = cli(
        "create-grant",
        "--key-id",
        key,
        "--grantee-principal",
        EVE,
        "--operations",
        "Decrypt",
        "Encrypt",
        "--constraints",
        "EncryptionContextSubset={tenant=t1}",
    )
    assert short.code == 0, short.err
    assert_output_shape("CreateGrant", short.json())
    as_json = cli(
        "create-grant",
        "--key-id",
        key,
        "--grantee-principal",
        EVE,
        "--operations",
        "Decrypt",
        "--constraints",
        json.dumps({"EncryptionContextEquals": {"a": "b"}}),
        "--name",
        "n1",
    )
    assert as_json.code == 0, as_json.err
    listed = cli("list-grants", "--key-id", key)
    assert listed.code == 0, listed.err
    assert_output_shape("ListGrants", listed.json(), paginated=True)
    by_id = {g["GrantId"]: g for g in listed.json()["Grants"]}
    assert by_id[short.json()["GrantId"]]["Constraints"] == {"EncryptionContextSubset": {"tenant": "t1"}}
    assert by_id[short.json()["GrantId"]]["Operations"] == ["Decrypt", "Encrypt"]
    assert by_id[as_json.json()["GrantId"]]["Name"] == "n1"
    retirable = cli("list-retirable-grants", "--retiring-principal", RETIRER)
    assert retirable.code == 0, retirable.err
    assert_output_shape("ListRetirableGrants", retirable.json(), paginated=True)
    monkeypatch.setenv("KMSCLI_PRINCIPAL", EVE)
    enc = cli(
        "encrypt",
        "--key-id",
        key,
        "--plaintext",
        base64.b64encode(b"x").decode(),
        "--encryption-context",
        "tenant=t1",
        "--grant-tokens",
        short.json()["GrantToken"],
    )
    assert enc.code == 0, enc.err
    bad = cli("encrypt", "--key-id", key, "--plaintext", "eA==", "--grant-tokens", "garbage")
    assert bad.code == 254 and "(InvalidGrantTokenException)" in bad.err
    revoke = cli("revoke-grant", "--key-id", key, "--grant-id", short.json()["GrantId"])
    assert (
        revoke.code == 254 and "(AccessDeniedException) when calling the RevokeGrant operation" in revoke.err
    )
