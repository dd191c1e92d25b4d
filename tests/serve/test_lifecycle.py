"""Unlocking the server: a session token instead of the passphrase; a wrong passphrase; no secret in logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import CHEAP_KDF_ARGS
from tests.serve.conftest import Server, base_env, kmscli


def test_serve_unlocks_from_a_session_token(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    kmscli(env, "vault", "init", *CHEAP_KDF_ARGS)
    token = kmscli(env, "unlock", "--raw").stdout.strip()
    server = Server(tmp_path, extra_env={"KMSCLI_SESSION": token, "KMSCLI_PASSPHRASE": ""})
    try:
        assert server.client().generate_random(NumberOfBytes=4)["Plaintext"]
    finally:
        assert server.stop() == 0
    log = (tmp_path / "serve.log").read_text()
    assert token not in log
    for _key_id, secret in server.keys.values():
        assert secret not in log


def test_a_wrong_passphrase_stops_the_server_before_it_listens(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    kmscli(env, "vault", "init", *CHEAP_KDF_ARGS)
    proc = subprocess.run(
        [sys.executable, "-m", "kmscli", "serve", "--port", "0"],
        env={**env, "KMSCLI_PASSPHRASE": "wrong"},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 253
    assert "wrong passphrase" in proc.stderr and "listening" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_secret_or_traceback_reaches_the_server_log(server: Server) -> None:
    server.client().generate_random(NumberOfBytes=4)
    import boto3

    bad = boto3.client(
        "kms",
        region_name="us-east-1",
        endpoint_url=server.url,
        aws_access_key_id=server.keys["admin"][0],
        aws_secret_access_key="x" * 40,
    )
    try:
        bad.list_keys()
    except bad.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] == "InvalidSignatureException"
    log = (server.folder / "serve.log").read_text()
    assert "Traceback" not in log
    for _, secret in server.keys.values():
        assert secret not in log
