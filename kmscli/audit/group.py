"""Group commit: concurrent appends from one process share a write and an fsync.

A server runs many operations at once, and each must not answer before its audit event is durable.
With one fsync per event they would queue behind each other's fsyncs. :class:`GroupCommitLog` wraps
an :class:`~kmscli.audit.log.AuditLog`: the first caller to arrive becomes the leader and writes every
event queued so far in one batch (one lock, one write, one fsync, see ``AuditLog.append_many``);
callers arriving meanwhile wait for the next batch. Every caller returns only after the batch that
holds its event is on disk, or raises the batch's AuditWriteError (fail closed). Across processes
the log's file lock still orders writers, so the CLI can append while a server runs.
"""

from __future__ import annotations

import threading
from typing import Any

from kmscli.audit.log import AuditLog, AuditWriteError


class _Waiter:
    __slots__ = ("done", "error", "event", "promoted", "result")

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        #: Set when the batch holding the event is written; made only for a caller that waits (a
        #: leader writes its own batch and never waits on it).
        self.done: threading.Event | None = None
        self.promoted = False
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None


class GroupCommitLog:
    """An ``append``-compatible front for an AuditLog that batches concurrent appends."""

    def __init__(self, log: AuditLog, max_batch: int = 256) -> None:
        self.log = log
        self.max_batch = max_batch
        self._mutex = threading.Lock()
        self._queue: list[_Waiter] = []
        self._leader = False
        #: Number of batches written and events in them (observability and tests).
        self.batches = 0
        self.events = 0

    def __getattr__(self, name: str) -> Any:
        """Everything but ``append`` is the wrapped log's (folder, key, repair, ...)."""
        return getattr(self.log, name)

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Durably append ``event`` (possibly together with others); same contract as AuditLog."""
        me = _Waiter(event)
        with self._mutex:
            self._queue.append(me)
            lead = not self._leader
            self._leader = True
            if not lead:
                me.done = threading.Event()
        if me.done is not None:
            me.done.wait()
            lead = me.promoted
        if lead:  # the head of the queue leads: its own event is in the batch it writes
            self._write_batch()
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def _write_batch(self) -> None:
        """Write every queued event (up to max_batch) at once, then pass leadership on."""
        with self._mutex:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
        try:
            written = self.log.append_many([w.event for w in batch])
        except BaseException as exc:  # every waiter of the batch fails closed with the same error
            error = exc if isinstance(exc, AuditWriteError) else AuditWriteError(f"audit write failed: {exc}")
            for w in batch:
                w.error = error
        else:
            self.batches += 1
            self.events += len(batch)
            for w, done in zip(batch, written, strict=True):
                w.result = done
        with self._mutex:
            if self._queue:  # queued behind a leader: each has its event
                nxt = self._queue[0]
                nxt.promoted = True
                assert nxt.done is not None
                nxt.done.set()
            else:
                self._leader = False
        for w in batch:
            if w.done is not None:
                w.done.set()
