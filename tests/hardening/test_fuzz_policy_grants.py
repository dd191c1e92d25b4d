"""Property tests for the parsers merged after the first hardening pass: the key policy parser and
evaluator, and the import token parser.

``tests/unit/policy/test_cases.py`` already checks that any JSON is parsed or refused cleanly (with one
fixed request) and that an *unconditional* Deny wins over a conditioned Allow. What it lacks, and
this module adds: policies generated from the grammar (so they parse, and conditions, NotPrincipal
and NotAction are exercised) decided against generated requests with hostile context values, and
"a Deny always wins" for any Deny that applies, whatever its conditions, whatever else the policy
and the grants say. For import tokens: any mutated or forged token is InvalidImportTokenException
(or ExpiredImportTokenException), never another exception, both at the parser and through the
ImportKeyMaterial operation. The same targets run under atheris in fuzz/.
"""

from __future__ import annotations

import datetime as dt
import json
import types
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kmscli import errors
from kmscli.policy.document import parse
from kmscli.policy.evaluate import ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY, Request, decide, evaluate_statement
from kmscli.policy.grants import evaluate_grant
from tests.hardening import skip_fsync

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ACCOUNT = "111122223333"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PRINCIPALS = [
    f"arn:aws:iam::{ACCOUNT}:user/Bob",
    f"arn:aws:iam::{ACCOUNT}:role/App",
    f"arn:aws:iam::{ACCOUNT}:root",
    "arn:aws:iam::444455556666:user/Eve",
]
ACTIONS = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
    "kms:Sign",
    "kms:GenerateDataKey",
]

# -- a generator for valid key policies ---------------------------------------------------------------

principal_values = st.one_of(
    st.just("*"),
    st.fixed_dictionaries({"AWS": st.sampled_from([*PRINCIPALS, "*", ACCOUNT])}),
    st.fixed_dictionaries({"AWS": st.lists(st.sampled_from(PRINCIPALS), min_size=1, max_size=3)}),
)
action_values = st.one_of(
    st.sampled_from(["kms:*", "kms:Decrypt", "kms:Encrypt*", "kms:*Grant*", "kms:Get*", "*"]),
    st.lists(st.sampled_from([*ACTIONS, "kms:Re*", "kms:Generate*"]), min_size=1, max_size=3),
)
CONDITION_KEYS = [
    "kms:EncryptionContext:tenant",
    "kms:EncryptionContextKeys",
    "kms:CallerAccount",
    "kms:GrantOperations",
    "kms:ViaService",
    "kms:SigningAlgorithm",
    "aws:PrincipalArn",
    "aws:CurrentTime",
    "aws:SecureTransport",
    "kms:GrantIsForAWSResource",
]
OPERATORS = [
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringLike", "StringNotLike",
    "StringEqualsIfExists", "StringNotLikeIfExists", "NumericLessThan", "NumericGreaterThanEquals",
    "DateLessThan", "DateGreaterThan", "Bool", "BoolIfExists", "Null", "ArnLike", "ArnNotEquals",
    "ForAnyValue:StringEquals", "ForAllValues:StringLike", "ForAnyValue:StringNotLike", "IpAddress",
    "BinaryEquals",
]  # fmt: skip
condition_values = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["*", "true", "false", "10", "2026-01-01T00:00:00Z", ACCOUNT, PRINCIPALS[0], "a?*"]),
    st.lists(st.text(max_size=6) | st.sampled_from(["*", "true", "10"]), min_size=1, max_size=3),
)
conditions = st.dictionaries(
    st.sampled_from(OPERATORS),
    st.dictionaries(st.sampled_from(CONDITION_KEYS), condition_values, min_size=1, max_size=2),
    min_size=1,
    max_size=2,
)


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    """One statement from the IAM grammar kmscli accepts (Principal or NotPrincipal, and so on)."""
    out: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    out["NotPrincipal" if draw(st.integers(0, 5)) == 0 else "Principal"] = draw(principal_values)
    out["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = draw(action_values)
    out["Resource"] = draw(st.sampled_from(["*", KEY_ARN, [KEY_ARN]]))
    if draw(st.booleans()):
        out["Condition"] = draw(conditions)
    if draw(st.booleans()):
        out["Sid"] = draw(st.text(alphabet="abcXYZ019", min_size=1, max_size=8))
    return out


#: Context values as a hostile caller or a bug could make them: not only strings.
context_values = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["true", "10", ACCOUNT, PRINCIPALS[0], "2026-06-01T00:00:00Z", ""]),
    st.lists(st.text(max_size=5), max_size=3),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    """A request: principal, action, and condition keys (lower case), some present, some odd."""
    principal = draw(st.sampled_from(PRINCIPALS))
    encryption_context = draw(
        st.dictionaries(st.sampled_from(["tenant", "app", "Tenant"]), st.text(max_size=5))
    )
    ctx: dict[str, Any] = {
        "aws:principalarn": principal,
        "kms:calleraccount": principal.split(":")[4],
        "kms:encryptioncontextkeys": sorted(encryption_context),
    }
    for name, value in encryption_context.items():
        ctx[f"kms:encryptioncontext:{name.lower()}"] = value
    ctx.update(draw(st.dictionaries(st.sampled_from([k.lower() for k in CONDITION_KEYS]), context_values)))
    return Request(principal, draw(st.sampled_from(ACTIONS)), KEY_ARN, ctx, encryption_context)


grants = st.lists(
    st.fixed_dictionaries(
        {
            "GrantId": st.text(alphabet="0123456789abcdef", min_size=8, max_size=8),
            "GranteePrincipal": st.sampled_from(PRINCIPALS),
            "Operations": st.lists(
                st.sampled_from(["Decrypt", "Encrypt", "Sign", "CreateGrant"]), max_size=3
            ),
        },
        optional={
            "Constraints": st.sampled_from(
                [
                    {"EncryptionContextSubset": {"tenant": "a"}},
                    {"EncryptionContextEquals": {}},
                    {"EncryptionContextEquals": {"app": ""}},
                ]
            )
        },
    ),
    max_size=3,
)


def _doc(stmts: list[dict[str, Any]], version: bool = False) -> str:
    """A policy of these statements; a repeated Sid gets a suffix (AWS refuses duplicate Sids)."""
    seen: set[str] = set()
    unique = []
    for i, stmt in enumerate(stmts):
        sid = stmt.get("Sid")
        if sid is not None and sid in seen:
            stmt = {**stmt, "Sid": f"{sid}-{i}"}  # "-" is outside the generated alphabet
        seen.add(stmt.get("Sid", ""))
        unique.append(stmt)
    return json.dumps({**({"Version": "2012-10-17"} if version else {}), "Statement": unique})


def _decide(policy_statements: list[dict[str, Any]], grant_list: list[dict[str, Any]], req: Request) -> str:
    policy = parse(_doc(policy_statements, version=True))
    return decide(policy, grant_list, req).decision


# -- the evaluator --------------------------------------------------------------------------------


@FAST
@given(st.lists(statements(), min_size=1, max_size=5), grants, requests())
def test_evaluation_of_any_parsed_policy_never_raises_and_is_explained(
    stmts: list[dict[str, Any]], grant_list: list[dict[str, Any]], req: Request
) -> None:
    policy = parse(_doc(stmts))
    decision = decide(policy, grant_list, req)
    assert decision.decision in (ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY)
    # the decision is exactly the IAM rule applied to what each statement and grant says of itself
    applies = [evaluate_statement(s, req)[0] for s in policy.statements]
    denies = any(a and s.effect == "Deny" for a, s in zip(applies, policy.statements, strict=True))
    allows = any(a and s.effect == "Allow" for a, s in zip(applies, policy.statements, strict=True))
    granted = any(evaluate_grant(g, req.principal, req.action, req.encryption_context)[0] for g in grant_list)
    expected = EXPLICIT_DENY if denies else ALLOWED if allows or granted else IMPLICIT_DENY
    assert decision.decision == expected
    if decision.decision == IMPLICIT_DENY:
        assert "no resource-based policy allows" in decision.message()
    if decision.decision != ALLOWED:
        assert req.principal in decision.message()


@FAST
@given(
    st.lists(statements(), max_size=4),
    statements(effect="Deny"),
    st.lists(statements(effect="Allow"), max_size=3),
    grants,
    requests(),
    st.integers(0, 8),
)
def test_a_deny_that_applies_always_wins(
    before: list[dict[str, Any]],
    deny: dict[str, Any],
    allows: list[dict[str, Any]],
    grant_list: list[dict[str, Any]],
    req: Request,
    position: int,
) -> None:
    """Whatever else the policy says and whatever grants exist: if a Deny applies, it decides."""
    stmts = [*before, *allows]
    stmts.insert(min(position, len(stmts)), deny)
    policy = parse(_doc(stmts))
    deny_applies = evaluate_statement(parse(json.dumps({"Statement": [deny]})).statements[0], req)[0]
    decision = decide(policy, grant_list, req)
    if deny_applies:
        assert decision.decision == EXPLICIT_DENY
        assert decision.statement is not None and decision.statement.effect == "Deny"
        assert decision.grant_id is None


@FAST
@given(st.lists(statements(), min_size=1, max_size=4), statements(effect="Deny"), grants, requests())
def test_adding_a_deny_never_grants_access(
    stmts: list[dict[str, Any]], deny: dict[str, Any], grant_list: list[dict[str, Any]], req: Request
) -> None:
    """Monotonicity: a Deny can only take access away; an Allow or a grant can only add it."""
    before = _decide(stmts, grant_list, req)
    after = _decide([*stmts, deny], grant_list, req)
    if before != ALLOWED:
        assert after != ALLOWED
    if before == EXPLICIT_DENY:
        assert after == EXPLICIT_DENY


@FAST
@given(st.lists(statements(), min_size=1, max_size=4), statements(effect="Allow"), grants, requests())
def test_adding_an_allow_or_grant_never_lifts_an_explicit_deny(
    stmts: list[dict[str, Any]], allow: dict[str, Any], grant_list: list[dict[str, Any]], req: Request
) -> None:
    if _decide(stmts, [], req) == EXPLICIT_DENY:
        assert _decide([allow, *stmts], grant_list, req) == EXPLICIT_DENY


def test_policy_generator_reaches_every_outcome() -> None:
    """The properties above would be vacuous if generated policies never allowed or denied."""
    seen: set[str] = set()

    @settings(max_examples=120, deadline=None, database=None)
    @given(st.lists(statements(), min_size=1, max_size=3), requests())
    def collect(stmts: list[dict[str, Any]], req: Request) -> None:
        seen.add(_decide(stmts, [], req))

    collect()
    assert seen == {ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY}


# -- import tokens --------------------------------------------------------------------------------

NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
TOKEN_ID = bytes(range(16))
TOKEN_ERRORS = (errors.InvalidImportTokenException, errors.ExpiredImportTokenException)


def _fake_call(now: dt.datetime = NOW, vault_key: bytes = b"\x11" * 32) -> Any:
    """What check_token reads of a Call: the vault key (for the token MAC) and the time."""
    return types.SimpleNamespace(
        ctx=types.SimpleNamespace(vault=types.SimpleNamespace(vault_key=vault_key)), now=now
    )


def _record(arn: str = KEY_ARN) -> dict[str, Any]:
    return {
        "Arn": arn,
        "ImportParameters": [{"TokenId": TOKEN_ID.hex(), "ValidTo": "2026-01-16T12:00:00+00:00"}],
    }


def _genuine(call: Any = None) -> bytes:
    from kmscli.service.operations.importing import make_token

    return make_token(call or _fake_call(), KEY_ARN, TOKEN_ID, NOW + dt.timedelta(hours=24))


def test_genuine_token_is_accepted_and_expires() -> None:
    """The baseline the mutation properties depend on: the unmutated token passes, then expires."""
    from kmscli.service.operations.importing import check_token

    assert check_token(_fake_call(), _record(), _genuine())["TokenId"] == TOKEN_ID.hex()
    with pytest.raises(errors.ExpiredImportTokenException):
        check_token(_fake_call(NOW + dt.timedelta(hours=24)), _record(), _genuine())
    with pytest.raises(errors.InvalidImportTokenException):  # another key's token
        check_token(_fake_call(), _record(KEY_ARN.replace("1234abcd", "9999abcd")), _genuine())
    with pytest.raises(errors.InvalidImportTokenException):  # another vault's token
        check_token(_fake_call(vault_key=b"\x22" * 32), _record(), _genuine())
    with pytest.raises(errors.InvalidImportTokenException):  # its wrapping key was replaced
        check_token(_fake_call(), {"Arn": KEY_ARN, "ImportParameters": []}, _genuine())


@FAST
@given(st.binary(max_size=120))
@example(b"")
@example(b"KMSCLI-IMPORT-TOKEN-1\0")
@example(b"KMSCLI-IMPORT-TOKEN-1\0" + b"\0" * 56)
def test_forged_token_is_invalid(token: bytes) -> None:
    from kmscli.service.operations.importing import check_token

    with pytest.raises(errors.InvalidImportTokenException):
        check_token(_fake_call(), _record(), token)


@FAST
@given(st.data())
def test_mutated_token_is_refused(data: st.DataObject) -> None:
    """Bit flips, truncation, extension and splices of a genuine token: always refused cleanly."""
    from kmscli.service.operations.importing import check_token

    token = bytearray(_genuine())
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend", "splice"]))
    if kind == "flip":
        for bit in data.draw(
            st.lists(st.integers(0, len(token) * 8 - 1), min_size=1, max_size=4, unique=True)
        ):
            token[bit // 8] ^= 1 << (bit % 8)
    elif kind == "truncate":
        del token[data.draw(st.integers(0, len(token) - 1)) :]
    elif kind == "extend":
        token += data.draw(st.binary(min_size=1, max_size=16))
    else:
        start = data.draw(st.integers(0, len(token) - 1))
        piece = data.draw(st.binary(min_size=1, max_size=8))
        if bytes(token[start : start + len(piece)]) == piece:
            return  # an identity splice is the genuine token
        token[start : start + len(piece)] = piece
    when = data.draw(st.sampled_from([NOW, NOW + dt.timedelta(days=2)]))
    with pytest.raises(TOKEN_ERRORS):
        check_token(_fake_call(when), _record(), bytes(token))


@pytest.fixture
def external_key(kms: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, bytes]:
    skip_fsync(monkeypatch)
    key = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms(
        "GetParametersForImport",
        KeyId=key,
        WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048",
    )
    return key, params["ImportToken"]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_import_key_material_with_a_mutated_token_is_refused(
    kms: Any, external_key: tuple[str, bytes], data: st.DataObject
) -> None:
    """End to end: the operation answers with the token error, and the key stays PendingImport."""
    key, genuine = external_key
    token = bytearray(genuine)
    bit = data.draw(st.integers(0, len(token) * 8 - 1))
    token[bit // 8] ^= 1 << (bit % 8)
    token = token[: data.draw(st.integers(1, len(token)))]
    with pytest.raises(TOKEN_ERRORS):
        kms("ImportKeyMaterial", KeyId=key, ImportToken=bytes(token), EncryptedKeyMaterial=b"\0" * 256)
    assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
