"""Grant operations: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

Grants live in the key record's ``Grants`` list and take effect at once (kmscli has no eventual
consistency, so a grant token is accepted and checked but never needed). The policy engine honours
them in every decision (``kmscli.policy.grants``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kmscli import errors
from kmscli.crypto.specs import key_type
from kmscli.ids import is_key_id
from kmscli.policy import actions, principals
from kmscli.policy.actions import (
    GRANT_CONSTRAINT_MAX_CHARS,
    GRANT_CONSTRAINT_MAX_PAIRS,
    GRANT_OPERATIONS_BY_KEY_TYPE,
    GRANT_OPERATIONS_UNCONSTRAINED,
    GRANT_OPERATIONS_WITH_CONTEXT,
)
from kmscli.policy.document import is_aws_principal
from kmscli.policy.grants import at_least_as_strict, grantee_matches, list_entry, make_token, read_token
from kmscli.service.operations.common import iam_only, require_enabled
from kmscli.service.pipeline.core import Call, Response, iso, operation, parse_time
from kmscli.service.pipeline.paging import page

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord

GRANT_ID_RE = re.compile(r"^[0-9a-f]{64}\Z")


def _no_service_principals(call: Call, *members: str) -> None:
    for member in members:
        if call.request.get(member) is not None:
            raise errors.UnsupportedOperationException(
                f"{member} is not supported: there are no AWS service principals on one machine."
            )


def _check_principal(value: str, member: str) -> None:
    if not is_aws_principal(value):
        raise errors.ValidationException(
            f"{member} {value!r} is not a valid principal: use an IAM ARN such as "
            "arn:aws:iam::111122223333:role/Name, or an account id."
        )


def _check_operations(record: KeyRecord, operations: list[str]) -> None:
    """AWS: "if the grant allows an operation that the KMS key does not support, CreateGrant fails
    with a ValidationException" (no Sign on a symmetric key, no GenerateDataKey on an RSA key)."""
    supported = GRANT_OPERATIONS_BY_KEY_TYPE.get(
        (key_type(record["KeySpec"]), record["KeyUsage"]), frozenset()
    )
    bad = [op for op in operations if op not in supported]
    if bad:
        raise errors.ValidationException(
            f"Grant operations {', '.join(bad)} are not valid for {record['Arn']} (key spec "
            f"{record['KeySpec']}, key usage {record['KeyUsage']}): a grant may allow only "
            f"{', '.join(sorted(supported))}."
        )


def _check_constraints(record: KeyRecord, operations: list[str], constraints: dict[str, Any] | None) -> None:
    if not constraints:
        return
    for member in ("EncryptionContextEquals", "EncryptionContextSubset"):
        pairs = constraints.get(member) or {}
        if len(pairs) > GRANT_CONSTRAINT_MAX_PAIRS:
            raise errors.ValidationException(
                f"{member} has {len(pairs)} encryption context pairs; a grant constraint can include "
                f"at most {GRANT_CONSTRAINT_MAX_PAIRS}."
            )
        size = sum(len(k) + len(v) for k, v in pairs.items())
        if size > GRANT_CONSTRAINT_MAX_CHARS:
            raise errors.ValidationException(
                f"{member} has {size} characters of encryption context (keys and values); a grant "
                f"constraint can include at most {GRANT_CONSTRAINT_MAX_CHARS}."
            )
    if constraints.get("SourceArn") is not None:
        raise errors.UnsupportedOperationException(
            "The SourceArn grant constraint is for grants to AWS services, which kmscli does not have."
        )
    if not constraints.get("EncryptionContextEquals") and not constraints.get("EncryptionContextSubset"):
        return
    allowed = GRANT_OPERATIONS_WITH_CONTEXT | GRANT_OPERATIONS_UNCONSTRAINED
    bad = [op for op in operations if op not in allowed]
    symmetric = record["KeySpec"] == "SYMMETRIC_DEFAULT" and record["KeyUsage"] == "ENCRYPT_DECRYPT"
    if not symmetric:
        bad += [op for op in operations if op in GRANT_OPERATIONS_WITH_CONTEXT]
    if bad:
        raise errors.ValidationException(
            f"Encryption context grant constraints are not supported for {', '.join(sorted(set(bad)))} "
            f"on a {record['KeySpec']} {record['KeyUsage']} key: those operations take no encryption context."
        )


def _same_grant(grant: dict[str, Any], new: dict[str, Any]) -> bool:
    fields = ("GranteePrincipal", "RetiringPrincipal", "Constraints")
    return all(grant.get(f) == new.get(f) for f in fields) and sorted(grant["Operations"]) == sorted(
        new["Operations"]
    )


def _room_for_grant(record: KeyRecord) -> None:
    """LimitExceededException when the key already has its quota of grants (customer managed keys)."""
    count = len(record.get("Grants", []))
    if count >= actions.MAX_GRANTS_PER_KEY and record.get("KeyManager", "CUSTOMER") == "CUSTOMER":
        raise errors.LimitExceededException(
            f"{record['Arn']} already has {count} grants, the most a KMS key can have: retire or revoke "
            "one first."
        )


@operation("CreateGrant", mutating=True)
def create_grant(call: Call) -> Response:
    """CreateGrant: allow a principal some operations on a key, optionally under constraints."""
    req = call.request
    _no_service_principals(call, "GranteeServicePrincipal", "RetiringServicePrincipal")
    record = call.resolve(req["KeyId"], allow_alias=False)
    grantee = req.get("GranteePrincipal")
    if not grantee:
        raise errors.ValidationException("GranteePrincipal is required.")
    _check_principal(grantee, "GranteePrincipal")
    retiring = req.get("RetiringPrincipal")
    if retiring:
        _check_principal(retiring, "RetiringPrincipal")
    operations = list(dict.fromkeys(req["Operations"]))
    if not operations:
        raise errors.ValidationException("Operations must name at least one grant operation.")
    constraints = req.get("Constraints") or None
    conditions: dict[str, Any] = {
        "kms:GrantOperations": operations,
        "kms:GranteePrincipal": grantee,
    }
    if retiring:
        conditions["kms:RetiringPrincipal"] = retiring
    if constraints:
        conditions["kms:GrantConstraintType"] = sorted(constraints)
    call.authorize("kms:CreateGrant", record, conditions)
    parent_id = call.audit_extra.get("grantId")
    if parent_id is not None:  # allowed through a grant: the new one may not exceed it
        parent = next(g for g in record.get("Grants", []) if g["GrantId"] == parent_id)
        if not set(operations) <= set(parent["Operations"]) or not at_least_as_strict(
            constraints, parent.get("Constraints")
        ):
            raise errors.AccessDeniedException(
                f"User: {call.ctx.identity.principal} is not authorized to perform: kms:CreateGrant on "
                f"resource: {record['Arn']} because grant {parent_id} allows only a grant with a subset "
                "of its operations and equally strict constraints"
            )
    _check_operations(record, operations)
    _check_constraints(record, operations, constraints)
    require_enabled(record)  # AWS: a grant is refused on a disabled or pending-import key too
    grant: dict[str, Any] = {
        "KeyId": record["Arn"],
        "GranteePrincipal": grantee,
        "RetiringPrincipal": retiring,
        "IssuingAccount": f"arn:aws:iam::{call.account_id}:root",
        "Operations": operations,
        "Constraints": constraints,
    }
    name = req.get("Name")
    same = [g for g in record.get("Grants", []) if name and g.get("Name") == name and _same_grant(g, grant)]
    if not same:
        _room_for_grant(record)
    call.dry_run()
    if same:  # AWS: the same request with the same Name is the same grant (idempotent retry)
        return {"GrantToken": same[0]["GrantToken"], "GrantId": same[0]["GrantId"]}
    grant_id = call.ctx.random(32).hex()
    grant.update(
        GrantId=grant_id,
        Name=name,
        CreationDate=iso(call.now),
        GrantToken=make_token(record["Arn"], grant_id, call.ctx.random(16).hex()),
    )
    record.setdefault("Grants", []).append({k: v for k, v in grant.items() if v is not None})
    call.save(record)
    call.audit_extra["newGrantId"] = grant_id
    return {"GrantToken": grant["GrantToken"], "GrantId": grant_id}


def _entry(grant: dict[str, Any]) -> dict[str, Any]:
    entry = list_entry(grant)
    entry["CreationDate"] = parse_time(grant["CreationDate"])
    return entry


@operation("ListGrants")
def list_grants(call: Call) -> Response:
    """ListGrants: a key's grants, optionally one GrantId or one GranteePrincipal."""
    req = call.request
    _no_service_principals(call, "GranteeServicePrincipal")
    record = call.resolve(req["KeyId"], allow_alias=False)
    call.authorize("kms:ListGrants", record)
    if req.get("GrantId") and not GRANT_ID_RE.match(req["GrantId"]):
        raise errors.InvalidGrantIdException(f"Grant id {req['GrantId']!r} is not valid.")
    grants = sorted(record.get("Grants", []), key=lambda g: g["GrantId"])
    if req.get("GrantId"):
        grants = [g for g in grants if g["GrantId"] == req["GrantId"]]
    if req.get("GranteePrincipal"):
        grants = [g for g in grants if g["GranteePrincipal"] == req["GranteePrincipal"]]
    items, extra = page(grants, req, key=lambda g: g["GrantId"], operation=call.op.name)
    return {"Grants": [_entry(g) for g in items], **extra}


@operation("ListRetirableGrants")
def list_retirable_grants(call: Call) -> Response:
    """ListRetirableGrants: every grant in the region whose RetiringPrincipal is the one given."""
    req = call.request
    _no_service_principals(call, "RetiringServicePrincipal")
    who = req.get("RetiringPrincipal")
    if not who:
        raise errors.ValidationException("RetiringPrincipal is required.")
    # AWS: "You must specify a principal in your AWS account"; the authorized resource is the
    # retiring principal, so another account's principal is not the caller's to list
    iam_only(call, "kms:ListRetirableGrants", who)
    found = []
    for key_id in call.ctx.vault.list_key_ids(call.region):
        record = call.load(key_id) if is_key_id(key_id) else None
        for grant in record.get("Grants", []) if record else []:
            if grant.get("RetiringPrincipal") == who:
                found.append((f"{key_id}/{grant['GrantId']}", grant))
    found.sort(key=lambda item: item[0])
    items, extra = page(found, req, key=lambda item: item[0], operation=call.op.name)
    return {"Grants": [_entry(g) for _, g in items], **extra}


def _find(record: KeyRecord, grant_id: str) -> dict[str, Any]:
    if not GRANT_ID_RE.match(grant_id):
        raise errors.InvalidGrantIdException(f"Grant id {grant_id!r} is not valid.")
    for grant in record.get("Grants", []):
        if grant["GrantId"] == grant_id:
            return grant
    raise errors.NotFoundException(f"Grant ID {grant_id} not found for key {record['Arn']}.")


def _remove(call: Call, record: KeyRecord, grant: dict[str, Any]) -> None:
    record["Grants"] = [g for g in record.get("Grants", []) if g["GrantId"] != grant["GrantId"]]
    call.save(record)
    call.audit_extra["retiredGrantId"] = grant["GrantId"]


def _retire_authority(call: Call, record: KeyRecord, grant: dict[str, Any]) -> str:
    """Who the caller is to ``grant`` when retiring it (AWS, "Retiring and revoking grants"): its
    retiring principal, its grantee when it includes RetireGrant, or the account that created it.

    An account named as retiring principal or grantee covers its principals, as in a grant's
    grantee and a key policy (kmscli has no IAM policies to delegate with). In the issuing account,
    the account root may retire any grant it created, and another principal needs ``kms:RetireGrant``
    from the key policy's statements, kmscli's stand-in for the IAM delegation AWS describes. A
    principal of another account whom the key policy allows ``kms:RetireGrant`` may not (the permission
    "is not effective in a key policy"), and no grant lets its grantee retire another grant.
    """
    caller = call.ctx.identity.principal
    retiring = grant.get("RetiringPrincipal")
    if retiring and principals.matches("AWS", retiring, caller):
        return "RetiringPrincipal"
    if grantee_matches(grant, caller) and "RetireGrant" in grant["Operations"]:
        return "GranteePrincipal"
    issuing = principals.names_account(grant.get("IssuingAccount", "")) or principals.account_of(
        record["Arn"]
    )
    if principals.account_of(caller) == issuing:
        if principals.ROOT_RE.match(caller):
            return "IssuingAccount"
        call.authorize("kms:RetireGrant", record)
        if call.audit_extra.pop("grantId", None) is None:
            return "KeyPolicy"
        # allowed by some grant's RetireGrant: that lets its grantee retire only that grant
    raise errors.AccessDeniedException(
        f"User: {caller} is not authorized to perform: kms:RetireGrant on resource: {record['Arn']} "
        f"because it is not the retiring principal of grant {grant['GrantId']}, nor its grantee with "
        "the RetireGrant operation, nor a principal of the account that created it"
    )


@operation("RetireGrant", mutating=True)
def retire_grant(call: Call) -> Response:
    """RetireGrant by token, or by KeyId and GrantId: the retiring principal, the grantee when the
    grant includes RetireGrant, or the account that created the grant (``_retire_authority``)."""
    req = call.request
    if req.get("GrantToken"):
        key_arn, grant_id = read_token(req["GrantToken"])
        if req.get("GrantId") and req["GrantId"] != grant_id:
            raise errors.InvalidGrantIdException("The GrantId does not match the grant token.")
        ref = key_arn
    elif req.get("KeyId") and req.get("GrantId"):
        ref, grant_id = req["KeyId"], req["GrantId"]
    else:
        raise errors.ValidationException("Specify GrantToken, or both KeyId and GrantId.")
    record = call.resolve(ref, allow_alias=False)
    if req.get("GrantToken") and req.get("KeyId"):
        # a KeyId beside the token must name the token's key: the grant is looked up on the key named,
        # never on another one silently (the KeyId-and-GrantId lookup's NotFoundException)
        named = call.resolve(req["KeyId"], allow_alias=False)
        if named["KeyId"] != record["KeyId"]:
            raise errors.NotFoundException(
                f"Grant ID {grant_id} not found for key {named['Arn']}: the grant token is for {record['Arn']}."
            )
    grant = _find(record, grant_id)
    call.audit_extra["retiredBy"] = _retire_authority(call, record, grant)
    call.dry_run()
    _remove(call, record, grant)
    return {}


@operation("RevokeGrant", mutating=True)
def revoke_grant(call: Call) -> Response:
    """RevokeGrant: delete a grant (needs kms:RevokeGrant on the key)."""
    req = call.request
    record = call.resolve(req["KeyId"], allow_alias=False)
    call.authorize("kms:RevokeGrant", record)
    grant = _find(record, req["GrantId"])
    call.dry_run()
    _remove(call, record, grant)
    return {}
