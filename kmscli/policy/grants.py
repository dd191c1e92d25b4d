"""Grants: matching a grant to a request (operations, grantee, constraints), tokens, chained grants."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kmscli import errors
from kmscli.policy import principals
from kmscli.policy.actions import GRANT_OPERATIONS_WITH_CONTEXT

TOKEN_PREFIX = "kmscli-grant-token:"


def make_token(key_arn: str, grant_id: str, nonce: str) -> str:
    """An opaque grant token naming the grant (grants take effect at once in kmscli)."""
    body = json.dumps({"k": key_arn, "g": grant_id, "n": nonce}, separators=(",", ":")).encode()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(body).decode().rstrip("=")


def read_token(token: str) -> tuple[str, str]:
    """(key ARN, grant id) of a token; InvalidGrantTokenException when it is not one of ours."""
    if not token.startswith(TOKEN_PREFIX):
        raise errors.InvalidGrantTokenException("The grant token is not valid.")
    text = token[len(TOKEN_PREFIX) :]
    try:
        body = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return str(body["k"]), str(body["g"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise errors.InvalidGrantTokenException("The grant token is not valid.") from None


def _folded(context: dict[str, str]) -> dict[str, str]:
    """Constraint keys are case-insensitive, values case-sensitive (GrantConstraints doc)."""
    return {k.lower(): v for k, v in context.items()}


def constraints_met(constraints: dict[str, Any] | None, context: dict[str, str] | None) -> tuple[bool, str]:
    """Whether a request's encryption context satisfies a grant's constraints, and why."""
    if not constraints:
        return True, "no constraints"
    ctx = _folded(context or {})
    equals = constraints.get("EncryptionContextEquals")
    if equals is not None and ctx != _folded(equals):
        return (
            False,
            "EncryptionContextEquals: the request's encryption context is not exactly the constraint",
        )
    subset = constraints.get("EncryptionContextSubset")
    if subset is not None:
        missing = [k for k, v in _folded(subset).items() if ctx.get(k) != v]
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
        return c_eq is not None and _folded(c_eq) == _folded(p_eq)
    if p_sub is not None:
        need = _folded(p_sub).items()
        if c_eq is not None:
            return need <= _folded(c_eq).items()
        return c_sub is not None and need <= _folded(c_sub).items()
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
