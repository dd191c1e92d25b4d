"""The SigV4 verifier with an injected clock: skew bounds, constant-time comparison, scope checks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kmscli.serve import sigv4

NOW = dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.UTC)
KEY_ID, SECRET = "AKIAEXAMPLEEXAMPLE22", "s" * 40


def _signed(when: dt.datetime, body: bytes = b"{}", region: str = "us-east-1") -> list[tuple[str, str]]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url="http://127.0.0.1:8080/", data=body)
    request.headers["X-Amz-Target"] = "TrentService.ListKeys"
    amz = when.strftime("%Y%m%dT%H%M%SZ")
    request.headers["X-Amz-Date"] = amz
    request.context["timestamp"] = amz
    auth = SigV4Auth(Credentials(KEY_ID, SECRET), "kms", region)
    sig = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    headers = [(k, v) for k, v in request.headers.items()]
    headers.append(("Host", "127.0.0.1:8080"))
    headers.append(
        (
            "Authorization",
            f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, "
            f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))}, Signature={sig}",
        )
    )
    return headers


def _lookup(key_id: str) -> sigv4.Secret | None:
    return sigv4.Secret("arn:aws:iam::111122223333:user/alice", SECRET.encode()) if key_id == KEY_ID else None


def _verify(headers: list[tuple[str, str]], body: bytes = b"{}", now: dt.datetime = NOW) -> sigv4.Caller:
    return sigv4.verify("POST", "/", "", headers, body, now, _lookup)


def test_valid_signature_names_the_caller_and_region() -> None:
    caller = _verify(_signed(NOW, region="eu-central-1"))
    assert caller == sigv4.Caller(KEY_ID, "arn:aws:iam::111122223333:user/alice", "eu-central-1")


@pytest.mark.parametrize("offset_s", [-300, 300, 0])
def test_five_minutes_either_way_is_accepted(offset_s: int) -> None:
    _verify(_signed(NOW + dt.timedelta(seconds=offset_s)))


@pytest.mark.parametrize(
    ("offset_s", "words"),
    [
        (
            -301,
            "Signature expired: 20260115T115459Z is now earlier than 20260115T115500Z (20260115T120000Z - 5 min.)",
        ),
        (
            301,
            "Signature not yet current: 20260115T120501Z is still later than 20260115T120500Z (20260115T120000Z + 5 min.)",
        ),
    ],
)
def test_beyond_five_minutes_is_refused_in_aws_words(offset_s: int, words: str) -> None:
    with pytest.raises(sigv4.AuthError) as caught:
        _verify(_signed(NOW + dt.timedelta(seconds=offset_s)))
    assert (caught.value.code, caught.value.status, caught.value.message) == (
        "InvalidSignatureException",
        400,
        words,
    )


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = sigv4.hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(sigv4.hmac, "compare_digest", spy)
    _verify(_signed(NOW))
    assert len(calls) == 1


def test_a_declared_body_hash_must_match_the_body() -> None:
    headers = [*_signed(NOW), ("X-Amz-Content-SHA256", "0" * 64)]
    with pytest.raises(sigv4.AuthError, match="x-amz-content-sha256"):
        _verify(headers)


def test_scope_date_must_match_the_request_date() -> None:
    headers = [
        (k, v.replace("/20260115/", "/20260114/")) if k == "Authorization" else (k, v)
        for k, v in _signed(NOW)
    ]
    with pytest.raises(sigv4.AuthError, match="Date in Credential scope does not match"):
        _verify(headers)


@pytest.mark.parametrize("region", ["US-EAST-1", "nowhere"])
def test_region_must_be_a_region(region: str) -> None:
    with pytest.raises(sigv4.AuthError, match="valid region"):
        _verify(_signed(NOW, region=region))


def test_a_signed_header_that_is_absent_is_incomplete() -> None:
    headers = [(k, v.replace("SignedHeaders=", "SignedHeaders=accept;")) for k, v in _signed(NOW)]
    with pytest.raises(sigv4.AuthError, match="'accept' is named as a SignedHeader") as caught:
        _verify(headers)
    assert caught.value.code == "IncompleteSignatureException"


@pytest.mark.parametrize(
    ("broken", "named"),
    [
        ("Signature=", "Signature "),  # 'Signature <hex>': the parameter is named, its value is not
        (", Signature=", ", "),  # a bare signature among the parts
        (", Signature=", ", Signature\u00e9"),
    ],
)
def test_a_part_without_equals_is_named_without_its_value(broken: str, named: str) -> None:
    headers = _signed(NOW)
    auth = dict(headers)["Authorization"]
    signature = auth.rsplit("Signature=", 1)[1]
    headers = [(k, auth.replace(broken, named) if k == "Authorization" else v) for k, v in headers]
    with pytest.raises(sigv4.AuthError) as err:
        _verify(headers)
    assert err.value.code == "IncompleteSignatureException"
    assert "not a valid key=value pair (missing equal-sign)" in err.value.message
    assert signature not in err.value.message and signature[:16] not in err.value.message


def test_an_authorization_without_spaces_is_not_quoted_whole() -> None:
    """Its first token, quoted as the 'algorithm', would be the whole header, signature included."""
    headers = _signed(NOW)
    auth = dict(headers)["Authorization"].replace("AWS4-HMAC-SHA256 ", "AWS4-X,").replace(", ", ",")
    auth = auth.replace("Credential=", "Signature=0123456789abcdef,Credential=")
    headers = [(k, auth if k == "Authorization" else v) for k, v in headers]
    with pytest.raises(sigv4.AuthError) as err:
        _verify(headers)
    assert err.value.code == "IncompleteSignatureException"
    assert err.value.message.startswith("Unsupported AWS 'algorithm': '...'.")
    assert "0123456789abcdef" not in err.value.message


def _with_signed_headers(value: str) -> list[tuple[str, str]]:
    """A valid request whose SignedHeaders list is replaced by ``value`` (its signature kept)."""
    out = []
    for k, v in _signed(NOW):
        if k == "Authorization":
            head, _, rest = v.partition("SignedHeaders=")
            v = head + "SignedHeaders=" + value + "," + rest.partition(",")[2]
        out.append((k, v))
    return out


def test_the_signed_headers_as_sent_verify() -> None:
    assert dict(_signed(NOW))["Authorization"].count("SignedHeaders=host;x-amz-date;x-amz-target,") == 1
    _verify(_with_signed_headers("host;x-amz-date;x-amz-target"))


@pytest.mark.parametrize(
    "value",
    [
        "host;host;x-amz-date;x-amz-target",  # verified before: botocore rebuilds the list from a set
        "host;x-amz-date;x-amz-target;x-amz-target",
        "x-amz-date;host;x-amz-target",  # unsorted: verified before, botocore sorts
        "Host;x-amz-date;x-amz-target",
        "host;X-Amz-Date;x-amz-target",
        "host;;x-amz-date;x-amz-target",
        "host;x-amz-date;x-amz-target;",
        ";host;x-amz-date;x-amz-target",
        "",
    ],
)
def test_signed_headers_not_in_canonical_form_are_refused(value: str) -> None:
    """The list a client sends must be the one it signed: SigV4 signs the lower-case, sorted list of
    distinct names, and a server that repaired another list would accept what nobody signed."""
    with pytest.raises(sigv4.AuthError) as caught:
        _verify(_with_signed_headers(value))
    assert caught.value.code == "IncompleteSignatureException"
    assert caught.value.message.startswith(
        "SignedHeaders must list lower-case header names, sorted, each once"
    )


@pytest.mark.parametrize("name", ["Signature", "Credential", "SignedHeaders"])
def test_an_authorization_parameter_given_twice_is_refused(name: str) -> None:
    """Before: the last copy counted (a first `Signature=` was ignored): which one a proxy or a log
    reads is a guess, so neither is taken."""
    headers = _signed(NOW)
    auth = dict(headers)["Authorization"]
    value = auth.split(f"{name}=", 1)[1].split(",", 1)[0]
    doubled = f"{auth}, {name}={value}"
    with pytest.raises(sigv4.AuthError) as caught:
        _verify([(k, doubled if k == "Authorization" else v) for k, v in headers])
    assert caught.value.code == "IncompleteSignatureException"
    assert caught.value.message == f"'{name}' is given more than once in the Authorization header."


def _signed_with_date_header(date_value: str, timestamp: str) -> list[tuple[str, str]]:
    """A request whose time is in a signed ``Date`` header (no X-Amz-Date), signed for ``timestamp``."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url="http://127.0.0.1:8080/", data=b"{}")
    request.headers["X-Amz-Target"] = "TrentService.ListKeys"
    request.headers["Date"] = date_value
    request.context["timestamp"] = timestamp
    auth = SigV4Auth(Credentials(KEY_ID, SECRET), "kms", "us-east-1")
    sig = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    signed = auth.signed_headers(auth.headers_to_sign(request))
    assert "date" in signed.split(";") and "x-amz-date" not in signed
    return [
        *request.headers.items(),
        ("Host", "127.0.0.1:8080"),
        (
            "Authorization",
            f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, SignedHeaders={signed}, Signature={sig}",
        ),
    ]


def test_the_date_header_stands_in_for_x_amz_date() -> None:
    """AWS: "If we can't find an x-amz-date header, then we look for a date header" (the IAM user
    guide, "Elements of an AWS API request signature"). Before: refused, with the message that a
    Date header was required although one was there."""
    stamp = NOW.strftime("%Y%m%dT%H%M%SZ")
    assert _verify(_signed_with_date_header(stamp, stamp)).access_key_id == KEY_ID


def test_a_date_header_in_http_format_is_refused_in_aws_words() -> None:
    """The SigV4 timestamp is ISO 8601 basic format, whichever header carries it."""
    stamp = NOW.strftime("%Y%m%dT%H%M%SZ")
    http_date = "Thu, 15 Jan 2026 12:00:00 GMT"
    with pytest.raises(sigv4.AuthError) as caught:
        _verify(_signed_with_date_header(http_date, stamp))
    assert caught.value.code == "IncompleteSignatureException"
    assert caught.value.message == f"Date must be in ISO-8601 'basic format'. Got '{http_date}'."


def test_no_date_at_all_is_refused_as_aws_words_it() -> None:
    headers = [(k, v) for k, v in _signed(NOW) if k != "X-Amz-Date"]
    with pytest.raises(sigv4.AuthError) as caught:
        _verify(headers)
    assert caught.value.message == (
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def test_an_unsigned_payload_is_refused() -> None:
    """UNSIGNED-PAYLOAD is Amazon S3's option (its SigV4 documentation); KMS requests sign their
    payload, as botocore signs them."""
    headers = [*_signed(NOW), ("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")]
    with pytest.raises(sigv4.AuthError) as caught:
        _verify(headers)
    assert caught.value.code == "InvalidSignatureException"
    assert "'UNSIGNED-PAYLOAD' is an Amazon S3 option" in caught.value.message
