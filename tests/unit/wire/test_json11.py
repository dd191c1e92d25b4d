"""The JSON 1.1 codec agrees with botocore's serializer and parser for KMS."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kmscli.wire import json11


def _botocore_body(op: str, params: dict[str, object]) -> bytes:
    import botocore.session
    from botocore import serialize

    model = botocore.session.get_session().get_service_model("kms")
    body: bytes = serialize.create_serializer("json").serialize_to_request(params, model.operation_model(op))[
        "body"
    ]
    return body


def test_requests_botocore_writes_decode_to_service_values() -> None:
    params = {"KeyId": "alias/a", "Plaintext": b"\x00\xff", "EncryptionContext": {"k": "v"}, "DryRun": False}
    assert json11.decode_request("Encrypt", _botocore_body("Encrypt", params)) == params
    grant = {"KeyId": "k", "GranteePrincipal": "arn:aws:iam::111122223333:root", "Operations": ["Decrypt"]}
    assert json11.decode_request("CreateGrant", _botocore_body("CreateGrant", grant)) == grant


def test_responses_parse_in_botocore_as_the_service_returned_them() -> None:
    import botocore.session
    from botocore import parsers

    model = botocore.session.get_session().get_service_model("kms")
    when = dt.datetime(2026, 1, 15, 12, 0, 0, 500000, tzinfo=dt.UTC)
    response = {"KeyMetadata": {"KeyId": "k", "CreationDate": when, "Enabled": True, "MultiRegion": False}}
    body = json11.encode_response(response)
    assert json.loads(body)["KeyMetadata"]["CreationDate"] == when.timestamp()
    parsed = parsers.create_parser("json").parse(
        {"status_code": 200, "headers": {}, "body": body}, model.operation_model("DescribeKey").output_shape
    )
    assert parsed["KeyMetadata"]["CreationDate"] == when
    assert json11.decode_response("DescribeKey", body) == response
    assert json11.decode_response("Encrypt", json11.encode_response({"CiphertextBlob": b"\x01"})) == {
        "CiphertextBlob": b"\x01"
    }


def test_timestamps_go_out_to_the_millisecond_as_aws_sends_them() -> None:
    import botocore.session
    from botocore import parsers

    model = botocore.session.get_session().get_service_model("kms")
    when = dt.datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    body = json11.encode_response({"KeyMetadata": {"KeyId": "k", "CreationDate": when}})
    assert json.loads(body)["KeyMetadata"]["CreationDate"] == 1793527200.123
    parsed = parsers.create_parser("json").parse(
        {"status_code": 200, "headers": {}, "body": body}, model.operation_model("DescribeKey").output_shape
    )
    assert parsed["KeyMetadata"]["CreationDate"].isoformat() == "2026-11-01T10:00:00.123000+00:00"
    whole = json11.encode_response({"CreationDate": dt.datetime(2026, 11, 1, 10, 0, 0, 999, tzinfo=dt.UTC)})
    assert whole == b'{"CreationDate":1793527200}'


def test_client_half_round_trips() -> None:
    request = {"KeyId": "k", "Message": b"m", "SigningAlgorithm": "ECDSA_SHA_256"}
    assert json11.decode_request("Sign", json11.encode_request(request)) == request
    assert json11.encode_response(None) == b"{}"
    assert json11.decode_response("DisableKey", b"") == {}


@pytest.mark.parametrize(
    "body",
    [
        b"nope",
        b"[]",
        b'"x"',
        b'{"Plaintext": "not base64!"}',
        b'{"Plaintext": "\\u00e9"}',
        b"\xff",
        b'{"KeyId": "a", "KeyId": "b"}',
        b'{"EncryptionContext": {"k": "1", "k": "2"}}',
        b'{"KeyId": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_malformed_bodies_are_serialization_errors(body: bytes) -> None:
    with pytest.raises(json11.SerializationError):
        json11.decode_request("Encrypt", body)


def test_serialization_errors_name_the_member() -> None:
    with pytest.raises(json11.SerializationError, match=r"^'Plaintext' is not valid base64$"):
        json11.decode_request("Encrypt", b'{"KeyId": "k", "Plaintext": "%"}')
    body = b'{"CiphertextBlob": "AA==", "Recipient": {"AttestationDocument": "%"}}'
    with pytest.raises(
        json11.SerializationError, match=r"^'Recipient.AttestationDocument' is not valid base64$"
    ):
        json11.decode_request("Decrypt", body)
    with pytest.raises(json11.SerializationError, match=r"^'ValidTo' is not a valid timestamp$"):
        json11.decode_request("ImportKeyMaterial", b'{"ValidTo": 1e300}')


@pytest.mark.parametrize(
    ("op", "body", "message"),
    [
        # the value's JSON token, converted to the model type's name
        ("DescribeKey", b'{"KeyId": 5}', "NUMBER_VALUE can not be converted to a String"),
        ("DescribeKey", b'{"KeyId": 1.5}', "NUMBER_VALUE can not be converted to a String"),
        ("DescribeKey", b'{"KeyId": true}', "TRUE_VALUE can not be converted to a String"),
        ("DescribeKey", b'{"KeyId": false}', "FALSE_VALUE can not be converted to a String"),
        ("GenerateRandom", b'{"NumberOfBytes": "32"}', "STRING_VALUE can not be converted to an Integer"),
        ("GenerateRandom", b'{"NumberOfBytes": true}', "TRUE_VALUE can not be converted to an Integer"),
        ("Encrypt", b'{"KeyId": "k", "Plaintext": 5}', "NUMBER_VALUE can not be converted to a Blob"),
        (
            "Encrypt",
            b'{"KeyId": "k", "Plaintext": "AA==", "DryRun": "yes"}',
            "STRING_VALUE can not be converted to a Boolean",
        ),
        ("ImportKeyMaterial", b'{"ValidTo": "2030-01-01"}', "STRING_VALUE can not be converted to a Date"),
        # a JSON array or object where the model wants something else
        ("DescribeKey", b'{"KeyId": ["k"]}', "Start of list found where not expected"),
        ("DescribeKey", b'{"KeyId": {"a": 1}}', "Start of structure or map found where not expected."),
        ("Encrypt", b'{"KeyId": "k", "EncryptionContext": []}', "Start of list found where not expected"),
        ("Encrypt", b'{"KeyId": "k", "EncryptionContext": "x"}', "Expected map or null"),
        (
            "Encrypt",
            b'{"KeyId": "k", "EncryptionContext": {"k": 1}}',
            "NUMBER_VALUE can not be converted to a String",
        ),
        ("CreateGrant", b'{"Operations": "Decrypt"}', "Expected list or null"),
        ("CreateGrant", b'{"Operations": {}}', "Start of structure or map found where not expected."),
        ("CreateGrant", b'{"Operations": [1]}', "NUMBER_VALUE can not be converted to a String"),
        ("CreateGrant", b'{"Constraints": "x"}', "Expected null"),
        ("CreateGrant", b'{"Constraints": []}', "Start of list found where not expected"),
        (
            "CreateKey",
            b'{"Tags": [{"TagKey": 1, "TagValue": "v"}]}',
            "NUMBER_VALUE can not be converted to a String",
        ),
        ("ListKeys", b"[]", "Start of list found where not expected"),
    ],
)
def test_wrong_json_types_are_serialization_errors_in_aws_words(op: str, body: bytes, message: str) -> None:
    with pytest.raises(json11.SerializationError) as caught:
        json11.decode_request(op, body)
    assert str(caught.value) == message


def test_a_type_error_wins_over_constraints() -> None:
    """AWS reads the body before it validates: a wrong type is reported even beside a missing
    required member or an out-of-range value."""
    with pytest.raises(json11.SerializationError, match=r"^STRING_VALUE can not be converted to an Integer$"):
        json11.decode_request("GenerateDataKey", b'{"NumberOfBytes": "1", "KeySpec": "nope"}')


def test_a_fraction_is_truncated_where_an_integer_is_wanted() -> None:
    assert json11.decode_request("GenerateRandom", b'{"NumberOfBytes": 32.9}') == {"NumberOfBytes": 32}
    with pytest.raises(json11.SerializationError, match=r"^NUMBER_VALUE can not be converted to an Integer$"):
        json11.decode_request("GenerateRandom", b'{"NumberOfBytes": 1e999}')  # JSON, but not finite
    with pytest.raises(json11.SerializationError, match=r"^the request body is not valid JSON$"):
        json11.decode_request("GenerateRandom", b'{"NumberOfBytes": Infinity}')  # not JSON at all


def test_unknown_members_are_dropped_at_every_depth() -> None:
    body = (
        b'{"KeyId": "k", "FutureMember": {"x": [1]}, "Constraints": {"EncryptionContextSubset": {"a": "b"},'
        b' "Later": 1}, "Operations": ["Decrypt"], "GranteePrincipal": "p"}'
    )
    assert json11.decode_request("CreateGrant", body) == {
        "KeyId": "k",
        "Constraints": {"EncryptionContextSubset": {"a": "b"}},
        "Operations": ["Decrypt"],
        "GranteePrincipal": "p",
    }
    assert json11.decode_request("ListKeys", b'{"\\ud800": 1, "Limit": 5}') == {"Limit": 5}


def test_nulls_are_absent_as_members_and_refused_in_a_map_or_a_list() -> None:
    assert json11.decode_request("Encrypt", b'{"Plaintext": "AA==", "KeyId": null}') == {"Plaintext": b"\x00"}
    # KMS's lists are dense: a null item is a malformed request, not one item fewer (dropping it
    # would grant, say, fewer operations than the caller wrote without a word)
    with pytest.raises(json11.SerializationError, match=r"'Operations\[1\]' is null"):
        json11.decode_request("CreateGrant", b'{"Operations": ["Decrypt", null]}')
    with pytest.raises(json11.SerializationError, match=r"'GrantTokens\[0\]' is null"):
        json11.decode_request("Encrypt", b'{"GrantTokens": [null]}')
    with pytest.raises(json11.SerializationError, match=r"'Tags\[0\]' is null"):
        json11.decode_request("CreateKey", b'{"Tags": [null]}')
    # a null in an encryption context (a dense map) is neither dropped nor passed on: the request
    # is malformed, as Smithy's server protocol tests answer (400 SerializationException)
    with pytest.raises(json11.SerializationError, match=r"'EncryptionContext\.k' is null"):
        json11.decode_request("Encrypt", b'{"EncryptionContext": {"k": null}}')
    with pytest.raises(json11.SerializationError, match=r"'Constraints\.EncryptionContextSubset\.a' is null"):
        json11.decode_request("CreateGrant", b'{"Constraints": {"EncryptionContextSubset": {"a": null}}}')
    assert json11.decode_request("ListKeys", b"") == {}


def test_errors_and_statuses() -> None:
    assert json.loads(json11.error_body("NotFoundException", "gone")) == {
        "__type": "NotFoundException",
        "message": "gone",
    }
    assert json11.parse_error(
        b'{"__type": "com.amazon.coral.service#UnrecognizedClientException", "message": "m"}'
    ) == (
        "UnrecognizedClientException",
        "m",
    )
    assert json11.parse_error(b"<html>") == ("UnknownError", "<html>")
    assert json11.error_status("KMSInternalException") == 500
    assert json11.error_status("AccessDeniedException") == 400


def test_server_faults_are_botocores() -> None:
    from botocore.loaders import create_loader

    raw = create_loader().load_service_model("kms", "service-2")["shapes"]
    faults = {name for name, sh in raw.items() if sh.get("fault")}
    assert faults == json11.SERVER_FAULTS


def test_a_map_key_in_a_message_is_printable_even_when_it_is_a_lone_surrogate() -> None:
    """JSON's escapes can spell a lone surrogate as a map key; the message that names the key is
    answered as UTF-8, so the key is shown as its escape (it was an unencodable answer: a 500)."""
    body = b'{"KeyId": "k", "Plaintext": "eA==", "EncryptionContext": {"\\ud800": null}}'
    with pytest.raises(json11.SerializationError) as refused:
        json11.decode_request("Encrypt", body)
    assert str(refused.value) == "'EncryptionContext.\\ud800' is null: a map value cannot be null"
    assert json.loads(json11.error_body("SerializationException", str(refused.value)))["message"].encode()
