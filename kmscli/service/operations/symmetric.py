"""Symmetric cryptographic operations: Encrypt, Decrypt, ReEncrypt, data keys, GenerateRandom."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmscli import errors
from kmscli.crypto import blob
from kmscli.service.operations import pkencrypt
from kmscli.service.operations.common import (
    current_material,
    material,
    no_custom_key_store,
    no_recipient,
    require_enabled,
    require_symmetric,
    require_usage,
)
from kmscli.service.pipeline.core import Call, Response, operation

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord


def _context_conditions(context: dict[str, str] | None, **more: Any) -> dict[str, Any]:
    ctx = context or {}
    conditions: dict[str, Any] = {f"kms:EncryptionContext:{k}": v for k, v in ctx.items()}
    conditions["kms:EncryptionContextKeys"] = sorted(ctx)
    conditions["EncryptionContext"] = dict(ctx)
    conditions.update(more)
    return conditions


def _ciphertext(call: Call) -> bytes:
    """CiphertextBlob, which the botocore model leaves optional (Decrypt, ReEncrypt) but these need."""
    blob_value = call.request.get("CiphertextBlob")
    if blob_value is None:
        raise errors.ValidationException(
            "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy "
            "constraint: Member must not be null"
        )
    return bytes(blob_value)


def _algorithm(call: Call, member: str) -> str:
    alg = call.request.get(member) or "SYMMETRIC_DEFAULT"
    return str(alg)


def seal(
    call: Call, record: KeyRecord, plaintext: bytes, context: dict[str, str] | None
) -> tuple[bytes, str]:
    """Encrypt under a symmetric key's current material; returns (blob, KeyMaterialId)."""
    mid, raw = current_material(call, record)
    sealed = blob.seal(
        record["KeyId"], bytes.fromhex(mid), raw, plaintext, context, call.ctx.random(16), call.ctx.random(12)
    )
    return sealed, mid


def unseal(
    call: Call,
    ciphertext: bytes,
    context: dict[str, str] | None,
    key_ref: str | None,
    action: str,
    extra_conditions: dict[str, Any] | None = None,
) -> tuple[KeyRecord, bytes, str]:
    """Decrypt a symmetric blob after resolving and authorizing its key; returns (key, plaintext, material id)."""
    header, body = blob.parse(ciphertext)
    if key_ref is not None:
        named = call.resolve(key_ref)
        if named["KeyId"] != header.key_id:
            call.authorize(action, named, _context_conditions(context, **(extra_conditions or {})))
            raise errors.IncorrectKeyException(
                "The key ID in the request does not identify a KMS key that can perform this operation."
            )
        record = named
    else:
        found = call.load(header.key_id)
        if found is None:
            raise errors.InvalidCiphertextException(
                "The ciphertext refers to a KMS key that does not exist in this region."
            )
        record = found
        call.resources.append(record["Arn"])
    call.authorize(action, record, _context_conditions(context, **(extra_conditions or {})))
    require_enabled(record)
    require_symmetric(record, call.op.name)
    call.dry_run()
    mid = header.material_id.hex()
    plaintext = blob.open_(header, body, material(call, record, mid), context)
    return record, plaintext, mid


def _encrypting_key(
    call: Call,
    ref: str,
    action: str,
    context: dict[str, str] | None,
    algorithm: str,
    **inputs: Any,
) -> KeyRecord:
    record = call.resolve(ref)
    conditions = _context_conditions(context, **{"kms:EncryptionAlgorithm": algorithm})
    call.authorize(action, record, conditions | inputs)
    require_enabled(record)
    require_usage(record, "ENCRYPT_DECRYPT", call.op.name)
    return record


@operation("Encrypt")
def encrypt(call: Call) -> Response:
    """Encrypt up to 4096 bytes under a symmetric key, with the encryption context as AAD."""
    req = call.request
    algorithm = _algorithm(call, "EncryptionAlgorithm")
    record = _encrypting_key(call, req["KeyId"], "kms:Encrypt", req.get("EncryptionContext"), algorithm)
    if pkencrypt.is_asymmetric(record):
        pkencrypt.encrypt_checks(record, algorithm, req.get("EncryptionContext"))
        call.dry_run()
        sealed = pkencrypt.seal(call, record, algorithm, req["Plaintext"])
        return {"CiphertextBlob": sealed, "KeyId": record["Arn"], "EncryptionAlgorithm": algorithm}
    if algorithm != "SYMMETRIC_DEFAULT" or record["KeySpec"] != "SYMMETRIC_DEFAULT":
        raise errors.InvalidKeyUsageException(
            f"EncryptionAlgorithm {algorithm} is not valid for {record['Arn']} ({record['KeySpec']})."
        )
    call.dry_run()
    sealed, _mid = seal(call, record, req["Plaintext"], req.get("EncryptionContext"))
    return {"CiphertextBlob": sealed, "KeyId": record["Arn"], "EncryptionAlgorithm": algorithm}


@operation("Decrypt")
def decrypt(call: Call) -> Response:
    """Decrypt a symmetric blob; the key comes from the blob (or must equal KeyId when given)."""
    req = call.request
    ciphertext = _ciphertext(call)
    no_recipient(call)
    algorithm = _algorithm(call, "EncryptionAlgorithm")
    named_asymmetric = req.get("KeyId") is not None and pkencrypt.is_asymmetric(call.resolve(req["KeyId"]))
    if algorithm != "SYMMETRIC_DEFAULT" or named_asymmetric:
        if req.get("KeyId") is None:
            raise errors.ValidationException(
                f"KeyId is required when EncryptionAlgorithm is {algorithm} (asymmetric decryption)."
            )
        record = call.resolve(req["KeyId"])
        plain = pkencrypt.open_(
            call, record, algorithm, ciphertext, req.get("EncryptionContext"), "kms:Decrypt"
        )
        return {"KeyId": record["Arn"], "Plaintext": plain, "EncryptionAlgorithm": algorithm}
    record, plaintext, mid = unseal(
        call,
        ciphertext,
        req.get("EncryptionContext"),
        req.get("KeyId"),
        "kms:Decrypt",
        {"kms:EncryptionAlgorithm": algorithm},
    )
    return {
        "KeyId": record["Arn"],
        "Plaintext": plaintext,
        "EncryptionAlgorithm": algorithm,
        "KeyMaterialId": mid,
    }


def _source_key_arn(call: Call, ciphertext: bytes) -> str | None:
    """The ARN of the key ReEncrypt decrypts with: SourceKeyId when given (AWS KMS then uses only that
    key), else the key a symmetric ciphertext names; None when neither identifies a key."""
    ref = call.request.get("SourceKeyId")
    if ref is not None:
        named = call.peek(ref)
        return named["Arn"] if named is not None else None
    try:
        header, _body = blob.parse(ciphertext)
    except errors.InvalidCiphertextException:
        return None
    return call.key_arn(header.key_id)


@operation("ReEncrypt")
def re_encrypt(call: Call) -> Response:
    """ReEncrypt: decrypt under one key and encrypt under another without revealing the plaintext."""
    req = call.request
    ciphertext = _ciphertext(call)
    src_alg = _algorithm(call, "SourceEncryptionAlgorithm")
    dst_alg = _algorithm(call, "DestinationEncryptionAlgorithm")
    if src_alg != "SYMMETRIC_DEFAULT" and req.get("SourceKeyId") is None:
        raise errors.ValidationException(
            "SourceKeyId is required when SourceEncryptionAlgorithm is asymmetric."
        )
    dest = _encrypting_key(
        call,
        req["DestinationKeyId"],
        "kms:ReEncryptTo",
        req.get("DestinationEncryptionContext"),
        dst_alg,
        ReEncryptOtherKey=_source_key_arn(call, ciphertext),
    )
    if pkencrypt.is_asymmetric(dest):
        pkencrypt.encrypt_checks(dest, dst_alg, req.get("DestinationEncryptionContext"))
    elif dst_alg != "SYMMETRIC_DEFAULT" or dest["KeySpec"] != "SYMMETRIC_DEFAULT":
        raise errors.InvalidKeyUsageException(
            f"EncryptionAlgorithm {dst_alg} is not valid for {dest['Arn']} ({dest['KeySpec']})."
        )
    if src_alg != "SYMMETRIC_DEFAULT":
        source = call.resolve(req["SourceKeyId"])
        src_ctx = req.get("SourceEncryptionContext")
        plaintext = pkencrypt.open_(
            call,
            source,
            src_alg,
            ciphertext,
            src_ctx,
            "kms:ReEncryptFrom",
            {"ReEncryptOtherKey": dest["Arn"]},
        )
        src_mid: str | None = None
    else:
        source, plaintext, src_mid = unseal(
            call,
            ciphertext,
            req.get("SourceEncryptionContext"),
            req.get("SourceKeyId"),
            "kms:ReEncryptFrom",
            {"kms:EncryptionAlgorithm": src_alg, "ReEncryptOtherKey": dest["Arn"]},
        )
    dst_mid: str | None = None
    if pkencrypt.is_asymmetric(dest):
        sealed = pkencrypt.seal(call, dest, dst_alg, plaintext)
    else:
        sealed, dst_mid = seal(call, dest, plaintext, req.get("DestinationEncryptionContext"))
    response = {
        "CiphertextBlob": sealed,
        "SourceKeyId": source["Arn"],
        "KeyId": dest["Arn"],
        "SourceEncryptionAlgorithm": src_alg,
        "DestinationEncryptionAlgorithm": dst_alg,
        "SourceKeyMaterialId": src_mid,
        "DestinationKeyMaterialId": dst_mid,
    }
    return {k: v for k, v in response.items() if v is not None}


def _data_key_length(req: dict[str, Any]) -> int:
    count, spec = req.get("NumberOfBytes"), req.get("KeySpec")
    if count is None and spec is None:
        raise errors.ValidationException("Please specify either number of bytes or key spec.")
    if count is not None and spec is not None:
        raise errors.ValidationException("Please specify either number of bytes or key spec, not both.")
    return int(count) if count is not None else {"AES_256": 32, "AES_128": 16}[str(spec)]


def _data_key(call: Call, action: str) -> tuple[KeyRecord, bytes, bytes, str]:
    req = call.request
    no_recipient(call)
    length = _data_key_length(req)
    record = _encrypting_key(call, req["KeyId"], action, req.get("EncryptionContext"), "SYMMETRIC_DEFAULT")
    require_symmetric(record, call.op.name)
    call.dry_run()
    plaintext = call.ctx.random(length)
    sealed, mid = seal(call, record, plaintext, req.get("EncryptionContext"))
    return record, plaintext, sealed, mid


@operation("GenerateDataKey")
def generate_data_key(call: Call) -> Response:
    """GenerateDataKey: a random data key, in plaintext and encrypted under the KMS key."""
    record, plaintext, sealed, mid = _data_key(call, "kms:GenerateDataKey")
    return {"CiphertextBlob": sealed, "Plaintext": plaintext, "KeyId": record["Arn"], "KeyMaterialId": mid}


@operation("GenerateDataKeyWithoutPlaintext")
def generate_data_key_without_plaintext(call: Call) -> Response:
    """GenerateDataKeyWithoutPlaintext: only the encrypted copy of a new data key."""
    record, _plaintext, sealed, mid = _data_key(call, "kms:GenerateDataKeyWithoutPlaintext")
    return {"CiphertextBlob": sealed, "KeyId": record["Arn"], "KeyMaterialId": mid}


@operation("GenerateRandom")
def generate_random(call: Call) -> Response:
    """GenerateRandom: 1 to 1024 random bytes from the operating system's CSPRNG."""
    req = call.request
    no_recipient(call)
    no_custom_key_store(call)
    count = req.get("NumberOfBytes")
    if count is None:
        raise errors.ValidationException("NumberOfBytes is required.")
    call.dry_run()
    return {"Plaintext": call.ctx.random(int(count))}
