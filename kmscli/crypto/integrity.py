"""SHA-256 and HMAC-SHA256 for the vault's file MACs, the audit chain and session ids.

These go through ``cryptography``, which every vault access loads anyway, rather than ``hashlib``
and ``hmac``: those load the system's OpenSSL a second time (``_hashlib``), a measurable part of a
session ``kmscli encrypt`` (bench/encrypt_session.py). The results are the same bytes.
"""

from __future__ import annotations

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
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    try:
        h.verify(expected)
    except InvalidSignature:
        return False
    return True
