"""IAM policy variables in key policies (docs/policy.md, "Policy variables").

AWS documentation: IAM User Guide, "IAM policy elements: Variables and tags" (where variables are
substituted, the special forms, default values, variables with no value, the Version requirement).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kmscli.policy import variables
from kmscli.policy.analysis import lint, who_can
from kmscli.policy.conditions import Variants, put, single_value
from kmscli.policy.document import parse
from kmscli.policy.evaluate import Request, decide
from tests.unit.policy.test_cases import ALICE, BOB, KEY_ARN, base_context, stmt

V2012, V2008 = "2012-10-17", "2008-10-17"


def decision(
    statements: list[dict[str, Any]],
    principal: str = BOB,
    more: dict[str, Any] | None = None,
    version: str | None = V2012,
    resource: str = KEY_ARN,
) -> str:
    doc: dict[str, Any] = {"Statement": statements}
    if version is not None:
        doc["Version"] = version
    ctx: dict[str, Any] = {}
    for key, value in {**base_context(principal), **(more or {})}.items():
        put(ctx, key, value)
    if principal.split(":")[5].startswith("user/"):
        ctx["aws:username"] = principal.rsplit("/", 1)[1]
    return decide(parse(json.dumps(doc)), [], Request(principal, "kms:Decrypt", resource, ctx)).decision


def owner_is(operator: str, value: str) -> dict[str, Any]:
    return stmt(principal="*", Condition={operator: {"kms:EncryptionContext:owner": value}})


# -- parsing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("${aws:username}", (variables.Variable("aws:username", None),)),
        (
            "home/${aws:PrincipalTag/team, 'shared'}/x",
            (
                variables.Literal("home/"),
                variables.Variable("aws:PrincipalTag/team", "shared"),
                variables.Literal("/x"),
            ),
        ),
        ("${*}${?}${$}", (variables.Special("*"), variables.Special("?"), variables.Special("$"))),
        ("${aws:username", (variables.Literal("${aws:username"),)),
        ("${}", (variables.Literal("${}"),)),
        ("${ , 'x'}", (variables.Literal("${ , 'x'}"),)),
        ("plain", (variables.Literal("plain"),)),
        ("", (variables.Literal(""),)),
    ],
)
def test_parse(text: str, parts: tuple[variables.Part, ...]) -> None:
    assert variables.parse(text) == parts


# -- conditions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("operator", ["StringEquals", "StringLike", "StringEqualsIgnoreCase"])
def test_variable_is_the_requests_value(operator: str) -> None:
    statement = owner_is(operator, "${aws:username}")
    assert decision([statement], BOB, {"kms:EncryptionContext:owner": "Bob"}) == "Allowed"
    assert decision([statement], BOB, {"kms:EncryptionContext:owner": "Alice"}) == "ImplicitDeny"
    assert decision([statement], ALICE, {"kms:EncryptionContext:owner": "Alice"}) == "Allowed"


def test_variable_with_no_value_matches_nothing_but_negated_operators_pass() -> None:
    # IAM "Policy variables with no value": StringEquals/StringLike do not match, StringNotEquals and
    # StringNotLike do (the request value is not equal to the null value)
    team = {"kms:EncryptionContext:owner": "red"}
    assert decision([owner_is("StringEquals", "${aws:PrincipalTag/team}")], BOB, team) == "ImplicitDeny"
    assert decision([owner_is("StringLike", "${aws:PrincipalTag/team}*")], BOB, team) == "ImplicitDeny"
    guard = stmt(
        "Deny",
        "*",
        Condition={"StringNotEquals": {"kms:EncryptionContext:owner": "${aws:PrincipalTag/team}"}},
    )
    assert decision([stmt(principal="*"), guard], BOB, team) == "ExplicitDeny"
    assert decision([stmt(principal="*"), guard], BOB, {**team, "aws:PrincipalTag/team": "red"}) == "Allowed"


def test_unresolved_value_leaves_the_other_values() -> None:
    statement = stmt(
        principal="*",
        Condition={"StringEquals": {"kms:EncryptionContext:owner": ["${aws:PrincipalTag/team}", "ops"]}},
    )
    assert decision([statement], BOB, {"kms:EncryptionContext:owner": "ops"}) == "Allowed"


def test_default_value_when_absent() -> None:
    statement = owner_is("StringEquals", "${aws:PrincipalTag/team, 'shared'}")
    assert decision([statement], BOB, {"kms:EncryptionContext:owner": "shared"}) == "Allowed"
    tagged = {"kms:EncryptionContext:owner": "shared", "aws:PrincipalTag/team": "red"}
    assert decision([statement], BOB, tagged) == "ImplicitDeny"


def test_special_forms_are_literal_characters() -> None:
    equals = owner_is("StringEquals", "a${*}${?}${$}")
    assert decision([equals], BOB, {"kms:EncryptionContext:owner": "a*?$"}) == "Allowed"
    like = owner_is("StringLike", "a${*}")
    assert decision([like], BOB, {"kms:EncryptionContext:owner": "a*"}) == "Allowed"
    assert decision([like], BOB, {"kms:EncryptionContext:owner": "abc"}) == "ImplicitDeny"


def test_substituted_wildcards_are_literal() -> None:
    # the request's value is not a pattern: a context value "*" matches only "*"
    statement = owner_is("StringLike", "${kms:EncryptionContext:team}-*")
    assert decision(
        [statement], BOB, {"kms:EncryptionContext:owner": "red-1", "kms:EncryptionContext:team": "*"}
    ) == ("ImplicitDeny")
    assert decision(
        [statement], BOB, {"kms:EncryptionContext:owner": "*-1", "kms:EncryptionContext:team": "*"}
    ) == ("Allowed")
    question = {"kms:EncryptionContext:owner": "ab-x", "kms:EncryptionContext:team": "a?"}
    assert decision([statement], BOB, question) == "ImplicitDeny"


def test_arn_operators_substitute() -> None:
    statement = stmt(
        principal="*",
        Condition={
            "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:user/${aws:username}"}
        },
    )
    assert decision([statement], BOB) == "Allowed"
    other = stmt(
        principal="*",
        Condition={"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::${aws:PrincipalAccount}:user/Alice"}},
    )
    assert decision([other], BOB) == "ImplicitDeny"
    assert decision([other], ALICE) == "Allowed"


@pytest.mark.parametrize("version", [V2008, None])
def test_no_variables_without_version_2012(version: str | None) -> None:
    # IAM: variables were introduced in 2012-10-17; otherwise ${aws:username} is a literal string
    statement = owner_is("StringEquals", "${aws:username}")
    assert decision([statement], BOB, {"kms:EncryptionContext:owner": "Bob"}, version) == "ImplicitDeny"
    assert (
        decision([statement], BOB, {"kms:EncryptionContext:owner": "${aws:username}"}, version) == "Allowed"
    )


def test_other_operators_compare_as_written() -> None:
    statement = stmt(
        principal="*", Condition={"NumericEquals": {"kms:EncryptionContext:n": "${kms:EncryptionContext:m}"}}
    )
    assert (
        decision([statement], BOB, {"kms:EncryptionContext:n": "1", "kms:EncryptionContext:m": "1"})
        == "ImplicitDeny"
    )


def test_malformed_variable_is_text() -> None:
    statement = owner_is("StringEquals", "${aws:username")
    assert decision([statement], BOB, {"kms:EncryptionContext:owner": "${aws:username"}) == "Allowed"
    assert decision([statement], BOB, {"kms:EncryptionContext:owner": "Bob"}) == "ImplicitDeny"


def test_case_variant_key_as_variable() -> None:
    # tags Team and team both name aws:ResourceTag/team: an Allow needs each spelling to pass
    statement = owner_is("StringEquals", "${aws:ResourceTag/team}")
    same = {
        "kms:EncryptionContext:owner": "red",
        "aws:ResourceTag/Team": "red",
        "aws:ResourceTag/team": "red",
    }
    assert decision([statement], BOB, same) == "Allowed"
    mixed = {
        "kms:EncryptionContext:owner": "red",
        "aws:ResourceTag/Team": "red",
        "aws:ResourceTag/team": "blue",
    }
    assert decision([statement], BOB, mixed) == "ImplicitDeny"
    guard = stmt(
        "Deny", "*", Condition={"StringEquals": {"kms:EncryptionContext:owner": "${aws:ResourceTag/team}"}}
    )
    assert decision([stmt(principal="*"), guard], BOB, mixed) == "ExplicitDeny"
    ctx: dict[str, Any] = {}
    put(ctx, "aws:ResourceTag/Team", "a")
    put(ctx, "aws:ResourceTag/team", "b")
    assert isinstance(ctx["aws:resourcetag/team"], Variants)
    # resolved only one spelling at a time
    assert variables.resolve("${aws:ResourceTag/team}", lambda k: single_value(ctx, k)) is None


# -- Resource --------------------------------------------------------------------------------------------

KEY_ID = KEY_ARN.rsplit("/", 1)[1]


def test_resource_variable_after_the_fifth_colon() -> None:
    statement = stmt(
        principal="*", Resource="arn:aws:kms:us-east-1:111122223333:key/${kms:EncryptionContext:key}"
    )
    assert decision([statement], BOB, {"kms:EncryptionContext:key": KEY_ID}) == "Allowed"
    assert decision([statement], BOB, {"kms:EncryptionContext:key": "other"}) == "ImplicitDeny"
    assert decision([statement], BOB, {"kms:EncryptionContext:key": "*"}) == "ImplicitDeny"  # literal
    assert decision([statement], BOB) == "ImplicitDeny"  # no value: matches no resource


def test_not_resource_variable_with_no_value_excludes_nothing() -> None:
    guard = stmt("Deny", "*", NotResource="arn:aws:kms:*:*:key/${kms:EncryptionContext:key}")
    guard.pop("Resource")
    assert decision([stmt(principal="*"), guard], BOB) == "ExplicitDeny"
    assert decision([stmt(principal="*"), guard], BOB, {"kms:EncryptionContext:key": KEY_ID}) == "Allowed"


def test_resource_variable_before_the_fifth_colon_is_text() -> None:
    statement = stmt(principal="*", Resource="arn:aws:kms:us-east-1:${aws:PrincipalAccount}:key/*")
    assert decision([statement], BOB) == "ImplicitDeny"


# -- explanations ------------------------------------------------------------------------------------------


def test_simulation_trace_shows_resolved_values() -> None:
    doc = {
        "Version": V2012,
        "Statement": [
            owner_is("StringEquals", "${aws:username}"),
            owner_is("StringEquals", "${aws:PrincipalTag/team}"),
        ],
    }
    ctx = {
        k.lower(): v
        for k, v in {**base_context(BOB), "aws:username": "Bob", "kms:EncryptionContext:owner": "Bob"}.items()
    }
    out = decide(parse(json.dumps(doc)), [], Request(BOB, "kms:Decrypt", KEY_ARN, ctx)).as_dict()
    first, second = out["ConditionsEvaluated"]
    assert first["Values"] == ["${aws:username}"] and first["ResolvedValues"] == ["Bob"] and first["Result"]
    assert second["ResolvedValues"] == [None] and not second["Result"]
    assert "policy variable with no value" in second["Reason"]


def test_lint_does_not_judge_variable_values() -> None:
    doc = {
        "Version": V2012,
        "Statement": [
            stmt(
                principal="*",
                Condition={
                    "StringEquals": {
                        "kms:CallerAccount": "${aws:PrincipalAccount}",
                        "kms:KeyUsage": "${kms:EncryptionContext:u}",
                    }
                },
            ),
            stmt(principal={"AWS": BOB}, action="kms:PutKeyPolicy"),
        ],
    }
    codes = [f["Code"] for f in lint(json.dumps(doc))["Findings"]]
    assert "CONDITION_NEVER_MATCHES" not in codes
    doc["Version"] = V2008  # then they are literal text, and never an account id
    codes = [f["Code"] for f in lint(json.dumps(doc))["Findings"]]
    assert "CONDITION_NEVER_MATCHES" in codes and "POLICY_VARIABLE_LITERAL" in codes


@pytest.mark.parametrize(
    ("statement", "words"),
    [
        (owner_is("NumericEquals", "${aws:EpochTime}"), "only string and ARN operators"),
        (owner_is("StringEquals", "${aws:username"), "compared as written"),
        (stmt(principal="*", Resource="arn:aws:kms:us-east-1:${aws:PrincipalAccount}:key/*"), "fifth colon"),
    ],
)
def test_lint_warns_of_variables_taken_as_text(statement: dict[str, Any], words: str) -> None:
    findings = lint(json.dumps({"Version": V2012, "Statement": [statement]}))["Findings"]
    assert any(f["Code"] == "POLICY_VARIABLE_LITERAL" and words in f["Message"] for f in findings)


def test_who_can_marks_resource_that_depends_on_the_request() -> None:
    pattern = "arn:aws:kms:us-east-1:111122223333:key/${kms:EncryptionContext:key}"
    doc = {
        "Version": V2012,
        "Statement": [stmt(principal={"AWS": BOB}), stmt("Deny", "*", Resource=pattern)],
    }
    out = who_can(parse(json.dumps(doc)), [], "kms:Decrypt", KEY_ARN)
    assert "OverriddenBy" not in out["Allowed"][0]  # the Deny applies only to some requests
    assert out["Denied"][0]["ResourceDependsOn"] == [pattern] and out["Denied"][0]["Unconditional"] is False
