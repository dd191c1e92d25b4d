"""The WSGI application: one AWS JSON 1.1 endpoint (``POST /``) in front of ``service.invoke``.

Per request: read the body (bounded), verify SigV4 (:mod:`kmscli.serve.sigv4`), resolve the
``X-Amz-Target``, decode the body (:mod:`kmscli.wire.json11`), run the operation as the access key's
principal in the credential scope's region, and answer JSON. Every answer, errors included, is JSON
and carries ``x-amzn-RequestId``; for an operation that ran it is the audit event's ``requestID``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from kmscli.errors import KmscliError, KMSError
from kmscli.serve import sigv4
from kmscli.service.pipeline.core import Identity, ServiceContext, invoke
from kmscli.wire import json11

#: Default bound on a request body: KMS's largest request (ImportKeyMaterial, Sign of 4 KiB, a
#: 32 KiB policy) base64-encoded fits easily.
DEFAULT_MAX_BODY = 256 * 1024
#: CloudTrail keeps at most this much of a User-Agent.
MAX_USER_AGENT = 1024

StartResponse = Callable[..., Any]


class BodyRefused(Exception):
    """A request body that cannot be read: the HTTP status, AWS error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _oversize_errors() -> tuple[type[Exception], ...]:
    """cheroot's own "body too large" exception, when cheroot is installed (it runs the app)."""
    try:
        from cheroot.errors import MaxSizeExceeded
    except ImportError:  # pragma: no cover - the serve extra brings cheroot
        return ()
    return (MaxSizeExceeded,)


def _log_line(line: str) -> None:
    """One line to stderr in one write: the workers share the stream, and print's two writes (text,
    then newline) let another worker's line land between them."""
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr gone (closed, a full disk): the answer still goes out
        pass


class ServeApp:
    """The endpoint. ``base`` is the unlocked service context (vault, audit log, clock, randomness)."""

    def __init__(
        self,
        base: ServiceContext,
        lookup: sigv4.Lookup,
        max_body: int = DEFAULT_MAX_BODY,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.base = base
        self.lookup = lookup
        self.max_body = max_body
        self.log = log or _log_line

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = self.base.new_uuid()
        try:
            status, body = self._handle(environ, request_id)
        except Exception as exc:  # a defect: a JSON 500, never a traceback to the client
            self.log(f"kmscli serve: internal error in request {request_id}: {type(exc).__name__}")
            status, body = 500, json11.error_body("KMSInternalException", "internal error")
        headers = [
            ("Content-Type", json11.CONTENT_TYPE),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", request_id),
        ]
        start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
        return [body]

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        """The request body, at most ``max_body`` bytes, or :class:`BodyRefused`.

        A chunked body (cheroot decodes the transfer coding and marks the stream
        ``wsgi.input_terminated``) is read to its end; it takes precedence over a Content-Length
        sent with it (RFC 9112, 6.3). A client that stops sending, or goes away, mid-body is
        answered 408 ``RequestTimeoutException`` (a code botocore retries), not a server fault.
        """
        stream = environ["wsgi.input"]
        oversize: tuple[type[Exception], ...] = (OSError, *_oversize_errors())
        chunked = bool(environ.get("wsgi.input_terminated"))
        if not chunked:
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                raise BodyRefused(400, "SerializationException", "invalid Content-Length") from None
            if length > self.max_body or length < 0:
                raise self._too_large()
        incomplete = BodyRefused(408, "RequestTimeoutException", "the request body was not received in full")
        try:
            if not chunked:
                body: bytes = stream.read(length) if length else b""
                if len(body) < length:  # the client closed the connection mid-body
                    raise incomplete
                return body
            body = stream.read(self.max_body + 1)
        except (TimeoutError, ConnectionError):
            raise incomplete from None
        except oversize:  # cheroot's refusal of a chunk beyond its own bound
            raise self._too_large() from None
        except ValueError:  # cheroot: a chunk size that is not hexadecimal, a chunk without CRLF
            raise BodyRefused(
                400, "SerializationException", "the chunked transfer coding of the body is malformed"
            ) from None
        if len(body) > self.max_body:
            raise self._too_large()
        return body

    def _too_large(self) -> BodyRefused:
        return BodyRefused(
            413, "RequestEntityTooLargeException", f"request body larger than {self.max_body} bytes"
        )

    def _handle(self, environ: dict[str, Any], request_id: str) -> tuple[int, bytes]:
        if environ.get("PATH_INFO", "") not in ("/", "") or environ.get("REQUEST_METHOD") != "POST":
            return 404, json11.error_body(
                "UnknownOperationException", "kmscli serve answers only POST / (AWS JSON 1.1)"
            )
        try:
            body = self._read_body(environ)
        except BodyRefused as exc:
            return exc.status, json11.error_body(exc.code, exc.message)
        now = self.base.clock()
        try:
            caller = sigv4.verify(
                "POST",
                environ.get("PATH_INFO") or "/",
                environ.get("QUERY_STRING", ""),
                _headers(environ),
                body,
                now,
                self.lookup,
            )
        except sigv4.AuthError as exc:
            return exc.status, json11.error_body(exc.code, exc.message)
        except KmscliError as exc:  # reading the access keys failed (the vault replaced, a damaged file)
            return self._failed(request_id, exc)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        op_name = target[len(json11.TARGET_PREFIX) :] if target.startswith(json11.TARGET_PREFIX) else ""
        if not _known(op_name):
            return 400, json11.error_body("UnknownOperationException", "")
        try:
            request = json11.decode_request(op_name, body)
        except json11.SerializationError as exc:
            return 400, json11.error_body("SerializationException", str(exc))
        identity = Identity(
            caller.principal,
            self.base.identity.account_id,
            caller.region,
            access_key_id=caller.access_key_id,
            source_ip=environ.get("REMOTE_ADDR") or None,
            user_agent=(environ.get("HTTP_USER_AGENT") or "")[:MAX_USER_AGENT] or None,
            secure_transport=environ.get("wsgi.url_scheme") == "https",
        )
        base = self.base
        ctx = ServiceContext(
            base.vault, identity, base.audit, base.clock, base.random, request_id, base.session
        )
        try:
            response = invoke(ctx, op_name, request)
        except KMSError as exc:
            return json11.error_status(exc.code), json11.error_body(exc.code, exc.message)
        except KmscliError as exc:  # the audit log or the vault failed: nothing was done or answered
            return self._failed(request_id, exc)
        return 200, json11.encode_response(response)

    def _failed(self, request_id: str, exc: KmscliError) -> tuple[int, bytes]:
        """A request the vault or its audit log could not serve: the reason goes to the operator's
        log, the client gets AWS's internal-failure shape (nothing about the server's files)."""
        self.log(f"kmscli serve: request {request_id} failed: {exc.message}")
        return 500, json11.error_body("KMSInternalException", "kmscli could not complete the request")


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    408: "Request Timeout",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


def _known(op_name: str) -> bool:
    from kmscli.model import model

    return bool(op_name) and op_name in model()["operations"]


def _headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The request's headers as (lower-case name, value): WSGI's HTTP_* keys turned back into names."""
    out = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            out.append((key[5:].replace("_", "-").lower(), value))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            out.append((key.replace("_", "-").lower(), value))
    return out
