"""The symmetric ciphertext blob (docs/format.md).

    offset  size  field
    0       1     magic 0x4B ("K")
    1       1     format version (1)
    2       1     key id length L (1..64)
    3       L     key id, ASCII (a UUID, or mrk- and 32 hex digits)
    3+L     32    key material id (KeyMaterialId is its lowercase hex)
    35+L    16    HKDF salt for the per-message key
    51+L    12    AES-GCM nonce
    63+L    n+16  AES-256-GCM ciphertext and tag

The per-message key is HKDF-SHA256(ikm=material, salt=salt, info="kmscli blob v1" + header).
The associated data is the header (bytes 0 .. 63+L) followed by the encoded encryption context.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from kmscli.crypto import primitives
from kmscli.errors import InvalidCiphertextException, ValidationException
from kmscli.ids import is_key_id

MAGIC = 0x4B
VERSION = 1
TAG_LEN = 16
_MESSAGE = "The ciphertext is invalid, damaged, or was not produced for this key."


class BlobHeader(NamedTuple):
    """The self-describing prefix of a ciphertext blob."""

    key_id: str
    material_id: bytes
    salt: bytes
    nonce: bytes

    def encode(self) -> bytes:
        """The header bytes, which are also part of the associated data."""
        kid = self.key_id.encode("ascii")
        return bytes((MAGIC, VERSION, len(kid))) + kid + self.material_id + self.salt + self.nonce


def encode_context(context: dict[str, str] | None) -> bytes:
    """Canonical bytes of an encryption context: count, then (key, value) pairs sorted by key bytes."""
    pairs = sorted((k.encode(), v.encode()) for k, v in (context or {}).items())
    if len(pairs) > 0xFFFF or any(len(k) > 0xFFFF or len(v) > 0xFFFF for k, v in pairs):
        raise ValidationException(
            "The encryption context is too large: each key and value must be at most 65535 bytes."
        )
    out = [struct.pack(">H", len(pairs))]
    for key, value in pairs:
        out.append(struct.pack(">H", len(key)) + key + struct.pack(">H", len(value)) + value)
    return b"".join(out)


def _hkdf(material: bytes, salt: bytes, header: bytes) -> bytes:
    return primitives.hkdf_sha256(material, b"kmscli blob v1" + header, salt)


def seal(
    key_id: str,
    material_id: bytes,
    material: bytes,
    plaintext: bytes,
    context: dict[str, str] | None,
    salt: bytes,
    nonce: bytes,
) -> bytes:
    """Encrypt ``plaintext`` into a blob (salt 16 bytes and nonce 12 bytes come from the caller's RNG)."""

    header = BlobHeader(key_id, material_id, salt, nonce).encode()
    key = _hkdf(material, salt, header)
    return header + primitives.aesgcm(key).encrypt(nonce, plaintext, header + encode_context(context))


def parse(blob: bytes) -> tuple[BlobHeader, bytes]:
    """Split a blob into its header and sealed body; anything malformed is InvalidCiphertextException."""
    if len(blob) < 3 or blob[0] != MAGIC or blob[1] != VERSION:
        raise InvalidCiphertextException(_MESSAGE)
    kid_len = blob[2]
    end = 3 + kid_len + 32 + 16 + 12
    if not 1 <= kid_len <= 64 or len(blob) < end + TAG_LEN:
        raise InvalidCiphertextException(_MESSAGE)
    kid = blob[3 : 3 + kid_len]
    if not is_key_id(kid.decode("latin-1")):
        raise InvalidCiphertextException(_MESSAGE)
    pos = 3 + kid_len
    header = BlobHeader(
        kid.decode("ascii"), blob[pos : pos + 32], blob[pos + 32 : pos + 48], blob[pos + 48 : end]
    )
    return header, blob[end:]


def open_(header: BlobHeader, body: bytes, material: bytes, context: dict[str, str] | None) -> bytes:
    """Decrypt a parsed blob; a wrong key, context or any damage is InvalidCiphertextException."""
    from cryptography.exceptions import InvalidTag

    head = header.encode()
    try:
        return primitives.aesgcm(_hkdf(material, header.salt, head)).decrypt(
            header.nonce, body, head + encode_context(context)
        )
    except InvalidTag:
        raise InvalidCiphertextException(_MESSAGE) from None
