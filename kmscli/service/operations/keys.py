"""Key lifecycle operations: create, describe, list, enable/disable, description, deletion."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from kmscli import errors
from kmscli.crypto.specs import SPECS
from kmscli.ids import is_key_id
from kmscli.service.operations import materials, regions
from kmscli.service.operations.common import (
    PENDING_DELETION_STATES,
    check_tags,
    default_policy,
    key_metadata,
    no_custom_key_store,
    require_not_pending_deletion,
    spec_info_or_error,
)
from kmscli.service.pipeline.core import (
    Call,
    Response,
    iso,
    operation,
    record_service_event,
)
from kmscli.service.pipeline.paging import page
from kmscli.service.pipeline.registry import generator

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord, ScheduleEntry, Tag


def new_record(
    call: Call,
    key_id: str,
    *,
    spec: str,
    usage: str,
    origin: str,
    policy: str,
    description: str = "",
    tags: list[Tag] | None = None,
    multi: bool = False,
) -> KeyRecord:
    """The record of a key created now in this call's region (no material yet)."""
    return {
        "KeyId": key_id,
        "Arn": call.key_arn(key_id),
        "AWSAccountId": call.account_id,
        "Region": call.region,
        "CreationDate": iso(call.now),
        "Description": description,
        "KeyUsage": usage,
        "KeySpec": spec,
        "KeyState": "Enabled" if origin == "AWS_KMS" else "PendingImport",
        "Origin": origin,
        "MultiRegion": multi,
        "Policy": policy,
        "Tags": tags if tags is not None else [],
        "Grants": [],
        "Materials": [],
    }


@operation("CreateKey", mutating=True)
def create_key(call: Call) -> Response:
    """CreateKey: a new KMS key with fresh material (or PendingImport for EXTERNAL origin)."""
    req = call.request
    no_custom_key_store(call)
    if req.get("XksKeyId") is not None:
        raise errors.UnsupportedOperationException(
            "Custom key stores are not supported: kmscli has no CloudHSM cluster or external key store."
        )
    spec = req.get("KeySpec") or req.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    if req.get("KeySpec") and req.get("CustomerMasterKeySpec"):
        raise errors.ValidationException(
            "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
            "CustomerMasterKeySpec parameter is deprecated. Use KeySpec only"
        )
    spec_info_or_error(spec)
    info = SPECS[spec]
    usage = req.get("KeyUsage") or "ENCRYPT_DECRYPT"  # AWS's default, also for asymmetric specs
    if usage not in info.usages:
        raise errors.ValidationException(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
    origin = req.get("Origin") or "AWS_KMS"
    if origin in ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
        raise errors.UnsupportedOperationException(
            f"Origin {origin} is not supported: kmscli has no CloudHSM cluster or external key store."
        )
    tags = req.get("Tags") or []
    check_tags(tags)
    multi = bool(req.get("MultiRegion"))
    key_id = ("mrk-" + call.ctx.random(16).hex()) if multi else call.ctx.new_uuid()
    arn = call.key_arn(key_id)
    policy = req.get("Policy") or default_policy(call.account_id)
    record = new_record(
        call,
        key_id,
        spec=spec,
        usage=usage,
        origin=origin,
        policy=policy,
        description=req.get("Description", ""),
        tags=tags,
        multi=multi,
    )
    if req.get("Exportable"):
        record["Exportable"] = True  # kmscli only, irreversible (service/operations/export.py)
    if multi:
        record["MultiRegionConfiguration"] = {
            "MultiRegionKeyType": "PRIMARY",
            "PrimaryKey": {"Arn": arn, "Region": call.region},
            "ReplicaKeys": [],
        }
    call.resources.append(arn)
    call.authorize("kms:CreateKey", record, {"Policy": policy})
    call.dry_run()
    if origin == "AWS_KMS":
        materials.put(call, record, generator(spec)(call, spec), Origin="AWS_KMS")
    call.save(record)
    return {"KeyMetadata": key_metadata(record)}


@operation("DescribeKey")
def describe_key(call: Call) -> Response:
    """DescribeKey."""
    record = call.resolve(call.request["KeyId"])
    call.authorize("kms:DescribeKey", record)
    return {"KeyMetadata": key_metadata(record)}


@operation("ListKeys")
def list_keys(call: Call) -> Response:
    """ListKeys: key ids and ARNs of this region, paged with Limit and Marker."""
    ids = call.ctx.vault.list_key_ids(call.region)
    items, extra = page(ids, call.request, key=lambda kid: kid, operation=call.op.name)
    return {"Keys": [{"KeyId": kid, "KeyArn": call.key_arn(kid)} for kid in items], **extra}


def _set_state(call: Call, action: str, state: str) -> Response:
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    call.authorize(action, record)
    require_not_pending_deletion(record)
    if record["KeyState"] == "PendingImport":
        raise errors.KMSInvalidStateException(f"{record['Arn']} is pending import.")
    call.dry_run()
    if record["KeyState"] != state:
        record["KeyState"] = state
        call.save(record)
    return {}


@operation("EnableKey", mutating=True)
def enable_key(call: Call) -> Response:
    """EnableKey."""
    return _set_state(call, "kms:EnableKey", "Enabled")


@operation("DisableKey", mutating=True)
def disable_key(call: Call) -> Response:
    """DisableKey."""
    return _set_state(call, "kms:DisableKey", "Disabled")


@operation("UpdateKeyDescription", mutating=True)
def update_key_description(call: Call) -> Response:
    """UpdateKeyDescription."""
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    call.authorize("kms:UpdateKeyDescription", record)
    require_not_pending_deletion(record)
    call.dry_run()
    record["Description"] = call.request["Description"]
    call.save(record)
    return {}


@operation("ScheduleKeyDeletion", mutating=True)
def schedule_key_deletion(call: Call) -> Response:
    """ScheduleKeyDeletion: PendingDeletion for 7 to 30 days, then destroyed at the next access."""
    req = call.request
    days = req.get("PendingWindowInDays", 30)
    record = call.resolve(req["KeyId"], allow_alias=False)
    call.authorize("kms:ScheduleKeyDeletion", record, {"kms:ScheduleKeyDeletionPendingWindowInDays": days})
    if not 7 <= days <= 30:
        raise errors.ValidationException(
            f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy "
            "constraint: Member must have value between 7 and 30"
        )
    if record["KeyState"] in PENDING_DELETION_STATES:
        raise errors.KMSInvalidStateException(f"{record['Arn']} is pending deletion.")
    call.dry_run()
    if regions.replica_deletion_pending(call, record, days):  # a primary waits for its replicas
        return {"KeyId": record["Arn"], "KeyState": "PendingReplicaDeletion", "PendingWindowInDays": days}
    deletion = call.now + dt.timedelta(days=days)
    record["KeyState"] = "PendingDeletion"
    record["DeletionDate"] = iso(deletion)
    record["PendingDeletionWindowInDays"] = days
    call.save(record)
    call.schedule().setdefault(f"{call.region}/{record['KeyId']}", {})["delete_at"] = iso(deletion)
    return {
        "KeyId": record["Arn"],
        "DeletionDate": deletion,
        "KeyState": "PendingDeletion",
        "PendingWindowInDays": days,
    }


@operation("CancelKeyDeletion", mutating=True)
def cancel_key_deletion(call: Call) -> Response:
    """CancelKeyDeletion: the key returns as Disabled, or as PendingImport when its imported
    current key material was deleted (or expired) while deletion was pending."""
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    call.authorize("kms:CancelKeyDeletion", record)
    if record["KeyState"] not in PENDING_DELETION_STATES:
        raise errors.KMSInvalidStateException(f"{record['Arn']} is not pending deletion.")
    call.dry_run()
    current = record.get("CurrentKeyMaterialId")
    secret = [m for m in record.get("Materials", []) if m["KeyMaterialId"] == current and m.get("Wrapped")]
    record["KeyState"] = "PendingImport" if record["Origin"] == "EXTERNAL" and not secret else "Disabled"
    record.pop("DeletionDate", None)
    record.pop("PendingDeletionWindowInDays", None)
    call.save(record)
    entry = call.schedule().get(f"{call.region}/{record['KeyId']}", {})
    entry.pop("delete_at", None)
    if not entry:
        call.schedule().pop(f"{call.region}/{record['KeyId']}", None)
    return {"KeyId": record["Arn"]}


def delete_due(call: Call, region: str, key_id: str, entry: ScheduleEntry) -> None:
    """The waiting period is over: destroy the key, its material and its aliases (audited)."""
    schedule = call.schedule()
    record = call.load(key_id, region) if is_key_id(key_id) else None
    if record is not None and record.get("KeyState") == "PendingDeletion":
        aliases = call.aliases(region)
        for name in [n for n, a in aliases.items() if a["TargetKeyId"] == key_id]:
            del aliases[name]
            call.touch_aliases(region)
        call.destroy(key_id, region)
        regions.on_key_destroyed(call, record)
        record_service_event(call, "DeleteKey", [record["Arn"]], {"deletionDate": entry["delete_at"]})
    entry.pop("delete_at", None)
    if not entry:
        schedule.pop(f"{region}/{key_id}", None)
