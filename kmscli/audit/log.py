"""Appending to the chained, segmented JSON-lines log under ``VAULT/audit/``."""

from __future__ import annotations

import _thread
import contextlib
import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, NamedTuple

from kmscli.audit import chain
from kmscli.crypto import primitives
from kmscli.errors import EXIT_ENVIRONMENT, KmscliError
from kmscli.vault import fs, layout

SEGMENT_RE = re.compile(r"^audit-(\d{6})\.jsonl$")
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
INDEX_FILE_RE = re.compile(r"^(?:audit-\d{6}\.jsonl\.idx|\.tmp-audit-\d{6}\.jsonl\.idx-[0-9a-f]{12})$")


class AuditWriteError(KmscliError):
    """The event could not be written: the operation fails closed and prints no result."""


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


def survey(folder: fs.StrPath | fs.VaultDir) -> tuple[list[str], list[str]]:
    """(segment paths in order, problems) of an audit folder.

    Segments must be numbered 1, 2, 3 ... without a gap; a name outside that, or any other file but
    :data:`AUX_NAMES` and sidecar indexes (:data:`INDEX_FILE_RE`), is a problem: the writer never makes one, so someone renamed, removed or
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
        if m := SEGMENT_RE.match(name):
            found.append((int(m.group(1)), name))
        elif name not in AUX_NAMES and not INDEX_FILE_RE.match(name):
            problems.append(f"unexpected file {fs.join(base, name)} in the audit folder")
    found.sort()
    for expected, (number, name) in enumerate(found, 1):
        if number != expected:
            problems.append(
                f"segment {fs.join(base, name)} is out of sequence: {segment_name(expected)} was "
                "expected (segments renamed or removed)"
            )
            break
    return [fs.join(base, name) for _, name in found], problems


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
    its newest segment was removed (docs/audit.md, "Head record"). ``required``: a log with events
    but no head record was tampered with too. Returns the head file's bytes as checked (None: none)."""
    head, raw = _read_head(folder, key)
    if head is None and required and sequence:
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

    __slots__ = ("chain", "fds", "folder", "head", "head_stamp", "name", "sequence", "stamp", "tail")

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
        self.fds: tuple[int, int] | None = None

    def close(self) -> None:
        """Close the descriptors kept open (the memo is forgotten)."""
        fds, self.fds = self.fds, None
        for fd in fds or ():
            with contextlib.suppress(OSError):
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        view = view[os.pwrite(fd, view, offset + len(data) - len(view)) :]


def _close_all(fds: tuple[int, ...]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class _Locked:
    """One append in progress under the log's lock: where the log ends (segment name, size when
    known, sequence, chain value), the head file's bytes as checked, the folder's stamp at the start."""

    __slots__ = ("dir", "fds", "folder", "head", "name", "prev", "seq", "size")

    def __init__(self, folder: fs.VaultDir, dir_stamp: fs.Stamp) -> None:
        self.folder = folder
        self.dir = dir_stamp
        self.name = ""
        self.seq = 0
        self.prev = ""
        self.size: int | None = None
        self.head: bytes | None = None
        #: The remembered tail's descriptors, when it still held (see :class:`_Tail`).
        self.fds: tuple[int, int] | None = None


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
    def _folder_for_append(self) -> Iterator[fs.VaultDir]:
        """The log folder: the one the last append kept open, while the name still leads to that
        folder unchanged since its listing was checked (its stamp, taken once it had settled),
        else opened and checked afresh. A kept folder is never closed here (another thread may
        be using it): it is closed when the last reference to it goes."""
        memo, held = self._memo, self._held
        if memo is not None and memo.folder is not None and held is not None:
            try:
                if self.vault is not None:
                    info = os.stat(layout.AUDIT, dir_fd=self.vault.fd, follow_symlinks=False)
                else:
                    info = os.stat(self.folder)
            except OSError:
                info = None
            if info is not None and fs.stamp(info) == memo.folder:
                yield held
                return
        folder = self._open_folder()
        try:
            yield folder
        finally:
            if self._held is not folder:
                folder.close()

    def _tail(self, folder: fs.VaultDir) -> tuple[str, int, str]:
        """Current segment name, last sequence number and last chain value; notes a torn tail
        (which :meth:`_check_head` cuts)."""
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

    def _write(self, at: _Locked, lines: list[dict[str, Any]], seq: int, prev: str) -> None:
        """Append ``lines`` (the last one numbered ``seq`` with chain value ``prev``), durably, then
        the head record; remember the tail for the next append only once all of it succeeded."""
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
            match = SEGMENT_RE.match(name)
            sealed, name = name, segment_name(int(match.group(1)) + 1 if match else 1)
            before = 0
        crossed = before // INDEX_PART_BYTES != (before + len(data)) // INDEX_PART_BYTES
        index = self.indexer if sealed is not None or crossed else None
        fds = at.fds  # still the batch's to close, should anything here fail
        if fds is not None and sealed is None:  # the files checked unchanged: their descriptors
            segment_fd, head_fd = fds
            _write_all(segment_fd, data)
            self.fsync(segment_fd)
            segment = os.fstat(segment_fd)
            offset, slot = _head_slot(self.key, seq, prev)
            _pwrite_all(head_fd, slot, offset)
            head, head_info = _patched(at.head, offset, slot), os.fstat(head_fd)
            if index is not None:
                self._index(index, folder, sealed, name)
        else:
            if fds is not None:
                _close_all(fds)
                fds = at.fds = None
            # no link followed; a new segment's entry is flushed
            segment = folder.append_stat(name, data, fsync=self.fsync)[1]
            if index is not None:
                self._index(index, folder, sealed, name)
            head, head_info = write_head(folder, self.key, seq, prev, at.head)
        if head is None:
            return
        # the last line, with the newline before it: the file ended with one (or was empty) before
        # this write, since a torn tail is cut first (a wrong guess only costs the full check later)
        cut = data.rfind(b"\n", 0, len(data) - 1)
        tail = data[cut:] if cut >= 0 else (b"\n" + data if before else data)
        settled = segment.st_ctime_ns - self.settled_ns
        folder_now = fs.stamp(os.fstat(folder.fd))
        unchanged = folder_now == at.dir and max(folder_now[3], folder_now[4]) < settled
        memo = _Tail(
            name,
            fs.stamp(segment),
            tail,
            seq,
            prev,
            head,
            fs.stamp(head_info),
            folder_now if unchanged else None,
        )
        if fds is None:  # kept open for the next append; their stamps are checked against these
            fds = self._open_tail(folder, name)
        memo.fds, at.fds = fds, None
        self._memo = memo
        if unchanged:
            self._held = folder

    @staticmethod
    def _open_tail(folder: fs.VaultDir, name: str) -> tuple[int, int] | None:
        """The segment ``name`` (read, append) and the head file (read, write) opened to keep."""
        try:
            segment_fd = folder.open_fd(name, os.O_RDWR | os.O_APPEND)[0]
        except OSError:
            return None
        try:
            return segment_fd, folder.open_fd(HEAD_NAME, os.O_RDWR)[0]
        except OSError:
            os.close(segment_fd)
            return None

    def _index(
        self, indexer: Callable[[str, bytes], None], folder: fs.VaultDir, sealed: str | None, name: str
    ) -> None:
        """Bring the sidecar index of a segment just sealed up to its end, and that of the newest
        segment each time it grows past a multiple of INDEX_PART_BYTES (docs/audit.md, "The
        index"). It is derived data: when it cannot be written, queries scan those lines and the
        event stands."""
        try:
            if sealed is not None:
                indexer(folder.name(sealed), self.key)
            info = folder.lstat(name)
            if info is not None and info.st_size >= INDEX_PART_BYTES:
                indexer(folder.name(name), self.key)
        except Exception:  # never fail an append whose event is already durable
            pass

    @contextlib.contextmanager
    def _locked_tail(self) -> Iterator[_Locked]:
        """The log folder under its exclusive lock, with the tail read (a torn tail cut and noted
        in ``pending_repair``) and the head record checked against it; or, when this writer's
        memory of the tail (:class:`_Tail`) still matches the files byte for byte, that."""
        with self._mutex, self._folder_for_append() as folder, self._exclusive(folder):
            self.pending_repair = None
            self._torn = []
            memo, self._memo = self._memo, None  # forgotten unless this append completes
            at = _Locked(folder, fs.stamp(os.fstat(folder.fd)))
            try:
                if memo is not None and self._unchanged(at, memo):
                    at.name, at.seq, at.prev = memo.name, memo.sequence, memo.chain
                    at.size, at.head = memo.stamp[2], memo.head
                    at.fds, memo.fds = memo.fds, None
                else:
                    if memo is not None:
                        memo.close()
                    at.name, at.seq, at.prev = self._tail(folder)
                    at.head = self._check_head(folder, at.seq, at.prev)
                yield at
            finally:
                if at.fds is not None:  # not handed on to a new memo (the append failed)
                    _close_all(at.fds)
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
        if memo.fds is None:
            return False
        if memo.folder is None or memo.folder != at.dir:
            names = segments(folder)
            if not names or os.path.basename(names[-1]) != memo.name:
                return False
        segment_fd, head_fd = memo.fds
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
                self._write(at, lines + written, seq, prev)
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
            with self._locked_tail() as at:
                if self.pending_repair is None:
                    return None
                self.pending_repair["trigger"] = "kmscli audit verify --repair"
                repair = self._repair_event(base, at.seq + 1, at.prev)
                self._write(at, [repair], at.seq + 1, repair["chain"])
                return repair
        except fs.UnsafePathError as exc:
            raise fs.UnsafePathError(f"cannot repair the audit log: {exc.message}") from None
        except OSError as exc:
            raise AuditWriteError(
                f"cannot repair the audit log in {self.folder} ({exc.strerror or exc})"
            ) from None
