"""Alias operations: CreateAlias, UpdateAlias, DeleteAlias, ListAliases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmscli import errors
from kmscli.crypto.specs import key_type
from kmscli.service.operations import managed
from kmscli.service.operations.common import iam_only, require_not_pending_deletion
from kmscli.service.pipeline.core import Call, Response, iso, operation, parse_time
from kmscli.service.pipeline.paging import page

if TYPE_CHECKING:
    from kmscli.vault.records import AliasEntry, AliasIndex, KeyRecord


def _check_name(name: str, *, naming: bool = True) -> None:
    """ValidationException for a name without ``alias/``; for an ``alias/aws/`` one, what AWS answers
    where the name would be given to a key (``naming``: CreateAlias, UpdateAlias), and otherwise
    (DeleteAlias) NotFoundException, as no customer alias can have that name."""
    if not name.startswith("alias/") or len(name) <= len("alias/"):
        raise errors.ValidationException(
            f'Alias must start with the prefix "alias/". Please see '
            f"https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html (got {name})"
        )
    if name.startswith("alias/aws/"):
        if naming:  # AWS answers NotAuthorizedException with no message; kmscli says why
            raise errors.NotAuthorizedException(
                f"Alias {name} cannot begin with alias/aws/: that prefix is reserved for AWS managed keys."
            )
        raise errors.NotFoundException(f"Alias {name} cannot begin with alias/aws/: that prefix is reserved.")


#: AWS's "Aliases per KMS key" resource quota (AWS managed keys' aliases do not count).
MAX_ALIASES_PER_KEY = 50


def _room_for_alias(aliases: AliasIndex, record: KeyRecord) -> None:
    """LimitExceededException when the key already has its quota of aliases."""
    count = sum(1 for entry in aliases.values() if entry["TargetKeyId"] == record["KeyId"])
    if count >= MAX_ALIASES_PER_KEY and record.get("KeyManager", "CUSTOMER") == "CUSTOMER":
        raise errors.LimitExceededException(
            f"{record['Arn']} already has {count} aliases, the most a KMS key can have."
        )


def _target(call: Call, ref: str) -> KeyRecord:
    if ref.startswith("alias/") or ":alias/" in ref:
        raise errors.ValidationException("Aliases must refer to keys. Not aliases")
    return call.resolve(ref, allow_alias=False)


def _existing(call: Call, *, naming: bool) -> tuple[str, AliasIndex, AliasEntry]:
    """The request's AliasName, the region's alias index and the alias's entry (NotFound if none)."""
    name = call.request["AliasName"]
    _check_name(name, naming=naming)
    aliases = call.aliases()
    entry = aliases.get(name)
    if entry is None:
        raise errors.NotFoundException(f"Alias {call.alias_arn(name)} is not found.")
    return name, aliases, entry


@operation("CreateAlias", mutating=True)
def create_alias(call: Call) -> Response:
    """CreateAlias: a new friendly name for a key in this region."""
    name = call.request["AliasName"]
    _check_name(name)
    record = _target(call, call.request["TargetKeyId"])
    call.authorize("kms:CreateAlias", record)
    require_not_pending_deletion(record)
    aliases = call.aliases()
    if name in aliases:
        raise errors.AlreadyExistsException(f"An alias with the name {call.alias_arn(name)} already exists")
    _room_for_alias(aliases, record)
    call.dry_run()
    now = iso(call.now)
    aliases[name] = {"TargetKeyId": record["KeyId"], "CreationDate": now, "LastUpdatedDate": now}
    call.touch_aliases()
    return {}


@operation("UpdateAlias", mutating=True)
def update_alias(call: Call) -> Response:
    """UpdateAlias: point an alias at another key of the same type and usage."""
    _, aliases, entry = _existing(call, naming=True)
    new = _target(call, call.request["TargetKeyId"])
    old = call.load(entry["TargetKeyId"])
    if old is not None:
        call.resources.append(old["Arn"])
        call.authorize("kms:UpdateAlias", old)
    call.authorize("kms:UpdateAlias", new)
    require_not_pending_deletion(new)
    # AWS: "the same type (both symmetric or both asymmetric or both HMAC)" and the same key usage;
    # the key specs may differ (RSA_2048 to ECC_NIST_P256, HMAC_256 to HMAC_512)
    if old is not None and (key_type(old["KeySpec"]), old["KeyUsage"]) != (
        key_type(new["KeySpec"]),
        new["KeyUsage"],
    ):
        raise errors.ValidationException(
            f"{old['Arn']} key type and key usage ({key_type(old['KeySpec'])}, {old['KeyUsage']}) "
            f"differ from {new['Arn']} ({key_type(new['KeySpec'])}, {new['KeyUsage']}); an alias can "
            "only move between keys of the same type and usage"
        )
    if entry["TargetKeyId"] != new["KeyId"]:
        _room_for_alias(aliases, new)
    call.dry_run()
    entry["TargetKeyId"] = new["KeyId"]
    entry["LastUpdatedDate"] = iso(call.now)
    call.touch_aliases()
    return {}


@operation("DeleteAlias", mutating=True)
def delete_alias(call: Call) -> Response:
    """DeleteAlias."""
    name, aliases, entry = _existing(call, naming=False)
    record = call.load(entry["TargetKeyId"])
    if record is not None:
        call.resources.append(record["Arn"])
        call.authorize("kms:DeleteAlias", record)
    call.dry_run()
    del aliases[name]
    call.touch_aliases()
    return {}


@operation("ListAliases")
def list_aliases(call: Call) -> Response:
    """ListAliases, optionally only those of one key."""
    aliases = call.aliases()
    if call.request.get("KeyId"):
        record = call.resolve(call.request["KeyId"], allow_alias=False)
        iam_only(call, "kms:ListAliases", record["Arn"])  # AWS: "kms:ListAliases (IAM policy)"
        names = sorted(n for n in aliases if aliases[n]["TargetKeyId"] == record["KeyId"])
    else:  # AWS lists the predefined aws/ aliases before their key exists, without TargetKeyId
        names = sorted([*aliases, *managed.unassociated(aliases)])
    items, extra = page(names, call.request, key=lambda n: n, operation=call.op.name)
    out: list[dict[str, Any]] = []
    for name in items:
        entry = aliases.get(name)
        if entry is None:
            out.append({"AliasName": name, "AliasArn": call.alias_arn(name)})
            continue
        out.append(
            {
                "AliasName": name,
                "AliasArn": call.alias_arn(name),
                "TargetKeyId": entry["TargetKeyId"],
                "CreationDate": parse_time(entry["CreationDate"]),
                "LastUpdatedDate": parse_time(entry["LastUpdatedDate"]),
            }
        )
    return {"Aliases": out, **extra}
