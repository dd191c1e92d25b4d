"""Test vectors for every file format (tests/vectors/, written by tools/gen_format_vectors.py).

Three readers must agree on every vector: the independent checker (tests/vectors/check.py, which
works from the documents alone), kmscli's own readers, and the generator, which must still write
exactly the committed files (so a format change shows up as a vector diff: run ``make vectors``).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from kmscli.errors import VaultEnvironmentError

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"


def _module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


check = _module(VECTORS / "check.py", "kmscli_vector_check")
CASES = [
    (name, kind, i)
    for name in check.NAMES
    for kind in ("valid", "invalid")
    for i in range(len(check.load(name)[kind]))
]


def _id(case: tuple[str, str, int]) -> str:
    name, kind, i = case
    vector = check.load(name)[kind][i]
    return f"{name}-{vector['label'] if kind == 'invalid' else 'valid'}-{i}"


def test_every_format_has_every_kind_of_bad_vector() -> None:
    labels = {"tampered", "truncated", "other-vault", "wrong-version"}
    for name in check.NAMES:
        doc = check.load(name)
        assert doc["valid"], name
        found = {v["label"] for v in doc["invalid"]}
        # the audit chain has no version of its own: the events' eventVersion is CloudTrail's
        assert found == (labels - {"wrong-version"} if name == "audit" else labels), name


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_independent_checker(case: tuple[str, str, int]) -> None:
    name, kind, i = case
    doc = check.load(name)
    if kind == "valid":
        check.check_valid(name, doc["valid"][i], doc)
    else:
        assert check.check_invalid(name, doc["invalid"][i], doc)


# -- kmscli's own readers ------------------------------------------------------------------------


def _vault_folder(tmp: Path) -> Path:
    """A vault folder holding the header vector (for the files that belong to it)."""
    folder = tmp / "vault"
    folder.mkdir()
    (folder / "vault.json").write_text(check.load("header")["valid"][0]["file"])
    return folder


def _kmscli_reads(name: str, vector: dict[str, Any], doc: dict[str, Any], tmp: Path) -> None:
    """Read ``vector`` with kmscli; raises VaultEnvironmentError (exit 253) when kmscli refuses it."""
    from kmscli.vault import archive, sessions
    from kmscli.vault.store import Vault

    if name == "header":
        folder = tmp / "vault"
        folder.mkdir()
        (folder / "vault.json").write_text(vector["file"])
        try:
            unlocked = Vault.open(folder).unlock(doc["passphrase"].encode())
        except ValueError as exc:  # the file is not JSON
            raise VaultEnvironmentError(str(exc)) from None
        assert unlocked.vault_key.hex() == vector["vault_key_hex"]
    elif name == "authenticated":
        folder = _vault_folder(tmp)
        unlocked = Vault.open(folder).unlock_with_vault_key(bytes.fromhex(doc["vault_key_hex"]))
        path = folder / vector["rel"]
        path.parent.mkdir(parents=True)
        path.write_text(vector["file"])
        data = unlocked.read_authenticated(vector["rel"], "file")
        for entry in data.get("Materials", []) if isinstance(data, dict) else []:
            raw = unlocked.unwrap_material(vector["key_arn"], entry["KeyMaterialId"], entry["Wrapped"])
            assert raw.hex() == vector["materials_hex"][entry["KeyMaterialId"]]
    elif name == "audit":
        from kmscli.audit.verify import verify_log
        from kmscli.vault.store import subkey

        folder = tmp / "audit"
        folder.mkdir()
        for segment, text in vector["segments"].items():
            (folder / segment).write_text(text)
        report = verify_log(folder, subkey(bytes.fromhex(doc["vault_key_hex"]), "audit-chain"))
        if not report.ok:
            raise VaultEnvironmentError(str(report.problem or report.torn))
        assert report.events == vector["events"]
    elif name == "session":
        os.environ["XDG_RUNTIME_DIR"] = str(tmp / "run")
        folder = Path(sessions.sessions_dir(doc["vault_id"]))
        for level in (*reversed(folder.relative_to(tmp).parents[:-1]), folder.relative_to(tmp)):
            (tmp / level).mkdir(mode=0o700)  # the runtime folders must be private (docs/security.md)
        path = folder / vector["name"]
        path.write_text(vector["file"])
        path.chmod(0o600)
        now = dt.datetime.fromisoformat(doc["now"])
        assert sessions.open_session(doc["vault_id"], doc["token"], now).hex() == vector["vault_key_hex"]
    else:
        path = tmp / f"{name}.kmscli"
        path.write_text(vector["file"])
        opened = archive.ArchiveFile.open(path).unlock(doc["passphrase"].encode())
        assert opened.vault_key.hex() == vector["vault_key_hex"]
        assert sorted(opened.files) == vector["files"]
        key_rel = next(rel for rel in vector["files"] if rel.startswith("keys/"))
        region, key_file = key_rel.split("/")[1:]
        record = opened.load_key(region, key_file.removesuffix(".json"))
        assert record is not None
        for entry in record["Materials"]:
            raw = opened.unwrap_material(vector["key_arn"], entry["KeyMaterialId"], entry["Wrapped"])
            assert raw.hex() == vector["materials_hex"][entry["KeyMaterialId"]]


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_kmscli_agrees(case: tuple[str, str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name, kind, i = case
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    doc = check.load(name)
    if kind == "valid":
        _kmscli_reads(name, doc["valid"][i], doc, tmp_path)
    else:
        with pytest.raises(VaultEnvironmentError):  # exit 253, the file named, never used
            _kmscli_reads(name, {**doc["valid"][0], **doc["invalid"][i]}, doc, tmp_path)


def test_generator_writes_the_committed_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = _module(ROOT / "tools" / "gen_format_vectors.py", "kmscli_gen_format_vectors")
    stale = [
        name
        for name, vector in gen.generate().items()
        if gen.render(vector) != (VECTORS / f"{name}.json").read_text()
    ]
    assert not stale, f"the formats changed: run `make vectors` and commit the diff ({', '.join(stale)})"


def test_vector_files_are_what_render_writes() -> None:
    for name in check.NAMES:
        text = (VECTORS / f"{name}.json").read_text()
        assert json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False) + "\n" == text


def test_independent_checker_reads_the_blob_vectors() -> None:
    """The ciphertext blob's own vectors (tools/gen_vectors.py), read from docs/format.md section 2."""
    doc = json.loads((ROOT / "tests" / "unit" / "crypto" / "vectors" / "blob-v1.json").read_text())
    for vector in doc["positive"]:
        materials = {vector["material_id_hex"]: bytes.fromhex(vector["material_hex"])}
        key_id, plaintext = check.open_blob(
            bytes.fromhex(vector["blob_hex"]), materials, vector["encryption_context"]
        )
        assert (key_id, plaintext.hex()) == (vector["key_id"], vector["plaintext_hex"])
    material_id = doc["positive"][0]["material_id_hex"]
    for vector in doc["negative"]:
        with pytest.raises(check.Invalid):
            check.open_blob(
                bytes.fromhex(vector["blob_hex"]),
                {material_id: bytes.fromhex(vector["material_hex"])},
                vector["encryption_context"],
            )
