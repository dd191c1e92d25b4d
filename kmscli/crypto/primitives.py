"""The symmetric primitives of kmscli's own formats: SHA-256, HMAC-SHA256, HKDF-SHA256, AES-256-GCM.

The vault's file MACs, the audit chain, session files and ciphertext blobs all go through here.
Start-up matters (every ``kmscli`` call runs some of these; bench/encrypt_session.py):

- hashing and MACs use ``cryptography``, which is loaded anyway, not ``hashlib``/``hmac``: those
  load the system's OpenSSL a second time (``_hashlib``);
- AES-GCM is taken from the Rust binding that ``cryptography.hazmat.primitives.ciphers.aead``
  re-exports, because importing that module first imports the whole ``ciphers`` package (every
  cipher and mode, the decrepit ones included). tests/cli/test_startup.py checks that the class is the
  one the public module exports; if a cryptography release moves it, the public import is used.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac


def sha256(data: bytes) -> bytes:
    """SHA-256 of ``data``."""
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 of ``data`` under ``key``."""
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def hmac_sha256_matches(key: bytes, data: bytes, expected_hex: object) -> bool:
    """Whether ``expected_hex`` is the hex HMAC-SHA256 of ``data``, compared in constant time.

    Anything that is not a hex string (a damaged or edited file) simply does not match.
    """
    if not isinstance(expected_hex, str):
        return False
    try:
        expected = bytes.fromhex(expected_hex)
    except ValueError:
        return False
    return hmac_sha256_verify(key, data, expected)


def hmac_sha256_verify(key: bytes, data: bytes, expected: bytes) -> bool:
    """Whether ``expected`` is the HMAC-SHA256 of ``data`` under ``key``, compared in constant time."""
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    try:
        h.verify(expected)
    except InvalidSignature:
        return False
    return True


def hkdf_sha256(secret: bytes, info: bytes, salt: bytes | None = None, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869) of ``secret``."""
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


def aesgcm_class() -> Any:
    """cryptography's ``AESGCM`` class, without importing the ``ciphers`` package (see above)."""
    try:
        from cryptography.hazmat.bindings._rust import openssl as rust_openssl

        return rust_openssl.aead.AESGCM
    except (ImportError, AttributeError):  # pragma: no cover - depends on cryptography's layout
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM


def aesgcm(key: bytes) -> Any:
    """An AES-GCM cipher under ``key`` (``encrypt``/``decrypt`` as cryptography's ``AESGCM``)."""
    return aesgcm_class()(key)
