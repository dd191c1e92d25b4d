"""Group commit: concurrent appends share fsyncs, stay chained, and fail closed together."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kmscli.audit.group import GroupCommitLog
from kmscli.audit.log import AuditLog, AuditWriteError, segments
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
    group = GroupCommitLog(log)
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
