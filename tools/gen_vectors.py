"""Generate tests/unit/crypto/vectors/blob-v1.json: known-answer vectors for the ciphertext blob format.

The vectors are committed; tests check that kmscli still produces and accepts exactly these bytes,
so a change to the format cannot go unnoticed. Re-run only for a deliberate new format version.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from kmscli.crypto import blob


def main() -> None:
    """Write the vector file."""
    material = bytes(range(32))
    mid = bytes.fromhex("11" * 32)
    positive: list[dict[str, Any]] = []
    cases = [
        ("1234abcd-12ab-34cd-56ef-1234567890ab", b"hello", {}),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", b"hello", {"purpose": "test", "env": "dev"}),
        ("mrk-1234abcd12ab34cd56ef1234567890ab", bytes(range(256)), {"unicode": "caf\u00e9 \u2603"}),
    ]
    for i, (kid, pt, ctx) in enumerate(cases):
        salt = bytes([i + 1]) * 16
        nonce = bytes([0xA0 + i]) * 12
        sealed = blob.seal(kid, mid, material, pt, ctx, salt, nonce)
        positive.append(
            {
                "description": f"case {i + 1}",
                "material_hex": material.hex(),
                "key_id": kid,
                "material_id_hex": mid.hex(),
                "salt_hex": salt.hex(),
                "nonce_hex": nonce.hex(),
                "encryption_context": ctx,
                "plaintext_hex": pt.hex(),
                "blob_hex": sealed.hex(),
            }
        )
    good = bytes.fromhex(positive[1]["blob_hex"])
    kid_len = good[2]
    negative: list[dict[str, Any]] = [
        {"description": "empty", "blob_hex": ""},
        {"description": "wrong magic byte", "blob_hex": (b"\x4c" + good[1:]).hex()},
        {"description": "unknown format version", "blob_hex": (good[:1] + b"\x02" + good[2:]).hex()},
        {"description": "key id length zero", "blob_hex": (good[:2] + b"\x00" + good[3:]).hex()},
        {"description": "truncated inside the header", "blob_hex": good[:40].hex()},
        {"description": "truncated tag", "blob_hex": good[:-1].hex()},
        {"description": "one extra byte", "blob_hex": (good + b"\x00").hex()},
        {
            "description": "flipped ciphertext bit",
            "blob_hex": (good[:-20] + bytes([good[-20] ^ 1]) + good[-19:]).hex(),
        },
        {
            "description": "flipped salt bit",
            "blob_hex": (
                good[: 3 + kid_len + 32] + bytes([good[3 + kid_len + 32] ^ 0x80]) + good[3 + kid_len + 33 :]
            ).hex(),
        },
        {
            "description": "encryption context differs",
            "blob_hex": good.hex(),
            "encryption_context": {"purpose": "test", "env": "prod"},
        },
        {"description": "encryption context missing", "blob_hex": good.hex(), "encryption_context": {}},
    ]
    out = {
        "format": "kmscli ciphertext blob v1 (docs/format.md)",
        "positive": positive,
        "negative": [
            {
                **n,
                "material_hex": material.hex(),
                "encryption_context": n.get("encryption_context", {"purpose": "test", "env": "dev"}),
            }
            for n in negative
        ],
    }
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "unit", "crypto", "vectors", "blob-v1.json")
    with open(path, "w") as fh:
        json.dump(out, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


if __name__ == "__main__":
    main()
