"""Appending to the chained, segmented JSON-lines log under ``VAULT/audit/``."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any, BinaryIO

from kmscli.audit import chain
from kmscli.errors import EXIT_ENVIRONMENT, KmscliError
from kmscli.vault import fs, layout

SEGMENT_RE = re.compile(r"^audit-(\d{6})\.jsonl$")
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024


class AuditWriteError(KmscliError):
    """The event could not be written: the operation fails closed and prints no result."""


class AuditLogDamagedError(AuditWriteError):
    """The log's last record cannot be read (edited, or nested too deeply to parse): tamper, exit 253."""

    exit_code = EXIT_ENVIRONMENT


def segment_name(number: int) -> str:
    """File name of segment ``number`` (1-based)."""
    return f"audit-{number:06d}.jsonl"


def segments(folder: fs.StrPath | fs.VaultDir) -> list[str]:
    """Every segment in order (paths as strings, as ``str(Path(folder) / name)`` prints)."""
    if isinstance(folder, fs.VaultDir):
        names, base = folder.listdir(), folder.path
    else:
        base = fs.pathstr(folder)
        try:
            names = os.listdir(base)
        except FileNotFoundError:
            return []
    found = sorted((int(m.group(1)), n) for n in names if (m := SEGMENT_RE.match(n)))
    return [fs.join(base, name) for _, name in found]


def _last_line(fh: BinaryIO) -> tuple[bytes | None, int]:
    """The last complete line of the open segment ``fh`` and the size of a torn tail after it."""
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        return None, 0
    block = 4096
    pos = size
    buf = b""
    while pos > 0:
        step = min(block, pos)
        pos -= step
        fh.seek(pos)
        buf = fh.read(step) + buf
        end = buf.rfind(b"\n")
        if end == -1:
            continue
        torn = len(buf) - end - 1
        start = buf.rfind(b"\n", 0, end)
        if start != -1 or pos == 0:
            return buf[start + 1 : end], torn
        block *= 2
    return None, size


class AuditLog:
    """Writer for one vault's log. ``append`` is safe across processes (it takes its own lock)."""

    def __init__(
        self,
        folder: fs.StrPath,
        audit_key: bytes,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        *,
        vault: fs.VaultDir | None = None,
    ) -> None:
        """``folder`` is the log's folder; ``vault``, when given, is the vault folder holding it as
        ``audit/``, which is then reached through the vault's descriptor without following links."""
        self.folder = fs.pathstr(folder)
        self.vault = vault
        self.key = audit_key
        self.segment_bytes = segment_bytes
        self.pending_repair: dict[str, Any] | None = None
        #: How a segment is made durable (injectable: the serve benchmark's slow-disk hook wraps it).
        self.fsync: Callable[[int], None] = os.fsync

    def _open_folder(self) -> fs.VaultDir:
        """The log folder, created 0700 if missing; a link or special file there is refused."""
        if self.vault is not None:
            return self.vault.subdir(layout.AUDIT, create=True)
        return fs.VaultDir.open(self.folder, create=True)

    def _tail(self, folder: fs.VaultDir) -> tuple[str, int, str]:
        """Current segment name, last sequence number and last chain value; removes a torn tail."""
        names = [os.path.basename(p) for p in segments(folder)]
        if not names:
            return segment_name(1), 0, chain.genesis(self.key)
        for name in reversed(names):
            with folder.open_update(name) as fh:
                line, torn = _last_line(fh)
                if torn:  # cut through the descriptor just read, never through the path
                    fh.truncate(os.fstat(fh.fileno()).st_size - torn)
                    os.fsync(fh.fileno())
                    self.pending_repair = {"file": name, "removedBytes": torn}
            if line is None:
                continue
            try:
                last = fs.loads(line)
                return names[-1], int(last["sequence"]), str(last["chain"])
            except (ValueError, KeyError, TypeError):
                raise AuditLogDamagedError(
                    f"the audit log's last line in {folder.name(name)} is unreadable; run `kmscli audit verify`"
                ) from None
        return names[-1], 0, chain.genesis(self.key)

    def _repair_event(self, base: dict[str, Any], seq: int, prev: str) -> dict[str, Any]:
        """The RepairAuditLog record for the torn tail just cut, chained after ``prev``."""
        assert self.pending_repair is not None
        keep = ("eventVersion", "userIdentity", "eventTime", "awsRegion", "recipientAccountId")
        repair = {
            **{k: v for k, v in base.items() if k in keep},
            "eventSource": "kmscli",
            "eventName": "RepairAuditLog",
            "eventType": "AwsServiceEvent",
            "readOnly": False,
            "additionalEventData": {"reason": "torn final line removed", **self.pending_repair},
            "sequence": seq,
        }
        repair["chain"] = chain.link(self.key, prev, repair)
        return repair

    def _write(self, folder: fs.VaultDir, name: str, lines: list[dict[str, Any]]) -> None:
        data = b"".join(
            json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for e in lines
        )
        info = folder.lstat(name)
        if info is not None and info.st_size + len(data) > self.segment_bytes:
            match = SEGMENT_RE.match(name)
            name = segment_name(int(match.group(1)) + 1 if match else 1)
        folder.append(
            name, data, fsync=self.fsync
        )  # no link followed; a new segment's folder entry is flushed

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Number, chain and durably append ``event``; raises AuditWriteError when it cannot."""
        return self.append_many([event])[0]

    def append_many(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Number, chain and append several events with one write and one fsync (group commit)."""
        try:
            with self._open_folder() as folder, folder.locked(layout.LOCK, exclusive=True):
                self.pending_repair = None
                path, seq, prev = self._tail(folder)
                lines: list[dict[str, Any]] = []
                if self.pending_repair is not None:
                    seq += 1
                    repair = self._repair_event(batch[0], seq, prev)
                    prev = repair["chain"]
                    lines.append(repair)
                written = []
                for event in batch:
                    seq += 1
                    event = {**event, "sequence": seq}
                    event["chain"] = prev = chain.link(self.key, prev, event)
                    written.append(event)
                self._write(folder, path, lines + written)
                return written
        except AuditWriteError:
            raise
        except fs.UnsafePathError as exc:  # tamper: exit 253, nothing written outside the vault
            raise fs.UnsafePathError(
                f"cannot write the audit log: {exc.message}; the operation was not performed"
            ) from None
        except OSError as exc:
            raise AuditWriteError(
                f"cannot write the audit log in {self.folder} ({exc.strerror or exc}); "
                "the operation was not performed"
            ) from None

    def repair(self, base: dict[str, Any]) -> dict[str, Any] | None:
        """Cut a torn final line (and nothing else) and record a RepairAuditLog event.

        ``base`` supplies the identity and time of whoever asked (``audit verify --repair``).
        Returns the recorded event, or None when there was no torn tail.
        """
        try:
            with self._open_folder() as folder, folder.locked(layout.LOCK, exclusive=True):
                self.pending_repair = None
                path, seq, prev = self._tail(folder)
                if self.pending_repair is None:
                    return None
                self.pending_repair["trigger"] = "kmscli audit verify --repair"
                repair = self._repair_event(base, seq + 1, prev)
                self._write(folder, path, [repair])
                return repair
        except fs.UnsafePathError as exc:
            raise fs.UnsafePathError(f"cannot repair the audit log: {exc.message}") from None
        except OSError as exc:
            raise AuditWriteError(
                f"cannot repair the audit log in {self.folder} ({exc.strerror or exc})"
            ) from None
