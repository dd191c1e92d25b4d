"""Appending to the chained, segmented JSON-lines log under ``VAULT/audit/``."""

from __future__ import annotations

import _thread
import contextlib
import fcntl
import json
import marshal
import mmap
import os
import stat
import weakref
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NamedTuple

from kmscli.audit import chain
from kmscli.crypto import primitives
from kmscli.errors import EXIT_ENVIRONMENT, KmscliError
from kmscli.vault import fs, layout

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
#: The newest segment's sidecar index is brought up to date each time it grows past a multiple of this.
INDEX_PART_BYTES = 8 * 1024 * 1024
#: The last number the six-digit segment name can hold; the log is full after it (64 TiB by default).
MAX_SEGMENT = 999_999
#: The file recording the newest event's sequence and chain value (docs/audit.md, "Head record").
HEAD_NAME = "head"
#: Files that may sit next to the segments in an audit folder; anything else is reported as tamper.
AUX_NAMES = {layout.LOCK, HEAD_NAME}
#: A segment's sidecar index (kmscli.audit.index) and the temp file its atomic write may leave.


class AuditWriteError(KmscliError):
    """The event could not be written (a full disk, a read-only folder...): the operation fails
    closed and prints no result; an environment problem, exit 253."""

    exit_code = EXIT_ENVIRONMENT


class AuditLogDamagedError(AuditWriteError):
    """The log's last record cannot be read (edited, or nested too deeply to parse): tamper, exit 253."""

    exit_code = EXIT_ENVIRONMENT


class AuditTamperError(AuditWriteError):
    """The audit folder was tampered with (a file renamed, removed, added or cut): exit 253."""

    exit_code = EXIT_ENVIRONMENT


def segment_name(number: int) -> str:
    """File name of segment ``number`` (1..MAX_SEGMENT)."""
    if not 1 <= number <= MAX_SEGMENT:
        raise AuditWriteError(f"the audit log is full: no segment number after {MAX_SEGMENT}")
    return f"audit-{number:06d}.jsonl"


_SEGMENT_PREFIX = "audit-"
_SEGMENT_SUFFIX = ".jsonl"
_INDEX_SUFFIX = ".jsonl.idx"
_HEX = frozenset("0123456789abcdef")


def _six_digits(text: str) -> bool:
    return len(text) == 6 and text.isascii() and text.isdigit()


def segment_number(name: str) -> int | None:
    """The number of a segment's file name (``audit-000042.jsonl``: 42), None for any other name.
    The one reading of segment names (writer, survey, verify), written out: exact, so neither a
    trailing newline nor another script's digits pass as a segment (a regex's ``$`` and ``\\d``
    let both through), and no regex is compiled on every query's start."""
    if len(name) == 18 and name.startswith(_SEGMENT_PREFIX) and name.endswith(_SEGMENT_SUFFIX):
        digits = name[6:12]
        if _six_digits(digits):
            return int(digits)
    return None


def is_index_file(name: str) -> bool:
    """Whether ``name`` is a segment's sidecar index (``audit-000042.jsonl.idx``) or one being
    written (``.tmp-audit-000042.jsonl.idx-<12 hex digits>``)."""
    if name.startswith(fs.TEMP_PREFIX):
        name, dash, tail = name[len(fs.TEMP_PREFIX) :].rpartition("-")
        if not dash or len(tail) != 12 or not _HEX.issuperset(tail):
            return False
    return (
        len(name) == 22
        and name.startswith(_SEGMENT_PREFIX)
        and name.endswith(_INDEX_SUFFIX)
        and _six_digits(name[6:12])
    )


def survey(folder: fs.StrPath | fs.VaultDir) -> tuple[list[str], list[str]]:
    """(segment paths in order, problems) of an audit folder.

    Segments must be numbered 1, 2, 3 ... without a gap; a name outside that, or any other file but
    :data:`AUX_NAMES` and sidecar indexes (:func:`is_index_file`), is a problem: the writer never makes one, so someone renamed, removed or
    added a file (an ``audit-999999.jsonl`` would otherwise hide every later event).
    """
    if isinstance(folder, fs.VaultDir):
        names, base = folder.listdir(), folder.path
    else:
        base = fs.pathstr(folder)
        try:
            names = os.listdir(base)
        except FileNotFoundError:
            return [], []
    found: list[tuple[int, str]] = []
    problems: list[str] = []
    for name in sorted(names):
        if (number := segment_number(name)) is not None:
            found.append((number, name))
        elif name not in AUX_NAMES and not is_index_file(name):
            problems.append(f"unexpected file {fs.join(base, name)} in the audit folder")
            continue
        if name not in AUX_NAMES and (kind := _not_regular(folder, base, name)):
            # readers open segments and indexes by path: a link would be followed, a FIFO would hang
            problems.append(f"{fs.join(base, name)} is {kind}, not an audit log file the writer makes")
    found.sort()
    for expected, (number, name) in enumerate(found, 1):
        if number != expected:
            problems.append(
                f"segment {fs.join(base, name)} is out of sequence: {segment_name(expected)} was "
                "expected (segments renamed or removed)"
            )
            break
    return [fs.join(base, name) for _, name in found], problems


def _not_regular(folder: fs.StrPath | fs.VaultDir, base: str, name: str) -> str | None:
    """What the entry ``name`` is when it is not a regular file (a link is not followed), else None."""
    try:
        info = folder.lstat(name) if isinstance(folder, fs.VaultDir) else os.lstat(fs.join(base, name))
    except FileNotFoundError:  # removed since the listing: the reader that opens it says so
        return None
    return None if info is None or stat.S_ISREG(info.st_mode) else fs.file_kind(info.st_mode)


def segments(folder: fs.StrPath | fs.VaultDir) -> list[str]:
    """Every segment in order (paths as ``str(Path(folder) / name)`` prints); never skips a file:
    an unexpected name or a gap in the numbering raises :class:`AuditTamperError` (exit 253)."""
    paths, problems = survey(folder)
    if problems:
        raise AuditTamperError(f"{problems[0]}; run `kmscli audit verify`")
    return paths


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


def _no_fsync(fd: int) -> None:
    """The segment's fsync, left to the caller (made after the lock is released)."""


# -- the head record: the newest event's sequence and chain value, so a cut log is noticed -------------
#: Two fixed-size slots, written alternately (by sequence parity): a write torn by a crash spoils only
#: the slot being written, and the other still holds the previous head.
HEAD_SLOT = 256


class Head(NamedTuple):
    """The newest event the log is known to have reached."""

    sequence: int
    chain: str


def _head_input(sequence: int, value: str) -> bytes:
    return b"kmscli audit head\0%d\0%s" % (sequence, value.encode())


def _head_slot(key: bytes, sequence: int, value: str) -> tuple[int, bytes]:
    """Where the head record of ``sequence`` goes and its bytes."""
    mac = primitives.hmac_sha256(key, _head_input(sequence, value)).hex()
    doc = {"sequence": sequence, "chain": value, "mac": mac}
    return (sequence % 2) * HEAD_SLOT, json.dumps(doc, separators=(",", ":")).encode().ljust(
        HEAD_SLOT - 1
    ) + b"\n"


def _patched(current: bytes | None, offset: int, slot: bytes) -> bytes | None:
    """The head file's bytes after ``slot`` is written at ``offset`` (None when not known)."""
    if current is None or len(current) != 2 * HEAD_SLOT:
        return None
    return current[:offset] + slot + current[offset + HEAD_SLOT :]


def write_head(
    folder: fs.VaultDir, key: bytes, sequence: int, value: str, current: bytes | None = None
) -> tuple[bytes | None, os.stat_result]:
    """Record ``sequence`` as the newest event, after its line is durable (no fsync: a lost update
    only leaves an older head, which the log still extends; the head never runs ahead of the log).

    ``current``: the head file's bytes as just checked (None: unknown, or no head file). Returns
    the file's bytes after the write (None when they are not known) and its ``fstat``."""
    offset, slot = _head_slot(key, sequence, value)
    if current is None and folder.lstat(HEAD_NAME) is None:  # created whole: the other slot blank
        data = (b"\0" * HEAD_SLOT + slot) if offset else (slot + b"\0" * HEAD_SLOT)
        return data, folder.append_stat(HEAD_NAME, data)[1]
    info = folder.write_at(HEAD_NAME, offset, slot)  # through the descriptor, no link followed
    return _patched(current, offset, slot), info


def read_head(folder: fs.StrPath | fs.VaultDir, key: bytes) -> Head | None:
    """The newest authentic head slot; None when there is no head file (a log older than it), or
    when its only written slot was torn by a crash (``require_head`` then decides).

    A head file whose two written slots both fail their MAC was forged or damaged on purpose (a
    crash spoils at most one): :class:`AuditTamperError`.
    """
    if not isinstance(folder, fs.VaultDir):
        try:
            with fs.VaultDir.open(folder) as opened:
                return read_head(opened, key)
        except FileNotFoundError:
            return None
    return _read_head(folder, key)[0]


def _read_head(folder: fs.VaultDir, key: bytes) -> tuple[Head | None, bytes | None]:
    """:func:`read_head`, and the head file's bytes as read (None: no head file)."""
    try:
        data = raw = folder.read(HEAD_NAME, limit=2 * HEAD_SLOT)
    except FileNotFoundError:
        return None, None
    except ValueError:
        data = b"x" * (2 * HEAD_SLOT)  # oversized: not what the writer makes
        raw = None
    best: Head | None = None
    for start in (0, HEAD_SLOT):
        try:
            doc = json.loads(data[start : start + HEAD_SLOT])
            head = Head(int(doc["sequence"]), str(doc["chain"]))
        except (ValueError, KeyError, TypeError):
            continue
        if primitives.hmac_sha256_matches(key, _head_input(*head), doc.get("mac")):
            best = head if best is None or head.sequence > best.sequence else best
    slots = (data[:HEAD_SLOT], data[HEAD_SLOT : 2 * HEAD_SLOT])
    if best is None and all(slot.strip(b"\0") for slot in slots):  # a never-written slot is blank
        raise AuditTamperError(
            f"the audit head record {folder.name(HEAD_NAME)} is not authentic; run `kmscli audit verify`"
        )
    return best, raw


def check_head(
    folder: fs.VaultDir, key: bytes, sequence: int, value: str, *, required: bool = False
) -> bytes | None:
    """Refuse to append to a log that ends before its head record: events were cut off its end or
    its newest segment was removed (docs/audit.md, "Head record"). ``required`` (the vault state
    names a commit): a log with no head record, or no events at all, was tampered with too. Returns the head file's bytes as checked (None: none)."""
    head, raw = _read_head(folder, key)
    if head is None and required and not sequence:
        # the vault state names a commit, so its event is in this log: the log was removed
        raise AuditTamperError(
            f"the audit log in {folder.path} is empty, but the vault records changes it logged: the "
            "log was removed or emptied; restore it from a backup; run `kmscli audit verify`"
        )
    if head is None and required:
        raise AuditTamperError(
            f"the audit head record {folder.name(HEAD_NAME)} was removed; run `kmscli audit verify`"
        )
    if head is not None and (head.sequence > sequence or (head.sequence == sequence and head.chain != value)):
        raise AuditTamperError(
            f"the audit log in {folder.path} ends at sequence {sequence} but its head record says "
            f"{head.sequence}: events were cut off its end or its newest segment was removed; "
            "run `kmscli audit verify`"
        )
    return raw


class _Tail:
    """What one AuditLog wrote last, so its next append under the lock can check the log is still
    exactly that (the end of the newest segment and the head file, byte for byte) instead of
    listing, re-reading and parsing it (docs/audit.md, "The writer's memory of the tail")."""

    __slots__ = (
        "chain",
        "folder",
        "head",
        "head_fd",
        "head_stamp",
        "name",
        "segment_fd",
        "sequence",
        "stamp",
        "tail",
    )

    def __init__(
        self,
        name: str,
        stamp: fs.Stamp,
        tail: bytes,
        sequence: int,
        chain: str,
        head: bytes,
        head_stamp: fs.Stamp,
        folder: fs.Stamp | None,
    ) -> None:
        self.name = name
        self.stamp = stamp
        #: The segment's last line with the newline before it (when there is one) and after it.
        self.tail = tail
        self.sequence = sequence
        self.chain = chain
        self.head = head
        self.head_stamp = head_stamp
        #: The folder's stamp when its listing was last checked and it had settled; None: list it.
        self.folder = folder
        #: The segment (read and append) and the head file (read and write) kept open: used only
        #: under the log's lock, after a ``stat`` of their names showed the same unchanged files.
        self.segment_fd = -1
        self.head_fd = -1

    def close(self) -> None:
        """Close the descriptors kept open (the memo is forgotten)."""
        _close_all((self.segment_fd, self.head_fd))
        self.segment_fd = self.head_fd = -1


class SharedTail:
    """The newest append's memory of the tail (a :class:`_Tail` without descriptors), kept in
    memory shared by ``kmscli serve``'s forked worker processes: each worker appends to the same
    log, and without it every worker found its own memory outdated by a sibling's append and read
    the last line and the head again. It is written under the log's exclusive lock by whichever
    process appended (once the lines are written, again once the head record is), and read under
    that lock; a worker takes it only after checking the files against it exactly as against its
    own memory (both stamps, the last line and the head file's bytes). Only the server's own
    processes can write this memory (an anonymous shared mapping, inherited through ``fork``), so
    what it says of the chain (the sequence and chain value at that end) stands as a worker's own
    memory does; anything that changed the files since makes the check fail and the append read
    the tail. A memory too large for the mapping is not shared."""

    SIZE = 256 * 1024

    def __init__(self) -> None:
        self._map = mmap.mmap(-1, self.SIZE)  # anonymous and MAP_SHARED: one memory after fork

    def put(self, memo: _Tail | None) -> None:
        data = b""
        if memo is not None:
            data = marshal.dumps(
                (
                    memo.name,
                    memo.stamp,
                    memo.tail,
                    memo.sequence,
                    memo.chain,
                    memo.head,
                    memo.head_stamp,
                    memo.folder,
                )
            )
            if len(data) > self.SIZE - 4:
                data = b""
        self._map[4 : 4 + len(data)] = data
        self._map[:4] = len(data).to_bytes(4, "little")

    def get(self) -> _Tail | None:
        size = int.from_bytes(self._map[:4], "little")
        if not 0 < size <= self.SIZE - 4:
            return None
        try:
            name, stamp, tail, sequence, value, head, head_stamp, folder = marshal.loads(
                self._map[4 : 4 + size]
            )
        except (ValueError, EOFError, TypeError):
            return None
        return _Tail(name, stamp, tail, sequence, value, head, head_stamp, folder)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        view = view[os.pwrite(fd, view, offset + len(data) - len(view)) :]


def _close_all(fds: tuple[int, ...]) -> None:
    for fd in fds:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


class _Locked:
    """One append in progress: where the log ends under the lock (segment name, size when known,
    sequence, chain value), the head file's bytes as checked, the folder's stamp at the start; then
    what this append wrote (segment, its size after, the last line) and the descriptors it holds."""

    __slots__ = (
        "dir",
        "end",
        "folder",
        "head",
        "head_fd",
        "head_stamp",
        "index_jobs",
        "name",
        "prev",
        "provisional",
        "segment_fd",
        "seq",
        "size",
        "tail",
    )

    def __init__(self, folder: fs.VaultDir, dir_stamp: fs.Stamp) -> None:
        self.folder = folder
        self.dir = dir_stamp
        #: Segments (paths) whose index this append brought due: built once the lock is released.
        self.index_jobs: list[str] = []
        self.name = ""
        self.seq = 0
        self.prev = ""
        self.size: int | None = None
        self.head: bytes | None = None
        self.end = 0
        self.tail = b""
        #: Descriptors this append holds (-1: none): the remembered ones while they still hold,
        #: else the segment opened where the lines went; handed on to the next memory, or closed.
        self.segment_fd = -1
        self.head_fd = -1
        #: The head file's stamp when its bytes (``head``) were checked through ``head_fd``.
        self.head_stamp: fs.Stamp | None = None
        #: The memory this append left once its lines were written, before their fsync
        #: (:meth:`AuditLog._remember_in_flight`); None when it left none.
        self.provisional: _Tail | None = None

    def close(self) -> None:
        """Close the descriptors not handed on."""
        _close_all((self.segment_fd, self.head_fd))
        self.segment_fd = self.head_fd = -1


#: Every AuditLog of this process, for :func:`_after_fork_in_child`.
_LIVE: weakref.WeakSet[AuditLog] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for log in list(_LIVE):
        log._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class AuditLog:
    """Writer for one vault's log. ``append`` is safe across processes (it takes its own lock)."""

    def __init__(
        self,
        folder: fs.StrPath,
        audit_key: bytes,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        *,
        vault: fs.VaultDir | None = None,
        indexer: Callable[[str, bytes], None] | None = None,
    ) -> None:
        """``folder`` is the log's folder; ``vault``, when given, is the vault folder holding it as
        ``audit/``, which is then reached through the vault's descriptor without following links.
        ``indexer`` brings a segment's sidecar index up to date (:func:`kmscli.audit.index.write`);
        whoever opens a vault's log gives it, so this module does not import the index."""
        self.indexer = indexer
        self.folder = fs.pathstr(folder)
        self.vault = vault
        self.key = audit_key
        self.segment_bytes = segment_bytes
        self.pending_repair: dict[str, Any] | None = None
        #: How a segment is made durable (injectable: the serve benchmark's slow-disk hook wraps it).
        self.fsync: Callable[[int], None] = os.fsync
        #: How index work runs once an append is over: None builds it then, in the appending
        #: thread; a long-lived writer (the server's GroupCommitLog) hands it to a thread of its own.
        self.index_runner: Callable[[Callable[[], None]], None] | None = None
        #: Whether a missing head record is tamper (set for vaults that keep authenticated state).
        self.require_head = False
        self._torn: list[tuple[str, int]] = []
        self._memo: _Tail | None = None
        #: How long the folder must have been unchanged before its stamp stands for its listing
        #: (:data:`kmscli.vault.fs.SETTLED_NS`; tests shorten it instead of waiting).
        self.settled_ns = fs.SETTLED_NS
        #: The log folder kept open between appends while it is unchanged (see _folder_for_append).
        self._held: fs.VaultDir | None = None
        #: The lock file kept open, with its stamp (see _exclusive); appends of this object's
        #: threads take ``_mutex`` first (one open file's flock does not order them).
        self._lock: tuple[int, fs.Stamp] | None = None
        self._mutex = _thread.allocate_lock()
        #: The memory shared with forked server workers (:meth:`share_with_forks`), or None.
        self.shared: SharedTail | None = None
        _LIVE.add(self)

    def share_with_forks(self) -> None:
        """Keep the memory of the tail where processes forked from this one share it
        (:class:`SharedTail`); ``kmscli serve --workers N`` calls it before forking."""
        self.shared = SharedTail()

    def _forget_after_fork(self) -> None:
        """In a forked child (``kmscli serve --workers``): drop everything kept open. An inherited
        lock descriptor shares its open file, and so its ``flock``, with the parent and every
        sibling, which would then no longer exclude each other; so the child closes its copies
        (the parent's stay open) and opens its own at its next append."""
        memo, self._memo = self._memo, None
        if memo is not None:
            memo.close()
        lock, self._lock = self._lock, None
        if lock is not None:
            with contextlib.suppress(OSError):
                os.close(lock[0])
        self._held = None
        self._mutex = _thread.allocate_lock()

    def __del__(self) -> None:
        memo = getattr(self, "_memo", None)
        if memo is not None:
            memo.close()
        lock = getattr(self, "_lock", None)
        if lock is not None:
            with contextlib.suppress(OSError):
                os.close(lock[0])

    def _open_folder(self) -> fs.VaultDir:
        """The log folder, created 0700 if missing; a link or special file there is refused."""
        if self.vault is not None:
            return self.vault.subdir(layout.AUDIT, create=True)
        return fs.VaultDir.open(self.folder, create=True)

    @contextlib.contextmanager
    def _folder_for_append(self, at: _Locked | None = None) -> Iterator[fs.VaultDir]:
        """The log folder: the one the last append kept open, while the name still leads to that
        folder unchanged since its listing was checked (its stamp, taken once it had settled),
        else opened and checked afresh. A kept folder is never closed here (another thread may
        be using it): it is closed when the last reference to it goes. ``at``: an append's second
        step, which reuses the folder of its first while it is unchanged since then."""
        memo = self._memo
        expected: fs.Stamp | None
        held: fs.VaultDir | None
        if at is not None:
            expected, held = at.dir, (at.folder if at.folder.fd >= 0 else None)
        else:
            expected, held = (memo.folder if memo is not None else None), self._held
        if expected is not None and held is not None:
            try:
                if self.vault is not None:
                    info = os.stat(layout.AUDIT, dir_fd=self.vault.fd, follow_symlinks=False)
                else:
                    info = os.stat(self.folder)
            except OSError:
                info = None
            if info is not None and fs.stamp(info) == expected:
                yield held
                return
        folder = self._open_folder()
        try:
            yield folder
        finally:
            if self._held is not folder:
                folder.close()

    def _tail(self, folder: fs.VaultDir, newest: str | None = None) -> tuple[str, int, str]:
        """Current segment name, last sequence number and last chain value; notes a torn tail
        (which :meth:`_check_head` cuts). ``newest``: the newest segment's name, known from a
        listing checked before of a folder unchanged since (a non-empty segment is read alone)."""
        if newest is not None:
            with folder.open_read(newest) as fh:
                line, torn = _last_line(fh)
            if line is not None:
                if torn:
                    self._torn.append((newest, torn))
                try:
                    last = fs.loads(line)
                    return newest, int(last["sequence"]), str(last["chain"])
                except (ValueError, KeyError, TypeError):
                    raise AuditLogDamagedError(
                        f"the audit log's last line in {folder.name(newest)} is unreadable; "
                        "run `kmscli audit verify`"
                    ) from None
        names = [os.path.basename(p) for p in segments(folder)]
        if not names:
            return segment_name(1), 0, chain.genesis(self.key)
        for name in reversed(names):
            with folder.open_read(name) as fh:
                line, torn = _last_line(fh)
            if torn:
                self._torn.append((name, torn))
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

    def _check_head(self, folder: fs.VaultDir, seq: int, prev: str) -> bytes | None:
        """The log must reach its head record (see :func:`check_head`); only then is a torn tail
        cut, so a line cut short on purpose stays for `audit verify` to show. Returns the head
        file's bytes as checked."""
        torn, self._torn = self._torn, []
        raw = check_head(folder, self.key, seq, prev, required=self.require_head)
        for name, size in torn:
            with folder.open_update(name) as fh:  # cut through the descriptor, never the path
                fh.truncate(os.fstat(fh.fileno()).st_size - size)
                os.fsync(fh.fileno())
            self.pending_repair = {"file": name, "removedBytes": size}
        return raw

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

    def _put(self, at: _Locked, lines: list[dict[str, Any]], *, sync: bool) -> None:
        """Append ``lines`` to the newest segment (sealing it and starting the next when it is
        full), under the lock; ``sync=False`` leaves the segment's fsync to the caller, who makes
        it through ``at.segment_fd`` after releasing the lock (:meth:`append_many`)."""
        folder, name = at.folder, at.name
        data = b"".join(
            json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for e in lines
        )
        if at.size is None:
            info = folder.lstat(name)
            at.size = info.st_size if info is not None else None
        sealed = None
        before = at.size or 0
        if at.size is not None and at.size + len(data) > self.segment_bytes:
            number = segment_number(name)
            sealed, name = name, segment_name(number + 1 if number is not None else 1)
            before = 0
        if at.segment_fd >= 0 and sealed is None:  # the files checked unchanged: their descriptors
            fs.write_whole(at.segment_fd, data)
            if sync:
                self.fsync(at.segment_fd)
        else:
            at.close()
            if sealed is not None:
                # lines another writer appended and has not yet synced must be durable before any
                # line of the next segment can be: a crash must never leave a gap between segments
                with folder.open_read(sealed) as fh:
                    self.fsync(fh.fileno())
            # no link followed; a new segment's folder entry is flushed here, under the lock
            folder.append(name, data, fsync=self.fsync if sync else _no_fsync)
            at.segment_fd = folder.open_fd(name, os.O_RDWR | os.O_APPEND)[0]
        crossed = before // INDEX_PART_BYTES != (before + len(data)) // INDEX_PART_BYTES
        if self.indexer is not None and (sealed is not None or crossed):
            if sealed is not None:
                at.index_jobs.append(folder.name(sealed))
            if before + len(data) >= INDEX_PART_BYTES:
                at.index_jobs.append(folder.name(name))
        at.name, at.end = name, before + len(data)
        # the last line, with the newline before it: the file ended with one (or was empty) before
        # this write, since a torn tail is cut first (a wrong guess only costs the full check later)
        cut = data.rfind(b"\n", 0, len(data) - 1)
        at.tail = data[cut:] if cut >= 0 else (b"\n" + data if before else data)

    def _finish(self, at: _Locked, folder: fs.VaultDir, seq: int, prev: str) -> None:
        """Under the lock, once the lines are durable: write the head record, and remember the
        tail for the next append when the log is still exactly what this append left. The memory
        this append left before its fsync stays when another writer appended meanwhile (the next
        append then fails to find the log unchanged, and reads the tail without listing the folder
        while its stamp is still the one this memory holds); when this fails, ``append_many``
        forgets it."""
        known = None
        #: The memory of this process's newest append: this one's own (left before its fsync), or
        #: that of a later append that took the lock meanwhile (group commit), or None.
        newer = self._memo
        #: ... and that of the newest append of any worker of this server (``SharedTail``).
        shared = self.shared.get() if self.shared is not None else None
        views = [view for view in (newer, shared) if view is not None]
        same: fs.Stamp | None = None
        if at.head_fd < 0 and at.head is not None:
            with contextlib.suppress(FileNotFoundError):
                at.head_fd = folder.open_fd(HEAD_NAME, os.O_RDWR)[0]
        if at.head_fd >= 0 and at.head is not None:  # the head file as checked, still there?
            same = fs.stamp(os.stat(HEAD_NAME, dir_fd=folder.fd, follow_symlinks=False))
            if same == at.head_stamp or (
                same == fs.stamp(os.fstat(at.head_fd))
                and os.pread(at.head_fd, 2 * HEAD_SLOT + 1, 0) == at.head
            ):  # (an edit the stamp misses is found by the next append's byte comparison)
                known = at.head
            else:  # another append of this server wrote the head since this one checked it?
                for view in views:
                    if same == view.head_stamp and same[:2] == fs.stamp(os.fstat(at.head_fd))[:2]:
                        known = view.head
                        break
        if known is not None:
            offset, slot = _head_slot(self.key, seq, prev)
            _pwrite_all(at.head_fd, slot, offset)
            head, head_info = _patched(known, offset, slot), os.fstat(at.head_fd)
            if head is not None:
                # a memory that expected the head file this write changed now expects these bytes
                # (written under the lock)
                for view in views:
                    if view.head_stamp == same:
                        view.head, view.head_stamp = head, fs.stamp(head_info)
                        if view is shared and self.shared is not None:
                            self.shared.put(view)
        else:
            _close_all((at.head_fd,))
            at.head_fd = -1
            head, head_info = write_head(folder, self.key, seq, prev, None)
        if head is None:
            return
        try:
            segment = os.stat(at.name, dir_fd=folder.fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        held = os.fstat(at.segment_fd)
        if (segment.st_dev, segment.st_ino, segment.st_size) != (held.st_dev, held.st_ino, at.end):
            # another writer appended meanwhile: the next append reads the tail, unless it was a
            # later append of this process, whose memory (``newer``) stands
            return
        if newer is not None and newer is not at.provisional:
            return  # a later append of this process started another segment: its memory stands
        if shared is not None and shared.sequence > seq:
            return  # so did another worker of this server: the shared memory stands
        if at.head_fd < 0:
            with contextlib.suppress(OSError):
                at.head_fd, head_info = folder.open_fd(HEAD_NAME, os.O_RDWR)
        if at.head_fd < 0:
            return
        memo = _Tail(
            at.name,
            fs.stamp(segment),
            at.tail,
            seq,
            prev,
            head,
            fs.stamp(head_info),
            self._listing_stands(at, folder, segment.st_ctime_ns),
        )
        memo.segment_fd, memo.head_fd = at.segment_fd, at.head_fd
        at.segment_fd = at.head_fd = -1
        self._forget()  # this append's own memory from before the fsync
        self._memo = memo
        if self.shared is not None:
            self.shared.put(memo)

    def _listing_stands(self, at: _Locked, folder: fs.VaultDir, segment_ctime_ns: int) -> fs.Stamp | None:
        """The folder's stamp when it is still the one whose listing this append checked, and it
        had settled before the segment last changed (then the next append need not list it, and
        the folder is kept open: ``_held``); None otherwise."""
        folder_now = fs.stamp(os.fstat(folder.fd))
        if folder_now != at.dir or max(folder_now[3], folder_now[4]) >= segment_ctime_ns - self.settled_ns:
            return None
        self._held = folder
        return folder_now

    def _remember_in_flight(self, at: _Locked, seq: int, prev: str) -> None:
        """Under the lock, once this append's lines are written and before their fsync: remember
        the log as this append left it. The server keeps two group-commit batches in flight
        (``GroupCommitLog``), so the next batch of this process usually takes the lock while
        this one waits for its fsync, and would otherwise find no memory and list the folder,
        read the last line and MAC-check the head. The memory holds its own descriptors (this
        append still needs its own); the head record is the one this append checked, and
        whichever append of this process writes the head next brings the memory up to date
        (:meth:`_finish`). A failed append forgets it."""
        if at.head is None or at.segment_fd < 0:
            return
        if at.head_fd < 0 or at.head_stamp is None:
            # the head was checked by name (the full path): remembered only when a descriptor
            # of the head file shows exactly the bytes checked
            try:
                fd, info = at.folder.open_fd(HEAD_NAME, os.O_RDWR)
            except OSError:
                return
            _close_all((at.head_fd,))
            at.head_fd = fd
            if os.pread(fd, 2 * HEAD_SLOT + 1, 0) != at.head:
                return
            at.head_stamp = fs.stamp(info)
        segment = fs.stamp(os.fstat(at.segment_fd))
        memo = _Tail(
            at.name,
            segment,
            at.tail,
            seq,
            prev,
            at.head,
            at.head_stamp,
            self._listing_stands(at, at.folder, segment[4]),
        )
        try:
            memo.segment_fd = os.dup(at.segment_fd)
            memo.head_fd = os.dup(at.head_fd)
        except OSError:  # out of descriptors: no memory this time, and none left open
            memo.close()
            return
        self._memo = at.provisional = memo
        if self.shared is not None:
            self.shared.put(memo)

    def _sibling_memory(self, folder: fs.VaultDir, memo: _Tail | None) -> _Tail | None:
        """The shared memory of the newest append (:class:`SharedTail`), with descriptors of its
        files: this writer's own (taken from ``memo``) where they are those very files (same
        device and inode), else opened by name without following a link; None when there is no
        shared memory or one of its files is gone."""
        known = self.shared.get() if self.shared is not None else None
        if known is None or segment_number(known.name) is None:
            return None
        try:
            if memo is not None and memo.segment_fd >= 0 and memo.stamp[:2] == known.stamp[:2]:
                known.segment_fd, memo.segment_fd = memo.segment_fd, -1
            else:
                known.segment_fd = folder.open_fd(known.name, os.O_RDWR | os.O_APPEND)[0]
            if memo is not None and memo.head_fd >= 0 and memo.head_stamp[:2] == known.head_stamp[:2]:
                known.head_fd, memo.head_fd = memo.head_fd, -1
            else:
                known.head_fd = folder.open_fd(HEAD_NAME, os.O_RDWR)[0]
        except FileNotFoundError:
            known.close()
            return None
        except BaseException:  # out of descriptors, or tamper: nothing left open
            known.close()
            raise
        return known

    def _forget(self) -> None:
        """Forget the memory of the tail (and close its descriptors); under ``_mutex``."""
        memo, self._memo = self._memo, None
        if memo is not None:
            memo.close()

    def _index(self, jobs: list[str]) -> None:
        """Bring the sidecar index of a segment just sealed up to its end, and that of the newest
        segment each time it grows past a multiple of INDEX_PART_BYTES (docs/audit.md, "The
        index"). Run after the append released the lock: building takes a few tenths of a second
        per 8 MiB, and other writers must not wait for it (the build reads complete lines only and
        replaces the index file atomically, so it needs no lock). It is derived data: when it
        cannot be written, queries scan those lines and the event stands."""
        indexer = self.indexer
        if indexer is None:
            return
        for segment in jobs:
            try:
                indexer(segment, self.key)
            except Exception:  # never fail an append whose event is already durable
                pass

    @contextlib.contextmanager
    def _locked_tail(self) -> Iterator[_Locked]:
        """The log folder under its exclusive lock, with the tail read (a torn tail cut and noted
        in ``pending_repair``) and the head record checked against it; or, when this writer's
        memory of the tail (:class:`_Tail`) still matches the files byte for byte, that."""
        with self._mutex, self._folder_for_append() as folder, self._exclusive(folder):
            if self.vault is not None:
                self.vault.check_in_place()  # never append to a vault folder a restore replaced
            self.pending_repair = None
            self._torn = []
            memo, self._memo = self._memo, None  # forgotten unless this append completes
            at = _Locked(folder, fs.stamp(os.fstat(folder.fd)))
            try:
                known = memo if memo is not None and self._unchanged(at, memo) else None
                if known is None and self.shared is not None:
                    # another worker of this server appended last: its memory, checked the same way
                    known = self._sibling_memory(folder, memo)
                    if known is not None and not self._unchanged(at, known):
                        known.close()
                        known = None
                if known is not None:
                    at.name, at.seq, at.prev = known.name, known.sequence, known.chain
                    at.size, at.head = known.stamp[2], known.head
                    at.segment_fd, at.head_fd = known.segment_fd, known.head_fd
                    at.head_stamp = known.head_stamp
                    known.segment_fd = known.head_fd = -1
                else:
                    # another writer appended (the CLI, or a server worker when the memory is not
                    # shared): its last line is read and the head checked; the listing only when
                    # the folder changed
                    listed = memo is not None and memo.folder is not None and memo.folder == at.dir
                    newest = memo.name if memo is not None and listed else None
                    if memo is not None:
                        memo.close()
                    at.name, at.seq, at.prev = self._tail(folder, newest)
                    at.head = self._check_head(folder, at.seq, at.prev)
                yield at
            except BaseException:
                at.close()  # the caller closes them once the append is over; on failure here
                raise
            finally:
                if memo is not None:
                    memo.close()

    @contextlib.contextmanager
    def _exclusive(self, folder: fs.VaultDir) -> Iterator[None]:
        """The log's exclusive lock: taken on the lock file kept open since the last append while
        its name still leads to that file unchanged (a ``stat`` after taking it), else opened by
        name as every other process does. ``self._mutex`` orders this process's own threads."""
        kept = self._lock
        if kept is not None:
            fd, stamp = kept
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = fs.stamp(os.stat(layout.LOCK, dir_fd=folder.fd, follow_symlinks=False)) == stamp
            except OSError:
                same = False
            if same:
                try:
                    yield
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                return
            self._lock = None
            os.close(fd)  # closing drops the lock taken on a file that is no longer the lock file
        with folder.locked(layout.LOCK, exclusive=True):
            yield
        with contextlib.suppress(OSError):
            fd, info = folder.open_fd(layout.LOCK, os.O_RDWR)
            self._lock = (fd, fs.stamp(info))

    def _unchanged(self, at: _Locked, memo: _Tail) -> bool:
        """Whether the log is still exactly as this writer left it: the folder listing (re-checked
        unless the folder is unchanged since it was last checked), the newest segment's stamp and
        last line, and the head file's stamp and bytes. Tamper a listing shows raises as ever.

        The names are ``stat``-ed without following a link: a stamp equal to the one taken from a
        kept descriptor is that very file, unchanged, so reading through the descriptor is reading it."""
        folder = at.folder
        if memo.segment_fd < 0 or memo.head_fd < 0:
            return False
        if memo.folder is None or memo.folder != at.dir:
            names = segments(folder)
            if not names or os.path.basename(names[-1]) != memo.name:
                return False
        segment_fd, head_fd = memo.segment_fd, memo.head_fd
        try:
            if fs.stamp(os.stat(memo.name, dir_fd=folder.fd, follow_symlinks=False)) != memo.stamp:
                return False
            if fs.stamp(os.stat(HEAD_NAME, dir_fd=folder.fd, follow_symlinks=False)) != memo.head_stamp:
                return False
            size = memo.stamp[2]
            if os.pread(segment_fd, len(memo.tail), size - len(memo.tail)) != memo.tail:
                return False
            return os.pread(head_fd, 2 * HEAD_SLOT + 1, 0) == memo.head
        except FileNotFoundError:
            return False

    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Number, chain and durably append ``event``; raises AuditWriteError when it cannot."""
        return self.append_many([event])[0]

    def append_many(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Number, chain and append several events with one write and one fsync (group commit)."""
        at: _Locked | None = None
        done = False
        try:
            with self._locked_tail() as at:
                seq, prev = at.seq, at.prev
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
                self._put(at, lines + written, sync=False)
                self._remember_in_flight(at, seq, prev)
            # The fsync runs outside the lock, so writers in other processes (the CLI, other
            # server workers) append meanwhile and their fsyncs overlap with this one. Any fsync
            # of the segment makes every line written before it durable, in file order; the head
            # record is written only once this batch is durable, so it never runs ahead of the log.
            self.fsync(at.segment_fd)
            with self._mutex, self._folder_for_append(at) as folder, self._exclusive(folder):
                self._finish(at, folder, seq, prev)
            done = True
            if at.index_jobs:
                jobs = at.index_jobs
                if self.index_runner is None:
                    self._index(jobs)
                else:
                    self.index_runner(lambda: self._index(jobs))
            return written
        except (AuditWriteError, fs.FolderReplacedError):
            raise
        except fs.UnsafePathError as exc:  # tamper: exit 253, nothing written outside the vault
            raise fs.UnsafePathError(
                f"cannot write the audit log: {exc.message}; the operation was not performed"
            ) from None
        except OSError as exc:
            if self.vault is not None:
                self.vault.check_in_place()  # the folder replaced by a restore: say so
            raise AuditWriteError(
                f"cannot write the audit log in {self.folder} ({exc.strerror or exc}); "
                "the operation was not performed"
            ) from None
        finally:
            if at is not None:
                if not done and at.provisional is not None:
                    with self._mutex:  # a failed append forgets the memory it left before its fsync
                        self._forget()
                at.close()

    def repair(self, base: dict[str, Any]) -> dict[str, Any] | None:
        """Cut a torn final line (and nothing else) and record a RepairAuditLog event.

        ``base`` supplies the identity and time of whoever asked (``audit verify --repair``).
        Returns the recorded event, or None when there was no torn tail.
        """
        try:
            with self._locked_tail() as at:
                try:
                    if self.pending_repair is None:
                        return None
                    self.pending_repair["trigger"] = "kmscli audit verify --repair"
                    repair = self._repair_event(base, at.seq + 1, at.prev)
                    self._put(at, [repair], sync=True)
                    self._finish(at, at.folder, at.seq + 1, repair["chain"])
                    return repair
                finally:
                    at.close()
        except fs.UnsafePathError as exc:
            raise fs.UnsafePathError(f"cannot repair the audit log: {exc.message}") from None
        except OSError as exc:
            raise AuditWriteError(
                f"cannot repair the audit log in {self.folder} ({exc.strerror or exc})"
            ) from None
