"""A real `kmscli serve` on a free loopback port, with a throwaway vault and access keys."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CHEAP_KDF_ARGS

PASSPHRASE = "serve test passphrase"
ACCOUNT = "111122223333"
PRINCIPALS = {
    "admin": f"arn:aws:iam::{ACCOUNT}:root",
    "alice": f"arn:aws:iam::{ACCOUNT}:user/alice",
    "bob": f"arn:aws:iam::{ACCOUNT}:user/bob",
}


def base_env(folder: Path) -> dict[str, str]:
    """An environment that reads nothing of the user's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KMSCLI_", "AWS_"))}
    env.update(
        KMSCLI_VAULT=str(folder / "vault"),
        KMSCLI_PASSPHRASE=PASSPHRASE,
        KMSCLI_CONFIG=str(folder / "config.toml"),
        XDG_RUNTIME_DIR=str(folder / "run"),
        AWS_CONFIG_FILE=str(folder / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(folder / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def kmscli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the kmscli CLI as a separate process."""
    proc = subprocess.run(
        [sys.executable, "-m", "kmscli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kmscli {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


class Server:
    """A running `kmscli serve` and what its tests need to reach it."""

    def __init__(
        self,
        folder: Path,
        extra_env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        limit: Callable[[], None] | None = None,
    ) -> None:
        """``limit``: run in the server process before it starts (a resource limit, say)."""
        self.folder = folder
        self.env = base_env(folder)
        self.keys: dict[str, tuple[str, str]] = {}
        if not (folder / "vault" / "vault.json").exists():
            kmscli(self.env, "vault", "init", *CHEAP_KDF_ARGS)
        for name, principal in PRINCIPALS.items():
            self.add_access_key(name, principal)
        self.log = open(folder / "serve.log", "w+b")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kmscli", "serve", "--port", "0", *args],
            env={k: v for k, v in {**self.env, **(extra_env or {})}.items() if v},  # "" unsets
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            preexec_fn=limit,
        )
        self.url = self._wait_for_url()
        self.port = int(self.url.rsplit(":", 1)[1])

    def add_access_key(self, name: str, principal: str) -> tuple[str, str]:
        """Create an access key for ``principal`` (a running server sees it at once), known as ``name``
        to :meth:`client`; returns (access key id, secret)."""
        out = kmscli(
            self.env,
            "credentials",
            "create",
            "--principal",
            principal,
            "--output",
            "text",
            "--query",
            "AccessKey.[AccessKeyId,SecretAccessKey]",
        ).stdout.split()
        self.keys[name] = (out[0], out[1])
        return self.keys[name]

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = (self.folder / "serve.log").read_text()
            if m := re.search(r"listening on (https?://\S+)", text):
                return m.group(1)
            if self.proc.poll() is not None:
                raise AssertionError(f"kmscli serve exited {self.proc.returncode}: {text}")
            time.sleep(0.05)
        raise AssertionError("kmscli serve did not start")

    def client(self, who: str = "admin", region: str = "us-east-1", **kwargs: Any) -> Any:
        """A boto3 KMS client signing with ``who``'s access key."""
        import boto3
        from botocore.config import Config

        key_id, secret = self.keys[who]
        return boto3.session.Session().client(
            "kms",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 0}).merge(kwargs.pop("config", Config())),
            **kwargs,
        )

    def events(self) -> list[dict[str, Any]]:
        """Every audit event written so far."""
        import json

        lines: list[dict[str, Any]] = []
        for seg in sorted((self.folder / "vault" / "audit").glob("audit-*.jsonl")):
            lines.extend(json.loads(line) for line in seg.read_text().splitlines() if line)
        return lines

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the server and wait for it to exit; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(60)
        finally:
            self.log.close()
        return code


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (a CA of itself) and its key, as PEM files in
    ``folder``; returns (certificate path, key path)."""
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a test module (stopped at the end)."""
    srv = Server(tmp_path_factory.mktemp("serve"))
    try:
        yield srv
    finally:
        srv.stop()
