"""Key import (BYOK), following AWS's documented openssl commands, plus every failure path."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from kmscli import errors
from kmscli.crypto import keywrap
from tests.helpers import FakeClock, assert_output_shape

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _wrap_like_aws_docs(tmp: Path, public_key: bytes, material: bytes, algorithm: str) -> bytes:
    """Wrap key material with exactly the openssl commands of AWS's "Encrypt key material" page."""
    (tmp / "PublicKey.bin").write_bytes(public_key)
    (tmp / "PlaintextKeyMaterial.bin").write_bytes(material)
    md = "sha256" if algorithm.endswith("SHA_256") else "sha1"
    oaep = [
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        f"rsa_oaep_md:{md}",
        "-pkeyopt",
        f"rsa_mgf1_md:{md}",
    ]
    if algorithm.startswith("RSAES_OAEP"):
        _openssl(
            "pkeyutl", "-encrypt", "-in", str(tmp / "PlaintextKeyMaterial.bin"),
            "-out", str(tmp / "EncryptedKeyMaterial.bin"), "-inkey", str(tmp / "PublicKey.bin"),
            "-keyform", "DER", "-pubin", *oaep,
        )  # fmt: skip
    else:
        _openssl("rand", "-out", str(tmp / "aes-key.bin"), "32")
        aes_hex = (tmp / "aes-key.bin").read_bytes().hex()
        _openssl(
            "enc", "-id-aes256-wrap-pad", "-K", aes_hex, "-iv", "A65959A6",
            "-in", str(tmp / "PlaintextKeyMaterial.bin"), "-out", str(tmp / "key-material-wrapped.bin"),
        )  # fmt: skip
        _openssl(
            "pkeyutl", "-encrypt", "-in", str(tmp / "aes-key.bin"), "-out", str(tmp / "aes-key-wrapped.bin"),
            "-inkey", str(tmp / "PublicKey.bin"), "-keyform", "DER", "-pubin", *oaep,
        )  # fmt: skip
        (tmp / "EncryptedKeyMaterial.bin").write_bytes(
            (tmp / "aes-key-wrapped.bin").read_bytes() + (tmp / "key-material-wrapped.bin").read_bytes()
        )
    return (tmp / "EncryptedKeyMaterial.bin").read_bytes()


def _wrap(public_key: bytes, material: bytes, algorithm: str) -> bytes:
    """The same wrapping in Python (fast path for tests that are not about openssl)."""
    return keywrap.wrap(keywrap.load_public_key(public_key), algorithm, material, b"\x07" * 32)


def _import(kms: Any, key: str, material: bytes, algorithm: str = "RSAES_OAEP_SHA_256", **extra: Any) -> Any:
    params = kms("GetParametersForImport", KeyId=key, WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_2048")
    return kms(
        "ImportKeyMaterial",
        KeyId=key,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=_wrap(params["PublicKey"], material, algorithm),
        **extra,
    )


# -- the AWS-documented openssl path through the CLI ----------------------------------------------


@needs_openssl
@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_256", "RSAES_OAEP_SHA_1"])
def test_byok_with_openssl_as_aws_documents(cli: Any, tmp_path: Path, algorithm: str) -> None:
    created = cli("create-key", "--origin", "EXTERNAL", "--description", "byok")
    assert created.code == 0, created.err
    meta = created.json()["KeyMetadata"]
    assert meta["KeyState"] == "PendingImport" and meta["Origin"] == "EXTERNAL"
    key = meta["KeyId"]
    params = cli(
        "get-parameters-for-import", "--key-id", key,
        "--wrapping-algorithm", algorithm, "--wrapping-key-spec", "RSA_2048",
    )  # fmt: skip
    assert params.code == 0, params.err
    assert_output_shape("GetParametersForImport", params.json())
    (tmp_path / "ImportToken.bin").write_bytes(base64.b64decode(params.json()["ImportToken"]))
    material = bytes(range(32))
    wrapped = _wrap_like_aws_docs(tmp_path, base64.b64decode(params.json()["PublicKey"]), material, algorithm)
    assert wrapped == (tmp_path / "EncryptedKeyMaterial.bin").read_bytes()
    res = cli(
        "import-key-material", "--key-id", key,
        "--encrypted-key-material", f"fileb://{tmp_path / 'EncryptedKeyMaterial.bin'}",
        "--import-token", f"fileb://{tmp_path / 'ImportToken.bin'}",
        "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE",
    )  # fmt: skip
    assert res.code == 0, res.err
    assert_output_shape("ImportKeyMaterial", res.json())
    assert cli("describe-key", "--key-id", key).json()["KeyMetadata"]["KeyState"] == "Enabled"
    enc = cli("encrypt", "--key-id", key, "--plaintext", base64.b64encode(b"hello").decode())
    assert enc.code == 0, enc.err
    dec = cli("decrypt", "--ciphertext-blob", enc.json()["CiphertextBlob"])
    assert base64.b64decode(dec.json()["Plaintext"]) == b"hello"
    assert dec.json()["KeyMaterialId"] == res.json()["KeyMaterialId"]


@needs_openssl
def test_byok_rsa_private_key_from_openssl(kms: Any, tmp_path: Path) -> None:
    subprocess.run(
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
        f"| openssl pkcs8 -topk8 -outform der -nocrypt > {tmp_path / 'PrivateKey.der'}",
        shell=True,
        check=True,
        capture_output=True,
    )
    der = (tmp_path / "PrivateKey.der").read_bytes()
    key = kms("CreateKey", Origin="EXTERNAL", KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    params = kms(
        "GetParametersForImport", KeyId=key["KeyId"], WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256",
        WrappingKeySpec="RSA_4096",
    )  # fmt: skip
    wrapped = _wrap_like_aws_docs(tmp_path, params["PublicKey"], der, "RSA_AES_KEY_WRAP_SHA_256")
    kms(
        "ImportKeyMaterial",
        KeyId=key["KeyId"],
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapped,
    )
    assert kms("DescribeKey", KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    _assert_stored_private_key(kms, key["KeyId"], der)


def _assert_stored_private_key(kms: Any, key_id: str, der: bytes) -> None:
    """The vault holds the imported key as unencrypted PKCS#8 DER (the asymmetric stored form)."""
    from kmscli.service.operations.common import current_material

    stored: dict[str, bytes] = {}

    def grab(call: Any) -> dict[str, Any]:
        record = call.resolve(key_id)
        stored["raw"] = current_material(call, record)[1]
        return {}

    from kmscli.service.pipeline import registry

    saved = registry.load("DescribeKey")
    assert saved is not None
    registry.OPERATIONS["DescribeKey"] = registry.Operation("DescribeKey", grab, False, True)
    try:
        kms("DescribeKey", KeyId=key_id)
    finally:
        registry.OPERATIONS["DescribeKey"] = saved
    expected = serialization.load_der_private_key(der, None)
    got = serialization.load_der_private_key(stored["raw"], None)
    assert got.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == expected.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert stored["raw"] == got.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_byok_ecc_private_key_with_oaep(kms: Any) -> None:
    der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = kms("CreateKey", Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    _import(kms, key["KeyId"], der, "RSAES_OAEP_SHA_256")
    _assert_stored_private_key(kms, key["KeyId"], der)


def test_private_key_of_the_wrong_spec_is_refused(kms: Any) -> None:
    der = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = kms("CreateKey", Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(errors.IncorrectKeyMaterialException, match="ECC_NIST_P256"):
        _import(kms, key["KeyId"], der)
    with pytest.raises(errors.IncorrectKeyMaterialException, match="PKCS#8"):
        _import(kms, key["KeyId"], b"not a key at all")


@needs_openssl
@pytest.mark.parametrize(
    ("spec", "genpkey", "traditional"),
    [
        ("RSA_2048", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], ["rsa", "-traditional"]),
        ("ECC_NIST_P256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], ["ec"]),
    ],
)
def test_private_keys_must_be_pkcs8_as_aws_requires(
    kms: Any, tmp_path: Path, spec: str, genpkey: list[str], traditional: list[str]
) -> None:
    """AWS takes asymmetric key material only as PKCS#8 ("Requirements for imported key material"):
    the same openssl key as PKCS#1 (RSA) or SEC1 (EC) DER is IncorrectKeyMaterialException, and as
    `openssl pkcs8 -topk8 -outform der -nocrypt` (AWS's recipe) it is accepted."""
    pem = tmp_path / "key.pem"
    _openssl("genpkey", *genpkey, "-out", str(pem))
    _openssl(
        traditional[0], "-in", str(pem), *traditional[1:], "-outform", "DER", "-out", str(tmp_path / "t.der")
    )
    _openssl(
        "pkcs8", "-topk8", "-nocrypt", "-in", str(pem), "-outform", "DER", "-out", str(tmp_path / "p8.der")
    )
    legacy, pkcs8 = (tmp_path / "t.der").read_bytes(), (tmp_path / "p8.der").read_bytes()
    assert legacy != pkcs8
    key = kms("CreateKey", Origin="EXTERNAL", KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.IncorrectKeyMaterialException, match="PKCS#8"):
        _import(kms, key, legacy, "RSA_AES_KEY_WRAP_SHA_256")
    assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
    _import(kms, key, pkcs8, "RSA_AES_KEY_WRAP_SHA_256")
    assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"


@needs_openssl
def test_ecc_keys_with_explicit_parameters_are_refused_as_aws_does(kms: Any, tmp_path: Path) -> None:
    """AWS takes ECC key material with named curves only ("explicit parameters are rejected"): a P-256
    key that openssl writes with explicit parameters is refused; the same key named is accepted."""
    pem = tmp_path / "key.pem"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(pem))
    for enc, out in (("explicit", "x.der"), ("named_curve", "n.der")):
        _openssl("pkey", "-in", str(pem), "-ec_param_enc", enc, "-out", str(tmp_path / f"{enc}.pem"))
        _openssl("pkcs8", "-topk8", "-nocrypt", "-in", str(tmp_path / f"{enc}.pem"), "-outform", "DER",
                 "-out", str(tmp_path / out))  # fmt: skip
    explicit, named = (tmp_path / "x.der").read_bytes(), (tmp_path / "n.der").read_bytes()
    assert len(explicit) > len(named)  # the curve's parameters spelled out instead of its OID
    key = kms("CreateKey", Origin="EXTERNAL", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(errors.IncorrectKeyMaterialException, match="explicit parameters"):
        _import(kms, key["KeyId"], explicit, "RSA_AES_KEY_WRAP_SHA_256")
    _import(kms, key["KeyId"], named, "RSA_AES_KEY_WRAP_SHA_256")
    assert kms("DescribeKey", KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_rsa_private_key_cannot_use_plain_oaep(kms: Any) -> None:
    der = keywrap.private_der(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(keywrap.WrapError, match="RSA_AES_KEY_WRAP_SHA_256"):
        _wrap(keywrap.public_der(rsa.generate_private_key(public_exponent=65537, key_size=2048)), der,
              "RSAES_OAEP_SHA_256")  # fmt: skip


# -- reimport, expiry, deletion -------------------------------------------------------------------


def test_reimport_same_material_restores_old_ciphertexts(kms: Any) -> None:
    key = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = b"\x42" * 32
    mid = _import(kms, key, material)["KeyMaterialId"]
    blob = kms("Encrypt", KeyId=key, Plaintext=b"keep me")["CiphertextBlob"]
    deleted = kms("DeleteImportedKeyMaterial", KeyId=key)
    assert deleted["KeyMaterialId"] == mid
    assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(errors.KMSInvalidStateException):
        kms("Decrypt", CiphertextBlob=blob)
    with pytest.raises(errors.IncorrectKeyMaterialException):
        _import(kms, key, b"\x43" * 32)
    assert _import(kms, key, material)["KeyMaterialId"] == mid
    assert kms("Decrypt", CiphertextBlob=blob)["Plaintext"] == b"keep me"


def test_delete_imported_key_material_on_a_key_pending_import_has_no_effect(kms: Any) -> None:
    """AWS's key state table: DeleteImportedKeyMaterial on a PendingImport key succeeds, no effect;
    a KeyMaterialId the key never had is still NotFoundException."""
    ext = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]
    assert kms("DeleteImportedKeyMaterial", KeyId=ext["KeyId"]) == {"KeyId": ext["Arn"]}
    assert kms("DescribeKey", KeyId=ext["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(errors.NotFoundException):
        kms("DeleteImportedKeyMaterial", KeyId=ext["KeyId"], KeyMaterialId="0" * 64)


def test_imported_material_deleted_while_pending_deletion(kms: Any, clock: FakeClock) -> None:
    """AWS's key state table allows DeleteImportedKeyMaterial on a key pending deletion; the key
    stays PendingDeletion (and is still destroyed when due), and comes back PendingImport if the
    deletion is cancelled, since it has no material left to enable."""
    doomed, kept = (kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"] for _ in range(2))
    for key in (doomed, kept):
        mid = _import(kms, key, b"\x09" * 32)["KeyMaterialId"]
        kms("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
        assert kms("DeleteImportedKeyMaterial", KeyId=key)["KeyMaterialId"] == mid
        assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms("CancelKeyDeletion", KeyId=kept)
    assert kms("DescribeKey", KeyId=kept)["KeyMetadata"]["KeyState"] == "PendingImport"
    clock.advance(days=8)
    with pytest.raises(errors.NotFoundException):
        kms("DescribeKey", KeyId=doomed)


def test_material_expiring_while_pending_deletion_keeps_the_deletion(kms: Any, clock: FakeClock) -> None:
    """Expiry of the current material must not turn a key pending deletion into PendingImport:
    its scheduled deletion would never run."""
    key = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    _import(
        kms,
        key,
        b"\x0a" * 32,
        ExpirationModel="KEY_MATERIAL_EXPIRES",
        ValidTo=clock.now + dt.timedelta(days=2),
    )
    kms("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
    clock.advance(days=3)
    assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    clock.advance(days=5)
    with pytest.raises(errors.NotFoundException):
        kms("DescribeKey", KeyId=key)


def test_symmetric_material_must_be_256_bits(kms: Any) -> None:
    key = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.IncorrectKeyMaterialException, match="32 bytes"):
        _import(kms, key, b"\x01" * 16)


def test_expiring_material_is_deleted_when_due_and_audited(kms: Any, clock: FakeClock, vault: Path) -> None:
    key = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    valid_to = clock.now + dt.timedelta(days=2)
    _import(kms, key, b"\x05" * 32, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    meta = kms("DescribeKey", KeyId=key)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and meta["ValidTo"] == valid_to
    blob = kms("Encrypt", KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    key_path = next((vault / "keys").rglob(f"{key}.json"))
    wrapped = json.loads(key_path.read_text())["data"]["Materials"][0]["Wrapped"]
    clock.advance(days=2)
    with pytest.raises(errors.KMSInvalidStateException, match="pending import"):
        kms("Decrypt", CiphertextBlob=blob)
    assert wrapped and wrapped not in key_path.read_text()
    names = [
        json.loads(line)["eventName"]
        for p in (vault / "audit").glob("*.jsonl")
        for line in p.read_text().splitlines()
    ]
    assert "DeleteExpiredKeyMaterial" in names
    _import(kms, key, b"\x05" * 32)
    assert kms("Decrypt", CiphertextBlob=blob)["Plaintext"] == b"x"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"ExpirationModel": "KEY_MATERIAL_EXPIRES"}, "ValidTo is required"),
        ({"ValidTo": dt.datetime(2026, 2, 1, tzinfo=dt.UTC)}, "not valid"),
        (
            {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)},
            "future",
        ),
        (
            {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": dt.datetime(2028, 1, 1, tzinfo=dt.UTC)},
            "365",
        ),
    ],
)
def test_expiration_parameters_are_validated(kms: Any, extra: dict[str, Any], message: str) -> None:
    key = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.ValidationException, match=message):
        _import(kms, key, b"\x05" * 32, **extra)


def test_tokens_expire_and_are_bound_to_their_key(kms: Any, clock: FakeClock) -> None:
    a = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    b = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms(
        "GetParametersForImport", KeyId=a, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    assert params["ParametersValidTo"] == clock.now + dt.timedelta(hours=24)
    wrapped = _wrap(params["PublicKey"], b"\x09" * 32, "RSAES_OAEP_SHA_256")
    with pytest.raises(errors.InvalidImportTokenException):
        kms("ImportKeyMaterial", KeyId=b, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped)
    tampered = params["ImportToken"][:-1] + bytes([params["ImportToken"][-1] ^ 1])
    with pytest.raises(errors.InvalidImportTokenException):
        kms("ImportKeyMaterial", KeyId=a, ImportToken=tampered, EncryptedKeyMaterial=wrapped)
    with pytest.raises(errors.InvalidImportTokenException):
        kms("ImportKeyMaterial", KeyId=a, ImportToken=b"short", EncryptedKeyMaterial=wrapped)
    clock.advance(hours=24)
    with pytest.raises(errors.ExpiredImportTokenException):
        kms("ImportKeyMaterial", KeyId=a, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped)


def test_material_wrapped_for_another_wrapping_key_is_invalid_ciphertext(kms: Any) -> None:
    key = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    first = kms(
        "GetParametersForImport",
        KeyId=key,
        WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048",
    )
    second = kms(
        "GetParametersForImport",
        KeyId=key,
        WrappingAlgorithm="RSAES_OAEP_SHA_256",
        WrappingKeySpec="RSA_2048",
    )
    wrapped = _wrap(first["PublicKey"], b"\x09" * 32, "RSAES_OAEP_SHA_256")
    with pytest.raises(errors.InvalidCiphertextException):
        kms("ImportKeyMaterial", KeyId=key, ImportToken=second["ImportToken"], EncryptedKeyMaterial=wrapped)
    with pytest.raises(errors.InvalidCiphertextException):
        kms(
            "ImportKeyMaterial",
            KeyId=key,
            ImportToken=first["ImportToken"],
            EncryptedKeyMaterial=wrapped[:-1],
        )
    kms("ImportKeyMaterial", KeyId=key, ImportToken=first["ImportToken"], EncryptedKeyMaterial=wrapped)


def test_import_operations_refuse_aws_kms_keys_and_unsupported_wrapping(kms: Any) -> None:
    native = kms("CreateKey")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.UnsupportedOperationException, match="EXTERNAL"):
        kms(
            "GetParametersForImport",
            KeyId=native,
            WrappingAlgorithm="RSAES_OAEP_SHA_256",
            WrappingKeySpec="RSA_2048",
        )
    with pytest.raises(errors.UnsupportedOperationException):
        kms("DeleteImportedKeyMaterial", KeyId=native)
    ext = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.UnsupportedOperationException, match="SM2"):
        kms("GetParametersForImport", KeyId=ext, WrappingAlgorithm="SM2PKE", WrappingKeySpec="SM2")
    with pytest.raises(errors.ValidationException, match="RSAES_PKCS1_V1_5"):
        kms(
            "GetParametersForImport",
            KeyId=ext,
            WrappingAlgorithm="RSAES_PKCS1_V1_5",
            WrappingKeySpec="RSA_2048",
        )
    with pytest.raises(errors.ValidationException):
        kms(
            "GetParametersForImport",
            KeyId=ext,
            WrappingAlgorithm="RSAES_OAEP_SHA_256",
            WrappingKeySpec="RSA_1024",
        )
    with pytest.raises(errors.KMSInvalidStateException):
        kms("Encrypt", KeyId=ext, Plaintext=b"x")


def test_new_key_material_then_rotate_on_demand(kms: Any) -> None:
    key = kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    first = _import(kms, key, b"\x01" * 32)["KeyMaterialId"]
    old = kms("Encrypt", KeyId=key, Plaintext=b"one")["CiphertextBlob"]
    with pytest.raises(errors.KMSInvalidStateException, match="PENDING_ROTATION"):
        kms("RotateKeyOnDemand", KeyId=key)
    second = _import(kms, key, b"\x02" * 32, ImportType="NEW_KEY_MATERIAL", KeyMaterialDescription="v2")
    states = {r["KeyMaterialId"]: r["KeyMaterialState"] for r in
              kms("ListKeyRotations", KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]}  # fmt: skip
    assert states == {first: "CURRENT", second["KeyMaterialId"]: "PENDING_ROTATION"}
    kms("RotateKeyOnDemand", KeyId=key)
    new = kms("Encrypt", KeyId=key, Plaintext=b"two")["CiphertextBlob"]
    assert kms("Decrypt", CiphertextBlob=new)["KeyMaterialId"] == second["KeyMaterialId"]
    assert kms("Decrypt", CiphertextBlob=old)["Plaintext"] == b"one"
    rotations = kms("ListKeyRotations", KeyId=key)["Rotations"]
    assert rotations[0]["ImportState"] == "IMPORTED"
    assert rotations[0]["RotationType"] == "ON_DEMAND"
    # automatic rotation stays off for imported material; the on-demand one is done, none in progress
    status = kms("GetKeyRotationStatus", KeyId=key)
    assert status == {"KeyId": status["KeyId"], "KeyRotationEnabled": False}
    assert rotations[0]["KeyMaterialDescription"] == "v2"
    with pytest.raises(errors.IncorrectKeyMaterialException):
        _import(kms, key, b"\x02" * 32, ImportType="NEW_KEY_MATERIAL")
    with pytest.raises(errors.IncorrectKeyMaterialException):
        _import(kms, key, b"\x03" * 32, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=first)
    with pytest.raises(errors.NotFoundException):
        _import(kms, key, b"\x03" * 32, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId="f" * 64)


def test_cli_import_errors_are_aws_shaped(cli: Any, tmp_path: Path) -> None:
    key = cli("create-key", "--origin", "EXTERNAL").json()["KeyMetadata"]["KeyId"]
    res = cli(
        "import-key-material", "--key-id", key, "--import-token", base64.b64encode(b"x" * 80).decode(),
        "--encrypted-key-material", base64.b64encode(b"y" * 256).decode(),
    )  # fmt: skip
    assert res.code == 254
    assert (
        "An error occurred (InvalidImportTokenException) when calling the ImportKeyMaterial operation"
        in res.err
    )
    missing = cli("import-key-material", "--key-id", key)
    assert missing.code == 252
    assert "Traceback" not in res.err + missing.err


@pytest.mark.parametrize(("bits", "shortest"), [(224, 28), (256, 32), (384, 48), (512, 64)])
def test_hmac_material_lengths(kms: Any, bits: int, shortest: int) -> None:
    """AWS takes HMAC key material from the key spec's length up to 1024 bits (128 bytes) for every
    HMAC spec ("Requirements for imported key material"); MACs are RFC 2104 HMACs of that key."""
    import hmac

    def new_key() -> str:
        meta = kms("CreateKey", Origin="EXTERNAL", KeySpec=f"HMAC_{bits}", KeyUsage="GENERATE_VERIFY_MAC")
        return str(meta["KeyMetadata"]["KeyId"])

    key = new_key()
    for wrong in (shortest - 1, 129):
        with pytest.raises(errors.IncorrectKeyMaterialException, match=f"{shortest} to 128 bytes"):
            _import(kms, key, b"\x01" * wrong)
    for length in (shortest, 128):
        key = new_key()
        material = bytes(range(length))
        _import(kms, key, material)
        assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
        mac = kms("GenerateMac", KeyId=key, Message=b"release", MacAlgorithm=f"HMAC_SHA_{bits}")["Mac"]
        assert mac == hmac.new(material, b"release", f"sha{bits}").digest()


def test_import_never_logs_material_or_token(cli: Any, vault: Path) -> None:
    key = cli("create-key", "--origin", "EXTERNAL").json()["KeyMetadata"]["KeyId"]
    params = cli(
        "get-parameters-for-import", "--key-id", key,
        "--wrapping-algorithm", "RSA_AES_KEY_WRAP_SHA_1", "--wrapping-key-spec", "RSA_2048",
    ).json()  # fmt: skip
    material = b"\x5a" * 32
    wrapped = _wrap(base64.b64decode(params["PublicKey"]), material, "RSA_AES_KEY_WRAP_SHA_1")
    res = cli(
        "import-key-material", "--key-id", key, "--import-token", params["ImportToken"],
        "--encrypted-key-material", base64.b64encode(wrapped).decode(),
    )  # fmt: skip
    assert res.code == 0, res.err
    log = "".join(p.read_text() for p in (vault / "audit").glob("*.jsonl"))
    for secret in (
        material,
        wrapped,
        base64.b64decode(params["ImportToken"]),
        base64.b64decode(params["PublicKey"]),
    ):
        assert base64.b64encode(secret).decode() not in log
    assert material.hex() not in log
    assert "ImportKeyMaterial" in log


def test_multi_region_imported_key_is_imported_into_each_replica(kms: Any, service: Any) -> None:
    from kmscli.service.pipeline.core import invoke

    key = kms("CreateKey", Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]["KeyId"]
    material = b"\x33" * 32
    _import(kms, key, material)
    blob = kms("Encrypt", KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    replica = kms("ReplicateKey", KeyId=key, ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]
    assert replica["KeyState"] == "PendingImport"
    eu_ctx = service.in_region("eu-west-1")

    def eu(op: str, **req: Any) -> Any:
        return invoke(eu_ctx, op, req)

    with pytest.raises(errors.KMSInvalidStateException):
        eu("Decrypt", CiphertextBlob=blob)
    with pytest.raises(errors.IncorrectKeyMaterialException):
        _import(eu, key, b"\x34" * 32)
    _import(eu, key, material)
    assert eu("Decrypt", CiphertextBlob=blob)["Plaintext"] == b"x"


def test_cli_shapes_of_the_import_lifecycle(cli: Any) -> None:
    key = cli("create-key", "--origin", "EXTERNAL", "--multi-region").json()["KeyMetadata"]["KeyId"]
    params = cli(
        "get-parameters-for-import", "--key-id", key,
        "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_2048",
    ).json()  # fmt: skip
    wrapped = _wrap(base64.b64decode(params["PublicKey"]), b"\x11" * 32, "RSAES_OAEP_SHA_256")
    res = cli(
        "import-key-material", "--key-id", key, "--import-token", params["ImportToken"],
        "--encrypted-key-material", base64.b64encode(wrapped).decode(),
        "--expiration-model", "KEY_MATERIAL_EXPIRES", "--valid-to", "2099-01-01T00:00:00Z",
    )  # fmt: skip
    assert res.code == 254 and "(ValidationException)" in res.err  # more than 365 days ahead
    res = cli(
        "import-key-material", "--key-id", key, "--import-token", params["ImportToken"],
        "--encrypted-key-material", base64.b64encode(wrapped).decode(), "--key-material-description", "v1",
    )  # fmt: skip
    assert res.code == 0, res.err
    for args, op in [
        (("describe-key", "--key-id", key), "DescribeKey"),
        (
            ("list-key-rotations", "--key-id", key, "--include-key-material", "ALL_KEY_MATERIAL"),
            "ListKeyRotations",
        ),
        (("replicate-key", "--key-id", key, "--replica-region", "eu-north-1"), "ReplicateKey"),
        (("delete-imported-key-material", "--key-id", key), "DeleteImportedKeyMaterial"),
        (("get-key-rotation-status", "--key-id", key), "GetKeyRotationStatus"),
    ]:
        out = cli(*args)
        assert out.code == 0, (args, out.err)
        assert_output_shape(op, out.json(), paginated=op.startswith("List"))


def test_canonical_material_unit() -> None:
    from kmscli.service.operations.importing import canonical_material

    assert canonical_material("SYMMETRIC_DEFAULT", b"\x00" * 32) == b"\x00" * 32
    with pytest.raises(errors.UnsupportedOperationException, match="ML_DSA_44"):
        canonical_material("ML_DSA_44", b"\x00" * 32)
    ed = ed25519.Ed25519PrivateKey.generate()
    der = ed.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert canonical_material("ECC_NIST_EDWARDS25519", der) == der
    with pytest.raises(errors.IncorrectKeyMaterialException):
        canonical_material("RSA_3072", der)


def test_multi_region_new_key_material_rotation(kms: Any, service: Any) -> None:
    from kmscli.service.pipeline.core import invoke

    eu_ctx = service.in_region("eu-west-1")

    def eu(op: str, **req: Any) -> Any:
        return invoke(eu_ctx, op, req)

    key = kms("CreateKey", Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]["KeyId"]
    _import(kms, key, b"\x01" * 32)
    kms("ReplicateKey", KeyId=key, ReplicaRegion="eu-west-1")
    _import(eu, key, b"\x01" * 32)
    new = _import(kms, key, b"\x02" * 32, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    states = {
        r["KeyMaterialId"]: r["KeyMaterialState"]
        for r in kms("ListKeyRotations", KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    }
    assert states[new] == "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"
    with pytest.raises(errors.KMSInvalidStateException, match="every replica"):
        kms("RotateKeyOnDemand", KeyId=key)
    with pytest.raises(errors.UnsupportedOperationException, match="primary"):
        _import(eu, key, b"\x03" * 32, ImportType="NEW_KEY_MATERIAL")
    _import(eu, key, b"\x02" * 32, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=new)
    states = {
        r["KeyMaterialId"]: r["KeyMaterialState"]
        for r in kms("ListKeyRotations", KeyId=key, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    }
    assert states[new] == "PENDING_ROTATION"
    kms("RotateKeyOnDemand", KeyId=key)
    blob = eu("Encrypt", KeyId=key, Plaintext=b"z")["CiphertextBlob"]
    assert kms("Decrypt", CiphertextBlob=blob)["KeyMaterialId"] == new
    assert eu("DescribeKey", KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"] == new


def test_multi_region_keys_cannot_diverge_on_first_import(kms: Any, service: Any) -> None:
    from kmscli.service.pipeline.core import invoke

    eu_ctx = service.in_region("eu-west-1")

    def eu(op: str, **req: Any) -> Any:
        return invoke(eu_ctx, op, req)

    key = kms("CreateKey", Origin="EXTERNAL", MultiRegion=True)["KeyMetadata"]
    with pytest.raises(errors.KMSInvalidStateException) as info:  # AWS's key state table, [5]
        kms("ReplicateKey", KeyId=key["KeyId"], ReplicaRegion="eu-west-1")  # before any import
    assert info.value.message == f"{key['Arn']} is pending import."
    key = key["KeyId"]
    _import(kms, key, b"\x07" * 32)
    kms("ReplicateKey", KeyId=key, ReplicaRegion="eu-west-1")
    with pytest.raises(errors.IncorrectKeyMaterialException):
        _import(eu, key, b"\x08" * 32)
    _import(eu, key, b"\x07" * 32)
    blob = kms("Encrypt", KeyId=key, Plaintext=b"same")["CiphertextBlob"]
    assert eu("Decrypt", CiphertextBlob=blob)["Plaintext"] == b"same"
