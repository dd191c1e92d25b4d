"""``kmscli audit verify``: walk the chain across every segment and locate the first bad line.

Classification of the first line whose chain value does not follow (docs/audit.md, "Verification"):

* ``torn``: the last line of the last segment has no newline (a crash mid-append); ``--repair``
  truncates exactly those bytes. It is detected separately from tampering.
* ``edited``: the line is unreadable, or its sequence is the expected one but its content no longer
  matches its chain value.
* ``inserted``: the line after it continues the chain from the line before it, or its sequence was
  already used (a replayed copy).
* ``deleted``: its sequence jumps ahead and the missing sequences appear nowhere later.
* ``reordered``: its sequence jumps ahead but the missing sequence (or its genuine predecessor)
  appears later in the log.

* ``folder``: a file in the audit folder that the writer never makes (an unexpected name, a segment
  numbered out of sequence).
* ``padding``: blank lines, which the writer never writes (they can push a segment past its size).
* ``state``: the vault's files are not the ones the log's newest commit made (rolled back), or
  the vault's state was thrown away (generations restart).
* ``truncated``: the log ends before the sequence its head record (or the vault state) names: events
  were cut off the end, or the newest segment was removed (docs/audit.md, "Head record").
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from kmscli.audit import chain
from kmscli.audit.log import AuditTamperError, read_head, segment_number, survey
from kmscli.vault import fs

TORN = "torn"
EDITED = "edited"
INSERTED = "inserted"
DELETED = "deleted"
REORDERED = "reordered"
FOLDER = "folder"
PADDING = "padding"
TRUNCATED = "truncated"
STATE = "state"


def _generation(report: Report, line: _Line) -> None:
    """Vault commits number their generations upward; one that does not was made by a vault whose
    state was thrown away (docs/format.md section 1.5)."""
    assert line.event is not None
    extra = line.event.get("additionalEventData")
    gen = extra.get("vaultGeneration") if isinstance(extra, dict) else None
    if not isinstance(gen, int) or isinstance(gen, bool):
        return
    if report.last_generation is not None and gen <= report.last_generation[0]:
        report.findings.append(
            Problem(
                line.file,
                line.number,
                STATE,
                f"vault generation {gen} follows generation {report.last_generation[0]}: the vault's "
                "state was removed or replaced in between",
            )
        )
    report.last_generation = (gen, line.seq)


class Mark(NamedTuple):
    """A point the log must reach: an event's sequence and chain value, and who names it."""

    sequence: int
    chain: str
    what: str


@dataclass
class Problem:
    """One finding: where (file and 1-based line), what kind, and an explanation."""

    file: str
    line: int
    kind: str
    detail: str

    def location(self) -> str:
        """``file:line``."""
        return f"{self.file}:{self.line}"

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"File": self.file, "Line": self.line, "Kind": self.kind, "Detail": self.detail}


@dataclass
class Report:
    """The outcome of a verification."""

    events: int = 0
    segments: list[str] = field(default_factory=list)
    last_sequence: int = 0
    problem: Problem | None = None
    torn: Problem | None = None
    torn_bytes: int = 0
    repaired: dict[str, Any] | None = None
    findings: list[Problem] = field(default_factory=list)
    #: (vaultGeneration, sequence) of the newest event that carries one (a vault commit).
    last_generation: tuple[int, int] | None = None
    #: sidecar indexes that are stale or fail their checks (kmscli.audit.index.IndexProblem)
    indexes: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the chain is intact, no torn tail remains, nothing else was found and every
        index is sound."""
        return self.problem is None and self.torn is None and not self.findings and not self.indexes

    def problems(self) -> list[Problem]:
        """Every finding, the first bad line first."""
        return [p for p in (self.problem, self.torn) if p is not None] + self.findings

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``--output json``)."""
        out: dict[str, Any] = {
            "Verified": self.ok,
            "Events": self.events,
            "LastSequence": self.last_sequence,
            "Segments": self.segments,
            "Problems": [p.as_dict() for p in self.problems()],
        }
        if self.indexes:
            out["IndexProblems"] = [p.as_dict() for p in self.indexes]
        if self.repaired is not None:
            out["Repaired"] = self.repaired
        return out


@dataclass
class _Line:
    file: str
    number: int
    event: dict[str, Any] | None  # None when the line is not a readable chained record

    @property
    def seq(self) -> int:
        assert self.event is not None
        return int(self.event["sequence"])

    @property
    def chain_value(self) -> str:
        assert self.event is not None
        return str(self.event["chain"])


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        event = fs.loads(raw)  # a line nested too deeply is unreadable (edited), not a crash
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    seq, value = event.get("sequence"), event.get("chain")
    if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(value, str):
        return None
    try:
        if len(bytes.fromhex(value)) != 32:
            return None
    except ValueError:
        return None
    if b"\\u" in raw:  # an escape can spell a lone surrogate, which the writer never stores
        try:
            chain.canonical(event)
        except UnicodeEncodeError:  # not text: no chain value can cover it
            return None
    return event


def torn_tail(path: Path) -> tuple[int, int]:
    """(size in bytes, 1-based line number) of an unterminated final line of ``path``; (0, 0) if none."""
    with fs.open_read(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return 0, 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0, 0
        fh.seek(0)
        newlines = 0
        last_nl = -1
        offset = 0
        while block := fh.read(1 << 20):
            newlines += block.count(b"\n")
            pos = block.rfind(b"\n")
            if pos != -1:
                last_nl = offset + pos
            offset += len(block)
    return size - last_nl - 1, newlines + 1


def _lines(paths: list[Path], stop_at: dict[Path, int], padding: dict[str, list[int]]) -> Iterator[_Line]:
    """Every non-blank line; blank ones are counted in ``padding`` (file -> [first line, count])."""
    for path in paths:
        limit = stop_at.get(path)
        read = 0
        with fs.open_read(path) as fh:
            for number, raw in enumerate(fh, 1):
                read += len(raw)
                if limit is not None and read > limit:
                    return  # the torn tail is reported on its own
                if not raw.strip():
                    padding.setdefault(str(path), [number, 0])[1] += 1
                    continue
                yield _Line(str(path), number, _parse(raw))


def _follows(key: bytes, previous: str, line: _Line | None, seq: int | None = None) -> bool:
    if line is None or line.event is None:
        return False
    if seq is not None and line.seq != seq:
        return False
    try:
        return chain.link(key, previous, line.event) == line.chain_value
    except RecursionError:  # nested too deeply to re-serialise: not a line the writer wrote
        return False


def verify_log(folder: Path, key: bytes, marks: tuple[Mark, ...] = ()) -> Report:
    """Verify every segment in ``folder`` against ``key``; stops at the first bad line.

    The log must reach its head record and every one of ``marks`` (the vault state's head, a
    checkpoint) with the same chain value there; one it does not reach is a ``truncated`` finding.
    """
    found, odd = survey(folder)
    paths = [Path(p) for p in found]
    report = Report(segments=[p.name for p in paths])
    report.findings += [Problem(str(folder), 0, FOLDER, detail) for detail in odd]
    stop_at: dict[Path, int] = {}
    if paths:
        torn, number = torn_tail(paths[-1])
        if torn:
            size = paths[-1].stat().st_size
            stop_at[paths[-1]] = size - torn
            report.torn_bytes = torn
            report.torn = Problem(
                str(paths[-1]),
                number,
                TORN,
                f"the final line is incomplete ({torn} bytes without a newline): an append was cut "
                "short by a crash; `kmscli audit verify --repair` removes exactly these bytes",
            )
    gap = _segment_gap(paths)
    previous = chain.genesis(key)
    expected = 1
    padding: dict[str, list[int]] = {}
    lines = _lines(paths, stop_at, padding)
    heads = _heads(folder, key, report) + list(marks)
    pending = {head.sequence: head.chain for head in heads if head.sequence > 0}
    for line in lines:
        if _follows(key, previous, line, expected):
            if pending.pop(expected, line.chain_value) != line.chain_value:
                what = " and ".join(h.what for h in heads if h.sequence == expected)
                report.findings.append(
                    Problem(line.file, line.number, TRUNCATED, f"this event is not the one {what} names")
                )
            _generation(report, line)
            previous = line.chain_value
            report.events += 1
            report.last_sequence = expected
            expected += 1
            continue
        try:
            report.problem = _classify(key, line, lines, previous, expected, gap)
        except RecursionError:
            report.problem = Problem(
                line.file, line.number, EDITED, "the line is nested too deeply to be a record"
            )
        break
    if report.problem is None:
        report.findings += [
            Problem(
                str(folder),
                0,
                TRUNCATED,
                f"the log ends at sequence {report.last_sequence} but {what} "
                f"names sequence {seq}: events were cut off its end or its newest segment was removed",
            )
            for seq, what in sorted((h.sequence, h.what) for h in heads if h.sequence in pending)
        ]
    report.findings += [
        Problem(file, first, PADDING, f"{count} blank line(s): the writer never writes one (padding added)")
        for file, (first, count) in padding.items()
    ]
    return report


def _heads(folder: Path, key: bytes, report: Report) -> list[Mark]:
    try:
        head = read_head(folder, key)
    except AuditTamperError as exc:
        report.findings.append(Problem(str(folder), 0, TRUNCATED, exc.message))
        return []
    return [Mark(head.sequence, head.chain, "its head record")] if head is not None else []


def _segment_gap(paths: list[Path]) -> str | None:
    numbers = [n for p in paths if (n := segment_number(p.name)) is not None]
    for a, b in itertools.pairwise(numbers):
        if b != a + 1:
            return f"segment(s) {a + 1}..{b - 1} are missing"
    if numbers and numbers[0] != 1:
        return f"segment(s) 1..{numbers[0] - 1} are missing"
    return None


def _classify(
    key: bytes, bad: _Line, rest: Iterator[_Line], previous: str, expected: int, gap: str | None
) -> Problem:
    def problem(kind: str, detail: str) -> Problem:
        return Problem(bad.file, bad.number, kind, detail)

    if bad.event is None:
        return problem(EDITED, "the line is not a readable audit record (damaged or hand-edited)")
    after = next(rest, None)
    if bad.seq > expected:
        # a genuine line whose predecessor is elsewhere: reordered; nowhere at all: deleted
        predecessor: _Line | None = None
        missing: _Line | None = None
        for later in itertools.chain([after], rest):
            if later is None or later.event is None:
                continue
            if later.seq == bad.seq - 1 and predecessor is None:
                predecessor = later
            if later.seq == expected and missing is None:
                missing = later
            if predecessor is not None and missing is not None:
                break
        if predecessor is not None and chain.link(key, predecessor.chain_value, bad.event) == bad.chain_value:
            return problem(
                REORDERED,
                f"sequence {bad.seq} appears before sequence {expected}; "
                f"it belongs after {predecessor.file}:{predecessor.number}",
            )
        if _follows(key, previous, after, expected):
            return problem(INSERTED, "the next line continues the chain without this line: it was added")
        if missing is not None:
            return problem(
                REORDERED,
                f"sequence {bad.seq} appears where {expected} was expected; "
                f"sequence {expected} is at {missing.file}:{missing.number}",
            )
        count = bad.seq - expected
        where = f" ({gap})" if gap else ""
        return problem(
            DELETED,
            f"{count} line(s) before this one are missing (sequence {expected}"
            f"{'' if count == 1 else f'..{bad.seq - 1}'}){where}",
        )
    if _follows(key, previous, after, expected):
        if bad.seq < expected:
            return problem(INSERTED, f"a copy of sequence {bad.seq} was added (replayed line)")
        return problem(INSERTED, "the next line continues the chain without this line: it was added")
    if bad.seq < expected:
        return problem(INSERTED, f"sequence {bad.seq} was already used: this line was added")
    return problem(EDITED, "the line's content does not match its chain value: it was changed")
