"""Table-driven key policy cases. Each expected decision is the one AWS documents for the same example.

Sources (AWS documentation):
  DEFAULT   https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
  KEYPOL    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
  KMSCOND   https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
  ABAC      https://docs.aws.amazon.com/kms/latest/developerguide/tag-authorization.html
  ALIASAUTH https://docs.aws.amazon.com/kms/latest/developerguide/alias-authorization.html
  GRANTS    https://docs.aws.amazon.com/kms/latest/developerguide/create-grant-overview.html
  OPS       https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  MULTI     https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
  NOTPRIN   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
  NOTACTION https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html
  EVAL      https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
  PRINCIPAL https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmscli.policy.document import parse
from kmscli.policy.evaluate import Request, decide
from kmscli.policy.principals import principal_arn

ACCOUNT = "111122223333"
OTHER = "444455556666"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
BOB = f"arn:aws:iam::{ACCOUNT}:user/Bob"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/Alice"
APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ExampleRole"
APP_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/ExampleRole/session-1"
EVE = f"arn:aws:iam::{OTHER}:user/Eve"
NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)


def stmt(effect: str = "Allow", principal: Any = None, action: Any = "kms:*", **more: Any) -> dict[str, Any]:
    """One statement; Principal defaults to the account root."""
    out: dict[str, Any] = {"Effect": effect}
    if "NotPrincipal" not in more:
        out["Principal"] = principal if principal is not None else {"AWS": ROOT}
    if "NotAction" not in more:
        out["Action"] = action
    out["Resource"] = "*"
    out.update(more)
    return out


def base_context(principal: str) -> dict[str, Any]:
    """What the authorizer adds to every request (service/operations/policies.py:build_request)."""
    account = principal.split(":")[4]
    return {
        "aws:PrincipalArn": principal_arn(principal),
        "aws:PrincipalAccount": account,
        "kms:CallerAccount": account,
        "aws:CurrentTime": NOW,
        "kms:KeySpec": "SYMMETRIC_DEFAULT",
        "kms:KeyUsage": "ENCRYPT_DECRYPT",
        "kms:KeyOrigin": "AWS_KMS",
    }


@dataclass
class Case:
    """A policy, a request, and AWS's documented decision."""

    id: str
    source: str
    statements: list[dict[str, Any]]
    principal: str
    action: str
    expected: str
    context: dict[str, Any] = field(default_factory=dict)
    encryption_context: dict[str, str] | None = None
    grants: list[dict[str, Any]] = field(default_factory=list)
    decided_by: str | int | None = None  # Sid, statement index or grant id


def ec(**pairs: str) -> dict[str, Any]:
    """Condition keys of a request with this encryption context (as symmetric.py passes them)."""
    out: dict[str, Any] = {f"kms:EncryptionContext:{k}": v for k, v in pairs.items()}
    out["kms:EncryptionContextKeys"] = sorted(pairs)
    return out


def grant(
    gid: str, grantee: str, ops: list[str], constraints: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A stored grant record."""
    out: dict[str, Any] = {"GrantId": gid, "GranteePrincipal": grantee, "Operations": ops}
    if constraints:
        out["Constraints"] = constraints
    return out


ROOT_ALLOW = stmt(Sid="Enable IAM User Permissions")
APP_ENCRYPT_CTX = stmt(
    principal={"AWS": APP_ROLE},
    action=["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
    Sid="AppName",
    Condition={"StringEquals": {"kms:EncryptionContext:AppName": "ExampleApp"}},
)

CASES = [
    # -- the default key policy and root delegation ------------------------------------------------------
    Case(
        "default-root-allows-account-user",
        "DEFAULT #key-policy-default-allow-root-enable-iam",
        [ROOT_ALLOW],
        BOB,
        "kms:Decrypt",
        "Allowed",
        decided_by="Enable IAM User Permissions",
    ),
    Case("default-root-allows-root", "DEFAULT", [ROOT_ALLOW], ROOT, "kms:PutKeyPolicy", "Allowed"),
    Case(
        "default-other-account-denied",
        "DEFAULT (root of 111122223333 names only that account)",
        [ROOT_ALLOW],
        EVE,
        "kms:Decrypt",
        "ImplicitDeny",
    ),
    Case(
        "account-id-principal-is-root",
        "PRINCIPAL #principal-accounts (an account id means its root)",
        [stmt(principal={"AWS": ACCOUNT})],
        ALICE,
        "kms:Encrypt",
        "Allowed",
    ),
    # -- Principal --------------------------------------------------------------------------------------
    Case(
        "named-user-allowed",
        "KEYPOL #key-policy-elements (Principal names an IAM user)",
        [stmt(principal={"AWS": BOB}, action="kms:Decrypt")],
        BOB,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "other-user-not-named",
        "EVAL (no statement applies: implicit deny)",
        [stmt(principal={"AWS": BOB}, action="kms:Decrypt")],
        ALICE,
        "kms:Decrypt",
        "ImplicitDeny",
    ),
    Case(
        "role-principal-covers-sessions",
        "PRINCIPAL #principal-roles (role sessions of a role principal)",
        [stmt(principal={"AWS": APP_ROLE}, action="kms:Decrypt")],
        APP_SESSION,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "principal-list",
        "PRINCIPAL (a list of principals: any one matches)",
        [stmt(principal={"AWS": [BOB, ALICE]}, action="kms:Decrypt")],
        ALICE,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "wildcard-with-caller-account",
        "KMSCOND #conditions-kms-caller-account",
        [
            stmt(
                principal={"AWS": "*"},
                action=["kms:Encrypt", "kms:Decrypt"],
                Condition={"StringEquals": {"kms:CallerAccount": ACCOUNT}},
            )
        ],
        ALICE,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "wildcard-with-caller-account-other",
        "KMSCOND #conditions-kms-caller-account",
        [
            stmt(
                principal={"AWS": "*"},
                action=["kms:Encrypt", "kms:Decrypt"],
                Condition={"StringEquals": {"kms:CallerAccount": ACCOUNT}},
            )
        ],
        EVE,
        "kms:Decrypt",
        "ImplicitDeny",
    ),
    Case(
        "star-principal-string",
        'PRINCIPAL #principal-anonymous ("*" is everyone)',
        [stmt(principal="*", action="kms:DescribeKey")],
        EVE,
        "kms:DescribeKey",
        "Allowed",
    ),
    # -- NotPrincipal -----------------------------------------------------------------------------------
    Case(
        "notprincipal-exempts-user-and-account",
        "NOTPRIN (Deny with NotPrincipal user + account)",
        [ROOT_ALLOW, stmt("Deny", NotPrincipal={"AWS": [BOB, ROOT]}, action="kms:*")],
        BOB,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "notprincipal-denies-others",
        "NOTPRIN",
        [ROOT_ALLOW, stmt("Deny", NotPrincipal={"AWS": [BOB, ROOT]})],
        ALICE,
        "kms:Decrypt",
        "ExplicitDeny",
        decided_by=1,
    ),
    Case(
        "notprincipal-without-account-denies-user-too",
        "NOTPRIN (the account ARN must be listed too, or the user is denied)",
        [ROOT_ALLOW, stmt("Deny", NotPrincipal={"AWS": [BOB]})],
        BOB,
        "kms:Decrypt",
        "ExplicitDeny",
    ),
    # -- Action / NotAction / wildcards ----------------------------------------------------------------
    Case(
        "action-wildcard-generate-data-key",
        "KEYPOL (kms:GenerateDataKey* covers the variants)",
        [stmt(principal={"AWS": BOB}, action="kms:GenerateDataKey*")],
        BOB,
        "kms:GenerateDataKeyWithoutPlaintext",
        "Allowed",
    ),
    Case(
        "action-wildcard-reencrypt",
        "DEFAULT #key-policy-default-allow-users (kms:ReEncrypt*)",
        [stmt(principal={"AWS": BOB}, action="kms:ReEncrypt*")],
        BOB,
        "kms:ReEncryptFrom",
        "Allowed",
    ),
    Case(
        "action-case-insensitive",
        "OPS / IAM: action names are case-insensitive",
        [stmt(principal={"AWS": BOB}, action="KMS:decrypt")],
        BOB,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "action-not-listed",
        "EVAL (implicit deny)",
        [stmt(principal={"AWS": BOB}, action="kms:Encrypt")],
        BOB,
        "kms:Decrypt",
        "ImplicitDeny",
    ),
    Case(
        "notaction-allows-the-rest",
        "NOTACTION (Allow with NotAction)",
        [stmt(principal={"AWS": BOB}, NotAction=["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion"])],
        BOB,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "notaction-excludes-listed",
        "NOTACTION",
        [stmt(principal={"AWS": BOB}, NotAction="kms:PutKeyPolicy")],
        BOB,
        "kms:PutKeyPolicy",
        "ImplicitDeny",
    ),
    # -- Deny beats Allow -------------------------------------------------------------------------------
    Case(
        "explicit-deny-wins",
        "EVAL #policy-eval-denyallow (an explicit deny overrides any allow)",
        [ROOT_ALLOW, stmt("Deny", {"AWS": BOB}, "kms:Decrypt", Sid="DenyBob")],
        BOB,
        "kms:Decrypt",
        "ExplicitDeny",
        decided_by="DenyBob",
    ),
    Case(
        "deny-other-action-allows",
        "EVAL",
        [ROOT_ALLOW, stmt("Deny", {"AWS": BOB}, "kms:ScheduleKeyDeletion")],
        BOB,
        "kms:Decrypt",
        "Allowed",
    ),
    # -- kms:EncryptionContext:context-key ------------------------------------------------------------------
    Case(
        "ec-string-equals",
        "KMSCOND #conditions-kms-encryption-context (AppName=ExampleApp)",
        [APP_ENCRYPT_CTX],
        APP_SESSION,
        "kms:GenerateDataKey",
        "Allowed",
        context=ec(AppName="ExampleApp"),
        decided_by="AppName",
    ),
    Case(
        "ec-string-equals-wrong-value",
        "KMSCOND #conditions-kms-encryption-context",
        [APP_ENCRYPT_CTX],
        APP_SESSION,
        "kms:GenerateDataKey",
        "ImplicitDeny",
        context=ec(AppName="Other"),
    ),
    Case(
        "ec-string-equals-missing",
        "KMSCOND #conditions-kms-encryption-context (no context: denied)",
        [APP_ENCRYPT_CTX],
        APP_SESSION,
        "kms:Encrypt",
        "ImplicitDeny",
        context=ec(),
    ),
    Case(
        "ec-key-name-case-insensitive",
        "KMSCOND (condition key names are case-insensitive)",
        [APP_ENCRYPT_CTX],
        APP_SESSION,
        "kms:Encrypt",
        "Allowed",
        context=ec(appname="ExampleApp"),
    ),
    Case(
        "ec-value-case-sensitive",
        "KMSCOND (values are case-sensitive with StringEquals)",
        [APP_ENCRYPT_CTX],
        APP_SESSION,
        "kms:Encrypt",
        "ImplicitDeny",
        context=ec(AppName="exampleapp"),
    ),
    Case(
        "ec-string-equals-ignore-case",
        "OPS #Conditions_String (StringEqualsIgnoreCase)",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={"StringEqualsIgnoreCase": {"kms:EncryptionContext:env": "PROD"}},
            )
        ],
        BOB,
        "kms:Decrypt",
        "Allowed",
        context=ec(env="prod"),
    ),
    Case(
        "ec-string-like",
        "OPS #Conditions_String (StringLike with *)",
        [stmt(principal={"AWS": BOB}, Condition={"StringLike": {"kms:EncryptionContext:Project": "Alpha*"}})],
        BOB,
        "kms:Decrypt",
        "Allowed",
        context=ec(Project="Alpha-7"),
    ),
    Case(
        "ec-string-like-question-mark",
        "OPS #Conditions_String (? is one character)",
        [stmt(principal={"AWS": BOB}, Condition={"StringLike": {"kms:EncryptionContext:Project": "A?"}})],
        BOB,
        "kms:Decrypt",
        "ImplicitDeny",
        context=ec(Project="Abc"),
    ),
    Case(
        "ec-string-not-like",
        "OPS #Conditions_String (StringNotLike)",
        [
            ROOT_ALLOW,
            stmt(
                "Deny",
                "*",
                "kms:Decrypt",
                Condition={"StringNotLike": {"kms:EncryptionContext:Project": "Alpha*"}},
            ),
        ],
        BOB,
        "kms:Decrypt",
        "ExplicitDeny",
        context=ec(Project="Beta"),
    ),
    Case(
        "negated-operator-absent-key-is-true",
        "OPS (a negated operator is true when the key is absent)",
        [
            ROOT_ALLOW,
            stmt(
                "Deny",
                "*",
                "kms:Decrypt",
                Condition={"StringNotEquals": {"kms:EncryptionContext:Dept": "Finance"}},
            ),
        ],
        BOB,
        "kms:Decrypt",
        "ExplicitDeny",
        context=ec(),
    ),
    Case(
        "string-not-equals-multiple-values-nor",
        "OPS (negated operator with several values: matches none)",
        [
            ROOT_ALLOW,
            stmt(
                "Deny",
                "*",
                "kms:Decrypt",
                Condition={"StringNotEquals": {"kms:EncryptionContext:Dept": ["Finance", "HR"]}},
            ),
        ],
        BOB,
        "kms:Decrypt",
        "Allowed",
        context=ec(Dept="HR"),
    ),
    # -- ...IfExists and Null ---------------------------------------------------------------------------------
    Case(
        "if-exists-absent-passes",
        "OPS #Conditions_IfExists",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={"StringEqualsIfExists": {"kms:EncryptionContext:AppName": "ExampleApp"}},
            )
        ],
        BOB,
        "kms:Decrypt",
        "Allowed",
        context=ec(),
    ),
    Case(
        "if-exists-present-must-match",
        "OPS #Conditions_IfExists",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={"StringEqualsIfExists": {"kms:EncryptionContext:AppName": "ExampleApp"}},
            )
        ],
        BOB,
        "kms:Decrypt",
        "ImplicitDeny",
        context=ec(AppName="Other"),
    ),
    Case(
        "null-false-requires-context",
        "KMSCOND #conditions-kms-encryption-context-keys (Null false)",
        [stmt(principal={"AWS": BOB}, Condition={"Null": {"kms:EncryptionContextKeys": "false"}})],
        BOB,
        "kms:Encrypt",
        "ImplicitDeny",
        context=ec(),
    ),
    Case(
        "null-false-with-context",
        "KMSCOND #conditions-kms-encryption-context-keys",
        [stmt(principal={"AWS": BOB}, Condition={"Null": {"kms:EncryptionContextKeys": "false"}})],
        BOB,
        "kms:Encrypt",
        "Allowed",
        context=ec(a="1"),
    ),
    Case(
        "null-true-absent",
        "OPS #Conditions_Null",
        [stmt(principal={"AWS": BOB}, Condition={"Null": {"kms:RequestAlias": "true"}})],
        BOB,
        "kms:Encrypt",
        "Allowed",
    ),
    # -- set operators on multivalued keys ------------------------------------------------------------------
    Case(
        "for-any-value-context-key",
        "KMSCOND #conditions-kms-encryption-context-keys (ForAnyValue)",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "AppName"}},
            )
        ],
        BOB,
        "kms:Encrypt",
        "Allowed",
        context=ec(AppName="x", Other="y"),
    ),
    Case(
        "for-any-value-none-match",
        "KMSCOND #conditions-kms-encryption-context-keys",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "AppName"}},
            )
        ],
        BOB,
        "kms:Encrypt",
        "ImplicitDeny",
        context=ec(Other="y"),
    ),
    Case(
        "for-any-value-empty",
        "MULTI (ForAnyValue with no values is false)",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "AppName"}},
            )
        ],
        BOB,
        "kms:Encrypt",
        "ImplicitDeny",
        context=ec(),
    ),
    Case(
        "for-all-values-subset",
        "KMSCOND #conditions-kms-encryption-context-keys (ForAllValues)",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={
                    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName", "FilePath"]}
                },
            )
        ],
        BOB,
        "kms:Encrypt",
        "Allowed",
        context=ec(AppName="a"),
    ),
    Case(
        "for-all-values-extra-key",
        "KMSCOND #conditions-kms-encryption-context-keys",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={
                    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName", "FilePath"]}
                },
            )
        ],
        BOB,
        "kms:Encrypt",
        "ImplicitDeny",
        context=ec(AppName="a", Other="b"),
    ),
    Case(
        "for-all-values-empty-is-true",
        "KMSCOND (ForAllValues also allows requests with no context)",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={
                    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName", "FilePath"]}
                },
            )
        ],
        BOB,
        "kms:Encrypt",
        "Allowed",
        context=ec(),
    ),
    Case(
        "for-all-values-plus-null",
        "KMSCOND (add Null false to require a context)",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={
                    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["AppName", "FilePath"]},
                    "Null": {"kms:EncryptionContextKeys": "false"},
                },
            )
        ],
        BOB,
        "kms:Encrypt",
        "ImplicitDeny",
        context=ec(),
    ),
    Case(
        "resource-aliases-any-and-all",
        "ALIASAUTH #alias-auth-resource-aliases",
        [
            stmt(
                principal={"AWS": BOB},
                action=["kms:EnableKey", "kms:DisableKey"],
                Condition={
                    "ForAllValues:StringLike": {"kms:ResourceAliases": "alias/*Test*"},
                    "ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/*Test*"},
                },
            )
        ],
        BOB,
        "kms:DisableKey",
        "Allowed",
        context={"kms:ResourceAliases": ["alias/Test1", "alias/MyTest"]},
    ),
    Case(
        "resource-aliases-one-not-matching",
        "ALIASAUTH #alias-auth-resource-aliases",
        [
            stmt(
                principal={"AWS": BOB},
                action=["kms:EnableKey", "kms:DisableKey"],
                Condition={
                    "ForAllValues:StringLike": {"kms:ResourceAliases": "alias/*Test*"},
                    "ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/*Test*"},
                },
            )
        ],
        BOB,
        "kms:DisableKey",
        "ImplicitDeny",
        context={"kms:ResourceAliases": ["alias/Test1", "alias/prod"]},
    ),
    Case(
        "resource-aliases-none",
        "ALIASAUTH (without ForAnyValue, keys with no alias would pass)",
        [
            stmt(
                principal={"AWS": BOB},
                action="kms:DisableKey",
                Condition={"ForAllValues:StringLike": {"kms:ResourceAliases": "alias/*Test*"}},
            )
        ],
        BOB,
        "kms:DisableKey",
        "Allowed",
        context={"kms:ResourceAliases": []},
    ),
    Case(
        "grant-operations-for-all-values",
        "KMSCOND #conditions-kms-grant-operations",
        [
            stmt(
                principal={"AWS": BOB},
                action="kms:CreateGrant",
                Condition={"ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt", "Decrypt"]}},
            )
        ],
        BOB,
        "kms:CreateGrant",
        "Allowed",
        context={"kms:GrantOperations": ["Decrypt"]},
    ),
    Case(
        "grant-operations-extra-op",
        "KMSCOND #conditions-kms-grant-operations",
        [
            stmt(
                principal={"AWS": BOB},
                action="kms:CreateGrant",
                Condition={"ForAllValues:StringEquals": {"kms:GrantOperations": ["Encrypt", "Decrypt"]}},
            )
        ],
        BOB,
        "kms:CreateGrant",
        "ImplicitDeny",
        context={"kms:GrantOperations": ["Decrypt", "RetireGrant"]},
    ),
    Case(
        "tag-keys-for-all-values",
        "ABAC / MULTI (aws:TagKeys with ForAllValues)",
        [
            stmt(
                principal={"AWS": BOB},
                action="kms:TagResource",
                Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["Project", "Owner"]}},
            )
        ],
        BOB,
        "kms:TagResource",
        "Allowed",
        context={"aws:TagKeys": ["Project"]},
    ),
    # -- Bool, Numeric, Date, Arn ----------------------------------------------------------------------------------
    Case(
        "bool-grant-is-for-aws-resource",
        "KMSCOND #conditions-kms-grant-is-for-aws-resource",
        [
            stmt(
                principal={"AWS": BOB},
                action=["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                Condition={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        ],
        BOB,
        "kms:CreateGrant",
        "ImplicitDeny",
        context={"kms:GrantIsForAWSResource": False},
    ),
    Case(
        "bool-true-matches",
        "OPS #Conditions_Boolean",
        [
            stmt(
                principal={"AWS": BOB},
                action="kms:CreateGrant",
                Condition={"Bool": {"kms:GrantIsForAWSResource": True}},
            )
        ],
        BOB,
        "kms:CreateGrant",
        "Allowed",
        context={"kms:GrantIsForAWSResource": True},
    ),
    Case(
        "numeric-deletion-window-too-short",
        "KMSCOND #conditions-kms-schedule-key-deletion-pending-window-in-days (Deny under 21 days)",
        [
            ROOT_ALLOW,
            stmt(
                "Deny",
                "*",
                "kms:ScheduleKeyDeletion",
                Condition={"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "21"}},
            ),
        ],
        BOB,
        "kms:ScheduleKeyDeletion",
        "ExplicitDeny",
        context={"kms:ScheduleKeyDeletionPendingWindowInDays": 7},
    ),
    Case(
        "numeric-deletion-window-ok",
        "KMSCOND #conditions-kms-schedule-key-deletion-pending-window-in-days",
        [
            ROOT_ALLOW,
            stmt(
                "Deny",
                "*",
                "kms:ScheduleKeyDeletion",
                Condition={"NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "21"}},
            ),
        ],
        BOB,
        "kms:ScheduleKeyDeletion",
        "Allowed",
        context={"kms:ScheduleKeyDeletionPendingWindowInDays": 30},
    ),
    Case(
        "numeric-rotation-period-range",
        "KMSCOND #conditions-kms-rotation-period-in-days",
        [
            stmt(
                principal={"AWS": BOB},
                action="kms:EnableKeyRotation",
                Condition={
                    "NumericLessThanEquals": {"kms:RotationPeriodInDays": "180"},
                    "NumericGreaterThanEquals": {"kms:RotationPeriodInDays": "90"},
                },
            )
        ],
        BOB,
        "kms:EnableKeyRotation",
        "Allowed",
        context={"kms:RotationPeriodInDays": 180},
    ),
    Case(
        "numeric-rotation-period-outside",
        "KMSCOND #conditions-kms-rotation-period-in-days",
        [
            stmt(
                principal={"AWS": BOB},
                action="kms:EnableKeyRotation",
                Condition={
                    "NumericLessThanEquals": {"kms:RotationPeriodInDays": "180"},
                    "NumericGreaterThanEquals": {"kms:RotationPeriodInDays": "90"},
                },
            )
        ],
        BOB,
        "kms:EnableKeyRotation",
        "ImplicitDeny",
        context={"kms:RotationPeriodInDays": 365},
    ),
    Case(
        "numeric-equals-and-not-equals",
        "OPS #Conditions_Numeric",
        [
            stmt(
                principal={"AWS": BOB},
                action="kms:EnableKeyRotation",
                Condition={
                    "NumericEquals": {"kms:RotationPeriodInDays": ["90", "365"]},
                    "NumericNotEquals": {"kms:RotationPeriodInDays": "365"},
                },
            )
        ],
        BOB,
        "kms:EnableKeyRotation",
        "Allowed",
        context={"kms:RotationPeriodInDays": 90},
    ),
    Case(
        "numeric-greater-than",
        "OPS #Conditions_Numeric (NumericGreaterThan is strict)",
        [
            stmt(
                principal={"AWS": BOB},
                action="kms:EnableKeyRotation",
                Condition={"NumericGreaterThan": {"kms:RotationPeriodInDays": "90"}},
            )
        ],
        BOB,
        "kms:EnableKeyRotation",
        "ImplicitDeny",
        context={"kms:RotationPeriodInDays": 90},
    ),
    Case(
        "date-less-than-before",
        "OPS #Conditions_Date (aws:CurrentTime)",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={"DateLessThan": {"aws:CurrentTime": "2026-06-30T00:00:00Z"}},
            )
        ],
        BOB,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "date-greater-than-epoch",
        "OPS #Conditions_Date (epoch seconds are dates too)",
        [stmt(principal={"AWS": BOB}, Condition={"DateGreaterThan": {"aws:CurrentTime": "1798761600"}})],
        BOB,
        "kms:Decrypt",
        "ImplicitDeny",
    ),
    Case(
        "date-equals-family",
        "OPS #Conditions_Date",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={
                    "DateGreaterThanEquals": {"aws:CurrentTime": "2026-01-15T12:00:00Z"},
                    "DateLessThanEquals": {"aws:CurrentTime": "2026-01-15T12:00:00Z"},
                    "DateNotEquals": {"aws:CurrentTime": "2020-01-01"},
                    "DateEquals": {"aws:CurrentTime": "2026-01-15T12:00:00+00:00"},
                },
            )
        ],
        BOB,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "arn-like-principal",
        "OPS #Conditions_ARN; aws:PrincipalArn of a role session is the role's ARN",
        [
            stmt(
                principal="*",
                Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/Example*"}},
            )
        ],
        APP_SESSION,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "arn-like-user",
        "OPS #Conditions_ARN",
        [stmt(principal="*", Condition={"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/*"}})],
        BOB,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "arn-equals-other-account",
        "OPS #Conditions_ARN (ArnEquals compares each ARN field)",
        [
            stmt(
                principal="*", Condition={"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/*"}}
            )
        ],
        EVE,
        "kms:Decrypt",
        "ImplicitDeny",
    ),
    Case(
        "principal-account",
        "OPS (aws:PrincipalAccount)",
        [stmt(principal="*", Condition={"StringEquals": {"aws:PrincipalAccount": OTHER}})],
        EVE,
        "kms:Decrypt",
        "Allowed",
    ),
    # -- key-derived and request keys --------------------------------------------------------------------------
    Case(
        "key-spec",
        "KMSCOND #conditions-kms-key-spec",
        [stmt(principal={"AWS": BOB}, Condition={"StringEquals": {"kms:KeySpec": "RSA_4096"}})],
        BOB,
        "kms:Decrypt",
        "ImplicitDeny",
    ),
    Case(
        "key-usage-and-origin",
        "KMSCOND #conditions-kms-key-usage / #conditions-kms-key-origin",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={"StringEquals": {"kms:KeyUsage": "ENCRYPT_DECRYPT", "kms:KeyOrigin": "AWS_KMS"}},
            )
        ],
        BOB,
        "kms:GenerateDataKey",
        "Allowed",
    ),
    Case(
        "encryption-algorithm",
        "KMSCOND #conditions-kms-encryption-algorithm",
        [
            stmt(
                principal={"AWS": BOB},
                Condition={"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}},
            )
        ],
        BOB,
        "kms:Encrypt",
        "Allowed",
        context={"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
    ),
    Case(
        "signing-algorithm",
        "KMSCOND #conditions-kms-signing-algorithm",
        [
            ROOT_ALLOW,
            stmt(
                "Deny", "*", "kms:Sign", Condition={"StringNotLike": {"kms:SigningAlgorithm": "RSASSA_PSS*"}}
            ),
        ],
        BOB,
        "kms:Sign",
        "ExplicitDeny",
        context={"kms:SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"},
    ),
    Case(
        "request-alias",
        "ALIASAUTH #alias-auth-request-alias (kms:RequestAlias)",
        [stmt(principal={"AWS": BOB}, Condition={"StringEquals": {"kms:RequestAlias": "alias/finance-key"}})],
        BOB,
        "kms:Encrypt",
        "Allowed",
        context={"kms:RequestAlias": "alias/finance-key"},
    ),
    Case(
        "request-alias-by-key-id",
        "ALIASAUTH #alias-auth-request-alias (a key id request has no alias)",
        [stmt(principal={"AWS": BOB}, Condition={"StringEquals": {"kms:RequestAlias": "alias/finance-key"}})],
        BOB,
        "kms:Encrypt",
        "ImplicitDeny",
    ),
    Case(
        "grantee-principal",
        "KMSCOND #conditions-kms-grantee-principal",
        [
            stmt(
                principal={"AWS": BOB},
                action="kms:CreateGrant",
                Condition={"StringEquals": {"kms:GranteePrincipal": APP_ROLE}},
            )
        ],
        BOB,
        "kms:CreateGrant",
        "Allowed",
        context={"kms:GranteePrincipal": APP_ROLE},
    ),
    Case(
        "resource-tag",
        "ABAC #tag-authorization-conditions (aws:ResourceTag/Project)",
        [stmt(principal={"AWS": BOB}, Condition={"StringEquals": {"aws:ResourceTag/Project": "Alpha"}})],
        BOB,
        "kms:Decrypt",
        "Allowed",
        context={"aws:ResourceTag/Project": "Alpha"},
    ),
    Case(
        "resource-tag-missing",
        "ABAC",
        [stmt(principal={"AWS": BOB}, Condition={"StringEquals": {"aws:ResourceTag/Project": "Alpha"}})],
        BOB,
        "kms:Decrypt",
        "ImplicitDeny",
    ),
    Case(
        "resource-arn-pattern",
        'KEYPOL (Resource "*" in a key policy means this key; ARNs also match)',
        [stmt(principal={"AWS": BOB}, Resource=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*")],
        BOB,
        "kms:Decrypt",
        "Allowed",
    ),
    Case(
        "resource-other-key",
        "KEYPOL",
        [stmt(principal={"AWS": BOB}, Resource=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/other")],
        BOB,
        "kms:Decrypt",
        "ImplicitDeny",
    ),
    # -- grants ---------------------------------------------------------------------------------------------------
    Case(
        "grant-allows-operation",
        "GRANTS (a grant allows its operations to its grantee)",
        [ROOT_ALLOW],
        EVE,
        "kms:Decrypt",
        "Allowed",
        grants=[grant("g1", EVE, ["Decrypt"])],
        decided_by="g1",
    ),
    Case(
        "grant-other-operation",
        "GRANTS",
        [ROOT_ALLOW],
        EVE,
        "kms:Encrypt",
        "ImplicitDeny",
        grants=[grant("g1", EVE, ["Decrypt"])],
    ),
    Case(
        "grant-other-grantee",
        "GRANTS",
        [],
        BOB,
        "kms:Decrypt",
        "ImplicitDeny",
        grants=[grant("g1", EVE, ["Decrypt"])],
    ),
    Case(
        "grant-subset-constraint-met",
        "GRANTS #grant-constraints (EncryptionContextSubset)",
        [],
        EVE,
        "kms:Decrypt",
        "Allowed",
        encryption_context={"tenant": "t1", "extra": "x"},
        grants=[grant("g1", EVE, ["Decrypt"], {"EncryptionContextSubset": {"tenant": "t1"}})],
    ),
    Case(
        "grant-subset-constraint-not-met",
        "GRANTS #grant-constraints",
        [],
        EVE,
        "kms:Decrypt",
        "ImplicitDeny",
        encryption_context={"tenant": "t2"},
        grants=[grant("g1", EVE, ["Decrypt"], {"EncryptionContextSubset": {"tenant": "t1"}})],
    ),
    Case(
        "grant-equals-constraint-extra-pair",
        "GRANTS #grant-constraints (EncryptionContextEquals is exact)",
        [],
        EVE,
        "kms:Decrypt",
        "ImplicitDeny",
        encryption_context={"tenant": "t1", "extra": "x"},
        grants=[grant("g1", EVE, ["Decrypt"], {"EncryptionContextEquals": {"tenant": "t1"}})],
    ),
    Case(
        "grant-constraint-key-case-insensitive",
        "API_GrantConstraints (keys not case sensitive)",
        [],
        EVE,
        "kms:Decrypt",
        "Allowed",
        encryption_context={"TENANT": "t1"},
        grants=[grant("g1", EVE, ["Decrypt"], {"EncryptionContextEquals": {"tenant": "t1"}})],
    ),
    Case(
        "grant-constraint-value-case-sensitive",
        "API_GrantConstraints (values case sensitive)",
        [],
        EVE,
        "kms:Decrypt",
        "ImplicitDeny",
        encryption_context={"tenant": "T1"},
        grants=[grant("g1", EVE, ["Decrypt"], {"EncryptionContextEquals": {"tenant": "t1"}})],
    ),
    Case(
        "grant-constraint-not-applied-to-describe",
        "API_GrantConstraints (DescribeKey is not constrained)",
        [],
        EVE,
        "kms:DescribeKey",
        "Allowed",
        grants=[grant("g1", EVE, ["Decrypt", "DescribeKey"], {"EncryptionContextEquals": {"tenant": "t1"}})],
    ),
    Case(
        "grant-role-grantee-covers-session",
        "GRANTS (grantee principal is a role)",
        [],
        APP_SESSION,
        "kms:Encrypt",
        "Allowed",
        grants=[grant("g1", APP_ROLE, ["Encrypt"])],
    ),
    Case(
        "policy-deny-beats-grant",
        "KEYPOL (an explicit deny in the key policy overrides a grant)",
        [stmt("Deny", {"AWS": EVE}, "kms:Decrypt")],
        EVE,
        "kms:Decrypt",
        "ExplicitDeny",
        grants=[grant("g1", EVE, ["Decrypt"])],
    ),
]


#: A policy needs a statement; grant cases use one that concerns nobody they test.
ALICE_ADMIN = stmt(principal={"AWS": ALICE}, action="kms:PutKeyPolicy")


def _run(case: Case) -> Any:
    statements = case.statements or [ALICE_ADMIN]
    policy = parse(json.dumps({"Version": "2012-10-17", "Statement": statements}))
    context = {k.lower(): v for k, v in {**base_context(case.principal), **case.context}.items()}
    encryption = case.encryption_context
    if encryption is None and any(k.startswith("kms:EncryptionContext") for k in case.context):
        encryption = {
            k.split(":", 2)[2]: v for k, v in case.context.items() if k.startswith("kms:EncryptionContext:")
        }
    return decide(policy, case.grants, Request(case.principal, case.action, KEY_ARN, context, encryption))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_documented_decision(case: Case) -> None:
    decision = _run(case)
    assert decision.decision == case.expected, (case.source, decision.as_dict())
    if case.decided_by is not None:
        by = decision.decided_by()
        assert by is not None
        assert case.decided_by in (by.get("Sid"), by.get("Index"), by.get("GrantId"))
    if case.expected == "ImplicitDeny":
        assert "because no resource-based policy allows the " + case.action + " action" in decision.message()
    if case.expected == "ExplicitDeny":
        assert decision.message().endswith("with an explicit deny in a resource-based policy")


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


def test_explanation_lists_every_condition_evaluated() -> None:
    case = next(c for c in CASES if c.id == "date-equals-family")
    conds = _run(case).as_dict()["ConditionsEvaluated"]
    assert [c["Operator"] for c in conds] == [
        "DateGreaterThanEquals",
        "DateLessThanEquals",
        "DateNotEquals",
        "DateEquals",
    ]
    assert all(c["Result"] for c in conds)
    failing = _run(next(c for c in CASES if c.id == "ec-string-equals-wrong-value")).as_dict()
    assert failing["ConditionsEvaluated"][0]["Result"] is False
    assert failing["ConditionsEvaluated"][0]["RequestValues"] == ["Other"]


# -- properties -------------------------------------------------------------------------------------


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(["Allow", "Deny", "*", "kms:*", "kms:Decrypt", ROOT, "StringEquals", "Null"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Statement",
                    "Effect",
                    "Principal",
                    "AWS",
                    "Action",
                    "NotAction",
                    "Resource",
                    "Condition",
                    "StringLike",
                    "ForAllValues:StringEquals",
                    "kms:CallerAccount",
                    "Sid",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=120, deadline=None)
@given(JSON)
def test_any_json_is_parsed_or_refused_cleanly(doc: Any) -> None:
    from kmscli import errors
    from kmscli.policy.analysis import lint

    text = json.dumps(doc)
    try:
        policy = parse(text)
    except errors.MalformedPolicyDocumentException as exc:
        assert exc.message
    else:
        decide(policy, [], Request(BOB, "kms:Decrypt", KEY_ARN, {}, None))
    report = lint(text)
    assert report["Errors"] >= 0


VALUES = st.lists(
    st.text(max_size=6) | st.sampled_from(["*", "t1", "2026-01-01", "10", "true"]), min_size=1, max_size=3
)
OPERATORS = st.sampled_from(
    [
        "StringEquals",
        "StringNotEquals",
        "StringLike",
        "StringNotLikeIfExists",
        "NumericLessThan",
        "DateGreaterThan",
        "Bool",
        "Null",
        "ArnLike",
        "ForAnyValue:StringEquals",
        "ForAllValues:StringNotLike",
        "IpAddress",
    ]
)


@settings(max_examples=120, deadline=None)
@given(
    st.dictionaries(
        OPERATORS,
        st.dictionaries(
            st.sampled_from(
                [
                    "kms:EncryptionContext:tenant",
                    "kms:EncryptionContextKeys",
                    "aws:CurrentTime",
                    "kms:CallerAccount",
                    "aws:PrincipalArn",
                ]
            ),
            VALUES,
            min_size=1,
            max_size=2,
        ),
        min_size=1,
        max_size=3,
    ),
    st.dictionaries(st.sampled_from(["tenant", "app"]), st.text(max_size=4), max_size=2),
)
def test_unconditional_deny_always_wins(condition: dict[str, Any], context: dict[str, str]) -> None:
    statements = [
        stmt(principal={"AWS": BOB}, Condition=condition),
        stmt(principal={"AWS": BOB}),
        stmt("Deny", "*", "kms:*", Sid="Wall"),
    ]
    policy = parse(json.dumps({"Statement": statements}))
    ctx = {k.lower(): v for k, v in {**base_context(BOB), **ec(**context)}.items()}
    decision = decide(
        policy, [grant("g", BOB, ["Decrypt"])], Request(BOB, "kms:Decrypt", KEY_ARN, ctx, context)
    )
    assert decision.decision == "ExplicitDeny"
    assert decision.decided_by() == {"Type": "Statement", "Index": 2, "Sid": "Wall", "Effect": "Deny"}
