"""Authenticated sidecar indexes of audit segments (docs/audit.md, "The index").

``audit-NNNNNN.jsonl.idx`` covers its segment's lines up to a byte offset. For every field a query
filters on (event name, key, principal, access key id, source address, error, encryption-context
pair) it holds, per value, the sorted byte offsets of the lines carrying that value, and per run of
:data:`BLOCK_LINES` lines the earliest and latest ``eventTime``. The writer extends it when a segment
is sealed and each time the newest segment grows past a multiple of ``INDEX_PART_BYTES``. A query
reads only the offsets its filters name plus every line after the covered offset, and the same exact
checks as a scan then decide on each of those lines.

The index is derived data and never believed over the log:

* its header is MAC'd (HMAC-SHA256 under ``HKDF(audit key, "kmscli/v1/audit-index")``, bound to the
  segment's name), and every table and posting list read is checked against its hash;
* it is bound to the segment: the segment must be at least as long as the offset covered and the
  4 KiB before it (the last indexed line and its chain value) must hash as recorded, checked before
  each use; ``audit verify`` also hashes everything covered;
* missing, stale or failing any check, it is not used (the segment is scanned); ``audit reindex``
  rebuilds it, and the writer's next extension starts over.

File layout (little-endian)::

    b"KMSCLI-AUDIT-INDEX\\n"  u32 header length  header (canonical JSON)  32-byte MAC  body

This module is imported by queries only when an index can be authenticated (an unlocked vault).
"""

from __future__ import annotations

import array
import bisect
import datetime as dt
import json
import os
import struct
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from kmscli.audit import query
from kmscli.crypto import primitives
from kmscli.vault import fs

MAGIC = b"KMSCLI-AUDIT-INDEX\n"
VERSION = 1
SUFFIX = ".idx"
#: Lines per time block (the unit in which a time range skips lines).
BLOCK_LINES = 512
#: Bytes the builder reads at once.
READ_BLOCK = 4 * 1024 * 1024
#: Candidates closer than this are read with one pread (a pread costs about as much as copying a few
#: KiB; reading 256 KiB per run made a selective query read ten times the bytes it used).
RUN_BYTES = 8 * 1024
#: Bytes read past a run's last candidate to take in its line (a line longer than this is read on).
LINE_BYTES = 4 * 1024
#: Bytes at the end of a segment whose hash binds its index to it (checked before every use).
TAIL_BYTES = 4096
#: Largest header accepted (a hostile file cannot make a query allocate more).
MAX_HEADER = 64 * 1024 * 1024
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)

# the fields, by the filter each serves
EVENT_NAME = "eventName"
KEY = "key"
PRINCIPAL = "principal"
ERROR = "error"
CONTEXT = "context"
ACCESS_KEY_ID = "accessKeyId"
SOURCE_IP = "sourceIPAddress"
UNREADABLE = "unreadable"
FIELDS = (EVENT_NAME, KEY, PRINCIPAL, ERROR, CONTEXT, ACCESS_KEY_ID, SOURCE_IP, UNREADABLE)


class IndexProblem(NamedTuple):
    """What ``audit verify`` found about one segment's index."""

    segment: str
    kind: str  # "missing", "stale", "tampered"
    detail: str

    def as_dict(self) -> dict[str, str]:
        """JSON form."""
        return {"Segment": self.segment, "Kind": self.kind, "Detail": self.detail}


def index_key(audit_key: bytes) -> bytes:
    """The key that MACs index headers, derived from the audit chain key."""
    return primitives.hkdf_sha256(audit_key, b"kmscli/v1/audit-index")


def index_path(segment: str) -> str:
    """The sidecar of ``segment``."""
    return segment + SUFFIX


def micros(when: dt.datetime) -> int:
    """Microseconds since the epoch, exactly (an aware datetime)."""
    return (when - _EPOCH) // _MICRO


def _mac_input(segment: str, header: bytes) -> bytes:
    return b"audit-index\0" + os.path.basename(segment).encode() + b"\0" + header


def line_values(event: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, value) for every value of ``event`` that a filter can select it by.

    A superset of :meth:`kmscli.audit.query.Filters.matches`: a line matching a filter always carries
    the value the filter looks up (tests/unit/audit/test_index.py checks it against random queries).
    """
    name = event.get("eventName")
    if isinstance(name, str):
        yield EVENT_NAME, name
    for ref in query.event_key_refs(event):
        yield KEY, ref
    identity = event.get("userIdentity")
    if isinstance(identity, dict):
        for member in ("arn", "principalId", "userName"):
            value = identity.get(member)
            if isinstance(value, str):
                yield PRINCIPAL, value
        arn = identity.get("arn")
        if isinstance(arn, str):
            yield PRINCIPAL, arn.rsplit("/", 1)[-1]
        akid = identity.get("accessKeyId")
        if isinstance(akid, str):
            yield ACCESS_KEY_ID, akid
    if event.get("errorCode"):
        yield ERROR, ""
    for ctx in query.event_contexts(event):
        for key, value in ctx.items():
            if isinstance(value, str):
                yield CONTEXT, key + "\0" + value
    source = event.get("sourceIPAddress")
    if isinstance(source, str):
        yield SOURCE_IP, source


def _lines(fd: int, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(offset, line without its newline) of every line in [start, stop) of an open file; a final
    unterminated line counts as a line, as the scan reads it."""
    pos = start
    carry = b""
    carry_at = start
    while stop is None or pos < stop:
        want = READ_BLOCK if stop is None else min(READ_BLOCK, stop - pos)
        chunk = os.pread(fd, want, pos)
        if not chunk:
            break
        pos += len(chunk)
        buf = carry + chunk if carry else chunk
        at = 0
        while True:
            nl = buf.find(b"\n", at)
            if nl == -1:
                break
            yield carry_at + at, buf[at:nl]
            at = nl + 1
        carry = buf[at:]
        carry_at += at
    if carry:
        yield carry_at, carry


# -- building -----------------------------------------------------------------------------------------


def build(segment: str, audit_key: bytes, previous: SegmentIndex | None = None) -> bytes:
    """The index file of ``segment``'s complete lines (its bytes; the caller writes them). With
    ``previous``, an authenticated index of a prefix, only the lines after that prefix are parsed."""
    postings: dict[str, dict[str, list[int]]] = {f: {} for f in FIELDS}
    kept: dict[str, dict[str, bytes]] = {f: {} for f in FIELDS}  # the previous lists, as stored
    blocks: list[list[int | None]] = []
    start = 0
    first_seq: Any = None
    count = 0
    if previous is not None:
        start = int(previous.header["size"])
        blocks = [list(b) for b in previous.header["blocks"]]
        first_seq = previous.header["firstSequence"]
        count = int(previous.header["lines"])
        for field in FIELDS:
            for value in previous.table(field):
                kept[field][value] = b"".join(a.tobytes() for a in previous.posting_lists(field, [value]))
    new_lines = 0
    last: Any = None
    fd = fs.open_fd(segment)
    try:
        end = os.fstat(fd).st_size
        tail = os.pread(fd, min(end, TAIL_BYTES), max(0, end - TAIL_BYTES))
        end -= len(tail) - tail.rfind(b"\n") - 1  # complete lines only: an unterminated one is scanned
        for offset, line in _lines(fd, start, end):
            event = query.parse_line(line)
            if event is query.BLANK:
                continue
            if new_lines % BLOCK_LINES == 0:
                blocks.append([offset, None, None])
            new_lines += 1
            if not isinstance(event, dict):
                postings[UNREADABLE].setdefault("", []).append(offset)
                continue
            for field, value in line_values(event):
                postings[field].setdefault(value, []).append(offset)
            when = query.event_datetime(event)
            if when is not None:
                us = micros(when)
                block = blocks[-1]
                lo, hi = block[1], block[2]
                block[1] = us if lo is None or us < lo else lo
                block[2] = us if hi is None or us > hi else hi
            if first_seq is None:
                first_seq = event.get("sequence")
            last = event
    finally:
        os.close(fd)
    total = max(end, start)
    if last is None and previous is not None:
        last_seq, last_chain = previous.header["lastSequence"], previous.header["lastChain"]
    else:
        last_seq = last.get("sequence") if last else None
        last_chain = last.get("chain") if last else None
    digest = _whole_digest(segment, total)
    typecode = "I" if total < 2**32 else "Q"
    body = bytearray()
    sections: dict[str, list[Any]] = {}
    if previous is not None and previous.header["typecode"] != typecode:
        raise Invalid("stale", "the segment outgrew 32-bit offsets")  # write() starts over
    for field in FIELDS:
        values: dict[str, list[Any]] = {}
        for value in sorted(postings[field].keys() | kept[field].keys()):
            # new offsets all follow the previous ones: appending keeps each list sorted
            fresh = sorted(set(postings[field].get(value, ())))
            data = kept[field].get(value, b"") + array.array(typecode, fresh).tobytes()
            values[value] = [len(body), len(data), primitives.sha256(data)[:16].hex()]
            body += data
        # each field's dictionary is its own block, so a query parses only those it filters on
        table = fs.canonical_json(values)
        sections[field] = [len(body), len(table), primitives.sha256(table).hex()]
        body += table
    header = {
        "version": VERSION,
        "segment": os.path.basename(segment),
        "size": total,
        "sha256": digest,
        "lines": count + new_lines,
        "firstSequence": first_seq,
        "lastSequence": last_seq,
        "lastChain": last_chain,
        "tail": _tail_digest(segment, total),
        "typecode": typecode,
        "blocks": blocks,
        "fields": sections,
    }
    head = fs.canonical_json(header)
    mac = primitives.hmac_sha256(index_key(audit_key), _mac_input(segment, head))
    return MAGIC + struct.pack("<I", len(head)) + head + mac + bytes(body)


def _whole_digest(segment: str, size: int) -> str:
    """SHA-256 of the first ``size`` bytes of ``segment``, in hex."""
    hasher = primitives.sha256_hasher()
    fd = fs.open_fd(segment)
    try:
        pos = 0
        while pos < size:
            chunk = os.pread(fd, min(READ_BLOCK, size - pos), pos)
            if not chunk:
                break
            hasher.update(chunk)
            pos += len(chunk)
    finally:
        os.close(fd)
    return bytes(hasher.finalize()).hex()


def _tail_digest(segment: str, size: int) -> str:
    """SHA-256 of the last :data:`TAIL_BYTES` of the segment's first ``size`` bytes: they hold its last
    line, whose chain value depends on every line before it."""
    fd = fs.open_fd(segment)
    try:
        start = max(0, size - TAIL_BYTES)
        data = os.pread(fd, size - start, start)
    finally:
        os.close(fd)
    return primitives.sha256(data).hex()


def write(segment: str, audit_key: bytes) -> None:
    """Bring the index of ``segment`` up to its end: an authentic index of a prefix is extended with
    the lines after it, anything else is rebuilt from the start. It needs no lock: it indexes the
    complete lines it sees and replaces the file atomically, so writers racing here each leave an
    authentic index of some prefix (a query scans the lines after it)."""
    try:
        previous: SegmentIndex | None = load(segment, audit_key)
    except Invalid:
        previous = None
    try:
        data = build(segment, audit_key, previous)
    except (Invalid, ValueError, TypeError, KeyError, IndexError):
        data = build(segment, audit_key)  # an unusable previous index: start over
    finally:
        if previous is not None:
            previous.close()
    fs.atomic_write(index_path(segment), data)


def rebuild(segment: str, audit_key: bytes) -> None:
    """Index ``segment`` from its first line, ignoring any index it has."""
    fs.atomic_write(index_path(segment), build(segment, audit_key))


def reindex(segments: list[str], audit_key: bytes) -> list[str]:
    """Rebuild the index of every segment (caller holds the audit lock); the names written."""
    done = []
    for segment in segments:
        rebuild(segment, audit_key)
        done.append(os.path.basename(index_path(segment)))
    return done


# -- reading ------------------------------------------------------------------------------------------


class Invalid(Exception):
    """The index cannot be used: missing, malformed, stale or failing its MAC."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


class SegmentIndex:
    """One authenticated, current index: answers "which lines may match?" for a segment."""

    __slots__ = ("body_at", "fd", "header", "path", "raw", "segment", "tables")

    def __init__(self, segment: str, header: dict[str, Any], body_at: int, fd: int) -> None:
        self.segment = segment
        self.path = index_path(segment)
        self.header = header
        self.body_at = body_at
        self.fd = fd  # the index file as authenticated: a rebuild renamed over it does not matter
        self.tables: dict[str, dict[str, list[Any]]] = {}
        self.raw: dict[str, bytes] = {}  # each field's table as stored, checked against its hash

    def _table_bytes(self, field: str) -> bytes | None:
        """One field's table as stored (canonical JSON), read and checked on first use; None when
        the index has no such field."""
        data = self.raw.get(field)
        if data is None:
            entry = self.header["fields"].get(field)
            if entry is None:
                return None
            at, length, digest = entry
            data = os.pread(self.fd, length, self.body_at + at)
            if len(data) != length or primitives.sha256(data).hex() != digest:
                raise Invalid("tampered", f"{self.path}: the {field} table does not match its header")
            self.raw[field] = data
        return data

    def table(self, field: str) -> dict[str, list[Any]]:
        """value -> [position, length, hash] of one field, read and checked on first use."""
        found = self.tables.get(field)
        if found is None:
            data = self._table_bytes(field)
            if data is None:
                return {}
            try:
                found = json.loads(data)
            except ValueError:
                raise Invalid("tampered", f"{self.path}: the {field} table is unreadable") from None
            if not isinstance(found, dict):
                raise Invalid("tampered", f"{self.path}: the {field} table is malformed")
            self.tables[field] = found
        return found

    def entry(self, field: str, value: str) -> list[Any] | None:
        """``table(field).get(value)``, without parsing the whole table (a field with thousands of
        values, such as the encryption-context pairs, costs a millisecond per segment to parse).

        The table is authenticated canonical JSON (``fs.canonical_json``: sorted keys, no spaces,
        UTF-8), so a key is stored exactly as ``json.dumps(value, ensure_ascii=False)`` spells it,
        preceded by ``{`` or ``,`` and followed by ``:``; no string can hold that sequence (its
        quotes would be escaped). The last occurrence is taken, as ``json.loads`` would."""
        if field in self.tables:
            return self.tables[field].get(value)
        data = self._table_bytes(field)
        if data is None:
            return None
        try:
            key = json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # not UTF-8 (a lone surrogate): the parser decides
            return self.table(field).get(value)
        at = data.rfind(b"," + key + b":")
        if at == -1:
            if not data.startswith(b"{" + key + b":"):
                return None
            at = 0
        start = at + len(key) + 2
        end = data.find(b"]", start)
        try:
            found = json.loads(data[start : end + 1]) if end != -1 else None
        except ValueError:
            found = None
        if not isinstance(found, list):
            raise Invalid("tampered", f"{self.path}: the {field} table is malformed")
        return found

    def close(self) -> None:
        """Close the index file."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # -- candidate offsets --------------------------------------------------------------------
    def posting_lists(self, field: str, values: Iterable[str]) -> list[array.array[int]]:
        """The sorted offset lists of ``values`` in ``field`` (each list's hash checked)."""
        lists = []
        typecode = self.header["typecode"]
        for value in values:
            entry = self.entry(field, value)
            if entry is None:
                continue
            at, length, digest = entry
            data = os.pread(self.fd, length, self.body_at + at)
            if len(data) != length or primitives.sha256(data)[:16].hex() != digest:
                raise Invalid("tampered", f"{self.path}: a posting list does not match its header")
            lists.append(array.array(typecode, data))
        return lists

    def postings(self, field: str, values: Iterable[str]) -> set[int]:
        """Offsets of the lines carrying any of ``values`` in ``field``."""
        out: set[int] = set()
        for found in self.posting_lists(field, values):
            out.update(found)
        return out

    def _all_values(self, field: str) -> list[str]:
        return list(self.table(field))

    def candidates(self, filters: query.Filters) -> tuple[list[int] | None, list[tuple[int, int]]]:
        """(sorted offsets, or None for "every line"; byte ranges a time filter allows)."""
        wanted: list[tuple[str, list[str]]] = []
        if filters.event_names:
            wanted.append((EVENT_NAME, sorted(filters.event_names)))
        if filters.key_refs:
            wanted.append((KEY, sorted(filters.key_refs)))
        if filters.principal:
            wanted.append((PRINCIPAL, [filters.principal]))
        if filters.errors_only:
            wanted.append((ERROR, [""]))
        for key, value in filters.context:
            wanted.append((CONTEXT, [key + "\0" + value]))
        if filters.access_key_id:
            wanted.append((ACCESS_KEY_ID, [filters.access_key_id]))
        if filters.source_ip:
            wanted.append((SOURCE_IP, [filters.source_ip]))
        offsets: set[int] | None = None
        # the smallest posting lists first: an empty intersection stops early
        sized = sorted(
            wanted,
            key=lambda fv: sum((self.entry(fv[0], v) or [0, 0])[1] for v in fv[1]),
        )
        for field, values in sized:
            if offsets is None:
                offsets = self.postings(field, values)
            else:
                offsets = _intersect(offsets, self.posting_lists(field, values))
            if not offsets:
                break
        ranges = self._time_ranges(filters)
        if offsets is None:
            return None, ranges
        starts = [lo for lo, _hi in ranges]
        kept = set()
        for off in offsets:
            i = bisect.bisect_right(starts, off) - 1
            if i >= 0 and off < ranges[i][1]:
                kept.add(off)
        # unreadable lines are always read, so the warning about them still appears
        kept |= self.postings(UNREADABLE, [""])
        return sorted(kept), ranges

    def _time_ranges(self, filters: query.Filters) -> list[tuple[int, int]]:
        size = int(self.header["size"])
        if filters.start is None and filters.end is None:
            return [(0, size)]
        lo_us = micros(filters.start) if filters.start else None
        hi_us = micros(filters.end) if filters.end else None
        blocks = self.header["blocks"]
        ranges: list[tuple[int, int]] = []
        for i, (start, first, latest) in enumerate(blocks):
            stop = blocks[i + 1][0] if i + 1 < len(blocks) else size
            if first is None or latest is None:
                continue  # no line here has a time: none can match a time range
            if (lo_us is not None and latest < lo_us) or (hi_us is not None and first > hi_us):
                continue
            if ranges and ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], stop)
            else:
                ranges.append((start, stop))
        return ranges

    # -- reading the candidates -----------------------------------------------------------------
    def candidate_batches(self, filters: query.Filters) -> Iterator[list[bytes]]:
        """The lines of the segment that may match ``filters``, in log order, in batches. A posting
        list that fails its check makes this read every line instead (the index is not believed)."""
        ranges: list[tuple[int, int | None]]
        try:
            offsets, found = self.candidates(filters)
            ranges = list(found)
        except (Invalid, ValueError, TypeError, KeyError, IndexError):  # any surprise: scan it all
            offsets, ranges = None, [(0, None)]
        finally:
            self.close()
        covered = int(self.header["size"])
        fd = fs.open_fd(self.segment)
        try:
            if offsets is None:
                for lo, hi in ranges:
                    yield from _line_batches(fd, lo, hi)
            else:
                yield from _read_at(fd, offsets, covered)
            if ranges != [(0, None)]:  # lines appended after the index was written: every one
                yield from _line_batches(fd, covered, None)
        finally:
            os.close(fd)


def _line_batches(fd: int, start: int, stop: int | None) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for _off, line in _lines(fd, start, stop):
        batch.append(line)
        if len(batch) >= 4096:
            yield batch
            batch = []
    if batch:
        yield batch


#: A posting list this many times longer than the candidates is searched (bisect) for each of them
#: rather than walked: a bisect costs about 0.6 µs, a step of ``set.intersection`` about 0.04 µs.
BISECT_RATIO = 16


def _intersect(offsets: set[int], lists: list[array.array[int]]) -> set[int]:
    """The offsets that are in any of ``lists`` (each sorted)."""
    if len(offsets) * BISECT_RATIO < sum(len(lst) for lst in lists):
        return {o for o in offsets if any(_contains(lst, o) for lst in lists)}
    found: set[int] = set()
    for lst in lists:
        found |= offsets.intersection(lst)
    return found


def _contains(sorted_offsets: array.array[int], offset: int) -> bool:
    i = bisect.bisect_left(sorted_offsets, offset)
    return i < len(sorted_offsets) and sorted_offsets[i] == offset


#: Lines per batch that :func:`_read_at` yields.
READ_BATCH = 256


def _read_at(fd: int, offsets: list[int], size: int) -> Iterator[list[bytes]]:
    """The lines starting at ``offsets`` (sorted), reading neighbours with one pread; yielded in
    batches of about :data:`READ_BATCH` lines, so sparse candidates (one per pread) do not each
    travel the query's generators alone."""
    i = 0
    n = len(offsets)
    batch: list[bytes] = []
    while i < n:
        start = offsets[i]
        j = i
        while j + 1 < n and offsets[j + 1] - start < RUN_BYTES:
            j += 1
        want = min(offsets[j] - start + LINE_BYTES, size - start)
        buf = os.pread(fd, want, start)
        for k in range(i, j + 1):
            rel = offsets[k] - start
            end = buf.find(b"\n", rel)
            while end == -1 and start + len(buf) < size:  # a long line: read on
                more = os.pread(fd, max(len(buf), LINE_BYTES), start + len(buf))
                if not more:
                    break
                buf += more
                end = buf.find(b"\n", rel)
            batch.append(buf[rel:] if end == -1 else buf[rel:end])
        if len(batch) >= READ_BATCH:
            yield batch
            batch = []
        i = j + 1
    if batch:
        yield batch


def load(segment: str, audit_key: bytes) -> SegmentIndex:
    """The index of ``segment`` after every check a query makes; raises :class:`Invalid`."""
    path = index_path(segment)
    try:
        fd = fs.open_fd(path)
    except FileNotFoundError:
        raise Invalid("missing", f"{path} does not exist") from None
    except fs.UnsafePathError as exc:  # a link or FIFO planted as the index: never opened through
        raise Invalid("tampered", str(exc)) from None
    except OSError as exc:
        raise Invalid("tampered", f"{path} cannot be opened ({exc.strerror})") from None
    try:
        head = os.pread(fd, len(MAGIC) + 4, 0)
        if len(head) != len(MAGIC) + 4 or head[: len(MAGIC)] != MAGIC:
            raise Invalid("tampered", f"{path} is not a kmscli audit index")
        (length,) = struct.unpack("<I", head[len(MAGIC) :])
        if length > MAX_HEADER:
            raise Invalid("tampered", f"{path} declares a {length}-byte header")
        raw = os.pread(fd, length + 32, len(head))
        header_bytes, mac = raw[:length], raw[length:]
        if len(mac) != 32 or not primitives.hmac_sha256_matches(
            index_key(audit_key), _mac_input(segment, header_bytes), mac.hex()
        ):
            raise Invalid("tampered", f"{path} failed its integrity check (edited, replaced or moved)")
        try:
            header = json.loads(header_bytes)
        except ValueError:
            raise Invalid("tampered", f"{path} has an unreadable header") from None
        if not isinstance(header, dict) or header.get("version") != VERSION:
            raise Invalid("stale", f"{path} is of an unknown version")
        _check_binding(segment, header)
    except BaseException:
        os.close(fd)
        raise
    return SegmentIndex(segment, header, len(MAGIC) + 4 + length + 32, fd)


def _check_binding(segment: str, header: dict[str, Any]) -> None:
    """The segment begins with the bytes indexed: same name, at least the size indexed, and the same
    last 4 KiB before that size (the last indexed line and its chain value). Lines appended after
    them are scanned."""
    path = index_path(segment)
    try:
        size = os.lstat(segment).st_size
    except OSError:
        raise Invalid("stale", f"{path}: its segment is gone") from None
    covered = header.get("size")
    if header.get("segment") != os.path.basename(segment) or not isinstance(covered, int) or covered > size:
        raise Invalid("stale", f"{path} indexes {covered} bytes; the segment has {size}")
    if header.get("tail") != _tail_digest(segment, covered):
        raise Invalid("stale", f"{path} was built for other content (its last lines and chain value differ)")


def load_all(segments: list[str], audit_key: bytes) -> dict[str, SegmentIndex]:
    """Every usable index of a log's ``segments`` (in order), by segment path; the others are left
    out (scanned)."""
    found: dict[str, SegmentIndex] = {}
    for segment in segments:
        try:
            found[segment] = load(segment, audit_key)
        except Invalid:
            continue
    return found


def check(segments: list[str], audit_key: bytes) -> list[IndexProblem]:
    """``audit verify``'s checks: each sealed segment's index is present, authentic and current, and
    was built from exactly the segment's bytes (SHA-256 of the whole segment)."""
    problems = []
    every = segments
    for segment in every:
        name = os.path.basename(segment)
        try:
            index = load(segment, audit_key)
            try:
                covered = int(index.header["size"])
                if index.header.get("sha256") != _whole_digest(segment, covered):
                    raise Invalid("stale", f"{index.path} was built from other content than the segment's")
                if segment != every[-1] and covered != os.lstat(segment).st_size:
                    raise Invalid("stale", f"{index.path} does not cover the whole sealed segment")
                for field in FIELDS:
                    index.postings(field, index._all_values(field))
            finally:
                index.close()
        except Invalid as exc:
            if exc.kind == "missing" and segment == every[-1]:
                continue  # the newest segment is indexed once it has grown by INDEX_PART_BYTES
            problems.append(IndexProblem(name, exc.kind, exc.detail))
    return problems
