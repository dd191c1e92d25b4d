"""IAM condition operators, evaluated against a request context with an explanation of each test.

Semantics (IAM User Guide, "Condition operators" and "Multivalued context keys"):
- the values listed for one key are ORed; for negated operators (``StringNotEquals`` ...) the request
  value must match none of them;
- a key missing from the request makes the test false, except for negated operators (true),
  ``...IfExists`` (true), ``ForAllValues:`` (true) and ``Null`` (which tests presence);
- ``ForAnyValue:`` needs one request value to pass, ``ForAllValues:`` needs every one to pass.

Case (AWS KMS, "Case sensitivity of the encryption context condition"; IAM, "Condition element"):
condition key names are not case sensitive, ``kms:EncryptionContext:<context-key>`` and
``aws:ResourceTag/<tag-key>`` included, while encryption context keys and KMS tag keys are: a request
can carry ``dept`` and ``Dept``, or tags ``Env`` and ``env``, and both name the same condition key.
AWS does not say which value the condition key then has, so kmscli keeps every spelling's value
(:class:`Variants`) and decides conservatively, test by test: in a Deny statement a test passes when
it passes under any one of them (so a Deny that would apply under any spelling applies), in an Allow
statement only when it passes under each of them.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

from kmscli.clock import parse_time
from kmscli.policy import variables, wildcard
from kmscli.policy.actions import KEY_PREFIXES
from kmscli.policy.document import Condition

NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NotIpAddress": "IpAddress",
}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def parse_date(text: str) -> dt.datetime | None:
    """An IAM date value: ISO 8601 (``Z`` allowed, date only allowed) or epoch seconds."""
    return parse_time(text)


def _compare(parse: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Callable[[str, str], bool]:
    def check(request: str, policy: str) -> bool:
        a, b = parse(request), parse(policy)
        return a is not None and b is not None and bool(test(a, b))

    return check


def _arn_like(request: str, policy: str) -> bool:
    req, pol = request.split(":", 5), policy.split(":", 5)
    if len(pol) == 1 and pol[0] == "*":
        return True
    if len(req) != 6 or len(pol) != 6:
        return False
    return all(wildcard.matches(p, r) for p, r in zip(pol, req, strict=True))


def _ip(request: str, policy: str) -> bool:
    try:
        import ipaddress  # only IpAddress conditions need it

        return ipaddress.ip_address(request) in ipaddress.ip_network(policy, strict=False)
    except ValueError:
        return False


def _bool(request: str, policy: str) -> bool:
    return request.lower() == policy.lower()


POSITIVE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda r, p: r == p,
    "StringEqualsIgnoreCase": lambda r, p: r.lower() == p.lower(),
    "StringLike": lambda r, p: wildcard.matches(p, r),
    "NumericEquals": _compare(_number, lambda a, b: a == b),
    "NumericLessThan": _compare(_number, lambda a, b: a < b),
    "NumericLessThanEquals": _compare(_number, lambda a, b: a <= b),
    "NumericGreaterThan": _compare(_number, lambda a, b: a > b),
    "NumericGreaterThanEquals": _compare(_number, lambda a, b: a >= b),
    "DateEquals": _compare(parse_date, lambda a, b: a == b),
    "DateLessThan": _compare(parse_date, lambda a, b: a < b),
    "DateLessThanEquals": _compare(parse_date, lambda a, b: a <= b),
    "DateGreaterThan": _compare(parse_date, lambda a, b: a > b),
    "DateGreaterThanEquals": _compare(parse_date, lambda a, b: a >= b),
    "Bool": _bool,
    "BinaryEquals": lambda r, p: r == p,
    "IpAddress": _ip,
    "ArnEquals": _arn_like,
    "ArnLike": _arn_like,
}


def as_text(value: Any) -> str:
    """A context value as the string IAM compares (booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


class Variants(tuple[Any, ...]):
    """The values a request gives one condition key under different spellings (``Dept``, ``dept``)."""

    __slots__ = ()


def put(context: dict[str, Any], key: str, value: Any) -> None:
    """Add a request value under its condition key (lower case); case-variant duplicates are kept."""
    low = key.lower()
    if low in context and low.startswith(KEY_PREFIXES):
        old = context[low]
        context[low] = Variants((*(old if isinstance(old, Variants) else (old,)), value))
    else:
        context[low] = value


def lookup(context: dict[str, Any], key: str) -> list[str] | None:
    """The request's values for a condition key (names are case-insensitive); None when absent."""
    value = context.get(key.lower())
    if value is None:
        return None
    values = (
        [as_text(v) for v in value] if isinstance(value, list | tuple | set | frozenset) else [as_text(value)]
    )
    return values or None


def single_value(context: dict[str, Any], key: str) -> str | None:
    """The request's one value of a key as text, for a policy variable; None when the key is absent
    or holds several values (a multivalued key, or a spelling variant not yet chosen)."""
    value = context.get(key.lower())
    if value is None or isinstance(value, Variants | list | tuple | set | frozenset):
        return None
    return as_text(value)


class ConditionResult(NamedTuple):
    """The outcome of one condition test, for explanations."""

    condition: Condition
    request_values: tuple[str, ...] | None
    result: bool
    why: str
    #: the policy values after policy variables are substituted (None: a variable had no value);
    #: None when the condition has no variables
    resolved: tuple[str | None, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The result as data."""
        out = self.condition.as_dict()
        if self.resolved is not None:
            out["ResolvedValues"] = list(self.resolved)
        out["RequestValues"] = list(self.request_values) if self.request_values is not None else None
        out["Result"] = self.result
        out["Reason"] = self.why
        return out


def _arn_pieces(request: str, value: variables.Resolved) -> bool:
    """ArnLike/ArnEquals, field by field, where substituted text matches character for character."""
    fields: list[list[tuple[str, bool]]] = [[]]
    for piece in value.pieces:
        rest = piece.text
        while len(fields) < 6 and ":" in rest:
            head, rest = rest.split(":", 1)
            fields[-1].append((head, piece.exact))
            fields.append([])
        fields[-1].append((rest, piece.exact))
    req = request.split(":", 5)
    if len(fields) != 6 or len(req) != 6:
        return False
    return all(wildcard.matches_pieces(f, r) for f, r in zip(fields, req, strict=True))


def _test(base: str, request: str, value: variables.Resolved) -> bool:
    """One positive operator on one request value and one policy value."""
    if value.has_exact_wildcard:
        if base == "StringLike":
            return value.like(request)
        if base in ("ArnLike", "ArnEquals"):
            return _arn_pieces(request, value)
    return POSITIVE[base](request, value.text)


def _policy_values(cond: Condition, context: dict[str, Any]) -> list[variables.Resolved | None]:
    """The condition's values, with policy variables substituted when it has them."""
    if not cond.variables:
        return [variables.Resolved(v, (variables.Piece(v, False),)) for v in cond.values]
    return [variables.resolve(v, lambda key: single_value(context, key)) for v in cond.values]


def _one(cond: Condition, request: str, values: list[variables.Resolved | None]) -> bool:
    """Whether one request value passes the operator against the policy's values.

    An unresolved value (a variable with no value) is equal to and like nothing: a positive operator
    never passes on it, a negated one never fails on it.
    """
    resolved = [v for v in values if v is not None]
    if cond.base in NEGATED:
        return not any(_test(NEGATED[cond.base], request, p) for p in resolved)
    return any(_test(cond.base, request, p) for p in resolved)


def evaluate(cond: Condition, context: dict[str, Any]) -> ConditionResult:
    """Evaluate one condition test against the request context (keys lower-cased)."""
    result = _evaluate(cond, context)
    if not cond.variables or not any(variables.has_variables(v) for v in cond.values):
        return result
    policy_values = _policy_values(cond, context)
    shown = tuple(v.text if v is not None else None for v in policy_values)
    why = result.why
    if any(v is None for v in policy_values):
        why += "; a policy variable with no value in the request matches nothing"
    return result._replace(resolved=shown, why=why)


def _evaluate(cond: Condition, context: dict[str, Any]) -> ConditionResult:
    values = lookup(context, cond.key)
    if cond.base == "Null":
        absent = values is None
        wanted = [v.lower() == "true" for v in cond.values]
        ok = absent in wanted
        return ConditionResult(
            cond, None if absent else tuple(values or ()), ok, f"key is {'absent' if absent else 'present'}"
        )
    if values is None:
        if cond.if_exists:
            return ConditionResult(cond, None, True, "key absent: ...IfExists passes")
        if cond.qualifier == "ForAllValues":
            return ConditionResult(cond, None, True, "key absent: ForAllValues is true for an empty set")
        if cond.qualifier == "ForAnyValue":
            return ConditionResult(cond, None, False, "key absent: ForAnyValue needs a value")
        if cond.base in NEGATED:
            return ConditionResult(cond, None, True, "key absent: a negated operator is true")
        return ConditionResult(cond, None, False, "key absent from the request")
    policy_values = _policy_values(cond, context)
    passes = [_one(cond, v, policy_values) for v in values]
    if cond.qualifier == "ForAllValues":
        ok, why = all(passes), "every request value must match"
    elif cond.qualifier == "ForAnyValue" or len(values) > 1:
        ok, why = any(passes), "at least one request value must match"
    else:
        ok, why = passes[0], "request value compared"
    return ConditionResult(cond, tuple(values), ok, why)


def _under_variants(
    cond: Condition, context: dict[str, Any], ambiguous: dict[str, Variants], deny: bool
) -> ConditionResult:
    """A test on case-ambiguous keys (the tested key, or one a policy variable names): in a Deny it
    passes if some choice of spellings passes, in an Allow only if every choice does."""
    names = list(ambiguous)
    results = [
        evaluate(cond, {**context, **dict(zip(names, choice, strict=True))})
        for choice in itertools.product(*(ambiguous[n] for n in names))
    ]
    ok = any(r.result for r in results) if deny else all(r.result for r in results)
    chosen = next(r for r in results if r.result == ok)
    rule = "a Deny applies if any applies" if deny else "an Allow applies only if each applies"
    if names == [cond.key.lower()]:
        ways = f"this key {len(ambiguous[names[0]])} ways"
    else:
        ways = ", ".join(f"{n} {len(ambiguous[n])} ways" for n in names)
    return chosen._replace(why=f"{chosen.why}; the request spells {ways} ({rule})")


def _ambiguous(cond: Condition, context: dict[str, Any]) -> dict[str, Variants]:
    """The keys of a test (its own, and those its policy variables name) the request spells several ways."""
    names = [cond.key.lower()]
    if cond.variables:
        names += [k.lower() for v in cond.values for k in variables.keys(v)]
    found: dict[str, Variants] = {}
    for name in names:
        value = context.get(name)
        if isinstance(value, Variants):
            found[name] = value
    return found


def evaluate_all(
    conds: tuple[Condition, ...], context: dict[str, Any], deny: bool = False
) -> tuple[bool, list[ConditionResult]]:
    """All of a statement's condition tests (ANDed); every test is evaluated for the explanation.

    ``deny`` says the statement is a Deny: it decides how case-variant duplicates count (see above).
    Each test is decided on its own, so a Deny whose tests are met by different spellings applies.
    """
    results = []
    for cond in conds:
        ambiguous = _ambiguous(cond, context)
        if ambiguous:
            results.append(_under_variants(cond, context, ambiguous, deny))
        else:
            results.append(evaluate(cond, context))
    return all(r.result for r in results), results
