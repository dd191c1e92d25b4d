"""How kmscli serve's HTTP layer uses its threads and its sends (kmscli/serve/http11.py), on a real
cheroot server in this process with a trivial application: a kept-alive connection whose next
request comes soon keeps its thread, never the last free one and never for more than a turn, and a
response leaves in one send."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from kmscli.serve import http11, sockfile

BODY = b'{"ok":true}'
REQUEST = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"


def _app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/empty":
        start_response("200 OK", [("Content-Length", "0")])
        return []
    if environ["PATH_INFO"] == "/chunked":  # no length: cheroot chunks the content
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1")])
        return [BODY, BODY]
    start_response(
        "200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(BODY)))]
    )
    return [BODY]


@contextmanager
def _serving(threads: int, connection_class: type[http11.StrictConnection] | None = None) -> Iterator[Any]:
    server = http11.Server(("127.0.0.1", 0), _app, numthreads=threads, timeout=30)
    if connection_class is not None:
        server.ConnectionClass = connection_class
    server.prepare()
    runner = threading.Thread(target=server.serve, daemon=True)
    runner.start()
    try:
        yield server
    finally:
        server.stop()
        runner.join(10)


def _connect(server: Any) -> socket.socket:
    return socket.create_connection(server.bind_addr, timeout=5)


def _response(sock: socket.socket) -> bytes:
    """One Content-Length response read off ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096) or pytest.fail(f"connection closed: {data!r}")
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(rest) < length:
        rest += sock.recv(4096) or pytest.fail("connection closed")
    assert head.startswith(b"HTTP/1.1 200 "), head
    return rest


def _count_put_conn(server: Any) -> list[object]:
    handed_back: list[object] = []
    put_conn = server.put_conn

    def counting(conn: object) -> None:
        handed_back.append(conn)
        put_conn(conn)

    server.put_conn = counting  # the pool's threads call it on the server object
    return handed_back


def test_a_busy_connection_keeps_its_thread_for_a_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http11, "LINGER_MS", 10_000)  # the next request always comes "soon"
    monkeypatch.setattr(http11, "TURN", 3)
    with _serving(threads=4) as server, _connect(server) as sock:
        handed_back = _count_put_conn(server)
        for _ in range(5):
            sock.sendall(REQUEST)
            assert _response(sock) == BODY
        # requests 1-3 ran on one thread, then the connection went back to the selector once, and
        # requests 4 and 5 ran on the next thread it was given; none waited for the selector between
        assert len(handed_back) == 1


def test_the_last_free_thread_is_never_kept_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http11, "LINGER_MS", 10_000)
    with _serving(threads=1) as server, _connect(server) as idle, _connect(server) as other:
        idle.sendall(REQUEST)
        assert _response(idle) == BODY
        # the idle connection sends nothing more; the pool's only thread must not wait for it
        other.sendall(REQUEST)
        assert _response(other) == BODY  # within the socket's 5 s, not the linger's 10 s


def test_another_connection_is_served_while_one_lingers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http11, "LINGER_MS", 10_000)
    with _serving(threads=2) as server, _connect(server) as idle, _connect(server) as other:
        idle.sendall(REQUEST)
        assert _response(idle) == BODY
        for _ in range(3):
            other.sendall(REQUEST)
            assert _response(other) == BODY
        idle.sendall(REQUEST)  # and the lingering thread still answers its own connection
        assert _response(idle) == BODY


def test_a_client_closing_while_its_thread_lingers_ends_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http11, "LINGER_MS", 10_000)
    with _serving(threads=2) as server:
        handed_back = _count_put_conn(server)
        with _connect(server) as sock:
            sock.sendall(REQUEST)
            assert _response(sock) == BODY
            port = sock.getsockname()[1]
        # the thread that lingered on the connection sees the close at once (not after its 10 s)
        deadline = time.monotonic() + 5
        while server.requests.idle < 2:
            assert time.monotonic() < deadline, "the lingering thread did not see the close"
            time.sleep(0.01)
        # and ended the connection instead of handing it back to the selector
        assert port not in [conn.remote_port for conn in handed_back]  # type: ignore[attr-defined]
        with _connect(server) as sock:  # the server still answers
            sock.sendall(REQUEST)
            assert _response(sock) == BODY


class _CountingConnection(http11.StrictConnection):
    """Records every write of a response to the socket."""

    writes: list[bytes] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        real, writes = self.wfile, self.writes

        class _Recorder:
            def write(self, data: bytes) -> None:
                writes.append(bytes(data))
                real.write(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

        self.wfile = _Recorder()


@pytest.mark.parametrize(
    ("method", "path", "content"),
    [("POST", "/", BODY), ("HEAD", "/", b""), ("POST", "/empty", b"")],
)
def test_a_response_is_one_send(method: str, path: str, content: bytes) -> None:
    _CountingConnection.writes = []
    with _serving(threads=2, connection_class=_CountingConnection) as server, _connect(server) as sock:
        sock.sendall(REQUEST.replace(b"POST / ", f"{method} {path} ".encode()))
        data = b""
        while not data.endswith(b"\r\n\r\n" + content):
            data += sock.recv(4096) or pytest.fail(f"connection closed: {data!r}")
    assert len(_CountingConnection.writes) == 1
    assert _CountingConnection.writes[0] == data
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_chunked_response_still_reads_back_whole() -> None:
    _CountingConnection.writes = []
    with _serving(threads=2, connection_class=_CountingConnection) as server:
        host, port = server.bind_addr
        client = http.client.HTTPConnection(host, port, timeout=5)
        client.request("POST", "/chunked", body=b"{}")
        response = client.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.read() == BODY + BODY
        client.close()
    assert _CountingConnection.writes[0].endswith(b"\r\n\r\n")  # the head, then the chunks


class _ReaderSpy(http11.StrictConnection):
    """Records the class of every connection's reader and writer."""

    files: list[tuple[type, type]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.files.append((type(self.rfile), type(self.wfile)))


def test_connections_read_and_write_with_kmscli_socket_files() -> None:
    """cheroot's makefile (pure-Python io) is replaced on every connection (kmscli/serve/sockfile.py),
    and pipelined requests on it are both answered."""
    _ReaderSpy.files = []
    with _serving(threads=2, connection_class=_ReaderSpy) as server, _connect(server) as sock:
        sock.sendall(REQUEST + REQUEST)
        data = b""
        while data.count(b"HTTP/1.1 200 OK") < 2 or not data.endswith(BODY):
            data += sock.recv(4096) or pytest.fail(f"connection closed: {data!r}")
    assert _ReaderSpy.files == [(sockfile.SocketReader, sockfile.SocketWriter)]
