"""Key material versions shared by rotation, import, export and multi-Region replication.

A key record keeps every version of its material in ``Materials`` (oldest first). Each entry is::

    {"KeyMaterialId": 64 hex, "CreationDate": iso, "Wrapped": base64 or None, "Origin": ...,
     "RotationDate": iso, "RotationType": "AUTOMATIC" | "ON_DEMAND",     # versions made by rotation
     "Pending": True,                                                    # imported, awaiting rotation
     "Fingerprint": hex, "ValidTo": iso, "ExpirationModel": ..., "KeyMaterialDescription": ...}

``Wrapped`` is None once imported material was deleted or expired: the entry stays so that a
re-import of the same material (same fingerprint) is recognised, but the secret itself is gone.

Related multi-Region keys (a primary and its replicas, one record per region, same key id) share
their material: every change made here is applied to all of them, each with its own wrapped copy
(the wrap is bound to the key ARN, which names the region).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from kmscli.service.pipeline.core import Call, Record
from kmscli.vault.store import subkey


def related(call: Call, record: Record) -> list[Record]:
    """``record`` and, for a multi-Region key, every other existing key of its set (any region)."""
    config = record.get("MultiRegionConfiguration")
    out = [record]
    if not config:
        return out
    regions = [config["PrimaryKey"]["Region"], *(r["Region"] for r in config.get("ReplicaKeys", []))]
    for region in regions:
        if region == record.get("Region", call.region):
            continue
        other = call.load(record["KeyId"], region)
        if other is not None:
            out.append(other)
    return out


def fingerprint(call: Call, raw: bytes) -> str:
    """A keyed digest of material (never the material): recognises a re-import of the same bytes."""
    key = subkey(call.ctx.vault.vault_key, "material-fingerprint")
    return hmac.new(key, raw, hashlib.sha256).hexdigest()


def find(record: Record, material_id: str) -> dict[str, Any] | None:
    """The material entry with this id, if the key has it."""
    for item in record.get("Materials", []):
        if item["KeyMaterialId"] == material_id:
            return item
    return None


def _scope(call: Call, record: Record, share: bool) -> list[Record]:
    return related(call, record) if share else [record]


def put(
    call: Call,
    record: Record,
    raw: bytes,
    *,
    material_id: str | None = None,
    current: bool = True,
    share: bool = True,
    **meta: Any,
) -> str:
    """Store ``raw`` as a material version of ``record`` and its replicas; returns its id.

    An existing entry with the same id is refilled (re-import); ``current`` makes it the version
    that new encryptions use. ``share=False`` limits the change to ``record`` (imported material
    is imported into each multi-Region key separately, as in AWS). The records are staged.
    """
    mid = material_id or call.ctx.random(32).hex()
    for rec in _scope(call, record, share):
        wrapped = call.ctx.vault.wrap_material(rec["Arn"], mid, raw, call.ctx.random(12))
        entry = find(rec, mid)
        if entry is None:
            entry = {"KeyMaterialId": mid, "CreationDate": call.now.isoformat()}
            rec.setdefault("Materials", []).append(entry)
        entry.update(meta)
        entry["Wrapped"] = wrapped
        if current:
            entry.pop("Pending", None)
            rec["CurrentKeyMaterialId"] = mid
        call.save(rec)
    return mid


def update(call: Call, record: Record, material_id: str, *, share: bool = True, **changes: Any) -> None:
    """Change metadata of one material version in ``record`` and its replicas (None removes)."""
    for rec in _scope(call, record, share):
        entry = find(rec, material_id)
        if entry is None:
            continue
        for name, value in changes.items():
            if value is None:
                entry.pop(name, None)
            else:
                entry[name] = value
        call.save(rec)


def make_current(call: Call, record: Record, material_id: str, *, share: bool = True) -> None:
    """Make an already stored version the current one, everywhere."""
    update(call, record, material_id, share=share, Pending=None)
    for rec in _scope(call, record, share):
        rec["CurrentKeyMaterialId"] = material_id
        call.save(rec)


def forget_secret(call: Call, record: Record, material_id: str, *, share: bool = True) -> None:
    """Drop the wrapped secret of one version (imported material deleted or expired), everywhere.

    The key file is rewritten without it (atomic replace); the entry's metadata and fingerprint
    stay so that re-importing the same material restores it.
    """
    update(call, record, material_id, share=share, Wrapped=None)


def usable(record: Record) -> list[dict[str, Any]]:
    """Versions whose secret is present."""
    return [m for m in record.get("Materials", []) if m.get("Wrapped")]
