"""The WSGI app in-process: faults become JSON 500s, request ids match events, the clock is injected."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from kmscli.serve import app as app_module
from kmscli.serve.app import ServeApp
from kmscli.serve.sigv4 import Secret

KEY_ID, SECRET = "AKIAEXAMPLEEXAMPLE22", "s" * 40


def _environ(service: Any, target: str, body: bytes = b"{}") -> dict[str, Any]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url="http://127.0.0.1:8080/", data=body)
    request.headers["X-Amz-Target"] = target
    amz = service.clock().strftime("%Y%m%dT%H%M%SZ")
    request.headers["X-Amz-Date"] = amz
    request.context["timestamp"] = amz
    auth = SigV4Auth(Credentials(KEY_ID, SECRET), "kms", "us-east-1")
    sig = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-amz-json-1.1",
        "wsgi.input": io.BytesIO(body),
        "REMOTE_ADDR": "192.0.2.7",
        "HTTP_HOST": "127.0.0.1:8080",
        "HTTP_USER_AGENT": "test-agent/1.0",
        "HTTP_X_AMZ_TARGET": target,
        "HTTP_X_AMZ_DATE": amz,
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, "
        f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))}, Signature={sig}",
    }
    return environ


def _call(app: ServeApp, environ: dict[str, Any]) -> tuple[str, dict[str, str], Any]:
    got: list[Any] = []
    body = b"".join(app(environ, lambda status, headers: got.extend([status, dict(headers)])))
    return got[0], got[1], json.loads(body)


@pytest.fixture
def app(service: Any) -> ServeApp:
    def lookup(key_id: str) -> Secret | None:
        return Secret("arn:aws:iam::111122223333:user/alice", SECRET.encode()) if key_id == KEY_ID else None

    return ServeApp(service, lookup, log=lambda line: None)


def test_request_id_is_the_events_and_the_caller_is_recorded(app: ServeApp, service: Any, vault: Any) -> None:
    status, headers, doc = _call(
        app, _environ(service, "TrentService.GenerateRandom", b'{"NumberOfBytes": 8}')
    )
    assert status == "200 OK" and len(doc["Plaintext"]) == 12
    lines = (vault / "audit" / "audit-000001.jsonl").read_text().splitlines()
    event = json.loads(lines[-1])
    assert event["requestID"] == headers["x-amzn-RequestId"]
    assert event["sourceIPAddress"] == "192.0.2.7" and event["userAgent"] == "test-agent/1.0"
    assert event["userIdentity"]["accessKeyId"] == KEY_ID
    assert event["userIdentity"]["type"] == "IAMUser"


def test_a_defect_is_a_json_500(app: ServeApp, service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: Any, name: str, request: Any) -> Any:
        raise RuntimeError("boom with a secret value")

    monkeypatch.setattr(app_module, "invoke", broken)
    status, headers, doc = _call(app, _environ(service, "TrentService.ListKeys"))
    assert status.startswith("500") and doc == {"__type": "KMSInternalException", "message": "internal error"}
    assert headers["Content-Type"] == "application/x-amz-json-1.1"


def test_an_audit_failure_is_a_json_500(app: ServeApp, service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from kmscli.audit.log import AuditWriteError

    def failing(event: Any) -> Any:
        raise AuditWriteError("disk full")

    monkeypatch.setattr(service.audit, "append", failing)
    status, _, doc = _call(app, _environ(service, "TrentService.GenerateRandom", b'{"NumberOfBytes": 8}'))
    assert status.startswith("500") and doc["__type"] == "KMSInternalException"
    assert "Plaintext" not in doc


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (b'{"Limit":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "SerializationException", "not valid JSON"),
        (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "SerializationException", "not valid JSON"),
        (b'{"Limit": 1, "Limit": 2}', "SerializationException", "'Limit' appears twice"),
        (b'{"Limit": "1"}', "SerializationException", "STRING_VALUE can not be converted to an Integer"),
        # not JSON (RFC 8259), though Python's parser takes them: refused even in a member never read
        (b'{"Unknown": NaN, "Limit": 1}', "SerializationException", "not valid JSON"),
        (b'{"Limit": -Infinity}', "SerializationException", "not valid JSON"),
    ],
)
def test_hostile_json_is_a_client_error_not_a_fault(
    app: ServeApp, service: Any, vault: Any, body: bytes, code: str, message: str
) -> None:
    status, _, doc = _call(app, _environ(service, "TrentService.ListKeys", body))
    assert status.startswith("400") and doc["__type"] == code and message in doc["message"], doc


def test_an_unknown_member_is_ignored_and_never_reaches_the_service_or_the_audit_log(
    app: ServeApp, service: Any, vault: Any
) -> None:
    status, _, doc = _call(app, _environ(service, "TrentService.ListKeys", b'{"Tags\\udc80": 1, "Limit": 1}'))
    assert status.startswith("200") and "Keys" in doc
    line = (vault / "audit" / "audit-000001.jsonl").read_text().splitlines()[-1]
    event = json.loads(line)
    assert event["eventName"] == "ListKeys" and "errorCode" not in event
    assert "Tags" not in line and "udc80" not in line


def test_the_server_answers_after_a_type_error(app: ServeApp, service: Any) -> None:
    status, _, doc = _call(app, _environ(service, "TrentService.GenerateRandom", b'{"NumberOfBytes": "8"}'))
    assert status.startswith("400") and doc == {
        "__type": "SerializationException",
        "message": "STRING_VALUE can not be converted to an Integer",
    }
    status, _, doc = _call(app, _environ(service, "TrentService.GenerateRandom", b'{"NumberOfBytes": 8}'))
    assert status.startswith("200") and doc["Plaintext"]


class _Stream:
    """A wsgi.input that hands out ``data`` then raises ``fault`` (a stalled or broken client)."""

    def __init__(self, data: bytes, fault: BaseException | None = None) -> None:
        self.data = data
        self.fault = fault

    def read(self, size: int = -1) -> bytes:
        if self.fault is not None:
            raise self.fault
        out, self.data = self.data[:size], self.data[size:]
        return out


def _chunked(environ: dict[str, Any], stream: Any) -> dict[str, Any]:
    """``environ`` as cheroot builds it for ``Transfer-Encoding: chunked``: no Content-Length (or
    one to ignore), the decoded body on a stream that ends, ``wsgi.input_terminated`` set."""
    environ["wsgi.input"] = stream
    environ["wsgi.input_terminated"] = True
    return environ


def test_a_chunked_body_is_read_to_its_end(app: ServeApp, service: Any) -> None:
    body = b'{"NumberOfBytes": 8}'
    environ = _chunked(_environ(service, "TrentService.GenerateRandom", body), _Stream(body))
    del environ["CONTENT_LENGTH"]
    status, _, doc = _call(app, environ)
    assert status == "200 OK" and len(doc["Plaintext"]) == 12
    # a Content-Length sent with chunked coding is ignored (RFC 9112, 6.3), not a cut-off point
    environ = _chunked(_environ(service, "TrentService.GenerateRandom", body), _Stream(body))
    environ["CONTENT_LENGTH"] = "2"
    assert _call(app, environ)[0] == "200 OK"


def test_a_chunked_body_over_the_limit_is_refused(service: Any) -> None:
    small = ServeApp(service, lambda key_id: None, max_body=16, log=lambda line: None)
    body = b'{"NumberOfBytes": 8}'
    environ = _chunked(_environ(service, "TrentService.GenerateRandom", body), _Stream(body))
    del environ["CONTENT_LENGTH"]
    status, _, doc = _call(small, environ)
    assert status.startswith("413") and doc["__type"] == "RequestEntityTooLargeException"


@pytest.mark.parametrize(
    ("fault", "status", "code", "codings"),
    [
        (TimeoutError("timed out"), "408 Request Timeout", "RequestTimeoutException", (False, True)),
        (ConnectionResetError(104, "reset"), "408 Request Timeout", "RequestTimeoutException", (False, True)),
        # what cheroot raises decoding a chunked body: a chunk over its bound, broken framing
        (
            OSError("Request Entity Too Large"),
            "413 Payload Too Large",
            "RequestEntityTooLargeException",
            (True,),
        ),
        (
            ValueError("Bad chunked transfer size: b'zz'"),
            "400 Bad Request",
            "SerializationException",
            (True,),
        ),
    ],
)
def test_a_body_that_cannot_be_read_is_the_clients_error(
    service: Any, fault: BaseException, status: str, code: str, codings: tuple[bool, ...]
) -> None:
    logged: list[str] = []
    app = ServeApp(service, lambda key_id: None, log=logged.append)
    for chunked in codings:
        environ = _environ(service, "TrentService.ListKeys")
        environ["wsgi.input"] = _Stream(b"", fault)
        if chunked:
            _chunked(environ, environ["wsgi.input"])
        got, headers, doc = _call(app, environ)
        assert (got, doc["__type"]) == (status, code), doc
        assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert logged == []  # not a server fault: nothing to report


def test_a_body_cut_short_by_a_disconnect_is_a_408(app: ServeApp, service: Any) -> None:
    environ = _environ(service, "TrentService.ListKeys", b'{"Limit": 1}')
    environ["wsgi.input"] = _Stream(b'{"Limi')  # cheroot returns what came before the EOF
    status, _, doc = _call(app, environ)
    assert (status, doc["__type"]) == ("408 Request Timeout", "RequestTimeoutException")


def test_cheroots_own_oversize_refusal_is_a_413(service: Any) -> None:
    from cheroot.errors import MaxSizeExceeded

    app = ServeApp(service, lambda key_id: None, log=lambda line: None)
    environ = _chunked(_environ(service, "TrentService.ListKeys"), _Stream(b"", MaxSizeExceeded()))
    status, _, doc = _call(app, environ)
    assert status.startswith("413") and doc["__type"] == "RequestEntityTooLargeException"


class _Stderr:
    """A stderr that records each write, or refuses them all as a full disk does."""

    def __init__(self, full: bool = False) -> None:
        self.writes: list[str] = []
        self.full = full

    def write(self, text: str) -> int:
        if self.full:
            raise OSError(28, "No space left on device")
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        if self.full:
            raise OSError(28, "No space left on device")


@pytest.mark.parametrize("full", [False, True])
def test_the_default_log_writes_whole_lines_and_a_full_stderr_still_answers(
    service: Any, monkeypatch: pytest.MonkeyPatch, full: bool
) -> None:
    """Workers share stderr: a line goes out in one write, so another worker's line cannot land
    inside it (print wrote the text and the newline apart). And a stderr on a full disk used to
    turn every logged failure into an exception out of the app, so the client got no answer."""
    import sys

    from kmscli.errors import VaultEnvironmentError

    def failing(ctx: Any, name: str, request: Any) -> Any:
        raise VaultEnvironmentError("cannot use the vault (No space left on device)")

    stderr = _Stderr(full)
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(app_module, "invoke", failing)
    app = ServeApp(service, lambda key_id: Secret("arn:aws:iam::111122223333:root", SECRET.encode()))
    status, _, doc = _call(app, _environ(service, "TrentService.ListKeys"))
    assert status.startswith("500") and doc["__type"] == "KMSInternalException"
    if not full:
        assert len(stderr.writes) == 1 and stderr.writes[0].endswith("No space left on device)\n")


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/octet-stream",
        "application/x-amz-json-1.0",
        "application/x-www-form-urlencoded",
    ],
)
def test_a_request_that_is_not_json_1_1_is_not_routed(
    app: ServeApp, service: Any, content_type: str | None
) -> None:
    """AWS's JSON front ends route on the Content-Type: Kinesis answered `application/octet-stream`
    with UnknownOperationException, DynamoDB (JSON 1.0) answered a JSON 1.1 type with a 404 page
    (smithy4s issue 167, rusoto issue 215). Before: kmscli ran any body whatever its type."""
    environ = _environ(service, "TrentService.ListKeys")
    environ.pop("CONTENT_TYPE")
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    status, _, doc = _call(app, environ)
    assert status.startswith("404 ")
    assert doc["__type"] == "UnknownOperationException"
    assert "application/x-amz-json-1.1" in doc["message"]


@pytest.mark.parametrize(
    "content_type",
    ["application/x-amz-json-1.1", "Application/X-Amz-Json-1.1", "application/json; charset=utf-8"],
)
def test_json_1_1_and_plain_json_are_served(app: ServeApp, service: Any, content_type: str) -> None:
    """What botocore and the other SDKs send, and application/json, which AWS's JSON front ends
    take too (a DynamoDB client was fixed by sending it: amazon-cognito-identity-dart issue 41)."""
    environ = _environ(service, "TrentService.ListKeys")
    environ["CONTENT_TYPE"] = content_type
    status, _, doc = _call(app, environ)
    assert status.startswith("200 "), doc
    assert "Keys" in doc


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        (OSError(24, "Too many open files", "/vault/secret-name"), "OSError (Too many open files)"),
        (RuntimeError("boom with a secret value"), "RuntimeError"),
    ],
)
def test_a_defects_log_line_names_a_system_cause(
    service: Any, monkeypatch: pytest.MonkeyPatch, fault: Exception, named: str
) -> None:
    """An import that failed for lack of descriptors was logged as a bare `ImportError`: the line
    now names the system's reason, never the exception's text (a path, request data)."""
    lines: list[str] = []
    app = ServeApp(
        service,
        lambda key_id: Secret("arn:aws:iam::111122223333:user/alice", SECRET.encode()),
        log=lines.append,
    )

    def broken(ctx: Any, name: str, request: Any) -> Any:
        try:
            raise fault
        except OSError as exc:
            raise ImportError("cannot import name 'x'") from exc

    monkeypatch.setattr(app_module, "invoke", broken)
    _call(app, _environ(service, "TrentService.ListKeys"))
    expected = named.replace("OSError", "ImportError") if isinstance(fault, OSError) else named
    assert len(lines) == 1 and lines[0].endswith(f": {expected}"), lines
    assert "secret" not in lines[0]


def test_preload_imports_what_requests_import_lazily() -> None:
    """`kmscli serve` imports every operation, the policy engine, the verifier's botocore and
    cheroot's errors before serving (no module is then opened while a request runs)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from kmscli.serve.app import preload\n"
        "preload()\n"
        "from kmscli.service.pipeline import registry\n"
        "mods = [f'kmscli.service.operations.{m}' for m in set(registry.OPERATION_MODULES.values())]\n"
        "mods += ['botocore.auth', 'cheroot.errors', 'kmscli.policy.evaluate', 'kmscli.ids']\n"
        "missing = [m for m in mods if m not in sys.modules]\n"
        "print(missing, len(registry.OPERATIONS))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("[] "), out
