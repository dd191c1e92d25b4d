"""Key import (BYOK): GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial, and
the expiry of imported material, as AWS documents them (including its openssl recipes).

A key created with Origin EXTERNAL starts in PendingImport. GetParametersForImport makes a fresh
RSA wrapping key pair, keeps the private half (wrapped under the vault key) in the key record for
24 hours, and returns the public half with an ImportToken. The token is MAC'd under a vault
subkey and names the key's ARN, the wrapping key's id and its expiry, so a token of another key,
another vault or an edited token is ``InvalidImportTokenException`` and an old one
``ExpiredImportTokenException``.

The KeyMaterialId of imported material is its fingerprint (``materials.fingerprint``: a keyed
digest, not the material), so re-importing the same bytes restores the same version and old
ciphertexts, which name it, decrypt again; different bytes are ``IncorrectKeyMaterialException``.
"""

from __future__ import annotations

import copy
import datetime as dt
import struct
from typing import TYPE_CHECKING, Any, NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kmscli import errors
from kmscli.crypto import keywrap, primitives
from kmscli.ids import is_key_id
from kmscli.service.operations import materials
from kmscli.service.operations.common import PENDING_DELETION_STATES
from kmscli.service.pipeline.core import (
    Call,
    Response,
    iso,
    operation,
    parse_time,
    record_service_event,
)
from kmscli.vault.store import subkey

if TYPE_CHECKING:
    from kmscli.vault.records import ImportParameters, KeyRecord, ScheduleEntry

PARAMETERS_LIFETIME = dt.timedelta(hours=24)
#: Import parameters kept per key (older unexpired ones stay usable, as in AWS, up to this many).
MAX_PARAMETERS = 5
MAX_VALID_TO = dt.timedelta(days=365)
_TOKEN_MAGIC = b"KMSCLI-IMPORT-TOKEN-1\0"

#: Accepted lengths of imported symmetric and HMAC key material, in bytes (AWS's "Requirements for
#: imported key material": HMAC keys from the key spec's length up to 1024 bits, for every spec).
RAW_LENGTHS = {
    "SYMMETRIC_DEFAULT": (32, 32),
    "HMAC_224": (28, 128),
    "HMAC_256": (32, 128),
    "HMAC_384": (48, 128),
    "HMAC_512": (64, 128),
}
#: id-ecPublicKey, the PKCS#8 algorithm of elliptic curve private keys (RFC 5480).
_EC_PUBLIC_KEY_OID = "1.2.840.10045.2.1"
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}


def canonical_material(spec: str, raw: bytes) -> bytes:
    """The stored form of imported material for ``spec``, or IncorrectKeyMaterialException.

    Symmetric and HMAC material is kept as the raw bytes; private keys (PKCS#8 DER in) are kept as
    unencrypted PKCS#8 DER re-encoded by the cryptography library, the form every asymmetric spec
    stores, after checking that the key type and size match the KMS key's spec.
    """
    if (
        spec not in RAW_LENGTHS
        and spec not in _CURVES
        and not spec.startswith("RSA_")
        and spec != "ECC_NIST_EDWARDS25519"
    ):
        raise errors.UnsupportedOperationException(
            f"Importing key material for {spec} keys is not supported."
        )
    if spec in RAW_LENGTHS:
        lo, hi = RAW_LENGTHS[spec]
        if not lo <= len(raw) <= hi:
            want = f"{lo}" if lo == hi else f"{lo} to {hi}"
            raise errors.IncorrectKeyMaterialException(
                f"Key material for a {spec} key must be {want} bytes long; the imported material is not."
            )
        return raw
    from Crypto.IO import PKCS8

    try:
        # cryptography's loader also takes PKCS#1 (RSA) and SEC1 (EC) DER, which AWS refuses: the
        # structure is checked as PKCS#8 PrivateKeyInfo first (pycryptodome's strict parser).
        oid, _private, params = PKCS8.unwrap(raw)
        key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError, IndexError, errors.KMSError):
        raise errors.IncorrectKeyMaterialException(
            f"Key material for a {spec} key must be an unencrypted PKCS#8 DER private key."
        ) from None
    if oid == _EC_PUBLIC_KEY_OID and not (params or b"").startswith(b"\x06"):
        # The loader turns explicit parameters that match a named curve into that curve; AWS takes
        # named curves only (the AlgorithmIdentifier's parameters are the curve's OID).
        raise errors.IncorrectKeyMaterialException(
            f"Key material for a {spec} key must name its curve: elliptic curve keys with explicit "
            "parameters are not supported."
        )
    ok = False
    if spec.startswith("RSA_") and isinstance(key, rsa.RSAPrivateKey):
        ok = key.key_size == int(spec[4:])
    elif spec in _CURVES and isinstance(key, ec.EllipticCurvePrivateKey):
        ok = isinstance(key.curve, _CURVES[spec])
    elif spec == "ECC_NIST_EDWARDS25519":
        ok = isinstance(key, ed25519.Ed25519PrivateKey)
    if not ok:
        raise errors.IncorrectKeyMaterialException(
            f"The imported private key does not match the key spec {spec} of this KMS key."
        )
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# -- import tokens --------------------------------------------------------------------------------


def _token_key(call: Call) -> bytes:
    return subkey(call.ctx.vault.vault_key, "import-token")


def _token_body(arn: str, token_id: bytes, valid_to: int) -> bytes:
    """What an ImportToken's MAC covers: the key ARN, the wrapping key id and the expiry."""
    return b"\0".join((arn.encode(), token_id, struct.pack(">Q", valid_to)))


def make_token(call: Call, arn: str, token_id: bytes, valid_to: dt.datetime) -> bytes:
    """An ImportToken: magic, wrapping key id, expiry (epoch seconds) and a MAC binding the ARN."""
    stamp = int(valid_to.timestamp())
    return (
        _TOKEN_MAGIC
        + token_id
        + struct.pack(">Q", stamp)
        + primitives.hmac_sha256(_token_key(call), _token_body(arn, token_id, stamp))
    )


def check_token(call: Call, record: KeyRecord, token: bytes) -> ImportParameters:
    """The import parameters an ImportToken names, after checking binding and expiry."""
    n = len(_TOKEN_MAGIC)
    if len(token) != n + 16 + 8 + 32 or not token.startswith(_TOKEN_MAGIC):
        raise errors.InvalidImportTokenException("The import token is invalid or damaged.")
    token_id, stamp_bytes, mac = token[n : n + 16], token[n + 16 : n + 24], token[n + 24 :]
    (stamp,) = struct.unpack(">Q", stamp_bytes)
    body = _token_body(record["Arn"], token_id, stamp)
    if not primitives.hmac_sha256_verify(_token_key(call), body, mac):
        raise errors.InvalidImportTokenException(
            f"The import token was not issued for {record['Arn']} (or was altered)."
        )
    if call.now.timestamp() >= stamp:
        raise errors.ExpiredImportTokenException(
            "The import token has expired. Use GetParametersForImport to get a new one."
        )
    for params in record.get("ImportParameters", []):
        if params["TokenId"] == token_id.hex():
            return copy.copy(params)
    raise errors.InvalidImportTokenException(
        "The import token is no longer valid: its wrapping key was replaced. "
        "Use GetParametersForImport to get a new one."
    )


def _require_external(record: KeyRecord, op: str, *, while_pending_deletion: bool = False) -> None:
    """UnsupportedOperationException unless the key has imported material; a key pending deletion
    is refused too unless ``while_pending_deletion`` (AWS's key state table: DeleteImportedKeyMaterial
    succeeds in that state, GetParametersForImport and ImportKeyMaterial do not)."""
    if record["Origin"] != "EXTERNAL":
        raise errors.UnsupportedOperationException(
            f"{record['Arn']} has Origin {record['Origin']}: {op} works only on keys created with "
            "Origin EXTERNAL."
        )
    if not while_pending_deletion and record["KeyState"] in PENDING_DELETION_STATES:
        raise errors.KMSInvalidStateException(f"{record['Arn']} is pending deletion.")


# -- operations -----------------------------------------------------------------------------------


@operation("GetParametersForImport", mutating=True, read_only=True)
def get_parameters_for_import(call: Call) -> Response:
    """GetParametersForImport: an RSA wrapping public key and an ImportToken, valid 24 hours."""
    req = call.request
    record = call.resolve(req["KeyId"], allow_alias=False)
    algorithm, spec = req["WrappingAlgorithm"], req["WrappingKeySpec"]
    call.authorize(
        "kms:GetParametersForImport",
        record,
        {"kms:WrappingAlgorithm": algorithm, "kms:WrappingKeySpec": spec},
    )
    _require_external(record, "GetParametersForImport")
    if spec == "SM2" or algorithm == "SM2PKE":
        raise errors.UnsupportedOperationException(
            "SM2 wrapping keys exist only in AWS China Regions, and the cryptography library kmscli "
            "uses has no SM2 implementation."
        )
    if algorithm == "RSAES_PKCS1_V1_5":
        raise errors.ValidationException(
            "The RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported by AWS KMS; use "
            "RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256."
        )
    call.dry_run()
    private = rsa.generate_private_key(public_exponent=65537, key_size=keywrap.KEY_SPECS[spec])
    token_id = call.ctx.random(16)
    valid_to = (call.now + PARAMETERS_LIFETIME).replace(microsecond=0)
    entry: ImportParameters = {
        "TokenId": token_id.hex(),
        "WrappingAlgorithm": algorithm,
        "WrappingKeySpec": spec,
        "ValidTo": iso(valid_to),
        "Wrapped": call.ctx.vault.wrap_material(
            record["Arn"], "import-" + token_id.hex(), keywrap.private_der(private), call.ctx.random(12)
        ),
    }
    kept = [p for p in record.get("ImportParameters", []) if parse_time(p["ValidTo"]) > call.now]
    record["ImportParameters"] = [*kept, entry][-MAX_PARAMETERS:]
    call.save(record)
    return {
        "KeyId": record["Arn"],
        "ImportToken": make_token(call, record["Arn"], token_id, valid_to),
        "PublicKey": keywrap.public_der(private),
        "ParametersValidTo": valid_to,
    }


def _expiration(call: Call) -> tuple[str, dt.datetime | None]:
    req = call.request
    model = req.get("ExpirationModel") or "KEY_MATERIAL_DOES_NOT_EXPIRE"
    valid_to = req.get("ValidTo")
    if model == "KEY_MATERIAL_EXPIRES":
        if valid_to is None:
            raise errors.ValidationException(
                "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES."
            )
        if valid_to.tzinfo is None:
            valid_to = valid_to.replace(tzinfo=dt.UTC)
        if valid_to <= call.now or valid_to > call.now + MAX_VALID_TO:
            raise errors.ValidationException("ValidTo must be in the future and at most 365 days from now.")
        return model, valid_to
    if valid_to is not None:
        raise errors.ValidationException(
            "ValidTo is not valid when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE (or omitted)."
        )
    return model, None


def _unwrap_import(call: Call, record: KeyRecord, params: ImportParameters) -> bytes:
    der = call.ctx.vault.unwrap_material(record["Arn"], "import-" + params["TokenId"], params["Wrapped"])
    private = serialization.load_der_private_key(der, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    try:
        return keywrap.unwrap(private, params["WrappingAlgorithm"], call.request["EncryptedKeyMaterial"])
    except keywrap.WrapError as exc:
        raise errors.InvalidCiphertextException(
            f"The encrypted key material could not be decrypted with the wrapping key of this import "
            f"token and {params['WrappingAlgorithm']}: {exc}."
        ) from None


class _Target(NamedTuple):
    """Where imported material goes: its version id, and whether it becomes current or pending."""

    material_id: str
    current: bool
    #: a new version waiting for RotateKeyOnDemand (the other multi-Region keys learn of it)
    new_pending: bool


@operation("ImportKeyMaterial", mutating=True)
def import_key_material(call: Call) -> Response:
    """ImportKeyMaterial: first import, re-import of the same material, or new material to rotate to."""
    req = call.request
    record = call.resolve(req["KeyId"], allow_alias=False)
    model, valid_to = _expiration(call)
    conditions: dict[str, Any] = {"kms:ExpirationModel": model}
    if valid_to is not None:
        conditions["kms:ValidTo"] = int(valid_to.timestamp())
    call.authorize("kms:ImportKeyMaterial", record, conditions)
    _require_external(record, "ImportKeyMaterial")
    params = check_token(call, record, req["ImportToken"])
    raw = canonical_material(record["KeySpec"], _unwrap_import(call, record, params))
    fp = materials.fingerprint(call, raw)
    has_material = bool(record.get("Materials"))
    import_type = req.get("ImportType") or ("EXISTING_KEY_MATERIAL" if has_material else "NEW_KEY_MATERIAL")
    if import_type == "EXISTING_KEY_MATERIAL":
        target = _existing_version(record, fp, req.get("KeyMaterialId"))
    else:
        target = _new_version(call, record, fp, req.get("KeyMaterialId"))
    call.dry_run()
    meta: materials.Changes = {
        "Origin": "EXTERNAL",
        "Fingerprint": fp,
        "ExpirationModel": model,
        "ValidTo": iso(valid_to) if valid_to else None,
    }
    if req.get("KeyMaterialDescription") is not None:
        meta["KeyMaterialDescription"] = req["KeyMaterialDescription"]
    if target.new_pending:
        meta["Pending"] = True
        # The other keys of a multi-Region set learn of the version (not its secret): each
        # imports the same material itself.
        materials.announce(call, record, target.material_id, Origin="EXTERNAL", Fingerprint=fp, Pending=True)
    mid = materials.put(
        call, record, raw, material_id=target.material_id, current=target.current, share=False, **meta
    )
    _after_import(call, record)
    return {"KeyId": record["Arn"], "KeyMaterialId": mid}


def _existing_version(record: KeyRecord, fp: str, named: str | None) -> _Target:
    """ImportType EXISTING_KEY_MATERIAL: the version these bytes restore (named, or by fingerprint)."""
    entries = record.get("Materials", [])
    if not entries:
        raise errors.ValidationException(
            "ImportType EXISTING_KEY_MATERIAL needs key material previously imported into this key."
        )
    target = materials.find(record, named) if named else None
    if named and target is None:
        raise errors.NotFoundException(f"Key material {named} is not associated with {record['Arn']}.")
    if target is None:
        target = next((m for m in entries if m.get("Fingerprint") == fp), None)
    if target is None or target.get("Fingerprint") != fp:
        raise errors.IncorrectKeyMaterialException(
            "The key material is not the key material previously imported into this KMS key."
        )
    mid = target["KeyMaterialId"]
    current_id = record.get("CurrentKeyMaterialId")
    current = current_id in (None, mid) or materials.find(record, current_id or "") is None
    return _Target(mid, current and not target.get("Pending"), new_pending=False)


def _new_version(call: Call, record: KeyRecord, fp: str, named: str | None) -> _Target:
    """ImportType NEW_KEY_MATERIAL: the first material of the key, or a version to rotate to."""
    if named:
        raise errors.ValidationException("KeyMaterialId is valid only with ImportType EXISTING_KEY_MATERIAL.")
    entries = record.get("Materials", [])
    if any(m.get("Fingerprint") == fp for m in entries):
        raise errors.IncorrectKeyMaterialException(
            "This key material was already imported into this KMS key; use ImportType "
            "EXISTING_KEY_MATERIAL to reimport it."
        )
    if entries and record["KeySpec"] != "SYMMETRIC_DEFAULT":
        raise errors.UnsupportedOperationException(
            f"{record['Arn']} ({record['KeySpec']}) cannot take new key material: only symmetric "
            "encryption keys support rotation of imported key material."
        )
    known = {
        m.get("Fingerprint") for rec in materials.related(call, record)[1:] for m in rec.get("Materials", [])
    }
    if not entries and known and fp not in known:
        raise errors.IncorrectKeyMaterialException(
            "Related multi-Region keys share their key material: import the material that the "
            "other keys of this multi-Region key already have."
        )
    config = record.get("MultiRegionConfiguration")
    if entries and config and config["MultiRegionKeyType"] == "REPLICA":
        raise errors.UnsupportedOperationException(
            f"{record['Arn']} is a multi-Region replica key: import new key material into the primary "
            f"key in {config['PrimaryKey']['Region']}, then the same material into each replica "
            "with ImportType EXISTING_KEY_MATERIAL."
        )
    first = not entries
    return _Target(fp, current=first, new_pending=not first)


def _after_import(call: Call, record: KeyRecord) -> None:
    """A key whose current version is present is usable; expiry and wrapping keys follow."""
    current = materials.find(record, record.get("CurrentKeyMaterialId", ""))
    if record["KeyState"] == "PendingImport" and current and current.get("Wrapped"):
        record["KeyState"] = "Enabled"
    _sync_key_expiry(record)
    # Wrapping private keys are kept only while their token can still be used.
    record["ImportParameters"] = [
        p for p in record.get("ImportParameters", []) if parse_time(p["ValidTo"]) > call.now
    ]
    call.save(record)
    _schedule_expiry(call, record)


@operation("DeleteImportedKeyMaterial", mutating=True)
def delete_imported_key_material(call: Call) -> Response:
    """DeleteImportedKeyMaterial: the secret is removed; deleting the current version -> PendingImport."""
    req = call.request
    record = call.resolve(req["KeyId"], allow_alias=False)
    call.authorize("kms:DeleteImportedKeyMaterial", record)
    _require_external(record, "DeleteImportedKeyMaterial", while_pending_deletion=True)
    mid = req.get("KeyMaterialId") or record.get("CurrentKeyMaterialId")
    if not mid and record["KeyState"] == "PendingImport":
        # AWS's key state table: on a key pending import the call succeeds with no effect
        call.dry_run()
        return {"KeyId": record["Arn"]}
    if not mid or materials.find(record, mid) is None:
        raise errors.NotFoundException(
            f"Key material {mid or ''} is not associated with {record['Arn']}.".replace("  ", " ")
        )
    call.dry_run()
    _forget(call, record, mid)
    return {"KeyId": record["Arn"], "KeyMaterialId": mid}


def _forget(call: Call, record: KeyRecord, mid: str) -> None:
    materials.forget_secret(call, record, mid, share=False)
    if mid == record.get("CurrentKeyMaterialId") and record["KeyState"] not in PENDING_DELETION_STATES:
        # a key pending deletion stays so (its deletion must still happen); CancelKeyDeletion
        # brings it back as PendingImport
        record["KeyState"] = "PendingImport"
    _sync_key_expiry(record)
    call.save(record)
    _schedule_expiry(call, record)


def _sync_key_expiry(record: KeyRecord) -> None:
    """DescribeKey's ExpirationModel and ValidTo follow the current material version."""
    entry = materials.find(record, record.get("CurrentKeyMaterialId") or "")
    if entry is None or not entry.get("Wrapped"):
        record.pop("ValidTo", None)
        return
    record["ExpirationModel"] = entry.get("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    if entry.get("ValidTo"):
        record["ValidTo"] = entry["ValidTo"]
    else:
        record.pop("ValidTo", None)


def _schedule_expiry(call: Call, record: KeyRecord) -> None:
    """Keep the schedule's ``expire_at`` at the earliest ValidTo of material still present."""
    where = f"{record['Region']}/{record['KeyId']}"
    dates = [m["ValidTo"] for m in materials.usable(record) if m.get("ValidTo")]
    entry = call.schedule().setdefault(where, {})
    if dates:
        entry["expire_at"] = min(dates, key=parse_time)
    else:
        entry.pop("expire_at", None)
    if not entry:
        call.schedule().pop(where, None)


def expire_due(call: Call, region: str, key_id: str, entry: ScheduleEntry) -> None:
    """Imported material reached its ValidTo: delete it (audited as DeleteExpiredKeyMaterial)."""
    record = call.load(key_id, region) if is_key_id(key_id) else None
    if record is None:
        entry.pop("expire_at", None)
        if not entry:
            call.schedule().pop(f"{region}/{key_id}", None)
        return
    for item in list(materials.usable(record)):
        if item.get("ValidTo") and parse_time(item["ValidTo"]) <= call.now:
            _forget(call, record, item["KeyMaterialId"])
            record_service_event(
                call, "DeleteExpiredKeyMaterial", [record["Arn"]], {"keyMaterialId": item["KeyMaterialId"]}
            )
    _schedule_expiry(call, record)
