"""Helpers shared by operations: key metadata, state and usage checks, key material access."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NoReturn

from kmscli import errors
from kmscli.crypto.specs import CUSTOMER_MASTER_KEY_SPECS, SPECS, algorithms_for
from kmscli.policy import principals
from kmscli.service.pipeline import registry
from kmscli.service.pipeline.core import Call, parse_time

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord, Tag


def generate_symmetric(call: Call, spec: str) -> bytes:
    """New SYMMETRIC_DEFAULT material: 256 random bits (the registry's generator of that spec)."""
    return call.ctx.random(32)


def default_policy(account_id: str) -> str:
    """AWS's default key policy: the account root gets ``kms:*``."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [
                {
                    "Sid": "Enable IAM User Permissions",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        },
        indent=2,
    )


def key_metadata(record: KeyRecord) -> dict[str, Any]:
    """DescribeKey's KeyMetadata for a stored record; derived members are computed, not stored."""
    meta: dict[str, Any] = {
        "AWSAccountId": record["AWSAccountId"],
        "KeyId": record["KeyId"],
        "Arn": record["Arn"],
        "CreationDate": parse_time(record["CreationDate"]),
        "Enabled": record["KeyState"] == "Enabled",
        "Description": record.get("Description", ""),
        "KeyUsage": record["KeyUsage"],
        "KeyState": record["KeyState"],
    }
    if record.get("DeletionDate"):
        meta["DeletionDate"] = parse_time(record["DeletionDate"])
    if record.get("ValidTo"):
        meta["ValidTo"] = parse_time(record["ValidTo"])
    meta["Origin"] = record["Origin"]
    if record.get("ExpirationModel"):
        meta["ExpirationModel"] = record["ExpirationModel"]
    meta["KeyManager"] = record.get("KeyManager", "CUSTOMER")  # "AWS": service/operations/managed.py
    if record["KeySpec"] in CUSTOMER_MASTER_KEY_SPECS:
        meta["CustomerMasterKeySpec"] = record["KeySpec"]
    meta["KeySpec"] = record["KeySpec"]
    meta.update(algorithms_for(record["KeySpec"], record["KeyUsage"]))
    meta["MultiRegion"] = bool(record.get("MultiRegion", False))
    if record.get("MultiRegionConfiguration"):
        meta["MultiRegionConfiguration"] = record["MultiRegionConfiguration"]
    if record.get("PendingDeletionWindowInDays"):
        meta["PendingDeletionWindowInDays"] = record["PendingDeletionWindowInDays"]
    if (
        record.get("CurrentKeyMaterialId")
        and record["KeyUsage"] == "ENCRYPT_DECRYPT"
        and record["KeySpec"] == "SYMMETRIC_DEFAULT"
    ):
        meta["CurrentKeyMaterialId"] = record["CurrentKeyMaterialId"]
    if record.get("Exportable"):
        meta["KmscliExportable"] = True  # kmscli extension member (model/extensions.json)
    return meta


#: The key states of a key whose deletion is scheduled (a multi-Region primary waits for its replicas).
PENDING_DELETION_STATES = ("PendingDeletion", "PendingReplicaDeletion")


def require_enabled(record: KeyRecord) -> None:
    """Raise the error AWS gives for using a key that is not Enabled."""
    state, arn = record["KeyState"], record["Arn"]
    if state == "Enabled":
        return
    if state == "Disabled":
        raise errors.DisabledException(f"{arn} is disabled.")
    if state == "PendingDeletion":
        raise errors.KMSInvalidStateException(f"{arn} is pending deletion.")
    if state == "PendingImport":
        raise errors.KMSInvalidStateException(f"{arn} is pending import.")
    if state == "PendingReplicaDeletion":
        raise errors.KMSInvalidStateException(f"{arn} is pending replica deletion.")
    raise errors.KMSInvalidStateException(f"{arn} is {state}.")


def require_not_pending_deletion(record: KeyRecord) -> None:
    """Management operations are refused on keys that are pending deletion."""
    if record["KeyState"] in PENDING_DELETION_STATES:
        raise errors.KMSInvalidStateException(f"{record['Arn']} is pending deletion.")


def require_usage(record: KeyRecord, usage: str, operation: str) -> None:
    """InvalidKeyUsageException when the key is not meant for ``operation``."""
    if record["KeyUsage"] != usage:
        raise errors.InvalidKeyUsageException(
            f"{record['Arn']} key usage is {record['KeyUsage']} which is not valid for {operation}."
        )


def require_symmetric(record: KeyRecord, operation: str) -> None:
    """Operations that only symmetric encryption keys support (data keys, symmetric blobs)."""
    if record["KeySpec"] != "SYMMETRIC_DEFAULT" or record["KeyUsage"] != "ENCRYPT_DECRYPT":
        raise errors.InvalidKeyUsageException(
            f"{record['Arn']} key spec is {record['KeySpec']} and key usage is {record['KeyUsage']}, "
            f"which are not valid for {operation}; it needs a SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key."
        )


def no_recipient(call: Call) -> None:
    """The Nitro Enclaves ``Recipient`` parameter cannot be honoured on one machine."""
    if call.request.get("Recipient") is not None:
        raise errors.UnsupportedOperationException(
            "Recipient (attested Nitro Enclaves requests) is not supported: kmscli runs on one "
            "machine with no Nitro enclave to attest"
        )


def iam_only(call: Call, action: str, resource: str) -> None:
    """kmscli's stand-in for an IAM-only permission (``policy.actions.IAM_ONLY_ACTIONS``): no key
    policy or grant decides it, and with no IAM policies every principal of the resource's account
    may; another account's principal is AccessDeniedException."""
    caller = call.ctx.identity.principal
    if principals.account_of(resource) != principals.account_of(caller):
        raise errors.AccessDeniedException(
            f"User: {caller} is not authorized to perform: {action} on resource: {resource} because "
            "it is not in the caller's account (an IAM policy decides this permission, and kmscli's "
            "stand-in for IAM allows only the account's own principals)"
        )


def no_custom_key_store(call: Call) -> None:
    """CustomKeyStoreNotFoundException when the request names a custom key store (``CustomKeyStoreId``,
    or ``CustomKeyStoreName`` where the operation takes one): kmscli has none, and AWS answers so for
    an id or name that is not in the account."""
    named = call.request.get("CustomKeyStoreId")
    if named is None:
        named = call.request.get("CustomKeyStoreName")
    if named is not None:
        custom_key_store_not_found(named)


def custom_key_store_not_found(named: str) -> NoReturn:
    """CustomKeyStoreNotFoundException for the custom key store id or name ``named``."""
    raise errors.CustomKeyStoreNotFoundException(
        f"Custom key store {named} does not exist: kmscli has no custom key stores (no AWS CloudHSM "
        "cluster or external key store proxy exists on one machine)."
    )


def current_material(call: Call, record: KeyRecord) -> tuple[str, bytes]:
    """The newest key material (id, raw bytes) of a key."""
    mid = record.get("CurrentKeyMaterialId")
    if not mid:
        raise errors.KMSInvalidStateException(f"{record['Arn']} has no key material.")
    return mid, material(call, record, mid)


def material(call: Call, record: KeyRecord, material_id: str) -> bytes:
    """Unwrap one version of a key's material; imported material past its ValidTo is refused here,
    where it is used, whether or not its scheduled deletion has run yet."""
    for item in record.get("Materials", []):
        wrapped = item.get("Wrapped")
        if item["KeyMaterialId"] == material_id and wrapped:
            valid_to = item.get("ValidTo")
            if valid_to and parse_time(valid_to) <= call.now:
                raise errors.KMSInvalidStateException(
                    f"{record['Arn']} is pending import: its key material {material_id} expired at "
                    f"{valid_to}."
                )
            return call.ctx.vault.unwrap_material(record["Arn"], material_id, wrapped)
    raise errors.InvalidCiphertextException(
        "The ciphertext refers to key material that this key does not have."
    )


def spec_info_or_error(spec: str) -> None:
    """UnsupportedOperationException for key specs kmscli cannot offer, with the reason."""
    info = SPECS.get(spec)
    if info is None:
        raise errors.ValidationException(f"KeySpec {spec} is not valid.")
    if info.unsupported:
        raise errors.UnsupportedOperationException(f"KeySpec {spec} is not supported: {info.unsupported}.")
    registry.generator(spec)


#: AWS: "Each resource can have up to 50 user-created tags" (AWS KMS developer guide, "Tags in AWS KMS").
MAX_TAGS_PER_KEY = 50


def check_tags(tags: list[Tag], existing: list[Tag] | None = None) -> list[Tag]:
    """The key's tags once ``tags`` are added to ``existing`` (same key: new value): TagException
    for reserved or duplicated tag keys, LimitExceededException past 50 tags on one key."""
    seen = set()
    for tag in tags:
        key = tag["TagKey"]
        if key.lower().startswith("aws:"):
            raise errors.TagException(f"Tag key {key} uses the reserved prefix 'aws:'.")
        if key in seen:
            raise errors.TagException(f"Duplicate tag key {key}.")
        seen.add(key)
    merged = {t["TagKey"]: t["TagValue"] for t in existing or []}
    merged.update({t["TagKey"]: t["TagValue"] for t in tags})
    if len(merged) > MAX_TAGS_PER_KEY:
        raise errors.LimitExceededException(
            f"A KMS key can have at most {MAX_TAGS_PER_KEY} tags; this request would leave {len(merged)}."
        )
    return [{"TagKey": k, "TagValue": v} for k, v in merged.items()]
