"""Tamper detection: vault files edited without the passphrase are detected before use, never obeyed.

Every case edits one file the way an attacker without the passphrase could (valid JSON, plausible
values, the old MAC kept), then runs a command that needs the file. Expected: exit 253, an error
that names the file, nothing on stdout, no traceback, and no vault file changed by the attempt.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import skip_fsync
from tests.helpers import CliResult


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durability is not this module's subject: skip the disk waits (see hardening.skip_fsync)."""
    skip_fsync(monkeypatch)


def _snapshot(vault: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in vault.rglob("*") if p.is_file() and "audit" not in p.parts}


def _edit_data(path: Path, change: Callable[[Any], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc["data"])
    path.write_text(json.dumps(doc))


def _assert_refused(res: CliResult, names: Path | str) -> None:
    assert res.code == 253, (res.code, res.out, res.err)
    assert str(names) in res.err, res.err
    assert res.out == ""
    assert "Traceback" not in res.err


@pytest.fixture
def key(cli: Any) -> str:
    res = cli("create-key", "--description", "tamper target")
    assert res.code == 0, res.err
    return str(res.json()["KeyMetadata"]["KeyId"])


def _key_file(vault: Path, key_id: str) -> Path:
    return vault / "keys" / "us-east-1" / f"{key_id}.json"


KEY_FILE_EDITS: dict[str, Callable[[Any], None]] = {
    "description": lambda d: d.update(Description="edited"),
    "state": lambda d: d.update(KeyState="Disabled"),
    # policies and grants live inside the key file: editing them is a key-file edit
    "policy": lambda d: d.update(Policy=json.dumps({"Version": "2012-10-17", "Statement": []})),
    "grants": lambda d: d["Grants"].append(
        {"GrantId": "0" * 64, "GranteePrincipal": "arn:aws:iam::999999999999:root", "Operations": ["Decrypt"]}
    ),
    "tags": lambda d: d.update(Tags=[{"TagKey": "owner", "TagValue": "mallory"}]),
    "material": lambda d: d["Materials"][0].update(Wrapped=base64.b64encode(b"\0" * 60).decode()),
}


@pytest.mark.parametrize("edit", sorted(KEY_FILE_EDITS))
def test_key_file_edit_detected(cli: Any, vault: Path, key: str, edit: str) -> None:
    path = _key_file(vault, key)
    _edit_data(path, KEY_FILE_EDITS[edit])
    before = _snapshot(vault)
    for args in (("describe-key", "--key-id", key), ("encrypt", "--key-id", key, "--plaintext", "aGk=")):
        _assert_refused(cli(*args), path)
    assert _snapshot(vault) == before


def test_key_file_disabled_key_not_re_enabled_by_edit(cli: Any, vault: Path, key: str) -> None:
    """The dangerous direction: an attacker flips a Disabled key back to Enabled."""
    assert cli("disable-key", "--key-id", key).code == 0
    _edit_data(_key_file(vault, key), lambda d: d.update(KeyState="Enabled"))
    res = cli("encrypt", "--key-id", key, "--plaintext", "aGk=")
    _assert_refused(res, _key_file(vault, key))


def test_key_file_copied_over_another_key_detected(cli: Any, vault: Path, key: str) -> None:
    other = cli("create-key").json()["KeyMetadata"]["KeyId"]
    _key_file(vault, other).write_bytes(_key_file(vault, key).read_bytes())
    _assert_refused(cli("describe-key", "--key-id", other), _key_file(vault, other))


def test_key_file_mac_replaced_detected(cli: Any, vault: Path, key: str) -> None:
    path = _key_file(vault, key)
    doc = json.loads(path.read_text())
    doc["mac"] = "0" * 64
    path.write_text(json.dumps(doc))
    _assert_refused(cli("describe-key", "--key-id", key), path)


def test_alias_index_edit_detected(cli: Any, vault: Path, key: str) -> None:
    other = cli("create-key").json()["KeyMetadata"]["KeyId"]
    assert cli("create-alias", "--alias-name", "alias/app", "--target-key-id", key).code == 0
    path = vault / "aliases" / "us-east-1.json"
    _edit_data(path, lambda d: d["alias/app"].update(TargetKeyId=other))  # redirect to mallory's key
    before = _snapshot(vault)
    _assert_refused(cli("encrypt", "--key-id", "alias/app", "--plaintext", "aGk="), path)
    _assert_refused(cli("list-aliases"), path)
    assert _snapshot(vault) == before


def test_schedule_edit_detected_and_key_not_destroyed(cli: Any, vault: Path, key: str) -> None:
    assert cli("schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "30").code == 0
    path = vault / "schedule.json"
    _edit_data(path, lambda d: d[f"us-east-1/{key}"].update(delete_at="2000-01-01T00:00:00+00:00"))
    before = _snapshot(vault)
    _assert_refused(cli("list-keys"), path)  # every call runs due work first: the schedule is checked
    assert _key_file(vault, key).exists()  # the forged due date was not obeyed
    assert _snapshot(vault) == before


def _header_edit(vault: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = vault / "vault.json"
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw, indent=2))


def _flip_b64(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


HEADER_EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "kdf-iterations": lambda h: h["kdf"].update(iterations=h["kdf"]["iterations"] + 1),
    "kdf-memory": lambda h: h["kdf"].update(memory_cost=h["kdf"]["memory_cost"] * 2),
    "salt": lambda h: h["kdf"].update(salt=_flip_b64(h["kdf"]["salt"])),
    "wrapped-key": lambda h: h["vault_key"].update(ciphertext=_flip_b64(h["vault_key"]["ciphertext"])),
    "wrapped-nonce": lambda h: h["vault_key"].update(nonce=_flip_b64(h["vault_key"]["nonce"])),
    "vault-id": lambda h: h.update(vault_id="00000000-0000-4000-8000-000000000000"),
    "created": lambda h: h.update(created="1999-01-01T00:00:00+00:00"),
    "extra-field": lambda h: h.update(note="added by mallory"),
    "mac": lambda h: h.update(mac="0" * 64),
}


@pytest.mark.parametrize("edit", sorted(HEADER_EDITS))
def test_header_edit_detected(cli: Any, vault: Path, key: str, edit: str) -> None:
    _header_edit(vault, HEADER_EDITS[edit])
    before = _snapshot(vault)
    _assert_refused(cli("encrypt", "--key-id", key, "--plaintext", "aGk="), vault / "vault.json")
    assert _snapshot(vault) == before


def test_header_with_matching_wrapped_key_from_other_vault_detected(
    cli: Any, vault: Path, tmp_path: Path, key: str
) -> None:
    """Swapping in another vault's header (same passphrase) breaks every file MAC: refused."""
    from tests.hardening import make_vault

    other = make_vault(tmp_path / "other")
    (vault / "vault.json").write_bytes((other / "vault.json").read_bytes())
    res = cli("describe-key", "--key-id", key)
    _assert_refused(res, vault / "state.json")  # the first vault file every call reads


def test_audit_line_edit_detected_by_chain(kms: Any, vault: Path) -> None:
    from tests.hardening import ChainError, verify_chain

    kms("CreateKey", Description="one")
    kms("CreateKey", Description="two")
    segment = next((vault / "audit").glob("*.jsonl"))
    lines = segment.read_text().splitlines(keepends=True)
    event = json.loads(lines[0])
    event["userIdentity"]["arn"] = "arn:aws:iam::111122223333:user/someone-else"
    lines[0] = json.dumps(event, separators=(",", ":")) + "\n"
    segment.write_text("".join(lines))
    with pytest.raises(ChainError, match=r":1: chain value"):
        verify_chain(vault)


def test_audit_line_deleted_detected_by_chain(kms: Any, vault: Path) -> None:
    from tests.hardening import ChainError, verify_chain

    for n in range(3):
        kms("CreateKey", Description=str(n))
    segment = next((vault / "audit").glob("*.jsonl"))
    lines = segment.read_text().splitlines(keepends=True)
    segment.write_text(lines[0] + lines[2])
    with pytest.raises(ChainError, match=r":2: sequence"):
        verify_chain(vault)


# -- a vault folder removed or replaced (docs/security.md, "A vault folder removed") ---------------


@pytest.mark.parametrize(
    "args",
    [
        ("list-keys",),
        ("list-aliases",),
        ("list-retirable-grants", "--retiring-principal", "arn:aws:iam::111122223333:root"),
        ("vault", "status"),
        ("create-key",),
    ],
)
@pytest.mark.parametrize("how", ["removed", "emptied-link"])
def test_keys_folder_gone_is_refused_not_an_empty_list(
    cli: Any, vault: Path, key: str, args: tuple[str, ...], how: str
) -> None:
    """Before: with `rm -rf VAULT/keys`, list-keys answered `{"Keys": []}` and exit 0, as if the
    vault had never held a key; only a command that read one key file noticed. (keys/ swapped for
    a link to an empty folder was refused by the commands that open it; list-aliases listed.)"""
    import shutil

    shutil.rmtree(vault / "keys")
    if how == "emptied-link":
        (vault.parent / "empty").mkdir()
        (vault / "keys").symlink_to(vault.parent / "empty")
    before = _snapshot(vault)
    res = cli(*args)
    _assert_refused(res, vault / "keys")
    assert "is missing or is not a folder" in res.err or (
        how == "emptied-link" and "symbolic link" in res.err
    )
    assert _snapshot(vault) == before  # nothing recreated: keys/ stays gone for the operator to see


def test_aliases_folder_gone_is_refused(cli: Any, vault: Path, key: str) -> None:
    """aliases/ removed in a vault that never had an alias: list-aliases answered the predefined
    aliases only, as for a fresh vault."""
    import shutil

    shutil.rmtree(vault / "aliases")
    _assert_refused(cli("list-aliases"), vault / "aliases")


def test_keys_folder_gone_is_named_by_audit_verify(cli: Any, vault: Path, key: str) -> None:
    """`audit verify` says the folder is gone and names each key file the vault state lists."""
    import shutil

    shutil.rmtree(vault / "keys")
    res = cli("audit", "verify")
    assert res.code != 0
    assert f"{vault / 'keys'} is missing or is not a folder" in res.out + res.err
    assert f"{_key_file(vault, key)} was removed" in res.out + res.err
