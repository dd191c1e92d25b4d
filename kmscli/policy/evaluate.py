"""Policy evaluation: one decision per request, with the statement or grant that made it.

Order (AWS KMS, "Determining access to a KMS key"): an applicable Deny statement in the key policy
wins; else an applicable Allow statement, else an applicable grant allows; else the call is
implicitly denied. A statement applies when its principal, action and resource match and every
condition test passes.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any, NamedTuple

from kmscli.policy import principals, variables, wildcard
from kmscli.policy.actions import action_matches
from kmscli.policy.conditions import Variants, evaluate_all, single_value
from kmscli.policy.document import Policy, Statement
from kmscli.policy.grants import evaluate_grant

ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY = "Allowed", "ExplicitDeny", "ImplicitDeny"


class Request(NamedTuple):
    """What is asked: who, which action, on which key, with which condition context."""

    principal: str
    action: str
    resource: str
    context: dict[str, Any]  # condition keys, lower case
    encryption_context: dict[str, str] | None = None


class Decision(NamedTuple):
    """The outcome and its explanation."""

    decision: str
    request: Request
    trace: list[dict[str, Any]]
    statement: Statement | None = None
    grant_id: str | None = None

    @property
    def allowed(self) -> bool:
        """Whether the call may proceed."""
        return self.decision == ALLOWED

    def message(self) -> str:
        """AWS's AccessDeniedException wording for a denial."""
        r = self.request
        head = f"User: {r.principal} is not authorized to perform: {r.action} on resource: {r.resource}"
        if self.decision == EXPLICIT_DENY:
            return f"{head} with an explicit deny in a resource-based policy"
        return f"{head} because no resource-based policy allows the {r.action} action"

    def decided_by(self) -> dict[str, Any] | None:
        """The statement (Sid and index) or grant that decided, when one did."""
        if self.statement is not None:
            out: dict[str, Any] = {"Type": "Statement", "Index": self.statement.index}
            if self.statement.sid:
                out["Sid"] = self.statement.sid
            out["Effect"] = self.statement.effect
            return out
        if self.grant_id is not None:
            return {"Type": "Grant", "GrantId": self.grant_id}
        return None

    def conditions(self) -> list[dict[str, Any]]:
        """Every condition test evaluated, with the statement it belongs to."""
        found = []
        for item in self.trace:
            for cond in item.get("Conditions", []):
                found.append({"Statement": item.get("Sid") or item.get("Index"), **cond})
        return found

    def as_dict(self) -> dict[str, Any]:
        """The decision as data (what ``kmscli policy simulate --output json`` prints)."""
        out: dict[str, Any] = {
            "Decision": self.decision,
            "Principal": self.request.principal,
            "Action": self.request.action,
            "Resource": self.request.resource,
        }
        if (by := self.decided_by()) is not None:
            out["DecidedBy"] = by
        out["ConditionsEvaluated"] = self.conditions()
        out["Trace"] = self.trace
        if not self.allowed:
            out["Message"] = self.message()
        return out


def resource_matches(pattern: str, resource: str) -> bool:
    """A Resource pattern as written (no policy variables) against the key ARN."""
    return wildcard.matches(pattern, resource)


def statement_resource_matches(stmt: Statement, pattern: str, req: Request) -> bool:
    """A statement's Resource pattern against the request's key, with policy variables substituted
    when the statement has them (a variable with no value matches no resource)."""
    if not stmt.variables:
        return resource_matches(pattern, req.resource)
    ambiguous = {
        k.lower(): v for k in variables.keys(pattern) if isinstance(v := req.context.get(k.lower()), Variants)
    }
    if not ambiguous:
        return variables.resource_matches(pattern, req.resource, lambda k: single_value(req.context, k))
    # a key the request spells several ways (conditions.py): a Deny matches if some spelling does, an
    # Allow only if each does
    names = list(ambiguous)
    found = []
    for choice in itertools.product(*(ambiguous[n] for n in names)):
        ctx = {**req.context, **dict(zip(names, choice, strict=True))}
        found.append(variables.resource_matches(pattern, req.resource, functools.partial(single_value, ctx)))
    return any(found) if stmt.effect == "Deny" else all(found)


def statement_scope(stmt: Statement, req: Request) -> dict[str, bool]:
    """Whether the principal, action and resource of a statement cover the request."""
    if stmt.principals is not None:
        who = any(principals.matches(k, v, req.principal) for k, v in stmt.principals)
    else:
        who = not principals.exempted(stmt.not_principals or (), req.principal)
    if stmt.actions is not None:
        what = any(action_matches(p, req.action) for p in stmt.actions)
    else:
        what = not any(action_matches(p, req.action) for p in stmt.not_actions or ())
    if stmt.resources is not None:
        where = any(statement_resource_matches(stmt, p, req) for p in stmt.resources)
    else:
        where = not any(statement_resource_matches(stmt, p, req) for p in stmt.not_resources or ())
    return {"PrincipalMatch": who, "ActionMatch": what, "ResourceMatch": where}


def evaluate_statement(stmt: Statement, req: Request) -> tuple[bool, dict[str, Any]]:
    """Whether a statement applies to the request, with its trace entry."""
    trace: dict[str, Any] = {"Type": "Statement", "Index": stmt.index}
    if stmt.sid:
        trace["Sid"] = stmt.sid
    trace["Effect"] = stmt.effect
    scope = statement_scope(stmt, req)
    trace.update(scope)
    applies = all(scope.values())
    if applies and stmt.conditions:
        ok, results = evaluate_all(stmt.conditions, req.context, deny=stmt.effect == "Deny")
        trace["Conditions"] = [r.as_dict() for r in results]
        applies = ok
    trace["Applies"] = applies
    return applies, trace


def decide(policy: Policy, grants: list[dict[str, Any]], req: Request) -> Decision:
    """Decide a request against a key policy and the key's grants."""
    trace: list[dict[str, Any]] = []
    deny: Statement | None = None
    allow: Statement | None = None
    for stmt in policy.statements:
        applies, entry = evaluate_statement(stmt, req)
        trace.append(entry)
        if applies and stmt.effect == "Deny" and deny is None:
            deny = stmt
        elif applies and stmt.effect == "Allow" and allow is None:
            allow = stmt
    if deny is not None:
        return Decision(EXPLICIT_DENY, req, statement=deny, trace=trace)
    if allow is not None:
        return Decision(ALLOWED, req, statement=allow, trace=trace)
    for grant in grants:
        ok, entry = evaluate_grant(grant, req.principal, req.action, req.encryption_context)
        trace.append(entry)
        if ok:
            return Decision(ALLOWED, req, grant_id=grant["GrantId"], trace=trace)
    return Decision(IMPLICIT_DENY, req, trace=trace)
