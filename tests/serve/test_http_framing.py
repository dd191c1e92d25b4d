"""HTTP framing attacks and cheroot-level garbage, over raw sockets (docs/serve.md, "HTTP framing").

Each request here is followed on the same connection by a good, signed request: the server must
not read the rest of the first one as the start of the second (a proxy in front would then pair
responses with the wrong clients), and every answer, cheroot's own included, is AWS JSON.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import ssl
import struct
import time
from pathlib import Path

import pytest

from tests.serve.conftest import Server, self_signed_cert
from tests.serve.test_auth import TARGET, signed_headers

Response = tuple[int, dict[str, str], bytes]


def _head(server: Server, body: bytes = b"{}", target: str = TARGET) -> bytes:
    lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{name}: {value}" for name, value in signed_headers(server, body, target=target).items()]
    return ("\r\n".join(lines) + "\r\n").encode()


def _good(server: Server) -> bytes:
    """A complete, signed ListKeys that closes the connection after its answer."""
    return _head(server) + b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"


def _raw(server: Server, data: bytes) -> bytes:
    """Send ``data`` on one connection, half-close, and return everything received."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except ConnectionResetError:  # a connection closed with bytes left unread: what was sent counts
            pass
    return out


def _exchange(server: Server, data: bytes) -> list[Response]:
    """Send ``data`` on one connection, half-close, and split everything received into responses."""
    out = _raw(server, data)
    responses = []
    while out:
        head, sep, rest = out.partition(b"\r\n\r\n")
        assert sep, out[:300]
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers["content-length"])
        responses.append((int(status_line.split()[1]), headers, rest[:length]))
        out = rest[length:]
    return responses


def _json_error(response: Response) -> str:
    """The response's AWS error code, after checking it is an AWS JSON error document."""
    status, headers, body = response
    assert headers["content-type"] == "application/x-amz-json-1.1", (status, headers, body)
    assert headers["x-amzn-requestid"]
    doc = json.loads(body)
    assert set(doc) == {"__type", "message"}, doc
    return str(doc["__type"])


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"\x00\xff garbage\r\n\r\n", 400, "SerializationException"),
        (b"post / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "SerializationException"),
        (b"POST / HTTP/1.1\nHost: x\n\n", 400, "SerializationException"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n{}", 400, "SerializationException"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400, "SerializationException"),
        (b"POST * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "SerializationException"),
        (b"POST / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "SerializationException"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "SerializationException"),
        (b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n", 405, "UnknownOperationException"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
            413,
            "RequestEntityTooLargeException",
        ),
    ],
)
def test_cheroots_own_answers_are_aws_json_errors(
    server: Server, request_bytes: bytes, status: int, code: str
) -> None:
    responses = _exchange(server, request_bytes)
    assert len(responses) == 1
    assert responses[0][0] == status
    assert _json_error(responses[0]) == code
    assert responses[0][1]["connection"] == "close"


def test_a_malformed_uri_is_not_echoed(server: Server) -> None:
    """cheroot's messages quote the request; a presigned URI would carry a signature."""
    signature = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    uri = f"http://127.0.0.1/?X-Amz-Signature={signature}"
    (response,) = _exchange(server, f"POST {uri} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert _json_error(response) == "SerializationException"
    assert signature.encode() not in response[2]


@pytest.mark.parametrize(
    ("framing", "body", "code"),
    [
        # cheroot kept the last Content-Length: the '{}' became the start of the next request
        (b"Content-Length: 2\r\nContent-Length: 0\r\n", b"{}", "SerializationException"),
        # cheroot stripped the name: a proxy sees an unknown header, cheroot a Content-Length
        (b"Content-Length : 2\r\n", b"{}", "SerializationException"),
        # cheroot joined a folded line to the header before it
        (b"Content-Length: 2\r\nX-Folded: a\r\n b\r\n", b"{}", "SerializationException"),
        (b"Transfer-Encoding:\r\n chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n", "SerializationException"),
        # Python's int() reads these; a proxy in front would not
        (b"Content-Length: +2\r\n", b"{}", "SerializationException"),
        (b"Content-Length: 0_2\r\n", b"{}", "SerializationException"),
        # int(size, 16): '-2' ended the body at once, '0x2' and '0_2' were read as 2
        (b"Transfer-Encoding: chunked\r\n", b"-2\r\n{}\r\n0\r\n\r\n", "SerializationException"),
        (b"Transfer-Encoding: chunked\r\n", b"0x2\r\n{}\r\n0\r\n\r\n", "SerializationException"),
        (b"Transfer-Encoding: chunked\r\n", b"0_2\r\n{}\r\n0\r\n\r\n", "SerializationException"),
        # HTTP/1.0 has no chunked coding: cheroot ignored it and kept the connection for the chunks
        (b"Transfer-Encoding: chunked\r\nConnection: Keep-Alive\r\n", b"2\r\n{}\r\n0\r\n\r\n", "http/1.0"),
        # chunked twice (a proxy may decode twice), or no coding at all (cheroot then read no body)
        (b"Transfer-Encoding: chunked, chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n", "SerializationException"),
        (
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            b"2\r\n{}\r\n0\r\n\r\n",
            "SerializationException",
        ),
        (b"Transfer-Encoding: ,\r\n", b"2\r\n{}\r\n0\r\n\r\n", "SerializationException"),
        # a refused chunked body: what follows is not a request boundary
        (b"Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n", "SerializationException"),
    ],
)
def test_ambiguous_framing_is_refused_and_the_connection_closed(
    server: Server, framing: bytes, body: bytes, code: str
) -> None:
    first = _head(server) + framing + b"\r\n" + body
    if code == "http/1.0":
        first, code = first.replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1), "SerializationException"
    responses = _exchange(server, first + _good(server))
    assert len(responses) == 1, responses  # the second request was not read out of the first
    assert responses[0][0] == 400
    assert _json_error(responses[0]) == code


def test_chunked_with_content_length_is_answered_then_the_connection_closed(server: Server) -> None:
    """RFC 9112, 6.1: a server may process such a request by its Transfer-Encoding, then MUST close."""
    first = _head(server) + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    responses = _exchange(server, first + _good(server))
    assert [r[0] for r in responses] == [200]
    assert responses[0][1]["connection"] == "close"


def test_chunk_trailers_are_read_so_the_next_request_is_served(server: Server) -> None:
    chunked = _head(server) + b"Transfer-Encoding: chunked\r\n\r\n2;ext=1\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n"
    responses = _exchange(server, chunked + _good(server))
    assert [r[0] for r in responses] == [200, 200]
    assert all("Keys" in json.loads(r[2]) for r in responses)


def test_a_chunk_line_that_does_not_end_is_refused_at_the_header_limit(server: Server) -> None:
    """cheroot read a chunk-size or trailer line without a limit: one that never ended was buffered
    as long as the client kept sending (and, with the new reader, copied whole on each receive).
    Now a line is read up to the header limit (16 KiB): a size line longer is a JSON 400 at once,
    a trailer line longer closes the connection after the answer, without waiting for --timeout."""
    endless = b"1" * 20_000  # hexadecimal, without its CRLF; and the client does not close
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(_head(server) + b"Transfer-Encoding: chunked\r\n\r\n" + endless)
        head, _, body = sock.recv(65536).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"Content-Type: application/x-amz-json-1.1" in head
    assert json.loads(body)["__type"] == "SerializationException"
    trailer = b"2\r\n{}\r\n0\r\nX-Trailer: " + b"a" * 20_000
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(_head(server) + b"Transfer-Encoding: chunked\r\n\r\n" + trailer)
        out = b""
        while chunk := sock.recv(65536):  # a TimeoutError here: the server still waits for the line
            out += chunk
    assert out.startswith(b"HTTP/1.1 200 OK\r\n"), out[:200]


def test_an_error_before_the_body_was_read_closes_instead_of_draining(server: Server) -> None:
    wrong_path = _head(server).replace(b"POST / ", b"POST /admin ", 1) + b"Content-Length: 2\r\n\r\n{}"
    responses = _exchange(server, wrong_path + _good(server))
    assert [r[0] for r in responses] == [404]
    assert responses[0][1]["connection"] == "close"


def test_pipelined_good_requests_are_all_served(server: Server) -> None:
    one = _head(server) + b"Content-Length: 2\r\n\r\n{}"
    responses = _exchange(server, one + one + _good(server))
    assert [r[0] for r in responses] == [200, 200, 200]


def test_no_traceback_on_stderr(server: Server) -> None:
    for junk in (b"\x16\x03\x01\x00\x05hello", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"POST / HTTP/1.1\r\n"):
        _exchange(server, junk)
    log = (server.folder / "serve.log").read_text()
    assert "Traceback" not in log and "Error" not in log, log
    assert server.keys["admin"][1] not in log


def test_a_stalled_client_gets_a_json_408(tmp_path: Path) -> None:
    """Stalled headers were a text/plain 408; a stalled body got no answer at all (cheroot waited
    another --timeout to drain the body, then dropped the connection)."""
    srv = Server(tmp_path, args=("--timeout", "1", "--workers", "1"))
    try:
        for partial in (b"POST / HTTP/1.1\r\nHost: x\r\n", _head(srv) + b"Content-Length: 10\r\n\r\n{}"):
            with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as sock:
                sock.sendall(partial)  # and then nothing, without closing
                out = b""
                while chunk := sock.recv(65536):
                    out += chunk
            head, _, body = out.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408 "), out[:300]
            assert b"Content-Type: application/x-amz-json-1.1" in head
            assert json.loads(body)["__type"] == "RequestTimeoutException"
    finally:
        assert srv.stop() == 0


def test_a_trickling_client_gets_a_408_when_its_request_has_taken_the_timeout(tmp_path: Path) -> None:
    """A client sending a byte of its headers, then of its body, every 0.3 s never let a 1 s
    per-read timeout fire: it held a worker thread for as long as it trickled (slowloris). The
    whole request must now arrive within --timeout of its first byte."""
    srv = Server(tmp_path, args=("--timeout", "1", "--workers", "1"))
    try:
        body_first = _head(srv) + b"Content-Length: 4000\r\n\r\n"
        for sent_first, trickle in (
            (b"POST / HTTP/1.1\r\n", b"X-Slow: " + b"a" * 60),
            (body_first, b"{" * 60),
        ):
            with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as sock:
                started = time.monotonic()
                sock.sendall(sent_first)
                out = b""
                for byte in trickle:  # 60 bytes, 0.3 s apart: 18 s if nothing stops it
                    ready, _, _ = select.select([sock], [], [], 0.3)
                    if ready:
                        break
                    try:
                        sock.sendall(bytes([byte]))
                    except OSError:  # the server answered and closed meanwhile
                        break
                with contextlib.suppress(ConnectionResetError):  # the answer, then a reset for bytes unread
                    while chunk := sock.recv(65536):
                        out += chunk
                elapsed = time.monotonic() - started
            assert out.startswith(b"HTTP/1.1 408 "), out[:300]
            assert json.loads(out.partition(b"\r\n\r\n")[2])["__type"] == "RequestTimeoutException"
            assert elapsed < 3.0, elapsed  # about 1 s: the deadline, not the trickle, ended it
        # the thread was freed: the next client is served
        [response] = _exchange(srv, _good(srv))
        assert response[0] == 200
    finally:
        assert srv.stop() == 0


def test_failed_tls_handshakes_leave_stderr_quiet(tmp_path: Path) -> None:
    """cheroot wrote a line per failed handshake, per TLS client gone mid-request, per record that
    does not decrypt: any client could grow the log without end."""
    cert, key = self_signed_cert(tmp_path)
    srv = Server(tmp_path, args=("--tls-cert", str(cert), "--tls-key", str(key), "--workers", "1"))
    try:
        for junk in (b"\x16\x03\x01\x00\x10" + b"\x00" * 16, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n") * 5:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as sock:
                sock.sendall(junk)
                try:
                    sock.recv(4096)
                except ConnectionResetError:
                    pass
        # plain HTTP to the TLS port: an AWS JSON error (before: a reset, or cheroot's text/plain)
        for plain in (_good(srv), b"GET / HTTP/1.0\r\n\r\n", b"POST / HTTP/1.1\r\n"):
            [response] = _exchange(srv, plain)
            assert response[0] == 400 and _json_error(response) == "SerializationException"
            assert b"HTTPS only" in response[2] and response[1]["connection"] == "close"
        # TLS clients that hang up mid-request: on a plain socket the answer's write fails with
        # EPIPE, which cheroot ignores; over TLS it was OpenSSL's SSLEOFError, logged (two lines a
        # client) before kmscli's writer said EPIPE for it too
        context = ssl.create_default_context(cafile=str(cert))
        for partial, reset in [(b"POST / HTTP/1.1\r\n", False), (b"POST / HTTP/1.1\r\n", True)] * 3:
            with context.wrap_socket(
                socket.create_connection(("127.0.0.1", srv.port), timeout=15), server_hostname="127.0.0.1"
            ) as tls:
                tls.sendall(partial)
                if reset:
                    tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # and TLS clients that send a record that does not decrypt (the TLS layer's SSLError, logged
        # before the reader said ECONNRESET for it), after the handshake or mid-request
        for partial in (b"", b"POST / HTTP/1.1\r\n") * 2:
            tls = context.wrap_socket(
                socket.create_connection(("127.0.0.1", srv.port), timeout=15), server_hostname="127.0.0.1"
            )
            tls.sendall(partial)
            with socket.socket(fileno=tls.detach()) as raw:
                raw.settimeout(15)
                raw.sendall(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
                try:
                    while raw.recv(65536):
                        pass
                except ConnectionResetError:
                    pass
        assert "Keys" in srv.client(verify=str(cert)).list_keys()
    finally:
        assert srv.stop() == 0
    log = (tmp_path / "serve.log").read_text().splitlines()
    assert [line for line in log if not line.startswith("kmscli serve: ")] == [], log
    assert [line for line in log if "HTTP layer" in line] == [], log


def test_a_head_response_has_no_content(server: Server) -> None:
    """cheroot sent the 404's JSON after HEAD's headers: a client expecting no content read it as
    the start of its next response."""
    out = _raw(server, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + _good(server))
    first, _, rest = out.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 404 ") and b"Content-Type: application/x-amz-json-1.1" in first
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n"), rest[:200]


def test_botocore_reads_cheroots_own_413_as_an_aws_error(server: Server) -> None:
    """A body declared over 4x --max-body-bytes is refused by cheroot before it is read; boto3 saw
    a text/plain answer and raised a ClientError without a code it could match."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:
        server.client().encrypt(KeyId="alias/any", Plaintext=b"a" * 1_200_000)
    assert err.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def _first_answer(server: Server, head: bytes) -> bytes:
    """Send a request head (no body) and read until the first answer's head is complete."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(head)
        out = b""
        while b"\r\n\r\n" not in out and (chunk := sock.recv(65536)):
            out += chunk
    return out


@pytest.mark.parametrize("length", [256 * 1024 + 1, 4 * 256 * 1024, 4 * 256 * 1024 + 1])
def test_a_body_over_the_limit_is_not_invited(server: Server, length: int) -> None:
    """`Expect: 100-continue` with a Content-Length over --max-body-bytes (256 KiB here): before,
    up to 4x the limit cheroot answered `100 Continue`, the client sent its body, and only then came
    the 413. Now the 413 is the first answer, and the body is never asked for."""
    head = _head(server, b"x" * 0).replace(b"Content-Length: 2\r\n", b"")
    out = _first_answer(server, head + f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n".encode())
    assert out.startswith(b"HTTP/1.1 413 "), out[:200]
    assert b"100 Continue" not in out


def test_a_body_within_the_limit_is_still_invited(server: Server) -> None:
    body = b"{}"
    head = _head(server, body) + b"Content-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(head)
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    assert out.startswith(b"HTTP/1.1 200 OK\r\n"), out[:200]


def test_framing_over_tls(tmp_path: Path) -> None:
    """What the tests above send as plain bytes, through TLS (the reader receives from the
    SSLSocket, one record of at most 16 KiB at a time): pipelined requests in one send, bodies over
    one record and over one 64 KiB receive, a body over the limit, a chunked body with trailers,
    limits on the request line and the header block, HEAD, HTTP/1.0, clients that stall mid-body
    while they hold both threads, and quick connections; the server keeps serving."""
    cert, key = self_signed_cert(tmp_path)
    args = (
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--workers",
        "1",
        "--threads",
        "2",
        "--timeout",
        "1",
    )
    srv = Server(tmp_path, args=args)
    context = ssl.create_default_context(cafile=str(cert))

    def connect() -> ssl.SSLSocket:
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
        return context.wrap_socket(sock, server_hostname="127.0.0.1")

    def statuses(data: bytes) -> list[int]:
        """The status of every response the server sent for ``data`` before it closed (a server
        that answers before the body and closes resets the rest: what was sent counts)."""
        gone = (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError)
        out = b""
        with connect() as tls:
            with contextlib.suppress(*gone):
                tls.sendall(data)
            with contextlib.suppress(*gone):
                while chunk := tls.recv(65536):
                    out += chunk
        return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", out)]

    def signed(body: bytes, target: str = TARGET) -> bytes:
        return _head(srv, body, target) + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    try:
        key_id = srv.client(verify=str(cert)).create_key()["KeyMetadata"]["KeyId"]
        assert statuses(_head(srv) + b"Content-Length: 2\r\n\r\n{}" + signed(b"{}") + _good(srv)) == [200] * 3
        for size in (20_000, 100_000, 250_000):  # over one record, over one receive, within the limit
            body = json.dumps({"KeyId": key_id, "Plaintext": "aGk="}).encode()[:-1] + b" " * size + b"}"
            assert statuses(signed(body, "TrentService.Encrypt") + _good(srv)) == [200, 200]
        over = b'{"Plaintext": "' + b"A" * 300_000 + b'"}'
        assert statuses(signed(over) + _good(srv)) == [413]  # answered, then closed
        chunked = (
            _head(srv, b"{}") + b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1;x=y\r\n}\r\n0\r\nA: 1\r\n\r\n"
        )
        assert statuses(chunked + _good(srv)) == [200, 200]
        assert statuses(b"POST /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n") == [414]
        assert statuses(b"POST / HTTP/1.1\r\n" + b"A: b\r\n" * 4000 + b"\r\n") == [413]
        assert statuses(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + _good(srv)) == [404, 200]
        http10 = _head(srv).replace(b"HTTP/1.1", b"HTTP/1.0") + b"Content-Length: 2\r\n\r\n{}"
        assert statuses(http10 + _good(srv)) == [200]  # HTTP/1.0: one answer, then closed
        stalled = [connect(), connect()]
        for tls in stalled:
            tls.sendall(_head(srv) + b"Content-Length: 10\r\n\r\n{}")
        for tls in stalled:  # both threads are taken until --timeout answers each
            with tls:
                assert tls.recv(65536).startswith(b"HTTP/1.1 408 ")
        for _ in range(30):
            connect().close()
        assert statuses(_good(srv)) == [200]
    finally:
        assert srv.stop() == 0
    log = (tmp_path / "serve.log").read_text()
    assert "HTTP layer" not in log and "Traceback" not in log, log


@pytest.mark.parametrize("declared", [300 * 1024, 8 * 1024 * 1024])
def test_a_client_still_sending_a_refused_body_reads_the_413_not_a_reset(
    server: Server, declared: int
) -> None:
    """The server answers 413 before reading a body over the limit (the application's, or cheroot's
    at 4x it) and closes. Closing with the client's bytes unread made the kernel reset the
    connection: a client still sending saw "connection reset" instead of the 413 (the JS SDK then
    retried). Now the server reads and drops the rest before closing, so the whole body goes out
    and the answer is read after it."""
    head = _head(server, b"").replace(b"Content-Length: 0\r\n", b"")
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(head + f"Content-Length: {declared}\r\n\r\n".encode())
        sock.sendall(b"x" * declared)  # raised ConnectionResetError / BrokenPipeError before
        out = b""
        while chunk := sock.recv(65536):  # so did this, when the reset came first
            out += chunk
    assert out.startswith(b"HTTP/1.1 413 "), out[:200]
    assert b"RequestEntityTooLargeException" in out
    assert server.client().list_keys()["Keys"] is not None  # and the server goes on serving


def test_plain_http_with_a_large_body_to_the_tls_port_reads_its_answer_not_a_reset(tmp_path: Path) -> None:
    """The TLS port answers plain HTTP after reading its first 64 KiB; a body beyond that was left
    unread, and closing reset the connection under the answer."""
    cert, key = self_signed_cert(tmp_path)
    srv = Server(tmp_path, args=("--tls-cert", str(cert), "--tls-key", str(key), "--workers", "1"))
    try:
        declared = 8 * 1024 * 1024
        with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as sock:
            sock.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n".encode())
            sock.sendall(b"x" * declared)  # raised BrokenPipeError / ConnectionResetError before
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
        assert out.startswith(b"HTTP/1.1 400 ") and b"HTTPS only" in out, out[:200]
        assert "Keys" in srv.client(verify=str(cert)).list_keys()
    finally:
        assert srv.stop() == 0
