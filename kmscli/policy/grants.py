"""Grants: matching a grant to a request (operations, grantee, constraints), tokens, chained grants."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kmscli import errors, jsonstrict
from kmscli.ids import parse_kms_arn
from kmscli.policy import principals
from kmscli.policy.actions import GRANT_OPERATIONS_WITH_CONTEXT

TOKEN_PREFIX = "kmscli-grant-token:"


def make_token(key_arn: str, grant_id: str, nonce: str) -> str:
    """An opaque grant token naming the grant (grants take effect at once in kmscli)."""
    body = json.dumps({"k": key_arn, "g": grant_id, "n": nonce}, separators=(",", ":")).encode()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(body).decode().rstrip("=")


def read_token(token: str) -> tuple[str, str]:
    """(key ARN, grant id) of a token; InvalidGrantTokenException when it is not one of ours.

    The token is caller input: its body is read as strictly as any JSON kmscli authenticates
    (:mod:`kmscli.jsonstrict`: no member twice, no ``NaN``, nesting too deep is a ValueError rather
    than a RecursionError), and is one of ours only with a key ARN and a grant id, both text."""
    invalid = errors.InvalidGrantTokenException("The grant token is not valid.")
    if not token.startswith(TOKEN_PREFIX):
        raise invalid
    text = token[len(TOKEN_PREFIX) :]
    try:
        body = jsonstrict.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):  # not base64, not UTF-8, not (strict) JSON
        raise invalid from None
    key_arn, grant_id = (body.get("k"), body.get("g")) if isinstance(body, dict) else (None, None)
    if not isinstance(key_arn, str) or not isinstance(grant_id, str) or not grant_id:
        raise invalid
    found = parse_kms_arn(key_arn)
    if found is None or not found[2].startswith("key/"):
        raise invalid
    return key_arn, grant_id


def _folded(context: dict[str, str]) -> dict[str, str] | None:
    """Constraint keys are case-insensitive, values case-sensitive (AWS GrantConstraints).

    None when two keys differ only by case: AWS does not say how those compare, so they are
    compared as exact pairs instead (a request cannot satisfy ``tenant=t1`` with ``TENANT=t1``
    next to ``tenant=t2``).
    """
    folded = {k.lower(): v for k, v in context.items()}
    return folded if len(folded) == len(context) else None


def _comparable(a: dict[str, str], b: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Both contexts with their keys folded, or both exact when either has case-variant keys."""
    fa, fb = _folded(a), _folded(b)
    if fa is None or fb is None:
        return dict(a), dict(b)
    return fa, fb


def constraints_met(constraints: dict[str, Any] | None, context: dict[str, str] | None) -> tuple[bool, str]:
    """Whether a request's encryption context satisfies a grant's constraints, and why."""
    if not constraints:
        return True, "no constraints"
    equals = constraints.get("EncryptionContextEquals")
    if equals is not None:
        ctx, want = _comparable(context or {}, equals)
        if ctx != want:
            return (
                False,
                "EncryptionContextEquals: the request's encryption context is not exactly the constraint",
            )
    subset = constraints.get("EncryptionContextSubset")
    if subset is not None:
        ctx, want = _comparable(context or {}, subset)
        missing = [k for k, v in want.items() if ctx.get(k) != v]
        if missing:
            return (
                False,
                f"EncryptionContextSubset: the request lacks the pairs for {', '.join(sorted(missing))}",
            )
    return True, "constraints met"


def grantee_matches(grant: dict[str, Any], caller: str) -> bool:
    """The grant's grantee is the caller (an account-root grantee covers the account's principals)."""
    return principals.matches("AWS", grant["GranteePrincipal"], caller)


def evaluate_grant(
    grant: dict[str, Any], caller: str, action: str, context: dict[str, str] | None
) -> tuple[bool, dict[str, Any]]:
    """Whether one grant allows ``action`` for the caller; with an explanation."""
    operation = action.split(":", 1)[1] if action.startswith("kms:") else action
    trace: dict[str, Any] = {"Type": "Grant", "GrantId": grant["GrantId"]}
    if grant.get("Name"):
        trace["Name"] = grant["Name"]
    trace["PrincipalMatch"] = grantee_matches(grant, caller)
    trace["ActionMatch"] = operation in grant.get("Operations", [])
    ok = trace["PrincipalMatch"] and trace["ActionMatch"]
    if ok and operation in GRANT_OPERATIONS_WITH_CONTEXT:
        met, why = constraints_met(grant.get("Constraints"), context)
        trace["Constraints"] = {"Result": met, "Reason": why}
        ok = met
    trace["Applies"] = ok
    return ok, trace


def at_least_as_strict(child: dict[str, Any] | None, parent: dict[str, Any] | None) -> bool:
    """A grant created through a constrained grant must be equally or more strictly constrained."""
    if not parent:
        return True
    child = child or {}
    p_eq, p_sub = parent.get("EncryptionContextEquals"), parent.get("EncryptionContextSubset")
    c_eq, c_sub = child.get("EncryptionContextEquals"), child.get("EncryptionContextSubset")
    if p_eq is not None:
        if c_eq is None:
            return False
        child_eq, parent_eq = _comparable(c_eq, p_eq)
        return child_eq == parent_eq
    if p_sub is not None:
        narrower = c_eq if c_eq is not None else c_sub
        if narrower is None:
            return False
        child, need = _comparable(narrower, p_sub)
        return need.items() <= child.items()
    return True


def list_entry(grant: dict[str, Any]) -> dict[str, Any]:
    """A stored grant as a ListGrants GrantListEntry (the token is not listed)."""
    out = {
        k: grant[k]
        for k in (
            "KeyId",
            "GrantId",
            "Name",
            "CreationDate",
            "GranteePrincipal",
            "RetiringPrincipal",
            "IssuingAccount",
            "Operations",
            "Constraints",
        )
        if grant.get(k) not in (None, "")
    }
    return out
