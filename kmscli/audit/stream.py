"""Audit sinks for read-only vault archives: a log folder named by KMSCLI_AUDIT_LOG, or stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from kmscli.audit import chain
from kmscli.audit.log import AuditLog, AuditWriteError


class StderrAuditLog(AuditLog):
    """Writes each event as one JSON line on stderr (chained in memory for this process)."""

    def __init__(self, audit_key: bytes) -> None:
        super().__init__("/nonexistent", audit_key)
        self._seq = 0
        self._prev = chain.genesis(audit_key)

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Number, chain and print ``event`` on stderr; fails closed when stderr is gone."""
        self._seq += 1
        event = {**event, "sequence": self._seq}
        event["chain"] = self._prev = chain.link(self.key, self._prev, event)
        try:
            sys.stderr.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n")
            sys.stderr.flush()
        except (OSError, ValueError) as exc:
            raise AuditWriteError(f"cannot write the audit event to stderr ({exc}); not performed") from None
        return event
