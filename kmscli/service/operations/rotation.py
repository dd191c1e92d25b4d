"""Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
ListKeyRotations, and automatic rotation applied lazily when it comes due.

Rotation adds a material version (``service/operations/materials.py``) and makes it current: Encrypt uses
the newest version, Decrypt the version its ciphertext names, so old ciphertexts keep working.
The rotation settings live in the record's ``Rotation`` member (on the primary and every replica
of a multi-Region key); the due date is also in the vault schedule under ``rotate_at`` so that
``core._run_due_work`` finds it without reading every key file.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import TYPE_CHECKING, Any

from kmscli import errors
from kmscli.ids import is_key_id
from kmscli.service.operations import materials
from kmscli.service.operations.common import require_not_pending_deletion
from kmscli.service.pipeline.core import (
    Call,
    Response,
    iso,
    operation,
    parse_time,
    record_service_event,
)
from kmscli.service.pipeline.paging import page
from kmscli.service.pipeline.registry import generator

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord, MaterialEntry, RotationSettings, ScheduleEntry

DEFAULT_PERIOD_DAYS = 365
#: AWS's quota of on-demand rotations per KMS key (not adjustable).
MAX_ON_DEMAND_ROTATIONS = 25
#: How long a due rotation of a disabled key waits before it is checked again.
RECHECK = dt.timedelta(days=1)


def _schedule_key(record: KeyRecord) -> str:
    return f"{record['Region']}/{record['KeyId']}"


def _is_replica(record: KeyRecord) -> bool:
    config = record.get("MultiRegionConfiguration")
    return config is not None and config["MultiRegionKeyType"] == "REPLICA"


def _require_rotatable(call: Call, record: KeyRecord, *, on_demand: bool = False) -> None:
    """The checks AWS makes before any rotation operation, in its order."""
    if record["KeyState"] == "Disabled":
        raise errors.DisabledException(f"{record['Arn']} is disabled.")
    if record["KeyState"] == "PendingImport":
        if not on_demand:  # AWS's key state table, footnote [6]: the origin decides, not the state
            raise errors.UnsupportedOperationException(
                f"{record['Arn']} origin is EXTERNAL which is not valid for this operation."
            )
        raise errors.KMSInvalidStateException(f"{record['Arn']} is pending import.")
    require_not_pending_deletion(record)
    if record["KeySpec"] != "SYMMETRIC_DEFAULT" or record["KeyUsage"] != "ENCRYPT_DECRYPT":
        raise errors.UnsupportedOperationException(
            f"{record['Arn']} key spec is {record['KeySpec']}: rotation is supported only on symmetric "
            "encryption KMS keys."
        )
    if record["Origin"] == "EXTERNAL" and not on_demand:
        raise errors.UnsupportedOperationException(
            f"{record['Arn']} has imported key material: automatic rotation is not supported; import "
            "new key material (ImportType NEW_KEY_MATERIAL) and call RotateKeyOnDemand instead."
        )
    if _is_replica(record):
        raise errors.UnsupportedOperationException(
            f"{record['Arn']} is a multi-Region replica key: manage rotation on its primary key."
        )


def _rotation(record: KeyRecord | None) -> RotationSettings | None:
    """The key's automatic rotation settings while rotation is enabled."""
    rotation = record.get("Rotation") if record is not None else None
    return rotation if rotation and rotation["Enabled"] else None


def _set_rotation(call: Call, record: KeyRecord, rotation: RotationSettings | None) -> None:
    for rec in materials.related(call, record):
        if rotation is None:
            rec.pop("Rotation", None)
        else:
            rec["Rotation"] = copy.copy(rotation)
        call.save(rec)
    entry = call.schedule().setdefault(_schedule_key(record), {})
    if rotation is None:
        entry.pop("rotate_at", None)
    else:
        entry["rotate_at"] = rotation["NextRotationDate"]
    if not entry:
        call.schedule().pop(_schedule_key(record), None)


def start_automatic(call: Call, record: KeyRecord, period_days: int) -> None:
    """Rotate ``record`` automatically every ``period_days`` from now (a new key's schedule)."""
    nxt = call.now + dt.timedelta(days=period_days)
    rotation: RotationSettings = {
        "Enabled": True,
        "PeriodInDays": period_days,
        "NextRotationDate": iso(nxt),
        "Since": iso(call.now),
    }
    _set_rotation(call, record, rotation)


@operation("EnableKeyRotation", mutating=True)
def enable_key_rotation(call: Call) -> Response:
    """EnableKeyRotation: rotate every RotationPeriodInDays (90 to 2560, default 365)."""
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    period = int(call.request.get("RotationPeriodInDays") or DEFAULT_PERIOD_DAYS)
    call.authorize("kms:EnableKeyRotation", record, {"kms:RotationPeriodInDays": period})
    _require_rotatable(call, record)
    call.dry_run()
    previous = _rotation(record)
    base = call.now
    if previous:
        # Changing the period keeps the schedule anchored at the last rotation (or enabling).
        base = parse_time(previous["Since"])
        last = [
            m["RotationDate"] for m in record.get("Materials", []) if m.get("RotationType") == "AUTOMATIC"
        ]
        if last:
            base = max(base, parse_time(max(last)))
    nxt = base + dt.timedelta(days=period)
    if nxt <= call.now:
        nxt = call.now
    _set_rotation(
        call,
        record,
        {
            "Enabled": True,
            "PeriodInDays": period,
            "NextRotationDate": iso(nxt),
            "Since": previous["Since"] if previous else iso(call.now),
        },
    )
    return {}


@operation("DisableKeyRotation", mutating=True)
def disable_key_rotation(call: Call) -> Response:
    """DisableKeyRotation: no more automatic rotations; on-demand rotation stays possible."""
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    call.authorize("kms:DisableKeyRotation", record)
    _require_rotatable(call, record)
    call.dry_run()
    _set_rotation(call, record, None)
    return {}


@operation("GetKeyRotationStatus")
def get_key_rotation_status(call: Call) -> Response:
    """GetKeyRotationStatus: enabled, period and next date.

    RotateKeyOnDemand completes within its own call here, so no on-demand rotation is ever in
    progress and ``OnDemandRotationStartDate`` is only present while the record says one is
    (never, for a vault written by this version).
    """
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    call.authorize("kms:GetKeyRotationStatus", record)
    if record["KeySpec"] != "SYMMETRIC_DEFAULT" or record["KeyUsage"] != "ENCRYPT_DECRYPT":
        # AWS's key type table: asymmetric and HMAC keys answer, always false (Enable/Disable refuse)
        return {"KeyId": record["Arn"], "KeyRotationEnabled": False}
    # AWS: while a key is pending deletion its rotation status is false (nothing rotates); a
    # cancelled deletion brings the stored setting back, so the record keeps it
    rotation = None if record["KeyState"] == "PendingDeletion" else _rotation(record)
    out: dict[str, Any] = {"KeyId": record["Arn"], "KeyRotationEnabled": rotation is not None}
    if rotation:
        out["RotationPeriodInDays"] = rotation["PeriodInDays"]
        out["NextRotationDate"] = parse_time(rotation["NextRotationDate"])
    if record.get("OnDemandRotationStartDate"):
        out["OnDemandRotationStartDate"] = parse_time(record["OnDemandRotationStartDate"])
    return out


@operation("RotateKeyOnDemand", mutating=True)
def rotate_key_on_demand(call: Call) -> Response:
    """RotateKeyOnDemand: a new current version now (at most 25 per key); schedule unchanged.

    For a key with imported material, the new version is the one imported with ImportType
    NEW_KEY_MATERIAL (state PENDING_ROTATION); without one the call is refused.
    """
    record = call.resolve(call.request["KeyId"], allow_alias=False)
    call.authorize("kms:RotateKeyOnDemand", record)
    _require_rotatable(call, record, on_demand=True)
    done = sum(1 for m in record.get("Materials", []) if m.get("RotationType") == "ON_DEMAND")
    if done >= MAX_ON_DEMAND_ROTATIONS:
        raise errors.LimitExceededException(
            f"{record['Arn']} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations."
        )
    pending = [m for m in record.get("Materials", []) if m.get("Pending") and m.get("Wrapped")]
    if record["Origin"] == "EXTERNAL" and not pending:
        raise errors.KMSInvalidStateException(
            f"{record['Arn']} has no key material in PENDING_ROTATION state: import new key material "
            "(ImportType NEW_KEY_MATERIAL) before rotating."
        )
    if pending:
        waiting = _awaiting_replica_import(call, record)
        if pending[-1]["KeyMaterialId"] in waiting:
            raise errors.KMSInvalidStateException(
                f"{record['Arn']}: the new key material (PENDING_MULTI_REGION_IMPORT_AND_ROTATION) must be "
                "imported into every replica key before the rotation."
            )
    call.dry_run()
    meta: dict[str, Any] = {"RotationDate": iso(call.now), "RotationType": "ON_DEMAND"}
    if pending:
        mid = pending[-1]["KeyMaterialId"]
        materials.update(call, record, mid, **meta)
        materials.make_current(call, record, mid)
    else:
        spec = record["KeySpec"]
        materials.put(call, record, generator(spec)(call, spec), Origin="AWS_KMS", **meta)
    return {"KeyId": record["Arn"]}


def _awaiting_replica_import(call: Call, record: KeyRecord) -> set[str]:
    """Pending imported versions that some key of the multi-Region set does not hold yet."""
    return {
        m["KeyMaterialId"]
        for rec in materials.related(call, record)
        for m in rec.get("Materials", [])
        if m.get("Pending") and not m.get("Wrapped")
    }


def _state(record: KeyRecord, entry: MaterialEntry, waiting: set[str]) -> str:
    if entry["KeyMaterialId"] == record.get("CurrentKeyMaterialId"):
        return "CURRENT"
    if entry.get("Pending"):
        if entry["KeyMaterialId"] in waiting:
            return "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"
        return "PENDING_ROTATION"
    return "NON_CURRENT"


def rotation_entry(
    record: KeyRecord, entry: MaterialEntry, waiting: set[str] | frozenset[str] = frozenset()
) -> dict[str, Any]:
    """One RotationsListEntry for a material version (``waiting``: versions replicas still lack)."""
    out: dict[str, Any] = {"KeyId": record["KeyId"], "KeyMaterialId": entry["KeyMaterialId"]}
    if record["Origin"] == "EXTERNAL":
        if entry.get("KeyMaterialDescription"):
            out["KeyMaterialDescription"] = entry["KeyMaterialDescription"]
        out["ImportState"] = "IMPORTED" if entry.get("Wrapped") else "PENDING_IMPORT"
    out["KeyMaterialState"] = _state(record, entry, set(waiting))
    if record["Origin"] == "EXTERNAL":
        out["ExpirationModel"] = entry.get("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
        if entry.get("ValidTo"):
            out["ValidTo"] = parse_time(entry["ValidTo"])
    if entry.get("RotationDate"):
        out["RotationDate"] = parse_time(entry["RotationDate"])
        out["RotationType"] = entry["RotationType"]
    return out


@operation("ListKeyRotations")
def list_key_rotations(call: Call) -> Response:
    """ListKeyRotations: completed rotations, or every material version with ALL_KEY_MATERIAL."""
    req = call.request
    record = call.resolve(req["KeyId"], allow_alias=False)
    call.authorize("kms:ListKeyRotations", record)
    if record["KeySpec"] != "SYMMETRIC_DEFAULT" or record["KeyUsage"] != "ENCRYPT_DECRYPT":
        raise errors.UnsupportedOperationException(
            f"{record['Arn']} key spec is {record['KeySpec']}: rotation is supported only on symmetric "
            "encryption KMS keys."
        )
    everything = req.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
    versions = [
        (f"{i:06d}", m)
        for i, m in enumerate(record.get("Materials", []))
        if everything or m.get("RotationDate")
    ]
    items, extra = page(versions, req, key=lambda pair: pair[0], operation=call.op.name)
    waiting = _awaiting_replica_import(call, record) if record["Origin"] == "EXTERNAL" else set()
    return {"Rotations": [rotation_entry(record, m, waiting) for _, m in items], **extra}


def rotate_due(call: Call, region: str, key_id: str, entry: ScheduleEntry) -> None:
    """Automatic rotation came due: add a version (audited as RotateKey) and plan the next one."""
    schedule = call.schedule()
    record = call.load(key_id, region) if is_key_id(key_id) else None
    rotation = _rotation(record)
    if record is None or rotation is None:
        entry.pop("rotate_at", None)
        if not entry:
            schedule.pop(f"{region}/{key_id}", None)
        return
    if record["KeyState"] != "Enabled":
        # AWS does not rotate a disabled key; it rotates once it is enabled again and due.
        entry["rotate_at"] = iso(call.now + RECHECK)
        return
    due = parse_time(entry["rotate_at"])
    period = dt.timedelta(days=int(rotation["PeriodInDays"]))
    spec = record["KeySpec"]
    mid = materials.put(
        call,
        record,
        generator(spec)(call, spec),
        Origin="AWS_KMS",
        RotationDate=iso(call.now),
        RotationType="AUTOMATIC",
    )
    nxt = due + period
    while nxt <= call.now:
        nxt += period
    rotation = {**rotation, "NextRotationDate": iso(nxt)}
    for rec in materials.related(call, record):
        rec["Rotation"] = copy.copy(rotation)
        call.save(rec)
    entry["rotate_at"] = iso(nxt)
    record_service_event(
        call,
        "RotateKey",
        [rec["Arn"] for rec in materials.related(call, record)],
        {"keyMaterialId": mid, "rotationType": "AUTOMATIC"},
    )
