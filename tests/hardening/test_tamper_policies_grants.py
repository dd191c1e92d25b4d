"""Tamper detection for what the merged operations write: key policies (PutKeyPolicy), grants
(CreateGrant), rotation state, import parameters and imported material, and session files.

Policies, grants, rotation and import state live in the key file, under its MAC; session files are
AES-GCM under a key derived from the token, with the vault id, session id and expiry as associated
data. Every case edits one file the way an attacker without the passphrase (and without the token)
could, then runs a command that needs it. Expected: exit 253, an error naming the file, nothing on
stdout, no traceback, the edit not obeyed, and no vault file changed by the attempt.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import skip_fsync
from tests.helpers import CliResult

EVE = "arn:aws:iam::444455556666:user/Eve"
GRANTEE = "arn:aws:iam::111122223333:role/reader"


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durability is not this module's subject: skip the disk waits (see hardening.skip_fsync)."""
    skip_fsync(monkeypatch)


def _snapshot(vault: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in vault.rglob("*") if p.is_file() and "audit" not in p.parts}


def _assert_refused(res: CliResult, names: Path | str) -> None:
    assert res.code == 253, (res.code, res.out, res.err)
    assert str(names) in res.err, res.err
    assert res.out == ""
    assert "Traceback" not in res.err


def _key_file(vault: Path, key_id: str) -> Path:
    return vault / "keys" / "us-east-1" / f"{key_id}.json"


def _edit_data(path: Path, change: Callable[[Any], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc["data"])
    path.write_text(json.dumps(doc))


@pytest.fixture
def managed_key(cli: Any) -> str:
    """A key whose file the merged operations wrote: a restrictive policy, a constrained grant,
    automatic rotation and one on-demand rotation."""
    key = cli("create-key", "--description", "managed").json()["KeyMetadata"]["KeyId"]
    policy = json.loads(cli("get-key-policy", "--key-id", key).json()["Policy"])
    policy["Statement"].append(
        {
            "Sid": "NoDecryptForEve",
            "Effect": "Deny",
            "Principal": {"AWS": EVE},
            "Action": "kms:Decrypt",
            "Resource": "*",
        }
    )
    assert cli("put-key-policy", "--key-id", key, "--policy", json.dumps(policy)).code == 0
    grant = cli(
        "create-grant", "--key-id", key, "--grantee-principal", GRANTEE, "--operations", "Decrypt",
        "--constraints", json.dumps({"EncryptionContextEquals": {"app": "billing"}}),
    )  # fmt: skip
    assert grant.code == 0, grant.err
    assert cli("enable-key-rotation", "--key-id", key, "--rotation-period-in-days", "90").code == 0
    assert cli("rotate-key-on-demand", "--key-id", key).code == 0
    return str(key)


def _drop_deny(d: Any) -> None:
    doc = json.loads(d["Policy"])
    doc["Statement"] = [s for s in doc["Statement"] if s.get("Effect") != "Deny"]
    d["Policy"] = json.dumps(doc)


def _allow_eve(d: Any) -> None:
    doc = json.loads(d["Policy"])
    doc["Statement"].insert(
        0, {"Effect": "Allow", "Principal": {"AWS": EVE}, "Action": "kms:*", "Resource": "*"}
    )
    d["Policy"] = json.dumps(doc)


#: Offline edits of what PutKeyPolicy, CreateGrant and the rotation operations stored.
MANAGED_KEY_EDITS: dict[str, Callable[[Any], None]] = {
    "policy-deny-removed": _drop_deny,
    "policy-allow-added": _allow_eve,
    "policy-replaced-by-default": lambda d: d.update(Policy=json.dumps({"Statement": []})),
    "grant-grantee-changed": lambda d: d["Grants"][0].update(GranteePrincipal=EVE),
    "grant-constraints-removed": lambda d: d["Grants"][0].pop("Constraints"),
    "grant-operations-widened": lambda d: d["Grants"][0].update(
        Operations=["Decrypt", "Encrypt", "CreateGrant", "RetireGrant"]
    ),
    "grant-removed": lambda d: d.update(Grants=[]),
    "grant-duplicated-for-eve": lambda d: d["Grants"].append({**d["Grants"][0], "GranteePrincipal": EVE}),
    "rotation-disabled": lambda d: d["Rotation"].update(Enabled=False),
    "rotation-date-moved": lambda d: d["Rotation"].update(NextRotationDate="2099-01-01T00:00:00+00:00"),
    "current-version-rolled-back": lambda d: d.update(
        CurrentKeyMaterialId=d["Materials"][0]["KeyMaterialId"]
    ),
    "version-dropped": lambda d: d.update(Materials=d["Materials"][-1:]),
}


@pytest.mark.parametrize("edit", sorted(MANAGED_KEY_EDITS))
def test_policy_grant_and_rotation_edits_detected(cli: Any, vault: Path, managed_key: str, edit: str) -> None:
    path = _key_file(vault, managed_key)
    _edit_data(path, MANAGED_KEY_EDITS[edit])
    before = _snapshot(vault)
    for args in (
        ("get-key-policy", "--key-id", managed_key),
        ("list-grants", "--key-id", managed_key),
        ("encrypt", "--key-id", managed_key, "--plaintext", "aGk="),
        ("get-key-rotation-status", "--key-id", managed_key),
    ):
        _assert_refused(cli(*args), path)
    assert _snapshot(vault) == before


def test_edited_grant_is_not_obeyed_for_its_grantee(
    cli: Any, vault: Path, managed_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The direction that matters: Eve makes herself the grantee; her decrypt is refused as tampering."""
    blob = cli(
        "encrypt", "--key-id", managed_key, "--plaintext", "aGk=", "--encryption-context", "app=billing"
    ).json()["CiphertextBlob"]
    _edit_data(_key_file(vault, managed_key), MANAGED_KEY_EDITS["grant-grantee-changed"])
    monkeypatch.setenv("KMSCLI_PRINCIPAL", EVE)
    res = cli("decrypt", "--ciphertext-blob", blob, "--encryption-context", "app=billing")
    _assert_refused(res, _key_file(vault, managed_key))


def test_edited_grant_in_one_key_does_not_taint_another(cli: Any, vault: Path, managed_key: str) -> None:
    """Detection is per file: other keys keep working while one is refused."""
    other = cli("create-key").json()["KeyMetadata"]["KeyId"]
    _edit_data(_key_file(vault, managed_key), MANAGED_KEY_EDITS["grant-removed"])
    assert cli("encrypt", "--key-id", other, "--plaintext", "aGk=").code == 0


# -- import parameters and imported material ------------------------------------------------------


@pytest.fixture
def external_key(cli: Any, tmp_path: Path) -> str:
    """An EXTERNAL key with import parameters outstanding and material that expires."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = cli("create-key", "--origin", "EXTERNAL").json()["KeyMetadata"]["KeyId"]
    params = cli(
        "get-parameters-for-import", "--key-id", key, "--wrapping-algorithm", "RSAES_OAEP_SHA_256",
        "--wrapping-key-spec", "RSA_2048",
    ).json()  # fmt: skip
    public = serialization.load_der_public_key(base64.b64decode(params["PublicKey"]))
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    (tmp_path / "material.bin").write_bytes(public.encrypt(os.urandom(32), oaep))  # type: ignore[union-attr]
    (tmp_path / "token.bin").write_bytes(base64.b64decode(params["ImportToken"]))
    res = cli(
        "import-key-material", "--key-id", key, "--encrypted-key-material", f"fileb://{tmp_path / 'material.bin'}",
        "--import-token", f"fileb://{tmp_path / 'token.bin'}", "--expiration-model", "KEY_MATERIAL_EXPIRES",
        "--valid-to", (dt.datetime.now(dt.UTC) + dt.timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )  # fmt: skip
    assert res.code == 0, res.err
    cli(
        "get-parameters-for-import", "--key-id", key, "--wrapping-algorithm", "RSAES_OAEP_SHA_256",
        "--wrapping-key-spec", "RSA_2048",
    )  # fmt: skip
    return str(key)


IMPORT_EDITS: dict[str, Callable[[Any], None]] = {
    "material-expiry-extended": lambda d: d["Materials"][0].update(ValidTo="2099-01-01T00:00:00+00:00"),
    "key-expiry-extended": lambda d: d.update(ValidTo="2099-01-01T00:00:00+00:00"),
    "expiration-model-changed": lambda d: d.update(ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"),
    "import-parameters-extended": lambda d: d["ImportParameters"][0].update(
        ValidTo="2099-01-01T00:00:00+00:00"
    ),
    "wrapping-algorithm-changed": lambda d: d["ImportParameters"][0].update(
        WrappingAlgorithm="RSAES_OAEP_SHA_1"
    ),
    "origin-changed": lambda d: d.update(Origin="AWS_KMS"),
}


@pytest.mark.parametrize("edit", sorted(IMPORT_EDITS))
def test_import_state_edits_detected(cli: Any, vault: Path, external_key: str, edit: str) -> None:
    path = _key_file(vault, external_key)
    _edit_data(path, IMPORT_EDITS[edit])
    before = _snapshot(vault)
    _assert_refused(cli("describe-key", "--key-id", external_key), path)
    _assert_refused(cli("encrypt", "--key-id", external_key, "--plaintext", "aGk="), path)
    assert _snapshot(vault) == before


# -- session files --------------------------------------------------------------------------------


def _flip_b64(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _rewrite(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)


SESSION_EDITS: dict[str, Callable[[Path, Path], None]] = {
    "expiry-extended": lambda p, o: _rewrite(p, lambda d: d.update(expires="2099-01-01T00:00:00+00:00")),
    "ciphertext-flipped": lambda p, o: _rewrite(p, lambda d: d.update(ciphertext=_flip_b64(d["ciphertext"]))),
    "nonce-flipped": lambda p, o: _rewrite(p, lambda d: d.update(nonce=_flip_b64(d["nonce"]))),
    "session-id-changed": lambda p, o: _rewrite(p, lambda d: d.update(session="0" * 32)),
    "vault-id-changed": lambda p, o: _rewrite(p, lambda d: d.update(vault_id="0" * 36)),
    "format-changed": lambda p, o: _rewrite(p, lambda d: d.update(format=2)),
    "ciphertext-from-other-session": lambda p, o: _rewrite(
        p, lambda d: d.update({k: json.loads(o.read_text())[k] for k in ("nonce", "ciphertext")})
    ),
    "other-session-copied-over": lambda p, o: p.write_bytes(o.read_bytes()),
    "not-json": lambda p, o: p.write_text("{not json"),
    "truncated": lambda p, o: p.write_bytes(p.read_bytes()[:40]),
    "oversized": lambda p, o: p.write_bytes(p.read_bytes().rstrip() + b" " * 8192),
    "group-readable": lambda p, o: os.chmod(p, 0o640),
}


@pytest.mark.parametrize("edit", sorted(SESSION_EDITS))
def test_session_file_edit_detected(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str
) -> None:
    token = cli("unlock", "--raw").out.strip()
    other_token = cli("unlock", "--raw").out.strip()
    from kmscli.vault import sessions

    folder = (
        next((tmp_path / "run").rglob("sessions"))
        / json.loads((vault / "vault.json").read_text())["vault_id"]
    )
    path, other = (
        folder / f"{sessions.session_id(token)}.json",
        folder / f"{sessions.session_id(other_token)}.json",
    )
    assert path.exists() and other.exists()
    SESSION_EDITS[edit](path, other)
    monkeypatch.delenv("KMSCLI_PASSPHRASE")  # no fallback: the session is the only way in
    monkeypatch.setenv("KMSCLI_SESSION", token)
    before = _snapshot(vault)
    _assert_refused(cli("encrypt", "--key-id", "alias/none", "--plaintext", "aGk="), path)
    assert _snapshot(vault) == before
    monkeypatch.setenv("KMSCLI_SESSION", other_token)  # the untouched session still works
    assert cli("list-keys").code == 0


def test_session_file_replaced_by_symlink_is_refused(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symlink planted in place of the session file (pointing at a file the attacker controls)."""
    token = cli("unlock", "--raw").out.strip()
    path = next((tmp_path / "run").rglob("*.json"))
    planted = tmp_path / "planted.json"
    planted.write_bytes(path.read_bytes())
    os.chmod(planted, 0o600)
    path.unlink()
    path.symlink_to(planted)
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_SESSION", token)
    _assert_refused(cli("list-keys"), path)
