"""``kmscli audit tail [--follow]``: the last events, then new ones as they are appended."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmscli.audit.query import Filters, log_paths, match_line, open_log, open_log_fd, refuse_foreign
from kmscli.audit.query import _rarest_first as rarest_first


@dataclass
class Position:
    """Where following resumes: a file and a byte offset at a line boundary."""

    path: Path | None
    offset: int


#: Bytes read at a time when a segment is read from its end (``last_events``).
BACK_BLOCK = 1 << 20


def last_events(
    target: Path, filters: Filters, count: int, indexes: Mapping[str, Any] | None = None
) -> tuple[list[tuple[bytes, dict[str, Any]]], Position]:
    """The last ``count`` matching events and the position just after the log's current end.

    Segments are read newest first, each from its end, until ``count`` matches are found: a tail of
    a large log reads the little it shows. A sealed segment with an authenticated index in
    ``indexes`` (:func:`kmscli.audit.index.load_all`) reads only its candidate lines; every line is
    decided as a scan decides it (:func:`kmscli.audit.query.match_line`), so the events are the last
    ``count`` of a full scan (tests/unit/audit/test_index.py checks it)."""
    paths = log_paths(target)
    if paths and not target.is_dir():  # one file the user named: not a foreign format
        with open_log(paths[0], listed=False) as fh:
            if fh.seekable():  # (a pipe cannot be tailed from its end anyway)
                refuse_foreign(os.pread(fh.fileno(), 64, 0), paths[0])
    end = Position(paths[-1], paths[-1].stat().st_size) if paths else Position(None, 0)
    found: list[tuple[bytes, dict[str, Any]]] = []  # newest first
    try:
        if end.path is None or count <= 0:
            return [], end
        groups = filters.needle_groups()
        for i, path in enumerate(reversed(paths)):
            want = count - len(found)
            index = indexes.get(str(path)) if indexes and i > 0 and filters != Filters() else None
            if index is not None:
                matched = [
                    item
                    for lines in index.candidate_batches(filters)
                    for line in lines
                    if (item := match_line(line, filters, groups)) is not None
                ]
                found.extend(reversed(matched[-want:]))
            else:
                # the newest segment only up to the snapshot: nothing is both shown here and followed
                stop = end.offset if i == 0 else path.stat().st_size
                lines = _reverse_lines(path, stop, groups, target.is_dir())
                try:
                    for line in lines:
                        item = match_line(line, filters, groups)
                        if item is not None:
                            found.append(item)
                            if len(found) >= count:
                                break
                finally:
                    lines.close()
            if len(found) >= count:
                break
    finally:
        for unused in (indexes or {}).values():
            unused.close()
    return found[::-1], end


def _reverse_lines(
    path: Path, stop: int, groups: list[list[bytes]], listed: bool
) -> Generator[bytes, None, None]:
    """The lines of ``path``'s first ``stop`` bytes that may match, last first: a line without a
    needle of the rarest group and without a backslash is not yielded (``Filters.needle_groups``).
    ``listed``: a segment from a folder's listing, opened as :func:`~kmscli.audit.query.open_log`
    opens it."""
    fd = open_log_fd(path, listed=listed)
    try:
        pos = stop
        ordered = False
        carry = b""  # the start of a line that began in a block not yet read
        while pos > 0:
            size = min(BACK_BLOCK, pos)
            pos -= size
            buf = os.pread(fd, size, pos) + carry
            if pos > 0:
                first = buf.find(b"\n")
                if first == -1:  # a line longer than the block: read further back
                    carry = buf
                    continue
                carry, body = buf[:first], first + 1
            else:
                carry, body = b"", 0
            if not ordered and groups:  # search for the rarest needle, as the scan does
                groups[:], ordered = rarest_first(groups, buf, len(buf)), True
            yield from reversed(_may_match(buf, body, groups))
    finally:
        os.close(fd)


def _may_match(buf: bytes, start: int, groups: list[list[bytes]]) -> list[bytes]:
    """The lines of ``buf[start:]`` that a scan would judge, in order: those holding a needle of the
    first group or a backslash (every line when there is no group). ``match_line`` decides."""
    if not groups:
        return buf[start:].split(b"\n")
    upcoming = {mark: buf.find(mark, start) for mark in (*groups[0], b"\\")}
    lines: list[bytes] = []
    while True:
        hits = [at for at in upcoming.values() if at != -1]
        if not hits:
            return lines
        hit = min(hits)
        first = buf.rfind(b"\n", start, hit) + 1 or start
        last = buf.find(b"\n", hit)
        last = len(buf) if last == -1 else last
        lines.append(buf[first:last])
        for mark, at in upcoming.items():  # each needle's next place, searched again only when passed
            if at != -1 and at <= last:
                upcoming[mark] = buf.find(mark, last + 1)


def follow(
    target: Path,
    filters: Filters,
    start: Position,
    *,
    poll: float = 1.0,
    max_events: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    should_stop: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Matching events appended after ``start``, as they arrive; moves on to new segments.

    Runs until ``max_events`` were yielded or ``should_stop()`` is true (checked between polls).
    Only complete lines are read; a partial line is picked up once its newline is written.
    """
    emitted = 0
    pos = start
    listed = target.is_dir()  # segments of a folder; else the one file the user named
    while max_events is None or emitted < max_events:
        paths = log_paths(target) if target.is_dir() or target.exists() else []
        if pos.path is None:
            if not paths:
                if should_stop():
                    return
                sleep(poll)
                continue
            pos = Position(paths[0], 0)
        current = pos.path
        assert current is not None
        progressed = False
        try:
            with open_log(current, listed=listed) as fh:
                fh.seek(pos.offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        last = data.rfind(b"\n")
        if last != -1:
            progressed = True
            for raw in data[: last + 1].split(b"\n"):
                item = match_line(raw.strip(), filters, [])
                if item is not None:
                    yield item
                    emitted += 1
                    if max_events is not None and emitted >= max_events:
                        return
            pos = Position(current, pos.offset + last + 1)
        if not progressed:
            later = [p for p in paths if p.name > current.name] if target.is_dir() else []
            if later:
                pos = Position(later[0], 0)
                continue
            if should_stop():
                return
            sleep(poll)
