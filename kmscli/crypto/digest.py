"""Streaming a file of any size into the digest (or ML-DSA mu) that a signing algorithm signs."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from kmscli.crypto.asymmetric import SIGNING_ALGORITHMS, CryptoInputError, PublicKey, mu_hasher, new_hash

#: Read size: large enough that per-call overhead vanishes next to hashing, small enough for the cache.
CHUNK = 1 << 20


def message_type(algorithm: str) -> str:
    """The MessageType under which kmscli signs an artifact's hash with ``algorithm``.

    Pure Ed25519 (ED25519_SHA_512) cannot sign a digest: it takes RAW only, so it is limited to
    artifacts of at most 4096 bytes (see :func:`artifact_message`).
    """
    alg = SIGNING_ALGORITHMS[algorithm]
    if alg.family == "mldsa":
        return "EXTERNAL_MU"
    if alg.family == "ed25519":
        return "RAW"
    return "DIGEST"


def _stream(source: io.BufferedIOBase, hasher: Any) -> None:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        n = source.readinto(buf)
        if not n:
            break
        hasher.update(view[:n])


def artifact_message(path: Path, algorithm: str, public_key: PublicKey | None = None) -> tuple[bytes, str]:
    """(message, MessageType) to sign or verify for the file at ``path`` with ``algorithm``.

    DIGEST algorithms get the file's hash; ML-DSA gets mu (which needs the public key); pure Ed25519
    gets the file itself when it fits AWS's 4096-byte RAW limit, and CryptoInputError otherwise.
    """
    kind = message_type(algorithm)
    alg = SIGNING_ALGORITHMS[algorithm]
    with path.open("rb") as source:
        if kind == "RAW":
            data = source.read(4097)
            if len(data) > 4096:
                raise CryptoInputError(
                    f"{algorithm} signs raw messages of at most 4096 bytes; use ED25519_PH_SHA_512 for artifacts"
                )
            return data, kind
        if kind == "EXTERNAL_MU":
            if public_key is None:
                raise CryptoInputError("ML-DSA needs the public key to compute mu")
            hasher = mu_hasher(public_key)
        else:
            hasher = new_hash(alg)
        _stream(source, hasher)
        return (hasher.finalize() if kind == "EXTERNAL_MU" else hasher.digest()), kind
