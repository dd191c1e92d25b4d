"""Start-up stays lean: a plain encrypt imports no module it does not use (see bench/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

#: Imported by nothing on the encrypt path once the lazy imports are in place; each costs start-up.
UNNEEDED = (
    "tomllib",
    "subprocess",
    "zipfile",
    "tempfile",
    "importlib.resources",
    # operation modules other than Encrypt's (service/registry.py loads them on demand)
    "kmscli.service.asymmetric",
    "kmscli.crypto.asymmetric",
    "kmscli.service.grants",
    "kmscli.service.importing",
    "kmscli.service.rotation",
    "kmscli.service.aliases",
    "cryptography.hazmat.primitives.serialization",
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return result


def test_encrypt_imports_nothing_it_does_not_use(kms: Any, vault: Path) -> None:
    key_id = kms("CreateKey")["KeyMetadata"]["KeyId"]
    result = _probe(["encrypt", "--key-id", key_id, "--plaintext", "aGk="])
    assert result["code"] == 0 and "CiphertextBlob" in json.loads(result["out"])
    assert sorted(set(UNNEEDED) & set(result["modules"])) == []


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
