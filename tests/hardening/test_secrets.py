"""Secrets hygiene: marker plaintexts and passphrases never reach vault files, the audit log,
stdout (except where the plaintext is the answer) or stderr, in raw, base64 or hex form.

Every command runs its success path and its error paths: the symmetric ones in ``_steps``, the
merged ones (asymmetric keys, MACs, key agreement, KEM, policies, grants, rotation, import,
sessions, backups, export-key bundles, artifact signing) in ``_merged_steps``. A step may depend on
an earlier one's output (a grant id, an import token, a session token): its arguments and
environment are then functions of the saved results. Session files are covered because the whole
test directory (vault, XDG runtime dir, config, backups, bundles, signatures) is scanned, with one
session still open when the scan runs; session tokens and bundle passphrases are secrets too.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import skip_fsync
from tests.helpers import CHEAP_KDF_ARGS, CliResult, run_cli

PASSPHRASE_MARKER = "PASSPHRASE-MARKER-7f3a9c51"
NEW_PASSPHRASE_MARKER = "NEWPASS-MARKER-0d8e22b7"
WRONG_PASSPHRASE_MARKER = "WRONGPASS-MARKER-91aa40c3"
PLAINTEXT_MARKER = b"PLAINTEXT-MARKER-b41d2e6f"
BUNDLE_PASSPHRASE_MARKER = "BUNDLEPASS-MARKER-4c0f9e12"
#: Key material imported into an EXTERNAL key (32 bytes: a SYMMETRIC_DEFAULT key).
MATERIAL_MARKER = b"IMPORTED-MATERIAL-MARKER-5e1c77a"
#: Response members that carry a secret by design: collected and searched for everywhere else.
SECRET_MEMBERS = ("Plaintext", "PrivateKeyPlaintext", "SharedSecret")


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


Saved = dict[str, "CliResult"]


@dataclass
class Step:
    """One command; ``plaintext_out`` marks commands whose stdout carries a plaintext by design.

    ``args`` and ``env`` may be functions of the results saved so far (``save`` names this step's
    result); an ``env`` value of None removes the variable.
    """

    args: list[str] | Callable[[Saved], list[str]]
    expect: int
    plaintext_out: bool = False
    env: dict[str, str | None] | Callable[[Saved], dict[str, str | None]] | None = None
    stdin: bytes | None = None
    save: str | None = None
    argv: list[str] = field(default_factory=list)  # the arguments as run (filled in by _run)


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
        Step(
            ["encrypt", "--key-id", key, "--plaintext", PLAINTEXT_MARKER.decode()], 255
        ),  # not base64 (the AWS CLI v2 exits 255 here)
        Step(["encrypt", "--key-id", key, "--plaintext", PLAINTEXT_MARKER.decode(), "--debug"], 255),
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


def _spki(public: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _wrapped_material(inputs: Path, saved: Saved) -> str:
    """Wrap MATERIAL_MARKER for ImportKeyMaterial under the saved import parameters' public key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    params = saved["params"].json()
    public = serialization.load_der_public_key(base64.b64decode(params["PublicKey"]))
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    (inputs / "material.bin").write_bytes(public.encrypt(MATERIAL_MARKER, oaep))  # type: ignore[union-attr]
    (inputs / "token.bin").write_bytes(base64.b64decode(params["ImportToken"]))
    return f"fileb://{inputs / 'material.bin'}"


def _merged_steps(inputs: Path, out: Path, keys: dict[str, str]) -> list[Step]:
    """Success and error paths of the operations merged after the symmetric foundation."""
    from cryptography.hazmat.primitives.asymmetric import ec

    marker_b64 = base64.b64encode(PLAINTEXT_MARKER).decode()
    key, disabled = keys["key"], keys["disabled"]
    (inputs / "peer.der").write_bytes(_spki(ec.generate_private_key(ec.SECP256R1()).public_key()))
    (inputs / "peer384.der").write_bytes(_spki(ec.generate_private_key(ec.SECP384R1()).public_key()))
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "root",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    (inputs / "policy.json").write_text(json.dumps(policy))
    (inputs / "bad-policy.json").write_text('{"Statement": [{"Effect": "Maybe"}]}')
    grant = json.dumps({"EncryptionContextSubset": {"app": PLAINTEXT_MARKER.decode()[:8]}})
    grantee = "arn:aws:iam::111122223333:role/reader"
    artifact_sig = str(out / "plain.sig")
    bundle = str(out / "one-key.kmsv")
    backup = str(out / "vault.bak")
    session_env: Callable[[Saved], dict[str, str | None]] = lambda s: {  # noqa: E731
        "KMSCLI_SESSION": s["token"].out.strip(),
        "KMSCLI_PASSPHRASE": None,
    }
    return [
        # asymmetric signing and verification
        Step(["sign", "--key-id", keys["ecc"], "--message", marker_b64, "--signing-algorithm",
              "ECDSA_SHA_256"], 0, save="sig"),
        Step(lambda s: ["verify", "--key-id", keys["ecc"], "--message", marker_b64, "--signing-algorithm",
                        "ECDSA_SHA_256", "--signature", s["sig"].json()["Signature"]], 0),
        Step(["verify", "--key-id", keys["ecc"], "--message", marker_b64, "--signing-algorithm",
              "ECDSA_SHA_256", "--signature", "AAAA"], 254),
        Step(["sign", "--key-id", keys["ed"], "--message", marker_b64, "--signing-algorithm",
              "ED25519_SHA_512"], 0),
        Step(["sign", "--key-id", keys["mldsa"], "--message", marker_b64, "--signing-algorithm",
              "ML_DSA_SHAKE_256"], 0),
        Step(["sign", "--key-id", keys["rsa"], "--message", marker_b64, "--signing-algorithm",
              "ECDSA_SHA_256"], 254),  # wrong key usage
        Step(["sign", "--key-id", keys["ecc"], "--message", marker_b64, "--signing-algorithm",
              "ECDSA_SHA_256", "--message-type", "DIGEST"], 254),  # not a SHA-256 digest
        # RSA encryption
        Step(["encrypt", "--key-id", keys["rsa"], "--plaintext", marker_b64, "--encryption-algorithm",
              "RSAES_OAEP_SHA_256"], 0, save="rsa-ct"),
        Step(lambda s: ["decrypt", "--key-id", keys["rsa"], "--encryption-algorithm", "RSAES_OAEP_SHA_256",
                        "--ciphertext-blob", s["rsa-ct"].json()["CiphertextBlob"]], 0, plaintext_out=True),
        Step(["decrypt", "--key-id", keys["rsa"], "--encryption-algorithm", "RSAES_OAEP_SHA_256",
              "--ciphertext-blob", marker_b64], 254),
        # HMAC
        Step(["generate-mac", "--key-id", keys["hmac"], "--mac-algorithm", "HMAC_SHA_256", "--message",
              marker_b64], 0, save="mac"),
        Step(lambda s: ["verify-mac", "--key-id", keys["hmac"], "--mac-algorithm", "HMAC_SHA_256",
                        "--message", marker_b64, "--mac", s["mac"].json()["Mac"]], 0),
        Step(["verify-mac", "--key-id", keys["hmac"], "--mac-algorithm", "HMAC_SHA_256", "--message",
              marker_b64, "--mac", "AAAA"], 254),
        Step(["generate-mac", "--key-id", keys["ecc"], "--mac-algorithm", "HMAC_SHA_256", "--message",
              marker_b64], 254),
        # data key pairs
        Step(["generate-data-key-pair", "--key-id", key, "--key-pair-spec", "ECC_NIST_P256"], 0,
             plaintext_out=True),
        Step(["generate-data-key-pair", "--key-id", key, "--key-pair-spec", "RSA_2048"], 0,
             plaintext_out=True),
        Step(["generate-data-key-pair", "--key-id", keys["rsa"], "--key-pair-spec", "RSA_2048"], 254),
        Step(["generate-data-key-pair-without-plaintext", "--key-id", key, "--key-pair-spec",
              "ECC_NIST_P256"], 0),
        Step(["generate-data-key-pair", "--key-id", disabled, "--key-pair-spec", "ECC_NIST_P256"], 254),
        # key agreement and key encapsulation
        Step(["derive-shared-secret", "--key-id", keys["ecdh"], "--key-agreement-algorithm", "ECDH",
              "--public-key", f"fileb://{inputs / 'peer.der'}"], 0, plaintext_out=True),
        Step(["derive-shared-secret", "--key-id", keys["ecdh"], "--key-agreement-algorithm", "ECDH",
              "--public-key", f"fileb://{inputs / 'peer384.der'}"], 254),
        Step(["encapsulate", "--key-id", keys["kem"], "--encapsulation-algorithm", "ML_KEM"], 0,
             plaintext_out=True, save="kem"),
        Step(lambda s: ["decapsulate", "--key-id", keys["kem"], "--encapsulation-algorithm", "ML_KEM",
                        "--shared-secret-ciphertext-blob", s["kem"].json()["SharedSecretCiphertextBlob"]],
             0, plaintext_out=True),
        Step(["decapsulate", "--key-id", keys["kem"], "--encapsulation-algorithm", "ML_KEM",
              "--shared-secret-ciphertext-blob", marker_b64], 254),
        # policies and grants
        Step(["put-key-policy", "--key-id", key, "--policy", f"file://{inputs / 'policy.json'}"], 0),
        Step(["put-key-policy", "--key-id", key, "--policy", f"file://{inputs / 'bad-policy.json'}"], 254),
        Step(["get-key-policy", "--key-id", key], 0),
        Step(["create-grant", "--key-id", key, "--grantee-principal", grantee, "--retiring-principal",
              grantee, "--operations", "Decrypt", "Encrypt", "--constraints", grant], 0, save="g1"),
        Step(["create-grant", "--key-id", key, "--grantee-principal", grantee, "--operations",
              "Decrypt"], 0, save="g2"),
        Step(["create-grant", "--key-id", key, "--grantee-principal", grantee, "--operations",
              "Launch"], 254),
        Step(["list-grants", "--key-id", key], 0),
        Step(lambda s: ["retire-grant", "--grant-token", s["g1"].json()["GrantToken"]], 0),
        Step(lambda s: ["revoke-grant", "--key-id", key, "--grant-id", s["g2"].json()["GrantId"]], 0),
        Step(["revoke-grant", "--key-id", key, "--grant-id", "0" * 64], 254),
        # rotation
        Step(["enable-key-rotation", "--key-id", key, "--rotation-period-in-days", "90"], 0),
        Step(["rotate-key-on-demand", "--key-id", key], 0),
        Step(["list-key-rotations", "--key-id", key], 0),
        Step(["enable-key-rotation", "--key-id", keys["ecc"]], 254),  # asymmetric: unsupported
        Step(["rotate-key-on-demand", "--key-id", disabled], 254),
        # import
        Step(["get-parameters-for-import", "--key-id", keys["ext"], "--wrapping-algorithm",
              "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_2048"], 0, save="params"),
        Step(lambda s: ["import-key-material", "--key-id", keys["ext"], "--encrypted-key-material",
                        _wrapped_material(inputs, s), "--import-token", f"fileb://{inputs / 'token.bin'}",
                        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE"], 0),
        Step(["import-key-material", "--key-id", keys["ext"], "--encrypted-key-material", marker_b64,
              "--import-token", marker_b64], 254),
        Step(["encrypt", "--key-id", keys["ext"], "--plaintext", marker_b64], 0),
        # artifact signing
        Step(["artifact", "sign", str(inputs / "plain.bin"), "--key-id", keys["ecc"], "--signature-file",
              artifact_sig], 0),
        Step(["artifact", "verify", str(inputs / "plain.bin"), "--key-id", keys["ecc"], "--signature-file",
              artifact_sig], 0),
        Step(["artifact", "sign", str(inputs / "plain.bin"), "--key-id", keys["rsa"], "--signature-file",
              str(out / "no.sig")], 254),
        # backups and export-key bundles
        Step(["vault", "backup", "--outfile", backup], 0),
        Step(["vault", "restore", backup], 0, env={"KMSCLI_VAULT": str(out / "restored")}),
        Step(["list-keys"], 0, env={"KMSCLI_VAULT": str(out / "restored")}),
        Step(["vault", "export-key", "--key-id", key, "--outfile", bundle, *CHEAP_KDF_ARGS], 0,
             env={"KMSCLI_NEW_PASSPHRASE": BUNDLE_PASSPHRASE_MARKER}),
        Step(["encrypt", "--key-id", key, "--plaintext", marker_b64], 0,
             env={"KMSCLI_VAULT": bundle, "KMSCLI_PASSPHRASE": BUNDLE_PASSPHRASE_MARKER}),
        Step(["list-keys"], 253, env={"KMSCLI_VAULT": bundle}),  # the main vault's passphrase
        # the audit commands read back what was logged: nothing secret may come out of them either
        Step(["audit", "verify"], 0),
        Step(["audit", "tail", "--lines", "500", "--output", "json"], 0),
        Step(["audit", "stats"], 0),
        # sessions: unlock, use, lock, a stale and a malformed token
        Step(["unlock", "--raw"], 0, plaintext_out=True, save="token"),
        Step(["encrypt", "--key-id", key, "--plaintext", marker_b64], 0, env=session_env),
        Step(["decrypt", "--ciphertext-blob", keys["blob"], "--encryption-context", "app=x"], 0,
             plaintext_out=True, env=session_env),
        Step(["lock"], 0),
        Step(["encrypt", "--key-id", key, "--plaintext", marker_b64], 253, env=session_env),
        Step(["encrypt", "--key-id", key, "--plaintext", marker_b64, "--debug"], 253, env=session_env),
        Step(["list-keys"], 253, env={"KMSCLI_SESSION": "kms1_" + "A" * 43, "KMSCLI_PASSPHRASE": None}),
    ]  # fmt: skip


def _run(step: Step, monkeypatch: pytest.MonkeyPatch, saved: Saved | None = None) -> CliResult:
    saved = {} if saved is None else saved
    step.argv = step.args(saved) if callable(step.args) else step.args
    env = step.env(saved) if callable(step.env) else step.env
    with monkeypatch.context() as patch:
        for name, value in (env or {}).items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        res = run_cli(step.argv, stdin=step.stdin)
    if step.save:
        saved[step.save] = res
    return res


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
    keys = {"key": key, "disabled": disabled, "blob": blob}
    for name, spec, usage in (
        ("ecc", "ECC_NIST_P256", "SIGN_VERIFY"),
        ("ed", "ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
        ("mldsa", "ML_DSA_44", "SIGN_VERIFY"),
        ("rsa", "RSA_2048", "ENCRYPT_DECRYPT"),
        ("hmac", "HMAC_256", "GENERATE_VERIFY_MAC"),
        ("ecdh", "ECC_NIST_P256", "KEY_AGREEMENT"),
        ("kem", "ML_KEM_768", "ENCAPSULATE_DECAPSULATE"),
    ):
        res = run_cli(["create-key", "--key-spec", spec, "--key-usage", usage])
        assert res.code == 0, (spec, res.err)
        keys[name] = res.json()["KeyMetadata"]["KeyId"]
    keys["ext"] = run_cli(["create-key", "--origin", "EXTERNAL"]).json()["KeyMetadata"]["KeyId"]
    out_dir = tmp_path / "out"  # backups, bundles and signatures kmscli writes: scanned
    out_dir.mkdir()

    steps = _steps(inputs, key, disabled, blob)
    split = next(i for i, s in enumerate(steps) if s.args[:2] == ["vault", "change-passphrase"])
    steps[split:split] = _merged_steps(inputs, out_dir, keys)
    # a session opened under the new passphrase stays open, so its file is scanned below
    steps.append(Step(["unlock", "--raw"], 0, plaintext_out=True, save="token2",
                      env={"KMSCLI_PASSPHRASE": NEW_PASSPHRASE_MARKER}))  # fmt: skip
    saved: Saved = {}
    for step in steps:
        res = _run(step, monkeypatch, saved)
        assert res.code == step.expect, (step.argv, res.code, res.err)
        assert "Traceback" not in res.err or "--debug" in step.argv, (step.argv, res.err)
        results.append((step, res))

    # the plaintexts the service handed out (data keys, random bytes, shared secrets, private keys)
    # and the session tokens are secrets too
    secrets = [
        PLAINTEXT_MARKER,
        MATERIAL_MARKER,
        PASSPHRASE_MARKER.encode(),
        NEW_PASSPHRASE_MARKER.encode(),
        WRONG_PASSPHRASE_MARKER.encode(),
        BUNDLE_PASSPHRASE_MARKER.encode(),
        saved["token"].out.strip().encode(),
        saved["token2"].out.strip().encode(),
    ]
    for step, res in results:
        if step.plaintext_out and res.code == 0 and res.out.startswith("{"):
            doc = res.json()
            secrets += [base64.b64decode(doc[m]) for m in SECRET_MEMBERS if m in doc]
    assert len([p for p in (env.parent / "run").rglob("*.json")]) == 1  # the open session's file
    # and so is every key's raw material
    from kmscli.vault.store import Vault

    unlocked = Vault.open(env).unlock(NEW_PASSPHRASE_MARKER.encode())
    for key_id in unlocked.list_key_ids("us-east-1"):
        record = unlocked.load_key("us-east-1", key_id)
        assert record is not None
        for item in record["Materials"]:
            if item.get("Wrapped"):
                secrets.append(
                    unlocked.unwrap_material(record["Arn"], item["KeyMaterialId"], item["Wrapped"])
                )
        for params in record.get("ImportParameters", []):  # wrapping private keys of import tokens
            secrets.append(
                unlocked.unwrap_material(record["Arn"], "import-" + params["TokenId"], params["Wrapped"])
            )
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
                    leaks.append(f"{' '.join(step.argv[:2])} {stream}: {secret[:12]!r} as {form[:16]!r}")
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
    assert res.code == 255  # the AWS CLI v2's code for InvalidBase64Error
    assert "my secret" not in res.err and "Invalid base64" in res.err and "--plaintext" in res.err
