"""Streaming queries over the JSON-lines audit log (docs/audit.md, "Querying").

The reader never holds more than one block of the log in memory. Before a line is parsed, a byte-level
prefilter looks for text that every matching line must contain; it may only skip lines that cannot
match, so the exact filter (:meth:`Filters.matches`) still decides on every parsed line. Needles are
built only from characters that no JSON encoder escapes, so a needle is present in the raw bytes
whenever the decoded value contains it.

This module is on the hot path of ``kmscli audit --log-file``: it imports only the standard library.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Bytes read per block; two blocks at most are alive at once.
BLOCK = 4 * 1024 * 1024
#: Characters that JSON encoders write literally inside strings (no escaping, ASCII only).
_SAFE_RUN = re.compile(r"[A-Za-z0-9_.:@+=,\- ]{3,}")
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/(.+)$")
_ALIAS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(alias/.+)$")
#: Request/response members that name a key (CloudTrail lowerCamel names).
_KEY_MEMBERS = ("keyId", "targetKeyId", "sourceKeyId", "destinationKeyId", "aliasName", "arn")
_CONTEXT_MEMBERS = ("encryptionContext", "sourceEncryptionContext", "destinationEncryptionContext")


class QueryError(ValueError):
    """A filter value that cannot be understood (reported as a usage error, exit 252)."""


def parse_time(text: str, now: dt.datetime) -> dt.datetime:
    """ISO 8601 (date or date-time; naive means UTC) or a relative ``30m``, ``1h``, ``7d``, ``2w``."""
    value = text.strip()
    if m := _RELATIVE.match(value):
        return now - dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
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


def normalize_key_ref(ref: str) -> str:
    """Key ARN -> key id, alias ARN -> alias name; anything else unchanged."""
    if m := _KEY_ARN.match(ref):
        return m.group(1)
    if m := _ALIAS_ARN.match(ref):
        return m.group(1)
    return ref


def event_key_refs(event: dict[str, Any]) -> set[str]:
    """Every key id and alias name an event mentions (resources, request, response, request alias)."""
    refs: set[str] = set()
    for res in event.get("resources") or ():
        if isinstance(res, dict) and isinstance(res.get("ARN"), str):
            refs.add(normalize_key_ref(res["ARN"]))
    for part in ("requestParameters", "responseElements"):
        body = event.get(part)
        if not isinstance(body, dict):
            continue
        meta = body.get("keyMetadata")
        for source in (body, meta if isinstance(meta, dict) else {}):
            for name in _KEY_MEMBERS:
                value = source.get(name)
                if isinstance(value, str):
                    refs.add(normalize_key_ref(value))
    extra = event.get("additionalEventData")
    if isinstance(extra, dict) and isinstance(extra.get("requestAlias"), str):
        refs.add(extra["requestAlias"])
    return refs


def event_contexts(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The encryption contexts in an event's request (ReEncrypt has a source and a destination)."""
    req = event.get("requestParameters")
    if not isinstance(req, dict):
        return []
    return [ctx for name in _CONTEXT_MEMBERS if isinstance(ctx := req.get(name), dict)]


def _needle(text: str) -> bytes | None:
    """The longest run of never-escaped characters of ``text``, or None when it has none."""
    runs = _SAFE_RUN.findall(text)
    return max(runs, key=len).encode() if runs else None


@dataclass
class Filters:
    """What ``kmscli audit`` selects; an empty Filters matches every event."""

    key_refs: frozenset[str] = frozenset()
    event_names: frozenset[str] = frozenset()
    principal: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    errors_only: bool = False
    context: tuple[tuple[str, str], ...] = ()

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
        )

    # -- byte-level prefilter ----------------------------------------------------------------------
    def needle_groups(self) -> list[list[bytes]]:
        """Groups of byte strings: a matching line contains at least one needle of every group."""
        groups: list[list[bytes]] = []
        if self.event_names:
            names = [_needle(n) for n in sorted(self.event_names)]
            if all(n is not None and n.decode() in self.event_names for n in names):
                groups.append([b'"' + n + b'"' for n in names if n is not None])
        if self.key_refs:
            refs = [_needle(r) for r in sorted(self.key_refs)]
            if all(refs):
                groups.append([r for r in refs if r is not None])
        if self.principal and (needle := _needle(self.principal)):
            groups.append([needle])
        if self.errors_only:
            groups.append([b'"errorCode"'])
        for key, value in self.context:
            for part in (key, value):
                if needle := _needle(part):
                    groups.append([needle])
        # most selective first: longer needles and fewer alternatives find fewer candidate lines
        groups.sort(key=lambda g: (len(g), -min(len(n) for n in g)))
        return groups

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
        if self.key_refs and not (self.key_refs & event_key_refs(event)):
            return False
        if self.context:
            contexts = event_contexts(event)
            if not any(all(ctx.get(k) == v for k, v in self.context) for ctx in contexts):
                return False
        return True


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


@dataclass
class ScanStats:
    """What a scan saw besides its matches."""

    lines: int = 0
    candidates: int = 0
    unreadable: int = 0
    files: list[str] = field(default_factory=list)


def _blocks(path: Path) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines: (buffer, index of its last newline). A final unterminated line comes
    last with its end == len(buffer). A partial line at the end of a block is not copied: the file
    position moves back to its start and the next read begins there."""
    with open(path, "rb", buffering=0) as fh:
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


def scan_batches(
    paths: Iterable[Path], filters: Filters, stats: ScanStats | None = None
) -> Iterator[list[tuple[bytes, dict[str, Any]]]]:
    """Matching (raw line, event) pairs of ``paths`` in log order, one list per block read.

    Only candidate lines (those holding a needle of every group) are decoded and parsed, with the
    C scanner directly (json.loads adds encoding detection and wrapper calls per line).
    """
    yield from _scan(paths, filters, stats, raw=False)


def scan_raw_batches(
    paths: Iterable[Path], filters: Filters, stats: ScanStats | None = None
) -> Iterator[list[bytes]]:
    """The matching lines only, as stored, one list per block read. When the query is by event
    name only, lines that :func:`fast_accept` and :func:`_well_formed` vouch for are not parsed."""
    for batch in _scan(paths, filters, stats, raw=True):
        yield [line for line, _event in batch]


def _scan(
    paths: Iterable[Path], filters: Filters, stats: ScanStats | None, raw: bool
) -> Iterator[list[tuple[bytes, Any]]]:
    stats = stats if stats is not None else ScanStats()
    quick = fast_accept(filters) if raw else None
    groups = filters.needle_groups()
    driver = groups[0] if groups else None
    rest = groups[1:]
    finder: Any = None
    if driver is not None and len(driver) > 1:
        finder = re.compile(b"|".join(re.escape(n) for n in driver))
    needle = driver[0] if driver is not None else b"\n"
    every_line = driver is None
    raw_decode = json.JSONDecoder().raw_decode
    loads = json.loads
    matches = filters.matches
    for path in paths:
        stats.files.append(str(path))
        for buf, end in _blocks(path):
            found: list[tuple[bytes, Any]] = []
            pos = 0
            while pos < end:
                if every_line:
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
                line = buf[start:stop]
                if rest and not all(any(n in line for n in group) for group in rest):
                    continue
                if quick is not None and quick.match(line) and _well_formed(line):
                    stats.candidates += 1
                    found.append((line, None))
                    continue
                event: Any = None
                try:
                    decoded = line.decode()
                    if decoded[:1] == "{":
                        event, last = raw_decode(decoded)
                        if last != len(decoded) and decoded[last:].strip():
                            event = None
                    elif decoded.strip():
                        event = loads(decoded)
                    else:
                        continue
                except (StopIteration, ValueError, RecursionError):  # nested too deeply: unreadable
                    event = None
                stats.candidates += 1
                if not isinstance(event, dict):
                    stats.unreadable += 1
                elif matches(event):
                    found.append((line.rstrip(), event))
            if found:
                yield found


def scan(
    paths: Iterable[Path], filters: Filters, stats: ScanStats | None = None
) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """(raw line, event) for every event of ``paths`` that matches ``filters``, in log order."""
    for batch in scan_batches(paths, filters, stats):
        yield from batch


def log_paths(target: Path) -> list[Path]:
    """The files to read for ``target``: a single log file, or every segment of a log folder."""
    if target.is_dir():
        from kmscli.audit.log import segments

        return [Path(p) for p in segments(target)]
    return [target]


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
