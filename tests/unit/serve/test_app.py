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
        (b'{"\\ud800": 1}', "ValidationException", "Unknown parameter '\\ud800' in ListKeysRequest"),
    ],
)
def test_hostile_json_is_a_client_error_not_a_fault(
    app: ServeApp, service: Any, vault: Any, body: bytes, code: str, message: str
) -> None:
    status, _, doc = _call(app, _environ(service, "TrentService.ListKeys", body))
    assert status.startswith("400") and doc["__type"] == code and message in doc["message"], doc


def test_a_lone_surrogate_in_a_member_name_is_audited_escaped(
    app: ServeApp, service: Any, vault: Any
) -> None:
    _call(app, _environ(service, "TrentService.ListKeys", b'{"Tags\\udc80": 1}'))
    event = json.loads((vault / "audit" / "audit-000001.jsonl").read_text().splitlines()[-1])
    assert event["errorCode"] == "ValidationException"
    assert "Unknown parameter 'Tags\\udc80'" in event["errorMessage"]

