"""The verifier's cheap route to botocore's canonical request gives botocore's own signatures."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from kmscli.serve import sigv4

KEY_ID = "AKIAKMSCLITEST000001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _now() -> dt.datetime:
    """The verifier's clock: botocore signs with the real one, and five minutes of skew are allowed, so
    the time is read at each check (a module constant went stale when the suite reached this file more
    than five minutes after collecting it)."""
    return dt.datetime.now(dt.UTC)


def _signed(
    url: str, body: bytes, headers: dict[str, str], region: str = "us-east-1", secret: str = SECRET
) -> list[tuple[str, str]]:
    """A request as botocore signs it, turned into the (name, value) pairs a server receives."""
    request = AWSRequest("POST", url, data=body, headers=headers)
    SigV4Auth(Credentials(KEY_ID, secret), "kms", region).add_auth(request)
    out = [(k.lower(), v) for k, v in request.headers.items()]
    if "host" not in dict(out):
        out.append(("host", url.split("/")[2]))
    return out


def _lookup(secret: str = SECRET) -> Any:
    return lambda key_id: sigv4.Secret("arn:aws:iam::111122223333:root", secret.encode())


CASES = [
    ("http://127.0.0.1:8080/", b'{"KeyId":"alias/a"}', {"X-Amz-Target": "TrentService.Encrypt"}),
    ("http://127.0.0.1:8080/", b"", {"X-Amz-Target": "TrentService.ListKeys", "User-Agent": "a  b   c"}),
    ("http://localhost/a/./b/../c", b"{}", {"X-Amz-Target": "TrentService.ListKeys"}),
    ("http://localhost/?b=2&a=1&a=0", b"{}", {"X-Amz-Target": "  TrentService.ListKeys  "}),
    (
        "http://localhost/",
        '{"D":"\u00e9\u2603"}'.encode(),
        {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "X-Amz-Target": "TrentService.Decrypt"},
    ),
]


@pytest.mark.parametrize(("url", "body", "headers"), CASES)
@pytest.mark.parametrize("route", ["plain request", "botocore AWSRequest fallback"])
def test_botocore_signatures_verify_on_both_routes(
    url: str, body: bytes, headers: dict[str, str], route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if route != "plain request":  # a botocore release that reads something else off the request
        monkeypatch.setattr(sigv4._Received, "__init__", lambda *a: (_ for _ in ()).throw(AttributeError()))
    received = _signed(url, body, headers)
    path, _, query = url.split("/", 3)[3].partition("?")
    if "X-Amz-Content-SHA256" in headers:  # a declared payload hash must be the body's
        with pytest.raises(sigv4.AuthError, match="x-amz-content-sha256"):
            sigv4.verify("POST", "/" + path, query, received, body, _now(), _lookup())
        return
    caller = sigv4.verify("POST", "/" + path, query, received, body, _now(), _lookup())
    assert caller == sigv4.Caller(KEY_ID, "arn:aws:iam::111122223333:root", "us-east-1")
    tampered = body + b" " if body else b"x"
    with pytest.raises(sigv4.AuthError, match="does not match"):
        sigv4.verify("POST", "/" + path, query, received, tampered, _now(), _lookup())


def test_a_repeated_header_is_signed_with_every_value() -> None:
    received = _signed("http://localhost/", b"{}", {"X-Amz-Target": "TrentService.ListKeys", "X-Extra": "1"})
    received.append(("x-extra", "2"))  # a second value the client did not sign
    with pytest.raises(sigv4.AuthError, match="does not match"):
        sigv4.verify("POST", "/", "", received, b"{}", _now(), _lookup())


def test_the_remembered_signing_key_belongs_to_the_secret_date_and_region() -> None:
    received = _signed("http://localhost/", b"{}", {"X-Amz-Target": "TrentService.ListKeys"})
    sigv4.verify("POST", "/", "", received, b"{}", _now(), _lookup())
    other = "another secret of the same access key id"
    with pytest.raises(sigv4.AuthError, match="does not match"):
        sigv4.verify("POST", "/", "", received, b"{}", _now(), _lookup(other))
    assert sigv4.verify(
        "POST", "/", "", _signed("http://localhost/", b"{}", {}, secret=other), b"{}", _now(), _lookup(other)
    )
    west = _signed("http://localhost/", b"{}", {}, region="eu-west-1")
    assert sigv4.verify("POST", "/", "", west, b"{}", _now(), _lookup()).region == "eu-west-1"
    stamp = dict(received)["x-amz-date"]
    today, signed_at = stamp[:8], dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    later = signed_at + dt.timedelta(days=1)
    tomorrow = [(k, v.replace(today, later.strftime("%Y%m%d"))) for k, v in received]
    with pytest.raises(sigv4.AuthError, match="does not match"):  # yesterday's key does not sign it
        sigv4.verify("POST", "/", "", tomorrow, b"{}", later, _lookup())
    key = SECRET.encode()
    assert sigv4._signing_key(key, today, "us-east-1") != sigv4._signing_key(
        key, later.strftime("%Y%m%d"), "us-east-1"
    )


@pytest.mark.parametrize("date", ["{d}T120000Z\n", "{d}T12000\u0661Z", "{y}1301T120000Z", "{d}T240000Z"])
def test_malformed_dates_are_refused_as_before(date: str) -> None:
    signed = _signed("http://localhost/", b"{}", {})
    today = dict(signed)["x-amz-date"][:8]
    date = date.format(d=today, y=today[:4])
    received = [(k, date if k == "x-amz-date" else v) for k, v in signed]
    with pytest.raises(sigv4.AuthError, match="basic format"):
        sigv4.verify("POST", "/", "", received, b"{}", _now(), _lookup())
