"""Issue 14 item 13: nothing outside a MAC is accepted loosely, and key policies are as strict as AWS's.

Envelope: exactly ``format`` (1), ``data`` and ``mac``, no member twice anywhere in a vault file.
Policies: a partial wildcard in an AWS principal (``user/*``), two statements with one Sid and a
JSON member named twice are MalformedPolicyDocumentException, as AWS refuses them; ``policy lint``
reports each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmscli import errors
from kmscli.policy import document
from tests.hardening.test_tamper import _assert_refused, _key_file, _snapshot, key  # noqa: F401

ACCOUNT = "111122223333"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def _rewrite(path: Path, text: str) -> None:
    path.write_text(text)


ENVELOPE_EDITS = {
    "format-string": lambda raw, doc: json.dumps({**doc, "format": "1"}),
    "format-2": lambda raw, doc: json.dumps({**doc, "format": 2}),
    "format-true": lambda raw, doc: json.dumps({**doc, "format": True}),
    "no-format": lambda raw, doc: json.dumps({k: v for k, v in doc.items() if k != "format"}),
    "extra-member": lambda raw, doc: json.dumps({**doc, "note": "planted"}),
    # the MAC'd data last, a decoy first: a first-wins parser would read the decoy
    "duplicate-data": lambda raw, doc: '{"data": {"KeyState": "Enabled"}, ' + raw.lstrip()[1:],
    "duplicate-inner": lambda raw, doc: raw.replace('"KeyState":', '"KeyState":"Disabled","KeyState":', 1),
}


@pytest.mark.parametrize("edit", sorted(ENVELOPE_EDITS))
def test_envelope_outside_the_mac_is_refused(cli: Any, vault: Path, key: str, edit: str) -> None:  # noqa: F811
    path = _key_file(vault, key)
    raw = path.read_text()
    _rewrite(path, ENVELOPE_EDITS[edit](raw, json.loads(raw)))
    before = _snapshot(vault)
    _assert_refused(cli("describe-key", "--key-id", key), path)
    assert _snapshot(vault) == before


def test_duplicate_member_in_the_header_is_refused(cli: Any, vault: Path) -> None:
    header = vault / "vault.json"
    raw = header.read_text()
    header.write_text(raw.replace('"vault_id":', '"vault_id": "forged", "vault_id":', 1))
    _assert_refused(cli("list-keys"), header)


def test_bundle_envelope_is_as_strict(
    cli: Any,
    vault: Path,
    key: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kmscli.vault import archive
    from tests.helpers import CHEAP_KDF_ARGS

    monkeypatch.setenv("KMSCLI_NEW_PASSPHRASE", "bundle pass")
    out = tmp_path / "b.kmsv"
    assert cli("vault", "export-key", "--key-id", key, "--outfile", str(out), *CHEAP_KDF_ARGS).code == 0
    opened = archive.ArchiveFile.open(out).unlock(b"bundle pass")
    assert isinstance(opened, archive.ArchiveVault)
    rel = f"keys/us-east-1/{key}.json"
    assert opened.load_key("us-east-1", key) is not None
    good = opened.files[rel]
    opened.files[rel] = json.dumps({**json.loads(good), "extra": 1}).encode()
    with pytest.raises(archive.TamperError, match="outside its MAC"):
        opened.load_key("us-east-1", key)
    opened.files[rel] = good.replace(b'"mac":', b'"data":{},"mac":', 1)
    with pytest.raises(archive.TamperError):
        opened.load_key("us-east-1", key)


# -- key policies ---------------------------------------------------------------------------------


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(principal: Any, sid: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": "Allow", "Principal": principal, "Action": "kms:*", "Resource": "*"}
    if sid is not None:
        out["Sid"] = sid
    return out


@pytest.mark.parametrize(
    "value",
    [
        f"arn:aws:iam::{ACCOUNT}:user/*",
        f"arn:aws:iam::{ACCOUNT}:role/Admin*",
        f"arn:aws:iam::{ACCOUNT}:*",
        "arn:aws:iam::*:root",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/Role/*",
        "1111222233*",
        "arn:aws:iam::1111222233?3:root",
    ],
)
def test_partial_wildcard_principal_is_refused(value: str) -> None:
    text = _doc(_allow({"AWS": ROOT}), _allow({"AWS": value}))
    with pytest.raises(errors.MalformedPolicyDocumentException, match="invalid principals"):
        document.parse(text)
    assert any("wildcard" in p.message for p in document.problems(text)[1])


def test_star_principal_still_allowed() -> None:
    assert document.parse(_doc(_allow("*"), _allow({"AWS": "*"}), _allow({"AWS": ROOT})))


def test_duplicate_sids_are_refused() -> None:
    text = _doc(_allow({"AWS": ROOT}, "Same"), _allow({"AWS": ROOT}, "Same"), _allow({"AWS": ROOT}))
    with pytest.raises(errors.MalformedPolicyDocumentException, match="Sid 'Same'"):
        document.parse(text)
    assert document.parse(_doc(_allow({"AWS": ROOT}, "One"), _allow({"AWS": ROOT}, "Two")))


@pytest.mark.parametrize(
    "text",
    [
        '{"Version": "2012-10-17", "Version": "2012-10-17", "Statement": []}',
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Effect": "Allow", '
        '"Principal": "*", "Action": "kms:*", "Resource": "*"}]}',
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "kms:*", '
        '"Resource": "*", "Condition": {"StringEquals": {"kms:CallerAccount": "1", "kms:CallerAccount": "2"}}}]}',
    ],
)
def test_duplicate_json_members_are_refused(text: str) -> None:
    with pytest.raises(errors.MalformedPolicyDocumentException, match="appears twice"):
        document.parse(text)


def test_put_key_policy_and_lint_report_them(cli: Any, vault: Path, key: str, tmp_path: Path) -> None:  # noqa: F811
    bad = _doc(_allow({"AWS": ROOT}, "A"), _allow({"AWS": f"arn:aws:iam::{ACCOUNT}:user/*"}, "A"))
    res = cli("put-key-policy", "--key-id", key, "--policy", bad)
    assert res.code == 254 and "MalformedPolicyDocumentException" in res.err
    (tmp_path / "p.json").write_text(bad)
    res = cli("policy", "lint", "--policy", f"file://{tmp_path / 'p.json'}", "--output", "json")
    text = res.out + res.err
    assert res.code != 0 and "wildcard" in text and "Sid 'A'" in text


@pytest.mark.parametrize("edit", ["extra", "payload-extra", "duplicate"])
def test_archive_members_outside_its_authentication_are_refused(
    cli: Any,
    vault: Path,
    key: str,  # noqa: F811
    tmp_path: Path,
    edit: str,
) -> None:
    out = tmp_path / "v.kmsbak"
    assert cli("vault", "backup", "--outfile", str(out)).code == 0
    doc = json.loads(out.read_text())
    if edit == "extra":
        text = json.dumps({**doc, "note": "planted"})
    elif edit == "payload-extra":
        text = json.dumps({**doc, "payload": {**doc["payload"], "tag": "x"}})
    else:
        text = json.dumps(doc).replace('"kind":', '"kind": "bundle", "kind":', 1)
    out.write_text(text)
    res = cli("vault", "restore", str(out), "--force")
    assert res.code == 253 and "Traceback" not in res.err
    assert ("outside its authentication" if edit != "duplicate" else "appears twice") in res.err
