"""Signing and verifying artifacts of any size (beyond AWS's 4096-byte Sign limit).

The file is streamed through the algorithm's hash locally; only the digest (or ML-DSA's mu) goes to
Sign with MessageType DIGEST (EXTERNAL_MU), through :func:`invoke`, so every signature is audited and
policy-checked like any KMS call. The signature written is the plain KMS signature (DER for ECDSA), so
``openssl dgst -sha256 -verify pub.pem -signature sig FILE`` checks it. Offline verification from a
public key file needs no vault and no passphrase.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kmscli import errors
from kmscli.crypto import asymmetric
from kmscli.crypto.digest import artifact_message
from kmscli.crypto.specs import algorithms_for
from kmscli.service.pipeline.core import Caller, Response


def default_algorithm(algorithms: list[str]) -> str:
    """The algorithm an artifact is signed with when none is named: the key's first one that can sign
    a file of any size (AWS's first, except pure Ed25519, which takes only RAW messages)."""
    for name in algorithms:
        if name != "ED25519_SHA_512":
            return name
    return algorithms[0]


def _key_and_algorithm(call: Caller, key_id: str, algorithm: str | None) -> tuple[dict[str, Any], str]:
    meta = call("DescribeKey", {"KeyId": key_id})["KeyMetadata"]
    algorithms = meta.get("SigningAlgorithms") or []
    if algorithm is None:
        if meta["KeyUsage"] != "SIGN_VERIFY" or not algorithms:
            exc = errors.InvalidKeyUsageException(
                f"{meta['Arn']} key usage is {meta['KeyUsage']} which is not valid for Sign."
            )
            exc.for_operation("Sign")
            raise exc
        algorithm = default_algorithm(algorithms)
    return meta, algorithm


def _message(call: Caller, meta: dict[str, Any], path: Path, algorithm: str) -> tuple[bytes, str]:
    public = None
    if algorithm == "ML_DSA_SHAKE_256":
        der = call("GetPublicKey", {"KeyId": meta["Arn"]})["PublicKey"]
        public = asymmetric.load_public(der)
    try:
        return artifact_message(path, algorithm, public)
    except asymmetric.CryptoInputError as exc:
        raise errors.UsageError(str(exc)) from None


def sign_file(call: Caller, path: Path, key_id: str, algorithm: str | None) -> tuple[bytes, Response]:
    """Sign the file at ``path``; returns (signature, a summary for the caller to show)."""
    if algorithm is not None and algorithm not in asymmetric.SIGNING_ALGORITHMS:
        raise errors.UsageError(f"unknown signing algorithm {algorithm}")
    meta, alg = _key_and_algorithm(call, key_id, algorithm)
    message, message_type = _message(call, meta, path, alg)
    out = call(
        "Sign",
        {"KeyId": meta["Arn"], "Message": message, "MessageType": message_type, "SigningAlgorithm": alg},
    )
    summary = {"KeyId": out["KeyId"], "SigningAlgorithm": alg, "MessageType": message_type}
    if message_type == "DIGEST":
        summary["Digest"] = message.hex()
    return out["Signature"], summary


def verify_file_with_key(
    call: Caller, path: Path, signature: bytes, key_id: str, algorithm: str | None
) -> str:
    """Verify through KMS Verify (audited); raises KMSInvalidSignatureException. Returns the algorithm."""
    if algorithm is not None and algorithm not in asymmetric.SIGNING_ALGORITHMS:
        raise errors.UsageError(f"unknown signing algorithm {algorithm}")
    meta, alg = _key_and_algorithm(call, key_id, algorithm)
    message, message_type = _message(call, meta, path, alg)
    call(
        "Verify",
        {
            "KeyId": meta["Arn"],
            "Message": message,
            "MessageType": message_type,
            "Signature": signature,
            "SigningAlgorithm": alg,
        },
    )
    return alg


def verify_file_offline(path: Path, signature: bytes, public_key_data: bytes, algorithm: str | None) -> str:
    """Verify with a PEM or DER public key alone (no vault). Returns the algorithm used.

    Raises :class:`asymmetric.InvalidSignatureError` for a bad signature and UsageError for unusable
    input (malformed key, algorithm that does not fit the key, file too large for pure Ed25519).
    """
    try:
        public = asymmetric.load_public(public_key_data)
    except asymmetric.CryptoInputError as exc:
        raise errors.UsageError(str(exc)) from None
    # The algorithms AWS KMS signs with for a key of this spec, as Verify with --key-id allows them.
    spec = asymmetric.key_spec_of(public)
    allowed = algorithms_for(spec, "SIGN_VERIFY").get("SigningAlgorithms", []) if spec else []
    if not allowed:
        raise errors.UsageError(
            "the public key is not the public key of a KMS signing key (key spec "
            f"{spec or 'none: another key type, size or curve'})"
        )
    alg_name = algorithm or default_algorithm(allowed)
    alg = asymmetric.SIGNING_ALGORITHMS.get(alg_name)
    if alg is None:
        raise errors.UsageError(f"unknown signing algorithm {alg_name}")
    if alg_name not in allowed:
        raise errors.UsageError(
            f"signing algorithm {alg_name} does not fit the public key: a {spec} key signs with "
            f"{', '.join(allowed)}"
        )
    try:
        message, message_type = artifact_message(path, alg_name, public)
    except asymmetric.CryptoInputError as exc:
        raise errors.UsageError(str(exc)) from None
    asymmetric.verify(public, alg, message, message_type, signature)
    return alg_name


def public_key_pem(call: Caller, key_id: str) -> bytes:
    """The PEM SubjectPublicKeyInfo of an asymmetric KMS key (through GetPublicKey, audited)."""
    der = call("GetPublicKey", {"KeyId": key_id})["PublicKey"]
    return asymmetric.public_pem(asymmetric.load_public(der))
