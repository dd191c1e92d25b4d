"""`kmscli serve --tls-cert/--tls-key`: HTTPS that boto3 verifies against the certificate."""

from __future__ import annotations

import json
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
        assert first == f"kmscli: error: SSL validation failed for {server.url}/ " and rest  # said once
        for how in (["--ca-bundle", str(cert)], ["--no-verify-ssl"]):
            listed = kmscli(env, "--endpoint-url", server.url, *how, "list-keys", "--query", "Keys[].KeyId")
            assert key_id in listed.stdout
        # over TLS, aws:SecureTransport is true: the "TLS only" Deny lets Encrypt through
        policy = json.dumps(TLS_ONLY_FROM_LOOPBACK)
        tls_only = kms.create_key(Policy=policy, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]
        assert kms.encrypt(KeyId=tls_only, Plaintext=b"x")["KeyId"].endswith(tls_only)
    finally:
        assert server.stop() == 0
