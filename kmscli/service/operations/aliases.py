"""Alias operations: CreateAlias, UpdateAlias, DeleteAlias, ListAliases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmscli import errors
from kmscli.service.operations import managed
from kmscli.service.operations.common import require_not_pending_deletion
from kmscli.service.pipeline.core import Call, Response, iso, operation, parse_time
from kmscli.service.pipeline.paging import page

if TYPE_CHECKING:
    from kmscli.vault.records import AliasEntry, AliasIndex, KeyRecord


def _check_name(name: str) -> None:
    if not name.startswith("alias/") or len(name) <= len("alias/"):
        raise errors.ValidationException(
            f'Alias must start with the prefix "alias/". Please see '
            f"https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html (got {name})"
        )
    if name.startswith("alias/aws/"):
        raise errors.NotFoundException(f"Alias {name} cannot begin with alias/aws/: that prefix is reserved.")


def _target(call: Call, ref: str) -> KeyRecord:
    if ref.startswith("alias/") or ":alias/" in ref:
        raise errors.ValidationException("Aliases must refer to keys. Not aliases")
    return call.resolve(ref, allow_alias=False)


def _existing(call: Call) -> tuple[str, AliasIndex, AliasEntry]:
    """The request's AliasName, the region's alias index and the alias's entry (NotFound if none)."""
    name = call.request["AliasName"]
    _check_name(name)
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
    call.dry_run()
    now = iso(call.now)
    aliases[name] = {"TargetKeyId": record["KeyId"], "CreationDate": now, "LastUpdatedDate": now}
    call.touch_aliases()
    return {}


@operation("UpdateAlias", mutating=True)
def update_alias(call: Call) -> Response:
    """UpdateAlias: point an alias at another key of the same type and usage."""
    _, _, entry = _existing(call)
    new = _target(call, call.request["TargetKeyId"])
    old = call.load(entry["TargetKeyId"])
    if old is not None:
        call.resources.append(old["Arn"])
        call.authorize("kms:UpdateAlias", old)
    call.authorize("kms:UpdateAlias", new)
    require_not_pending_deletion(new)
    if old is not None and (old["KeySpec"], old["KeyUsage"]) != (new["KeySpec"], new["KeyUsage"]):
        raise errors.ValidationException(
            f"{old['Arn']} key usage and key spec ({old['KeyUsage']}, {old['KeySpec']}) differ from "
            f"{new['Arn']} ({new['KeyUsage']}, {new['KeySpec']}); an alias can only move between keys "
            "of the same type and usage"
        )
    call.dry_run()
    entry["TargetKeyId"] = new["KeyId"]
    entry["LastUpdatedDate"] = iso(call.now)
    call.touch_aliases()
    return {}


@operation("DeleteAlias", mutating=True)
def delete_alias(call: Call) -> Response:
    """DeleteAlias."""
    name, aliases, entry = _existing(call)
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
        call.authorize("kms:ListAliases", record)
        names = sorted(n for n in aliases if aliases[n]["TargetKeyId"] == record["KeyId"])
    else:  # AWS lists the predefined aws/ aliases before their key exists, without TargetKeyId
        names = sorted([*aliases, *managed.unassociated(aliases)])
    items, extra = page(names, call.request, key=lambda n: n)
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
