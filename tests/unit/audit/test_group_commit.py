"""Group commit: concurrent appends share fsyncs, stay chained, and fail closed together."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from kmscli.audit.group import GroupCommitLog
from kmscli.audit.log import AuditLog, AuditWriteError, read_head, segments
from kmscli.audit.verify import verify_log

KEY = b"k" * 32


def test_concurrent_appends_share_fsyncs_and_the_chain_verifies(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, KEY)
    fsyncs: list[int] = []
    gate = threading.Event()

    def slow_fsync(fd: int) -> None:  # the first fsync waits until everyone has queued
        fsyncs.append(fd)
        gate.wait(5)

    log.fsync = slow_fsync
    group = GroupCommitLog(log, max_in_flight=1)
    results: list[dict[str, object]] = []

    def writer(i: int) -> None:
        results.append(group.append({"eventName": "Encrypt", "n": i}))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    threads[0].start()
    while not fsyncs:  # the first writer leads and is inside its fsync
        threading.Event().wait(0.001)
    for t in threads[1:]:
        t.start()
    while len(group._queue) < 7:  # the seven others queued behind the leader
        threading.Event().wait(0.001)
    gate.set()
    for t in threads:
        t.join(10)
    assert len(results) == 8
    assert len(fsyncs) == 2, "the leader's batch and one batch for the seven that queued behind it"
    assert sorted(int(str(r["sequence"])) for r in results) == list(range(1, 9))
    report = verify_log(tmp_path, KEY)
    assert report.ok, report


def test_a_second_batch_is_written_while_the_first_waits_for_its_fsync(tmp_path: Path) -> None:
    """Two batches in flight: the disk is not left idle between fsyncs; a third waits for a slot,
    then takes everything queued meanwhile; every event is in exactly one batch, the chain verifies."""
    log = AuditLog(tmp_path, KEY)
    entered: list[int] = []
    gate = threading.Event()

    def slow_fsync(fd: int) -> None:  # the first two fsyncs wait until everyone else has queued
        entered.append(fd)
        if len(entered) <= 2:
            gate.wait(5)
        os.fsync(fd)

    log.fsync = slow_fsync
    group = GroupCommitLog(log, max_in_flight=2)
    results: list[dict[str, object]] = []

    def writer(i: int) -> None:
        results.append(group.append({"eventName": "Encrypt", "n": i}))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads[:2]:
        t.start()
        while len(entered) < threads.index(t) + 1:  # each of the first two leads a batch of one
            threading.Event().wait(0.001)
    written = [json.loads(line) for line in Path(segments(str(tmp_path))[0]).read_bytes().splitlines()]
    assert [e["sequence"] for e in written] == [1, 2], "the second batch was written meanwhile"
    for t in threads[2:]:
        t.start()
    while len(group._queue) < 6:
        threading.Event().wait(0.001)
    gate.set()
    for t in threads:
        t.join(10)
    assert len(results) == 8
    assert group.batches == 3 and len(entered) == 3, "the six that queued went in one batch"
    assert sorted(int(str(r["sequence"])) for r in results) == list(range(1, 9))
    assert verify_log(tmp_path, KEY).ok


def test_a_failed_batch_fails_every_caller_in_it(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, KEY)

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    log.fsync = broken
    group = GroupCommitLog(log)
    with pytest.raises(AuditWriteError, match="Input/output error"):
        group.append({"eventName": "Encrypt"})
    log.fsync = lambda fd: None
    assert group.append({"eventName": "Decrypt"})["eventName"] == "Decrypt"  # leadership was handed back
    assert segments(str(tmp_path))


def test_the_wrapper_exposes_the_logs_other_attributes(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, KEY)
    group = GroupCommitLog(log)
    assert group.folder == log.folder and group.key == KEY and group.repair == log.repair


def test_another_writer_appends_while_a_batch_is_being_synced(tmp_path: Path) -> None:
    """The fsync runs outside the log's lock: a second writer (another server worker, the CLI)
    appends meanwhile instead of queueing behind it; the head never names a line not yet synced."""
    first, second = AuditLog(tmp_path, KEY), AuditLog(tmp_path, KEY)
    seen: dict[str, object] = {}

    def fsync_with_a_writer_inside(fd: int) -> None:
        first.fsync = os.fsync  # only the first call interleaves
        seen["head during fsync"] = read_head(tmp_path, KEY)
        done = threading.Event()

        def other() -> None:
            seen["second"] = second.append({"eventName": "Decrypt"})
            done.set()

        threading.Thread(target=other, daemon=True).start()
        assert done.wait(10), "the second writer was blocked by the first one's fsync"
        os.fsync(fd)

    first.append({"eventName": "Encrypt"})
    first.fsync = fsync_with_a_writer_inside
    third = first.append({"eventName": "Encrypt"})
    assert seen["head during fsync"] is not None
    assert seen["head during fsync"].sequence == 1  # type: ignore[attr-defined]
    assert third["sequence"] == 2 and seen["second"]["sequence"] == 3  # type: ignore[index]
    head = read_head(tmp_path, KEY)
    assert head is not None and head.sequence in (2, 3)  # an older head is allowed, never a newer
    report = verify_log(tmp_path, KEY)
    assert report.ok, report


def test_a_full_segment_is_synced_before_the_next_one_is_written(tmp_path: Path) -> None:
    """A writer that starts the next segment first syncs the full one: lines another writer wrote
    there and has not synced yet must never be overtaken by a durable new segment."""
    first = AuditLog(tmp_path, KEY, segment_bytes=700)
    second = AuditLog(tmp_path, KEY, segment_bytes=700)
    synced_by_second: list[str] = []

    def record(fd: int) -> None:
        synced_by_second.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        os.fsync(fd)

    second.fsync = record

    def first_fsync(fd: int) -> None:  # before the first writer syncs, the second one rolls over
        first.fsync = os.fsync
        second.append({"eventName": "Decrypt", "pad": "y" * 400})
        os.fsync(fd)

    first.append({"eventName": "Encrypt", "pad": "x" * 100})
    first.fsync = first_fsync
    first.append({"eventName": "Encrypt", "pad": "x" * 100})
    names = [os.path.basename(p) for p in segments(tmp_path)]
    assert len(names) == 2
    assert synced_by_second == names, "the full segment first, then the new one"
    assert verify_log(tmp_path, KEY).ok


def test_index_work_runs_on_its_own_thread_and_drain_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the server no request waits for an index build: the append returns while it runs, and
    shutdown (``drain``) waits for it, so no index file is left half-written."""
    from kmscli.audit import log as audit_log

    monkeypatch.setattr(audit_log, "INDEX_PART_BYTES", 1000)
    started, release = threading.Event(), threading.Event()
    threads: list[str] = []

    def indexer(segment: str, key: bytes) -> None:
        threads.append(threading.current_thread().name)
        started.set()
        release.wait(10)

    group = GroupCommitLog(AuditLog(tmp_path, KEY, indexer=indexer))
    for i in range(3):  # the third crosses the 1000-byte mark
        group.append({"eventName": "Encrypt", "n": i, "pad": "x" * 400})
    assert started.wait(5)
    assert not release.is_set()  # the append above returned while the index build still runs
    assert group.drain(0.05) is False
    group.append({"eventName": "Encrypt", "n": 3})  # appends go on meanwhile
    release.set()
    assert group.drain(5) is True
    assert threads and all(name == "kmscli-audit-index" for name in threads)
    assert group.drain(0) is True  # nothing queued: returns at once


def test_a_thread_left_from_before_a_fork_does_not_swallow_index_work(tmp_path: Path) -> None:
    """A forked server worker inherits the parent's record of an indexing thread that does not run
    in the child: new work starts a thread of the child's own."""
    group = GroupCommitLog(AuditLog(tmp_path, KEY))
    gone = threading.Thread(target=lambda: None)
    gone.start()
    gone.join()
    group._indexer = gone  # what a child sees of the parent's thread: recorded, not alive
    ran = threading.Event()
    group.log.index_runner(ran.set)  # type: ignore[misc]
    assert ran.wait(5)
    assert group.drain(5) is True


def test_unwrap_gives_the_log_back_its_own_index_work(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, KEY)
    group = GroupCommitLog(log)
    assert log.index_runner is not None
    assert group.unwrap() is log
    assert log.index_runner is None
