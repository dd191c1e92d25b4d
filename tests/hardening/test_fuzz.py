"""Property tests for the parsers that take hostile input: the ciphertext blob, parameter values
(shorthand, JSON, base64, file references, timestamps) and request validation.

The rule in every case: a value comes back, or the documented error (InvalidCiphertextException,
UsageError, ValidationException) is raised; never another exception. The same targets run under
atheris in fuzz/ for longer campaigns.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kmscli import errors
from kmscli.cli import params
from kmscli.crypto import blob
from kmscli.service.pipeline.validate import validate_request

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: For tests parametrized over many shapes: fewer examples each (atheris in fuzz/ goes deeper).
PER_SHAPE = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

key_ids = st.one_of(
    st.uuids(version=4).map(str),
    st.binary(min_size=16, max_size=16).map(lambda b: "mrk-" + b.hex()),
)
contexts = st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=5)


# -- ciphertext blob ---------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=300))
@example(b"")
@example(bytes([blob.MAGIC, blob.VERSION, 0]))
@example(bytes([blob.MAGIC, blob.VERSION, 255]) + b"a" * 400)
def test_blob_parse_never_crashes(data: bytes) -> None:
    try:
        header, body = blob.parse(data)
    except errors.InvalidCiphertextException:
        return
    assert header.encode() + body == data  # a parsed blob is exactly its parts
    assert len(body) >= blob.TAG_LEN


@settings(max_examples=50, deadline=None)
@given(key_ids, st.binary(max_size=200), contexts, st.binary(min_size=32, max_size=32))
def test_blob_seal_parse_open_round_trip(
    key_id: str, plaintext: bytes, context: dict[str, str], mat: bytes
) -> None:
    sealed = blob.seal(key_id, b"\1" * 32, mat, plaintext, context, b"\2" * 16, b"\3" * 12)
    header, body = blob.parse(sealed)
    assert header.key_id == key_id
    assert blob.open_(header, body, mat, dict(reversed(list(context.items())))) == plaintext


@FAST
@given(key_ids, st.binary(max_size=64), contexts, st.data())
def test_blob_any_bit_flip_is_invalid_ciphertext(
    key_id: str, plaintext: bytes, context: dict[str, str], data: st.DataObject
) -> None:
    mat = b"\7" * 32
    sealed = bytearray(blob.seal(key_id, b"\1" * 32, mat, plaintext, context, b"\2" * 16, b"\3" * 12))
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1))
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(errors.InvalidCiphertextException):
        header, body = blob.parse(bytes(sealed))
        blob.open_(header, body, mat, context)


@FAST
@given(contexts, contexts)
def test_encryption_context_encoding_is_injective(a: dict[str, str], b: dict[str, str]) -> None:
    assume(a != b)
    assert blob.encode_context(a) != blob.encode_context(b)


def test_oversized_context_is_validation_error_not_crash() -> None:
    """Regression: a 64 KiB context value raised struct.error (exit 255) from the length prefix."""
    with pytest.raises(errors.ValidationException):
        blob.encode_context({"k": "x" * 70000})


# -- parameter parsing ------------------------------------------------------------------------------

PARSE_TARGETS = [
    ("EncryptionContextType", "--encryption-context"),
    ("TagList", "--tags"),
    ("GrantTokenList", "--grant-tokens"),
    ("CiphertextType", "--ciphertext-blob"),
    ("PlaintextType", "--plaintext"),
    ("NumberOfBytesType", "--number-of-bytes"),
    ("BooleanType", "--dry-run"),
    ("DateType", "--valid-to"),
    ("GrantConstraints", "--constraints"),
]


def _parse(shape_name: str, text: str, option: str) -> Any:
    from kmscli.model import shape

    raw: Any = (text,) if shape(shape_name)["type"] == "list" else text
    return params.parse_value(shape_name, raw, option)


hostile_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet="{}[]=,'\" abc\\", max_size=40),
    st.text(max_size=40).map(lambda s: "file://" + s),
    st.text(max_size=40).map(lambda s: "fileb://" + s),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    ).map(json.dumps),
)


@PER_SHAPE
@pytest.mark.parametrize("shape_name,option", PARSE_TARGETS)
@given(text=hostile_text)
@example(text="a=b,,")
@example(text='{"a": "\\udcff"}')
@example(text="file:///dev/null")
def test_parse_value_returns_or_usage_error(shape_name: str, option: str, text: str) -> None:
    try:
        _parse(shape_name, text, option)
    except errors.UsageError as exc:
        assert exc.exit_code == errors.EXIT_USAGE
    except errors.ParamValueError as exc:  # the AWS CLI's 255: not base64, not an integer, too late a date
        assert exc.exit_code == errors.EXIT_OTHER


safe = st.text(alphabet=string.ascii_letters + string.digits + "-_./:", min_size=1, max_size=12)


@FAST
@given(st.dictionaries(safe, safe, min_size=1, max_size=5))
def test_shorthand_and_json_maps_agree(mapping: dict[str, str]) -> None:
    shorthand = ",".join(f"{k}={v}" for k, v in mapping.items())
    assume(not shorthand.startswith(("file://", "fileb://")))  # those are file references by design
    assert _parse("EncryptionContextType", shorthand, "--ec") == mapping
    assert _parse("EncryptionContextType", json.dumps(mapping), "--ec") == mapping


@FAST
@given(st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5))
def test_json_maps_round_trip_any_unicode(mapping: dict[str, str]) -> None:
    assume(all(not any(0xD800 <= ord(c) <= 0xDFFF for c in k + v) for k, v in mapping.items()))
    if mapping:
        assert _parse("EncryptionContextType", json.dumps(mapping), "--ec") == mapping


@FAST
@given(st.binary(max_size=256))
def test_base64_blob_round_trip(data: bytes) -> None:
    assume(data)
    assert params.decode_blob(base64.b64encode(data).decode(), "--plaintext") == data


@FAST
@given(st.binary(max_size=256))
def test_fileb_reads_exact_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fileb") / "blob"
    path.write_bytes(data)
    assert params.decode_blob(f"fileb://{path}", "--plaintext") == data


@FAST
@given(st.text(max_size=30))
@example("9" * 40)
@example("1e400")
@example("٣")
def test_timestamp_parse_returns_aware_datetime_or_usage_error(text: str) -> None:
    try:
        when = params.parse_timestamp(text, "--valid-to")
    except (errors.UsageError, errors.ParamValueError):
        return
    assert isinstance(when, dt.datetime) and when.tzinfo is not None


def test_invalid_unicode_is_a_usage_error() -> None:
    """Regression: undecodable argv bytes / JSON lone surrogates crashed deep in the audit writer."""
    for text in ("\udcff", '{"a": "\\udcff"}', '{"\\udcff": "a"}'):
        with pytest.raises(errors.UsageError, match="not valid UTF-8"):
            _parse("EncryptionContextType" if text.startswith("{") else "DescriptionType", text, "--x")


# -- request validation --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
REQUEST_SHAPES = [
    "EncryptRequest",
    "DecryptRequest",
    "CreateKeyRequest",
    "TagResourceRequest",
    "ScheduleKeyDeletionRequest",
    "ListKeysRequest",
    "CreateAliasRequest",
]


@PER_SHAPE
@pytest.mark.parametrize("input_shape", REQUEST_SHAPES)
@given(
    request=st.dictionaries(
        st.sampled_from(
            [
                "KeyId",
                "Plaintext",
                "CiphertextBlob",
                "EncryptionContext",
                "Tags",
                "Description",
                "Limit",
                "Marker",
                "PendingWindowInDays",
                "AliasName",
                "TargetKeyId",
                "GrantTokens",
                "DryRun",
                "Bogus",
                "\udcff",
            ]
        ),
        json_values,
        max_size=6,
    )
)
def test_validate_request_returns_or_validation_error(input_shape: str, request: dict[str, Any]) -> None:
    try:
        validate_request(input_shape, request)
    except errors.ValidationException as exc:
        assert exc.message.split(" ", 1)[0].isdigit()
    except errors.SerializationException as exc:  # a bool where an integer goes, as AWS's decoder says
        assert exc.message in (
            "TRUE_VALUE can not be converted to an Integer",
            "FALSE_VALUE can not be converted to an Integer",
        )


def test_validation_does_not_echo_plaintext() -> None:
    with pytest.raises(errors.ValidationException) as info:
        validate_request("EncryptRequest", {"KeyId": "k", "Plaintext": b"SECRET" * 1000})
    assert "SECRET" not in info.value.message


# -- the atheris harnesses in fuzz/ must keep working --------------------------------------------------


class _FakeProvider:
    """The two FuzzedDataProvider methods the harnesses use."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def ConsumeIntInRange(self, lo: int, hi: int) -> int:
        value, self.data = (self.data[0] if self.data else 0), self.data[1:]
        return lo + value % (hi - lo + 1)

    def remaining_bytes(self) -> int:
        return len(self.data)

    def ConsumeUnicodeNoSurrogates(self, count: int) -> str:
        text, self.data = self.data[:count].decode("utf-8", "ignore"), self.data[count:]
        return text


@pytest.mark.parametrize("harness", ["fuzz_blob", "fuzz_params", "fuzz_validate"])
def test_fuzz_harnesses_run_on_seeds(harness: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib
    import importlib
    import sys
    import types
    from pathlib import Path

    fake = types.ModuleType("atheris")
    fake.instrument_imports = lambda **kw: contextlib.nullcontext()  # type: ignore[attr-defined]
    fake.FuzzedDataProvider = _FakeProvider  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "atheris", fake)
    monkeypatch.syspath_prepend(str(Path(__file__).parents[2] / "fuzz"))
    module = importlib.import_module(harness)
    sealed = blob.seal("mrk-" + "0" * 32, b"\1" * 32, b"\2" * 32, b"x", None, b"\3" * 16, b"\4" * 12)
    for seed in (b"", b"\0", b"\1a=b,c=[d,e]", b'\0{"KeyId": "k", "Plaintext": 5}', sealed, b"\x4b\x01\x24"):
        module.test_one_input(seed)
