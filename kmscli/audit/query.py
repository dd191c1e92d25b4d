"""Streaming queries over the JSON-lines audit log (docs/audit.md, "Querying").

The reader never holds more than one block of the log in memory. Before a line is parsed, a byte-level
prefilter looks for text that every matching line must contain; it may only skip lines that cannot
match, so the exact filter (:meth:`Filters.matches`) still decides on every parsed line. Needles are
the JSON-encoded form of what a filter implies (``"Decrypt"``, ``"arn:...:user/bob"``, ``KEYID"``,
``"errorCode"``): in a line without a backslash every string is stored exactly as it decodes, so a
needle is present whenever the decoded line matches. Any character can be written as a ``\\u``
escape, so a line holding a backslash is always a candidate (docs/audit.md, "Streaming").

This module is on the hot path of ``kmscli audit --log-file``: it imports only the standard library.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, Protocol

from kmscli.ids import parse_kms_arn

if TYPE_CHECKING:  # paths are strings on the query path: pathlib loads urllib.parse and ipaddress
    from pathlib import Path

    from kmscli.vault.fs import StrPath

#: Bytes read per block; two blocks at most are alive at once.
BLOCK = 4 * 1024 * 1024
#: Characters that JSON encoders write literally inside strings (no escaping, ASCII only).
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:@+=,- ")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: Request/response members that name a key (CloudTrail lowerCamel names).
_KEY_MEMBERS = ("keyId", "targetKeyId", "sourceKeyId", "destinationKeyId", "aliasName", "arn")
_CONTEXT_MEMBERS = ("encryptionContext", "sourceEncryptionContext", "destinationEncryptionContext")


class QueryError(ValueError):
    """A filter value that cannot be understood (reported as a usage error, exit 252)."""


def parse_time(text: str, now: dt.datetime) -> dt.datetime:
    """ISO 8601 (date or date-time; naive means UTC) or a relative ``30m``, ``1h``, ``7d``, ``2w``."""
    value = text.strip()
    if (unit := _UNITS.get(value[-1:])) and (number := value[:-1].rstrip()).isdigit() and number.isascii():
        try:
            return now - dt.timedelta(**{unit: int(number)})
        except (OverflowError, ValueError):  # before year 1, or more digits than int() takes
            raise QueryError(f"invalid time {text!r}: it reaches back before year 1") from None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(
            f"invalid time {text!r}: use ISO 8601 (2026-11-01, 2026-11-01T08:00:00Z) or a relative "
            "time such as 30m, 1h, 7d, 2w"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def event_datetime(event: dict[str, Any]) -> dt.datetime | None:
    """The event's ``eventTime`` as an aware datetime (None when missing or malformed)."""
    text = event.get("eventTime")
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


#: ARN -> what :func:`normalize_key_ref` makes of it: a log names the same few keys on every line.
_NORMALIZED: dict[str, str] = {}


def normalize_key_ref(ref: str) -> str:
    """Key ARN -> key id, alias ARN -> alias name; anything else unchanged."""
    if not ref.startswith("arn:"):  # a key id or alias name (both patterns start so): no regex
        return ref
    found = _NORMALIZED.get(ref)
    if found is None:
        arn = parse_kms_arn(ref)
        found = ref if arn is None else arn[2][4:] if arn[2].startswith("key/") else arn[2]
        if len(_NORMALIZED) >= 4096:  # a bound for a long-running process (serve, tail --follow)
            _NORMALIZED.clear()
        _NORMALIZED[ref] = found
    return found


def _key_refs(event: dict[str, Any]) -> Iterator[str]:
    """Every key id and alias name an event mentions, resources first (where nearly every event
    names its key, so :func:`mentions_key` usually stops at the first), then the request, the
    response and the request alias; a ref may come more than once."""
    for res in event.get("resources") or ():
        if isinstance(res, dict) and isinstance(arn := res.get("ARN"), str):
            yield normalize_key_ref(arn)
    for part in ("requestParameters", "responseElements"):
        body = event.get(part)
        if not isinstance(body, dict):
            continue
        meta = body.get("keyMetadata")
        for source in (body, meta) if isinstance(meta, dict) else (body,):
            for name in _KEY_MEMBERS:
                if isinstance(value := source.get(name), str):
                    yield normalize_key_ref(value)
    extra = event.get("additionalEventData")
    if isinstance(extra, dict) and isinstance(alias := extra.get("requestAlias"), str):
        yield alias


def event_key_refs(event: dict[str, Any]) -> set[str]:
    """Every key id and alias name an event mentions (resources, request, response, request alias)."""
    return set(_key_refs(event))


def mentions_key(event: dict[str, Any], refs: frozenset[str]) -> bool:
    """Whether the event mentions any of ``refs`` (``refs & event_key_refs(event)``, without
    collecting every ref of an event that names one in its resources)."""
    return any(ref in refs for ref in _key_refs(event))


def event_contexts(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The encryption contexts in an event's request (ReEncrypt has a source and a destination)."""
    req = event.get("requestParameters")
    if not isinstance(req, dict):
        return []
    return [ctx for name in _CONTEXT_MEMBERS if isinstance(ctx := req.get(name), dict)]


def _needle(text: str) -> bytes | None:
    """The longest run (three characters at least) of never-escaped characters of ``text``, or None
    when it has none: the first of the longest, written out (a regex costs more to compile than a
    filter's values take to walk)."""
    best = ""
    start = 0
    for i, char in enumerate(text + "\0"):  # "\0" is not safe: it ends the last run
        if char not in _SAFE:
            if i - start > max(len(best), 2):
                best = text[start:i]
            start = i + 1
    return best.encode() if best else None


def json_string(text: str) -> bytes | None:
    """``text`` as a JSON string with its quotes, as the writer stores it; None when that form holds
    an escape (then another encoder's form may differ, and only :func:`_needle` runs are safe)."""
    encoded = json.dumps(text, ensure_ascii=False).encode()
    return None if b"\\" in encoded else encoded


def _string_group(values: Iterable[str], suffix_only: bool = False) -> list[bytes] | None:
    """Needles for "a string member equals one of ``values``" (or, with ``suffix_only``, ends with
    one): the exact JSON forms when every value has one, else their safe runs, else None."""
    forms = [json_string(v) for v in values]
    if forms and all(f is not None for f in forms):
        return [f[1:] if suffix_only else f for f in forms if f is not None]
    runs = [_needle(v) for v in values]
    if runs and all(r is not None for r in runs):
        return [r for r in runs if r is not None]
    return None


class Filters(NamedTuple):
    """What ``kmscli audit`` selects; an empty Filters matches every event. (A NamedTuple, not a
    dataclass: ``dataclasses`` imports ``inspect``, several milliseconds of every query's start.)"""

    key_refs: frozenset[str] = frozenset()
    event_names: frozenset[str] = frozenset()
    principal: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    errors_only: bool = False
    context: tuple[tuple[str, str], ...] = ()
    access_key_id: str | None = None
    source_ip: str | None = None

    @classmethod
    def build(
        cls,
        *,
        key_id: str | None = None,
        alias_targets: Iterable[str] = (),
        event_names: Iterable[str] = (),
        principal: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        errors_only: bool = False,
        context: Iterable[tuple[str, str]] = (),
        access_key_id: str | None = None,
        source_ip: str | None = None,
    ) -> Filters:
        """Filters from command-line values; ``alias_targets`` are the key ids an alias points to."""
        refs: set[str] = set()
        if key_id:
            refs.add(normalize_key_ref(key_id))
            refs.update(alias_targets)
        if start and end and start > end:
            raise QueryError("--start-time is after --end-time")
        return cls(
            key_refs=frozenset(refs),
            event_names=frozenset(event_names),
            principal=principal or None,
            start=start,
            end=end,
            errors_only=errors_only,
            context=tuple(context),
            access_key_id=access_key_id or None,
            source_ip=source_ip or None,
        )

    # -- byte-level prefilter ----------------------------------------------------------------------
    def needle_groups(self) -> list[list[bytes]]:
        """Groups of byte strings: a matching line without a backslash contains at least one needle
        of every group (a line with one is always a candidate: see the module's docstring)."""
        groups: list[list[bytes] | None] = []
        if self.event_names:
            groups.append(_string_group(sorted(self.event_names)))
        if self.key_refs:
            # a member naming the key is the id, an ARN ending in it, or the alias name
            groups.append(_string_group(sorted(self.key_refs), suffix_only=True))
        if self.principal:
            wanted = self.principal
            group = _string_group([wanted])
            if group and "/" not in wanted and ":" not in wanted and (form := json_string(wanted)):
                group.append(b"/" + form[1:])  # a bare name also matches the ARN's last path element
            groups.append(group)
        if self.errors_only:
            groups.append([b'"errorCode"'])
        for key, value in self.context:
            groups.append(_string_group([key]))
            groups.append(_string_group([value]))
        if self.access_key_id:
            groups.append(_string_group([self.access_key_id]))
        if self.source_ip:
            groups.append(_string_group([self.source_ip]))
        found = [g for g in groups if g]
        # a static guess at the most selective first (longer needles, fewer alternatives); the scan
        # re-orders them by their estimated search cost in the first block it reads (_rarest_first)
        found.sort(key=lambda g: (len(g), -min(len(n) for n in g)))
        return found

    # -- exact filter ----------------------------------------------------------------------------------
    def matches(self, event: dict[str, Any]) -> bool:
        """Whether a parsed event satisfies every filter."""
        if self.event_names and event.get("eventName") not in self.event_names:
            return False
        if self.errors_only and not event.get("errorCode"):
            return False
        if self.principal and not _principal_matches(event.get("userIdentity"), self.principal):
            return False
        if self.start or self.end:
            when = event_datetime(event)
            if when is None:
                return False
            if self.start and when < self.start:
                return False
            if self.end and when > self.end:
                return False
        if self.key_refs and not mentions_key(event, self.key_refs):
            return False
        if self.context:
            contexts = event_contexts(event)
            if not any(all(ctx.get(k) == v for k, v in self.context) for ctx in contexts):
                return False
        if self.access_key_id and event_access_key_id(event) != self.access_key_id:
            return False
        return not self.source_ip or event.get("sourceIPAddress") == self.source_ip


def event_access_key_id(event: dict[str, Any]) -> Any:
    """``userIdentity.accessKeyId`` (None when absent)."""
    identity = event.get("userIdentity")
    return identity.get("accessKeyId") if isinstance(identity, dict) else None


def _principal_matches(identity: Any, wanted: str) -> bool:
    if not isinstance(identity, dict):
        return False
    arn = identity.get("arn")
    if wanted in (arn, identity.get("principalId"), identity.get("userName")):
        return True
    # a bare name matches the last path element of the ARN: "alice" ~ ...:user/alice
    return (
        isinstance(arn, str) and "/" not in wanted and ":" not in wanted and arn.rsplit("/", 1)[-1] == wanted
    )


# -- reading ------------------------------------------------------------------------------------------


class ScanStats:
    """What a scan saw besides its matches."""

    __slots__ = ("candidates", "files", "lines", "unreadable")

    def __init__(self) -> None:
        self.lines = 0
        self.candidates = 0
        self.unreadable = 0
        self.files: list[str] = []


def open_log_fd(path: StrPath, *, listed: bool) -> int:
    """A log file opened for reading, as a descriptor. A segment from a folder's listing
    (``listed``) is opened without following a link and only as a regular file (``fs.open_fd``):
    its name may have been swapped since the listing was checked. A file the user named
    (``--log-file FILE``) is opened as given: a pipe, or the user's own link."""
    from kmscli.vault import fs

    return fs.open_fd(path) if listed else os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def open_log(path: StrPath, *, listed: bool) -> BinaryIO:
    """:func:`open_log_fd` as an unbuffered binary file (the caller closes it)."""
    return open(open_log_fd(path, listed=listed), "rb", buffering=0)


#: How a CloudTrail file starts (its records are one JSON document, not one event per line);
#: compiled by ``re`` when first used (only ``--log-file`` needs it).
_CLOUDTRAIL_START = rb'\s*\{\s*"Records"\s*:'


def refuse_foreign(head: bytes, path: StrPath) -> None:
    """Usage error (252) when a log file the user named starts as a gzip file or a CloudTrail
    document (``{"Records": [...]}``, what ``audit export --format cloudtrail`` and CloudTrail
    write): read as JSON lines, it would be unreadable bytes or one empty event."""
    from kmscli.errors import UsageError

    if head[:2] == b"\x1f\x8b":
        raise UsageError(
            f"{path} is gzip-compressed: kmscli audit reads JSON lines, one event per line "
            "(decompress it first: gunzip -c)"
        )
    if re.match(_CLOUDTRAIL_START, head):
        raise UsageError(
            f'{path} is a CloudTrail file ({{"Records": [...]}}): kmscli audit reads JSON lines, one '
            "event per line (jq -c '.Records[]' turns one into the other)"
        )


def _blocks(path: StrPath, listed: bool) -> Iterator[tuple[bytes, int]]:
    """:func:`_read_blocks`; the first block of a file the user named is checked for a foreign
    format (:func:`refuse_foreign`)."""
    checked = listed
    for buf, end in _read_blocks(path, listed):
        if not checked:
            refuse_foreign(buf[:64], path)
            checked = True
        yield buf, end


def _read_blocks(path: StrPath, listed: bool) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines: (buffer, index of its last newline). A final unterminated line comes
    last with its end == len(buffer). A partial line at the end of a block is not copied: the file
    position moves back to its start and the next read begins there."""
    with open_log(path, listed=listed) as fh:
        if not fh.seekable():  # a pipe: carry the partial line over instead
            yield from _blocks_unseekable(fh)
            return
        size = BLOCK
        while True:
            buf = fh.read(size)
            if not buf:
                return
            last = buf.rfind(b"\n")
            if last == -1:
                if len(buf) < size:  # end of file inside a line: the unterminated final line
                    if buf.strip():
                        yield buf, len(buf)
                    return
                fh.seek(-len(buf), 1)  # a line longer than the block: read more at once
                size *= 2
                continue
            if last + 1 < len(buf):
                fh.seek(last + 1 - len(buf), 1)
            yield buf, last
            size = BLOCK


def _blocks_unseekable(fh: Any) -> Iterator[tuple[bytes, int]]:
    carry = b""
    while True:
        block = fh.read(BLOCK)
        if not block:
            if carry.strip():
                yield carry, len(carry)
            return
        buf = carry + block if carry else block
        last = buf.rfind(b"\n")
        if last == -1:
            carry = buf
            continue
        carry = buf[last + 1 :]
        yield buf, last


def fast_accept(filters: Filters) -> re.Pattern[bytes] | None:
    """For a query that selects by event name only: a pattern that proves a *well-formed* line's
    top-level ``eventName`` is one of the names without parsing the line (docs/audit.md).

    It matches the record layout of the writer and of CloudTrail: ``eventVersion``, a flat
    ``userIdentity``, ``eventTime``, ``eventSource``, then ``eventName``. Every string in it is free
    of quotes and escapes and the object free of brackets, so in valid JSON each piece is what it
    looks like: the member is top level and its value is exactly the name. Lines that do not match
    are parsed as usual.
    """
    if filters != Filters(event_names=filters.event_names) or not filters.event_names:
        return None
    if any(_needle(n) != n.encode() for n in filters.event_names):
        return None
    names = b"|".join(re.escape(n.encode()) for n in sorted(filters.event_names))
    return re.compile(
        rb'\{"eventVersion":"[^"\\]*","userIdentity":\{[^{}\[\]]*\},"eventTime":"[^"\\]*",'
        rb'"eventSource":"[^"\\]*","eventName":"(?:' + names + rb')"[,}]'
    )


def _well_formed(line: bytes) -> bool:
    """Cheap checks a fast-accepted line must also pass, else it is parsed: it ends its object and
    its braces balance (a line cut short anywhere leaves the outer object open), it names
    ``eventName`` once, and it has no ``\\u`` escapes (which could spell a second ``eventName``)."""
    return (
        line[-1:] == b"}"
        and b"\\u" not in line
        and line.count(b"{") == line.count(b"}")
        and line.count(b'"eventName"') == 1
    )


#: What :func:`parse_line` returns for a blank line (skipped, not counted).
BLANK: Any = object()
_raw_decode = json.JSONDecoder().raw_decode


def valid_text(text: str) -> str:
    """``text`` with each lone surrogate (JSON's ``\\u`` escapes can spell one, and Python keeps
    undecodable bytes as one; it is not text and cannot be encoded as UTF-8, printed or stored)
    written as its backslash escape, ``\\ud800``; any other text unchanged."""
    try:
        text.encode("utf-8")  # raises exactly when there is a surrogate (compiling a regex for
        return text  # the range costs half a millisecond of every query's start)
    except UnicodeEncodeError:
        pass
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _valid_values(value: Any) -> Any:
    """A parsed JSON value with :func:`valid_text` applied to every string, keys included."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {valid_text(k): _valid_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_values(v) for v in value]
    return value


def parse_line(line: bytes) -> Any:
    """The JSON value of one log line (None when unreadable, :data:`BLANK` when blank): one object is
    parsed with ``raw_decode`` (json.loads adds encoding detection and wrapper calls). A line that
    spells a lone surrogate (``\\ud800``) is read with it as that escape's text (:func:`valid_text`),
    so every reader can print, filter, count and export it."""
    try:
        decoded = line.decode()
        if decoded[:1] == "{":
            event, last = _raw_decode(decoded)
            if last != len(decoded) and decoded[last:].strip():
                return None
        elif decoded.strip():
            event = json.loads(decoded)
        else:
            return BLANK
        if b"\\ud" in line or b"\\uD" in line:  # a surrogate escape (or a near miss: harmless)
            event = _valid_values(event)
        return event
    except (StopIteration, ValueError, RecursionError):  # nested too deeply: unreadable
        return None


class SegmentIndex(Protocol):
    """An authenticated sidecar index of one segment (:mod:`kmscli.audit.index`)."""

    def candidate_batches(self, filters: Filters) -> Iterator[list[bytes]]:
        """Every line of the segment that may match ``filters`` (a superset), in log order."""
        ...


def scan_batches(
    paths: Iterable[StrPath],
    filters: Filters,
    stats: ScanStats | None = None,
    indexes: Mapping[str, SegmentIndex] | None = None,
    *,
    listed: bool = True,
) -> Iterator[list[tuple[bytes, dict[str, Any]]]]:
    """Matching (raw line, event) pairs of ``paths`` in log order, one list per block read.

    Only candidate lines (those holding a needle of every group) are decoded and parsed, with the
    C scanner directly (json.loads adds encoding detection and wrapper calls per line). A path with
    an entry in ``indexes`` reads only the lines its index names as candidates; the same checks then
    decide on each of them, so the answer is the scan's.
    """
    yield from _scan(paths, filters, stats, raw=False, indexes=indexes, listed=listed)


def scan_raw_batches(
    paths: Iterable[StrPath],
    filters: Filters,
    stats: ScanStats | None = None,
    indexes: Mapping[str, SegmentIndex] | None = None,
    *,
    listed: bool = True,
) -> Iterator[list[bytes]]:
    """The matching lines only, as stored, one list per block read. When the query is by event
    name only, lines that :func:`fast_accept` and :func:`_well_formed` vouch for are not parsed."""
    for batch in _scan(paths, filters, stats, raw=True, indexes=indexes, listed=listed):
        yield [line for line, _event in batch]


def _rarest_first(groups: list[list[bytes]], buf: bytes, end: int) -> list[list[bytes]]:
    """``groups`` ordered by the estimated cost of driving the search with each, cheapest first: the
    time to search a block for the needle (shorter needles are searched more slowly: measured about
    24 ms per 64 MiB for 11 bytes, 13 ms for 36, roughly 80 ms / sqrt(length); alternatives need a
    regular expression, about 3x slower) plus about 2 µs per line it finds, counted in ``buf``."""
    if len(groups) < 2:
        return groups
    scale = max(end, 1) / (64 << 20)

    def cost(group: list[bytes]) -> float:
        search = 80.0 / min(len(n) for n in group) ** 0.5 * (3 if len(group) > 1 else 1)
        hits = sum(buf.count(n, 0, end) for n in group)
        return search * scale + hits * 0.002

    return sorted(groups, key=cost)


def _scan(
    paths: Iterable[StrPath],
    filters: Filters,
    stats: ScanStats | None,
    raw: bool,
    indexes: Mapping[str, SegmentIndex] | None = None,
    listed: bool = True,
) -> Iterator[list[tuple[bytes, Any]]]:
    stats = stats if stats is not None else ScanStats()
    quick = fast_accept(filters) if raw else None
    groups = filters.needle_groups()
    ordered = False
    matches = filters.matches

    def judge(line: bytes, rest: list[list[bytes]], found: list[tuple[bytes, Any]]) -> None:
        """Decide on one line: the needles of ``rest``, then the fast path or the parser."""
        if rest and b"\\" not in line and not all(any(n in line for n in group) for group in rest):
            return
        if quick is not None and quick.match(line) and _well_formed(line):
            stats.candidates += 1
            found.append((line, None))
            return
        event = parse_line(line)
        if event is BLANK:
            return
        stats.candidates += 1
        if not isinstance(event, dict):
            stats.unreadable += 1
        elif matches(event):
            found.append((line.rstrip(), event))

    for path in paths:
        stats.files.append(str(path))
        index = indexes.get(str(path)) if indexes else None
        if index is not None:
            for lines in index.candidate_batches(filters):
                found: list[tuple[bytes, Any]] = []
                for line in lines:
                    judge(line, groups, found)
                if found:
                    yield found
            continue
        for buf, end in _blocks(path, listed):
            if not ordered:
                groups, ordered = _rarest_first(groups, buf, end), True
            driver = groups[0] if groups else None
            rest = groups[1:]
            if driver is not None and (len(driver) > 1 or buf.find(b"\\", 0, end) != -1):
                # a line with a backslash is a candidate whatever it spells (\\u escapes)
                alternatives = [*driver, b"\\"] if buf.find(b"\\", 0, end) != -1 else driver
                finder: Any = re.compile(b"|".join(re.escape(n) for n in alternatives))
            else:
                finder = None
            needle = driver[0] if driver is not None else b"\n"
            found = []
            pos = 0
            while pos < end:
                if driver is None:
                    start = pos
                    stop = buf.find(b"\n", pos, end)
                else:
                    if finder is not None:
                        m = finder.search(buf, pos, end)
                        hit = -1 if m is None else m.start()
                    else:
                        hit = buf.find(needle, pos, end)
                    if hit == -1:
                        break
                    start = buf.rfind(b"\n", 0, hit) + 1
                    stop = buf.find(b"\n", hit, end)
                if stop == -1:
                    stop = end
                pos = stop + 1
                judge(buf[start:stop], rest, found)
            if found:
                yield found


def match_line(
    line: bytes, filters: Filters, groups: list[list[bytes]]
) -> tuple[bytes, dict[str, Any]] | None:
    """(the line as stored, its event) when one log line matches ``filters``, else None, decided as
    a scan decides (``groups`` are ``filters.needle_groups()``): a line without a backslash that
    lacks a needle of some group cannot match; any other is parsed and checked exactly."""
    if groups and b"\\" not in line and not all(any(n in line for n in group) for group in groups):
        return None
    event = parse_line(line)
    if isinstance(event, dict) and filters.matches(event):
        return line.rstrip(), event
    return None


def scan(
    paths: Iterable[StrPath],
    filters: Filters,
    stats: ScanStats | None = None,
    indexes: Mapping[str, SegmentIndex] | None = None,
    *,
    listed: bool = True,
) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """(raw line, event) for every event of ``paths`` that matches ``filters``, in log order.
    ``listed``: the paths come from a folder's listing (:func:`open_log`)."""
    for batch in scan_batches(paths, filters, stats, indexes, listed=listed):
        yield from batch


def log_files(target: StrPath) -> list[str]:
    """The files to read for ``target``: a single log file, or every segment of a log folder."""
    if os.path.isdir(target):
        from kmscli.audit.log import segments

        return segments(target)
    return [os.fspath(target)]


def log_paths(target: StrPath) -> list[Path]:
    """:func:`log_files` as ``Path`` objects (for export and tail)."""
    from pathlib import Path

    return [Path(p) for p in log_files(target)]


# -- presentation helpers (shared by query, stats and tail) ---------------------------------------------


def display_key(event: dict[str, Any], aliases: dict[str, str] | None = None) -> str:
    """The key an event is about, as an alias where one is known, else the key id."""
    extra = event.get("additionalEventData")
    if isinstance(extra, dict) and isinstance(extra.get("requestAlias"), str):
        return str(extra["requestAlias"])
    key_id = ""
    for res in event.get("resources") or ():
        if isinstance(res, dict) and isinstance(res.get("ARN"), str):
            key_id = normalize_key_ref(res["ARN"])
            break
    if not key_id:
        req = event.get("requestParameters")
        if isinstance(req, dict):
            for name in ("keyId", "aliasName", "targetKeyId"):
                if isinstance(req.get(name), str):
                    key_id = normalize_key_ref(req[name])
                    break
    if aliases and key_id in aliases:
        return aliases[key_id]
    return key_id


def display_context(event: dict[str, Any]) -> str:
    """``k=v,k2=v2`` of the request's encryption context(s)."""
    return " | ".join(",".join(f"{k}={v}" for k, v in sorted(ctx.items())) for ctx in event_contexts(event))


def display_result(event: dict[str, Any]) -> str:
    """``OK`` or the error code."""
    return str(event["errorCode"]) if event.get("errorCode") else "OK"


def display_principal(event: dict[str, Any]) -> str:
    """The caller's ARN (or principal id when the ARN is missing)."""
    ident = event.get("userIdentity")
    if not isinstance(ident, dict):
        return ""
    return str(ident.get("arn") or ident.get("principalId") or "")


def summary_row(event: dict[str, Any], aliases: dict[str, str] | None = None) -> list[str]:
    """The columns of the table and text views: time, principal, event, key, context, result."""
    return [
        str(event.get("eventTime", "")),
        display_principal(event),
        str(event.get("eventName", "")),
        display_key(event, aliases),
        display_context(event),
        display_result(event),
    ]


COLUMNS = ("Time", "Principal", "Event", "Key", "Encryption context", "Result")
