"""Start-up stays lean: a plain encrypt imports no module it does not use (see bench/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

#: Imported by nothing on the encrypt path once the lazy imports are in place; each costs start-up.
UNNEEDED = (
    "tomllib",
    "subprocess",
    "zipfile",
    "tempfile",
    "importlib.resources",
    # operation modules other than Encrypt's (service/pipeline/registry.py loads them on demand)
    "kmscli.service.operations.asymmetric",
    "kmscli.crypto.asymmetric",
    "kmscli.service.operations.grants",
    "kmscli.service.operations.importing",
    "kmscli.service.operations.rotation",
    "kmscli.service.operations.aliases",
    # the record TypedDicts exist for mypy: building their classes costs ~2 ms, so they are imported
    # only under TYPE_CHECKING (kmscli/vault/records.py)
    "kmscli.vault.records",
    "cryptography.hazmat.primitives.serialization",
    # dataclasses pulls in inspect, ast and dis; hashlib loads a second OpenSSL (kmscli/crypto/primitives.py)
    "dataclasses",
    "inspect",
    "hashlib",
    "hmac",
    # AES-GCM comes from the Rust binding (kmscli/crypto/primitives.py), not the ciphers package
    "cryptography.hazmat.primitives.ciphers",
    # paths are strings on the hot path (kmscli/vault/fs.py): pathlib loads urllib.parse and ipaddress
    "pathlib",
    "urllib.parse",
    "ipaddress",
)

#: An ECDSA signature needs the EC code of cryptography, not every key family's nor serialization's.
UNNEEDED_FOR_ECDSA = (
    "dataclasses",
    "hashlib",
    "cryptography.hazmat.primitives.serialization",
    "cryptography.hazmat.primitives.asymmetric.mldsa",
    "cryptography.hazmat.primitives.asymmetric.mlkem",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
    "cryptography.hazmat.primitives.asymmetric.rsa",
    # ec.ECDSA() would import it (and every cipher); kmscli.crypto.asymmetric.ecdsa() does not
    "cryptography.hazmat.backends.openssl.backend",
    "cryptography.hazmat.primitives.ciphers",
    "kmscli.service.operations.grants",
    "pathlib",
    "urllib.parse",
    "ipaddress",
)

PROBE = """
import io, json, sys
from contextlib import redirect_stdout
from kmscli.__main__ import main
out = io.StringIO()
with redirect_stdout(out):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _probe(args: list[str]) -> dict[str, Any]:
    """Run PROBE in a fresh interpreter without ``site`` (-S), this process's sys.path given explicitly.

    Without -S, a ``.pth`` hook would load modules before kmscli starts: the editable install that
    `make test` uses imports pathlib (with urllib.parse and ipaddress) that way; a regular install
    does not, and the list must show what kmscli itself imports.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), *filter(None, sys.path)])
    proc = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_encrypt_imports_nothing_it_does_not_use(kms: Any, vault: Path) -> None:
    key_id = kms("CreateKey")["KeyMetadata"]["KeyId"]
    result = _probe(["encrypt", "--key-id", key_id, "--plaintext", "aGk="])
    assert result["code"] == 0 and "CiphertextBlob" in json.loads(result["out"])
    assert sorted(set(UNNEEDED) & set(result["modules"])) == []


def test_ecdsa_sign_imports_only_the_ec_code(kms: Any, vault: Path) -> None:
    key_id = kms("CreateKey", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    args = ["sign", "--key-id", key_id, "--message", "aGk=", "--signing-algorithm", "ECDSA_SHA_256"]
    result = _probe(args)
    assert result["code"] == 0 and "Signature" in json.loads(result["out"])
    assert sorted(set(UNNEEDED_FOR_ECDSA) & set(result["modules"])) == []


def test_session_encrypt_and_sign_import_no_pathlib(
    kms: Any, cli: Any, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With KMSCLI_SESSION (the benchmarked case) kmscli.vault.sessions joins the path: no pathlib either."""
    key_id = kms("CreateKey")["KeyMetadata"]["KeyId"]
    ecc = kms("CreateKey", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("KMSCLI_SESSION", cli("unlock", "--raw").out.strip())
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    encrypted = _probe(["encrypt", "--key-id", key_id, "--plaintext", "aGk="])
    signed = _probe(["sign", "--key-id", ecc, "--message", "aGk=", "--signing-algorithm", "ECDSA_SHA_256"])
    for result in (encrypted, signed):
        assert result["code"] == 0 and "kmscli.vault.sessions" in result["modules"]
        assert sorted({"pathlib", "urllib.parse", "ipaddress"} & set(result["modules"])) == []


def test_the_private_key_loader_is_the_one_serialization_exports() -> None:
    """crypto/asymmetric.py reaches the loader without importing serialization: it must be the same."""
    from cryptography.hazmat.primitives import serialization

    from kmscli.crypto.asymmetric import der_private_key_loader

    assert der_private_key_loader() is serialization.load_der_private_key


def test_the_aesgcm_class_is_the_one_the_aead_module_exports() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from kmscli.crypto.primitives import aesgcm_class

    assert aesgcm_class() is AESGCM


def test_version_imports_nothing_of_kmscli_beyond_its_entry_point() -> None:
    result = _probe(["--version"])
    assert result["code"] == 0 and result["out"].startswith("kmscli ")
    assert "typing" not in result["modules"] and "kmscli.errors" not in result["modules"]


def test_a_config_file_is_still_read(vault: Path, tmp_path: Path, monkeypatch: Any) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[default]\nregion = "eu-west-1"\n')
    monkeypatch.setenv("KMSCLI_CONFIG", str(config))
    result = _probe(["create-key", "--query", "KeyMetadata.Arn", "--output", "text"])
    assert result["code"] == 0 and ":eu-west-1:" in result["out"]
    assert "tomllib" in result["modules"]


def test_a_malformed_config_file_is_exit_253(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[default\n")
    monkeypatch.setenv("KMSCLI_CONFIG", str(config))
    res = cli("list-keys")
    assert res.code == 253 and "malformed config file" in res.err and "Traceback" not in res.err


def _console(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kmscli`` as a user's shell does (the console script's path, with its exit)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run(
        [sys.executable, "-m", "kmscli", *args], text=True, env=env, timeout=60, check=False, **kwargs
    )


def test_the_fast_exit_still_delivers_all_output(kms: Any, vault: Path, tmp_path: Path) -> None:
    """After a fast-path command the process skips interpreter teardown: nothing may be lost."""
    key_id = kms("CreateKey")["KeyMetadata"]["KeyId"]
    plaintext = tmp_path / "p.bin"
    plaintext.write_bytes(os.urandom(4096))
    args = ["encrypt", "--key-id", key_id, "--plaintext", f"fileb://{plaintext}"]
    piped = _console(args, capture_output=True)
    assert piped.returncode == 0 and piped.stderr == ""
    blob = json.loads(piped.stdout)["CiphertextBlob"]
    out = tmp_path / "out.json"
    with out.open("w") as handle:
        to_file = _console([*args, "--query", "CiphertextBlob", "--output", "text"], stdout=handle)
    assert to_file.returncode == 0 and len(out.read_text().strip()) == len(blob)
    failed = _console(["encrypt", "--key-id", "alias/missing", "--plaintext", "aGk="], capture_output=True)
    assert failed.returncode == 254 and "NotFoundException" in failed.stderr and failed.stdout == ""


#: Not imported by an indexed audit query on the fast path (cli/fastpath.py, cli/auditquery.py).
UNNEEDED_FOR_AUDIT_QUERY = (
    *(name for name in UNNEEDED if name != "tomllib"),  # the test's config file seals small segments
    "click",
    "rich",
    "kmscli.cli.audit_cmds",
    "kmscli.audit.verify",
    "kmscli.service.pipeline.core",
    "jmespath",
    "shutil",
)


def test_an_indexed_audit_query_imports_no_click_pathlib_or_pipeline(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kmscli audit ...`` with a session (bench/audit_scale.py's indexed case) runs on the fast
    path: the audit log is read through its authenticated index with only what that needs."""
    (tmp_path / "config.toml").write_text("[default]\naudit_segment_bytes = 4096\n")
    key = cli("create-key", "--query", "KeyMetadata.KeyId", "--output", "text").out.strip()
    for i in range(6):
        assert (
            cli("encrypt", "--key-id", key, "--plaintext", "aGk=", "--encryption-context", f"o=v{i}").code
            == 0
        )
    monkeypatch.setenv("KMSCLI_SESSION", cli("unlock", "--raw").out.strip())
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    result = _probe(["audit", "--event-name", "Encrypt", "--encryption-context", "o=v1", "--output", "jsonl"])
    assert result["code"] == 0 and len(result["out"].splitlines()) == 1
    assert "kmscli.audit.index" in result["modules"]  # the index was used
    assert sorted(set(UNNEEDED_FOR_AUDIT_QUERY) & set(result["modules"])) == []
