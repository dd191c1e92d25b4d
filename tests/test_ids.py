"""kmscli.ids.uuid4 formats exactly as the uuid module does."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmscli.ids import uuid4


@given(st.binary(min_size=16, max_size=16))
def test_uuid4_matches_the_uuid_module(raw: bytes) -> None:
    assert uuid4(raw) == str(uuid.UUID(bytes=raw, version=4))


def test_uuid4_needs_16_bytes() -> None:
    with pytest.raises(ValueError):
        uuid4(b"short")
