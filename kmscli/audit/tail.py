"""``kmscli audit tail [--follow]``: the last events, then new ones as they are appended."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmscli.audit.query import Filters, log_paths, scan


@dataclass
class Position:
    """Where following resumes: a file and a byte offset at a line boundary."""

    path: Path | None
    offset: int


def last_events(
    target: Path, filters: Filters, count: int
) -> tuple[list[tuple[bytes, dict[str, Any]]], Position]:
    """The last ``count`` matching events and the position just after the log's current end."""
    paths = log_paths(target)
    end = Position(paths[-1], paths[-1].stat().st_size) if paths else Position(None, 0)
    if end.path is not None:
        # read only up to the snapshot, so nothing is both printed here and followed later
        found: deque[tuple[bytes, dict[str, Any]]] = deque(maxlen=max(count, 0))
        if count > 0:
            for item in scan(paths[:-1], filters):
                found.append(item)
            for item in _scan_range(end.path, 0, end.offset, filters):
                found.append(item)
        return list(found), end
    return [], end


def _scan_range(
    path: Path, start: int, stop: int, filters: Filters
) -> Iterator[tuple[bytes, dict[str, Any]]]:
    with open(path, "rb") as fh:
        fh.seek(start)
        data = fh.read(stop - start)
    for raw in data.split(b"\n"):
        item = _match(raw, filters)
        if item is not None:
            yield item


def _match(raw: bytes, filters: Filters) -> tuple[bytes, dict[str, Any]] | None:
    line = raw.strip()
    if not line:
        return None
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):  # nested too deeply: unreadable, like any damaged line
        return None
    if isinstance(event, dict) and filters.matches(event):
        return line, event
    return None


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
            with open(current, "rb") as fh:
                fh.seek(pos.offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        last = data.rfind(b"\n")
        if last != -1:
            progressed = True
            for raw in data[: last + 1].split(b"\n"):
                item = _match(raw, filters)
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
