"""The chain value that makes the log tamper-evident (docs/audit.md).

Each line is a JSON object whose ``chain`` member is
``HMAC-SHA256(audit_key, previous_chain_bytes || canonical_json(line without "chain"))`` in hex.
The first line's previous value is ``HMAC-SHA256(audit_key, "kmscli audit genesis")``. The
audit key is derived from the vault key, so only a holder of the passphrase can extend the chain.
"""

from __future__ import annotations

import json
from typing import Any

from kmscli.crypto import primitives


def canonical(event: dict[str, Any]) -> bytes:
    """Deterministic bytes of an event, without its chain value."""
    body = {k: v for k, v in event.items() if k != "chain"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def genesis(audit_key: bytes) -> str:
    """The chain value before the first line."""
    return primitives.hmac_sha256(audit_key, b"kmscli audit genesis").hex()


def link(audit_key: bytes, previous: str, event: dict[str, Any]) -> str:
    """The chain value of ``event`` following ``previous``."""
    return primitives.hmac_sha256(audit_key, bytes.fromhex(previous) + canonical(event)).hex()
