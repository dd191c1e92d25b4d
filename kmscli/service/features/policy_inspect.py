"""Operator inspection of key policies, beyond AWS: show, simulate, who-can, lint.

These read the vault under the shared lock and never write or call an operation: a simulation
decides exactly as the real call would (same request context builder, same engine), without making
it. Reading a key's policy this way needs ``kms:GetKeyPolicy`` for the caller, as GetKeyPolicy does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from kmscli import errors
from kmscli.policy import actions, analysis
from kmscli.policy.document import IAM_PRINCIPAL_RE
from kmscli.service.operations.policies import decide_call, stored_policy
from kmscli.service.pipeline.core import Call, Operation, ServiceContext

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord

T = TypeVar("T")

#: Actions whose real calls pass kms:EncryptionAlgorithm (SYMMETRIC_DEFAULT unless told otherwise).
ENCRYPTION_ALGORITHM_ACTIONS = frozenset(
    {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
    }
)


def _with_key(
    ctx: ServiceContext,
    key_ref: str,
    name: str,
    func: Callable[[Call, KeyRecord], T],
    request: dict[str, Any] | None = None,
) -> T:
    """Run ``func`` on a resolved key under the shared lock, as the configured caller."""
    with ctx.vault.lock(exclusive=False):
        call = Call(ctx, Operation(name, lambda c: {}, False, True), request or {}, ctx.clock())
        record = call.resolve(key_ref)
        call.authorize("kms:GetKeyPolicy", record)
        return func(call, record)


def _tag(exc: errors.KMSError, name: str) -> errors.KMSError:
    return exc.for_operation(name)


def show(ctx: ServiceContext, key_ref: str) -> dict[str, Any]:
    """The key's policy and grants as who / what / conditions / effect, with roles."""
    try:
        return _with_key(
            ctx,
            key_ref,
            "PolicyShow",
            lambda call, rec: (
                analysis.show(stored_policy(rec), rec.get("Grants", []), rec["Arn"])
                | {"Exportable": bool(rec.get("Exportable"))}
            ),
        )
    except errors.KMSError as exc:
        raise _tag(exc, "PolicyShow") from None


def check_action(action: str) -> str:
    """A single KMS action name, canonical case (``kms:decrypt`` -> ``kms:Decrypt``), that a key's
    policy and grants decide."""
    for known in actions.all_actions():
        if known.lower() == action.lower():
            if known in actions.GRANT_DECIDED_ACTIONS:
                raise errors.UsageError(
                    f"--action {known} is decided by each grant, not by the key: a grant may be retired by "
                    "its retiring principal, its grantee when it includes RetireGrant, and the account "
                    "that created it (`kmscli list-grants --key-id K` shows them)"
                )
            if known in actions.IAM_ONLY_ACTIONS:
                raise errors.UsageError(
                    f"--action {known} is decided by IAM policies, not by a key's policy or grants (AWS "
                    "lists it as an IAM policy permission): kmscli has no IAM policies, so every principal "
                    "of the account may call it"
                )
            return known
    raise errors.UsageError(f"--action {action!r} is not a KMS action (for example kms:Decrypt)")


def simulate(
    ctx: ServiceContext,
    key_ref: str,
    principal: str,
    action: str,
    *,
    encryption_context: dict[str, str] | None = None,
    grant_tokens: list[str] | None = None,
    signing_algorithm: str | None = None,
    encryption_algorithm: str | None = None,
    conditions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The decision a real call would get, with the statement or grant that decided and every
    condition evaluated."""
    action = check_action(action)
    if not IAM_PRINCIPAL_RE.match(principal):
        raise errors.UsageError(f"--principal {principal!r} is not an IAM principal ARN")
    extra: dict[str, Any] = {}
    if encryption_context is not None or action in ENCRYPTION_ALGORITHM_ACTIONS:
        ec = encryption_context or {}
        extra.update({f"kms:EncryptionContext:{k}": v for k, v in ec.items()})
        extra["kms:EncryptionContextKeys"] = sorted(ec)
        extra["EncryptionContext"] = dict(ec)
    if action in ENCRYPTION_ALGORITHM_ACTIONS or encryption_algorithm:
        extra["kms:EncryptionAlgorithm"] = encryption_algorithm or "SYMMETRIC_DEFAULT"
    if signing_algorithm:
        extra["kms:SigningAlgorithm"] = signing_algorithm
    for key, value in (conditions or {}).items():
        if ":" not in key:
            raise errors.UsageError(f"--condition {key!r} is not a condition key such as kms:RequestAlias")
        extra[key] = value

    def run(call: Call, record: KeyRecord) -> dict[str, Any]:
        if str(extra.get("kms:RequestAlias", "")).startswith("alias/"):
            call.audit_extra["requestAlias"] = extra["kms:RequestAlias"]
        decision = decide_call(call, principal, action, record, extra)
        return {"KeyId": record["Arn"], **decision.as_dict()}

    try:
        return _with_key(ctx, key_ref, "PolicySimulate", run, {"GrantTokens": grant_tokens or []})
    except errors.KMSError as exc:
        raise _tag(exc, "PolicySimulate") from None


def who_can(ctx: ServiceContext, key_ref: str, action: str) -> dict[str, Any]:
    """Every principal the key's policy and grants allow ``action`` for, and every one denied it."""
    action = check_action(action)
    try:
        return _with_key(
            ctx,
            key_ref,
            "PolicyWhoCan",
            lambda call, rec: analysis.who_can(stored_policy(rec), rec.get("Grants", []), action, rec["Arn"]),
        )
    except errors.KMSError as exc:
        raise _tag(exc, "PolicyWhoCan") from None


def lint_key(ctx: ServiceContext, key_ref: str) -> dict[str, Any]:
    """Lint findings for a key's current policy."""
    try:
        return _with_key(
            ctx,
            key_ref,
            "PolicyLint",
            lambda call, rec: {"KeyId": rec["Arn"], **analysis.lint(rec["Policy"])},
        )
    except errors.KMSError as exc:
        raise _tag(exc, "PolicyLint") from None


def lint_text(text: str) -> dict[str, Any]:
    """Lint findings for a policy document that is not (yet) on a key."""
    return analysis.lint(text)
