"""kmscli/serve/sockfile.py: the connection's reader and writer, checked against the C io module's
buffered reader over the same bytes (an independent implementation of the same contract)."""

from __future__ import annotations

import contextlib
import errno
import io
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmscli.serve import sockfile
from kmscli.serve.sockfile import SocketReader, SocketWriter
from tests.serve.conftest import self_signed_cert


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def _feed(sock: socket.socket, pieces: list[bytes], close: bool = True) -> threading.Thread:
    def run() -> None:
        for piece in pieces:
            sock.sendall(piece)
        if close:
            sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_request_line_headers_and_body_then_a_pipelined_request(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    first = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    second = b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
    client.sendall(first + second)
    reader = SocketReader(server)
    assert reader.readline(256) == b"POST / HTTP/1.1\r\n"
    assert reader.readline(256) == b"Host: x\r\n"
    assert reader.readline(256) == b"Content-Length: 5\r\n"
    assert reader.readline(256) == b"\r\n"
    assert reader.read(5) == b"hello"
    assert reader.has_data()  # the second request arrived with the first: no wait on the selector
    assert reader.readline() == b"POST / HTTP/1.1\r\n"
    assert reader.bytes_read == len(first) + len(b"POST / HTTP/1.1\r\n")


def test_readline_stops_at_its_limit_and_the_rest_follows(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    client.sendall(b"a" * 300 + b"\n")
    reader = SocketReader(server)
    assert reader.readline(256) == b"a" * 256
    assert reader.readline(256) == b"a" * 44 + b"\n"
    assert not reader.has_data()


def test_a_line_split_over_many_sends_is_one_line(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    thread = _feed(client, [b"Hea", b"der: ", b"va", b"lue\r", b"\nnext\n"])
    reader = SocketReader(server)
    assert reader.readline() == b"Header: value\r\n"
    assert reader.readline() == b"next\n"
    assert reader.readline() == b""  # the end of the stream
    thread.join()


def test_a_body_larger_than_one_receive_keeps_what_follows_it(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    server, client = pair
    body = bytes(range(256)) * 1024  # 256 KiB: several receives
    thread = _feed(client, [b"line\n", body, b"NEXT\n"])
    reader = SocketReader(server)
    assert reader.readline() == b"line\n"
    assert reader.read(len(body)) == body
    assert reader.readline() == b"NEXT\n"
    assert reader.read(10) == b""
    thread.join()


def test_read_to_the_end_and_a_short_read_at_the_end(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    thread = _feed(client, [b"abc", b"def"])
    reader = SocketReader(server)
    assert reader.read(2) == b"ab"
    assert reader.read() == b"cdef"
    thread.join()
    server2, client2 = socket.socketpair()
    with server2, client2:
        client2.sendall(b"xyz")
        client2.shutdown(socket.SHUT_WR)
        assert SocketReader(server2).read(10) == b"xyz"  # fewer than asked: the stream ended


def test_a_timeout_is_the_sockets_own_error(pair: tuple[socket.socket, socket.socket]) -> None:
    server, _client = pair
    server.settimeout(0.05)
    with pytest.raises(TimeoutError):
        SocketReader(server).readline()


def test_closed_reader_and_writer_refuse(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    client.sendall(b"data\n")
    reader = SocketReader(server)
    reader.close()
    assert reader.closed and not reader.has_data()
    with pytest.raises(ValueError):
        reader.readline()
    writer = SocketWriter(server)
    writer.close()
    with pytest.raises(ValueError):
        writer.write(b"x")


def test_writer_sends_each_write_whole_and_counts(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    writer = sockfile.makefile(server, "wb")
    assert isinstance(writer, SocketWriter)
    payload = b"z" * (1 << 20)  # over the socket buffer: sendall must loop while the peer reads
    received = bytearray()

    def drain() -> None:
        while len(received) < len(payload) + 2:
            received.extend(client.recv(65536))

    thread = threading.Thread(target=drain)
    thread.start()
    assert writer.write(payload) == len(payload)
    writer.write(memoryview(b"ok"))
    writer.flush()
    thread.join()
    assert bytes(received) == payload + b"ok"
    assert writer.bytes_written == len(payload) + 2
    with pytest.raises(TypeError):
        writer.write("text")  # type: ignore[arg-type]


def _tls_pair(folder: Path) -> tuple[ssl.SSLSocket, ssl.SSLSocket]:
    """A server-side and a client-side TLS socket over loopback TCP, handshake done."""
    cert, key = self_signed_cert(folder)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        raw = socket.create_connection(listener.getsockname(), timeout=10)
        accepted, _ = listener.accept()
    accepted.settimeout(10)
    made: list[ssl.SSLSocket] = []
    thread = threading.Thread(
        target=lambda: made.append(client_context.wrap_socket(raw, server_hostname="127.0.0.1"))
    )
    thread.start()
    server = server_context.wrap_socket(accepted, server_side=True)
    thread.join()
    return server, made[0]


def test_a_tls_client_gone_is_a_broken_pipe_as_on_a_plain_socket(tmp_path: Path) -> None:
    """A TLS client that hung up: OpenSSL's SSLEOFError on the answer's write becomes the EPIPE a
    plain socket gives, which cheroot ignores (it logged the SSL error, for every such client)."""
    server, client = _tls_pair(tmp_path)
    with server:
        writer = SocketWriter(server)
        writer.write(b"before")
        assert client.recv(100) == b"before"
        client.close()
        with pytest.raises(BrokenPipeError) as gone:
            for _ in range(3):  # the first write after the close may still reach the kernel
                writer.write(b"x" * 100)
        assert gone.value.errno == errno.EPIPE
        assert isinstance(gone.value.__context__, ssl.SSLEOFError)


def test_a_broken_tls_stream_is_a_reset_as_on_a_plain_socket(tmp_path: Path) -> None:
    """A record that does not decrypt: OpenSSL's SSLError on the receive becomes ECONNRESET, which
    cheroot ignores (it logged the SSL error); what was read before it is still read."""
    server, client = _tls_pair(tmp_path)
    with server:
        server.settimeout(0.2)
        with pytest.raises(TimeoutError):  # a timeout stays the socket's own, not a TLS error
            SocketReader(server).read(1)
        server.settimeout(10)
        client.sendall(b"POST / HTTP/1.1\r\n")
        with socket.socket(fileno=client.detach()) as raw:
            raw.sendall(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)  # application data, not of this session
            reader = SocketReader(server)
            assert reader.readline(256) == b"POST / HTTP/1.1\r\n"
            with pytest.raises(ConnectionResetError) as broken:
                reader.readline(256)
            assert broken.value.errno == errno.ECONNRESET
            assert isinstance(broken.value.__context__, ssl.SSLError)


def test_makefile_gives_a_reader_for_read_modes(pair: tuple[socket.socket, socket.socket]) -> None:
    server, _ = pair
    assert isinstance(sockfile.makefile(server, "rb", 8192), SocketReader)


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("line"), st.integers(min_value=-1, max_value=40)),
        st.tuples(st.just("read"), st.integers(min_value=0, max_value=60)),
    ),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=1, max_size=50).map(lambda b: b.replace(b"\x00", b"\n")), max_size=12),
    ops=_ops,
)
def test_same_answers_as_the_c_buffered_reader(pieces: list[bytes], ops: list[tuple[str, int]]) -> None:
    """Whatever the sends and the calls, the reader answers what io.BufferedReader answers over
    the same stream (readline with a limit, read of n, the end of the stream)."""
    expected = io.BufferedReader(io.BytesIO(b"".join(pieces)))
    server, client = socket.socketpair()
    with server, client:
        thread = _feed(client, pieces)
        reader = SocketReader(server)
        for op, n in ops:
            if op == "line":
                assert reader.readline(n) == expected.readline(n)
            else:
                assert reader.read(n) == expected.read(n)
        assert reader.read() == expected.read()
        thread.join()


def test_an_idle_reader_keeps_nothing_it_received(pair: tuple[socket.socket, socket.socket]) -> None:
    """A kept-alive connection between requests holds no copy of the last request (a client that
    sent 64 KiB would otherwise leave 64 KiB behind on every idle connection)."""
    server, client = pair
    client.sendall(b"x" * 60000 + b"\n")
    reader = SocketReader(server)
    assert len(reader.readline(70000)) == 60001
    assert not reader.has_data()
    assert reader._buf == b""  # the buffer itself is what is checked


def test_a_request_deadline_bounds_the_sum_of_receives(pair: tuple[socket.socket, socket.socket]) -> None:
    """Each receive is within the socket's 1 s timeout, but the line trickles in for 2 s: with a
    0.3 s deadline the reader gives up at the deadline, and the socket's own timeout is as before."""
    server, client = pair
    server.settimeout(1.0)
    stop = threading.Event()

    def trickle() -> None:
        for _ in range(20):
            if stop.wait(0.1):
                return
            with contextlib.suppress(OSError):
                client.sendall(b"a")

    thread = threading.Thread(target=trickle)
    thread.start()
    reader = SocketReader(server)
    reader.start_request(0.3)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            reader.readline(256)
        assert time.monotonic() - started < 0.9
        assert server.gettimeout() == 1.0
    finally:
        stop.set()
        thread.join()


def test_without_a_deadline_a_trickled_line_is_read_whole(pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    server.settimeout(1.0)
    thread = _feed(client, [b"a", b"b", b"c\n"])
    assert SocketReader(server).readline(256) == b"abc\n"
    thread.join()


@pytest.mark.parametrize("tls", [False, True])
def test_a_slow_reader_holds_a_write_for_the_timeout_in_all(tls: bool, tmp_path: Path) -> None:
    """A response is one write, and the socket's timeout bounds the whole of it, not each send: a
    client taking its answer a little at a time (1 KiB every 20 ms, 8 MiB would take minutes) is
    cut off at the timeout, over plain TCP (``sendall``'s deadline) and over TLS (one ``SSL_write``
    under the socket's deadline). So the write side of a slow client needs no deadline of its own."""
    from tests.serve.conftest import self_signed_cert

    server, client = socket.socketpair()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    peer: socket.socket = client
    if tls:
        cert, key = self_signed_cert(tmp_path)
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(cert, key)
        client_context = ssl.create_default_context(cafile=str(cert))
        client_context.check_hostname = False
        done: list[ssl.SSLSocket] = []
        handshake = threading.Thread(target=lambda: done.append(client_context.wrap_socket(client)))
        handshake.start()
        server = server_context.wrap_socket(server, server_side=True)
        handshake.join()
        peer = done[0]
    stop = threading.Event()

    def slow_reader() -> None:
        while not stop.is_set():
            try:
                if not peer.recv(1024):
                    return
            except OSError:
                return
            time.sleep(0.02)

    reader = threading.Thread(target=slow_reader)
    reader.start()
    server.settimeout(1.0)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError):
            SocketWriter(server).write(b"x" * (8 << 20))
        assert time.monotonic() - started < 3.0
    finally:
        stop.set()
        server.close()
        peer.close()
        reader.join()
