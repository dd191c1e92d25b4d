"""Secrets hygiene: marker plaintexts and passphrases never reach vault files, the audit log,
stdout (except where the plaintext is the answer) or stderr, in raw, base64 or hex form.

Every current command runs its success path and its error paths. New commands (sessions,
asymmetric keys, import) add one ``Step`` to ``_steps``; session files are covered because the
whole test directory (vault, XDG runtime dir, config) is scanned.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import skip_fsync
from tests.helpers import CHEAP_KDF_ARGS, CliResult, run_cli

PASSPHRASE_MARKER = "PASSPHRASE-MARKER-7f3a9c51"
NEW_PASSPHRASE_MARKER = "NEWPASS-MARKER-0d8e22b7"
WRONG_PASSPHRASE_MARKER = "WRONGPASS-MARKER-91aa40c3"
PLAINTEXT_MARKER = b"PLAINTEXT-MARKER-b41d2e6f"


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durability is not this module's subject: skip the disk waits (see hardening.skip_fsync)."""
    skip_fsync(monkeypatch)


def forms(secret: bytes) -> list[bytes]:
    """The ways a secret could appear: raw, hex (both cases), base64 at every alignment."""
    out = [secret, secret.hex().encode(), secret.hex().upper().encode()]
    for shift in range(3):
        encoded = base64.b64encode(secret[shift:])
        out.append(encoded[:-4])  # the tail depends on what follows: leave it out
        out.append(base64.urlsafe_b64encode(secret[shift:])[:-4])
    return [f for f in out if len(f) >= 12]


@dataclass
class Step:
    """One command; ``plaintext_out`` marks commands whose stdout carries a plaintext by design."""

    args: list[str]
    expect: int
    plaintext_out: bool = False
    env: dict[str, str] | None = None
    stdin: bytes | None = None


def _steps(inputs: Path, key: str, disabled: str, blob: str) -> list[Step]:
    marker_b64 = base64.b64encode(PLAINTEXT_MARKER).decode()
    raw_file = inputs / "plain.bin"
    raw_file.write_bytes(PLAINTEXT_MARKER)
    request = inputs / "request.json"
    request.write_text(json.dumps({"KeyId": key, "Plaintext": marker_b64}))
    bad_request = inputs / "bad-request.json"
    bad_request.write_text(json.dumps({"KeyId": disabled, "Plaintext": marker_b64}))
    big = base64.b64encode(PLAINTEXT_MARKER * 200).decode()
    return [
        Step(["vault", "status"], 0),
        Step(["encrypt", "--key-id", key, "--plaintext", marker_b64], 0),
        Step(["encrypt", "--key-id", key, "--plaintext", f"fileb://{raw_file}"], 0),
        Step(["encrypt", "--key-id", key, "--plaintext", "fileb:///dev/stdin"], 0, stdin=PLAINTEXT_MARKER),
        Step(["encrypt", "--cli-input-json", f"file://{request}"], 0),
        Step(["encrypt", "--key-id", key, "--plaintext", marker_b64, "--dry-run"], 254),
        Step(["encrypt", "--key-id", disabled, "--plaintext", marker_b64], 254),
        Step(["encrypt", "--key-id", disabled, "--plaintext", marker_b64, "--debug"], 254),
        Step(["encrypt", "--cli-input-json", f"file://{bad_request}"], 254),
        Step(["encrypt", "--key-id", "alias/missing", "--plaintext", marker_b64], 254),
        Step(["encrypt", "--key-id", key, "--plaintext", big], 254),  # too long: ValidationException
        Step(["encrypt", "--key-id", key, "--plaintext", PLAINTEXT_MARKER.decode()], 252),  # not base64
        Step(["encrypt", "--key-id", key, "--plaintext", PLAINTEXT_MARKER.decode(), "--debug"], 252),
        Step(["encrypt", "--key-id", key, "--plaintext", marker_b64, "--bogus-option"], 252),
        Step(["decrypt", "--ciphertext-blob", blob, "--encryption-context", "app=x"], 0, plaintext_out=True),
        Step(["decrypt", "--ciphertext-blob", blob, "--encryption-context", "app=y"], 254),
        Step(["decrypt", "--ciphertext-blob", blob, "--key-id", disabled], 254),
        Step(["decrypt", "--ciphertext-blob", blob[:-8] + "AAAAAAA="], 254),
        Step(["decrypt", "--ciphertext-blob", blob, "--encryption-context", "app=x", "--debug"], 0, True),
        Step(
            [
                "re-encrypt",
                "--ciphertext-blob",
                blob,
                "--source-encryption-context",
                "app=x",
                "--destination-key-id",
                key,
            ],
            0,
        ),
        Step(
            [
                "re-encrypt",
                "--ciphertext-blob",
                blob,
                "--source-encryption-context",
                "app=x",
                "--destination-key-id",
                disabled,
            ],
            254,
        ),
        Step(["generate-data-key", "--key-id", key, "--key-spec", "AES_256"], 0, plaintext_out=True),
        Step(["generate-data-key-without-plaintext", "--key-id", key, "--key-spec", "AES_256"], 0),
        Step(["generate-random", "--number-of-bytes", "32"], 0, plaintext_out=True),
        Step(["describe-key", "--key-id", key], 0),
        Step(["list-keys"], 0),
        Step(["list-aliases"], 0),
        Step(["list-resource-tags", "--key-id", key], 0),
        Step(["tag-resource", "--key-id", key, "--tags", "TagKey=t,TagValue=v"], 0),
        Step(["untag-resource", "--key-id", key, "--tag-keys", "t"], 0),
        Step(["update-key-description", "--key-id", key, "--description", "d"], 0),
        Step(["create-alias", "--alias-name", "alias/s", "--target-key-id", key], 0),
        Step(["update-alias", "--alias-name", "alias/s", "--target-key-id", key], 0),
        Step(["delete-alias", "--alias-name", "alias/s"], 0),
        Step(["enable-key", "--key-id", disabled], 0),
        Step(["disable-key", "--key-id", disabled], 0),
        Step(["schedule-key-deletion", "--key-id", disabled], 0),
        Step(["cancel-key-deletion", "--key-id", disabled], 0),
        Step(["list-keys"], 253, env={"KMSCLI_PASSPHRASE": WRONG_PASSPHRASE_MARKER}),
        Step(["list-keys", "--debug"], 253, env={"KMSCLI_PASSPHRASE": WRONG_PASSPHRASE_MARKER}),
        Step(["vault", "change-passphrase"], 0, env={"KMSCLI_NEW_PASSPHRASE": NEW_PASSPHRASE_MARKER}),
        Step(["encrypt", "--key-id", key, "--plaintext", marker_b64], 253),  # old passphrase now wrong
        Step(
            ["encrypt", "--key-id", key, "--plaintext", marker_b64],
            0,
            env={"KMSCLI_PASSPHRASE": NEW_PASSPHRASE_MARKER},
        ),
        Step(["vault", "init", *CHEAP_KDF_ARGS], 253),  # refuses to overwrite
    ]


def _run(step: Step, monkeypatch: pytest.MonkeyPatch) -> CliResult:
    with monkeypatch.context() as patch:
        for name, value in (step.env or {}).items():
            patch.setenv(name, value)
        return run_cli(step.args, stdin=step.stdin)


def test_no_secret_leaks_anywhere(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMSCLI_PASSPHRASE", PASSPHRASE_MARKER)
    inputs = tmp_path / "inputs"  # our own files holding the plaintext: not scanned
    inputs.mkdir()
    results: list[tuple[Step, CliResult]] = []

    init = Step(["vault", "init", *CHEAP_KDF_ARGS], 0)
    results.append((init, _run(init, monkeypatch)))
    key = run_cli(["create-key", "--description", "k"]).json()["KeyMetadata"]["KeyId"]
    disabled = run_cli(["create-key"]).json()["KeyMetadata"]["KeyId"]
    marker_b64 = base64.b64encode(PLAINTEXT_MARKER).decode()
    blob = run_cli(
        ["encrypt", "--key-id", key, "--plaintext", marker_b64, "--encryption-context", "app=x"]
    ).json()["CiphertextBlob"]
    assert run_cli(["disable-key", "--key-id", disabled]).code == 0

    for step in _steps(inputs, key, disabled, blob):
        res = _run(step, monkeypatch)
        assert res.code == step.expect, (step.args, res.code, res.err)
        assert "Traceback" not in res.err or "--debug" in step.args, (step.args, res.err)
        results.append((step, res))

    # the plaintexts the service handed out (data keys, random bytes) are secrets too
    secrets = [
        PLAINTEXT_MARKER,
        PASSPHRASE_MARKER.encode(),
        NEW_PASSPHRASE_MARKER.encode(),
        WRONG_PASSPHRASE_MARKER.encode(),
    ]
    for step, res in results:
        if step.plaintext_out and res.code == 0:
            secrets.append(base64.b64decode(res.json()["Plaintext"]))
    # and so is every key's raw material
    from kmscli.vault.store import Vault

    unlocked = Vault.open(env).unlock(NEW_PASSPHRASE_MARKER.encode())
    for key_id in unlocked.list_key_ids("us-east-1"):
        record = unlocked.load_key("us-east-1", key_id)
        assert record is not None
        for item in record["Materials"]:
            secrets.append(unlocked.unwrap_material(record["Arn"], item["KeyMaterialId"], item["Wrapped"]))
        secrets.append(unlocked.vault_key)

    needles = [(secret, form) for secret in secrets for form in forms(secret)]
    leaks: list[str] = []
    for step, res in results:
        streams = {"stderr": res.err.encode()}
        if not step.plaintext_out:
            streams["stdout"] = res.out.encode()
        for stream, data in streams.items():
            for secret, form in needles:
                if form in data:
                    leaks.append(f"{' '.join(step.args[:2])} {stream}: {secret[:12]!r} as {form[:16]!r}")
    files = [p for p in tmp_path.rglob("*") if p.is_file() and inputs not in p.parents]
    assert any(p.suffix == ".jsonl" for p in files) and any(p.name == "vault.json" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret, form in needles:
            if form in data:
                leaks.append(f"{path.relative_to(tmp_path)}: {secret[:12]!r} as {form[:16]!r}")
    assert not leaks, "\n".join(leaks)


def test_marker_detector_finds_planted_leaks() -> None:
    """The scanner itself must be able to fail: each form of a planted secret is found."""
    blob = b"prefix " + base64.b64encode(b"ab" + PLAINTEXT_MARKER + b"cd") + b" suffix"
    assert any(f in blob for f in forms(PLAINTEXT_MARKER))
    assert any(f in PLAINTEXT_MARKER.hex().encode() for f in forms(PLAINTEXT_MARKER))
    assert any(f in b"x" + PLAINTEXT_MARKER + b"y" for f in forms(PLAINTEXT_MARKER))


def test_invalid_base64_plaintext_is_not_echoed(cli: Any) -> None:
    """Regression: the AWS CLI-style 'Invalid base64: "<value>"' error echoed a plaintext."""
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    res = cli("encrypt", "--key-id", key, "--plaintext", "my secret value!")
    assert res.code == 252
    assert "my secret" not in res.err and "Invalid base64" in res.err and "--plaintext" in res.err
