"""Fuzz request validation with arbitrary JSON requests: only ValidationException (or, for a bool
where an integer goes, SerializationException) may escape."""

from __future__ import annotations

import json

from _common import run

SHAPES = ["EncryptRequest", "DecryptRequest", "CreateKeyRequest", "TagResourceRequest", "CreateAliasRequest"]


def test_one_input(data: bytes) -> None:
    from kmscli.errors import SerializationException, ValidationException
    from kmscli.service.pipeline.validate import validate_request

    if not data:
        return
    shape = SHAPES[data[0] % len(SHAPES)]
    try:
        request = json.loads(data[1:].decode("utf-8", "surrogatepass"))
    except (ValueError, UnicodeDecodeError):
        return
    if not isinstance(request, dict):
        return
    try:
        validate_request(shape, request)
    except (ValidationException, SerializationException):
        pass


if __name__ == "__main__":
    run(test_one_input)
