"""Export into AWS KMS: opt-in at creation, wrapping for AWS's import, audited; vault-to-vault round trip."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kmscli import errors
from kmscli.crypto import keywrap
from kmscli.invocation import Sources
from tests.conftest import PASSPHRASE
from tests.helpers import CHEAP_KDF, FakeClock, FakeRandom, assert_output_shape


def stored_material(service: Any, key_id: str) -> bytes:
    """The current raw material of a key, read the way operations read it (test-only peek)."""
    from kmscli.service.operations.common import current_material
    from kmscli.service.pipeline.core import Call
    from kmscli.service.pipeline.registry import load_all

    OPERATIONS = load_all()

    call = Call(service, OPERATIONS["DescribeKey"], {}, service.clock())
    with service.vault.lock(exclusive=False):
        return current_material(call, call.resolve(key_id))[1]


@pytest.fixture
def other_vault(tmp_path: Path, clock: FakeClock) -> Callable[..., dict[str, Any]]:
    """A second, independent vault (vault B) with its own service context."""
    from kmscli.service.features.session import context_for
    from kmscli.service.pipeline.core import invoke, system_random
    from kmscli.settings import load_settings
    from kmscli.vault.store import Vault

    path = tmp_path / "vault-b"
    Vault.create(path, PASSPHRASE.encode(), CHEAP_KDF, system_random, "2026-01-15T12:00:00+00:00")
    ctx = context_for(Vault.open(path).unlock(PASSPHRASE.encode()), load_settings({}, os.environ), Sources())
    ctx.clock = clock
    ctx.random = FakeRandom(99)

    def call(op: str, **request: Any) -> dict[str, Any]:
        if op == "__service__":
            return {"ctx": ctx}
        return invoke(ctx, op, request)

    return call


def _migrate(kms: Any, vault_b: Any, key_id: str, algorithm: str, **create: Any) -> str:
    """A exports ``key_id`` into a new EXTERNAL key of B, exactly as into AWS KMS."""
    meta = kms("DescribeKey", KeyId=key_id)["KeyMetadata"]
    target = vault_b(
        "CreateKey", Origin="EXTERNAL", KeySpec=meta["KeySpec"], KeyUsage=meta["KeyUsage"], **create
    )
    b_key = target["KeyMetadata"]["KeyId"]
    params = vault_b(
        "GetParametersForImport", KeyId=b_key, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_3072"
    )
    out = kms(
        "ExportKeyMaterial", KeyId=key_id, WrappingPublicKey=params["PublicKey"], WrappingAlgorithm=algorithm
    )
    assert out["KeySpec"] == meta["KeySpec"] and out["KeyUsage"] == meta["KeyUsage"]
    vault_b(
        "ImportKeyMaterial",
        KeyId=b_key,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=out["EncryptedKeyMaterial"],
    )
    return b_key


def test_symmetric_export_round_trip(kms: Any, service: Any, other_vault: Any) -> None:
    key = kms("CreateKey", Exportable=True)["KeyMetadata"]
    assert key["KmscliExportable"] is True
    b_key = _migrate(kms, other_vault, key["KeyId"], "RSAES_OAEP_SHA_256")
    assert stored_material(other_vault("__service__")["ctx"], b_key) == stored_material(service, key["KeyId"])


def test_signing_key_round_trip_public_key_and_signatures(
    kms: Any, service: Any, other_vault: Any, monkeypatch: pytest.MonkeyPatch
) -> None:

    key = kms("CreateKey", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY", Exportable=True)["KeyMetadata"][
        "KeyId"
    ]
    b_key = _migrate(kms, other_vault, key, "RSA_AES_KEY_WRAP_SHA_256")
    a_priv = serialization.load_der_private_key(stored_material(service, key), None)
    b_priv = serialization.load_der_private_key(
        stored_material(other_vault("__service__")["ctx"], b_key), None
    )
    assert isinstance(a_priv, rsa.RSAPrivateKey) and isinstance(b_priv, rsa.RSAPrivateKey)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert b_priv.public_key().public_bytes(*spki) == a_priv.public_key().public_bytes(*spki)
    signature = a_priv.sign(b"release-1.0.tar.gz", padding.PKCS1v15(), hashes.SHA256())
    b_priv.public_key().verify(signature, b"release-1.0.tar.gz", padding.PKCS1v15(), hashes.SHA256())
    assert (
        other_vault("GetPublicKey", KeyId=b_key)["PublicKey"] == kms("GetPublicKey", KeyId=key)["PublicKey"]
    )
    sig = kms("Sign", KeyId=key, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    verified = other_vault(
        "Verify", KeyId=b_key, Message=b"m", Signature=sig, SigningAlgorithm="RSASSA_PSS_SHA_256"
    )
    assert verified["SignatureValid"] is True


def test_export_is_refused_without_opt_in_and_on_disabled_keys(kms: Any, other_vault: Any) -> None:
    plain = kms("CreateKey")["KeyMetadata"]
    assert "KmscliExportable" not in plain
    public = keywrap.public_der(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(errors.UnsupportedOperationException, match="not exportable"):
        kms(
            "ExportKeyMaterial",
            KeyId=plain["KeyId"],
            WrappingPublicKey=public,
            WrappingAlgorithm="RSAES_OAEP_SHA_256",
        )
    key = kms("CreateKey", Exportable=True)["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.ValidationException, match="WrappingPublicKey"):
        kms("ExportKeyMaterial", KeyId=key, WrappingPublicKey=b"junk", WrappingAlgorithm="RSAES_OAEP_SHA_256")
    with pytest.raises(errors.ValidationException, match="not supported"):
        kms("ExportKeyMaterial", KeyId=key, WrappingPublicKey=public, WrappingAlgorithm="RSAES_PKCS1_V1_5")
    kms("DisableKey", KeyId=key)
    with pytest.raises(errors.DisabledException):
        kms("ExportKeyMaterial", KeyId=key, WrappingPublicKey=public, WrappingAlgorithm="RSAES_OAEP_SHA_256")


def test_cli_export_to_outfile_is_audited_without_material(cli: Any, tmp_path: Path, vault: Path) -> None:
    created = cli("create-key", "--exportable", "--description", "leaving")
    assert created.code == 0, created.err
    assert_output_shape("CreateKey", created.json())
    key = created.json()["KeyMetadata"]["KeyId"]
    described = cli("describe-key", "--key-id", key)
    assert described.json()["KeyMetadata"]["KmscliExportable"] is True
    assert_output_shape("DescribeKey", described.json())
    wrapping = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "PublicKey.bin").write_bytes(keywrap.public_der(wrapping))
    out = tmp_path / "EncryptedKeyMaterial.bin"
    res = cli(
        "export-key-material", "--key-id", key, "--wrapping-public-key", f"fileb://{tmp_path / 'PublicKey.bin'}",
        "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--outfile", str(out),
    )  # fmt: skip
    assert res.code == 0, res.err
    shown = res.json()
    assert "EncryptedKeyMaterial" not in shown and shown["KeyId"].endswith(key)
    raw = keywrap.unwrap(wrapping, "RSAES_OAEP_SHA_256", out.read_bytes())
    assert len(raw) == 32
    events = [json.loads(x) for p in (vault / "audit").glob("*.jsonl") for x in p.read_text().splitlines()]
    create = [e for e in events if e["eventName"] == "CreateKey" and key in json.dumps(e["responseElements"])]
    assert create[0]["requestParameters"]["exportable"] is True
    export = [e for e in events if e["eventName"] == "ExportKeyMaterial"]
    assert len(export) == 1 and export[0]["readOnly"] is False
    assert export[0]["additionalEventData"]["exportedKeyMaterialId"] == shown["KeyMaterialId"]
    log = "".join(p.read_text() for p in (vault / "audit").glob("*.jsonl"))
    assert (
        base64.b64encode(raw).decode() not in log and base64.b64encode(out.read_bytes()).decode() not in log
    )
    refused = cli("export-key-material", "--key-id", cli("create-key").json()["KeyMetadata"]["KeyId"],
                  "--wrapping-public-key", f"fileb://{tmp_path / 'PublicKey.bin'}",
                  "--wrapping-algorithm", "RSAES_OAEP_SHA_256")  # fmt: skip
    assert refused.code == 254
    assert "(UnsupportedOperationException) when calling the ExportKeyMaterial operation" in refused.err


def test_exportable_cannot_be_added_later(cli: Any) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    res = cli("update-key-description", "--key-id", key, "--exportable")
    assert res.code == 252
