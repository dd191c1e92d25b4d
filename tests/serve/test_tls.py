"""`kmscli serve --tls-cert/--tls-key`: HTTPS that boto3 verifies against the certificate."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import ssl
import time
from pathlib import Path

from tests.serve.conftest import Server, kmscli, self_signed_cert
from tests.serve.test_roundtrip import TLS_ONLY_FROM_LOOPBACK


def test_https_round_trip(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    server = Server(tmp_path, args=("--tls-cert", str(cert), "--tls-key", str(key)))
    try:
        assert server.url.startswith("https://127.0.0.1:")
        kms = server.client(verify=str(cert))
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"over tls")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"over tls"
        # client mode: the self-signed certificate is refused, unless named or verification is off
        env = {**server.env, "AWS_ACCESS_KEY_ID": server.keys["admin"][0]}
        env["AWS_SECRET_ACCESS_KEY"] = server.keys["admin"][1]
        refused = kmscli(env, "--endpoint-url", server.url, "list-keys", check=False)
        assert refused.returncode == 255
        first, _, rest = refused.stderr.partition("[SSL: CERTIFICATE_VERIFY_FAILED]")
        assert first == f"\nkmscli: [ERROR]: SSL validation failed for {server.url}/ " and rest  # said once
        for how in (["--ca-bundle", str(cert)], ["--no-verify-ssl"]):
            listed = kmscli(env, "--endpoint-url", server.url, *how, "list-keys", "--query", "Keys[].KeyId")
            assert key_id in listed.stdout
        # over TLS, aws:SecureTransport is true: the "TLS only" Deny lets Encrypt through
        policy = json.dumps(TLS_ONLY_FROM_LOOPBACK)
        tls_only = kms.create_key(Policy=policy, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]
        assert kms.encrypt(KeyId=tls_only, Plaintext=b"x")["KeyId"].endswith(tls_only)
    finally:
        assert server.stop() == 0


def _handshake_seconds(port: int, cert: Path) -> float:
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    started = time.monotonic()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as sock,
        context.wrap_socket(sock, server_side=False),
    ):
        return time.monotonic() - started


def test_silent_and_slow_tls_clients_do_not_hold_up_new_connections(tmp_path: Path) -> None:
    """cheroot ran the TLS handshake in the thread that accepts connections: one client that
    connected and sent nothing stopped every new connection to that worker for --timeout (3.8 s of
    4 here), and one that trickled its handshake for as long as it trickled. The handshake now runs
    on the thread serving the connection, within the request's deadline."""
    cert, key = self_signed_cert(tmp_path)
    server = Server(
        tmp_path, args=("--tls-cert", str(cert), "--tls-key", str(key), "--workers", "1", "--timeout", "4")
    )
    try:
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        trickler = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        trickler.sendall(b"\x16")  # the first byte of a TLS record, then one more now and then
        time.sleep(0.2)  # both are accepted before the next client connects
        assert _handshake_seconds(server.port, cert) < 1.0
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 12:
            ready, _, _ = select.select([trickler], [], [], 0.5)
            if ready:
                closed = trickler.recv(100) == b""  # the server ended it
                break
            with contextlib.suppress(OSError):
                trickler.sendall(b"\x03")
        assert closed and time.monotonic() - started < 6.0  # at the 4 s deadline, not the trickle's end
        assert _handshake_seconds(server.port, cert) < 1.0
        kms = server.client(verify=str(cert))
        assert kms.list_keys()["Keys"] == []
        silent.close()
        trickler.close()
    finally:
        assert server.stop() == 0
