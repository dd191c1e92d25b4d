"""Key material versions: the only module that writes ``Materials`` and ``CurrentKeyMaterialId``.

CreateKey, rotation, import, expiry, multi-Region replication and key bundles all change a key's
material through the functions below, so the rules live in one place: a version's secret is
wrapped under the vault bound to the key's ARN and the version's id, a version made current loses
its ``Pending`` mark, and related multi-Region keys change together.

A key record keeps every version in ``Materials`` (oldest first; ``MaterialEntry`` in
``kmscli/vault/records.py``). ``Wrapped`` is None once imported material was deleted or expired:
the entry stays so that a re-import of the same material (same fingerprint) is recognised, but the
secret itself is gone.

Related multi-Region keys (a primary and its replicas, one record per region, same key id) share
their material: every change made here applies to all of them unless ``share=False``, each with
its own wrapped copy (the wrap is bound to the key ARN, which names the region).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict, Unpack, cast

from kmscli.crypto import primitives
from kmscli.service.pipeline.core import Call
from kmscli.vault.store import UnlockedVault, subkey

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord, MaterialEntry


class Changes(TypedDict, total=False):
    """Metadata a caller may set on a version (None removes the member)."""

    Origin: str
    RotationDate: str
    RotationType: str
    Pending: bool | None
    Fingerprint: str
    ValidTo: str | None
    ExpirationModel: str
    KeyMaterialDescription: str


def related(call: Call, record: KeyRecord) -> list[KeyRecord]:
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
    return primitives.hmac_sha256(subkey(call.ctx.vault.vault_key, "material-fingerprint"), raw).hex()


def find(record: KeyRecord, material_id: str) -> MaterialEntry | None:
    """The material entry with this id, if the key has it."""
    for item in record.get("Materials", []):
        if item["KeyMaterialId"] == material_id:
            return item
    return None


def usable(record: KeyRecord) -> list[MaterialEntry]:
    """Versions whose secret is present."""
    return [m for m in record.get("Materials", []) if m.get("Wrapped")]


def _scope(call: Call, record: KeyRecord, share: bool) -> list[KeyRecord]:
    return related(call, record) if share else [record]


def _entry(record: KeyRecord, material_id: str, created: str) -> MaterialEntry:
    """The entry with this id, appended (new, without secret) when the key lacks it."""
    entry = find(record, material_id)
    if entry is None:
        entry = {"KeyMaterialId": material_id, "CreationDate": created}
        record.setdefault("Materials", []).append(entry)
    return entry


def _apply(entry: MaterialEntry, changes: Changes) -> None:
    fields = cast(dict[str, Any], entry)
    for name, value in changes.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value


def put(
    call: Call,
    record: KeyRecord,
    raw: bytes,
    *,
    material_id: str | None = None,
    current: bool = True,
    share: bool = True,
    **meta: Unpack[Changes],
) -> str:
    """Store ``raw`` as a material version of ``record`` and its replicas; returns its id.

    A new id is random; an existing entry with ``material_id`` is refilled (re-import).
    ``current`` makes it the version that new encryptions use. ``share=False`` limits the change
    to ``record`` (imported material is imported into each multi-Region key separately, as in
    AWS). The records are staged.
    """
    mid = material_id or call.ctx.random(32).hex()
    for rec in _scope(call, record, share):
        wrapped = call.ctx.vault.wrap_material(rec["Arn"], mid, raw, call.ctx.random(12))
        entry = _entry(rec, mid, call.now.isoformat())
        _apply(entry, meta)
        entry["Wrapped"] = wrapped
        if current:
            entry.pop("Pending", None)
            rec["CurrentKeyMaterialId"] = mid
        call.save(rec)
    return mid


def announce(call: Call, record: KeyRecord, material_id: str, **meta: Unpack[Changes]) -> None:
    """Give the other keys of ``record``'s multi-Region set an entry for a version, without its secret.

    Imported material is imported into each key separately: until it is, the entry only says that
    the version exists (rotation waits for it, ListKeyRotations reports it).
    """
    for rec in related(call, record)[1:]:
        if find(rec, material_id) is None:
            _apply(_entry(rec, material_id, call.now.isoformat()), meta)
            call.save(rec)


def update(
    call: Call, record: KeyRecord, material_id: str, *, share: bool = True, **changes: Unpack[Changes]
) -> None:
    """Change metadata of one material version in ``record`` and its replicas (None removes)."""
    for rec in _scope(call, record, share):
        entry = find(rec, material_id)
        if entry is None:
            continue
        _apply(entry, changes)
        call.save(rec)


def make_current(call: Call, record: KeyRecord, material_id: str, *, share: bool = True) -> None:
    """Make an already stored version the current one, everywhere."""
    update(call, record, material_id, share=share, Pending=None)
    for rec in _scope(call, record, share):
        rec["CurrentKeyMaterialId"] = material_id
        call.save(rec)


def forget_secret(call: Call, record: KeyRecord, material_id: str, *, share: bool = True) -> None:
    """Drop the wrapped secret of one version (imported material deleted or expired), everywhere.

    The key file is rewritten without it (atomic replace); the entry's metadata and fingerprint
    stay so that re-importing the same material restores it.
    """
    for rec in _scope(call, record, share):
        entry = find(rec, material_id)
        if entry is not None:
            entry.pop("Wrapped", None)
            call.save(rec)


def copy_versions(call: Call, source: KeyRecord, target: KeyRecord, *, secrets: bool) -> None:
    """Give a new replica ``target`` every version of ``source``, each wrapped for its own ARN.

    Without ``secrets`` (imported material) only the versions' metadata is copied: the replica
    stays PendingImport until the same material is imported into it, as in AWS.
    """
    versions: list[MaterialEntry] = []
    for entry in source.get("Materials", []):
        item = copy.deepcopy(entry)
        item.pop("Wrapped", None)
        wrapped = entry.get("Wrapped")
        if wrapped and secrets:
            mid = entry["KeyMaterialId"]
            raw = call.ctx.vault.unwrap_material(source["Arn"], mid, wrapped)
            item["Wrapped"] = call.ctx.vault.wrap_material(target["Arn"], mid, raw, call.ctx.random(12))
        versions.append(item)
    target["Materials"] = versions
    if source.get("CurrentKeyMaterialId"):
        target["CurrentKeyMaterialId"] = source["CurrentKeyMaterialId"]


def rewrapped(
    record: KeyRecord, source: UnlockedVault, target: UnlockedVault, random: Callable[[int], bytes]
) -> KeyRecord:
    """A copy of ``record`` whose material is wrapped under another vault (a key bundle)."""
    out = copy.deepcopy(record)
    for item in out.get("Materials", []):
        wrapped = item.get("Wrapped")
        if wrapped:
            mid = item["KeyMaterialId"]
            raw = source.unwrap_material(record["Arn"], mid, wrapped)
            item["Wrapped"] = target.wrap_material(record["Arn"], mid, raw, random(12))
    return out
