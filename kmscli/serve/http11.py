"""HTTP/1.1 as kmscli serve speaks it beyond cheroot's defaults (docs/serve.md, "HTTP framing").

* Every answer cheroot writes by itself (a malformed request line, header block or Content-Length,
  headers too large, a client too slow, a transfer coding it does not know) is an AWS JSON error
  document with ``x-amzn-RequestId``, like the application's answers, never ``text/plain``. Its
  message is fixed per status: nothing of the request (a URI may hold a presigned signature) is
  echoed.
* Message framing is read strictly (RFC 9112, sections 5, 6 and 7), so that kmscli and a proxy in
  front of it cannot disagree on where a request ends: a header name is a token (no space before
  the colon) and no header is folded over lines; a ``Content-Length`` is ASCII digits only,
  and when it is repeated every copy must say the same; a chunk size is hexadecimal digits only;
  a request with both ``Transfer-Encoding`` and ``Content-Length`` is answered, then the connection
  is closed; an HTTP/1.0 request with ``Transfer-Encoding``, or one that names ``chunked`` twice or no
  coding, is refused; a chunked body's trailer lines are read (and dropped) so the next request on the
  connection starts where it should.
* An error answered before the request body was read to its end (a refused or malformed body, a
  body cut short, a wrong path) closes the connection instead of guessing where the next request
  starts, or waiting out a stalled client to drain its body.
* A response to HEAD has headers only (RFC 9110, 9.3.2), so the next response on the connection
  starts where the client expects it.
* cheroot's error log (:meth:`Server.error_log`) writes one line without a traceback, and nothing
  for what a client did wrong (a failed TLS handshake, plain HTTP on a TLS port): unauthenticated
  clients cannot grow the server's stderr, just as they cannot grow the audit log.
* A request that declares a body over the application's limit is not invited to send it
  (no ``100 Continue``: :class:`StrictHeaderReader`, :meth:`Server.limit_body`).
* A TLS handshake runs on the thread serving the connection, within its first request's deadline,
  not in cheroot's accepting thread (:class:`TLSAdapter`, :func:`handshake`); plain HTTP sent to the
  TLS port is answered in AWS JSON.
* A response's status line and headers leave with its content in one send, and a kept-alive
  connection whose next request arrives soon is served again by the same thread instead of a trip
  through cheroot's selector (:class:`StrictConnection`): fewer system calls and thread switches
  per request, which is what a busy server spends its interpreter time on.

Only cheroot's public extension points are used: ``HTTPServer.ConnectionClass``, ``error_log``
(overridden by :class:`Server`, as cheroot's documentation invites) and ``ssl_adapter`` (an
``Adapter`` whose ``wrap`` is overridden), ``HTTPConnection.RequestHandlerClass``,
``communicate`` and its ``makefile`` argument (:mod:`kmscli.serve.sockfile`),
``HTTPRequest.header_reader`` and the request methods ``simple_response``, ``read_request_headers``,
``send_headers``, ``respond`` and ``write``; and, read only, the thread pool's ``qsize`` and
``idle``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
import socket
import ssl
import sys
import time
import uuid
from typing import Any

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from kmscli.serve import sockfile
from kmscli.wire import json11

_DIGITS = re.compile(rb"[0-9]+")
#: RFC 9110, 5.6.2: a header name
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: chunk-size [ chunk-ext ] CRLF, chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )
_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r\n")
#: How long a pool thread waits for a kept-alive connection's next request before handing the
#: connection back to cheroot's selector (:class:`StrictConnection`)
LINGER_MS = 20
#: At most this many requests of one connection in a row on one thread
TURN = 64
_CONTENT_LENGTH = b"Content-Length"
_TRANSFER_ENCODING = b"Transfer-Encoding"
_EXPECT = b"Expect"
#: What a client speaking plain HTTP to the TLS port is told (:class:`TLSAdapter`).
PLAIN_HTTP_MESSAGE = "this port speaks HTTPS only: the request was sent as plain HTTP (use https://)"
#: How much of such a request is read (and dropped) before answering it.
MAX_PLAIN_REQUEST = 64 * 1024
#: After an answer that left its request's body unread, how long (at most, and never beyond
#: ``--timeout``) the connection reads and drops what the client still sends before closing
#: (:func:`half_close_and_drain`), and how many bytes at most.
DRAIN_SECONDS = 2.0
DRAIN_BYTES = 64 * 1024 * 1024

#: What cheroot's own answers become: status -> (AWS error code, message).
_ANSWERS = {
    400: ("SerializationException", "the HTTP request is malformed"),
    405: ("UnknownOperationException", "kmscli serve answers only POST / (AWS JSON 1.1)"),
    408: ("RequestTimeoutException", "the request was not received in time"),
    413: ("RequestEntityTooLargeException", "the request is larger than kmscli serve accepts"),
    414: ("RequestEntityTooLargeException", "the request line is longer than kmscli serve accepts"),
    500: ("KMSInternalException", "internal error"),
    501: ("SerializationException", "the request's transfer coding is not supported (only chunked)"),
    503: ("ServiceUnavailableException", "kmscli serve is overloaded; retry"),
    505: ("SerializationException", "the HTTP version is not supported (HTTP/1.0 and HTTP/1.1 are)"),
}


def answer_for(status: int) -> tuple[str, str]:
    """The AWS error code and message kmscli sends for a status cheroot answers by itself."""
    if status in _ANSWERS:
        return _ANSWERS[status]
    return _ANSWERS[500] if status >= 500 else _ANSWERS[400]


def error_response(protocol: str, status: str, message: str | None = None) -> bytes:
    """A whole response to a request cheroot refused: ``status`` (``"400 Bad Request"``) and its
    AWS JSON error (:func:`answer_for`, or ``message``), with ``Connection: close``."""
    code_number = int(status[:3]) if status[:3].isdigit() else 500
    code, fixed = answer_for(code_number)
    body = json11.error_body(code, message or fixed)
    head = (
        f"{protocol} {status}\r\n"
        f"Content-Type: {json11.CONTENT_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amzn-RequestId: {uuid.uuid4()}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _FramingHeaders(dict[bytes, bytes]):
    """The header dict cheroot's reader fills: a second ``Content-Length`` that differs from the
    first is refused here (cheroot would keep the last one)."""

    def __setitem__(self, name: bytes, value: bytes) -> None:
        if name == _CONTENT_LENGTH and name in self and self[name] != value:
            raise ValueError("Content-Length given twice with different values")
        super().__setitem__(name, value)


class _HeaderLines:
    """The header block as cheroot's reader reads it, line by line, refusing what RFC 9112, 5
    refuses and cheroot took: a name that is not a token (``Content-Length : 5``, which cheroot
    stripped into a Content-Length a proxy would not see) and obsolete line folding (which cheroot
    joined into the previous header)."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def readline(self, size: int | None = None) -> bytes:
        line: bytes = self.raw.readline() if size is None else self.raw.readline(size)
        if line[:1] in (b" ", b"\t"):
            raise ValueError("Obsolete line folding.")
        name, colon, _ = line.partition(b":")
        if colon and not _TOKEN.fullmatch(name):
            raise ValueError("Illegal header name.")
        return line


class StrictHeaderReader(cheroot_server.HeaderReader):
    """cheroot's header reader, then the framing headers checked as RFC 9112 reads them.

    ``body_limit``: the largest body the application accepts. A request that declares more is
    answered 413 without being invited to send its body: its ``Expect: 100-continue`` is dropped
    here, before cheroot would answer ``100 Continue`` (RFC 9110, 10.1.1)."""

    def __init__(self, body_limit: int = 0) -> None:
        self.body_limit = body_limit

    def __call__(self, rfile: Any, hdict: dict[bytes, bytes] | None = None) -> dict[bytes, bytes]:
        read = _FramingHeaders()
        super().__call__(_HeaderLines(rfile), read)
        length = read.get(_CONTENT_LENGTH)
        if length is not None and not _DIGITS.fullmatch(length):
            raise ValueError("Malformed Content-Length Header.")
        coding = read.get(_TRANSFER_ENCODING)
        if coding is not None:
            codings = [c.strip().lower() for c in coding.split(b",")]
            if codings != [b"chunked"] and set(codings) <= {b"chunked", b""}:
                # empty, or chunked twice (RFC 9112, 7: never more than once); other codings: 501
                raise ValueError("Malformed Transfer-Encoding Header.")
        elif self.body_limit and length is not None and int(length) > self.body_limit:
            read.pop(_EXPECT, None)
        if hdict is None:
            return dict(read)
        hdict.update(read)
        return hdict


class _ChunkSizeCheck:
    """The connection's input as cheroot's chunked-body reader sees it: each chunk-size line must
    be hexadecimal digits (cheroot's ``int(size, 16)`` also takes ``-2``, ``+2``, ``0x2``, ``0_2``);
    after the last chunk, lines are trailers and pass unchecked.

    cheroot reads these lines without a limit: a chunk-size line that never ended was buffered whole,
    as long as the client kept sending. Each is read here up to ``limit`` bytes (the server's header
    limit), and one that has not ended by then is refused: a size line for not matching, a trailer
    by cheroot for its missing CRLF."""

    __slots__ = ("limit", "raw", "sizes")

    def __init__(self, raw: Any, limit: int = -1) -> None:
        self.raw = raw
        self.limit = limit
        self.sizes = True

    def readline(self, size: int | None = None) -> bytes:
        line: bytes = self.raw.readline(self.limit if size is None else size)
        if self.sizes:
            match = _CHUNK_SIZE_LINE.fullmatch(line)
            if match is None:
                raise ValueError("Bad chunked transfer size")
            if int(match.group(1), 16) == 0:
                self.sizes = False
        return line

    def read(self, size: int | None = None) -> bytes:
        data: bytes = self.raw.read() if size is None else self.raw.read(size)
        return data


class _Held:
    """Stands in for a connection's writer while cheroot writes a response's headers."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data


class StrictRequest(cheroot_server.HTTPRequest):
    """One request: strict framing, JSON for cheroot's own answers (module docstring)."""

    header_reader = StrictHeaderReader()
    _held_head = b""

    def __init__(self, server: Any, conn: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, conn, *args, **kwargs)
        self.header_reader = getattr(server, "request_header_reader", StrictRequest.header_reader)

    def simple_response(self, status: Any, msg: Any = "") -> None:
        """cheroot's own answer, as an AWS JSON error; the connection closes after it."""
        self.close_connection = True
        self.conn.unread_body = True  # cheroot answers before reading the body, or part-way through
        try:
            self.conn.wfile.write(error_response(self.server.protocol, str(status)))
        except OSError as exc:
            if exc.args[0] not in cheroot_errors.socket_errors_to_ignore:
                raise

    def read_request_headers(self) -> bool:
        ok: bool = super().read_request_headers()
        if not ok or _TRANSFER_ENCODING not in self.inheaders:
            return ok
        if self.response_protocol != "HTTP/1.1":
            # RFC 9112, 6.1: in HTTP/1.0 the framing is faulty; cheroot ignored the coding and
            # would have read the chunks as the next request
            self.simple_response("400 Bad Request")
            return False
        if _CONTENT_LENGTH in self.inheaders:
            self.close_connection = True  # RFC 9112, 6.1: answer, then close
        return ok

    def send_headers(self) -> None:
        """Build the status line and headers as cheroot does, but hold them for :meth:`write`, so a
        response goes out in one send (one TCP segment, one wake-up of the client) instead of two."""
        if int(self.status[:3]) >= 400 and not self._body_read():
            self.close_connection = True  # no guessing where the next request starts
            self.conn.unread_body = True
        wfile = self.conn.wfile
        self.conn.wfile = held = _Held()
        try:
            super().send_headers()
        finally:
            self.conn.wfile = wfile
        self._held_head = held.data

    def write(self, chunk: bytes) -> None:
        """The response's content, after its held headers, except to HEAD (RFC 9110, 9.3.2): cheroot
        sent it, and a client reading its next response on the connection would start inside this
        one's JSON."""
        if self.method == b"HEAD" or not chunk:
            return
        if self._held_head and not self.chunked_write:
            chunk, self._held_head = self._held_head + chunk, b""
        else:
            self._send_held_head()
        super().write(chunk)

    def _send_held_head(self) -> None:
        head, self._held_head = self._held_head, b""
        if head:
            self.conn.wfile.write(head)

    def _body_read(self) -> bool:
        if self.chunked_read:
            return bool(getattr(self.rfile, "closed", False))
        return not getattr(self.rfile, "remaining", 0)

    def respond(self) -> None:
        try:
            self._respond()
        finally:
            self._send_held_head()  # a response without content (HEAD, or an empty body)

    def _respond(self) -> None:
        if not self.chunked_read:
            super().respond()
            return
        raw = self.conn.rfile
        self.conn.rfile = _ChunkSizeCheck(raw, self.server.max_request_header_size or -1)
        try:
            super().respond()
        finally:
            self.conn.rfile = raw
        if self.close_connection:
            return
        try:
            for _ in self.rfile.read_trailer_lines():
                pass
        except (ValueError, OSError, cheroot_errors.MaxSizeExceeded):
            self.close_connection = True


class StrictConnection(cheroot_server.HTTPConnection):
    """A connection whose requests are :class:`StrictRequest`, served back to back while busy.

    cheroot hands a kept-alive connection back to its selector thread after every request, and the
    selector hands it to a pool thread again when the next request arrives: two thread switches and
    a queue round trip per request, under one interpreter lock. A client that sends its next
    request within :data:`LINGER_MS` is served by the same thread instead, but only while no other
    connection waits for a thread and another thread of the pool is idle, and for at most
    :data:`TURN` requests in a row: a connection never keeps the last free thread from the others.
    Waiting is a ``poll`` of the socket, which costs no interpreter time.
    """

    RequestHandlerClass = StrictRequest
    #: Set when an answer left before its request's body was read in full (:meth:`close`).
    unread_body = False

    def __init__(self, server: Any, sock: Any, makefile: Any = None) -> None:
        # cheroot passes its own makefile (or the TLS adapter's, the same classes): both are built
        # on the pure-Python io module; kmscli's read and write the (TLS or plain) socket directly
        del makefile
        super().__init__(server, sock, sockfile.makefile)
        #: A TLS connection's handshake, left by :class:`TLSAdapter` to the first request's thread
        self._handshake_due = isinstance(sock, ssl.SSLSocket)

    def communicate(self) -> bool:
        for _ in range(TURN):
            # the request now arriving must be whole within --timeout: a per-read timeout alone
            # let a client trickling a byte per read hold this thread without end
            self.rfile.start_request(self.server.timeout)
            if self._handshake_due:
                self._handshake_due = False
                if not handshake(self.socket, self.server.timeout):
                    return False  # cheroot closes the connection
            if not super().communicate():
                return False
            if not self._next_request_soon():
                return True
        return True

    def close(self) -> None:
        """Close the connection; after an answer that left its request's body unread, only once
        the client has stopped sending it (or :data:`DRAIN_SECONDS` have passed).

        Closing a socket whose received bytes were not read makes the kernel reset the connection,
        and a reset can reach the client before it has read the answer: a client still sending a
        body over the limit saw "connection reset" instead of the 413, and an SDK retried the
        request. The answer is followed by a FIN (``shutdown`` for writing), then what the client
        still sends is read and dropped, as Apache's "lingering close" does."""
        if self.unread_body:
            self.unread_body = False
            half_close_and_drain(self.socket, min(DRAIN_SECONDS, float(self.server.timeout)), DRAIN_BYTES)
        super().close()

    def _next_request_soon(self) -> bool:
        """Whether the next request arrives within LINGER_MS while no other connection waits."""
        if self.rfile.has_data():
            return True
        pending = getattr(self.socket, "pending", None)
        if pending is not None and pending():
            return True
        server = self.server
        pool = server.requests
        if not server.ready or pool.qsize or not pool.idle:
            return False  # stopping, or another connection waits or could soon: back to the selector
        if not hasattr(select, "poll"):  # not on Windows: cheroot's selector does the waiting
            return False
        poller = select.poll()
        poller.register(self.socket.fileno(), select.POLLIN)
        return bool(poller.poll(LINGER_MS))


class Server(wsgi.Server):
    """cheroot's WSGI server with :class:`StrictConnection` and a quiet error log."""

    ConnectionClass = StrictConnection
    request_header_reader = StrictHeaderReader()

    def limit_body(self, limit: int) -> None:
        """Bodies over ``limit`` bytes (the application's own limit, which answers them 413) are
        not invited (:class:`StrictHeaderReader`), and cheroot reads none beyond four times it."""
        self.request_header_reader = StrictHeaderReader(limit)
        self.max_request_body_size = 4 * limit

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        """cheroot's log of what went wrong below the application.

        cheroot reports each client's failed TLS handshake, or plain HTTP sent to a TLS port, at
        INFO: dropped, or any client could fill a log (or block the server on a stderr pipe nobody
        reads). A warning or an error is one line: the kind of failure, as cheroot's message starts
        with it (``socket.error 104``, ``ValueError``), never the rest (an exception's arguments may
        hold request bytes) nor a traceback.
        """
        if level < logging.WARNING:
            return
        kind = msg.partition("(")[0].strip()[:80] or "unknown"
        level_name = logging.getLevelName(level).lower()
        print(f"kmscli serve: HTTP layer {level_name}: {kind}", file=sys.stderr, flush=True)


class TLSAdapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter, with the handshake moved off the thread that accepts connections.

    cheroot calls ``wrap`` in its accepting thread, and cheroot's own ``wrap`` (and kmscli's
    earlier one) read the client's first bytes and ran the handshake there: a client that connected
    and sent nothing stopped every new connection to that worker for ``--timeout``, and one that
    trickled its handshake stopped them for as long as it liked. Here ``wrap`` only sets the TLS
    layer on the socket, without reading; the handshake runs on the pool thread that serves the
    connection's first request, within that request's deadline (:meth:`StrictConnection.communicate`,
    :func:`handshake`). The WSGI environment gets ``HTTPS`` and ``wsgi.url_scheme``, which is what
    kmscli reads (``aws:SecureTransport``); cheroot's ``SSL_*`` entries, which need the finished
    handshake, are not set."""

    def wrap(self, sock: Any) -> Any:
        try:
            tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        except OSError as exc:  # the client went away already
            raise cheroot_errors.FatalSSLAlert(*exc.args) from exc
        return tls, {"wsgi.url_scheme": "https", "HTTPS": "on"}


def handshake(tls: ssl.SSLSocket, seconds: float) -> bool:
    """Finish the TLS handshake of a connection :class:`TLSAdapter` wrapped, within ``seconds`` in
    all (an ``SSLSocket``'s timeout bounds a whole ``do_handshake``). Whether the connection can be
    served: a client speaking plain HTTP gets an AWS JSON error (``400 SerializationException``)
    rather than a reset or cheroot's ``text/plain`` answer, and a failed, slow or abandoned handshake
    ends the connection without a log line (any client could grow the log otherwise). The first byte
    is peeked on the plain socket first: a TLS connection starts with a record type byte (22, a
    handshake), an HTTP request with its method's first letter."""
    per_read = tls.gettimeout()
    try:
        tls.settimeout(seconds)
        first = socket.socket.recv(tls, 1, socket.MSG_PEEK)  # the TCP bytes, before any TLS
        if first.isalpha():
            _answer_plain_http(tls, seconds)
            return False
        tls.do_handshake()
    except OSError:  # ssl.SSLError included: a failed handshake, a timeout, a client gone
        return False
    finally:
        with contextlib.suppress(OSError):
            tls.settimeout(per_read)
    return True


def half_close_and_drain(sock: socket.socket, seconds: float, limit: int) -> None:
    """Half-close ``sock`` for writing (the answer sent, then a FIN), then read and drop what the
    peer still sends, until it closes its side, ``seconds`` have passed or ``limit`` bytes were
    read (:meth:`StrictConnection.close`). Under TLS the bytes are read as TCP bytes: the answer is
    out, and nothing read here is looked at."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:  # the client is gone already
        return
    deadline = time.monotonic() + seconds
    try:
        while limit > 0 and (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            data = socket.socket.recv(sock, min(limit, 65536))
            if not data:
                return
            limit -= len(data)
    except OSError:  # a timeout, or a reset: either way the answer was sent first
        pass


def _answer_plain_http(tls: ssl.SSLSocket, seconds: float) -> None:
    """Answer plain HTTP sent to the TLS port, then close as after any answer that left a request
    unread (:func:`half_close_and_drain`): a request larger than what is read here first would
    otherwise have the connection reset under the answer."""
    raw = socket.socket
    try:
        raw.recv(tls, MAX_PLAIN_REQUEST)
        raw.sendall(tls, error_response("HTTP/1.1", "400 Bad Request", PLAIN_HTTP_MESSAGE))
    except OSError:
        return
    half_close_and_drain(tls, min(DRAIN_SECONDS, seconds), DRAIN_BYTES)
