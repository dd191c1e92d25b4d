"""Asymmetric keys, MACs, ECDH and ML-KEM: every spec and algorithm, checked independently.

Signatures are verified from GetPublicKey's output with ``cryptography`` and, where it supports the
algorithm, with the ``openssl`` command line; Ed25519ph with libsodium (PyNaCl); ML-DSA EXTERNAL_MU
by verifying the plain ML-DSA signature of the message the mu was computed from.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, rsa

from kmscli import errors
from kmscli.cli.render import jsonable
from kmscli.crypto import asymmetric
from tests.helpers import assert_output_shape

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl command line not installed")

_RSA_CACHE: dict[str, bytes] = {}


@pytest.fixture(autouse=True)
def fast_rsa(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """RSA key generation is slow (up to a second for 4096 bits): reuse one key per size in tests."""
    real = asymmetric.generate_private

    def cached(spec: str) -> bytes:
        if not spec.startswith("RSA_"):
            return real(spec)
        if spec not in _RSA_CACHE:
            _RSA_CACHE[spec] = real(spec)
        return _RSA_CACHE[spec]

    monkeypatch.setattr(asymmetric, "generate_private", cached)
    yield


def shape(op: str, response: dict[str, Any]) -> None:
    """Check a service response against botocore's output shape, as the CLI would print it."""
    assert_output_shape(op, jsonable(response))


def create(kms: Any, spec: str, usage: str) -> dict[str, Any]:
    out = kms("CreateKey", KeySpec=spec, KeyUsage=usage)
    shape("CreateKey", out)
    return dict(out["KeyMetadata"])


def public_key(kms: Any, key_id: str) -> Any:
    out = kms("GetPublicKey", KeyId=key_id)
    shape("GetPublicKey", out)
    return serialization.load_der_public_key(out["PublicKey"])


# -- CreateKey, DescribeKey, GetPublicKey ---------------------------------------------------------

RSA_SIGNING = [
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
]

#: (spec, usage, the algorithm members AWS lists, in AWS's order)
SPEC_TABLE: list[tuple[str, str, dict[str, list[str]]]] = [
    *[(f"RSA_{b}", "SIGN_VERIFY", {"SigningAlgorithms": RSA_SIGNING}) for b in (2048, 3072, 4096)],
    *[
        (f"RSA_{b}", "ENCRYPT_DECRYPT", {"EncryptionAlgorithms": ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]})
        for b in (2048, 3072, 4096)
    ],
    ("ECC_NIST_P256", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_256"]}),
    ("ECC_NIST_P384", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_384"]}),
    ("ECC_NIST_P521", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_512"]}),
    *[
        (c, "KEY_AGREEMENT", {"KeyAgreementAlgorithms": ["ECDH"]})
        for c in ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521")
    ],
    ("ECC_SECG_P256K1", "SIGN_VERIFY", {"SigningAlgorithms": ["ECDSA_SHA_256"]}),
    (
        "ECC_NIST_EDWARDS25519",
        "SIGN_VERIFY",
        {"SigningAlgorithms": ["ED25519_SHA_512", "ED25519_PH_SHA_512"]},
    ),
    *[(f"ML_DSA_{n}", "SIGN_VERIFY", {"SigningAlgorithms": ["ML_DSA_SHAKE_256"]}) for n in (44, 65, 87)],
    *[
        (f"ML_KEM_{n}", "ENCAPSULATE_DECAPSULATE", {"EncapsulationAlgorithms": ["ML_KEM"]})
        for n in (768, 1024)
    ],
    *[
        (f"HMAC_{b}", "GENERATE_VERIFY_MAC", {"MacAlgorithms": [f"HMAC_SHA_{b}"]})
        for b in (224, 256, 384, 512)
    ],
]

PUBLIC_TYPES: dict[str, Any] = {
    "RSA": rsa.RSAPublicKey,
    "ECC_NIST_EDWARDS25519": ed25519.Ed25519PublicKey,
    "ECC": ec.EllipticCurvePublicKey,
    "ML_DSA_44": mldsa.MLDSA44PublicKey,
    "ML_DSA_65": mldsa.MLDSA65PublicKey,
    "ML_DSA_87": mldsa.MLDSA87PublicKey,
    "ML_KEM_768": mlkem.MLKEM768PublicKey,
    "ML_KEM_1024": mlkem.MLKEM1024PublicKey,
}
CURVE_NAMES = {
    "ECC_NIST_P256": "secp256r1",
    "ECC_NIST_P384": "secp384r1",
    "ECC_NIST_P521": "secp521r1",
    "ECC_SECG_P256K1": "secp256k1",
}


def _expected_type(spec: str) -> Any:
    for prefix, kind in PUBLIC_TYPES.items():
        if spec == prefix:
            return kind
    return PUBLIC_TYPES["RSA" if spec.startswith("RSA") else "ECC"]


@pytest.mark.parametrize(
    ("spec", "usage", "algorithms"), SPEC_TABLE, ids=[f"{s}-{u}" for s, u, _ in SPEC_TABLE]
)
def test_create_describe_and_public_key_for_every_spec(
    kms: Any, spec: str, usage: str, algorithms: dict[str, list[str]]
) -> None:
    meta = create(kms, spec, usage)
    assert (meta["KeySpec"], meta["KeyUsage"], meta["KeyState"]) == (spec, usage, "Enabled")
    described = kms("DescribeKey", KeyId=meta["KeyId"])
    shape("DescribeKey", described)
    listed = {m: v for m, v in described["KeyMetadata"].items() if m.endswith("Algorithms")}
    assert listed == algorithms
    if spec.startswith("HMAC"):
        with pytest.raises(errors.UnsupportedOperationException, match="asymmetric"):
            kms("GetPublicKey", KeyId=meta["KeyId"])
        return
    out = kms("GetPublicKey", KeyId=meta["KeyId"])
    shape("GetPublicKey", out)
    assert out["KeyId"] == meta["Arn"]
    assert (out["KeySpec"], out["KeyUsage"]) == (spec, usage)
    assert {m: v for m, v in out.items() if m.endswith("Algorithms")} == algorithms
    pub = serialization.load_der_public_key(out["PublicKey"])
    assert isinstance(pub, _expected_type(spec))
    if spec.startswith("RSA"):
        assert pub.key_size == int(spec[4:])
    if spec in CURVE_NAMES:
        assert pub.curve.name == CURVE_NAMES[spec]


def test_public_key_is_stable_and_distinct_per_key(kms: Any) -> None:
    a = create(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    b = create(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    first = kms("GetPublicKey", KeyId=a)["PublicKey"]
    assert kms("GetPublicKey", KeyId=a)["PublicKey"] == first
    assert kms("GetPublicKey", KeyId=b)["PublicKey"] != first


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("RSA_2048", "KEY_AGREEMENT"),
        ("RSA_2048", "GENERATE_VERIFY_MAC"),
        ("ECC_NIST_P256", "ENCRYPT_DECRYPT"),
        ("ECC_SECG_P256K1", "KEY_AGREEMENT"),
        ("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT"),
        ("HMAC_256", "SIGN_VERIFY"),
        ("ML_DSA_65", "ENCRYPT_DECRYPT"),
        ("ML_KEM_768", "SIGN_VERIFY"),
        ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
    ],
)
def test_spec_usage_pairs_aws_refuses(kms: Any, spec: str, usage: str) -> None:
    with pytest.raises(
        errors.ValidationException, match=f"KeyUsage {usage} is not compatible with KeySpec {spec}"
    ):
        kms("CreateKey", KeySpec=spec, KeyUsage=usage)


def test_key_usage_defaults_to_encrypt_decrypt_as_in_aws(kms: Any) -> None:
    assert kms("CreateKey", KeySpec="RSA_2048")["KeyMetadata"]["KeyUsage"] == "ENCRYPT_DECRYPT"
    for spec in ("ECC_NIST_P256", "HMAC_256", "ML_DSA_44"):
        with pytest.raises(
            errors.ValidationException,
            match=f"KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec {spec}",
        ):
            kms("CreateKey", KeySpec=spec)


@pytest.mark.parametrize(
    ("spec", "why"), [("SM2", "China"), ("ML_KEM_512", "ML-KEM-768 and ML-KEM-1024 only")]
)
def test_unsupported_specs_say_why(kms: Any, spec: str, why: str) -> None:
    usage = "SIGN_VERIFY" if spec == "SM2" else "ENCAPSULATE_DECAPSULATE"
    with pytest.raises(errors.UnsupportedOperationException, match=why):
        kms("CreateKey", KeySpec=spec, KeyUsage=usage)


def test_get_public_key_refuses_symmetric_and_disabled_keys(kms: Any) -> None:
    sym = kms("CreateKey")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.UnsupportedOperationException):
        kms("GetPublicKey", KeyId=sym)
    key = create(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    kms("DisableKey", KeyId=key)
    with pytest.raises(errors.DisabledException):
        kms("GetPublicKey", KeyId=key)


def test_new_specs_omit_deprecated_customer_master_key_spec(kms: Any) -> None:
    meta = create(kms, "ML_DSA_44", "SIGN_VERIFY")
    assert "CustomerMasterKeySpec" not in meta
    assert "CustomerMasterKeySpec" not in kms("GetPublicKey", KeyId=meta["KeyId"])
    assert create(kms, "RSA_2048", "SIGN_VERIFY")["CustomerMasterKeySpec"] == "RSA_2048"


def test_private_key_is_stored_as_pkcs8_der(kms: Any, service: Any) -> None:
    """The shared convention (key import relies on it): asymmetric material is PKCS#8 DER."""
    meta = create(kms, "ECC_NIST_P384", "SIGN_VERIFY")
    raw = _material(service, meta)
    private = serialization.load_der_private_key(raw, None)
    assert (
        private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == kms("GetPublicKey", KeyId=meta["KeyId"])["PublicKey"]
    )


def _material(service: Any, meta: dict[str, Any]) -> bytes:
    record = service.vault.load_key(service.identity.region, meta["KeyId"])
    item = record["Materials"][-1]
    raw: bytes = service.vault.unwrap_material(record["Arn"], item["KeyMaterialId"], item["Wrapped"])
    return raw


# -- Sign and Verify ------------------------------------------------------------------------------

MESSAGE = b"release-1.2.3.tar.gz contents " * 50

HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}

SIGN_CASES = [
    *[(f"RSA_{b}", alg) for b in (2048,) for alg in RSA_SIGNING],
    ("RSA_3072", "RSASSA_PSS_SHA_384"),
    ("RSA_4096", "RSASSA_PKCS1_V1_5_SHA_512"),
    ("ECC_NIST_P256", "ECDSA_SHA_256"),
    ("ECC_NIST_P384", "ECDSA_SHA_384"),
    ("ECC_NIST_P521", "ECDSA_SHA_512"),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
]


def _verify_locally(pub: Any, alg: str, signature: bytes, message: bytes) -> None:
    """Verify a RAW-message signature with cryptography (raises InvalidSignature)."""
    h = HASH[alg[-3:]]()
    if alg.startswith("RSASSA_PKCS1"):
        pub.verify(signature, message, padding.PKCS1v15(), h)
    elif alg.startswith("RSASSA_PSS"):
        # AWS uses a salt as long as the digest: verify with exactly that, not "auto"
        pub.verify(signature, message, padding.PSS(padding.MGF1(h), h.digest_size), h)
    else:
        pub.verify(signature, message, ec.ECDSA(h))


@pytest.mark.parametrize(("spec", "alg"), SIGN_CASES)
@pytest.mark.parametrize("message_type", ["RAW", "DIGEST"])
def test_sign_verifies_independently(kms: Any, spec: str, alg: str, message_type: str) -> None:
    key = create(kms, spec, "SIGN_VERIFY")["KeyId"]
    message = MESSAGE if message_type == "RAW" else hashlib.new(f"sha{alg[-3:]}", MESSAGE).digest()
    out = kms("Sign", KeyId=key, Message=message, MessageType=message_type, SigningAlgorithm=alg)
    shape("Sign", out)
    assert out["SigningAlgorithm"] == alg
    _verify_locally(public_key(kms, key), alg, out["Signature"], MESSAGE)
    ok = kms(
        "Verify",
        KeyId=key,
        Message=message,
        MessageType=message_type,
        Signature=out["Signature"],
        SigningAlgorithm=alg,
    )
    shape("Verify", ok)
    assert ok["SignatureValid"] is True
    with pytest.raises(errors.KMSInvalidSignatureException):
        kms(
            "Verify",
            KeyId=key,
            Message=message[:-1] + bytes([message[-1] ^ 1]),
            MessageType=message_type,
            Signature=out["Signature"],
            SigningAlgorithm=alg,
        )


def test_ecdsa_signature_is_der(kms: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = create(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    sig = kms("Sign", KeyId=key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    r, s = decode_dss_signature(sig)
    assert r > 0 and s > 0


def test_pkcs1_digest_signature_wraps_digest_info(kms: Any) -> None:
    """A DIGEST signature must be the same PKCS#1 v1.5 signature as over the RAW message."""
    key = create(kms, "RSA_2048", "SIGN_VERIFY")["KeyId"]
    raw = kms("Sign", KeyId=key, Message=MESSAGE, SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    digest = hashlib.sha256(MESSAGE).digest()
    dig = kms(
        "Sign", KeyId=key, Message=digest, MessageType="DIGEST", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256"
    )
    assert dig["Signature"] == raw  # PKCS#1 v1.5 is deterministic


def test_ed25519_raw_and_ph(kms: Any) -> None:
    import nacl.bindings as sodium

    key = create(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")["KeyId"]
    pub = public_key(kms, key)
    sig = kms("Sign", KeyId=key, Message=MESSAGE, SigningAlgorithm="ED25519_SHA_512")["Signature"]
    pub.verify(sig, MESSAGE)
    digest = hashlib.sha512(MESSAGE).digest()
    ph = kms("Sign", KeyId=key, Message=digest, MessageType="DIGEST", SigningAlgorithm="ED25519_PH_SHA_512")
    raw_pub = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    state = sodium.crypto_sign_ed25519ph_state()
    sodium.crypto_sign_ed25519ph_update(state, MESSAGE)
    assert sodium.crypto_sign_ed25519ph_final_verify(state, ph["Signature"], raw_pub)
    with pytest.raises(InvalidSignature):
        pub.verify(ph["Signature"], MESSAGE)  # Ed25519ph is not pure Ed25519
    kms(
        "Verify",
        KeyId=key,
        Message=digest,
        MessageType="DIGEST",
        Signature=ph["Signature"],
        SigningAlgorithm="ED25519_PH_SHA_512",
    )
    with pytest.raises(errors.KMSInvalidSignatureException):
        kms(
            "Verify",
            KeyId=key,
            Message=hashlib.sha512(b"other").digest(),
            MessageType="DIGEST",
            Signature=ph["Signature"],
            SigningAlgorithm="ED25519_PH_SHA_512",
        )
    with pytest.raises(
        errors.ValidationException, match="MessageType DIGEST is not valid for ED25519_SHA_512"
    ):
        kms("Sign", KeyId=key, Message=digest, MessageType="DIGEST", SigningAlgorithm="ED25519_SHA_512")
    with pytest.raises(
        errors.ValidationException, match="MessageType RAW is not valid for ED25519_PH_SHA_512"
    ):
        kms("Sign", KeyId=key, Message=MESSAGE, SigningAlgorithm="ED25519_PH_SHA_512")


@pytest.mark.parametrize("spec", ["ML_DSA_44", "ML_DSA_65", "ML_DSA_87"])
def test_ml_dsa_raw_and_external_mu(kms: Any, spec: str) -> None:
    key = create(kms, spec, "SIGN_VERIFY")["KeyId"]
    pub = public_key(kms, key)
    sig = kms("Sign", KeyId=key, Message=MESSAGE, SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    pub.verify(sig, MESSAGE)
    hasher = mldsa.MLDSAMuHasher(pub)
    hasher.update(MESSAGE)
    mu = hasher.finalize()
    out = kms("Sign", KeyId=key, Message=mu, MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")
    pub.verify(out["Signature"], MESSAGE)  # a signature over mu is the signature over the message
    kms(
        "Verify",
        KeyId=key,
        Message=mu,
        MessageType="EXTERNAL_MU",
        Signature=out["Signature"],
        SigningAlgorithm="ML_DSA_SHAKE_256",
    )
    with pytest.raises(errors.KMSInvalidSignatureException):
        kms("Verify", KeyId=key, Message=MESSAGE + b"!", Signature=sig, SigningAlgorithm="ML_DSA_SHAKE_256")
    with pytest.raises(errors.ValidationException, match="External mu is invalid length"):
        kms(
            "Sign", KeyId=key, Message=mu[:32], MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256"
        )
    with pytest.raises(errors.ValidationException, match="MessageType DIGEST"):
        kms("Sign", KeyId=key, Message=mu, MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256")


def test_sign_failure_paths(kms: Any) -> None:
    key = create(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    with pytest.raises(
        errors.ValidationException, match="Digest is invalid length for algorithm ECDSA_SHA_256"
    ):
        kms("Sign", KeyId=key, Message=b"\0" * 48, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(errors.ValidationException, match="4096"):
        kms("Sign", KeyId=key, Message=b"x" * 4097, SigningAlgorithm="ECDSA_SHA_256")
    kms("Sign", KeyId=key, Message=b"x" * 4096, SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(errors.ValidationException, match="EXTERNAL_MU is not valid for ECDSA_SHA_256"):
        kms(
            "Sign", KeyId=key, Message=b"\0" * 64, MessageType="EXTERNAL_MU", SigningAlgorithm="ECDSA_SHA_256"
        )
    with pytest.raises(errors.InvalidKeyUsageException, match="ECDSA_SHA_384"):
        kms("Sign", KeyId=key, Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    with pytest.raises(errors.InvalidKeyUsageException, match="RSASSA_PSS_SHA_256"):
        kms("Sign", KeyId=key, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    enc = create(kms, "RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
    with pytest.raises(errors.InvalidKeyUsageException, match="ENCRYPT_DECRYPT which is not valid for Sign"):
        kms("Sign", KeyId=enc, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    sym = kms("CreateKey")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.InvalidKeyUsageException):
        kms("Verify", KeyId=sym, Message=b"m", Signature=b"s", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(errors.DryRunOperationException):
        kms("Sign", KeyId=key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256", DryRun=True)
    kms("DisableKey", KeyId=key)
    with pytest.raises(errors.DisabledException):
        kms("Sign", KeyId=key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")


def test_verify_rejects_garbage_signature(kms: Any) -> None:
    for spec, alg in [
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("ECC_NIST_EDWARDS25519", "ED25519_SHA_512"),
        ("ML_DSA_44", "ML_DSA_SHAKE_256"),
    ]:
        key = create(kms, spec, "SIGN_VERIFY")["KeyId"]
        with pytest.raises(errors.KMSInvalidSignatureException):
            kms("Verify", KeyId=key, Message=b"m", Signature=b"\x30\x02garbage", SigningAlgorithm=alg)


# -- openssl interoperability ---------------------------------------------------------------------


def _pem(kms: Any, key_id: str, path: Path) -> Path:
    der = kms("GetPublicKey", KeyId=key_id)["PublicKey"]
    path.write_bytes(
        serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, check=False)


OPENSSL_CASES = [
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", []),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512", []),
    ("RSA_2048", "RSASSA_PSS_SHA_256", ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]),
    ("RSA_2048", "RSASSA_PSS_SHA_384", ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:48"]),
    ("ECC_NIST_P256", "ECDSA_SHA_256", []),
    ("ECC_NIST_P384", "ECDSA_SHA_384", []),
    ("ECC_NIST_P521", "ECDSA_SHA_512", []),
]


@needs_openssl
@pytest.mark.parametrize(("spec", "alg", "sigopts"), OPENSSL_CASES)
def test_openssl_dgst_verifies(kms: Any, tmp_path: Path, spec: str, alg: str, sigopts: list[str]) -> None:
    key = create(kms, spec, "SIGN_VERIFY")["KeyId"]
    pem = _pem(kms, key, tmp_path / "pub.pem")
    msg = tmp_path / "msg"
    msg.write_bytes(MESSAGE)
    for message_type in ("RAW", "DIGEST"):
        message = MESSAGE if message_type == "RAW" else hashlib.new(f"sha{alg[-3:]}", MESSAGE).digest()
        sig = kms("Sign", KeyId=key, Message=message, MessageType=message_type, SigningAlgorithm=alg)[
            "Signature"
        ]
        (tmp_path / "sig").write_bytes(sig)
        res = _openssl(
            "dgst", f"-sha{alg[-3:]}", "-verify", pem, *sigopts, "-signature", tmp_path / "sig", msg
        )
        assert res.returncode == 0 and b"Verified OK" in res.stdout, res.stderr
    msg.write_bytes(MESSAGE + b"tampered")
    res = _openssl("dgst", f"-sha{alg[-3:]}", "-verify", pem, *sigopts, "-signature", tmp_path / "sig", msg)
    assert res.returncode != 0


@needs_openssl
def test_openssl_verifies_ed25519(kms: Any, tmp_path: Path) -> None:
    key = create(kms, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")["KeyId"]
    pem = _pem(kms, key, tmp_path / "pub.pem")
    (tmp_path / "msg").write_bytes(MESSAGE)
    sig = kms("Sign", KeyId=key, Message=MESSAGE, SigningAlgorithm="ED25519_SHA_512")["Signature"]
    (tmp_path / "sig").write_bytes(sig)
    res = _openssl(
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        pem,
        "-rawin",
        "-in",
        tmp_path / "msg",
        "-sigfile",
        tmp_path / "sig",
    )
    assert res.returncode == 0 and b"Signature Verified Successfully" in res.stdout, res.stderr


@needs_openssl
@pytest.mark.parametrize("bits", [2048, 3072, 4096])
def test_openssl_oaep_sha256_ciphertext_decrypts(kms: Any, tmp_path: Path, bits: int) -> None:
    key = create(kms, f"RSA_{bits}", "ENCRYPT_DECRYPT")["KeyId"]
    pem = _pem(kms, key, tmp_path / "pub.pem")
    (tmp_path / "plain").write_bytes(b"database password")
    res = _openssl(
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        pem,
        "-in",
        tmp_path / "plain",
        "-out",
        tmp_path / "ct",
        "-pkeyopt",
        "rsa_padding_mode:oaep",
        "-pkeyopt",
        "rsa_oaep_md:sha256",
        "-pkeyopt",
        "rsa_mgf1_md:sha256",
    )
    assert res.returncode == 0, res.stderr
    out = kms(
        "Decrypt",
        KeyId=key,
        CiphertextBlob=(tmp_path / "ct").read_bytes(),
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    shape("Decrypt", out)
    assert out["Plaintext"] == b"database password"


# -- RSA Encrypt / Decrypt / ReEncrypt ------------------------------------------------------------

LIMITS = {
    (2048, "RSAES_OAEP_SHA_1"): 214,
    (2048, "RSAES_OAEP_SHA_256"): 190,
    (3072, "RSAES_OAEP_SHA_1"): 342,
    (3072, "RSAES_OAEP_SHA_256"): 318,
    (4096, "RSAES_OAEP_SHA_1"): 470,
    (4096, "RSAES_OAEP_SHA_256"): 446,
}


@pytest.mark.parametrize(("bits", "alg"), sorted(LIMITS))
def test_rsa_encrypt_limits_and_round_trip(kms: Any, bits: int, alg: str) -> None:
    key = create(kms, f"RSA_{bits}", "ENCRYPT_DECRYPT")["KeyId"]
    limit = LIMITS[(bits, alg)]
    out = kms("Encrypt", KeyId=key, Plaintext=b"p" * limit, EncryptionAlgorithm=alg)
    shape("Encrypt", out)
    assert out["EncryptionAlgorithm"] == alg and len(out["CiphertextBlob"]) == bits // 8
    priv = serialization.load_der_private_key(_RSA_CACHE[f"RSA_{bits}"], None)
    assert isinstance(priv, rsa.RSAPrivateKey)
    h = hashes.SHA1() if alg.endswith("SHA_1") else hashes.SHA256()
    assert priv.decrypt(out["CiphertextBlob"], padding.OAEP(padding.MGF1(h), h, None)) == b"p" * limit
    back = kms("Decrypt", KeyId=key, CiphertextBlob=out["CiphertextBlob"], EncryptionAlgorithm=alg)
    assert back["Plaintext"] == b"p" * limit
    with pytest.raises(errors.ValidationException, match=f"at most {limit}"):
        kms("Encrypt", KeyId=key, Plaintext=b"p" * (limit + 1), EncryptionAlgorithm=alg)


def test_rsa_encryption_failure_paths(kms: Any) -> None:
    key = create(kms, "RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
    ct = kms("Encrypt", KeyId=key, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    with pytest.raises(errors.ValidationException, match="KeyId is required"):
        kms("Decrypt", CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    with pytest.raises(errors.InvalidCiphertextException):
        kms("Decrypt", KeyId=key, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    tampered = ct[:-1] + bytes([ct[-1] ^ 1])
    with pytest.raises(errors.InvalidCiphertextException):
        kms("Decrypt", KeyId=key, CiphertextBlob=tampered, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    with pytest.raises(errors.ValidationException, match="EncryptionContext is not supported"):
        kms(
            "Encrypt",
            KeyId=key,
            Plaintext=b"x",
            EncryptionAlgorithm="RSAES_OAEP_SHA_256",
            EncryptionContext={"a": "b"},
        )
    with pytest.raises(errors.ValidationException, match="EncryptionContext is not supported"):
        kms(
            "Decrypt",
            KeyId=key,
            CiphertextBlob=ct,
            EncryptionAlgorithm="RSAES_OAEP_SHA_256",
            EncryptionContext={"a": "b"},
        )
    with pytest.raises(
        errors.InvalidKeyUsageException, match="SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048"
    ):
        kms("Encrypt", KeyId=key, Plaintext=b"x")
    with pytest.raises(errors.InvalidKeyUsageException, match="SYMMETRIC_DEFAULT is incompatible"):
        kms("Decrypt", KeyId=key, CiphertextBlob=ct)
    signing = create(kms, "RSA_2048", "SIGN_VERIFY")["KeyId"]
    with pytest.raises(errors.InvalidKeyUsageException):
        kms("Encrypt", KeyId=signing, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    with pytest.raises(errors.InvalidKeyUsageException):
        kms("Decrypt", KeyId=signing, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    sym = kms("CreateKey")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.InvalidKeyUsageException):
        kms("Encrypt", KeyId=sym, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    with pytest.raises(errors.DryRunOperationException):
        kms("Decrypt", KeyId=key, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256", DryRun=True)
    kms("DisableKey", KeyId=key)
    with pytest.raises(errors.DisabledException):
        kms("Decrypt", KeyId=key, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")


def test_reencrypt_between_rsa_and_symmetric(kms: Any) -> None:
    rsa_key = create(kms, "RSA_3072", "ENCRYPT_DECRYPT")["KeyId"]
    sym = kms("CreateKey")["KeyMetadata"]["KeyId"]
    ct = kms("Encrypt", KeyId=rsa_key, Plaintext=b"secret", EncryptionAlgorithm="RSAES_OAEP_SHA_1")[
        "CiphertextBlob"
    ]
    to_sym = kms(
        "ReEncrypt",
        CiphertextBlob=ct,
        SourceKeyId=rsa_key,
        SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1",
        DestinationKeyId=sym,
        DestinationEncryptionContext={"k": "v"},
    )
    shape("ReEncrypt", to_sym)
    assert "SourceKeyMaterialId" not in to_sym
    assert (
        kms("Decrypt", CiphertextBlob=to_sym["CiphertextBlob"], EncryptionContext={"k": "v"})["Plaintext"]
        == b"secret"
    )
    back = kms(
        "ReEncrypt",
        CiphertextBlob=to_sym["CiphertextBlob"],
        SourceEncryptionContext={"k": "v"},
        DestinationKeyId=rsa_key,
        DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    shape("ReEncrypt", back)
    assert "DestinationKeyMaterialId" not in back
    out = kms(
        "Decrypt",
        KeyId=rsa_key,
        CiphertextBlob=back["CiphertextBlob"],
        EncryptionAlgorithm="RSAES_OAEP_SHA_256",
    )
    assert out["Plaintext"] == b"secret"
    with pytest.raises(errors.ValidationException, match="EncryptionContext"):
        kms(
            "ReEncrypt",
            CiphertextBlob=to_sym["CiphertextBlob"],
            SourceEncryptionContext={"k": "v"},
            DestinationKeyId=rsa_key,
            DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256",
            DestinationEncryptionContext={"x": "y"},
        )


# -- GenerateDataKeyPair --------------------------------------------------------------------------

PAIR_SPECS = [s for s in asymmetric.ASYMMETRIC_SPECS if not s.startswith("ML_DSA")]


@pytest.mark.parametrize("pair_spec", PAIR_SPECS)
def test_generate_data_key_pair(kms: Any, pair_spec: str) -> None:
    sym = kms("CreateKey")["KeyMetadata"]
    out = kms(
        "GenerateDataKeyPair", KeyId=sym["KeyId"], KeyPairSpec=pair_spec, EncryptionContext={"app": "ci"}
    )
    shape("GenerateDataKeyPair", out)
    assert (out["KeyId"], out["KeyPairSpec"]) == (sym["Arn"], pair_spec)
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], None)
    assert (
        private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == out["PublicKey"]
    )
    back = kms("Decrypt", CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext={"app": "ci"})
    assert back["Plaintext"] == out["PrivateKeyPlaintext"]
    with pytest.raises(errors.InvalidCiphertextException):
        kms("Decrypt", CiphertextBlob=out["PrivateKeyCiphertextBlob"])
    bare = kms("GenerateDataKeyPairWithoutPlaintext", KeyId=sym["KeyId"], KeyPairSpec=pair_spec)
    shape("GenerateDataKeyPairWithoutPlaintext", bare)
    assert "PrivateKeyPlaintext" not in bare
    private2 = serialization.load_der_private_key(
        kms("Decrypt", CiphertextBlob=bare["PrivateKeyCiphertextBlob"])["Plaintext"], None
    )
    assert (
        private2.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == bare["PublicKey"]
    )


def test_generate_data_key_pair_failure_paths(kms: Any) -> None:
    sym = kms("CreateKey")["KeyMetadata"]["KeyId"]
    for spec in ("SM2", "ML_KEM_512"):
        with pytest.raises(
            errors.UnsupportedOperationException, match=f"KeyPairSpec {spec} is not supported"
        ):
            kms("GenerateDataKeyPair", KeyId=sym, KeyPairSpec=spec)
    rsa_key = create(kms, "RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
    with pytest.raises(errors.InvalidKeyUsageException):
        kms("GenerateDataKeyPair", KeyId=rsa_key, KeyPairSpec="ECC_NIST_P256")
    with pytest.raises(errors.ValidationException):
        kms("GenerateDataKeyPair", KeyId=sym, KeyPairSpec="ECC_NIST_P999")
    with pytest.raises(errors.DryRunOperationException):
        kms("GenerateDataKeyPairWithoutPlaintext", KeyId=sym, KeyPairSpec="ECC_NIST_P256", DryRun=True)
    kms("DisableKey", KeyId=sym)
    with pytest.raises(errors.DisabledException):
        kms("GenerateDataKeyPair", KeyId=sym, KeyPairSpec="ECC_NIST_P256")


# -- MACs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [224, 256, 384, 512])
def test_generate_and_verify_mac(kms: Any, service: Any, bits: int) -> None:
    meta = create(kms, f"HMAC_{bits}", "GENERATE_VERIFY_MAC")
    alg = f"HMAC_SHA_{bits}"
    out = kms("GenerateMac", KeyId=meta["KeyId"], Message=b"payload", MacAlgorithm=alg)
    shape("GenerateMac", out)
    raw = _material(service, meta)
    assert len(raw) == {224: 28, 256: 32, 384: 48, 512: 64}[bits]
    assert out["Mac"] == hmac.new(raw, b"payload", f"sha{bits}").digest()
    ok = kms("VerifyMac", KeyId=meta["KeyId"], Message=b"payload", Mac=out["Mac"], MacAlgorithm=alg)
    shape("VerifyMac", ok)
    assert ok["MacValid"] is True
    with pytest.raises(errors.KMSInvalidMacException):
        kms("VerifyMac", KeyId=meta["KeyId"], Message=b"payloaD", Mac=out["Mac"], MacAlgorithm=alg)
    with pytest.raises(errors.KMSInvalidMacException):
        kms("VerifyMac", KeyId=meta["KeyId"], Message=b"payload", Mac=out["Mac"][:-1], MacAlgorithm=alg)


def test_mac_failure_paths(kms: Any) -> None:
    key = create(kms, "HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
    with pytest.raises(errors.InvalidKeyUsageException, match="HMAC_SHA_384"):
        kms("GenerateMac", KeyId=key, Message=b"m", MacAlgorithm="HMAC_SHA_384")
    signing = create(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    with pytest.raises(errors.InvalidKeyUsageException):
        kms("GenerateMac", KeyId=signing, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    with pytest.raises(errors.InvalidKeyUsageException):
        kms("Sign", KeyId=key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(errors.DryRunOperationException):
        kms("GenerateMac", KeyId=key, Message=b"m", MacAlgorithm="HMAC_SHA_256", DryRun=True)
    kms("DisableKey", KeyId=key)
    with pytest.raises(errors.DisabledException):
        kms("VerifyMac", KeyId=key, Message=b"m", Mac=b"x" * 32, MacAlgorithm="HMAC_SHA_256")


# -- DeriveSharedSecret ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "curve"),
    [("ECC_NIST_P256", ec.SECP256R1), ("ECC_NIST_P384", ec.SECP384R1), ("ECC_NIST_P521", ec.SECP521R1)],
)
def test_derive_shared_secret(kms: Any, spec: str, curve: Any) -> None:
    key = create(kms, spec, "KEY_AGREEMENT")["KeyId"]
    peer = ec.generate_private_key(curve())
    peer_der = peer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    out = kms("DeriveSharedSecret", KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=peer_der)
    shape("DeriveSharedSecret", out)
    assert out["KeyOrigin"] == "AWS_KMS" and out["KeyAgreementAlgorithm"] == "ECDH"
    assert out["SharedSecret"] == peer.exchange(ec.ECDH(), public_key(kms, key))


def test_derive_shared_secret_failure_paths(kms: Any) -> None:
    key = create(kms, "ECC_NIST_P256", "KEY_AGREEMENT")["KeyId"]
    other_curve = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(errors.ValidationException, match="curve"):
        kms("DeriveSharedSecret", KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=other_curve)
    with pytest.raises(errors.ValidationException, match="not a valid DER-encoded"):
        kms("DeriveSharedSecret", KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=b"\x30\x03junk")
    ed = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(errors.ValidationException, match="not an elliptic curve"):
        kms("DeriveSharedSecret", KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=ed)
    signing = create(kms, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    with pytest.raises(errors.InvalidKeyUsageException):
        kms("DeriveSharedSecret", KeyId=signing, KeyAgreementAlgorithm="ECDH", PublicKey=other_curve)
    with pytest.raises(errors.DryRunOperationException):
        peer = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        kms("DeriveSharedSecret", KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=peer, DryRun=True)


def test_derive_shared_secret_takes_der_only_as_aws_does(kms: Any) -> None:
    """AWS's DeriveSharedSecret takes the peer key as DER SubjectPublicKeyInfo only: a PEM key (valid,
    same curve) is a ValidationException, so a script that works here does not break in AWS."""
    key = create(kms, "ECC_NIST_P256", "KEY_AGREEMENT")["KeyId"]
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = peer.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = peer.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    kms("DeriveSharedSecret", KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=der)
    for given in (pem, b"\n" + pem):
        with pytest.raises(errors.ValidationException, match="DER-encoded SubjectPublicKeyInfo"):
            kms("DeriveSharedSecret", KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=given)
        with pytest.raises(errors.ValidationException, match="DER-encoded"):
            kms("DeriveSharedSecret", KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=given, DryRun=True)


# -- Encapsulate / Decapsulate --------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["ML_KEM_768", "ML_KEM_1024"])
def test_encapsulate_decapsulate(kms: Any, spec: str) -> None:
    key = create(kms, spec, "ENCAPSULATE_DECAPSULATE")["KeyId"]
    enc = kms("Encapsulate", KeyId=key, EncapsulationAlgorithm="ML_KEM")
    shape("Encapsulate", enc)
    dec = kms(
        "Decapsulate",
        KeyId=key,
        EncapsulationAlgorithm="ML_KEM",
        SharedSecretCiphertextBlob=enc["SharedSecretCiphertextBlob"],
    )
    shape("Decapsulate", dec)
    assert dec["SharedSecret"] == enc["SharedSecret"] and len(dec["SharedSecret"]) == 32
    secret, ciphertext = public_key(kms, key).encapsulate()  # made outside kmscli from the public key
    dec2 = kms(
        "Decapsulate", KeyId=key, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=ciphertext
    )
    assert dec2["SharedSecret"] == secret


def test_kem_failure_paths(kms: Any) -> None:
    key = create(kms, "ML_KEM_768", "ENCAPSULATE_DECAPSULATE")["KeyId"]
    with pytest.raises(errors.InvalidCiphertextException):
        kms("Decapsulate", KeyId=key, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=b"short")
    signing = create(kms, "ML_DSA_44", "SIGN_VERIFY")["KeyId"]
    with pytest.raises(errors.InvalidKeyUsageException):
        kms("Encapsulate", KeyId=signing, EncapsulationAlgorithm="ML_KEM")
    with pytest.raises(errors.DryRunOperationException):
        kms("Encapsulate", KeyId=key, EncapsulationAlgorithm="ML_KEM", DryRun=True)


# -- CLI and audit --------------------------------------------------------------------------------


def test_cli_sign_verify_exit_codes_and_shapes(cli: Any, tmp_path: Path) -> None:
    created = cli("create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY")
    assert created.code == 0, created.err
    key = created.json()["KeyMetadata"]["KeyId"]
    pub = cli("get-public-key", "--key-id", key)
    assert pub.code == 0, pub.err
    assert_output_shape("GetPublicKey", pub.json())
    (tmp_path / "msg").write_bytes(b"hello")
    signed = cli(
        "sign",
        "--key-id",
        key,
        "--message",
        f"fileb://{tmp_path / 'msg'}",
        "--signing-algorithm",
        "ECDSA_SHA_256",
    )
    assert signed.code == 0, signed.err
    assert_output_shape("Sign", signed.json())
    sig = signed.json()["Signature"]
    ok = cli(
        "verify",
        "--key-id",
        key,
        "--message",
        f"fileb://{tmp_path / 'msg'}",
        "--signature",
        sig,
        "--signing-algorithm",
        "ECDSA_SHA_256",
    )
    assert ok.code == 0 and ok.json()["SignatureValid"] is True
    (tmp_path / "msg").write_bytes(b"hellO")
    bad = cli(
        "verify",
        "--key-id",
        key,
        "--message",
        f"fileb://{tmp_path / 'msg'}",
        "--signature",
        sig,
        "--signing-algorithm",
        "ECDSA_SHA_256",
    )
    assert bad.code == 254 and bad.out == ""
    assert "An error occurred (KMSInvalidSignatureException) when calling the Verify operation" in bad.err
    wrong = cli(
        "sign",
        "--key-id",
        key,
        "--message",
        base64.b64encode(b"m").decode(),
        "--signing-algorithm",
        "RSASSA_PSS_SHA_256",
    )
    assert wrong.code == 254 and "InvalidKeyUsageException" in wrong.err and "Traceback" not in wrong.err
    short = cli(
        "sign",
        "--key-id",
        key,
        "--message",
        base64.b64encode(b"m").decode(),
        "--message-type",
        "DIGEST",
        "--signing-algorithm",
        "ECDSA_SHA_256",
    )
    assert short.code == 254 and "ValidationException" in short.err


def test_cli_mac_and_kem_and_pairs_shapes(cli: Any) -> None:
    mac_key = cli("create-key", "--key-spec", "HMAC_384", "--key-usage", "GENERATE_VERIFY_MAC").json()
    kid = mac_key["KeyMetadata"]["KeyId"]
    msg = base64.b64encode(b"m").decode()
    gen = cli("generate-mac", "--key-id", kid, "--message", msg, "--mac-algorithm", "HMAC_SHA_384")
    assert gen.code == 0, gen.err
    assert_output_shape("GenerateMac", gen.json())
    bad = cli(
        "verify-mac",
        "--key-id",
        kid,
        "--message",
        msg,
        "--mac",
        base64.b64encode(b"x" * 48).decode(),
        "--mac-algorithm",
        "HMAC_SHA_384",
    )
    assert bad.code == 254 and "KMSInvalidMacException" in bad.err
    kem = cli("create-key", "--key-spec", "ML_KEM_1024", "--key-usage", "ENCAPSULATE_DECAPSULATE").json()
    assert_output_shape("CreateKey", kem)
    enc = cli("encapsulate", "--key-id", kem["KeyMetadata"]["KeyId"], "--encapsulation-algorithm", "ML_KEM")
    assert enc.code == 0, enc.err
    assert_output_shape("Encapsulate", enc.json())
    sym = cli("create-key").json()["KeyMetadata"]["KeyId"]
    pair = cli("generate-data-key-pair", "--key-id", sym, "--key-pair-spec", "ECC_NIST_EDWARDS25519")
    assert pair.code == 0, pair.err
    assert_output_shape("GenerateDataKeyPair", pair.json())
    unsupported = cli("create-key", "--key-spec", "SM2", "--key-usage", "SIGN_VERIFY")
    assert unsupported.code == 254 and "UnsupportedOperationException" in unsupported.err


def test_audit_never_holds_secrets(kms: Any, vault: Path) -> None:
    sym = kms("CreateKey")["KeyMetadata"]["KeyId"]
    pair = kms("GenerateDataKeyPair", KeyId=sym, KeyPairSpec="ECC_NIST_P256")
    kem = create(kms, "ML_KEM_768", "ENCAPSULATE_DECAPSULATE")["KeyId"]
    enc = kms("Encapsulate", KeyId=kem, EncapsulationAlgorithm="ML_KEM")
    mac_key = create(kms, "HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
    kms("GenerateMac", KeyId=mac_key, Message=b"top secret message", MacAlgorithm="HMAC_SHA_256")
    text = "".join(p.read_text() for p in (vault / "audit").glob("*.jsonl"))
    for secret in (pair["PrivateKeyPlaintext"], enc["SharedSecret"], b"top secret message"):
        assert base64.b64encode(secret).decode() not in text
    events = [json.loads(line) for line in text.splitlines()]
    sign_events = [e for e in events if e["eventName"] == "GenerateMac"]
    assert sign_events and sign_events[0]["requestParameters"]["macAlgorithm"] == "HMAC_SHA_256"


@pytest.mark.parametrize("hash_cls", [hashes.SHA256, hashes.SHA384, hashes.SHA512])
def test_the_ecdsa_object_is_the_one_the_constructor_makes(hash_cls: type[hashes.HashAlgorithm]) -> None:
    """asymmetric.ecdsa() skips ECDSA.__init__ (and the backend import): same object, same signatures."""
    h = hash_cls()
    ours, theirs = asymmetric.ecdsa(h), ec.ECDSA(h)
    assert type(ours) is ec.ECDSA and vars(ours) == vars(theirs)
    assert ours.algorithm is h and ours.deterministic_signing is False
    key = ec.generate_private_key(ec.SECP384R1())
    signature = key.sign(b"artifact", ours)
    key.public_key().verify(signature, b"artifact", theirs)
    with pytest.raises(InvalidSignature):
        key.public_key().verify(signature, b"tampered", asymmetric.ecdsa(hash_cls()))
