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
from collections.abc import Callable
from typing import Any

from kmscli.audit.log import AuditLog, AuditWriteError


class _Waiter:
    __slots__ = ("batch", "done", "error", "event", "result")

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        #: Set when the caller may go on: its batch is written, or it was promoted to write the
        #: batch in ``batch``; made only for a caller that waits (a leader never waits).
        self.done: threading.Event | None = None
        #: The batch a promoted caller writes (it is the first in it); None otherwise.
        self.batch: list[_Waiter] | None = None
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None


class GroupCommitLog:
    """An ``append``-compatible front for an AuditLog that batches concurrent appends.

    Up to ``max_in_flight`` batches are written at once: while one batch waits for its fsync (which
    ``AuditLog.append_many`` makes outside the log's lock), the next is numbered, chained and written,
    so a slow disk is not left idle between fsyncs. Each batch is carved from the queue under one
    mutex, so no event is in two batches, and events are numbered in the order batches take the
    log's lock."""

    def __init__(self, log: AuditLog, max_batch: int = 256, max_in_flight: int = 2) -> None:
        self.log = log
        self.max_batch = max_batch
        self.max_in_flight = max(1, max_in_flight)
        self._mutex = threading.Lock()
        self._queue: list[_Waiter] = []
        self._leaders = 0
        #: Number of batches written and events in them (observability and tests).
        self.batches = 0
        self.events = 0
        #: Index work (a segment sealed, or grown past an 8 MiB mark) runs on a thread of its own,
        #: so no request waits for it (see ``drain``).
        self._index_work: list[Callable[[], None]] = []
        self._indexer: threading.Thread | None = None
        log.index_runner = self._index_later

    def __getattr__(self, name: str) -> Any:
        """Everything but ``append`` is the wrapped log's (folder, key, repair, ...)."""
        return getattr(self.log, name)

    def _take(self) -> list[_Waiter]:
        batch = self._queue[: self.max_batch]
        del self._queue[: self.max_batch]
        return batch

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Durably append ``event`` (possibly together with others); same contract as AuditLog."""
        me = _Waiter(event)
        with self._mutex:
            self._queue.append(me)
            if self._leaders < self.max_in_flight:  # a free slot: the queue holds only this caller
                self._leaders += 1
                batch: list[_Waiter] | None = self._take()
            else:
                batch = None
                me.done = threading.Event()
        if me.done is not None:
            me.done.wait()
            batch = me.batch
        if batch is not None:  # this caller leads: its own event is first in the batch it writes
            self._write_batch(batch)
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def _write_batch(self, batch: list[_Waiter]) -> None:
        """Write ``batch`` at once, then hand this slot to the next queued caller (or free it)."""
        try:
            written = self.log.append_many([w.event for w in batch])
        except BaseException as exc:  # every waiter of the batch fails closed with the same error
            error = exc if isinstance(exc, AuditWriteError) else AuditWriteError(f"audit write failed: {exc}")
            for w in batch:
                w.error = error
        else:
            with self._mutex:
                self.batches += 1
                self.events += len(batch)
            for w, done in zip(batch, written, strict=True):
                w.result = done
        with self._mutex:
            if self._queue:  # queued while every slot was busy: the first leads the next batch
                nxt = self._queue[0]
                nxt.batch = self._take()
                assert nxt.done is not None
                nxt.done.set()
            else:
                self._leaders -= 1
        for w in batch:
            if w.done is not None:
                w.done.set()

    def unwrap(self) -> AuditLog:
        """The wrapped log, on its own again: its index work back in the appending thread (the
        ``KMSCLI_TEST_NO_GROUP_COMMIT`` benchmark hook serves without group commit)."""
        self.log.index_runner = None
        return self.log

    def _index_later(self, job: Callable[[], None]) -> None:
        """Queue index work for the indexing thread, started when there is work (so that a forked
        server worker starts its own)."""
        with self._mutex:
            self._index_work.append(job)
            if self._indexer is None or not self._indexer.is_alive():  # (none in a forked child)
                self._indexer = threading.Thread(
                    target=self._run_index, name="kmscli-audit-index", daemon=True
                )
                self._indexer.start()

    def _run_index(self) -> None:
        while True:
            with self._mutex:
                if not self._index_work:
                    self._indexer = None
                    return
                job = self._index_work.pop(0)
            job()  # AuditLog._index: never raises

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for queued index work to finish (the server calls it on
        shutdown, so no index file is left half-written); whether it did."""
        with self._mutex:
            thread = self._indexer
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True
