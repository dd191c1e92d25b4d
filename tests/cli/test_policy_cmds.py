"""``kmscli policy show|simulate|who-can|lint``: data, rich view, exit codes; lint rules one by one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmscli.policy.analysis import lint
from tests.service.test_policy_ops import ACCOUNT, ADMIN, ROOT, events, policy_doc

BOB = f"arn:aws:iam::{ACCOUNT}:user/Bob"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/Alice"
EVE = "arn:aws:iam::444455556666:user/Eve"
ENCRYPTOR = f"arn:aws:iam::{ACCOUNT}:role/Encryptor"

USER_STMT = {
    "Sid": "KeyUsers",
    "Effect": "Allow",
    "Principal": {"AWS": BOB},
    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
    "Resource": "*",
    "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "t1"}},
}
ENCRYPT_ONLY = {
    "Sid": "EncryptOnly",
    "Effect": "Allow",
    "Principal": {"AWS": ENCRYPTOR},
    "Action": "kms:Encrypt",
    "Resource": "*",
}
DENY_ALICE = {
    "Sid": "NoAlice",
    "Effect": "Deny",
    "Principal": {"AWS": ALICE},
    "Action": "kms:Decrypt",
    "Resource": "*",
}


@pytest.fixture
def key(cli: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A key with administrators, a conditional key user, an explicit deny and a grant; caller ADMIN."""
    monkeypatch.setenv("KMSCLI_PRINCIPAL", ADMIN)
    doc = policy_doc(USER_STMT, DENY_ALICE, ENCRYPT_ONLY)
    res = cli("create-key", "--policy", doc)
    assert res.code == 0, res.err
    kid = str(res.json()["KeyMetadata"]["KeyId"])
    grant = cli(
        "create-grant",
        "--key-id",
        kid,
        "--grantee-principal",
        EVE,
        "--operations",
        "Decrypt",
        "--constraints",
        "EncryptionContextSubset={tenant=t9}",
    )
    assert grant.code == 0, grant.err
    return kid


def test_show_json_lists_roles_grants_and_separation(cli: Any, key: str) -> None:
    res = cli("policy", "show", "--key-id", key, "--output", "json")
    assert res.code == 0, res.err
    data = res.json()
    assert [s.get("Sid") for s in data["Statements"]] == ["Admin", "KeyUsers", "NoAlice", "EncryptOnly"]
    assert data["Statements"][0]["Role"] == "KeyAdministrators"
    assert data["Statements"][1]["Role"] == "KeyUsers"
    assert data["Statements"][1]["Conditions"] == [
        {"Operator": "StringEquals", "Key": "kms:EncryptionContext:tenant", "Values": ["t1"]}
    ]
    assert data["Statements"][2]["Role"] == "Deny"
    assert data["KeyAdministrators"] == [ADMIN]
    assert data["KeyUsers"] == [BOB, ENCRYPTOR, EVE]
    assert data["Separation"]["Separated"] is True
    assert data["Grants"][0]["Constraints"] == {"EncryptionContextSubset": {"tenant": "t9"}}


def test_show_rich_view_calls_out_separation(cli: Any, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMSCLI_PRINCIPAL", ADMIN)
    res = cli("policy", "show", "--key-id", key, "--output", "table")
    assert res.code == 0, res.err
    for needle in (
        "KeyUsers",
        "key administrators",
        "key users",
        "Separation of duties",
        "Grants",
        "StringEquals",
        "tenant",
        "Decrypt",
    ):
        assert needle in res.out, needle
    assert not res.out.lstrip().startswith("{")


def test_show_default_policy_flags_nothing_for_root(cli: Any) -> None:
    kid = cli("create-key").json()["KeyMetadata"]["KeyId"]
    data = cli("policy", "show", "--key-id", kid, "--output", "json").json()
    assert data["KeyAdministrators"] == [ROOT] and data["KeyUsers"] == [ROOT]
    assert data["Separation"]["Separated"] is True  # root delegation is AWS's default, not a finding


@pytest.mark.parametrize(
    ("principal", "context", "decision", "decided", "code"),
    [
        (
            BOB,
            "tenant=t1",
            "Allowed",
            {"Type": "Statement", "Index": 1, "Sid": "KeyUsers", "Effect": "Allow"},
            0,
        ),
        (BOB, "tenant=t2", "ImplicitDeny", None, 1),
        (
            ALICE,
            "tenant=t1",
            "ExplicitDeny",
            {"Type": "Statement", "Index": 2, "Sid": "NoAlice", "Effect": "Deny"},
            1,
        ),
        (EVE, '{"tenant": "t9"}', "Allowed", "grant", 0),
        (EVE, "tenant=t1", "ImplicitDeny", None, 1),
    ],
    ids=["user-allowed", "user-wrong-context", "explicit-deny", "grant", "grant-constraint"],
)
def test_simulate_decides_like_the_real_call(
    cli: Any,
    key: str,
    vault: Path,
    monkeypatch: pytest.MonkeyPatch,
    principal: str,
    context: str,
    decision: str,
    decided: Any,
    code: int,
) -> None:
    before = len(events(vault))
    sim = cli(
        "policy",
        "simulate",
        "--key-id",
        key,
        "--principal",
        principal,
        "--action",
        "kms:Decrypt",
        "--encryption-context",
        context,
        "--output",
        "json",
    )
    assert sim.code == code, sim.err
    data = sim.json()
    assert data["Decision"] == decision
    if decided == "grant":
        assert data["DecidedBy"]["Type"] == "Grant"
    else:
        assert data.get("DecidedBy") == decided
    assert len(events(vault)) == before  # nothing was called
    if principal == BOB:
        assert data["ConditionsEvaluated"][0]["Key"] == "kms:EncryptionContext:tenant"
        assert data["ConditionsEvaluated"][0]["Result"] is (decision == "Allowed")
    if decision != "Allowed":
        assert data["Message"].startswith(f"User: {principal} is not authorized to perform: kms:Decrypt")
    # the real call agrees
    monkeypatch.setenv("KMSCLI_PRINCIPAL", ENCRYPTOR)
    ctx_json = json.loads(context) if context.startswith("{") else dict([context.split("=")])
    enc = cli("encrypt", "--key-id", key, "--plaintext", "eA==", "--encryption-context", json.dumps(ctx_json))
    monkeypatch.setenv("KMSCLI_PRINCIPAL", principal)
    real = cli(
        "decrypt",
        "--ciphertext-blob",
        enc.json()["CiphertextBlob"],
        "--encryption-context",
        json.dumps(ctx_json),
    )
    assert (real.code == 0) == (decision == "Allowed"), real.err


def test_simulate_rich_view_and_bad_input(cli: Any, key: str) -> None:
    res = cli(
        "policy",
        "simulate",
        "--key-id",
        key,
        "--principal",
        BOB,
        "--action",
        "kms:decrypt",
        "--encryption-context",
        "tenant=t1",
        "--output",
        "table",
    )
    assert res.code == 0, res.err
    assert "Allowed" in res.out and "KeyUsers" in res.out and "kms:EncryptionContext:tenant" in res.out
    bad = cli("policy", "simulate", "--key-id", key, "--principal", BOB, "--action", "s3:GetObject")
    assert bad.code == 252 and "not a KMS action" in bad.err
    bad = cli("policy", "simulate", "--key-id", key, "--principal", "bob", "--action", "kms:Decrypt")
    assert bad.code == 252 and "not an IAM principal ARN" in bad.err
    missing = cli(
        "policy", "simulate", "--key-id", "alias/none", "--principal", BOB, "--action", "kms:Decrypt"
    )
    assert (
        missing.code == 254 and "(NotFoundException) when calling the PolicySimulate operation" in missing.err
    )
    decrypt = ("policy", "simulate", "--key-id", key, "--principal", BOB, "--action", "kms:Decrypt")
    token = cli(*decrypt, "--grant-tokens", "junk")
    assert token.code == 254 and "InvalidGrantTokenException" in token.err
    deep = "[" * 5000 + "]" * 5000
    for context in ('{"tenant": ' + deep + "}", '{"tenant": "t1", "tenant": "t2"}'):
        bad = cli(*decrypt, "--encryption-context", context)
        assert bad.code == 252 and "Error parsing parameter '--encryption-context'" in bad.err, bad.err


def test_simulate_other_condition_keys(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMSCLI_PRINCIPAL", ADMIN)
    signer = {
        "Effect": "Allow",
        "Principal": {"AWS": BOB},
        "Action": "kms:Sign",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:RequestAlias": "alias/signer"}
        },
    }
    kid = cli("create-key", "--policy", policy_doc(signer)).json()["KeyMetadata"]["KeyId"]
    args = [
        "policy",
        "simulate",
        "--key-id",
        kid,
        "--principal",
        BOB,
        "--action",
        "kms:Sign",
        "--output",
        "json",
    ]
    assert cli(*args, "--signing-algorithm", "ECDSA_SHA_256").code == 1
    ok = cli(*args, "--signing-algorithm", "ECDSA_SHA_256", "--condition", "kms:RequestAlias=alias/signer")
    assert ok.code == 0, ok.out
    assert cli(*args, "--condition", "RequestAlias").code == 252


def test_simulate_needs_get_key_policy(cli: Any, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMSCLI_PRINCIPAL", BOB)
    res = cli("policy", "show", "--key-id", key)
    assert res.code == 254 and "kms:GetKeyPolicy" in res.err


def test_who_can(cli: Any, key: str) -> None:
    res = cli("policy", "who-can", "--key-id", key, "--action", "kms:Decrypt", "--output", "json")
    assert res.code == 0, res.err
    data = res.json()
    allowed = {(e["Principal"], e["Via"]["Type"]) for e in data["Allowed"]}
    assert allowed == {(BOB, "Statement"), (EVE, "Grant")}
    bob = next(e for e in data["Allowed"] if e["Principal"] == BOB)
    assert bob["Conditions"][0]["Key"] == "kms:EncryptionContext:tenant"
    eve = next(e for e in data["Allowed"] if e["Principal"] == EVE)
    assert eve["Constraints"] == {"EncryptionContextSubset": {"tenant": "t9"}}
    assert [(e["Principal"], e["Unconditional"]) for e in data["Denied"]] == [(ALICE, True)]
    assert data["AnyoneAllowed"] is False
    admins = cli(
        "policy", "who-can", "--key-id", key, "--action", "kms:PutKeyPolicy", "--output", "json"
    ).json()
    assert [e["Principal"] for e in admins["Allowed"]] == [ADMIN]
    table = cli("policy", "who-can", "--key-id", key, "--action", "kms:Decrypt", "--output", "table")
    assert "Explicitly denied" in table.out and "always" in table.out


def test_who_can_flags_anyone_and_overrides(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMSCLI_PRINCIPAL", ADMIN)
    anyone = {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
    deny_eve = {"Effect": "Deny", "Principal": {"AWS": "444455556666"}, "Action": "kms:*", "Resource": "*"}
    allow_eve = {"Effect": "Allow", "Principal": {"AWS": EVE}, "Action": "kms:Decrypt", "Resource": "*"}
    kid = cli("create-key", "--policy", policy_doc(anyone, deny_eve, allow_eve)).json()["KeyMetadata"][
        "KeyId"
    ]
    data = cli("policy", "who-can", "--key-id", kid, "--action", "kms:Decrypt", "--output", "json").json()
    assert data["AnyoneAllowed"] is True
    star = next(e for e in data["Allowed"] if e["Kind"] == "Anyone")
    assert star["Anyone"] is True and "OverriddenBy" not in star
    eve = next(e for e in data["Allowed"] if e["Principal"] == EVE)
    assert eve["OverriddenBy"] == {"Type": "Statement", "Index": 2}
    assert data["Denied"][0]["Kind"] == "Account"


def test_who_can_rejects_unknown_action(cli: Any, key: str) -> None:
    assert cli("policy", "who-can", "--key-id", key, "--action", "kms:Nope").code == 252


def test_lint_cli_key_and_file(cli: Any, key: str, tmp_path: Path) -> None:
    clean = cli("policy", "lint", "--key-id", key, "--output", "json")
    assert clean.code == 0, clean.err
    assert clean.json()["Errors"] == 0
    doc = tmp_path / "p.json"
    doc.write_text(
        json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}]})
    )
    bad = cli("policy", "lint", "--policy", f"file://{doc}", "--output", "json")
    assert bad.code == 1
    assert "WILDCARD_PRINCIPAL" in {f["Code"] for f in bad.json()["Findings"]}
    view = cli("policy", "lint", "--policy", f"file://{doc}", "--output", "table")
    assert view.code == 1 and "WILDCARD_PRINCIPAL" in view.out and "error(s)" in view.out
    assert cli("policy", "lint").code == 252
    assert cli("policy", "lint", "--policy", "file:///nonexistent/p.json").code == 252


# -- lint rules ---------------------------------------------------------------------------------------


def _codes(*statements: dict[str, Any]) -> dict[str, str]:
    report = lint(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))
    return {f["Code"]: f["Level"] for f in report["Findings"]}


ADMIN_STMT = json.loads(policy_doc())["Statement"][0]
USE = ["kms:Encrypt", "kms:Decrypt"]


def allow(principal: Any, action: Any, **more: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": "*", **more}


def test_lint_clean_policy_has_no_findings() -> None:
    assert _codes(ADMIN_STMT, USER_STMT) == {}


def test_lint_knows_the_network_keys_of_served_requests() -> None:
    # docs/policy.md: requests to kmscli serve carry aws:SourceIp, aws:UserAgent, aws:SecureTransport
    network = {
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
        "StringLike": {"aws:UserAgent": "Boto3/*"},
        "Bool": {"aws:SecureTransport": "true"},
        "StringEquals": {"aws:userid": "AIDAEXAMPLE"},
    }
    assert _codes(ADMIN_STMT, allow({"AWS": BOB}, USE, Condition=network)) == {}


@pytest.mark.parametrize(
    ("statements", "code", "level"),
    [
        ([ADMIN_STMT, allow("*", USE)], "WILDCARD_PRINCIPAL", "error"),
        ([ADMIN_STMT, allow({"AWS": "*"}, USE)], "WILDCARD_PRINCIPAL", "error"),
        ([ADMIN_STMT, allow({"AWS": BOB}, "kms:*")], "KMS_STAR_TO_KEY_USER", "warning"),
        ([ADMIN_STMT, allow({"AWS": ADMIN}, USE)], "NO_ADMIN_USER_SEPARATION", "warning"),
        ([ADMIN_STMT, allow({"AWS": BOB}, "kms:Frobnicate")], "UNKNOWN_ACTION", "error"),
        (
            [ADMIN_STMT, allow({"AWS": BOB}, USE, Condition={"StringEquals": {"kms:Colour": "red"}})],
            "UNKNOWN_CONDITION_KEY",
            "warning",
        ),
        (
            [
                ADMIN_STMT,
                allow({"AWS": BOB}, USE, Condition={"StringEquals": {"kms:EncryptionAlgorithm": "AES"}}),
            ],
            "CONDITION_NEVER_MATCHES",
            "warning",
        ),
        (
            [
                ADMIN_STMT,
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                    "Condition": {"NumericLessThan": {"kms:RotationPeriodInDays": "ninety"}},
                },
            ],
            "CONDITION_NEVER_MATCHES",
            "error",
        ),
        (
            [
                ADMIN_STMT,
                allow(
                    {"AWS": BOB},
                    USE,
                    Condition={
                        "NumericGreaterThan": {"kms:RotationPeriodInDays": "200"},
                        "NumericLessThan": {"kms:RotationPeriodInDays": "100"},
                    },
                ),
            ],
            "CONDITION_NEVER_MATCHES",
            "warning",
        ),
        (
            [
                ADMIN_STMT,
                allow(
                    {"AWS": BOB},
                    USE,
                    Condition={
                        "Null": {"kms:EncryptionContextKeys": "true"},
                        "StringEquals": {"kms:EncryptionContextKeys": "a"},
                    },
                ),
            ],
            "CONDITION_NEVER_MATCHES",
            "warning",
        ),
        (
            [ADMIN_STMT, allow({"AWS": BOB}, USE, Condition={"StringEquals": {"kms:CallerAccount": "me"}})],
            "CONDITION_NEVER_MATCHES",
            "warning",
        ),
        (
            [ADMIN_STMT, allow({"AWS": BOB}, USE, Condition={"Bool": {"kms:GrantIsForAWSResource": "yes"}})],
            "CONDITION_NEVER_MATCHES",
            "warning",
        ),
        (
            [ADMIN_STMT, allow({"AWS": BOB}, USE, Condition={"DateLessThan": {"aws:CurrentTime": "soon"}})],
            "CONDITION_NEVER_MATCHES",
            "warning",
        ),
        (
            [
                ADMIN_STMT,
                allow(
                    {"AWS": BOB},
                    USE,
                    Condition={
                        "StringEquals": {"kms:EncryptionContext:a": "x"},
                        "StringNotEquals": {"kms:EncryptionContext:a": "x"},
                    },
                ),
            ],
            "CONDITION_NEVER_MATCHES",
            "warning",
        ),
        (
            [
                ADMIN_STMT,
                allow({"AWS": BOB}, USE),
                {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*"},
            ],
            "DENY_SHADOWS_EVERY_ALLOW",
            "error",
        ),
        (
            [
                ADMIN_STMT,
                allow({"AWS": BOB}, USE),
                {"Effect": "Deny", "Principal": {"AWS": BOB}, "Action": "kms:*", "Resource": "*"},
            ],
            "DENY_SHADOWS_ALLOW",
            "warning",
        ),
        ([allow({"AWS": BOB}, USE)], "NO_POLICY_ADMIN", "warning"),
        (
            [
                ADMIN_STMT,
                allow({"AWS": BOB}, USE, Condition={"ForAnyValue:StringEquals": {"kms:CallerAccount": "1"}}),
            ],
            "SET_OPERATOR_ON_SINGLE_VALUE",
            "warning",
        ),
    ],
    ids=[
        "star",
        "aws-star",
        "kms-star",
        "separation",
        "unknown-action",
        "unknown-key",
        "enum",
        "deny-never",
        "numeric-range",
        "null-and-value",
        "account",
        "bool",
        "date",
        "eq-neq",
        "deny-all",
        "deny-one",
        "no-admin",
        "set-op",
    ],
)
def test_lint_rule(statements: list[dict[str, Any]], code: str, level: str) -> None:
    codes = _codes(*statements)
    assert codes.get(code) == level, codes


def test_lint_warns_of_an_iam_only_permission_named_in_a_key_policy() -> None:
    """A key policy cannot allow or deny an IAM policy permission: naming one has no effect."""
    named = allow({"AWS": BOB}, ["kms:ListAliases", "kms:ListRetirableGrants", "kms:DescribeKey"])
    report = lint(json.dumps({"Version": "2012-10-17", "Statement": [ADMIN_STMT, named]}))
    iam = [f for f in report["Findings"] if f["Code"] == "IAM_ONLY_ACTION"]
    assert len(iam) == 1 and iam[0]["Level"] == "warning", report
    assert "kms:ListAliases, kms:ListRetirableGrants" in iam[0]["Message"]
    assert "DescribeKey" not in iam[0]["Message"]
    assert "IAM_ONLY_ACTION" not in _codes(ADMIN_STMT, allow({"AWS": BOB}, ["kms:List*"]))  # wildcards


def test_simulate_refuses_a_permission_only_iam_decides(cli: Any, key: str) -> None:
    for action in ("kms:ListAliases", "kms:listretirablegrants", "kms:CreateKey"):
        res = cli("policy", "simulate", "--key-id", key, "--principal", BOB, "--action", action)
        assert res.code == 252 and "is decided by IAM policies" in res.err, res.err


def test_lint_conditional_wildcard_and_deny_are_not_errors() -> None:
    conditional = allow("*", USE, Condition={"StringEquals": {"kms:CallerAccount": ACCOUNT}})
    assert _codes(ADMIN_STMT, conditional) == {}
    cond_deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:*",
        "Resource": "*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    assert "DENY_SHADOWS_EVERY_ALLOW" not in _codes(ADMIN_STMT, cond_deny)


def test_lint_malformed_json_is_one_error() -> None:
    report = lint("{oops")
    assert report["Errors"] == 1 and report["Findings"][0]["Code"] == "MALFORMED"


def test_show_flags_exportable_keys(cli: Any) -> None:
    plain = cli("create-key", "--query", "KeyMetadata.KeyId", "--output", "text").out.strip()
    exportable = cli(
        "create-key", "--exportable", "--query", "KeyMetadata.KeyId", "--output", "text"
    ).out.strip()
    assert cli("policy", "show", "--key-id", plain, "--output", "json").json()["Exportable"] is False
    shown = cli("policy", "show", "--key-id", exportable, "--output", "json")
    assert shown.code == 0, shown.err
    assert shown.json()["Exportable"] is True


def test_show_does_not_claim_no_principal_is_both_when_root_is(cli: Any) -> None:
    """The default policy lists the root as administrator and user: the note says so, not 'no principal'."""
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    data = cli("policy", "show", "--key-id", key, "--output", "json").json()
    root = "arn:aws:iam::111122223333:root"
    assert root in data["KeyAdministrators"] and root in data["KeyUsers"]
    note = data["Separation"]["Note"]
    assert not note.startswith("no principal is both") and "other than the account root" in note


def test_simulate_sees_the_keys_a_real_call_carries(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # the condition keys a real call carries without any option: kms:GrantIsForAWSResource on ListGrants
    # (AWS KMS condition keys reference) and aws:PrincipalType (IAM global condition keys); simulate
    # must decide as the call does
    monkeypatch.setenv("KMSCLI_PRINCIPAL", ADMIN)
    guard = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "kms:ListGrants",
        "Resource": "*",
        "Condition": {"Bool": {"kms:GrantIsForAWSResource": "false"}},
    }
    users = {
        "Effect": "Allow",
        "Principal": {"AWS": ROOT},
        "Action": ["kms:DescribeKey", "kms:ListGrants"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalType": "User"}},
    }
    kid = cli("create-key", "--policy", policy_doc(guard, users)).json()["KeyMetadata"]["KeyId"]
    base = ["policy", "simulate", "--key-id", kid, "--principal", BOB, "--output", "json"]
    denied = cli(*base, "--action", "kms:ListGrants")
    assert denied.code == 1 and denied.json()["Decision"] == "ExplicitDeny"
    allowed = cli(*base, "--action", "kms:DescribeKey")
    assert allowed.code == 0, allowed.out
    monkeypatch.setenv("KMSCLI_PRINCIPAL", BOB)
    real = cli("list-grants", "--key-id", kid)
    assert real.code == 254 and "explicit deny" in real.err
    assert cli("describe-key", "--key-id", kid).code == 0


def test_simulate_and_who_can_refuse_retire_grant_which_each_grant_decides(cli: Any, key: str) -> None:
    # a real RetireGrant asks the grant, and ignores a key policy's kms:RetireGrant for another account
    # (tests/service/test_grants.py): a key-level answer would mislead
    for args in (
        ("simulate", "--key-id", key, "--principal", EVE, "--action", "kms:retiregrant"),
        ("who-can", "--key-id", key, "--action", "kms:RetireGrant"),
    ):
        res = cli("policy", *args)
        assert res.code == 252 and "kms:RetireGrant is decided by each grant" in res.err, res.err
