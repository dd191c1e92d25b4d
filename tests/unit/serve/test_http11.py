"""kmscli.serve.http11 pieces that need no socket: the error log and the answer table."""

from __future__ import annotations

import logging

import pytest

from kmscli.serve import http11


def _server() -> http11.Server:
    return http11.Server(("127.0.0.1", 0), lambda environ, start_response: [])


def test_the_error_log_is_one_line_without_arguments_or_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise UnicodeDecodeError("utf-8", b"PLAINTEXT\xff", 9, 10, "invalid start byte")
    except UnicodeDecodeError as exc:
        _server().error_log(repr(exc), level=logging.ERROR, traceback=True)
    err = capsys.readouterr().err
    assert err == "kmscli serve: HTTP layer error: UnicodeDecodeError\n"


def test_a_clients_own_failure_is_not_logged(capsys: pytest.CaptureFixture[str]) -> None:
    _server().error_log("Client ('127.0.0.1', 1) lost — peer dropped the TLS connection suddenly")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "SerializationException"),
        (408, "RequestTimeoutException"),
        (413, "RequestEntityTooLargeException"),
        (418, "SerializationException"),
        (502, "KMSInternalException"),
    ],
)
def test_every_status_has_an_aws_code(status: int, code: str) -> None:
    assert http11.answer_for(status)[0] == code
