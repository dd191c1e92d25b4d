"""Issue 14 item 8: ``vault export-key`` is an authorized, audited operation.

It needs ``kms:ExportKeyBundle`` from each key's policy, an Enabled key, and the vault passphrase
(a session cannot export); a bundle keeps every key's ``Exportable`` flag, so no path through kmscli
gives a non-exportable key's material back from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from kmscli.crypto import keywrap
from tests.helpers import CHEAP_KDF_ARGS
from tests.service.test_policy_ops import ROOT, events


def _export(cli: Any, out: Path, *keys: str) -> Any:
    args = [a for k in keys for a in ("--key-id", k)]
    return cli("vault", "export-key", *args, "--outfile", str(out), *CHEAP_KDF_ARGS)


def _stmt(sid: str, effect: str, principal: Any, action: str) -> dict[str, Any]:
    return {"Sid": sid, "Effect": effect, "Principal": principal, "Action": action, "Resource": "*"}


def _policy(*extra: dict[str, Any]) -> str:
    allow = _stmt("Root", "Allow", {"AWS": ROOT}, "kms:*")
    return json.dumps({"Version": "2012-10-17", "Statement": [allow, *extra]})


@pytest.fixture
def bundle_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMSCLI_NEW_PASSPHRASE", "bundle pass")


def test_a_key_whose_policy_denies_everything_does_not_export(
    cli: Any, vault: Path, tmp_path: Path, bundle_env: None
) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    deny_all = _stmt("DenyAll", "Deny", "*", "kms:*")
    res = cli(
        "put-key-policy",
        "--key-id",
        key,
        "--policy",
        _policy(deny_all),
        "--bypass-policy-lockout-safety-check",
    )
    assert res.code == 0, res.err
    out = tmp_path / "b.kmsv"
    res = _export(cli, out, key)
    assert res.code == 254 and "(AccessDeniedException) when calling the ExportKey operation" in res.err
    assert "kms:ExportKeyBundle" in res.err and "explicit deny" in res.err
    assert not out.exists()
    last = events(vault)[-1]
    assert last["eventName"] == "ExportKeys" and last["errorCode"] == "AccessDeniedException"
    assert last["resources"][0]["ARN"].endswith(key)
    assert last["additionalEventData"]["policyDecision"]["action"] == "kms:ExportKeyBundle"


def test_export_has_its_own_action_name(cli: Any, vault: Path, tmp_path: Path, bundle_env: None) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    no_export = _stmt("NoBundles", "Deny", {"AWS": ROOT}, "kms:ExportKeyBundle")
    assert cli("put-key-policy", "--key-id", key, "--policy", _policy(no_export)).code == 0
    assert cli("encrypt", "--key-id", key, "--plaintext", "cA==").code == 0  # use is still allowed
    res = _export(cli, tmp_path / "b.kmsv", key)
    assert res.code == 254 and "AccessDeniedException" in res.err
    other = cli("create-key").json()["KeyMetadata"]["KeyId"]
    res = _export(cli, tmp_path / "b.kmsv", other, key)  # one refused key refuses the whole bundle
    assert res.code == 254 and not (tmp_path / "b.kmsv").exists()
    res = _export(cli, tmp_path / "b.kmsv", other)
    assert res.code == 0, res.err
    last = events(vault)[-1]
    assert last["eventName"] == "ExportKeys" and "errorCode" not in last
    assert [r["ARN"] for r in last["resources"]] == [res.json()["Keys"][0]["Arn"]]


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (("disable-key",), "DisabledException"),
        (("schedule-key-deletion", "--pending-window-in-days", "7"), "KMSInvalidStateException"),
    ],
)
def test_a_key_that_is_not_enabled_does_not_export(
    cli: Any, vault: Path, tmp_path: Path, bundle_env: None, command: tuple[str, ...], error: str
) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    assert cli(command[0], "--key-id", key, *command[1:]).code == 0
    res = _export(cli, tmp_path / "b.kmsv", key)
    assert res.code == 254 and f"({error})" in res.err
    assert not (tmp_path / "b.kmsv").exists()
    assert events(vault)[-1]["errorCode"] == error


def _export_material(cli: Any, key: str, public: Path) -> Any:
    return cli(
        "export-key-material", "--key-id", key, "--wrapping-public-key", f"fileb://{public}",
        "--wrapping-algorithm", "RSAES_OAEP_SHA_256",
    )  # fmt: skip


def _wrapping_public_key(tmp_path: Path) -> Path:
    public = tmp_path / "PublicKey.bin"
    public.write_bytes(keywrap.public_der(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    return public


def test_a_session_cannot_export(
    cli: Any, vault: Path, tmp_path: Path, bundle_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 60-second session must not become a permanent bundle under a passphrase of its holder's
    choosing, nor material wrapped to a key of its choosing: a session exports nothing."""
    key = cli("create-key", "--exportable").json()["KeyMetadata"]["KeyId"]
    public = _wrapping_public_key(tmp_path)
    token = cli("unlock", "--raw").out.strip()
    monkeypatch.setenv("KMSCLI_SESSION", token)
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    assert cli("encrypt", "--key-id", key, "--plaintext", "cA==").code == 0  # the session works
    res = _export(cli, tmp_path / "b.kmsv", key)
    assert res.code == 253 and "needs the vault passphrase" in res.err and "KMSCLI_SESSION" in res.err
    assert not (tmp_path / "b.kmsv").exists()
    res = _export_material(cli, key, public)
    assert res.code == 254 and "(AccessDeniedException)" in res.err and "KMSCLI_SESSION" in res.err
    last = events(vault)[-1]
    assert last["eventName"] == "ExportKeyMaterial" and last["errorCode"] == "AccessDeniedException"
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "correct horse battery staple")
    assert _export(cli, tmp_path / "b.kmsv", key).code == 0  # with the passphrase itself it may
    monkeypatch.delenv("KMSCLI_SESSION")
    assert _export_material(cli, key, public).code == 0


def test_no_kmscli_path_recovers_a_non_exportable_keys_material_from_a_bundle(
    cli: Any, vault: Path, tmp_path: Path, bundle_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = cli("create-key").json()["KeyMetadata"]["KeyId"]
    free = cli("create-key", "--exportable").json()["KeyMetadata"]["KeyId"]
    bundle = tmp_path / "b.kmsv"
    assert _export(cli, bundle, locked, free).code == 0
    public = _wrapping_public_key(tmp_path)

    def export_material(key: str) -> Any:
        return _export_material(cli, key, public)

    monkeypatch.setenv("KMSCLI_PASSPHRASE", "bundle pass")
    monkeypatch.setenv("KMSCLI_AUDIT_LOG", str(tmp_path / "ci-audit"))
    monkeypatch.setenv("KMSCLI_VAULT", str(bundle))  # the bundle itself, read-only
    assert cli("describe-key", "--key-id", free).json()["KeyMetadata"]["KmscliExportable"] is True
    assert "KmscliExportable" not in cli("describe-key", "--key-id", locked).json()["KeyMetadata"]
    assert export_material(free).code == 0
    res = export_material(locked)
    assert res.code == 254 and "UnsupportedOperationException" in res.err
    sub = tmp_path / "sub.kmsv"  # a bundle of the bundle keeps the flag
    assert _export(cli, sub, locked).code == 0
    monkeypatch.setenv("KMSCLI_VAULT", str(sub))
    # an audit folder holds one vault's chain: the sub-bundle (another vault key) logs elsewhere
    monkeypatch.setenv("KMSCLI_AUDIT_LOG", str(tmp_path / "ci-audit-sub"))
    assert export_material(locked).code == 254
    restored = tmp_path / "restored"  # restored into a folder, under the bundle's passphrase
    monkeypatch.setenv("KMSCLI_VAULT", str(restored))
    monkeypatch.delenv("KMSCLI_AUDIT_LOG")
    assert cli("vault", "restore", str(bundle)).code == 0
    res = export_material(locked)
    assert res.code == 254 and "UnsupportedOperationException" in res.err
    assert cli("update-key-description", "--key-id", locked, "--exportable").code == 252
