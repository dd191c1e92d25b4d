"""Issue 14 item 6: case-variant duplicates (``dept``/``Dept``, tags ``Env``/``env``) must not defeat
a Deny statement or a grant constraint.

AWS: condition key names are not case sensitive (``kms:EncryptionContext:<key>``,
``aws:ResourceTag/<key>`` included); encryption context keys and tag keys are. Where two spellings
meet, a Deny that would apply under any of them applies, an Allow must apply under each, and a
grant's Equals/Subset constraint compares the exact pairs.
"""

from __future__ import annotations

from typing import Any

import pytest

from kmscli import errors
from tests.service.test_policy_ops import ADMIN, BOB, EVE, app_user, as_principal, policy_doc


def deny(**condition: Any) -> dict[str, Any]:
    return {
        "Sid": "DenySecret",
        "Effect": "Deny",
        "Principal": {"AWS": BOB},
        "Action": ["kms:Encrypt", "kms:GenerateDataKey", "kms:TagResource"],
        "Resource": "*",
        "Condition": condition,
    }


@pytest.fixture
def make_key(kms: Any, service: Any) -> Any:
    def make(*statements: dict[str, Any]) -> str:
        as_principal(service, ADMIN)
        key = str(kms("CreateKey", Policy=policy_doc(*statements))["KeyMetadata"]["KeyId"])
        return key

    return make


def test_context_deny_is_not_bypassed_by_a_case_variant(kms: Any, service: Any, make_key: Any) -> None:
    key = make_key(app_user(), deny(StringEquals={"kms:EncryptionContext:dept": "secret"}))
    as_principal(service, BOB)
    for context in (
        {"dept": "secret"},
        {"Dept": "secret"},  # the condition key's name is not case sensitive (AWS)
        {"dept": "secret", "Dept": "x"},  # the bypass of issue 14
        {"Dept": "x", "dept": "secret"},
        {"DEPT": "x", "dept": "y", "dEpt": "secret"},
    ):
        with pytest.raises(errors.AccessDeniedException, match="explicit deny"):
            kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext=context)
    assert kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"dept": "x", "Dept": "y"})


def test_negated_deny_applies_under_any_variant(kms: Any, service: Any, make_key: Any) -> None:
    """``Deny unless dept=public``: a second spelling with another value is caught too."""
    key = make_key(app_user(), deny(StringNotEquals={"kms:EncryptionContext:dept": "public"}))
    as_principal(service, BOB)
    assert kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"dept": "public"})
    with pytest.raises(errors.AccessDeniedException):
        kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"dept": "public", "DEPT": "secret"})


def test_conditional_allow_must_hold_under_every_variant(kms: Any, service: Any, make_key: Any) -> None:
    key = make_key(app_user(StringEquals={"kms:EncryptionContext:tenant": "t1"}))
    as_principal(service, BOB)
    assert kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"Tenant": "t1"})
    with pytest.raises(errors.AccessDeniedException, match="no resource-based policy"):
        kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"tenant": "t2", "TENANT": "t1"})


def _eve_granted(kms: Any, service: Any, key: str, constraint: str) -> None:
    """A grant to EVE for Encrypt under ``constraint`` {tenant: t1}; EVE becomes the caller."""
    constraints = {constraint: {"tenant": "t1"}}
    kms("CreateGrant", KeyId=key, GranteePrincipal=EVE, Operations=["Encrypt"], Constraints=constraints)
    as_principal(service, EVE)


def test_equals_grant_compares_exact_pairs_when_keys_collide(kms: Any, service: Any, make_key: Any) -> None:
    key = make_key()
    _eve_granted(kms, service, key, "EncryptionContextEquals")
    assert kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"TENANT": "t1"})  # AWS: key folded
    for context in (
        {"tenant": "t2", "TENANT": "t1"},
        {"TENANT": "t1", "tenant": "t2"},
        {"tenant": "t1", "Tenant": "t1"},
    ):
        with pytest.raises(errors.AccessDeniedException):
            kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext=context)


def test_subset_grant_compares_exact_pairs_when_keys_collide(kms: Any, service: Any, make_key: Any) -> None:
    key = make_key()
    _eve_granted(kms, service, key, "EncryptionContextSubset")
    assert kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"Tenant": "t1", "x": "y"})
    with pytest.raises(errors.AccessDeniedException):
        kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"tenant": "t2", "TENANT": "t1"})
    # the exact pair is there: the grant's constraint holds (the ciphertext binds both pairs)
    assert kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"tenant": "t1", "TENANT": "t2"})


def test_resource_tag_deny_is_not_bypassed_by_a_second_tag(kms: Any, service: Any, make_key: Any) -> None:
    key = make_key(app_user(), deny(StringEquals={"aws:ResourceTag/Env": "prod"}))
    kms("TagResource", KeyId=key, Tags=[{"TagKey": "Env", "TagValue": "prod"}])
    as_principal(service, BOB)
    with pytest.raises(errors.AccessDeniedException, match="explicit deny"):
        kms("Encrypt", KeyId=key, Plaintext=b"p")
    as_principal(service, ADMIN)
    kms("TagResource", KeyId=key, Tags=[{"TagKey": "env", "TagValue": "dev"}])  # tag keys are case sensitive
    record = service.vault.load_key(service.identity.region, key)
    assert {t["TagKey"] for t in record["Tags"]} == {"Env", "env"}
    as_principal(service, BOB)
    with pytest.raises(errors.AccessDeniedException, match="explicit deny"):
        kms("Encrypt", KeyId=key, Plaintext=b"p")


def test_request_tag_deny_is_not_bypassed_by_a_second_tag(kms: Any, service: Any, make_key: Any) -> None:
    user = app_user()
    user["Action"].append("kms:TagResource")
    key = make_key(user, deny(StringEquals={"aws:RequestTag/Env": "prod"}))
    as_principal(service, BOB)
    for tags in (
        [{"TagKey": "Env", "TagValue": "prod"}],
        [{"TagKey": "env", "TagValue": "prod"}],
        [{"TagKey": "Env", "TagValue": "prod"}, {"TagKey": "env", "TagValue": "dev"}],
        [{"TagKey": "env", "TagValue": "dev"}, {"TagKey": "Env", "TagValue": "prod"}],
    ):
        with pytest.raises(errors.AccessDeniedException, match="explicit deny"):
            kms("TagResource", KeyId=key, Tags=tags)
    kms(
        "TagResource",
        KeyId=key,
        Tags=[{"TagKey": "Env", "TagValue": "dev"}, {"TagKey": "env", "TagValue": "qa"}],
    )


def test_simulate_explains_the_variants(kms: Any, service: Any, make_key: Any) -> None:
    from kmscli.service.features.policy_inspect import simulate

    key = make_key(app_user(), deny(StringEquals={"kms:EncryptionContext:dept": "secret"}))
    out = simulate(service, key, BOB, "kms:Encrypt", encryption_context={"dept": "secret", "Dept": "x"})
    assert out["Decision"] == "ExplicitDeny"
    reason = out["ConditionsEvaluated"][0]["Reason"]
    assert "spells this key 2 ways" in reason and "a Deny applies if any applies" in reason


def test_a_child_grant_is_as_strict_only_by_exact_pairs_when_keys_collide() -> None:
    """CreateGrant through a constrained grant: the child's constraint is compared the same way."""
    from kmscli.policy.grants import at_least_as_strict

    equals = {"EncryptionContextEquals": {"tenant": "t1"}}
    subset = {"EncryptionContextSubset": {"tenant": "t1"}}
    assert at_least_as_strict({"EncryptionContextEquals": {"TENANT": "t1"}}, equals)  # AWS: key folded
    assert not at_least_as_strict({"EncryptionContextEquals": {"tenant": "t1", "TENANT": "t2"}}, equals)
    assert at_least_as_strict({"EncryptionContextSubset": {"Tenant": "t1", "x": "y"}}, subset)
    assert not at_least_as_strict({"EncryptionContextSubset": {"tenant": "t2", "TENANT": "t1"}}, subset)
    assert not at_least_as_strict({"EncryptionContextEquals": {"TENANT": "t1", "tenant": "t2"}}, subset)
    assert not at_least_as_strict(None, subset)


def test_each_deny_test_may_be_met_by_a_different_spelling(kms: Any, service: Any, make_key: Any) -> None:
    """Two tests on one key (the policy spells it twice): each is met by one of the request's spellings."""
    both = deny(
        StringEquals={"kms:EncryptionContext:dept": "secret"},
        StringLike={"kms:EncryptionContext:DEPT": "x*"},
    )
    key = make_key(app_user(), both)
    as_principal(service, BOB)
    assert kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"dept": "secret"})  # StringLike unmet
    with pytest.raises(errors.AccessDeniedException, match="explicit deny"):
        kms("Encrypt", KeyId=key, Plaintext=b"p", EncryptionContext={"dept": "secret", "Dept": "xy"})
