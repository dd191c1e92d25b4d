"""Multi-Region keys: ReplicateKey, UpdatePrimaryRegion, and their deletion semantics.

Each region's key lives in its own file (``VAULT/keys/REGION/KEYID.json``); related multi-Region
keys share the ``mrk-`` key id, key spec, usage, origin, rotation settings and material (each file
holds its own wrapped copy, bound to its own ARN), but each has its own policy, description, tags,
grants, aliases and key state. Every record carries the set's ``MultiRegionConfiguration`` with
its own ``MultiRegionKeyType``. A ciphertext names the key id and material version, so it decrypts
with any related key in any region.

Deletion: a primary key that still has replicas goes to ``PendingReplicaDeletion`` and starts its
waiting period only once the last replica has been deleted (``on_key_destroyed``).
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import TYPE_CHECKING

from kmscli import errors
from kmscli.service.operations import materials
from kmscli.service.operations.common import (
    check_tags,
    default_policy,
    key_metadata,
    require_enabled,
)
from kmscli.service.pipeline.core import Call, Response, iso, operation, record_service_event

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord, MultiRegionConfiguration, RegionalKey, SharedMember

#: KeyRecord members shared by every key of a multi-Region set (the rest belong to one region).
SHARED: tuple[SharedMember, ...] = ("KeySpec", "KeyUsage", "Origin", "MultiRegion", "Rotation", "Exportable")


def _config(record: KeyRecord) -> MultiRegionConfiguration | None:
    return record.get("MultiRegionConfiguration")


def _set_config(
    call: Call, records: list[KeyRecord], primary: RegionalKey, replicas: list[RegionalKey]
) -> None:
    for rec in records:
        rec["MultiRegionConfiguration"] = {
            "MultiRegionKeyType": "PRIMARY" if rec["Arn"] == primary["Arn"] else "REPLICA",
            "PrimaryKey": copy.copy(primary),
            "ReplicaKeys": [copy.copy(r) for r in replicas],
        }
        call.save(rec)


def _primary_config(call: Call, record: KeyRecord, why: str) -> MultiRegionConfiguration:
    """The configuration of an Enabled multi-Region primary key, or the error (AWS's key state table:
    ReplicateKey and UpdatePrimaryRegion refuse a disabled, pending-import or pending-deletion key)."""
    config = _config(record)
    if not record.get("MultiRegion") or not config:
        raise errors.UnsupportedOperationException(f"{record['Arn']} is not a multi-Region key{why}.")
    if config["MultiRegionKeyType"] != "PRIMARY":
        raise errors.UnsupportedOperationException(
            f"{record['Arn']} is a replica key; call {call.op.name} on the primary key in "
            f"{config['PrimaryKey']['Region']}."
        )
    require_enabled(record)
    return config


@operation("ReplicateKey", mutating=True)
def replicate_key(call: Call) -> Response:
    """ReplicateKey: a replica of a multi-Region primary key in another region of this vault."""
    req = call.request
    record = call.resolve(req["KeyId"], allow_alias=False)
    region = req["ReplicaRegion"]
    call.authorize("kms:ReplicateKey", record, {"kms:ReplicaRegion": region})
    config = _primary_config(call, record, "; only multi-Region primary keys can be replicated")
    if region == record["Region"] or call.load(record["KeyId"], region) is not None:
        raise errors.AlreadyExistsException(
            f"{call.key_arn(record['KeyId'], region)} already exists: the multi-Region key already has a "
            f"key in {region}."
        )
    tags = req.get("Tags") or []
    check_tags(tags)
    arn = call.key_arn(record["KeyId"], region)
    policy = req.get("Policy") or default_policy(call.account_id)
    replica: KeyRecord = {
        "KeyId": record["KeyId"],
        "Arn": arn,
        "AWSAccountId": call.account_id,
        "Region": region,
        "CreationDate": iso(call.now),
        "Description": req.get("Description", ""),
        "KeySpec": record["KeySpec"],
        "KeyUsage": record["KeyUsage"],
        "Origin": record["Origin"],
        # Imported material is imported into each replica separately (AWS): until then PendingImport.
        "KeyState": "PendingImport" if record["Origin"] == "EXTERNAL" else record["KeyState"],
        "Policy": policy,
        "Tags": tags,
        "Grants": [],
    }
    for name in SHARED:
        if name in record:
            replica[name] = copy.deepcopy(record[name])
    call.resources.append(arn)
    call.dry_run()
    # The replica's own wrapped copy of each version (imported material: metadata only, the
    # replica is PendingImport until the same material is imported into it, as in AWS).
    materials.copy_versions(call, record, replica, secrets=record["Origin"] != "EXTERNAL")
    family = materials.related(call, record)
    replicas: list[RegionalKey] = [*config.get("ReplicaKeys", []), {"Arn": arn, "Region": region}]
    _set_config(call, [*family, replica], config["PrimaryKey"], replicas)
    return {"ReplicaKeyMetadata": key_metadata(replica), "ReplicaPolicy": policy, "ReplicaTags": tags}


@operation("UpdatePrimaryRegion", mutating=True)
def update_primary_region(call: Call) -> Response:
    """UpdatePrimaryRegion: make the replica in PrimaryRegion the primary; this key becomes a replica."""
    req = call.request
    record = call.resolve(req["KeyId"], allow_alias=False)
    region = req["PrimaryRegion"]
    call.authorize("kms:UpdatePrimaryRegion", record, {"kms:PrimaryRegion": region})
    _primary_config(call, record, "")
    family = materials.related(call, record)
    new_primary = next((r for r in family if r["Region"] == region and r is not record), None)
    if new_primary is None:
        raise errors.NotFoundException(f"{record['Arn']} has no replica key in {region}.")
    require_enabled(new_primary)  # AWS: both keys must be Enabled when the update starts
    call.resources.append(new_primary["Arn"])
    call.dry_run()
    primary: RegionalKey = {"Arn": new_primary["Arn"], "Region": region}
    replicas: list[RegionalKey] = [
        {"Arn": r["Arn"], "Region": r["Region"]} for r in family if r is not new_primary
    ]
    replicas.sort(key=lambda r: r["Region"])
    _set_config(call, family, primary, replicas)
    schedule = call.schedule()
    old_where, new_where = f"{record['Region']}/{record['KeyId']}", f"{region}/{record['KeyId']}"
    if "rotate_at" in schedule.get(old_where, {}):
        schedule.setdefault(new_where, {})["rotate_at"] = schedule[old_where].pop("rotate_at")
        if not schedule[old_where]:
            del schedule[old_where]
    return {}


def replica_deletion_pending(call: Call, record: KeyRecord, days: int) -> bool:
    """ScheduleKeyDeletion of a primary with replicas: PendingReplicaDeletion instead (True)."""
    config = _config(record)
    if not config or config["MultiRegionKeyType"] != "PRIMARY" or not config.get("ReplicaKeys"):
        return False
    record["KeyState"] = "PendingReplicaDeletion"
    record["PendingDeletionWindowInDays"] = days
    record.pop("DeletionDate", None)
    call.save(record)
    return True


def on_key_destroyed(call: Call, record: KeyRecord) -> None:
    """A key of a multi-Region set was deleted: drop it from the others' configuration.

    If the primary was waiting in PendingReplicaDeletion and this was its last replica, the
    primary's own waiting period starts now (PendingDeletion, audited as a service event).
    """
    config = _config(record)
    if not config:
        return
    family = [r for r in materials.related(call, record) if r is not record]
    if not family:
        return
    if config["MultiRegionKeyType"] == "PRIMARY":
        # Only reached if a primary without replicas in config still has stray relatives.
        return
    replicas = [r for r in config.get("ReplicaKeys", []) if r["Arn"] != record["Arn"]]
    _set_config(call, family, config["PrimaryKey"], replicas)
    primary = next((r for r in family if r["Arn"] == config["PrimaryKey"]["Arn"]), None)
    if primary is not None and primary["KeyState"] == "PendingReplicaDeletion" and not replicas:
        days = int(primary.get("PendingDeletionWindowInDays", 30))
        when = call.now + dt.timedelta(days=days)
        primary["KeyState"] = "PendingDeletion"
        primary["DeletionDate"] = iso(when)
        call.save(primary)
        call.schedule().setdefault(f"{primary['Region']}/{primary['KeyId']}", {})["delete_at"] = iso(when)
        record_service_event(
            call,
            "ScheduleKeyDeletion",
            [primary["Arn"]],
            {"reason": "last replica deleted", "deletionDate": iso(when)},
        )
