"""The ciphertext blob format: known-answer vectors and mutation (docs/format.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmscli import errors
from kmscli.crypto import blob

VECTORS = json.loads((Path(__file__).parent / "vectors" / "blob-v1.json").read_text())


@pytest.mark.parametrize("vec", VECTORS["positive"], ids=lambda v: v["description"])
def test_positive_vectors_seal_and_open(vec: dict[str, Any]) -> None:
    material = bytes.fromhex(vec["material_hex"])
    sealed = blob.seal(
        vec["key_id"],
        bytes.fromhex(vec["material_id_hex"]),
        material,
        bytes.fromhex(vec["plaintext_hex"]),
        vec["encryption_context"],
        bytes.fromhex(vec["salt_hex"]),
        bytes.fromhex(vec["nonce_hex"]),
    )
    assert sealed.hex() == vec["blob_hex"]
    header, body = blob.parse(sealed)
    assert header.key_id == vec["key_id"]
    assert blob.open_(header, body, material, vec["encryption_context"]).hex() == vec["plaintext_hex"]


@pytest.mark.parametrize("vec", VECTORS["negative"], ids=lambda v: v["description"])
def test_negative_vectors_are_invalid_ciphertext(vec: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidCiphertextException):
        header, body = blob.parse(bytes.fromhex(vec["blob_hex"]))
        blob.open_(header, body, bytes.fromhex(vec["material_hex"]), vec["encryption_context"])


def test_context_encoding_is_order_independent() -> None:
    assert blob.encode_context({"a": "1", "b": "2"}) == blob.encode_context({"b": "2", "a": "1"})
    assert blob.encode_context({}) == blob.encode_context(None) == b"\x00\x00"


@pytest.fixture
def sealed(kms: Any) -> tuple[Any, bytes]:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    return kms, kms("Encrypt", KeyId=key, Plaintext=b"mutate me", EncryptionContext={"c": "d"})[
        "CiphertextBlob"
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_mutation_is_invalid_ciphertext(sealed: tuple[Any, bytes], data: st.DataObject) -> None:
    kms, good = sealed
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend", "replace", "random"]))
    if kind == "flip":
        pos = data.draw(st.integers(0, len(good) - 1))
        bit = data.draw(st.integers(0, 7))
        bad = good[:pos] + bytes([good[pos] ^ (1 << bit)]) + good[pos + 1 :]
    elif kind == "truncate":
        bad = good[: data.draw(st.integers(0, len(good) - 1))]
    elif kind == "extend":
        bad = good + data.draw(st.binary(min_size=1, max_size=64))
    elif kind == "replace":
        pos = data.draw(st.integers(0, len(good) - 1))
        chunk = data.draw(st.binary(min_size=1, max_size=16))
        bad = good[:pos] + chunk + good[pos + len(chunk) :]
    else:
        bad = data.draw(st.binary(min_size=1, max_size=300))
    if bad == good or not bad:
        return
    with pytest.raises(errors.InvalidCiphertextException):
        kms("Decrypt", CiphertextBlob=bad, EncryptionContext={"c": "d"})


def test_foreign_blob_from_aws_shape_is_invalid(kms: Any) -> None:
    kms("CreateKey")
    aws_like = bytes.fromhex("010202007848") + bytes(range(200))
    with pytest.raises(errors.InvalidCiphertextException):
        kms("Decrypt", CiphertextBlob=aws_like)
