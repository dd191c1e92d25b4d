"""IAM wildcard matching: the same answers as fnmatch-style semantics, and no backtracking blow-up."""

from __future__ import annotations

import fnmatch

from hypothesis import given, settings
from hypothesis import strategies as st

from kmscli.policy import wildcard
from kmscli.policy.conditions import POSITIVE
from kmscli.policy.evaluate import resource_matches

# fnmatch treats "[" specially and IAM does not; the alphabets leave it out so fnmatch is the reference.
patterns = st.text(alphabet="ab?*\n.", max_size=10)
texts = st.text(alphabet="ab\n.", max_size=12)


@settings(max_examples=600, deadline=None)
@given(patterns, texts)
def test_matches_fnmatch_reference(pattern: str, text: str) -> None:
    assert wildcard.matches(pattern, text) is fnmatch.fnmatchcase(text, pattern)
    assert wildcard.match_steps(pattern, text)[0] is fnmatch.fnmatchcase(text, pattern)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="aB?*", max_size=8), st.text(alphabet="Ab", max_size=10))
def test_ignore_case_matches_reference(pattern: str, text: str) -> None:
    assert wildcard.matches(pattern, text, ignore_case=True) is fnmatch.fnmatchcase(
        text.lower(), pattern.lower()
    )


def test_pathological_pattern_takes_few_steps() -> None:
    """Issue 14 item 14: ``*a*a*a*a*a*a*b`` against 100 characters backtracked for 29 s."""
    pattern, text = "*a*a*a*a*a*a*b", "a" * 100
    matched, steps = wildcard.match_steps(pattern, text)
    assert matched is False
    assert steps <= 4 * (len(pattern) + len(text))  # backtracking needs C(100, 6) ~ 1.2e9 tries
    matched, steps = wildcard.match_steps("?*a?*a?*a?*a?*a?*a?*b", "a" * 200)
    assert matched is False
    assert steps <= (21 + 1) * (200 + 1)  # never more than len(pattern) * len(value)


def test_every_matcher_uses_it() -> None:
    """StringLike, ArnLike and Resource patterns answer the pathological case at once (and correctly)."""
    long = "a" * 5000
    assert POSITIVE["StringLike"](long, "*a*a*a*a*a*a*a*a*b") is False
    assert POSITIVE["StringLike"](long + "b", "*a*a*a*a*a*a*a*a*b") is True
    arn = f"arn:aws:kms:us-east-1:111122223333:key/{long}"
    assert POSITIVE["ArnLike"](arn, "arn:aws:kms:*:*:key/*a*a*a*a*a*a*a*b") is False
    assert resource_matches("arn:aws:kms:*:*:key/*a*a*a*a*a*a*a*b", arn) is False
    assert resource_matches("arn:aws:kms:*:*:key/*a*a*a*a*a*a*a*", arn) is True
