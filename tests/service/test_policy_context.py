"""The request context of real calls: the condition keys AWS puts in it, and the ones it leaves out.

Sources (AWS documentation):
  GLOBAL  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
          (each key's "Availability"; aws:PrincipalType values from "Principal key values" in
          https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html)
  KMSAWS  https://docs.aws.amazon.com/kms/latest/developerguide/conditions-aws.html
          ("AWS KMS supports all global condition keys")
  KMSCOND https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
"""

from __future__ import annotations

from typing import Any

import pytest

from kmscli import errors
from tests.service.test_policy_ops import ACCOUNT, ADMIN, ALICE, BOB, ROOT, app_user, as_principal, policy_doc

SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/App/s1"
FEDERATED = f"arn:aws:sts::{ACCOUNT}:federated-user/Carol"
PATH_USER = f"arn:aws:iam::{ACCOUNT}:user/division/Dave"


def deny_all(**condition: Any) -> dict[str, Any]:
    """A Deny of every action to everyone, under a condition."""
    return {
        "Sid": "Guard",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": condition,
    }


def key_for(kms: Any, service: Any, *statements: dict[str, Any], bypass: bool = False) -> str:
    as_principal(service, ADMIN)
    more = {"BypassPolicyLockoutSafetyCheck": True} if bypass else {}
    return str(kms("CreateKey", Policy=policy_doc(*statements), **more)["KeyMetadata"]["KeyId"])


# -- global keys that are always present (GLOBAL "Availability") -------------------------------------


def test_requested_region_is_present(kms: Any, service: Any) -> None:
    # GLOBAL aws:RequestedRegion: "This key is always included in the request context." A Deny outside
    # the allowed regions must not deny a call made in one of them (it denied every call before).
    kid = key_for(kms, service, deny_all(StringNotEquals={"aws:RequestedRegion": "us-east-1"}))
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyId"] == kid
    other = key_for(kms, service, deny_all(StringNotEquals={"aws:RequestedRegion": "eu-west-1"}), bypass=True)
    with pytest.raises(errors.AccessDeniedException, match="explicit deny"):
        kms("DescribeKey", KeyId=other)


@pytest.mark.parametrize(
    ("caller", "kind"),
    [
        (ROOT, "Account"),
        (BOB, "User"),
        (SESSION, "AssumedRole"),
        (f"arn:aws:iam::{ACCOUNT}:role/App", "AssumedRole"),
        (FEDERATED, "FederatedUser"),
    ],
)
def test_principal_type_is_present(kms: Any, service: Any, caller: str, kind: str) -> None:
    # GLOBAL aws:PrincipalType: "included in the request context for all requests"
    user = app_user(f"arn:aws:iam::{ACCOUNT}:root", StringEquals={"aws:PrincipalType": kind})
    kid = key_for(kms, service, user)
    as_principal(service, caller)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyId"] == kid
    wrong = "User" if kind != "User" else "Account"
    kid2 = key_for(
        kms, service, app_user(f"arn:aws:iam::{ACCOUNT}:root", StringEquals={"aws:PrincipalType": wrong})
    )
    as_principal(service, caller)
    with pytest.raises(errors.AccessDeniedException):
        kms("DescribeKey", KeyId=kid2)


@pytest.mark.parametrize("key", ["aws:PrincipalIsAWSService", "aws:ViaAWSService"])
def test_direct_call_is_not_by_or_via_a_service(kms: Any, service: Any, key: str) -> None:
    # GLOBAL: both keys are present for a signed request and false when an IAM principal calls directly
    kid = key_for(kms, service, app_user(Bool={key: "false"}))
    as_principal(service, BOB)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyId"] == kid
    kid2 = key_for(kms, service, app_user(Bool={key: "true"}))
    as_principal(service, BOB)
    with pytest.raises(errors.AccessDeniedException):
        kms("DescribeKey", KeyId=kid2)


def test_resource_account_is_the_key_owner(kms: Any, service: Any) -> None:
    # GLOBAL aws:ResourceAccount: "always included in the request context for most service actions"
    kid = key_for(kms, service, deny_all(StringNotEquals={"aws:ResourceAccount": ACCOUNT}))
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyId"] == kid


@pytest.mark.parametrize(("caller", "name"), [(BOB, "Bob"), (PATH_USER, "Dave")])
def test_username_is_present_for_iam_users(kms: Any, service: Any, caller: str, name: str) -> None:
    # GLOBAL aws:username: "always included in the request context for IAM users" (the friendly name)
    kid = key_for(kms, service, app_user(f"arn:aws:iam::{ACCOUNT}:root", StringEquals={"aws:username": name}))
    as_principal(service, caller)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyId"] == kid
    as_principal(service, ALICE)
    with pytest.raises(errors.AccessDeniedException):
        kms("DescribeKey", KeyId=kid)


@pytest.mark.parametrize("caller", [ROOT, SESSION, FEDERATED])
def test_username_is_absent_for_other_principals(kms: Any, service: Any, caller: str) -> None:
    # GLOBAL aws:username: requests by the root user or IAM roles "do not include this key"
    kid = key_for(kms, service, app_user(f"arn:aws:iam::{ACCOUNT}:root", Null={"aws:username": "true"}))
    as_principal(service, caller)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyId"] == kid
    as_principal(service, BOB)
    with pytest.raises(errors.AccessDeniedException):
        kms("DescribeKey", KeyId=kid)


@pytest.mark.parametrize(
    ("caller", "userid"),
    [
        (ROOT, ACCOUNT),
        ("arn:aws:iam::444455556666:root", "444455556666"),
        (BOB, None),  # AIDA + a stable id: the principalId of the caller's audit events
        (SESSION, None),  # AROA...:s1
    ],
)
def test_userid_is_present_and_is_the_audited_principal_id(
    kms: Any, service: Any, caller: str, userid: str | None
) -> None:
    # GLOBAL aws:userid: "always included in the request context for all signed requests"; kmscli
    # has no IAM unique ids, so it is the principalId the caller's audit events carry
    from kmscli.audit.events import user_identity

    expected = user_identity(caller, ACCOUNT)["principalId"]
    if userid is not None:
        assert expected == userid
    if caller == SESSION:
        assert expected.startswith("AROA") and expected.endswith(":s1")
    kid = key_for(kms, service, app_user("*", StringEquals={"aws:userid": expected}))
    as_principal(service, caller)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyId"] == kid
    as_principal(service, ALICE)
    with pytest.raises(errors.AccessDeniedException):
        kms("DescribeKey", KeyId=kid)


def test_userid_as_a_policy_variable(kms: Any, service: Any) -> None:
    # ${aws:userid} in a condition: each caller may use only contexts that name itself
    from kmscli.audit.events import user_identity

    mine = app_user("*", StringEquals={"kms:EncryptionContext:owner": "${aws:userid}"})
    kid = key_for(kms, service, mine)
    as_principal(service, BOB)
    own = {"owner": user_identity(BOB, ACCOUNT)["principalId"]}
    assert kms("Encrypt", KeyId=kid, Plaintext=b"x", EncryptionContext=own)["KeyId"].endswith(kid)
    with pytest.raises(errors.AccessDeniedException):
        kms("Encrypt", KeyId=kid, Plaintext=b"x", EncryptionContext={"owner": ACCOUNT})


def _describes(kms: Any, kid: str, allowed: bool) -> None:
    """DescribeKey by the current caller is allowed, or denied."""
    if allowed:
        assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyId"] == kid
    else:
        with pytest.raises(errors.AccessDeniedException):
            kms("DescribeKey", KeyId=kid)


def _over_the_wire(service: Any, **network: Any) -> None:
    """Make the in-process caller look like kmscli serve's (docs/serve.md): address, agent, TLS."""
    service.identity = service.identity._replace(**network)


@pytest.mark.parametrize(
    ("network", "allowed"),
    [
        ({}, True),  # a local call has no transport: the key is absent and the Deny does not match
        ({"secure_transport": True}, True),
        ({"secure_transport": False}, False),
    ],
)
def test_secure_transport_comes_from_the_server(kms: Any, service: Any, network: Any, allowed: bool) -> None:
    # GLOBAL aws:SecureTransport: whether the request was sent over TLS; the common guard below
    kid = key_for(kms, service, app_user(ROOT), deny_all(Bool={"aws:SecureTransport": "false"}), bypass=True)
    as_principal(service, ROOT)
    _over_the_wire(service, **network)
    _describes(kms, kid, allowed)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [("10.1.2.3", True), ("192.0.2.7", False), (None, False), ("::1", False)],
)
def test_source_ip_comes_from_the_server(kms: Any, service: Any, address: str | None, allowed: bool) -> None:
    # GLOBAL aws:SourceIp: the requester's address; a local call has none, so IpAddress fails on it
    kid = key_for(kms, service, app_user(BOB, IpAddress={"aws:SourceIp": "10.0.0.0/8"}))
    as_principal(service, BOB)
    _over_the_wire(service, source_ip=address)
    _describes(kms, kid, allowed)


def test_user_agent_comes_from_the_server(kms: Any, service: Any) -> None:
    kid = key_for(kms, service, app_user(BOB, StringLike={"aws:UserAgent": "Boto3/*"}))
    as_principal(service, BOB)
    _over_the_wire(service, user_agent="Boto3/1.40.0 md/Botocore#1.40.0")
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyId"] == kid
    _over_the_wire(service, user_agent="curl/8.0")
    with pytest.raises(errors.AccessDeniedException):
        kms("DescribeKey", KeyId=kid)


def test_a_simulated_principal_does_not_borrow_the_callers_network(kms: Any, service: Any) -> None:
    # policy simulate decides for another principal: the operator's own address is not its address
    from kmscli.service.features.policy_inspect import simulate

    kid = key_for(kms, service, app_user(BOB, IpAddress={"aws:SourceIp": "10.0.0.0/8"}))
    as_principal(service, ADMIN)
    _over_the_wire(service, source_ip="10.1.2.3")
    assert simulate(service, kid, BOB, "kms:DescribeKey")["Decision"] == "ImplicitDeny"
    given = simulate(service, kid, BOB, "kms:DescribeKey", conditions={"aws:SourceIp": "10.9.9.9"})
    assert given["Decision"] == "Allowed"


# -- KMS keys on the operations AWS lists for them (KMSCOND) ------------------------------------------


def _bypass_policy(*guard: dict[str, Any]) -> str:
    return policy_doc(*guard)


def test_bypass_lockout_check_key_is_in_put_key_policy(kms: Any, service: Any) -> None:
    # KMSCOND kms:BypassPolicyLockoutSafetyCheck controls PutKeyPolicy; a Deny on true must stop a
    # bypassing PutKeyPolicy (before, the key was never in the request and the Deny never applied)
    guard = {
        "Sid": "NoBypass",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:PutKeyPolicy",
        "Resource": "*",
        "Condition": {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}},
    }
    text = _bypass_policy(guard)
    kid = key_for(kms, service, guard)
    with pytest.raises(errors.AccessDeniedException, match="explicit deny"):
        kms("PutKeyPolicy", KeyId=kid, Policy=text, BypassPolicyLockoutSafetyCheck=True)
    assert kms("PutKeyPolicy", KeyId=kid, Policy=text, BypassPolicyLockoutSafetyCheck=False) == {}
    assert kms("PutKeyPolicy", KeyId=kid, Policy=text) == {}


def test_bypass_lockout_check_key_is_absent_without_the_parameter(kms: Any, service: Any) -> None:
    # KMSCOND: an Allow with Null kms:BypassPolicyLockoutSafetyCheck true allows PutKeyPolicy "only when
    # the request does not include the BypassPolicyLockoutSafetyCheck parameter"
    allow = {
        "Sid": "PolicyAdmin",
        "Effect": "Allow",
        "Principal": {"AWS": BOB},
        "Action": "kms:PutKeyPolicy",
        "Resource": "*",
        "Condition": {"Null": {"kms:BypassPolicyLockoutSafetyCheck": "true"}},
    }
    kid = key_for(kms, service, allow)
    as_principal(service, BOB)
    text = policy_doc(allow)
    assert kms("PutKeyPolicy", KeyId=kid, Policy=text) == {}
    for value in (True, False):
        with pytest.raises(errors.AccessDeniedException):
            kms("PutKeyPolicy", KeyId=kid, Policy=text, BypassPolicyLockoutSafetyCheck=value)


@pytest.mark.parametrize("operation", ["ListGrants", "RevokeGrant"])
def test_grant_is_for_aws_resource_on_list_and_revoke(kms: Any, service: Any, operation: str) -> None:
    # KMSCOND kms:GrantIsForAWSResource applies to CreateGrant, ListGrants and RevokeGrant; a direct call
    # is not for an AWS resource, so a Deny on false applies to it
    guard = deny_all(Bool={"kms:GrantIsForAWSResource": "false"})
    guard["Action"] = f"kms:{operation}"
    kid = key_for(kms, service, guard)
    request: dict[str, Any] = {"KeyId": kid}
    if operation == "RevokeGrant":
        request["GrantId"] = "0" * 64
    with pytest.raises(errors.AccessDeniedException, match="explicit deny"):
        kms(operation, **request)


def test_request_alias_is_not_a_key_of_alias_operations(kms: Any, service: Any) -> None:
    # KMSCOND kms:RequestAlias: "You cannot use this condition key to control access to alias
    # operations, such as CreateAlias or DeleteAlias" -- it is absent there, so Null true holds
    aliaser = {
        "Sid": "Aliases",
        "Effect": "Allow",
        "Principal": {"AWS": BOB},
        "Action": ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"],
        "Resource": "*",
        "Condition": {"Null": {"kms:RequestAlias": "true"}},
    }
    kid = key_for(kms, service, aliaser)
    kid2 = key_for(kms, service, aliaser)
    as_principal(service, BOB)
    kms("CreateAlias", AliasName="alias/team", TargetKeyId=kid)
    kms("UpdateAlias", AliasName="alias/team", TargetKeyId=kid2)
    kms("DeleteAlias", AliasName="alias/team")


def test_request_alias_is_only_for_crypto_describe_and_public_key(kms: Any, service: Any) -> None:
    # KMSCOND kms:RequestAlias applies to cryptographic operations, DescribeKey and GetPublicKey; the
    # other operations carry no kms:RequestAlias (and DisableKey takes no alias: AWS's KeyId is a key
    # id or key ARN there)
    statement = app_user(StringEquals={"kms:RequestAlias": "alias/app"})
    statement["Action"] = ["kms:DescribeKey", "kms:DisableKey"]
    kid = key_for(kms, service, statement)
    kms("CreateAlias", AliasName="alias/app", TargetKeyId=kid)
    as_principal(service, BOB)
    assert kms("DescribeKey", KeyId="alias/app")["KeyMetadata"]["KeyId"] == kid
    with pytest.raises(errors.AccessDeniedException):
        kms("DisableKey", KeyId=kid)
    with pytest.raises(errors.NotFoundException):
        kms("DisableKey", KeyId="alias/app")


# -- kms:ReEncryptOnSameKey (KMSCOND; the KMS service authorization reference lists it for the
# -- ReEncryptFrom and ReEncryptTo permissions only) ---------------------------------------------------


ENCRYPTER = {
    "Sid": "Encrypter",
    "Effect": "Allow",
    "Principal": {"AWS": BOB},
    "Action": ["kms:Encrypt", "kms:DescribeKey"],
    "Resource": "*",
}


def re_encrypter(**condition: Any) -> dict[str, Any]:
    """Bob may re-encrypt from and to the key, under a condition."""
    out: dict[str, Any] = {
        "Sid": "ReEncrypter",
        "Effect": "Allow",
        "Principal": {"AWS": BOB},
        "Action": ["kms:ReEncryptFrom", "kms:ReEncryptTo"],
        "Resource": "*",
    }
    if condition:
        out["Condition"] = condition
    return out


def _two_keys(kms: Any, service: Any, *statements: dict[str, Any]) -> tuple[str, str, bytes]:
    """Two keys under the same policy (ENCRYPTER and ``statements``), and a ciphertext of the first."""
    first = key_for(kms, service, ENCRYPTER, *statements)
    second = key_for(kms, service, ENCRYPTER, *statements)
    as_principal(service, BOB)
    blob = kms("Encrypt", KeyId=first, Plaintext=b"secret")["CiphertextBlob"]
    return first, second, bytes(blob)


def test_reencrypt_on_same_key_false_allows_only_another_key(kms: Any, service: Any) -> None:
    # an Allow on ReEncrypt* with Bool kms:ReEncryptOnSameKey false: re-encrypting onto another key
    # passes, onto the same key is denied (by ReEncryptTo, the first permission checked)
    first, second, blob = _two_keys(kms, service, re_encrypter(Bool={"kms:ReEncryptOnSameKey": "false"}))
    moved = kms("ReEncrypt", CiphertextBlob=blob, DestinationKeyId=second)
    assert moved["KeyId"].endswith(second) and moved["SourceKeyId"].endswith(first)
    with pytest.raises(errors.AccessDeniedException, match="kms:ReEncryptTo"):
        kms("ReEncrypt", CiphertextBlob=blob, DestinationKeyId=first)
    with pytest.raises(errors.AccessDeniedException, match="kms:ReEncryptTo"):
        kms("ReEncrypt", CiphertextBlob=blob, SourceKeyId=first, DestinationKeyId=first)


def test_reencrypt_on_same_key_deny_on_the_source_side(kms: Any, service: Any) -> None:
    # a Deny of ReEncryptFrom alone on same-key re-encryption: ReEncryptTo passes, ReEncryptFrom is
    # explicitly denied (the key is in the request of the source side too)
    guard = deny_all(Bool={"kms:ReEncryptOnSameKey": "true"})
    guard["Action"] = "kms:ReEncryptFrom"
    first, second, blob = _two_keys(kms, service, re_encrypter(), guard)
    with pytest.raises(errors.AccessDeniedException, match=r"kms:ReEncryptFrom .*explicit deny"):
        kms("ReEncrypt", CiphertextBlob=blob, DestinationKeyId=first)
    assert kms("ReEncrypt", CiphertextBlob=blob, DestinationKeyId=second)["KeyId"].endswith(second)


def test_reencrypt_on_same_key_follows_an_alias(kms: Any, service: Any) -> None:
    # the destination named by an alias of the source key is the same key
    first, second, blob = _two_keys(kms, service, re_encrypter(Bool={"kms:ReEncryptOnSameKey": "true"}))
    as_principal(service, ADMIN)
    kms("CreateAlias", AliasName="alias/same", TargetKeyId=first)
    as_principal(service, BOB)
    assert kms("ReEncrypt", CiphertextBlob=blob, DestinationKeyId="alias/same")["KeyId"].endswith(first)
    with pytest.raises(errors.AccessDeniedException, match="kms:ReEncryptTo"):
        kms("ReEncrypt", CiphertextBlob=blob, DestinationKeyId=second)


def test_reencrypt_on_same_key_is_absent_from_other_operations(kms: Any, service: Any) -> None:
    # only ReEncryptFrom and ReEncryptTo carry the key: on Encrypt and DescribeKey it is absent
    absent = dict(ENCRYPTER, Condition={"Null": {"kms:ReEncryptOnSameKey": "true"}})
    kid = key_for(kms, service, absent)
    as_principal(service, BOB)
    kms("Encrypt", KeyId=kid, Plaintext=b"x")
    kms("DescribeKey", KeyId=kid)
    present = dict(ENCRYPTER, Condition={"Null": {"kms:ReEncryptOnSameKey": "false"}})
    kid2 = key_for(kms, service, present)
    as_principal(service, BOB)
    with pytest.raises(errors.AccessDeniedException):
        kms("Encrypt", KeyId=kid2, Plaintext=b"x")


def test_reencrypt_on_same_key_with_an_incorrect_source_key(kms: Any, service: Any) -> None:
    # SourceKeyId naming another key than the ciphertext's: AWS KMS uses only the named key, so the
    # pair is (named key, destination); the call still fails as IncorrectKey once both sides pass
    first, second, blob = _two_keys(kms, service, re_encrypter(Bool={"kms:ReEncryptOnSameKey": "true"}))
    with pytest.raises(errors.IncorrectKeyException):
        kms("ReEncrypt", CiphertextBlob=blob, SourceKeyId=second, DestinationKeyId=second)
    with pytest.raises(errors.AccessDeniedException, match="kms:ReEncryptTo"):
        kms("ReEncrypt", CiphertextBlob=blob, SourceKeyId=second, DestinationKeyId=first)


def test_reencrypt_on_same_key_with_an_asymmetric_source(kms: Any, service: Any) -> None:
    # an RSA source is named by SourceKeyId; re-encrypting onto a symmetric key is never the same key
    statements = (ENCRYPTER, re_encrypter(Bool={"kms:ReEncryptOnSameKey": "false"}))
    as_principal(service, ADMIN)
    created = kms("CreateKey", KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT", Policy=policy_doc(*statements))
    rsa = str(created["KeyMetadata"]["KeyId"])
    sym = key_for(kms, service, *statements)
    as_principal(service, BOB)
    alg = "RSAES_OAEP_SHA_256"
    blob = kms("Encrypt", KeyId=rsa, Plaintext=b"x", EncryptionAlgorithm=alg)["CiphertextBlob"]
    out = kms(
        "ReEncrypt", CiphertextBlob=blob, SourceKeyId=rsa, SourceEncryptionAlgorithm=alg, DestinationKeyId=sym
    )
    assert out["KeyId"].endswith(sym)
    with pytest.raises(errors.AccessDeniedException, match="kms:ReEncryptTo"):
        kms(
            "ReEncrypt",
            CiphertextBlob=blob,
            SourceKeyId=rsa,
            SourceEncryptionAlgorithm=alg,
            DestinationKeyId=rsa,
            DestinationEncryptionAlgorithm=alg,
        )
