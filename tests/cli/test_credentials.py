"""`kmscli credentials` and `kmscli serve`'s safe defaults, in-process."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest


def test_create_list_delete_and_every_change_is_audited(cli: Any, vault: Path) -> None:
    made = cli(
        "credentials", "create", "--principal", "arn:aws:iam::111122223333:role/ci", "--description", "ci"
    )
    assert made.code == 0, made.err
    key = made.json()["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["AccessKeyId"]) == 20
    assert len(key["SecretAccessKey"]) == 40
    listed = cli("credentials", "list").json()["AccessKeys"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]]
    assert "SecretAccessKey" not in listed[0] and listed[0]["Description"] == "ci"
    stored = (vault / "credentials.json").read_text()
    assert key["SecretAccessKey"] not in stored  # wrapped under the vault key
    assert oct((vault / "credentials.json").stat().st_mode & 0o777) == "0o600"
    assert cli("credentials", "delete", "--access-key-id", key["AccessKeyId"]).code == 0
    assert cli("credentials", "list").json() == {"AccessKeys": []}
    log = "".join(p.read_text() for p in sorted((vault / "audit").glob("*.jsonl")))
    events = [json.loads(line) for line in log.splitlines()]
    names = [e["eventName"] for e in events]
    assert names[-2:] == ["CreateAccessKey", "DeleteAccessKey"]
    assert events[-1]["additionalEventData"]["accessKeyId"] == key["AccessKeyId"]
    assert key["SecretAccessKey"] not in log


def test_bad_principal_and_unknown_key(cli: Any, vault: Path) -> None:
    bad = cli("credentials", "create", "--principal", "alice")
    assert bad.code == 252 and "is not an IAM principal ARN" in bad.err
    gone = cli("credentials", "delete", "--access-key-id", "AKIANOPE")
    assert gone.code == 254 and "NoSuchEntity" in gone.err


def test_a_secret_moved_to_another_key_id_does_not_unwrap(vault: Path) -> None:
    from kmscli.invocation import Sources
    from kmscli.service.features import credentials
    from kmscli.service.pipeline.core import system_random, utcnow
    from kmscli.settings import load_settings
    from kmscli.vault.store import TamperError, Vault
    from tests.conftest import PASSPHRASE

    unlocked = Vault.open(vault).unlock(PASSPHRASE.encode())
    settings = load_settings({}, os.environ)
    sources = Sources()
    a = credentials.create(
        unlocked, settings, sources, "arn:aws:iam::111122223333:user/a", "", system_random, utcnow()
    )
    b = credentials.create(
        unlocked, settings, sources, "arn:aws:iam::111122223333:user/b", "", system_random, utcnow()
    )
    with unlocked.lock(exclusive=True):
        creds = unlocked.load_credentials()
        creds[b["AccessKeyId"]]["Secret"] = creds[a["AccessKeyId"]]["Secret"]
        unlocked.save_credentials(creds)
    with pytest.raises(TamperError):
        credentials.lookup(unlocked, b["AccessKeyId"])
    found = credentials.lookup(unlocked, a["AccessKeyId"])
    assert found is not None and found.secret.decode() == a["SecretAccessKey"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "not a loopback address"),
        (["--host", "192.0.2.1"], "not a loopback address"),
        (["--tls-cert", "c.pem"], "--tls-cert and --tls-key go together"),
        (["--port", "70000"], "is not a TCP port"),
        (["--threads", "0"], "is outside 1..256"),
        (["--max-body-bytes", "99999999999"], "is outside 1..67108864"),
    ],
)
def test_serve_refuses_unsafe_or_bad_options(cli: Any, vault: Path, args: list[str], message: str) -> None:
    result = cli("serve", *args)
    assert result.code == 252 and message in result.err


def test_loopback_detection() -> None:
    from kmscli.serve.server import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")


def test_every_serve_option_with_odd_values(cli: Any, vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI sweep's rule for `serve`, with the serving loop stubbed: an error or a clean start."""
    import click

    from kmscli.cli.serve_cmd import serve
    from kmscli.serve import server
    from tests.hardening.test_cli_sweep import _GLOBALS, ODD_VALUES

    started: list[Any] = []
    monkeypatch.setattr(
        server, "serve", lambda build, opts, *callbacks: started.append(build(opts.port, opts.workers > 1))
    )
    failures = []
    for param in serve.params:
        if not isinstance(param, click.Option) or param.name in _GLOBALS or param.is_flag:
            continue
        for value in ODD_VALUES:
            res = cli("serve", param.opts[-1], value, stdin=b"")
            if res.code not in (0, 2, 252, 253) or "Traceback" in res.err:
                failures.append(f"serve {param.opts[-1]} {value!r} -> {res.code}: {res.err.strip()[-160:]}")
    assert not failures, "\n".join(failures)
    assert started, "some odd values are valid (e.g. --port 0) and reach the serving loop"


def test_the_servers_cache_rereads_only_after_a_change(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kmscli.invocation import Sources
    from kmscli.service.features import credentials
    from kmscli.service.pipeline.core import system_random, utcnow
    from kmscli.settings import load_settings
    from kmscli.vault.store import UnlockedVault, Vault
    from tests.conftest import PASSPHRASE

    unlocked = Vault.open(vault).unlock(PASSPHRASE.encode())
    settings = load_settings({}, os.environ)
    sources = Sources()
    made = credentials.create(
        unlocked, settings, sources, "arn:aws:iam::111122223333:user/a", "", system_random, utcnow()
    )
    reads: list[int] = []
    real = UnlockedVault.load_credentials
    monkeypatch.setattr(UnlockedVault, "load_credentials", lambda self: reads.append(1) or real(self))
    cache = credentials.CredentialCache(unlocked)
    for _ in range(3):
        found = cache.lookup(made["AccessKeyId"])
        assert found is not None and found.secret.decode() == made["SecretAccessKey"]
    assert cache.lookup("AKIAUNKNOWNUNKNOWN22") is None
    assert len(reads) == 1
    credentials.delete(unlocked, settings, sources, made["AccessKeyId"])
    assert cache.lookup(made["AccessKeyId"]) is None
