"""Shared fixtures: a temporary vault with the cheap test KDF, a deterministic service, the CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CHEAP_KDF, CliResult, FakeClock, FakeRandom, run_cli

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolated environment: vault path, passphrase, config file; nothing of the user's is read."""
    vault = tmp_path / "vault"
    for var in (
        "KMSCLI_PROFILE",
        "KMSCLI_PRINCIPAL",
        "KMSCLI_REGION",
        "KMSCLI_SESSION",
        "KMSCLI_PASSPHRASE_FILE",
        "KMSCLI_AUDIT_LOG",
        "KMSCLI_NEW_PASSPHRASE",
        "NO_COLOR",
        "AWS_REGION",  # the AWS CLI's variables are fallbacks kmscli reads (a developer's shell has them)
        "AWS_DEFAULT_REGION",
        "AWS_DEFAULT_OUTPUT",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KMSCLI_VAULT", str(vault))
    monkeypatch.setenv("KMSCLI_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("KMSCLI_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # read-only archives log there
    return vault


@pytest.fixture
def vault(env: Path) -> Path:
    """A fresh vault (cheap KDF) at $KMSCLI_VAULT."""
    from kmscli.service.pipeline.core import system_random
    from kmscli.vault.store import Vault

    Vault.create(env, PASSPHRASE.encode(), CHEAP_KDF, system_random, "2026-01-15T12:00:00+00:00")
    return env


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def service(vault: Path, clock: FakeClock) -> Any:
    """A ServiceContext on the test vault with an injected clock and deterministic randomness."""
    from kmscli.invocation import Sources
    from kmscli.service.features.session import context_for
    from kmscli.settings import load_settings
    from kmscli.vault.store import Vault

    settings = load_settings({}, os.environ)
    ctx = context_for(Vault.open(vault).unlock(PASSPHRASE.encode()), settings, Sources())
    ctx.clock = clock
    ctx.random = FakeRandom()
    return ctx


@pytest.fixture
def kms(service: Any) -> Any:
    """Call an operation by name: ``kms("Encrypt", KeyId=..., Plaintext=b"...")``."""
    from kmscli.service.pipeline.core import invoke

    def call(op: str, **request: Any) -> dict[str, Any]:
        return invoke(service, op, request)

    return call


@pytest.fixture
def cli(vault: Path) -> Iterator[Any]:
    """Run the CLI in-process against the test vault: ``cli("encrypt", "--key-id", k, ...)``."""

    def run(*args: str, stdin: bytes | None = None) -> CliResult:
        return run_cli(list(args), stdin=stdin)

    yield run
