"""IAM wildcard matching (``*`` any run of characters, ``?`` one character) without backtracking.

A regular expression such as ``.*a.*a.*a.*b`` backtracks: against a long value with no match it
tries every way of splitting the value, which took seconds for a 14-character pattern while the
vault lock was held. The pattern is matched here segment by segment instead: the text between two
``*`` must occur in order, and taking each segment's leftmost occurrence is always right (a later
occurrence only leaves less room for the segments after it), so no choice is ever revisited. The
work is at most ``len(pattern) * len(value)`` character comparisons, and usually one ``str.find``
per segment.
"""

from __future__ import annotations


def _same(segment: str, text: str, at: int) -> bool:
    """Whether ``segment`` (``?`` matching any one character) matches ``text`` at ``at``."""
    if "?" not in segment:
        return text.startswith(segment, at)
    return all(s == "?" or s == c for s, c in zip(segment, text[at : at + len(segment)], strict=True))


def _find(segment: str, text: str, start: int, end: int, steps: list[int]) -> int:
    """The leftmost position >= start where ``segment`` fits inside ``text[:end]``, or -1."""
    last = end - len(segment)
    if "?" not in segment:
        steps[0] += max(last - start + 1, 0) + len(segment)  # what str.find may scan
        return text.find(segment, start, end)
    for at in range(start, last + 1):
        steps[0] += len(segment)
        if _same(segment, text, at):
            return at
    steps[0] += 1
    return -1


def match_steps(pattern: str, text: str, ignore_case: bool = False) -> tuple[bool, int]:
    """Whether ``text`` matches ``pattern`` in full, and an upper bound of the comparisons it took."""
    if ignore_case:
        pattern, text = pattern.lower(), text.lower()
    steps = [0]
    segments = pattern.split("*")
    if len(segments) == 1:
        steps[0] += len(pattern)
        return len(pattern) == len(text) and _same(pattern, text, 0), steps[0]
    head, *middle, tail = segments
    end = len(text) - len(tail)
    steps[0] += len(head) + len(tail)
    if end < len(head) or not _same(head, text, 0) or not _same(tail, text, end):
        return False, steps[0]
    pos = len(head)
    for segment in middle:
        if not segment:
            continue  # "**" is one "*"
        found = _find(segment, text, pos, end, steps)
        if found < 0:
            return False, steps[0]
        pos = found + len(segment)
    return True, steps[0]


def matches(pattern: str, text: str, ignore_case: bool = False) -> bool:
    """Whether ``text`` matches the IAM wildcard ``pattern`` in full."""
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == text.lower() if ignore_case else pattern == text
    return match_steps(pattern, text, ignore_case)[0]


def _token_same(segment: list[str | None], text: str, at: int) -> bool:
    """Whether a token segment (None: any one character) matches ``text`` at ``at``."""
    if at + len(segment) > len(text):
        return False
    return all(t is None or t == c for t, c in zip(segment, text[at : at + len(segment)], strict=False))


def matches_pieces(pieces: list[tuple[str, bool]], text: str, ignore_case: bool = False) -> bool:
    """Whether ``text`` matches a pattern given as pieces ``(text, exact)``: an exact piece's ``*`` and
    ``?`` are ordinary characters (a substituted policy variable), the others' are wildcards.

    Same leftmost-occurrence walk as :func:`match_steps`, over tokens instead of a string.
    """
    if all(not exact or ("*" not in part and "?" not in part) for part, exact in pieces):
        return matches("".join(part for part, _ in pieces), text, ignore_case)
    if ignore_case:
        pieces, text = [(p.lower(), e) for p, e in pieces], text.lower()
    segments: list[list[str | None]] = [[]]
    for part, exact in pieces:
        for ch in part:
            if exact:
                segments[-1].append(ch)
            elif ch == "*":
                segments.append([])
            else:
                segments[-1].append(None if ch == "?" else ch)
    if len(segments) == 1:
        return len(segments[0]) == len(text) and _token_same(segments[0], text, 0)
    head, *middle, tail = segments
    end = len(text) - len(tail)
    if end < len(head) or not _token_same(head, text, 0) or not _token_same(tail, text, end):
        return False
    pos = len(head)
    for segment in middle:
        found = next((at for at in range(pos, end - len(segment) + 1) if _token_same(segment, text, at)), -1)
        if found < 0:
            return False
        pos = found + len(segment)
    return True
