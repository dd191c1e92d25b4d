"""A long-lived writer remembers the tail it wrote; every change by anyone else is still noticed."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmscli.audit import log as audit_log
from kmscli.audit.log import AuditLog, AuditLogDamagedError, AuditTamperError, segments
from kmscli.audit.verify import verify_log

KEY = b"k" * 32


def _writer(folder: Path, *, settled: bool = True, **kwargs: Any) -> tuple[AuditLog, list[int]]:
    """An AuditLog that counts its full tail reads (list, read and parse the last line, read the head)."""
    log = AuditLog(folder, KEY, **kwargs)
    if settled:  # the folder counts as settled at once, as it does a second after its last change
        log.settled_ns = -(10**15)
    full: list[int] = []
    tail = log._tail

    def counted(opened: Any, newest: str | None = None) -> tuple[str, int, str]:
        full.append(1)
        return tail(opened, newest)

    log._tail = counted  # type: ignore[method-assign,assignment]
    return log, full


def _count_listings(monkeypatch: Any) -> list[int]:
    """One entry per listing of the folder (``survey``) from now on."""
    listed: list[int] = []
    survey = audit_log.survey

    def counted(folder: Any) -> Any:
        listed.append(1)
        return survey(folder)

    monkeypatch.setattr(audit_log, "survey", counted)
    return listed


def _segment(folder: Path) -> Path:
    return Path(segments(folder)[-1])


def test_an_unchanged_log_is_not_read_again_and_the_chain_verifies(tmp_path: Path) -> None:
    log, full = _writer(tmp_path)
    for i in range(5):
        log.append({"eventName": "Encrypt", "n": i})
    assert len(full) == 1, "only the first append reads the tail"
    assert verify_log(tmp_path, KEY).ok


def test_an_unsettled_folder_is_listed_at_every_append(tmp_path: Path, monkeypatch: Any) -> None:
    log, full = _writer(tmp_path, settled=False)  # a folder changed within the last second
    listed = _count_listings(monkeypatch)
    for i in range(3):
        log.append({"n": i})
    assert len(full) == 1 and len(listed) == 3
    assert log._held is None


def test_appends_by_another_writer_are_continued(tmp_path: Path, monkeypatch: Any) -> None:
    log, full = _writer(tmp_path)
    listed = _count_listings(monkeypatch)
    other = AuditLog(tmp_path, KEY)  # the CLI, say
    log.append({"n": 1})
    other.append({"n": 2})
    assert log.append({"n": 3})["sequence"] == 3
    other.append({"n": 4})
    other.append({"n": 5})
    before = len(listed)
    assert log.append({"n": 6})["sequence"] == 6
    assert len(full) == 3
    assert len(listed) == before, "the folder is unchanged since its listing: only the last line is read"
    assert verify_log(tmp_path, KEY).ok


def test_a_log_cut_between_two_appends_is_refused(tmp_path: Path) -> None:
    log, _ = _writer(tmp_path)
    for i in range(3):
        log.append({"n": i})
    seg = _segment(tmp_path)
    lines = seg.read_bytes().splitlines(keepends=True)
    seg.write_bytes(b"".join(lines[:-1]))  # the same file, one line shorter
    with pytest.raises(AuditTamperError, match="cut off its end"):
        log.append({"n": 9})
    assert seg.read_bytes() == b"".join(lines[:-1])


def test_a_last_line_rewritten_in_place_with_the_same_size_and_times_is_refused(tmp_path: Path) -> None:
    log, _ = _writer(tmp_path)
    for i in range(3):
        log.append({"n": i})
    seg = _segment(tmp_path)
    data = seg.read_bytes()
    lines = data.splitlines(keepends=True)
    stamp = os.stat(seg)
    at = lines[-1].index(b'"chain":"') + len(b'"chain":"')
    flipped = b"0" if lines[-1][at : at + 1] != b"0" else b"1"
    forged = b"".join(lines[:-1]) + lines[-1][:at] + flipped + lines[-1][at + 1 :]
    assert len(forged) == len(data)
    with open(seg, "r+b") as fh:  # edited in place, same size, same times: only the bytes tell
        fh.write(forged)
    os.utime(seg, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    with pytest.raises(AuditTamperError, match="head record"):
        log.append({"n": 9})


def test_a_segment_replaced_by_an_older_copy_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    log, _ = _writer(folder)
    log.append({"n": 1})
    old = tmp_path / "old"
    shutil.copy2(_segment(folder), old)
    log.append({"n": 2})
    os.replace(old, _segment(folder))
    with pytest.raises(AuditTamperError, match="cut off its end"):
        log.append({"n": 3})


def test_a_forged_head_or_an_unreadable_last_line_is_refused(tmp_path: Path) -> None:
    log, _ = _writer(tmp_path)
    log.append({"n": 1})
    head = tmp_path / "head"
    head.write_bytes(b"x" * len(head.read_bytes()))
    with pytest.raises(AuditTamperError, match="not authentic"):
        log.append({"n": 2})
    log, _ = _writer(tmp_path / "b")
    log.append({"n": 1})
    seg = _segment(tmp_path / "b")
    seg.write_bytes(seg.read_bytes()[:-3] + b"?}\n")
    with pytest.raises(AuditLogDamagedError):
        log.append({"n": 2})


def test_a_file_added_to_a_settled_folder_is_refused(tmp_path: Path) -> None:
    log, _ = _writer(tmp_path)
    log.append({"n": 1})
    log.append({"n": 2})
    assert log._held is not None, "the settled folder is kept open"
    (tmp_path / "audit-999999.jsonl").write_bytes(b"")
    with pytest.raises(AuditTamperError, match="out of sequence"):
        log.append({"n": 3})


def test_a_folder_swapped_for_another_is_not_written_through_the_kept_one(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    log, _ = _writer(folder)
    log.append({"n": 1})
    log.append({"n": 2})
    folder.rename(tmp_path / "moved")
    (tmp_path / "moved").rename(folder.with_name("elsewhere"))
    shutil.copytree(tmp_path / "elsewhere", folder)  # the same files, in another folder
    assert log.append({"n": 3})["sequence"] == 3
    assert len((folder / "audit-000001.jsonl").read_bytes().splitlines()) == 3
    assert len((tmp_path / "elsewhere" / "audit-000001.jsonl").read_bytes().splitlines()) == 2


def test_a_torn_tail_left_by_another_writer_is_cut_and_recorded(tmp_path: Path) -> None:
    log, _ = _writer(tmp_path)
    log.append({"n": 1})
    with open(_segment(tmp_path), "ab") as fh:
        fh.write(b'{"torn')
    event = log.append({"n": 2})
    assert event["sequence"] == 3  # after the RepairAuditLog record
    assert b"RepairAuditLog" in _segment(tmp_path).read_bytes()
    assert verify_log(tmp_path, KEY).ok


def test_a_failed_write_forgets_the_tail(tmp_path: Path) -> None:
    log, full = _writer(tmp_path)
    log.append({"n": 1})

    def failing(fd: int) -> None:
        assert log._memo is not None and log._memo.sequence == 2, "left once the line was written"
        raise OSError(5, "Input/output error")

    log.fsync = failing
    with pytest.raises(audit_log.AuditWriteError):
        log.append({"n": 2})
    assert log._memo is None, "and forgotten when its fsync failed"
    log.fsync = os.fsync
    assert log.append({"n": 3})["sequence"] == 3  # the line that failed its fsync is on record
    assert len(full) == 2


def _open_fds(folder: Path) -> int:
    """Descriptors this process holds on files under ``folder``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(str(folder))
        except OSError:
            pass
    return count


def test_kept_descriptors_are_closed_when_the_tail_is_forgotten(tmp_path: Path) -> None:
    def open_fds() -> int:
        return _open_fds(tmp_path)

    log, _ = _writer(tmp_path / "a")
    for i in range(3):
        log.append({"n": i})
    assert open_fds() == 4, "the folder, the segment, the head file and the lock file"
    other = AuditLog(tmp_path / "a", KEY)
    for i in range(5):  # each of these makes the long-lived writer check afresh and reopen
        other.append({"o": i})
        log.append({"n": i})
    assert open_fds() <= 8, "four for each writer, none left over from the reopening"
    del log, other
    import gc

    gc.collect()
    assert open_fds() == 0


def test_a_replaced_lock_file_is_locked_by_name_again(tmp_path: Path) -> None:
    import fcntl

    from kmscli.vault import layout

    log, _ = _writer(tmp_path)
    log.append({"n": 1})
    log.append({"n": 2})
    assert log._lock is not None
    kept = os.fstat(log._lock[0]).st_ino
    lock = tmp_path / layout.LOCK
    (tmp_path / "new-lock").write_bytes(b"")
    os.replace(tmp_path / "new-lock", lock)  # another process now locks this file by its name
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the other process holds the new lock file
        writer = threading.Thread(target=log.append, args=({"n": 3},))
        writer.start()
        writer.join(0.2)
        assert writer.is_alive(), "the writer waits for the lock file that is there now"
    finally:
        os.close(fd)  # drops the lock
    writer.join(10)
    assert not writer.is_alive()
    assert log._lock is not None and os.fstat(log._lock[0]).st_ino == os.stat(lock).st_ino != kept
    assert verify_log(tmp_path, KEY).ok


def test_an_append_by_another_writer_during_the_fsync_is_not_remembered_over(tmp_path: Path) -> None:
    log, full = _writer(tmp_path)
    other = AuditLog(tmp_path, KEY)
    log.append({"n": 1})

    def fsync_while_another_appends(fd: int) -> None:
        log.fsync = os.fsync
        other.append({"o": 1})  # lands between this append's line and its head record
        os.fsync(fd)

    log.fsync = fsync_while_another_appends
    assert log.append({"n": 2})["sequence"] == 2
    assert log._memo is not None and log._memo.sequence == 2, "a memory of this append's own line"
    assert log.append({"n": 3})["sequence"] == 4, "which no longer ends the log: the tail is read"
    assert len(full) == 2
    assert verify_log(tmp_path, KEY).ok


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_share_the_parents_lock(tmp_path: Path) -> None:
    """`kmscli serve --workers` forks after the log was used: the kept lock descriptor would share
    its flock with the child, and both would append at once (a forked chain). The child opens its own."""
    log = AuditLog(tmp_path, KEY)
    log.append({"eventName": "Encrypt"})  # the lock file (and the tail) are now kept open
    _append_in_parent_and_child(log, tmp_path)


def _append_in_parent_and_child(log: AuditLog, folder: Path, rounds: int = 150) -> None:
    """Fork; parent and child each append ``rounds`` events at once; then one whole chain."""
    first = log._memo.sequence if log._memo is not None else 0
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            for _ in range(rounds):
                log.append({"eventName": "Decrypt"})
            code = 0
        finally:
            os._exit(code)
    for _ in range(rounds):
        log.append({"eventName": "Encrypt"})
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    report = verify_log(folder, KEY)
    assert report.ok, report
    events = [json.loads(line) for p in segments(folder) for line in Path(p).read_bytes().splitlines()]
    assert sorted(e["sequence"] for e in events) == list(range(1, first + 2 * rounds + 1))


def test_an_append_during_another_appends_fsync_continues_from_memory(tmp_path: Path) -> None:
    """Group commit keeps two batches in flight: the second takes the lock while the first waits
    for its fsync, before the first has written its head record. It continues from the memory the
    first left once its lines were written, and the head record stays right."""
    log, full = _writer(tmp_path)
    log.append({"n": 1})
    inner: list[int] = []

    def fsync_while_this_writer_appends_again(fd: int) -> None:
        log.fsync = os.fsync
        inner.append(log.append({"n": 3})["sequence"])  # lands before the outer head record
        os.fsync(fd)

    log.fsync = fsync_while_this_writer_appends_again
    assert log.append({"n": 2})["sequence"] == 2
    assert inner == [3]
    assert log.append({"n": 4})["sequence"] == 4
    assert len(full) == 1, "no append after the first read the tail"
    assert audit_log.read_head(tmp_path, KEY) == audit_log.Head(4, log._memo.chain if log._memo else "")
    assert verify_log(tmp_path, KEY).ok


def _siblings(folder: Path) -> tuple[AuditLog, list[int], AuditLog, list[int]]:
    """Two writers sharing one memory of the tail, as forked server workers do."""
    a, full_a = _writer(folder)
    a.share_with_forks()
    b, full_b = _writer(folder)
    b.shared = a.shared
    return a, full_a, b, full_b


def test_workers_continue_from_each_others_memory(tmp_path: Path, monkeypatch: Any) -> None:
    a, full_a, b, full_b = _siblings(tmp_path)
    a.append({"n": 1})
    a.append({"n": 2})  # the folder's listing checked once since its files were made
    listed = _count_listings(monkeypatch)
    for i in range(3, 12):
        assert (a if i % 3 else b).append({"n": i})["sequence"] == i
    assert len(full_a) == 1 and not full_b, "only the very first append read the tail"
    assert not listed
    assert verify_log(tmp_path, KEY).ok


def test_workers_sharing_memory_start_new_segments_in_turn(tmp_path: Path) -> None:
    """Segments sealed by either worker, also while the other's batch waits for its fsync."""
    a, full_a = _writer(tmp_path, segment_bytes=900)
    a.share_with_forks()
    b, full_b = _writer(tmp_path, segment_bytes=900)
    b.shared = a.shared

    def b_appends_during_the_fsync(fd: int) -> None:
        a.fsync = os.fsync
        b.append({"n": "inside", "pad": "z" * 300})
        os.fsync(fd)

    for i in range(12):
        if i == 5:
            a.fsync = b_appends_during_the_fsync
        (a if i % 2 else b).append({"n": i, "pad": "x" * 300})
    assert len(segments(tmp_path)) >= 4
    assert len(full_a) + len(full_b) == 1, "only the very first append read the tail"
    report = verify_log(tmp_path, KEY)
    assert report.ok, report


def test_workers_notice_a_writer_outside_the_server(tmp_path: Path) -> None:
    a, full_a, b, full_b = _siblings(tmp_path)
    a.append({"n": 1})
    b.append({"n": 2})
    AuditLog(tmp_path, KEY).append({"n": 3})  # the CLI: shares nothing
    assert a.append({"n": 4})["sequence"] == 4
    assert b.append({"n": 5})["sequence"] == 5
    assert len(full_a) == 2 and len(full_b) == 0, "a read the tail after the CLI; b took a's memory"
    assert verify_log(tmp_path, KEY).ok


def test_a_log_cut_after_a_siblings_append_is_refused(tmp_path: Path) -> None:
    a, _, b, _ = _siblings(tmp_path)
    a.append({"n": 1})
    a.append({"n": 2})
    b.append({"n": 3})
    seg = _segment(tmp_path)
    lines = seg.read_bytes().splitlines(keepends=True)
    seg.write_bytes(b"".join(lines[:-1]))  # b's line cut: the log is back to what a remembers
    with pytest.raises(AuditTamperError, match="cut off its end"):
        a.append({"n": 9})
    with pytest.raises(AuditTamperError, match="cut off its end"):
        b.append({"n": 9})


def test_a_shared_memory_too_large_or_unreadable_is_not_taken(tmp_path: Path) -> None:
    a, full_a, b, _ = _siblings(tmp_path)
    a.append({"n": 1})
    b.append({"pad": "x" * audit_log.SharedTail.SIZE})  # a line larger than the shared memory
    assert a.shared is not None and a.shared.get() is None
    assert a.append({"n": 3})["sequence"] == 3
    assert len(full_a) == 2, "a read the tail: there was no memory to share"
    a.shared._map[:4] = (40).to_bytes(4, "little")
    a.shared._map[4:44] = b"\xff" * 40  # not what put() writes
    assert a.shared.get() is None
    assert b.append({"n": 4})["sequence"] == 4
    assert verify_log(tmp_path, KEY).ok


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_workers_share_the_memory_and_keep_one_chain(tmp_path: Path) -> None:
    log, full = _writer(tmp_path)
    log.share_with_forks()
    log.append({"eventName": "StartServer"})
    _append_in_parent_and_child(log, tmp_path)
    assert len(full) == 1, "the parent never read the tail again, whatever the child appended"


@given(
    steps=st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from(["", "a", "b", "c"]), st.integers(0, 400)),
        min_size=1,
        max_size=25,
    ),
    segment_bytes=st.sampled_from([700, 1500, 64 * 1024]),
)
@settings(max_examples=60, deadline=None)
def test_any_interleaving_of_workers_and_the_cli_keeps_one_whole_chain(
    steps: list[tuple[str, str, int]], segment_bytes: int
) -> None:
    """Two workers sharing their memory (a, b) and the CLI (c) append in any order, one of them
    sometimes during another's fsync (two batches in flight, or two processes), across segment
    boundaries: every append continues the one chain, and the head never runs ahead of the log."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        a, _ = _writer(root, segment_bytes=segment_bytes)
        a.share_with_forks()
        b, _ = _writer(root, segment_bytes=segment_bytes)
        b.shared = a.shared
        c, _ = _writer(root, segment_bytes=segment_bytes)
        writers = {"a": a, "b": b, "c": c}
        expected = 0
        for who, inside, pad in steps:
            writer = writers[who]
            if inside:

                def fsync_with_an_append_inside(
                    fd: int, writer: AuditLog = writer, other: str = inside, pad: int = pad
                ) -> None:
                    if writer._mutex.locked():  # the full segment's fsync, under the lock: not then
                        os.fsync(fd)
                        return
                    writer.fsync = os.fsync
                    writers[other].append({"n": "inside", "pad": "y" * pad})
                    os.fsync(fd)

                writer.fsync = fsync_with_an_append_inside
                expected += 1
            expected += 1
            writer.append({"n": who, "pad": "x" * pad})
            writer.fsync = os.fsync
        report = verify_log(root, KEY)
        assert report.ok, report
        events = [json.loads(line) for p in segments(root) for line in Path(p).read_bytes().splitlines()]
        assert [e["sequence"] for e in events] == list(range(1, expected + 1))
        head = audit_log.read_head(root, KEY)
        assert head is not None and head.sequence <= expected


def test_out_of_descriptors_the_memory_is_skipped_and_nothing_leaks(tmp_path: Path, monkeypatch: Any) -> None:
    """A server out of descriptors (EMFILE) must not lose one for good at each append: a memory
    half made, or a sibling's memory half opened, closes what it opened."""
    a, _, b, _ = _siblings(tmp_path)
    a.append({"n": 1})
    a.append({"n": 2})
    held = _open_fds(tmp_path)
    dup = os.dup
    calls: list[int] = []

    def second_dup_fails(fd: int) -> int:
        calls.append(fd)
        if len(calls) % 2 == 0:
            raise OSError(24, "Too many open files")
        return dup(fd)

    monkeypatch.setattr(audit_log.os, "dup", second_dup_fails)
    for i in range(3, 6):
        assert a.append({"n": i})["sequence"] == i, "the append goes on without the memory"
    monkeypatch.setattr(audit_log.os, "dup", dup)
    assert calls and _open_fds(tmp_path) == held

    open_fd = audit_log.fs.VaultDir.open_fd

    def no_head(self: Any, rel: str, flags: int) -> Any:
        if rel == audit_log.HEAD_NAME:
            raise OSError(24, "Too many open files")
        return open_fd(self, rel, flags)

    before = _open_fds(tmp_path)
    monkeypatch.setattr(audit_log.fs.VaultDir, "open_fd", no_head)
    with pytest.raises(audit_log.AuditWriteError, match="Too many open files"):
        b.append({"n": "b"})  # b takes a's shared memory: the segment opens, the head does not
    monkeypatch.setattr(audit_log.fs.VaultDir, "open_fd", open_fd)
    assert _open_fds(tmp_path) <= before + 1, "b keeps at most its lock file, nothing half opened"
    assert b.append({"n": "b"})["sequence"] == 6
    assert verify_log(tmp_path, KEY).ok
