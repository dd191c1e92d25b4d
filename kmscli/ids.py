"""Random identifiers in AWS's formats, without the ``uuid`` module (which imports ``platform``)."""

from __future__ import annotations


def uuid4(raw: bytes) -> str:
    """An RFC 4122 version-4 UUID string from 16 random bytes (what ``uuid.UUID(bytes=raw, version=4)`` gives)."""
    if len(raw) != 16:
        raise ValueError("a UUID takes 16 bytes")
    b = bytearray(raw)
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
