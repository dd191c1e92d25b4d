"""Wrapping key material for transport, as AWS KMS's key import defines it.

* ``RSAES_OAEP_SHA_1`` / ``RSAES_OAEP_SHA_256``: the material is encrypted directly with RSA-OAEP
  (MGF1 with the same hash). Fits symmetric and HMAC keys, not private keys.
* ``RSA_AES_KEY_WRAP_SHA_1`` / ``RSA_AES_KEY_WRAP_SHA_256``: a fresh AES-256 key wraps the
  material with AES Key Wrap with Padding (RFC 5649, ``openssl enc -id-aes256-wrap-pad``); the AES
  key is RSA-OAEP encrypted; the result is the RSA ciphertext followed by the wrapped material.

The same functions serve import (unwrap with the vault's wrapping key) and export into AWS KMS
(wrap with the public key from a real ``aws kms get-parameters-for-import``).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)

#: Wrapping algorithms kmscli implements (AWS's current set without SM2PKE).
ALGORITHMS = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256")
#: Wrapping key specs kmscli implements, and their modulus sizes.
KEY_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}


class WrapError(ValueError):
    """The material cannot be wrapped or unwrapped (wrong key, damaged data, too large)."""


def _oaep(algorithm: str) -> padding.OAEP:
    algo: hashes.HashAlgorithm = hashes.SHA1() if algorithm.endswith("SHA_1") else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(algorithm=algo), algorithm=algo, label=None)


def check_algorithm(algorithm: str) -> None:
    """WrapError for algorithms outside :data:`ALGORITHMS`."""
    if algorithm not in ALGORITHMS:
        raise WrapError(f"wrapping algorithm {algorithm} is not supported")


def wrap(public_key: rsa.RSAPublicKey, algorithm: str, material: bytes, aes_key: bytes) -> bytes:
    """Wrap ``material`` for the holder of ``public_key`` (``aes_key``: 32 fresh random bytes)."""
    check_algorithm(algorithm)
    try:
        if algorithm.startswith("RSAES_OAEP"):
            return public_key.encrypt(material, _oaep(algorithm))
        return public_key.encrypt(aes_key, _oaep(algorithm)) + aes_key_wrap_with_padding(aes_key, material)
    except ValueError as exc:
        raise WrapError(
            f"{algorithm} cannot wrap {len(material)} bytes with a {public_key.key_size}-bit key ({exc}); "
            "use RSA_AES_KEY_WRAP_SHA_256 for private keys"
        ) from None


def unwrap(private_key: rsa.RSAPrivateKey, algorithm: str, blob: bytes) -> bytes:
    """Inverse of :func:`wrap`; WrapError when the blob was not made for this key and algorithm."""
    check_algorithm(algorithm)
    size = private_key.key_size // 8
    try:
        if algorithm.startswith("RSAES_OAEP"):
            return private_key.decrypt(blob, _oaep(algorithm))
        if len(blob) <= size:
            raise WrapError("the wrapped key material is too short")
        aes_key = private_key.decrypt(blob[:size], _oaep(algorithm))
        if len(aes_key) not in (16, 24, 32):
            raise WrapError("the wrapped AES key has the wrong length")
        return aes_key_unwrap_with_padding(aes_key, blob[size:])
    except (ValueError, InvalidUnwrap) as exc:
        if isinstance(exc, WrapError):
            raise
        raise WrapError("the key material could not be unwrapped with the import wrapping key") from None


def load_public_key(der: bytes) -> rsa.RSAPublicKey:
    """An RSA public key from DER SubjectPublicKeyInfo (what GetParametersForImport returns)."""
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        raise WrapError("the wrapping public key is not a DER-encoded SubjectPublicKeyInfo") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise WrapError("the wrapping public key is not an RSA key")
    if key.key_size not in KEY_SPECS.values():
        raise WrapError(f"the wrapping public key has {key.key_size} bits; AWS uses 2048, 3072 or 4096")
    return key


def public_der(key: rsa.RSAPrivateKey) -> bytes:
    """DER SubjectPublicKeyInfo of a private key's public half."""
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_der(key: rsa.RSAPrivateKey) -> bytes:
    """Unencrypted PKCS#8 DER of a private key."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
