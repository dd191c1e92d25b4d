"""`kmscli serve --tls-cert/--tls-key`: HTTPS that boto3 verifies against the certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from pathlib import Path

from tests.serve.conftest import Server, kmscli
from tests.serve.test_roundtrip import TLS_ONLY_FROM_LOOPBACK


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_https_round_trip(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
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
