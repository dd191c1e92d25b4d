"""RSA (RSAES-OAEP) encryption for Encrypt, Decrypt and ReEncrypt on asymmetric ENCRYPT_DECRYPT keys.

``service/operations/symmetric.py`` delegates here when the key is not SYMMETRIC_DEFAULT. Ciphertexts are plain
RSAES-OAEP output, exactly what AWS returns, so ``openssl pkeyutl`` with the public key from
GetPublicKey makes ciphertexts that Decrypt accepts, and the other way round.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmscli import errors
from kmscli.crypto.specs import algorithms_for
from kmscli.service.operations.common import current_material, require_enabled, require_usage
from kmscli.service.pipeline.core import Call

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord


def is_asymmetric(record: KeyRecord) -> bool:
    """Whether ``record`` is an asymmetric key (anything but SYMMETRIC_DEFAULT and HMAC)."""
    return str(record["KeySpec"]).startswith(("RSA_", "ECC_", "ML_", "SM2"))


def check_algorithm(record: KeyRecord, algorithm: str) -> None:
    """InvalidKeyUsageException when ``algorithm`` is not one the key's spec lists."""
    allowed = algorithms_for(record["KeySpec"], record["KeyUsage"]).get("EncryptionAlgorithms", [])
    if algorithm not in allowed:
        raise errors.InvalidKeyUsageException(
            f"Algorithm {algorithm} is incompatible with key spec {record['KeySpec']}."
        )


def check_no_context(context: dict[str, str] | None) -> None:
    """AWS's asymmetric encryption algorithms take no encryption context."""
    if context:
        raise errors.ValidationException(
            "EncryptionContext is not supported with asymmetric KMS keys: RSAES-OAEP has no associated data."
        )


def _private_key(call: Call, record: KeyRecord) -> Any:
    _mid, raw = current_material(call, record)
    from kmscli.crypto import asymmetric

    return asymmetric.load_private(raw)


def encrypt_checks(record: KeyRecord, algorithm: str, context: dict[str, str] | None) -> None:
    """The checks Encrypt (or ReEncrypt's destination) makes on an asymmetric key, before DryRun."""
    check_algorithm(record, algorithm)
    check_no_context(context)


def seal(call: Call, record: KeyRecord, algorithm: str, plaintext: bytes) -> bytes:
    """RSAES-OAEP encrypt ``plaintext`` under the key's public half (AWS's size limits apply)."""
    from kmscli.crypto import asymmetric

    try:
        return asymmetric.rsa_encrypt(_private_key(call, record).public_key(), algorithm, plaintext)
    except asymmetric.CryptoInputError as exc:
        raise errors.ValidationException(str(exc)) from None


def open_(
    call: Call,
    record: KeyRecord,
    algorithm: str,
    ciphertext: bytes,
    context: dict[str, str] | None,
    action: str,
    inputs: dict[str, Any] | None = None,
) -> bytes:
    """Authorize, check and RSAES-OAEP decrypt ``ciphertext`` with the key's private half.

    ``inputs``: more inputs of the decision (ReEncrypt's ``ReEncryptOtherKey``)."""
    from kmscli.crypto import asymmetric

    call.authorize(action, record, {"kms:EncryptionAlgorithm": algorithm, **(inputs or {})})
    require_enabled(record)
    require_usage(record, "ENCRYPT_DECRYPT", call.op.name)
    check_algorithm(record, algorithm)
    check_no_context(context)
    call.dry_run()
    try:
        return asymmetric.rsa_decrypt(_private_key(call, record), algorithm, ciphertext)
    except asymmetric.CryptoInputError:
        raise errors.InvalidCiphertextException(
            "The ciphertext is invalid for this KMS key and encryption algorithm."
        ) from None
