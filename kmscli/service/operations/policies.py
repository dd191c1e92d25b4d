"""Key policies: the decision point of every call, and the policy operations.

``authorize`` is the registry's ``AUTHORIZER`` (service/pipeline/registry.py): every operation calls
``call.authorize(action, record, conditions)`` before touching key material. It builds the request
context (global and key condition keys plus the operation's own), decides with the key policy and
the key's grants (``kmscli.policy.evaluate``), raises ``AccessDeniedException`` in AWS's wording when
denied, and records a grant-based allow in the audit event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmscli import errors
from kmscli.audit.events import user_identity
from kmscli.policy import document
from kmscli.policy.actions import (
    GRANT_FOR_AWS_RESOURCE_ACTIONS,
    REENCRYPT_ON_SAME_KEY_ACTIONS,
    REQUEST_ALIAS_ACTIONS,
)
from kmscli.policy.conditions import put
from kmscli.policy.evaluate import Decision, Request, decide
from kmscli.policy.grants import read_token
from kmscli.policy.principals import account_of, principal_arn, principal_type, user_name
from kmscli.service.pipeline.core import Call, Response, operation
from kmscli.service.pipeline.paging import page

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord

#: AWS's key policy size quota.
MAX_POLICY_BYTES = 32 * 1024
LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."


def key_aliases(call: Call, record: KeyRecord) -> list[str]:
    """The alias names that point at a key (``kms:ResourceAliases``)."""
    aliases = call.aliases(record.get("Region", call.region))
    return sorted(name for name, entry in aliases.items() if entry["TargetKeyId"] == record["KeyId"])


def build_request(
    call: Call,
    principal: str,
    action: str,
    record: KeyRecord,
    conditions: dict[str, Any],
    policy_text: str | None = None,
) -> Request:
    """The request context for a decision: global keys, the key's own keys, the operation's keys.

    ``policy_text`` is the policy to be evaluated (default: the key's own). ``conditions`` holds
    condition keys (names with a colon) and inputs of the decision: ``EncryptionContext`` and, on
    ReEncrypt, ``ReEncryptOtherKey`` (the ARN of the key on the other side, when it is known).
    """
    account = account_of(principal)
    ctx: dict[str, Any] = {
        "aws:principalarn": principal_arn(principal),
        "aws:principalaccount": account,
        "aws:principaltype": principal_type(principal),
        # a caller of kmscli is an IAM principal calling directly, never an AWS service
        "aws:principalisawsservice": False,
        "aws:viaawsservice": False,
        "aws:requestedregion": call.region,
        "aws:resourceaccount": account_of(record["Arn"]),
        "kms:calleraccount": account,
        "aws:currenttime": call.now,
        "aws:epochtime": int(call.now.timestamp()),
        "kms:keyspec": record["KeySpec"],
        "kms:keyusage": record["KeyUsage"],
        "kms:keyorigin": record["Origin"],
        "kms:multiregion": bool(record.get("MultiRegion", False)),
    }
    if (name := user_name(principal)) is not None:
        ctx["aws:username"] = name
    ctx["aws:userid"] = user_identity(principal, account)["principalId"]  # as the audit event says
    text = record.get("Policy", "") if policy_text is None else policy_text
    if "resourcealiases" in str(text).lower():  # read the alias index only when a policy can use it
        ctx["kms:resourcealiases"] = key_aliases(call, record)
    for tag in record.get("Tags", []):  # tag keys are case sensitive; condition key names are not
        put(ctx, f"aws:ResourceTag/{tag['TagKey']}", tag["TagValue"])
    if action in GRANT_FOR_AWS_RESOURCE_ACTIONS:
        ctx["kms:grantisforawsresource"] = False
    if call.audit_extra.get("requestAlias") and action in REQUEST_ALIAS_ACTIONS:
        ctx["kms:requestalias"] = call.audit_extra["requestAlias"]
    if action in REENCRYPT_ON_SAME_KEY_ACTIONS and conditions.get("ReEncryptOtherKey") is not None:
        ctx["kms:reencryptonsamekey"] = conditions["ReEncryptOtherKey"] == record["Arn"]
    for key, value in conditions.items():
        if ":" not in key:  # EncryptionContext, Policy: inputs of the decision, not condition keys
            continue
        if isinstance(value, dict):  # aws:RequestTag -> aws:RequestTag/<tag key>
            for sub, item in value.items():
                put(ctx, f"{key}/{sub}", item)
        else:
            put(ctx, key, value)
    context = conditions.get("EncryptionContext")
    return Request(principal, action, record["Arn"], ctx, dict(context) if context is not None else None)


def network_keys(call: Call) -> dict[str, Any]:
    """What a caller over the network brings to the request context (``kmscli serve``): its address,
    its User-Agent and whether it used TLS. A local call has no transport, so none of them; neither
    has a decision simulated for another principal (``policy simulate --condition`` supplies them)."""
    identity = call.ctx.identity
    keys: dict[str, Any] = {}
    if identity.source_ip is not None:
        keys["aws:SourceIp"] = identity.source_ip
    if identity.user_agent is not None:
        keys["aws:UserAgent"] = identity.user_agent
    if identity.secure_transport is not None:
        keys["aws:SecureTransport"] = identity.secure_transport
    return keys


def stored_policy(record: KeyRecord) -> document.Policy:
    """The key's policy, parsed (a stored policy is valid; a broken one fails closed)."""
    try:
        return document.parse(record["Policy"])
    except errors.MalformedPolicyDocumentException as exc:
        raise errors.KMSInternalException(
            f"The stored key policy of {record['Arn']} is not valid ({exc.message}); use put-key-policy."
        ) from None


def decide_call(
    call: Call, principal: str, action: str, record: KeyRecord, conditions: dict[str, Any]
) -> Decision:
    """The decision a real call by ``principal`` would get (used by simulate too)."""
    for token in call.request.get("GrantTokens") or []:
        read_token(token)
    req = build_request(call, principal, action, record, conditions)
    return decide(stored_policy(record), record.get("Grants", []), req)


def check_new_policy(call: Call, record: KeyRecord, text: str, bypass: bool) -> document.Policy:
    """Size quota, grammar, and AWS's lockout safety check for a policy about to be set on ``record``."""
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise errors.LimitExceededException(
            f"The key policy is {len(text.encode('utf-8'))} bytes; the quota is {MAX_POLICY_BYTES} bytes."
        )
    policy = document.parse(text)
    if not bypass:
        principal = call.ctx.identity.principal
        req = build_request(call, principal, "kms:PutKeyPolicy", record, {}, text)
        if not decide(policy, [], req).allowed:
            raise errors.MalformedPolicyDocumentException(LOCKOUT_MESSAGE)
    return policy


def authorize(call: Call, action: str, record: KeyRecord, conditions: dict[str, Any]) -> None:
    """The installed decision point: allow, or raise AccessDeniedException (AWS wording)."""
    if action == "kms:CreateKey":
        # IAM authorises CreateKey in AWS (there is no key policy yet): the creator is allowed, but
        # the policy it sets must be valid and must not lock the creator out.
        # The default policy (no Policy given) is AWS's and is not checked.
        if call.request.get("Policy") is not None:
            bypass = bool(call.request.get("BypassPolicyLockoutSafetyCheck"))
            check_new_policy(call, record, call.request["Policy"], bypass)
        return
    decision = decide_call(call, call.ctx.identity.principal, action, record, network_keys(call) | conditions)
    if not decision.allowed:
        by = decision.decided_by()
        call.audit_extra.setdefault(
            "policyDecision",
            {"action": action, "decision": decision.decision, **({"decidedBy": by} if by else {})},
        )
        raise errors.AccessDeniedException(decision.message())
    if decision.grant_id is not None:
        call.audit_extra.setdefault("grantId", decision.grant_id)


def _policy_key(call: Call) -> KeyRecord:
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    name = call.request.get("PolicyName")
    if name is not None and name != "default":
        raise errors.NotFoundException(
            f"No such policy exists: {name}. The only key policy name is 'default'."
        )
    return record


@operation("GetKeyPolicy")
def get_key_policy(call: Call) -> Response:
    """GetKeyPolicy: the key policy document (its name is always ``default``)."""
    record = _policy_key(call)
    call.authorize("kms:GetKeyPolicy", record)
    return {"Policy": record["Policy"], "PolicyName": "default"}


@operation("PutKeyPolicy", mutating=True)
def put_key_policy(call: Call) -> Response:
    """PutKeyPolicy: replace the key policy after validation and the lockout safety check."""
    req = call.request
    record = _policy_key(call)
    bypass = req.get("BypassPolicyLockoutSafetyCheck")
    # present only when the request has the parameter (AWS KMS, "kms:BypassPolicyLockoutSafetyCheck":
    # a Null test on it allows "only when the request does not include" it)
    conditions = {} if bypass is None else {"kms:BypassPolicyLockoutSafetyCheck": bool(bypass)}
    call.authorize("kms:PutKeyPolicy", record, conditions)
    check_new_policy(call, record, req["Policy"], bool(bypass))
    call.dry_run()
    record["Policy"] = req["Policy"]
    call.save(record)
    return {}


@operation("ListKeyPolicies")
def list_key_policies(call: Call) -> Response:
    """ListKeyPolicies: always ``["default"]``."""
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    call.authorize("kms:ListKeyPolicies", record)
    names, extra = page(["default"], call.request, key=lambda n: n, operation=call.op.name)
    return {"PolicyNames": names, **extra}
