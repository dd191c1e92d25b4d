"""The connection's reader and writer, in place of cheroot's (docs/serve.md, "Reading requests").

cheroot builds its socket files (``cheroot.makefile``) on ``_pyio``, the pure-Python ``io`` module:
each ``readline`` of a request's line and headers runs a few dozen interpreter-level calls (a lock,
``peek``, a search, a copy), and a served Encrypt spent about a third of its interpreter time there.
:class:`SocketReader` keeps the received bytes in one ``bytes`` buffer and finds line ends with
``bytes.find``, which runs in C; :class:`SocketWriter` sends each write at once with ``sendall``,
as cheroot's writer does (it flushes on every write). The reader also keeps a deadline for the whole
of each request (:meth:`SocketReader.start_request`), which a socket's per-read timeout cannot.

They have the interface cheroot's ``HTTPConnection`` takes through its public ``makefile``
argument (``makefile(sock, mode, bufsize)``): ``read``, ``readline``, ``has_data``, ``close``,
``closed``, ``bytes_read`` and ``bytes_written``. Errors are the socket's own (a timeout is
``TimeoutError``, a reset ``ConnectionResetError``), which cheroot handles as it handles them from
its own files; over TLS, a client gone (``SSLEOFError`` on a write) is ``BrokenPipeError`` and a
broken TLS stream (any ``SSLError`` on a receive) ``ConnectionResetError``, as on a plain socket.
"""

from __future__ import annotations

import errno
import io
import socket
import time
from typing import Any

#: Bytes asked of the kernel per receive: one read holds an AWS SDK request's line, headers and a
#: typical body.
RECV_SIZE = 64 * 1024


class SocketReader:
    """Buffered reading of a socket: ``read(n)`` returns n bytes or fewer at the end of the stream,
    ``readline(limit)`` a line with its LF, or fewer bytes at ``limit`` or the end of the stream."""

    __slots__ = ("_buf", "_deadline", "_pos", "_sock", "bytes_read", "closed")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0
        self._deadline: float | None = None
        self.bytes_read = 0
        self.closed = False

    def start_request(self, seconds: float) -> None:
        """The next request (line, headers and body) must be received whole within ``seconds``
        from now: a receive after that raises ``TimeoutError``, and one before it waits no longer
        than what is left. The socket's own timeout still bounds each receive; this bounds their
        sum, so a client trickling a byte per timeout cannot hold a thread without end."""
        self._deadline = time.monotonic() + seconds

    def has_data(self) -> bool:
        """Whether bytes already received wait to be read (a pipelined request)."""
        return self._pos < len(self._buf)

    def _fill(self) -> bool:
        """Receive more; False at the end of the stream. Keeps unread bytes in front."""
        if self.closed:
            raise ValueError("read of closed file")
        data = self._recv()
        if not data:
            return False
        self._buf = self._buf[self._pos :] + data if self._pos < len(self._buf) else data
        self._pos = 0
        return True

    def _recv(self) -> bytes:
        sock, deadline = self._sock, self._deadline
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request was not received in time")
            per_read = sock.gettimeout()
            if per_read is None or left < per_read:
                sock.settimeout(left)
                try:
                    return self._recv_now()
                finally:
                    sock.settimeout(per_read)
        return self._recv_now()

    def _recv_now(self) -> bytes:
        try:
            return self._sock.recv(RECV_SIZE)
        except OSError as exc:
            if _tls_error(exc):  # a record that does not decrypt, an alert: nothing more can be read
                raise ConnectionResetError(errno.ECONNRESET, "the client broke the TLS stream") from None
            raise

    def _take(self, end: int) -> bytes:
        data = self._buf[self._pos : end]
        if end == len(self._buf):  # all read: an idle connection keeps no received bytes
            self._buf, self._pos = b"", 0
        else:
            self._pos = end
        self.bytes_read += len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """A line, or at most ``size`` bytes of it. Each receive copies the unread bytes kept in
        front, so a line without a limit costs the square of its length: kmscli reads every line
        with one (cheroot's header reader 256 bytes at a time, ``http11._ChunkSizeCheck`` the
        header limit)."""
        limit = -1 if size is None or size < 0 else size
        searched = self._pos
        while True:
            newline = self._buf.find(b"\n", searched)
            if newline >= 0:
                end = newline + 1
                break
            if limit >= 0 and len(self._buf) - self._pos >= limit:
                end = len(self._buf)
                break
            searched = len(self._buf) - self._pos  # offsets shift to 0 when _fill keeps the rest
            if not self._fill():
                end = len(self._buf)
                break
        if limit >= 0:
            end = min(end, self._pos + limit)
        return self._take(end)

    def read(self, size: int | None = -1) -> bytes:
        want = -1 if size is None or size < 0 else size
        if 0 <= want <= len(self._buf) - self._pos:
            return self._take(self._pos + want)
        parts = [self._take(len(self._buf))]  # what is buffered, then straight from the socket
        if want > 0:
            want -= len(parts[0])
        while want != 0:
            if self.closed:
                raise ValueError("read of closed file")
            data = self._recv()
            if not data:
                break
            if 0 <= want < len(data):  # the rest (a pipelined request) stays buffered
                self._buf, self._pos = data, want
                data = data[:want]
            self.bytes_read += len(data)
            parts.append(data)
            if want > 0:
                want -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def __iter__(self) -> SocketReader:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        self.closed = True
        self._buf = b""
        self._pos = 0


class SocketWriter:
    """Unbuffered writing of a socket: each write is sent whole before it returns."""

    __slots__ = ("_sock", "bytes_written", "closed")

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.bytes_written = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.closed:
            raise ValueError("write to closed file")
        if isinstance(data, str):
            raise TypeError("can't write str to binary stream")
        try:
            self._sock.sendall(data)
        except OSError as exc:
            if _tls_peer_gone(exc):
                raise BrokenPipeError(errno.EPIPE, "the client closed the TLS connection") from None
            raise
        self.bytes_written += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing is held: every write was sent."""

    def close(self) -> None:
        self.closed = True


def _tls_error(exc: OSError) -> bool:
    """Whether a socket's error is its TLS layer's (an ``ssl.SSLError``): on receiving, the client
    sent what is not a valid record of the session, and the connection is as good as reset. cheroot
    ignores ECONNRESET and logged an ``SSLError``, one stderr line per such client."""
    import ssl  # loaded already when TLS serves; never on the plain path

    return isinstance(exc, ssl.SSLError)


def _tls_peer_gone(exc: OSError) -> bool:
    """Whether a TLS socket's error says the client went away, as EPIPE or ECONNRESET says it of a
    plain socket: OpenSSL's "EOF occurred in violation of protocol" (a client that closed or reset
    without close_notify) or the client's close_notify itself. cheroot ignores EPIPE and logs
    anything else, so every TLS client that hung up mid-request added a line to the log."""
    import ssl  # loaded already when TLS serves; never on the plain path

    return isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError))


def makefile(sock: socket.socket, mode: str = "r", bufsize: int = io.DEFAULT_BUFFER_SIZE) -> Any:
    """cheroot's ``makefile`` signature: a reader for a mode with ``r``, else a writer."""
    del bufsize  # the reader receives RECV_SIZE at a time; the writer holds nothing
    return SocketReader(sock) if "r" in mode else SocketWriter(sock)
