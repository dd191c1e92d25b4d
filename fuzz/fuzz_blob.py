"""Fuzz the ciphertext blob parser and opener: only InvalidCiphertextException may escape."""

from __future__ import annotations

from _common import run


def test_one_input(data: bytes) -> None:
    from kmscli.crypto import blob
    from kmscli.errors import InvalidCiphertextException

    try:
        header, body = blob.parse(data)
    except InvalidCiphertextException:
        return
    assert header.encode() + body == data
    try:
        blob.open_(header, body, b"\0" * 32, {"k": "v"})
    except InvalidCiphertextException:
        return
    raise AssertionError("a random blob decrypted under a fixed key")


if __name__ == "__main__":
    run(test_one_input)
