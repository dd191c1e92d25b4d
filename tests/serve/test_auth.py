"""SigV4 negatives, garbage and limits, over the wire: AWS's codes and statuses, JSON always."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
from typing import Any

import pytest

from tests.serve.conftest import Server

TARGET = "TrentService.ListKeys"


def signed_headers(
    server: Server,
    body: bytes,
    *,
    who: str = "admin",
    when: dt.datetime | None = None,
    secret: str | None = None,
    key_id: str | None = None,
    service: str = "kms",
    target: str = TARGET,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers of a request signed as botocore signs (with a chosen time, key or scope)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    access, real_secret = server.keys[who]
    when = when or dt.datetime.now(dt.UTC)
    request = AWSRequest(method="POST", url=server.url + "/", data=body)
    request.headers["Content-Type"] = "application/x-amz-json-1.1"
    request.headers["X-Amz-Target"] = target
    for name, value in (extra or {}).items():
        request.headers[name] = value
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    request.headers["X-Amz-Date"] = amz_date
    request.context["timestamp"] = amz_date
    auth = SigV4Auth(Credentials(key_id or access, secret or real_secret), service, "us-east-1")
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    headers = dict(request.headers.items())
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, "
        f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))}, Signature={signature}"
    )
    return headers


def post(
    server: Server, body: bytes, headers: dict[str, str], path: str = "/", method: str = "POST"
) -> tuple[int, dict[str, Any], dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        assert resp.getheader("Content-Type") == "application/x-amz-json-1.1"
        assert resp.getheader("x-amzn-RequestId")
        return resp.status, json.loads(data), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def test_a_correctly_signed_raw_request_works(server: Server) -> None:
    status, doc, _ = post(server, b"{}", signed_headers(server, b"{}"))
    assert status == 200 and "Keys" in doc, doc


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ("no-authorization", "MissingAuthenticationTokenException", "Missing Authentication Token"),
        (
            "unknown-key",
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        ("wrong-secret", "InvalidSignatureException", "The request signature we calculated does not match"),
        ("tampered-body", "InvalidSignatureException", "The request signature we calculated does not match"),
        ("malformed", "IncompleteSignatureException", "Authorization header requires 'Signature' parameter."),
        ("no-equals", "IncompleteSignatureException", "not a valid key=value pair (missing equal-sign)"),
        (
            "not-sigv4",
            "IncompleteSignatureException",
            "Authorization header requires 'Credential' parameter.",
        ),
        ("no-date", "IncompleteSignatureException", "requires existence of either a 'X-Amz-Date'"),
        ("expired", "InvalidSignatureException", "Signature expired: "),
        ("future", "InvalidSignatureException", "Signature not yet current: "),
        (
            "session-token",
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        (
            "presigned",
            "IncompleteSignatureException",
            "query-string (presigned) authentication is not supported",
        ),
        (
            "wrong-service",
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'kms'.",
        ),
        ("host-unsigned", "IncompleteSignatureException", "'Host' must be a 'SignedHeader'"),
        ("host-twice", "IncompleteSignatureException", "SignedHeaders must list lower-case header names"),
        ("signature-twice", "IncompleteSignatureException", "'Signature' is given more than once"),
        ("http-date", "IncompleteSignatureException", "Date must be in ISO-8601 'basic format'."),
        ("unsigned-payload", "InvalidSignatureException", "'UNSIGNED-PAYLOAD' is an Amazon S3 option"),
    ],
)
def test_sigv4_negatives(server: Server, change: str, code: str, message: str) -> None:
    body = b"{}"
    path = "/"
    now = dt.datetime.now(dt.UTC)
    headers = signed_headers(server, body)
    if change == "no-authorization":
        del headers["Authorization"]
    elif change == "unknown-key":
        headers = signed_headers(server, body, key_id="AKIAIOSFODNN7EXAMPLE")
    elif change == "wrong-secret":
        headers = signed_headers(server, body, secret="x" * 40)
    elif change == "tampered-body":
        body = b'{"Limit": 1}'
    elif change == "malformed":
        headers["Authorization"] = headers["Authorization"].split(", Signature=")[0]
    elif change == "no-equals":
        headers["Authorization"] = headers["Authorization"].replace("Signature=", "Signature ")
    elif change == "not-sigv4":
        headers["Authorization"] = "Bearer abc"
    elif change == "no-date":
        del headers["X-Amz-Date"]
    elif change == "expired":
        headers = signed_headers(server, body, when=now - dt.timedelta(minutes=6))
    elif change == "future":
        headers = signed_headers(server, body, when=now + dt.timedelta(minutes=6))
    elif change == "session-token":
        headers = signed_headers(server, body, extra={"X-Amz-Security-Token": "FwoGZXIvYXdzEXAMPLE"})
    elif change == "presigned":
        del headers["Authorization"]
        path = "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"
    elif change == "wrong-service":
        headers = signed_headers(server, body, service="s3")
    elif change == "host-unsigned":
        auth = headers["Authorization"]
        headers["Authorization"] = auth.replace(
            "SignedHeaders=content-type;host;", "SignedHeaders=content-type;"
        )
    elif change == "host-twice":
        headers["Authorization"] = headers["Authorization"].replace(";host;", ";host;host;")
    elif change == "signature-twice":
        headers["Authorization"] += ", Signature=" + "0" * 64
    elif change == "http-date":
        del headers["X-Amz-Date"]
        headers["Date"] = now.strftime("%a, %d %b %Y %H:%M:%S GMT")
    elif change == "unsigned-payload":
        headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    status, doc, _ = post(server, body, headers, path=path)
    assert status == 400
    assert doc["__type"] == code
    assert message in doc["message"]
    secret = server.keys["admin"][1]
    assert secret not in json.dumps(doc)


def test_time_skew_within_five_minutes_is_accepted(server: Server) -> None:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=4)
    status, _, _ = post(server, b"{}", signed_headers(server, b"{}", when=when))
    assert status == 200


def test_deleted_access_key_stops_working(server: Server) -> None:
    from tests.serve.conftest import kmscli

    out = server.add_access_key("tmp", "arn:aws:iam::111122223333:user/tmp")
    assert post(server, b"{}", signed_headers(server, b"{}", who="tmp"))[0] == 200
    kmscli(server.env, "credentials", "delete", "--access-key-id", out[0])
    status, doc, _ = post(server, b"{}", signed_headers(server, b"{}", who="tmp"))
    assert (status, doc["__type"]) == (400, "UnrecognizedClientException")
    listed = kmscli(server.env, "credentials", "list", "--output", "json").stdout
    assert out[0] not in listed and out[1] not in listed


@pytest.mark.parametrize(
    ("body", "target", "status", "code"),
    [
        (b"not json", TARGET, 400, "SerializationException"),
        (b"[1, 2]", TARGET, 400, "SerializationException"),
        (b'{"Plaintext": "***", "KeyId": "alias/x"}', "TrentService.Encrypt", 400, "SerializationException"),
        (b"{}", "TrentService.NoSuchOperation", 400, "UnknownOperationException"),
        (b"{}", "Other.ListKeys", 400, "UnknownOperationException"),
        (b'{"Limit": "ten"}', TARGET, 400, "SerializationException"),
        (b'{"Limit": 0}', TARGET, 400, "ValidationException"),
        (b'{"Unknown": 1, "Limit": 0}', TARGET, 400, "ValidationException"),  # ignored; the range is not
        (b'{"\\ud800": 1, "Limit": 0}', TARGET, 400, "ValidationException"),
        (b'{"Limit": 1, "Limit": 2}', TARGET, 400, "SerializationException"),
        (b'{"Limit": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", TARGET, 400, "SerializationException"),
    ],
)
def test_bad_bodies_and_targets_get_json_errors(
    server: Server, body: bytes, target: str, status: int, code: str
) -> None:
    got, doc, _ = post(server, body, signed_headers(server, body, target=target))
    assert (got, doc["__type"]) == (status, code)


def test_no_route_but_the_api(server: Server) -> None:
    for method, path in (("GET", "/"), ("POST", "/admin"), ("PUT", "/")):
        status, doc, _ = post(server, b"", {}, path=path, method=method)
        assert status == 404 and doc["__type"] == "UnknownOperationException"


def test_oversized_body_is_refused_in_json(server: Server) -> None:
    body = b'{"Plaintext": "' + b"A" * (300 * 1024) + b'"}'
    status, doc, _ = post(server, body, signed_headers(server, body))
    assert status == 413 and doc["__type"] == "RequestEntityTooLargeException"


def test_garbage_on_the_socket_does_not_stop_the_server(server: Server) -> None:
    for junk in (b"\x00\xff\xfe garbage\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", b"GET"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
            sock.sendall(junk)
            sock.shutdown(socket.SHUT_WR)
            sock.recv(4096)
    assert post(server, b"{}", signed_headers(server, b"{}"))[0] == 200


def test_a_slow_client_does_not_hold_up_the_others(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as slow:
        slow.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"
        )  # and then nothing
        status, doc, _ = post(server, b"{}", signed_headers(server, b"{}"))
        assert status == 200 and "Keys" in doc


def _raw_exchange(server: Server, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def test_a_chunked_request_is_read_and_verified(server: Server) -> None:
    body = b'{"Limit": 1}'
    headers = signed_headers(server, body)
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    chunks = b"5\r\n" + body[:5] + b"\r\n" + b"7\r\n" + body[5:] + b"\r\n0\r\n\r\n"
    for extra in ("", "Content-Length: 2\r\n"):  # a Content-Length beside chunked is ignored
        out = _raw_exchange(
            server,
            (head + extra + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + chunks,
        )
        status_line, _, rest = out.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 200 OK", out
        assert json.loads(rest.partition(b"\r\n\r\n")[2])["Truncated"] in (True, False)


def test_a_chunked_body_over_the_limit_is_refused_in_json(server: Server) -> None:
    body = b'{"Plaintext": "' + b"A" * (300 * 1024) + b'"}'
    headers = signed_headers(server, body)
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    chunks = b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n"
        for part in (body[i : i + 4096] for i in range(0, len(body), 4096))
    )
    out = _raw_exchange(
        server, (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n"
    )
    assert out.startswith(b"HTTP/1.1 413 "), out[:200]
    assert b'"RequestEntityTooLargeException"' in out


def test_repeated_and_underscore_headers_are_refused_as_docs_serve_md_says(server: Server) -> None:
    body = b"{}"
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in signed_headers(server, body).items()
    )
    # a second copy of a signed header after the signed one: its value is the one read, unsigned
    out = _raw_exchange(
        server,
        (
            head + "X-Amz-Target: TrentService.DisableKey\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
        ).encode()
        + body,
    )
    assert out.startswith(b"HTTP/1.1 400 ") and b'"InvalidSignatureException"' in out, out[:300]
    status, doc, _ = post(server, body, signed_headers(server, body, extra={"X_Foo": "bar"}))
    assert (status, doc["__type"]) == (400, "IncompleteSignatureException")


def test_a_body_that_is_not_json_1_1_gets_no_operation(server: Server) -> None:
    """A request sent as text/plain is not routed to the service (docs/serve.md, "Protocol")."""
    headers = signed_headers(server, b"{}")
    headers["Content-Type"] = "text/plain"  # routed (refused) before the signature is checked
    status, doc, response_headers = post(server, b"{}", headers)
    assert (status, doc["__type"]) == (404, "UnknownOperationException")
    assert response_headers["connection"] == "close"  # the body was left unread
