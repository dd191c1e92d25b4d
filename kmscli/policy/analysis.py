"""Operator views of a key policy and its grants: show (who, what, roles), who-can, and lint.

Everything here is data in, data out; ``kmscli.cli.policy_cmds`` renders it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kmscli.ids import is_account_id
from kmscli.policy import actions, principals, variables
from kmscli.policy.conditions import parse_date
from kmscli.policy.document import Condition, Policy, Statement, problems, takes_variables
from kmscli.policy.evaluate import resource_matches

ERROR, WARNING = "error", "warning"


def statement_actions(stmt: Statement) -> frozenset[str]:
    """The KMS actions a statement covers (NotAction: every other action)."""
    if stmt.actions is not None:
        return frozenset().union(*(actions.expand(p) for p in stmt.actions))
    excluded = frozenset().union(*(actions.expand(p) for p in stmt.not_actions or ()))
    return actions.all_actions() - excluded


def _resource_variables(stmt: Statement) -> list[str]:
    """The statement's Resource/NotResource patterns whose match depends on the request (variables)."""
    if not stmt.variables:
        return []
    patterns = stmt.resources if stmt.resources is not None else stmt.not_resources or ()
    return [
        p for p in patterns if (split := variables.resource_split(p)) and variables.has_variables(split[1])
    ]


def _covers_key(stmt: Statement, key_arn: str | None) -> bool:
    """Whether the statement's Resource can cover the key: a pattern with a policy variable may, so it
    counts (who-can lists it with ``ResourceDependsOn``)."""
    if key_arn is None or _resource_variables(stmt):
        return True
    if stmt.resources is not None:
        return any(resource_matches(p, key_arn) for p in stmt.resources)
    return not any(resource_matches(p, key_arn) for p in stmt.not_resources or ())


def _always_covers_key(stmt: Statement, key_arn: str | None) -> bool:
    """Whether the statement's Resource covers the key whatever the request."""
    return not _resource_variables(stmt) and _covers_key(stmt, key_arn)


def describe_principal(kind: str, value: str) -> dict[str, Any]:
    """A Principal entry as data: the value, what it means, and whether it is anyone."""
    if principals.is_anyone(kind, value):
        return {"Principal": "*", "Kind": "Anyone", "Anyone": True, "Meaning": "anyone (wildcard principal)"}
    if kind != "AWS":
        return {"Principal": value, "Kind": kind, "Anyone": False, "Meaning": f"{kind} principal {value}"}
    account = principals.names_account(value)
    if account is not None:
        return {
            "Principal": principals.root_of(account),
            "Kind": "Account",
            "Anyone": False,
            "Meaning": f"every principal of account {account} (root delegation: IAM policies decide in AWS)",
        }
    return {"Principal": value, "Kind": "Principal", "Anyone": False, "Meaning": value}


def statement_who(stmt: Statement) -> list[dict[str, Any]]:
    """The principals a statement names; NotPrincipal becomes one 'anyone except' entry."""
    if stmt.principals is not None:
        return [describe_principal(k, v) for k, v in stmt.principals]
    names = ", ".join(v for _, v in stmt.not_principals or ())
    return [
        {
            "Principal": "*",
            "Kind": "AnyoneExcept",
            "Anyone": True,
            "Except": [v for _, v in stmt.not_principals or ()],
            "Meaning": f"anyone except {names}",
        }
    ]


def statement_role(stmt: Statement) -> str:
    """KeyAdministrators, KeyUsers, AdministratorsAndUsers, or Other, by the actions covered."""
    covered = statement_actions(stmt)
    admin, use = bool(covered & actions.ADMIN_ACTIONS), bool(covered & actions.USER_ACTIONS)
    if admin and use:
        return "AdministratorsAndUsers"
    return "KeyAdministrators" if admin else "KeyUsers" if use else "Other"


def _statement_view(stmt: Statement) -> dict[str, Any]:
    view: dict[str, Any] = {"Index": stmt.index}
    if stmt.sid:
        view["Sid"] = stmt.sid
    view["Effect"] = stmt.effect
    view["Who"] = statement_who(stmt)
    if stmt.actions is not None:
        view["Actions"] = list(stmt.actions)
    else:
        view["NotActions"] = list(stmt.not_actions or ())
    if stmt.resources is not None:
        view["Resources"] = list(stmt.resources)
    else:
        view["NotResources"] = list(stmt.not_resources or ())
    view["Conditions"] = [c.as_dict() for c in stmt.conditions]
    view["Role"] = statement_role(stmt) if stmt.effect == "Allow" else "Deny"
    return view


def _grant_view(grant: dict[str, Any]) -> dict[str, Any]:
    ops = {f"kms:{op}" for op in grant.get("Operations", [])}
    admin, use = bool(ops & actions.ADMIN_ACTIONS), bool(ops & actions.USER_ACTIONS)
    view = {
        "GrantId": grant["GrantId"],
        "Name": grant.get("Name"),
        "Who": [describe_principal("AWS", grant["GranteePrincipal"])],
        "Operations": list(grant.get("Operations", [])),
        "Constraints": grant.get("Constraints") or {},
        "RetiringPrincipal": grant.get("RetiringPrincipal"),
        "Role": "AdministratorsAndUsers" if admin and use else "KeyUsers" if use else "Other",
    }
    return {k: v for k, v in view.items() if v is not None}


def show(policy: Policy, grants: list[dict[str, Any]], key_arn: str | None = None) -> dict[str, Any]:
    """The policy and grants as who/what/conditions/effect, with the administrator/user split."""
    statements = [_statement_view(s) for s in policy.statements]
    admins: dict[str, None] = {}
    users: dict[str, None] = {}
    for stmt, view in zip(policy.statements, statements, strict=True):
        if stmt.effect != "Allow":
            continue
        for who in view["Who"]:
            label = who["Meaning"] if who["Kind"] == "AnyoneExcept" else who["Principal"]
            if view["Role"] in ("KeyAdministrators", "AdministratorsAndUsers"):
                admins[label] = None
            if view["Role"] in ("KeyUsers", "AdministratorsAndUsers"):
                users[label] = None
    grant_views = [_grant_view(g) for g in grants]
    for view in grant_views:
        if view["Role"] in ("KeyUsers", "AdministratorsAndUsers"):
            users[view["Who"][0]["Principal"]] = None
    # the account root's kms:* is AWS's default delegation to IAM, not a separation failure
    both = [p for p in admins if p in users and principals.ROOT_RE.match(p) is None]
    root_both = [p for p in admins if p in users and principals.ROOT_RE.match(p) is not None]
    if both:
        note = "these principals can both manage the key (policy, deletion) and use it"
    elif root_both:
        note = (
            "no principal other than the account root is both a key administrator and a key user "
            "(the root's kms:* is AWS's default delegation to the account's IAM policies, which then decide)"
        )
    else:
        note = "no principal is both a key administrator and a key user"
    out: dict[str, Any] = {}
    if key_arn:
        out["KeyArn"] = key_arn
    out.update(
        {
            "Statements": statements,
            "Grants": grant_views,
            "KeyAdministrators": list(admins),
            "KeyUsers": list(users),
            "Separation": {
                "Separated": not both,
                "BothAdministratorAndUser": both,
                "Note": note,
            },
        }
    )
    return out


def _conds(stmt: Statement) -> list[dict[str, Any]]:
    return [c.as_dict() for c in stmt.conditions]


def _via(stmt: Statement) -> dict[str, Any]:
    via: dict[str, Any] = {"Type": "Statement", "Index": stmt.index}
    if stmt.sid:
        via["Sid"] = stmt.sid
    return via


def _deny_covers(deny: Statement, who: dict[str, Any]) -> bool:
    """Whether an unconditional Deny applies to every principal a who-entry stands for."""
    if deny.conditions or deny.not_principals is not None:
        return False
    for kind, value in deny.principals or ():
        if principals.is_anyone(kind, value):
            return True
        if who["Kind"] in ("Principal", "Account") and kind == "AWS":
            account = principals.names_account(value)
            if account is not None and principals.account_of(who["Principal"]) == account:
                return True
            if value == who["Principal"]:
                return True
    return False


def who_can(
    policy: Policy, grants: list[dict[str, Any]], action: str, key_arn: str | None = None
) -> dict[str, Any]:
    """Every principal the policy and grants allow ``action`` for, the conditions each must meet, and
    every principal explicitly denied it."""
    allowed: list[dict[str, Any]] = []
    denied: list[dict[str, Any]] = []
    relevant = [
        s
        for s in policy.statements
        if action in statement_actions(s) or (s.actions is not None and any(p == "*" for p in s.actions))
    ]
    relevant = [s for s in relevant if _covers_key(s, key_arn)]
    # a Deny whose Resource has a policy variable depends on the request: it overrides nothing for sure
    unconditional_denies = [
        s for s in relevant if s.effect == "Deny" and not s.conditions and _always_covers_key(s, key_arn)
    ]
    for stmt in relevant:
        for who in statement_who(stmt):
            entry = {**who, "Via": _via(stmt), "Conditions": _conds(stmt)}
            if depends := _resource_variables(stmt):
                entry["ResourceDependsOn"] = depends
            if stmt.effect == "Deny":
                entry["Unconditional"] = not stmt.conditions and not depends
                denied.append(entry)
                continue
            blockers = [d for d in unconditional_denies if _deny_covers(d, who)]
            if blockers:
                entry["OverriddenBy"] = _via(blockers[0])
            allowed.append(entry)
    for grant in grants:
        if action.removeprefix("kms:") in grant.get("Operations", []):
            who = describe_principal("AWS", grant["GranteePrincipal"])
            entry = {**who, "Via": {"Type": "Grant", "GrantId": grant["GrantId"]}, "Conditions": []}
            if grant.get("Constraints"):
                entry["Constraints"] = grant["Constraints"]
            blockers = [d for d in unconditional_denies if _deny_covers(d, who)]
            if blockers:
                entry["OverriddenBy"] = _via(blockers[0])
            allowed.append(entry)
    out: dict[str, Any] = {"Action": action}
    if key_arn:
        out["KeyArn"] = key_arn
    out["Allowed"] = allowed
    out["Denied"] = denied
    out["AnyoneAllowed"] = any(e["Anyone"] and "OverriddenBy" not in e for e in allowed)
    return out


# -- lint -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One lint finding."""

    level: str
    code: str
    message: str
    statement: int | None = None
    sid: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The finding as data."""
        out: dict[str, Any] = {"Level": self.level, "Code": self.code}
        if self.statement is not None:
            out["Statement"] = self.statement
        if self.sid:
            out["Sid"] = self.sid
        out["Message"] = self.message
        return out


def _never_reasons(stmt: Statement) -> list[str]:
    """Why a statement's conditions can never all be true (empty when they can)."""
    reasons: list[str] = []
    by_key: dict[str, list[Condition]] = {}
    for cond in stmt.conditions:
        by_key.setdefault(cond.key.lower(), []).append(cond)
        if cond.variables and any(variables.has_variables(v) for v in cond.values):
            continue  # a value with a policy variable is the request's: no fixed value to judge
        enum = actions.KEY_ENUMS.get(cond.key.lower())
        if (
            enum
            and cond.base in ("StringEquals", "StringEqualsIgnoreCase")
            and not cond.if_exists
            and not any(v.upper() in enum for v in cond.values)
        ):
            reasons.append(
                f"{cond.key} is never {', '.join(cond.values)} (it is one of {', '.join(sorted(enum))})"
            )
        if cond.base.startswith("Numeric") and not any(_is_number(v) for v in cond.values):
            reasons.append(f"{cond.operator} {cond.key}: {', '.join(cond.values)} is not a number")
        if cond.base.startswith("Date") and not any(parse_date(v) for v in cond.values):
            reasons.append(f"{cond.operator} {cond.key}: {', '.join(cond.values)} is not a date")
        if cond.base in ("Bool", "Null") and not any(v.lower() in ("true", "false") for v in cond.values):
            reasons.append(f"{cond.operator} {cond.key}: {', '.join(cond.values)} is not true or false")
        if (
            cond.key.lower() in ("kms:calleraccount", "aws:principalaccount")
            and cond.base == "StringEquals"
            and not any(is_account_id(v) for v in cond.values)
        ):
            reasons.append(f"{cond.key} is a 12-digit account id, never {', '.join(cond.values)}")
    for conds in by_key.values():
        null_true = any(c.base == "Null" and all(v.lower() == "true" for v in c.values) for c in conds)
        needs_value = [
            c
            for c in conds
            if c.base != "Null"
            and not c.if_exists
            and c.qualifier is None
            and c.base
            not in (
                "StringNotEquals",
                "StringNotEqualsIgnoreCase",
                "StringNotLike",
                "NumericNotEquals",
                "DateNotEquals",
                "ArnNotEquals",
                "ArnNotLike",
                "NotIpAddress",
            )
        ]
        if null_true and needs_value:
            reasons.append(
                f"Null requires {conds[0].key} to be absent while {needs_value[0].operator} needs it"
            )
        low = [_bound(c) for c in conds if c.base in ("NumericGreaterThan", "NumericGreaterThanEquals")]
        high = [_bound(c) for c in conds if c.base in ("NumericLessThan", "NumericLessThanEquals")]
        low_b = [b for b in low if b is not None]
        high_b = [b for b in high if b is not None]
        if low_b and high_b:
            lo = max(low_b)
            hi = min(high_b)
            if lo[0] > hi[0] or (lo[0] == hi[0] and not (lo[1] and hi[1])):
                reasons.append(f"{conds[0].key} cannot be both above {lo[0]:g} and below {hi[0]:g}")
        conds = [c for c in conds if not (c.variables and any(variables.has_variables(v) for v in c.values))]
        eq = [set(c.values) for c in conds if c.base == "StringEquals" and c.qualifier is None]
        neq = [set(c.values) for c in conds if c.base == "StringNotEquals" and c.qualifier is None]
        if eq and neq and all(e <= n for e in eq for n in neq):
            reasons.append(f"{conds[0].key} must equal and not equal the same values")
    return reasons


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _bound(cond: Condition) -> tuple[float, bool] | None:
    """(bound, inclusive) of a one-value numeric comparison (the loosest when several are listed)."""
    nums = [float(v) for v in cond.values if _is_number(v)]
    if not nums:
        return None
    inclusive = cond.base.endswith("Equals")
    return (min(nums), inclusive) if "Greater" in cond.base else (max(nums), inclusive)


def _is_account_root_only(stmt: Statement) -> bool:
    return stmt.principals is not None and all(
        k == "AWS" and principals.names_account(v) is not None for k, v in stmt.principals
    )


def _deny_shadows(deny: Statement, allow: Statement) -> bool:
    if deny.conditions or deny.not_principals is not None or deny.resources != ("*",):
        return False
    if not any(principals.is_anyone(k, v) for k, v in deny.principals or ()):
        allow_who = [w for w in statement_who(allow)]
        if not allow_who or not all(_deny_covers(deny, w) for w in allow_who):
            return False
    return statement_actions(allow) <= statement_actions(deny)


def lint(text: str) -> dict[str, Any]:
    """Findings for a policy document; ``Errors`` counts the error-level ones."""
    policy, found = problems(text)
    findings = [Finding(ERROR, p.code, p.message, p.statement) for p in found]
    if policy is not None:
        findings += _lint_statements(policy)
    out = [f.as_dict() for f in findings]
    return {
        "Findings": out,
        "Errors": sum(f.level == ERROR for f in findings),
        "Warnings": sum(f.level == WARNING for f in findings),
    }


def _literal_variables(policy: Policy, stmt: Statement) -> list[str]:
    """Why text that looks like a policy variable (``${``) in a statement is compared as written."""
    found: list[str] = []
    patterns = stmt.resources if stmt.resources is not None else stmt.not_resources or ()
    values = [(c.operator, c.base, v) for c in stmt.conditions for v in c.values]
    if not stmt.variables:
        texts = [*patterns, *(v for _, _, v in values)]
        if any(variables.looks_like_variable(t) for t in texts):
            found.append(
                f"policy variables need Version {variables.VARIABLES_VERSION!r} (this policy's is "
                f"{policy.version!r}): ${{...}} is compared as written"
            )
        return found
    for pattern in patterns:
        split = variables.resource_split(pattern)
        head, tail = split if split is not None else (pattern, "")
        if variables.looks_like_variable(head):
            found.append(
                f"{pattern}: a variable counts only after the ARN's fifth colon; before it, it is text"
            )
        if variables.looks_like_variable(tail) and not variables.has_variables(tail):
            found.append(f"{pattern}: ${{ with no well-formed ${{key}} is compared as written")
    for operator, base, value in values:
        if not variables.looks_like_variable(value):
            continue
        if not takes_variables(base):
            found.append(f"{operator} {value}: only string and ARN operators substitute variables")
        elif not variables.has_variables(value):
            found.append(f"{operator} {value}: ${{ with no well-formed ${{key}} is compared as written")
    return found


def _lint_statements(policy: Policy) -> list[Finding]:
    out: list[Finding] = []
    allows = [s for s in policy.statements if s.effect == "Allow"]
    for stmt in policy.statements:
        idx, sid = stmt.index, stmt.sid
        for why in _literal_variables(policy, stmt):
            out.append(Finding(WARNING, "POLICY_VARIABLE_LITERAL", why, idx, sid))
        anyone = any(w["Anyone"] for w in statement_who(stmt))
        if stmt.effect == "Allow" and anyone and not stmt.conditions:
            out.append(
                Finding(
                    ERROR,
                    "WILDCARD_PRINCIPAL",
                    "a wildcard principal is allowed with no condition: "
                    "anyone (any AWS account) can make these calls",
                    idx,
                    sid,
                )
            )
        for cond in stmt.conditions:
            if not actions.is_known_condition_key(cond.key):
                out.append(
                    Finding(
                        WARNING,
                        "UNKNOWN_CONDITION_KEY",
                        f"{cond.key} is not a KMS or global condition key: it is never in the "
                        "request, so the test only passes by absence",
                        idx,
                        sid,
                    )
                )
            elif cond.qualifier and not actions.is_multi_valued(cond.key):
                out.append(
                    Finding(
                        WARNING,
                        "SET_OPERATOR_ON_SINGLE_VALUE",
                        f"{cond.operator} is meant for multivalued keys; {cond.key} has one value "
                        "(ForAllValues on it also passes when the key is absent)",
                        idx,
                        sid,
                    )
                )
        for why in _never_reasons(stmt):
            level = ERROR if stmt.effect == "Deny" else WARNING
            out.append(
                Finding(
                    level, "CONDITION_NEVER_MATCHES", f"this {stmt.effect} can never apply: {why}", idx, sid
                )
            )
        # named one by one (a wildcard also covers actions the key does decide)
        iam_only = sorted(
            a
            for pattern in stmt.actions or ()
            if "*" not in pattern and "?" not in pattern
            for a in actions.expand(pattern) & actions.IAM_ONLY_ACTIONS
        )
        if iam_only:
            out.append(
                Finding(
                    WARNING,
                    "IAM_ONLY_ACTION",
                    f"{', '.join(iam_only)}: an IAM policy permission, which a key policy cannot allow or "
                    "deny (this statement has no effect on it)",
                    idx,
                    sid,
                )
            )
        if stmt.effect == "Allow" and not _is_account_root_only(stmt):
            patterns = stmt.actions or ()
            if any(p in ("*", "kms:*") for p in patterns):
                out.append(
                    Finding(
                        WARNING,
                        "KMS_STAR_TO_KEY_USER",
                        "kms:* gives these principals every administrative permission "
                        "(PutKeyPolicy, ScheduleKeyDeletion) as well as use of the key",
                        idx,
                        sid,
                    )
                )
    # separation of administrators and users (account root delegation excluded: that is AWS's default)
    admin_of: dict[str, list[int]] = {}
    user_of: dict[str, list[int]] = {}
    for stmt in allows:
        role = statement_role(stmt)
        for who in statement_who(stmt):
            if who["Kind"] == "Account":
                continue
            label = who["Meaning"]
            if role in ("KeyAdministrators", "AdministratorsAndUsers"):
                admin_of.setdefault(label, []).append(stmt.index)
            if role in ("KeyUsers", "AdministratorsAndUsers"):
                user_of.setdefault(label, []).append(stmt.index)
    for label in admin_of:
        if label in user_of:
            out.append(
                Finding(
                    WARNING,
                    "NO_ADMIN_USER_SEPARATION",
                    f"{label} is both a key administrator (statements {admin_of[label]}) and a key "
                    f"user (statements {user_of[label]})",
                )
            )
    # Deny statements that shadow Allows
    denies = [s for s in policy.statements if s.effect == "Deny"]
    shadowed = [a for a in allows if any(_deny_shadows(d, a) for d in denies)]
    if allows and len(shadowed) == len(allows):
        out.append(
            Finding(
                ERROR,
                "DENY_SHADOWS_EVERY_ALLOW",
                "an unconditional Deny covers every Allow: nobody can use or manage the key",
            )
        )
    else:
        for stmt in shadowed:
            out.append(
                Finding(
                    WARNING,
                    "DENY_SHADOWS_ALLOW",
                    "an unconditional Deny covers this Allow entirely",
                    stmt.index,
                    stmt.sid,
                )
            )
    if not any("kms:PutKeyPolicy" in statement_actions(s) for s in allows):
        out.append(
            Finding(
                WARNING,
                "NO_POLICY_ADMIN",
                "no statement allows kms:PutKeyPolicy: the policy could never be changed again "
                "(AWS refuses it without --bypass-policy-lockout-safety-check)",
            )
        )
    return out
