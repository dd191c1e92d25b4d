"""Fuzz the ImportToken parser: only InvalidImportTokenException or ExpiredImportTokenException may
escape, and no input other than the genuine token is accepted.

The first input byte picks the mode: a raw forged token, or a genuine token with the rest of the
input XORed over it (so the fuzzer explores near-valid tokens, which is where a parser slips).
"""

from __future__ import annotations

import datetime as dt
import types

from _common import run

NOW = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOKEN_ID = bytes(range(16))
CALL = types.SimpleNamespace(
    ctx=types.SimpleNamespace(vault=types.SimpleNamespace(vault_key=b"\x11" * 32)), now=NOW
)
RECORD = {
    "Arn": ARN,
    "ImportParameters": [{"TokenId": TOKEN_ID.hex(), "ValidTo": "2026-01-16T12:00:00+00:00"}],
}


def test_one_input(data: bytes) -> None:
    from kmscli.errors import ExpiredImportTokenException, InvalidImportTokenException
    from kmscli.service.operations.importing import check_token, make_token

    genuine = make_token(CALL, ARN, TOKEN_ID, NOW + dt.timedelta(hours=24))
    if data[:1] == b"\x00":
        token = data[1:]
    else:
        mask = data[1:]
        token = (
            bytes(b ^ (mask[i] if i < len(mask) else 0) for i, b in enumerate(genuine)) + mask[len(genuine) :]
        )
    try:
        check_token(CALL, RECORD, token)
    except (InvalidImportTokenException, ExpiredImportTokenException):
        return
    assert token == genuine, "a token other than the genuine one was accepted"


if __name__ == "__main__":
    run(test_one_input)
