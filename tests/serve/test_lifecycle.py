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


def test_a_vault_restored_under_a_running_server_is_never_written_through_the_old_folder(
    tmp_path: Path,
) -> None:
    """`vault restore --force` while the server runs: the server's open folder is the replaced one.
    It answers an AWS-shaped 500 and says why on stderr, rather than "key not found" or writing
    into the folder the restore removes; the restored vault stays intact and verifiable."""
    import botocore.exceptions
    import pytest

    srv = Server(tmp_path)
    try:
        kms = srv.client()
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.encrypt(KeyId=key, Plaintext=b"before")
        backup = tmp_path / "vault.kmsbak"
        kmscli(srv.env, "vault", "backup", "--outfile", str(backup))
        kmscli(srv.env, "vault", "restore", str(backup), "--force")
        for _ in range(2):  # and it keeps answering
            with pytest.raises(botocore.exceptions.ClientError) as err:
                kms.encrypt(KeyId=key, Plaintext=b"after")
            assert err.value.response["Error"]["Code"] == "KMSInternalException"
            assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert not list(tmp_path.glob(".replaced-*"))
        assert kmscli(srv.env, "audit", "verify").returncode == 0
        names = [e["eventName"] for e in srv.events()]
        assert names[-1] == "RestoreVault" and "after" not in str(srv.events())
    finally:
        srv.stop()
    log = (tmp_path / "serve.log").read_text()
    assert "was replaced" in log and "Traceback" not in log
