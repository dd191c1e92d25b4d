"""kmscli.ids: uuid4 formats exactly as the uuid module does; is_key_id accepts exactly AWS key ids."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmscli.ids import is_key_id, uuid4

KEY_ID = re.compile(r"(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


@given(st.binary(min_size=16, max_size=16))
def test_uuid4_matches_the_uuid_module(raw: bytes) -> None:
    assert uuid4(raw) == str(uuid.UUID(bytes=raw, version=4))


def test_uuid4_needs_16_bytes() -> None:
    with pytest.raises(ValueError):
        uuid4(b"short")


@given(st.binary(min_size=16, max_size=16))
def test_every_uuid_and_multi_region_id_is_a_key_id(raw: bytes) -> None:
    assert is_key_id(uuid4(raw)) and is_key_id("mrk-" + raw.hex())


@given(st.text(alphabet="0123456789abcdefmrkABCDEF-\n /.", max_size=40))
def test_is_key_id_agrees_with_the_pattern(text: str) -> None:
    assert is_key_id(text) == bool(KEY_ID.fullmatch(text))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1234abcd-12ab-34cd-56ef-1234567890ab\n",  # what a $-anchored regex lets through
        "1234ABCD-12AB-34CD-56EF-1234567890AB",
        "mrk-1234abcd12ab34cd56ef1234567890a",
        "../../../etc/passwd-aaaa-bbbb-cccc-dd",
        "1234abcd-12ab-34cd-56ef-1234567890a-",
    ],
)
def test_is_key_id_rejects(text: str) -> None:
    assert not is_key_id(text)
