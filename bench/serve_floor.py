"""The HTTP layer alone, a floor for bench/serve.py: what a request costs before kmscli does its work.

It runs `kmscli serve`'s own server stack with the defaults (cheroot with kmscli's connection
handling, one worker process per CPU, the same threads, limits and timeouts) and its WSGI front
(request id, response headers, the bounded body read), but the application answers every request
with one fixed Encrypt response of the size kmscli's is for 1 KiB, instead of verifying the
signature, decoding the request, running the operation and writing its audit event. The client
(bench/serve_client.py) cannot tell: it parses a real Encrypt response. Announces its address on
stderr as `kmscli serve` does. Run it with the Python of the kmscli under test (the installed
package, with its ``serve`` extra).

    python bench/serve_floor.py
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any, cast

from kmscli.serve import server as srv
from kmscli.serve.app import BodyRefused, ServeApp
from kmscli.wire import json11

#: Bytes of the CiphertextBlob kmscli returns for 1 KiB of plaintext (docs/format.md's blob).
CIPHERTEXT_BYTES = 1139
KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ANSWER = json11.encode_response(
    {
        "CiphertextBlob": bytes(CIPHERTEXT_BYTES),
        "KeyId": KEY_ARN,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    }
)


class FloorApp(ServeApp):
    """kmscli's WSGI application with the request's work left out: every body is read as the
    real one reads it, and answered with :data:`ANSWER`."""

    def _handle(self, environ: dict[str, Any], request_id: str) -> tuple[int, bytes]:
        try:
            self._read_body(environ)
        except BodyRefused as exc:
            return exc.status, json11.error_body(exc.code, exc.message)
        return 200, ANSWER


class _RequestIds:
    """The one thing the application asks of its service context before the work: a request id."""

    @staticmethod
    def new_uuid() -> str:
        return str(uuid.uuid4())


def main() -> int:
    app = FloorApp(cast(Any, _RequestIds()), lambda access_key_id: None)
    opts = srv.ServeOptions(
        "127.0.0.1",
        0,
        None,
        None,
        False,
        srv.DEFAULT_THREADS,
        app.max_body,
        srv.DEFAULT_TIMEOUT,
        srv.default_workers(os.cpu_count()),
    )

    def build(port: int, reuse_port: bool) -> Any:
        return srv.build_server(app, opts, port, reuse_port)

    srv.serve(build, opts, srv.announce_stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
