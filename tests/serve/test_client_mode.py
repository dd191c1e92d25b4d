"""Client mode: `kmscli --endpoint-url URL <command>` against a running `kmscli serve`.

The same command lines as against the local vault; the calls travel signed (SigV4, by botocore)
and are decided and audited by the server, under the access key's principal.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import Server, kmscli


def _env(server: Server, who: str = "admin", **extra: str) -> dict[str, str]:
    key_id, secret = server.keys[who]
    env = {k: v for k, v in server.env.items() if k not in ("KMSCLI_PASSPHRASE", "KMSCLI_VAULT")}
    # no passphrase and no vault on the client side: everything must come from the server
    env.update(AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=secret, KMSCLI_VAULT="/nonexistent/vault")
    env.update(extra)
    return env


def remote(
    server: Server, *args: str, who: str = "admin", check: bool = True
) -> subprocess.CompletedProcess[str]:
    return kmscli(_env(server, who), "--endpoint-url", server.url, *args, check=check)


def test_encrypt_and_decrypt_round_trip(server: Server, tmp_path: Path) -> None:
    key = remote(server, "create-key", "--query", "KeyMetadata.KeyId", "--output", "text").stdout.strip()
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"over the wire")
    blob = remote(
        server,
        "encrypt",
        "--key-id",
        key,
        "--plaintext",
        f"fileb://{secret}",
        "--encryption-context",
        "app=web",
        "--query",
        "CiphertextBlob",
        "--output",
        "text",
    ).stdout.strip()
    (tmp_path / "secret.enc").write_bytes(base64.b64decode(blob))
    out = remote(
        server,
        "decrypt",
        "--ciphertext-blob",
        f"fileb://{tmp_path / 'secret.enc'}",
        "--encryption-context",
        "app=web",
        "--query",
        "Plaintext",
        "--output",
        "text",
    ).stdout.strip()
    assert base64.b64decode(out) == b"over the wire"
    table = remote(server, "describe-key", "--key-id", key, "--output", "table").stdout
    assert key in table and "Enabled" in table
    # audited by the server, under the access key that signed
    events = [e for e in server.events() if e.get("eventName") == "Decrypt"]
    assert events and events[-1]["userIdentity"]["accessKeyId"] == server.keys["admin"][0]


def test_service_errors_are_the_servers(server: Server) -> None:
    res = remote(server, "describe-key", "--key-id", "alias/does-not-exist", check=False)
    assert res.returncode == 254
    assert "An error occurred (NotFoundException) when calling the DescribeKey operation" in res.stderr


def test_a_wrong_secret_is_refused_by_the_server(server: Server) -> None:
    env = _env(server, AWS_SECRET_ACCESS_KEY="wrong" * 8)
    res = kmscli(env, "--endpoint-url", server.url, "list-keys", check=False)
    assert res.returncode == 254 and "InvalidSignatureException" in res.stderr
    assert "wrong" not in res.stderr  # the secret never reaches an error


def test_policy_of_the_server_applies_to_the_callers_principal(server: Server) -> None:
    key = remote(server, "create-key", "--query", "KeyMetadata.KeyId", "--output", "text").stdout.strip()
    policy = (
        '{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":'
        '"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},{"Sid":"no bob","Effect":'
        '"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}]}'
    )
    remote(server, "put-key-policy", "--key-id", key, "--policy", policy)
    res = remote(server, "describe-key", "--key-id", key, who="bob", check=False)
    assert res.returncode == 254 and "AccessDeniedException" in res.stderr
    assert remote(server, "describe-key", "--key-id", key, who="alice").returncode == 0


def _signing_key(server: Server) -> str:
    """A new ECC_NIST_P256 signing key, created over the wire; its id."""
    return remote(
        server,
        "create-key",
        "--key-spec",
        "ECC_NIST_P256",
        "--key-usage",
        "SIGN_VERIFY",
        "--query",
        "KeyMetadata.KeyId",
        "--output",
        "text",
    ).stdout.strip()


def test_artifact_sign_over_the_wire_verifies_offline(server: Server, tmp_path: Path) -> None:
    key = _signing_key(server)
    artifact = tmp_path / "release.tar.gz"
    artifact.write_bytes(b"x" * 100_000)  # beyond Sign's 4096-byte RAW limit: the digest travels
    sig = tmp_path / "release.sig"
    remote(server, "artifact", "sign", str(artifact), "--key-id", key, "--signature-file", str(sig))
    pem = tmp_path / "pub.pem"
    remote(server, "artifact", "public-key", "--key-id", key, "--out", str(pem))
    offline = kmscli(
        _env(server),
        "artifact",
        "verify",
        str(artifact),
        "--signature-file",
        str(sig),
        "--public-key",
        str(pem),
    )
    assert offline.returncode == 0
    assert (
        remote(
            server, "artifact", "verify", str(artifact), "--signature-file", str(sig), "--key-id", key
        ).returncode
        == 0
    )


def test_artifact_verify_over_the_wire_exits_1_for_a_bad_signature(server: Server, tmp_path: Path) -> None:
    """The server's KMSInvalidSignatureException is kmscli's own class, so verify's contract holds."""
    key = _signing_key(server)
    artifact, sig = tmp_path / "a.bin", tmp_path / "a.sig"
    artifact.write_bytes(b"y" * 10_000)
    remote(server, "artifact", "sign", str(artifact), "--key-id", key, "--signature-file", str(sig))
    artifact.write_bytes(b"z" * 10_000)
    res = remote(
        server,
        "artifact",
        "verify",
        str(artifact),
        "--signature-file",
        str(sig),
        "--key-id",
        key,
        check=False,
    )
    assert res.returncode == 1, res.stderr
    assert "invalid signature" in res.stderr and "An error occurred" not in res.stderr


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["create-key", "--exportable"], "Exportable"),
        (
            [
                "export-key-material",
                "--key-id",
                "k",
                "--wrapping-public-key",
                "AAAA",
                "--wrapping-algorithm",
                "RSAES_OAEP_SHA_256",
            ],
            "ExportKeyMaterial",
        ),
    ],
)
def test_kmscli_extensions_are_refused_clearly(server: Server, args: list[str], what: str) -> None:
    res = remote(server, *args, check=False)
    assert res.returncode == 252 and what in res.stderr and "kmscli extension" in res.stderr


def test_no_credentials_is_an_environment_error(server: Server) -> None:
    env = _env(server)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    res = kmscli(env, "--endpoint-url", server.url, "list-keys", check=False)
    assert res.returncode == 253 and "Unable to locate credentials" in res.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"AWS_PROFILE": "nowhere"}, "The config profile (nowhere) could not be found"),
        ({"AWS_SECRET_ACCESS_KEY": ""}, "Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY"),
    ],
)
def test_a_botocore_configuration_problem_is_reported_not_an_internal_error(
    server: Server, change: dict[str, str], message: str
) -> None:
    """botocore resolves the profile and credentials when kmscli creates its client, before any call."""
    env = {k: v for k, v in {**_env(server), **change}.items() if v}
    res = kmscli(env, "--endpoint-url", server.url, "list-keys", check=False)
    assert res.returncode == 255
    assert res.stderr == f"\nkmscli: [ERROR]: {message}\n"  # the AWS CLI v2's general error


def test_no_verify_ssl_and_ca_bundle_reach_botocore() -> None:
    from kmscli.remote import remote_options

    base: dict[str, Any] = {"endpoint_url": "https://kms.example:8443"}
    assert remote_options(base, "eu-west-1", {}).verify is True
    assert remote_options({**base, "ca_bundle": "/ca.pem"}, "r", {}).verify == "/ca.pem"
    assert remote_options(base, "r", {"AWS_CA_BUNDLE": "/env.pem"}).verify == "/env.pem"
    assert remote_options({**base, "no_verify_ssl": True, "ca_bundle": "/ca.pem"}, "r", {}).verify is False
    opts = remote_options({**base, "cli_read_timeout": 0, "cli_connect_timeout": 5}, "r", {})
    assert opts.read_timeout == 0 and opts.connect_timeout == 5 and opts.sign


def test_policy_lint_reads_the_policy_over_the_wire(server: Server) -> None:
    key = remote(server, "create-key", "--query", "KeyMetadata.KeyId", "--output", "text").stdout.strip()
    res = remote(server, "policy", "lint", "--key-id", key, "--output", "json", check=False)
    assert res.returncode in (0, 1), res.stderr  # 1: an error-level finding; never a local vault
    assert '"Errors"' in res.stdout
    shown = remote(server, "policy", "show", "--key-id", key, check=False)
    assert shown.returncode == 252 and "--endpoint-url" in shown.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["vault", "status"],
        ["audit"],
        ["audit", "verify"],
        ["unlock"],
        ["configure", "list"],
        ["credentials", "list"],
    ],
)
def test_local_only_commands_refuse_the_endpoint(tmp_path: Path, args: list[str]) -> None:
    """A command that works on the local vault never silently ignores --endpoint-url."""
    from tests.serve.conftest import base_env

    env = base_env(tmp_path)
    res = kmscli(env, "--endpoint-url", "http://127.0.0.1:9", *args, check=False)
    assert res.returncode == 252 and "takes no --endpoint-url" in res.stderr, res.stderr
    assert not (tmp_path / "vault").exists()  # nothing was made or read locally
