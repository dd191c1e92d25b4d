"""Asymmetric and HMAC operations: GetPublicKey, Sign, Verify, GenerateMac, VerifyMac,
DeriveSharedSecret, Encapsulate, Decapsulate, GenerateDataKeyPair(WithoutPlaintext).

It also makes the material of every asymmetric and HMAC key spec (``generate_private``,
``generate_hmac``: the registry's ``GENERATORS`` name them, which is what makes CreateKey offer them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmscli import errors
from kmscli.crypto import asymmetric
from kmscli.crypto.specs import CUSTOMER_MASTER_KEY_SPECS, SPECS, SYMMETRIC_SPECS, algorithms_for
from kmscli.service.operations.common import (
    current_material,
    no_recipient,
    require_enabled,
    require_symmetric,
    require_usage,
)
from kmscli.service.pipeline.core import Call, Response, operation

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord


def generate_private(call: Call, spec: str) -> bytes:
    """A new private key of an asymmetric spec (PKCS#8 DER)."""
    return asymmetric.generate_private(spec)


def generate_hmac(call: Call, spec: str) -> bytes:
    """A new HMAC key of the spec's length, from the call's randomness."""
    return call.ctx.random(asymmetric.HMAC_KEY_BYTES[spec])


# -- helpers --------------------------------------------------------------------------------------


def private_key(call: Call, record: KeyRecord) -> Any:
    """The loaded private key of an asymmetric KMS key (its current material)."""
    _mid, raw = current_material(call, record)
    return asymmetric.load_private(raw)


def _require_algorithm(record: KeyRecord, member: str, algorithm: str, what: str) -> None:
    allowed = algorithms_for(record["KeySpec"], record["KeyUsage"]).get(member, [])
    if algorithm not in allowed:
        raise errors.InvalidKeyUsageException(
            f"{what} {algorithm} is not valid for {record['Arn']} (key spec {record['KeySpec']}, "
            f"key usage {record['KeyUsage']}); it supports {', '.join(allowed) or 'none'}."
        )


def _usable_key(call: Call, action: str, usage: str, conditions: dict[str, Any]) -> KeyRecord:
    record = call.resolve(call.request["KeyId"])
    call.authorize(action, record, conditions)
    require_enabled(record)
    require_usage(record, usage, call.op.name)
    return record


# -- GetPublicKey ---------------------------------------------------------------------------------


@operation("GetPublicKey")
def get_public_key(call: Call) -> Response:
    """GetPublicKey: the DER SubjectPublicKeyInfo of an asymmetric key, with its usage and algorithms."""
    record = call.resolve(call.request["KeyId"])
    call.authorize("kms:GetPublicKey", record)
    require_enabled(record)
    spec = record["KeySpec"]
    if spec in SYMMETRIC_SPECS:
        raise errors.UnsupportedOperationException(
            f"{record['Arn']} key spec {spec} is not supported for this operation: "
            "GetPublicKey works only on asymmetric KMS keys."
        )
    response: dict[str, Any] = {
        "KeyId": record["Arn"],
        "PublicKey": asymmetric.public_der(private_key(call, record)),
    }
    if spec in CUSTOMER_MASTER_KEY_SPECS:
        response["CustomerMasterKeySpec"] = spec
    response["KeySpec"] = spec
    response["KeyUsage"] = record["KeyUsage"]
    response.update(algorithms_for(spec, record["KeyUsage"]))
    return response


# -- Sign and Verify ------------------------------------------------------------------------------


def _signing(call: Call, action: str) -> tuple[KeyRecord, asymmetric.SigningAlgorithm, str]:
    req = call.request
    alg_name = str(req["SigningAlgorithm"])
    message_type = str(req.get("MessageType") or "RAW")
    record = _usable_key(
        call, action, "SIGN_VERIFY", {"kms:SigningAlgorithm": alg_name, "kms:MessageType": message_type}
    )
    _require_algorithm(record, "SigningAlgorithms", alg_name, "SigningAlgorithm")
    alg = asymmetric.SIGNING_ALGORITHMS[alg_name]
    try:
        asymmetric.check_message(alg, req["Message"], message_type)
    except asymmetric.CryptoInputError as exc:
        raise errors.ValidationException(str(exc)) from None
    call.dry_run()
    return record, alg, message_type


@operation("Sign")
def sign(call: Call) -> Response:
    """Sign: a signature over a message (RAW, at most 4096 bytes), a DIGEST, or an ML-DSA mu."""
    record, alg, message_type = _signing(call, "kms:Sign")
    signature = asymmetric.sign(private_key(call, record), alg, call.request["Message"], message_type)
    return {"KeyId": record["Arn"], "Signature": signature, "SigningAlgorithm": alg.name}


@operation("Verify")
def verify(call: Call) -> Response:
    """Verify: KMSInvalidSignatureException unless the signature is valid (never SignatureValid false)."""
    record, alg, message_type = _signing(call, "kms:Verify")
    req = call.request
    try:
        asymmetric.verify(
            private_key(call, record).public_key(), alg, req["Message"], message_type, req["Signature"]
        )
    except asymmetric.InvalidSignatureError:
        raise errors.KMSInvalidSignatureException(
            "The signature is not valid for this message, KMS key and signing algorithm."
        ) from None
    return {"KeyId": record["Arn"], "SignatureValid": True, "SigningAlgorithm": alg.name}


# -- GenerateMac and VerifyMac --------------------------------------------------------------------


def _mac(call: Call, action: str) -> tuple[KeyRecord, str, bytes]:
    alg = str(call.request["MacAlgorithm"])
    record = _usable_key(call, action, "GENERATE_VERIFY_MAC", {"kms:MacAlgorithm": alg})
    _require_algorithm(record, "MacAlgorithms", alg, "MacAlgorithm")
    call.dry_run()
    _mid, key = current_material(call, record)
    return record, alg, asymmetric.mac(key, alg, call.request["Message"])


@operation("GenerateMac")
def generate_mac(call: Call) -> Response:
    """GenerateMac: an HMAC of the message under an HMAC KMS key."""
    record, alg, tag = _mac(call, "kms:GenerateMac")
    return {"Mac": tag, "MacAlgorithm": alg, "KeyId": record["Arn"]}


@operation("VerifyMac")
def verify_mac(call: Call) -> Response:
    """VerifyMac: KMSInvalidMacException unless the MAC matches (constant-time comparison)."""
    record, alg, tag = _mac(call, "kms:VerifyMac")
    if not asymmetric.mac_equal(tag, call.request["Mac"]):
        raise errors.KMSInvalidMacException(
            "The MAC is not valid for this message, KMS key and MAC algorithm."
        )
    return {"KeyId": record["Arn"], "MacValid": True, "MacAlgorithm": alg}


# -- DeriveSharedSecret ---------------------------------------------------------------------------


@operation("DeriveSharedSecret")
def derive_shared_secret(call: Call) -> Response:
    """DeriveSharedSecret: ECDH between the key's private half and a peer's DER SPKI public key."""
    req = call.request
    no_recipient(call)
    alg = str(req["KeyAgreementAlgorithm"])
    record = _usable_key(call, "kms:DeriveSharedSecret", "KEY_AGREEMENT", {"kms:KeyAgreementAlgorithm": alg})
    _require_algorithm(record, "KeyAgreementAlgorithms", alg, "KeyAgreementAlgorithm")
    key = private_key(call, record)
    try:
        asymmetric.ecdh(key, req["PublicKey"])  # validate the peer key before DryRun ends the call
    except asymmetric.CryptoInputError as exc:
        raise errors.ValidationException(f"PublicKey is not valid: {exc}.") from None
    call.dry_run()
    secret = asymmetric.ecdh(key, req["PublicKey"])
    return {
        "KeyId": record["Arn"],
        "SharedSecret": secret,
        "KeyAgreementAlgorithm": alg,
        "KeyOrigin": record["Origin"],
    }


# -- Encapsulate and Decapsulate ------------------------------------------------------------------


def _kem(call: Call, action: str) -> KeyRecord:
    alg = str(call.request["EncapsulationAlgorithm"])
    record = _usable_key(call, action, "ENCAPSULATE_DECAPSULATE", {"kms:EncapsulationAlgorithm": alg})
    _require_algorithm(record, "EncapsulationAlgorithms", alg, "EncapsulationAlgorithm")
    call.dry_run()
    return record


@operation("Encapsulate")
def encapsulate(call: Call) -> Response:
    """Encapsulate: a fresh ML-KEM shared secret and its ciphertext under the key's public half."""
    record = _kem(call, "kms:Encapsulate")
    secret, ciphertext = asymmetric.encapsulate(private_key(call, record).public_key())
    return {
        "KeyId": record["Arn"],
        "SharedSecret": secret,
        "SharedSecretCiphertextBlob": ciphertext,
        "EncapsulationAlgorithm": call.request["EncapsulationAlgorithm"],
    }


@operation("Decapsulate")
def decapsulate(call: Call) -> Response:
    """Decapsulate: the ML-KEM shared secret of a ciphertext made with the key's public half."""
    record = _kem(call, "kms:Decapsulate")
    try:
        secret = asymmetric.decapsulate(private_key(call, record), call.request["SharedSecretCiphertextBlob"])
    except asymmetric.CryptoInputError as exc:
        raise errors.InvalidCiphertextException(f"SharedSecretCiphertextBlob is not valid: {exc}.") from None
    return {
        "KeyId": record["Arn"],
        "SharedSecret": secret,
        "EncapsulationAlgorithm": call.request["EncapsulationAlgorithm"],
    }


# -- GenerateDataKeyPair --------------------------------------------------------------------------


def _data_key_pair(call: Call, action: str) -> tuple[KeyRecord, str, bytes, bytes, bytes, str]:
    # lazily: Sign/Verify and the other operations here do not need the symmetric module
    from kmscli.service.operations.symmetric import _context_conditions, seal

    req = call.request
    no_recipient(call)
    pair_spec = str(req["KeyPairSpec"])
    context = req.get("EncryptionContext")
    record = call.resolve(req["KeyId"])
    call.authorize(action, record, _context_conditions(context, **{"kms:DataKeyPairSpec": pair_spec}))
    require_enabled(record)
    require_symmetric(record, call.op.name)
    info = SPECS.get(pair_spec)
    if info is not None and info.unsupported:
        raise errors.UnsupportedOperationException(
            f"KeyPairSpec {pair_spec} is not supported: {info.unsupported}."
        )
    if pair_spec not in asymmetric.ASYMMETRIC_SPECS:
        raise errors.UnsupportedOperationException(f"KeyPairSpec {pair_spec} is not supported by kmscli.")
    call.dry_run()
    private_der = asymmetric.generate_private(pair_spec)
    public = asymmetric.public_der(asymmetric.load_private(private_der))
    sealed, mid = seal(call, record, private_der, context)
    return record, pair_spec, private_der, public, sealed, mid


@operation("GenerateDataKeyPair")
def generate_data_key_pair(call: Call) -> Response:
    """GenerateDataKeyPair: a new key pair; the PKCS#8 private key in plaintext and sealed under the key."""
    record, spec, private_der, public, sealed, mid = _data_key_pair(call, "kms:GenerateDataKeyPair")
    return {
        "PrivateKeyCiphertextBlob": sealed,
        "PrivateKeyPlaintext": private_der,
        "PublicKey": public,
        "KeyId": record["Arn"],
        "KeyPairSpec": spec,
        "KeyMaterialId": mid,
    }


@operation("GenerateDataKeyPairWithoutPlaintext")
def generate_data_key_pair_without_plaintext(call: Call) -> Response:
    """GenerateDataKeyPairWithoutPlaintext: the public key and the sealed private key only."""
    record, spec, _private, public, sealed, mid = _data_key_pair(
        call, "kms:GenerateDataKeyPairWithoutPlaintext"
    )
    return {
        "PrivateKeyCiphertextBlob": sealed,
        "PublicKey": public,
        "KeyId": record["Arn"],
        "KeyPairSpec": spec,
        "KeyMaterialId": mid,
    }
