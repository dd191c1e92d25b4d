"""The key policy grammar: parsing a JSON document into statements, and validating it as AWS does.

``parse(text)`` raises ``MalformedPolicyDocumentException`` naming the first problem;
``problems(text)`` returns every problem (for ``kmscli policy lint``) without raising.
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

from kmscli import errors, jsonstrict
from kmscli.ids import is_account_id
from kmscli.policy import actions
from kmscli.policy.variables import VARIABLES_VERSION

VERSIONS = ("2012-10-17", "2008-10-17")
STATEMENT_ELEMENTS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
IAM_PRINCIPAL_RE = re.compile(
    r"^arn:aws[a-z-]*:(iam::[0-9]{12}:(root|user/.+|role/.+|federated-user/.+)"
    r"|sts::[0-9]{12}:(assumed-role/[^/]+/.+|federated-user/.+))\Z"
)


def is_aws_principal(value: str) -> bool:
    """Whether ``value`` names an AWS principal as key policies and grants take it: an account id or
    an IAM or STS ARN (the one rule for both)."""
    return is_account_id(value) or IAM_PRINCIPAL_RE.match(value) is not None


#: Condition operators (without the ``IfExists`` suffix and the set prefixes).
BASE_OPERATORS = (
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
)
SET_QUALIFIERS = ("ForAnyValue", "ForAllValues")


class Condition(NamedTuple):
    """One (operator, key, values) test of a statement's Condition block."""

    operator: str  # as written, e.g. "ForAnyValue:StringLikeIfExists"
    base: str  # "StringLike"
    qualifier: str | None  # "ForAnyValue" / "ForAllValues" / None
    if_exists: bool
    key: str
    values: tuple[str, ...]
    #: whether the values are templates with policy variables (policy/variables.py): a string or ARN
    #: operator in a policy whose Version has variables
    variables: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The condition as data."""
        return {"Operator": self.operator, "Key": self.key, "Values": list(self.values)}


class Statement:
    """One statement of a key policy (a plain class: a NamedTuple field cannot be called ``index``)."""

    __slots__ = (
        "actions",
        "conditions",
        "effect",
        "index",
        "not_actions",
        "not_principals",
        "not_resources",
        "principals",
        "resources",
        "sid",
        "variables",
    )

    def __init__(
        self,
        index: int,
        sid: str | None,
        effect: str,
        principals: tuple[tuple[str, str], ...] | None,  # (type, value); ("*", "*") for "*"
        not_principals: tuple[tuple[str, str], ...] | None,
        actions: tuple[str, ...] | None,
        not_actions: tuple[str, ...] | None,
        resources: tuple[str, ...] | None,
        not_resources: tuple[str, ...] | None,
        conditions: tuple[Condition, ...] = (),
        variables: bool = False,
    ) -> None:
        self.index = index
        self.sid = sid
        self.effect = effect
        self.principals = principals
        self.not_principals = not_principals
        self.actions = actions
        self.not_actions = not_actions
        self.resources = resources
        self.not_resources = not_resources
        self.conditions = conditions
        #: whether Resource/NotResource patterns have policy variables (the policy's Version has them)
        self.variables = variables

    def __repr__(self) -> str:
        return f"Statement(index={self.index!r}, sid={self.sid!r}, effect={self.effect!r})"

    @property
    def label(self) -> str:
        """How explanations name the statement: its Sid, else its index."""
        return f"Sid {self.sid!r}" if self.sid else f"statement #{self.index}"


class Policy:
    """A parsed key policy."""

    __slots__ = ("id", "statements", "version")

    def __init__(
        self, version: str | None, id: str | None, statements: list[Statement] | None = None
    ) -> None:
        self.version = version
        self.id = id
        self.statements: list[Statement] = statements if statements is not None else []

    def __repr__(self) -> str:
        return f"Policy(version={self.version!r}, id={self.id!r}, statements={self.statements!r})"


class Problem(NamedTuple):
    """A validation finding: what is wrong and where."""

    message: str
    statement: int | None = None
    code: str = "MALFORMED"


def split_operator(op: str) -> tuple[str, str | None, bool] | None:
    """``ForAnyValue:StringLikeIfExists`` -> ("StringLike", "ForAnyValue", True); None when unknown."""
    qualifier = None
    if ":" in op:
        qualifier, op = op.split(":", 1)
        if qualifier not in SET_QUALIFIERS:
            return None
    if_exists = op.endswith("IfExists")
    base = op[: -len("IfExists")] if if_exists else op
    if base not in BASE_OPERATORS or (base == "Null" and if_exists):
        return None
    return base, qualifier, if_exists


def _strings(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_ok(kind: str, value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    if value != "*" and ("*" in value or "?" in value):
        return False  # AWS: a wildcard cannot match part of a principal name or ARN
    if kind == "AWS":
        return value == "*" or is_aws_principal(value)
    return True


def _principals(raw: Any, where: str, idx: int, out: list[Problem]) -> tuple[tuple[str, str], ...]:
    if raw == "*":
        return (("*", "*"),)
    if not isinstance(raw, dict) or not raw:
        out.append(Problem(f'{where} must be "*" or an object such as {{"AWS": ARN}}', idx))
        return ()
    found: list[tuple[str, str]] = []
    for kind, values in raw.items():
        if kind not in PRINCIPAL_TYPES:
            out.append(Problem(f"{where} has an unknown principal type {kind!r}", idx))
            continue
        if not _strings(values):
            out.append(Problem(f"{where} {kind} lists no principal", idx))
        for value in _strings(values):
            if not _principal_ok(kind, value):
                why = (
                    ' (a wildcard cannot match part of a principal: use "*" or name the principal)'
                    if isinstance(value, str) and value != "*" and ("*" in value or "?" in value)
                    else ""
                )
                out.append(
                    Problem(
                        f"Policy contains a statement with one or more invalid principals: {value!r}{why}",
                        idx,
                    )
                )
            else:
                found.append((kind, value))
    return tuple(found)


def _action_list(raw: Any, where: str, idx: int, out: list[Problem]) -> tuple[str, ...]:
    found = []
    for value in _strings(raw):
        if not isinstance(value, str) or not value:
            out.append(Problem(f"{where} values must be non-empty strings", idx))
            continue
        if value != "*" and (not value.lower().startswith("kms:") or not actions.expand(value)):
            out.append(Problem(f"{where} {value!r} is not a KMS action", idx, "UNKNOWN_ACTION"))
            continue
        found.append(value)
    return tuple(found)


def takes_variables(base: str) -> bool:
    """Whether an operator's values can hold policy variables: the string and ARN operators."""
    return base.startswith(("String", "Arn"))


def _conditions(raw: Any, idx: int, out: list[Problem], variables: bool) -> tuple[Condition, ...]:
    if not isinstance(raw, dict):
        out.append(Problem("Condition must be an object of operator -> {key: values}", idx))
        return ()
    found = []
    for op, block in raw.items():
        parts = split_operator(op) if isinstance(op, str) else None
        if parts is None:
            out.append(Problem(f"Condition has an unknown operator {op!r}", idx, "UNKNOWN_OPERATOR"))
            continue
        if not isinstance(block, dict) or not block:
            out.append(Problem(f"Condition operator {op} must map condition keys to values", idx))
            continue
        base, qualifier, if_exists = parts
        for key, values in block.items():
            vals = _strings(values)
            if not vals or not all(isinstance(v, str | int | float | bool) for v in vals):
                out.append(Problem(f"Condition {op} {key}: values must be strings, numbers or booleans", idx))
                continue
            text = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in vals)
            found.append(
                Condition(op, base, qualifier, if_exists, key, text, variables and takes_variables(base))
            )
    return tuple(found)


def _statement(raw: Any, idx: int, out: list[Problem], variables: bool) -> Statement | None:
    if not isinstance(raw, dict):
        out.append(Problem("each statement must be a JSON object", idx))
        return None
    before = len(out)
    for name in raw:
        if name not in STATEMENT_ELEMENTS:
            out.append(Problem(f"statement has an unknown element {name!r}", idx))
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        out.append(Problem("Sid must be a string", idx))
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        out.append(Problem(f'unknown Effect {effect!r}: it must be "Allow" or "Deny"', idx))
    pairs = (("Principal", "NotPrincipal"), ("Action", "NotAction"), ("Resource", "NotResource"))
    for a, b in pairs:
        if (a in raw) == (b in raw):
            what = "both" if a in raw else "neither"
            out.append(Problem(f"statement has {what} {a} and {b}: it needs exactly one", idx))
    principals = _principals(raw["Principal"], "Principal", idx, out) if "Principal" in raw else None
    not_principals = (
        _principals(raw["NotPrincipal"], "NotPrincipal", idx, out) if "NotPrincipal" in raw else None
    )
    acts = _action_list(raw["Action"], "Action", idx, out) if "Action" in raw else None
    not_acts = _action_list(raw["NotAction"], "NotAction", idx, out) if "NotAction" in raw else None
    resources = not_resources = None
    for name in ("Resource", "NotResource"):
        if name in raw:
            vals = _strings(raw[name])
            if not vals or not all(isinstance(v, str) and v for v in vals):
                out.append(Problem(f"{name} values must be non-empty strings", idx))
            elif name == "Resource":
                resources = tuple(vals)
            else:
                not_resources = tuple(vals)
    conds = _conditions(raw["Condition"], idx, out, variables) if "Condition" in raw else ()
    if any(p.code == "MALFORMED" for p in out[before:]) or effect not in ("Allow", "Deny"):
        return None  # unknown actions/operators alone keep the rest of the statement (for lint)
    return Statement(
        idx,
        sid,
        str(effect),
        principals,
        not_principals,
        acts,
        not_acts,
        resources,
        not_resources,
        conds,
        variables,
    )


def _spells_a_lone_surrogate(doc: Any) -> bool:
    """Whether a parsed document holds a string (a member name or a value) with a lone surrogate:
    ``"\\ud800"`` is valid JSON syntax but no Unicode text, so it could be stored and then not be
    printed, logged or compared as text (``policy show`` failed on it)."""
    pending = [doc]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def _parse(text: str, out: list[Problem]) -> Policy | None:
    try:
        doc = jsonstrict.loads(text)
    except ValueError as exc:
        out.append(Problem(f"the policy is not valid JSON: {exc}"))
        return None
    except RecursionError:
        out.append(Problem("the policy is not valid JSON: it is nested too deeply"))
        return None
    if _spells_a_lone_surrogate(doc):
        out.append(
            Problem("the policy is not valid JSON: a \\u escape spells a lone surrogate, which is not text")
        )
        return None
    if not isinstance(doc, dict):
        out.append(Problem("the policy must be a JSON object"))
        return None
    for name in doc:
        if name not in ("Version", "Id", "Statement"):
            out.append(Problem(f"the policy has an unknown top-level element {name!r}"))
    version = doc.get("Version")
    if version is not None and version not in VERSIONS:
        out.append(Problem(f'unknown policy Version {version!r}: use "2012-10-17"'))
    raw = doc.get("Statement")
    if raw is None:
        out.append(Problem("the policy has no Statement"))
        return None
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        out.append(Problem("the policy's Statement list is empty"))
    policy = Policy(version, doc.get("Id") if isinstance(doc.get("Id"), str) else None)
    sids: dict[str, int] = {}
    for idx, item in enumerate(items):
        stmt = _statement(item, idx, out, version == VARIABLES_VERSION)
        sid = item.get("Sid") if isinstance(item, dict) else None
        if isinstance(sid, str) and sid:
            if sid in sids:
                out.append(
                    Problem(
                        f"Statement IDs (SID) in a single policy must be unique: Sid {sid!r} is also "
                        f"statement {sids[sid]}'s",
                        idx,
                    )
                )
            sids.setdefault(sid, idx)
        if stmt is not None:
            policy.statements.append(stmt)
    return policy


def problems(text: str) -> tuple[Policy | None, list[Problem]]:
    """Parse leniently: the statements that are valid, and every problem found."""
    out: list[Problem] = []
    policy = _parse(text, out)
    return policy, out


def parse(text: str) -> Policy:
    """Parse and validate a key policy; MalformedPolicyDocumentException names the first problem.

    Parsed policies are cached by text (they are never mutated): each call decides with the same one.
    """
    return _parse_cached(text)


@functools.lru_cache(maxsize=256)
def _parse_cached(text: str) -> Policy:
    policy, found = problems(text)
    if found or policy is None:
        first = found[0]
        where = f"Statement {first.statement}: " if first.statement is not None else ""
        raise errors.MalformedPolicyDocumentException(f"{where}{first.message}")
    return policy
