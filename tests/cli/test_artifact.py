"""``kmscli artifact``: signing files of any size, offline verification, openssl interoperability."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from kmscli.crypto import digest

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl command line not installed")


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash in 64 KiB chunks so the test artifacts span many reads (chunk boundaries are exercised)."""
    monkeypatch.setattr(digest, "CHUNK", 1 << 16)


@pytest.fixture
def artifact_file(tmp_path: Path) -> Path:
    path = tmp_path / "release-1.0.tar.gz"
    path.write_bytes(os.urandom(300_000) + b"tail")  # > 4096 bytes, not a multiple of the chunk size
    return path


def _key(cli: Any, spec: str) -> str:
    res = cli(
        "create-key",
        "--key-spec",
        spec,
        "--key-usage",
        "SIGN_VERIFY",
        "--query",
        "KeyMetadata.KeyId",
        "--output",
        "text",
    )
    assert res.code == 0, res.err
    return str(res.out.strip())


def _export(cli: Any, key: str, path: Path) -> Path:
    res = cli("artifact", "public-key", "--key-id", key, "--out", str(path))
    assert res.code == 0, res.err
    return path


def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine with no vault and no passphrase."""
    monkeypatch.setenv("KMSCLI_VAULT", str(tmp_path / "no-vault-here"))
    monkeypatch.delenv("KMSCLI_PASSPHRASE", raising=False)


OPENSSL_DGST = {
    "RSA_2048": ["-sha256"],
    "ECC_NIST_P256": ["-sha256"],
    "ECC_NIST_P384": ["-sha384"],
    "ECC_NIST_P521": ["-sha512"],
}


@pytest.mark.parametrize(
    ("spec", "default_alg"),
    [
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"),
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("ECC_NIST_P384", "ECDSA_SHA_384"),
        ("ECC_NIST_P521", "ECDSA_SHA_512"),
        ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
        ("ECC_NIST_EDWARDS25519", "ED25519_PH_SHA_512"),
        ("ML_DSA_44", "ML_DSA_SHAKE_256"),
        ("ML_DSA_87", "ML_DSA_SHAKE_256"),
    ],
)
def test_sign_then_verify_offline_and_with_openssl(
    cli: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    artifact_file: Path,
    spec: str,
    default_alg: str,
) -> None:
    key = _key(cli, spec)
    sig = tmp_path / "artifact.sig"
    signed = cli("artifact", "sign", str(artifact_file), "--key-id", key, "--signature-file", str(sig))
    assert signed.code == 0, signed.err
    summary = signed.json()
    assert summary["SigningAlgorithm"] == default_alg
    assert summary["SignatureFile"] == str(sig)
    if summary["MessageType"] == "DIGEST":
        assert (
            summary["Digest"] == hashlib.new(f"sha{default_alg[-3:]}", artifact_file.read_bytes()).hexdigest()
        )
    pem = _export(cli, key, tmp_path / "pub.pem")
    via_kms = cli("artifact", "verify", str(artifact_file), "--signature-file", str(sig), "--key-id", key)
    assert via_kms.code == 0, via_kms.err
    if spec in OPENSSL_DGST and OPENSSL:
        res = subprocess.run(
            [
                OPENSSL,
                "dgst",
                *OPENSSL_DGST[spec],
                "-verify",
                str(pem),
                "-signature",
                str(sig),
                str(artifact_file),
            ],
            capture_output=True,
            check=False,
        )
        assert res.returncode == 0 and b"Verified OK" in res.stdout, res.stderr
    # the other machine: no vault, no passphrase, only the public key
    _offline(monkeypatch, tmp_path)
    ok = cli("artifact", "verify", str(artifact_file), "--signature-file", str(sig), "--public-key", str(pem))
    assert ok.code == 0, ok.err
    assert default_alg in ok.out
    artifact_file.write_bytes(artifact_file.read_bytes()[:-1] + b"!")
    bad = cli(
        "artifact", "verify", str(artifact_file), "--signature-file", str(sig), "--public-key", str(pem)
    )
    assert bad.code == 1
    assert bad.err.count("\n") == 1 and "invalid signature" in bad.err
    assert not (tmp_path / "no-vault-here").exists()


def test_signature_verifies_with_cryptography_over_whole_file(
    cli: Any, tmp_path: Path, artifact_file: Path
) -> None:
    key = _key(cli, "ECC_NIST_P256")
    assert cli("artifact", "sign", str(artifact_file), "--key-id", key).code == 0
    sig = Path(f"{artifact_file}.sig").read_bytes()  # default signature path
    pub = serialization.load_pem_public_key(_export(cli, key, tmp_path / "p.pem").read_bytes())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(sig, artifact_file.read_bytes(), ec.ECDSA(hashes.SHA256()))


@needs_openssl
def test_rsa_pss_explicit_algorithm_and_der_public_key(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, artifact_file: Path
) -> None:
    key = _key(cli, "RSA_2048")
    sig = tmp_path / "s"
    res = cli(
        "artifact",
        "sign",
        str(artifact_file),
        "--key-id",
        key,
        "--signing-algorithm",
        "RSASSA_PSS_SHA_512",
        "--signature-file",
        str(sig),
    )
    assert res.code == 0, res.err
    pem = _export(cli, key, tmp_path / "pub.pem")
    assert OPENSSL is not None
    check = subprocess.run(
        [
            OPENSSL,
            "dgst",
            "-sha512",
            "-verify",
            str(pem),
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:64",
            "-signature",
            str(sig),
            str(artifact_file),
        ],
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    pub = serialization.load_pem_public_key(pem.read_bytes())
    der = tmp_path / "pub.der"
    der.write_bytes(
        pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    _offline(monkeypatch, tmp_path)
    ok = cli(
        "artifact",
        "verify",
        str(artifact_file),
        "--signature-file",
        str(sig),
        "--public-key",
        str(der),
        "--signing-algorithm",
        "RSASSA_PSS_SHA_512",
    )
    assert ok.code == 0, ok.err
    # the default (PKCS#1 v1.5 SHA-256) does not match a PSS signature: invalid, not an error
    wrong = cli(
        "artifact", "verify", str(artifact_file), "--signature-file", str(sig), "--public-key", str(der)
    )
    assert wrong.code == 1
    pub.verify(
        sig.read_bytes(),
        artifact_file.read_bytes(),
        padding.PSS(padding.MGF1(hashes.SHA512()), 64),
        hashes.SHA512(),
    )


@needs_openssl
def test_pure_ed25519_for_small_files_only(cli: Any, tmp_path: Path) -> None:
    key = _key(cli, "ECC_NIST_EDWARDS25519")
    small = tmp_path / "small"
    small.write_bytes(b"x" * 4096)
    res = cli("artifact", "sign", str(small), "--key-id", key, "--signing-algorithm", "ED25519_SHA_512")
    assert res.code == 0, res.err
    assert res.json()["MessageType"] == "RAW"
    pem = _export(cli, key, tmp_path / "pub.pem")
    assert OPENSSL is not None
    check = subprocess.run(
        [
            OPENSSL,
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(pem),
            "-rawin",
            "-in",
            str(small),
            "-sigfile",
            f"{small}.sig",
        ],
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    ok = cli(
        "artifact",
        "verify",
        str(small),
        "--signature-file",
        f"{small}.sig",
        "--public-key",
        str(pem),
        "--signing-algorithm",
        "ED25519_SHA_512",
    )
    assert ok.code == 0, ok.err
    small.write_bytes(b"x" * 4097)
    big = cli("artifact", "sign", str(small), "--key-id", key, "--signing-algorithm", "ED25519_SHA_512")
    assert big.code == 252 and "ED25519_PH_SHA_512" in big.err


def test_verify_against_another_key_is_invalid(cli: Any, tmp_path: Path, artifact_file: Path) -> None:
    signer, other = _key(cli, "ECC_NIST_P256"), _key(cli, "ECC_NIST_P256")
    assert cli("artifact", "sign", str(artifact_file), "--key-id", signer).code == 0
    res = cli(
        "artifact",
        "verify",
        str(artifact_file),
        "--signature-file",
        f"{artifact_file}.sig",
        "--key-id",
        other,
    )
    assert res.code == 1 and "invalid signature" in res.err
    pem = _export(cli, other, tmp_path / "o.pem")
    res = cli(
        "artifact",
        "verify",
        str(artifact_file),
        "--signature-file",
        f"{artifact_file}.sig",
        "--public-key",
        str(pem),
    )
    assert res.code == 1


def test_artifact_failure_paths(cli: Any, tmp_path: Path, artifact_file: Path) -> None:
    key = _key(cli, "ECC_NIST_P256")
    missing = cli("artifact", "sign", str(tmp_path / "missing"), "--key-id", key)
    assert missing.code == 252 and "not a readable file" in missing.err
    sym = cli("create-key", "--query", "KeyMetadata.KeyId", "--output", "text").out.strip()
    wrong_usage = cli("artifact", "sign", str(artifact_file), "--key-id", sym)
    assert wrong_usage.code == 254
    assert "An error occurred (InvalidKeyUsageException) when calling the Sign operation" in wrong_usage.err
    wrong_alg = cli(
        "artifact", "sign", str(artifact_file), "--key-id", key, "--signing-algorithm", "ECDSA_SHA_384"
    )
    assert wrong_alg.code == 254 and "InvalidKeyUsageException" in wrong_alg.err
    unknown = cli("artifact", "sign", str(artifact_file), "--key-id", key, "--signing-algorithm", "MD5_FUN")
    assert unknown.code == 252
    not_found = cli("artifact", "sign", str(artifact_file), "--key-id", "alias/nope")
    assert not_found.code == 254 and "NotFoundException" in not_found.err
    assert cli("artifact", "sign", str(artifact_file), "--key-id", key).code == 0
    sig = f"{artifact_file}.sig"
    both = cli("artifact", "verify", str(artifact_file), "--signature-file", sig)
    assert both.code == 252 and "exactly one of --key-id and --public-key" in both.err
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    bad_key = cli(
        "artifact", "verify", str(artifact_file), "--signature-file", sig, "--public-key", str(junk)
    )
    assert bad_key.code == 252 and "not a valid DER or PEM" in bad_key.err
    pem = _export(cli, key, tmp_path / "pub.pem")
    misfit = cli(
        "artifact",
        "verify",
        str(artifact_file),
        "--signature-file",
        sig,
        "--public-key",
        str(pem),
        "--signing-algorithm",
        "RSASSA_PSS_SHA_256",
    )
    assert misfit.code == 252 and "does not fit" in misfit.err
    no_sig = cli(
        "artifact",
        "verify",
        str(artifact_file),
        "--signature-file",
        str(tmp_path / "none"),
        "--public-key",
        str(pem),
    )
    assert no_sig.code == 252
    garbage = tmp_path / "garbage.sig"
    garbage.write_bytes(b"\x00" * 7)
    res = cli(
        "artifact", "verify", str(artifact_file), "--signature-file", str(garbage), "--public-key", str(pem)
    )
    assert res.code == 1
    for result in (missing, wrong_usage, unknown, bad_key, misfit, res):
        assert "Traceback" not in result.err


@needs_openssl
@pytest.mark.parametrize(
    ("curve", "digest", "algorithm"),
    [
        ("P-256", "-sha384", "ECDSA_SHA_384"),
        ("P-256", "-sha512", "ECDSA_SHA_512"),
        ("P-384", "-sha256", "ECDSA_SHA_256"),
        ("secp256k1", "-sha512", "ECDSA_SHA_512"),
    ],
)
def test_offline_verify_refuses_pairs_no_kms_key_signs_with(
    cli: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    artifact_file: Path,
    curve: str,
    digest: str,
    algorithm: str,
) -> None:
    """Each ECC key spec signs with one ECDSA hash only (P-256 and secp256k1: SHA-256, P-384:
    SHA-384); a signature openssl made with another hash is valid ECDSA, but not one a KMS key makes
    nor one Verify --key-id accepts, so offline verify must not call it valid either."""
    assert OPENSSL is not None
    _offline(monkeypatch, tmp_path)
    key, pub, sig = tmp_path / "k.pem", tmp_path / "pub.pem", tmp_path / "s"

    def openssl(*args: str) -> None:
        assert OPENSSL is not None
        done = subprocess.run([OPENSSL, *args], capture_output=True, check=False)
        assert done.returncode == 0, done.stderr

    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-out", str(key))
    openssl("pkey", "-in", str(key), "-pubout", "-out", str(pub))
    openssl("dgst", digest, "-sign", str(key), "-out", str(sig), str(artifact_file))
    openssl("dgst", digest, "-verify", str(pub), "-signature", str(sig), str(artifact_file))
    res = cli(
        "artifact", "verify", str(artifact_file), "--signature-file", str(sig), "--public-key", str(pub),
        "--signing-algorithm", algorithm,
    )  # fmt: skip
    assert res.code == 252, res.out + res.err
    assert f"signing algorithm {algorithm} does not fit the public key" in res.err


def test_offline_verify_refuses_keys_no_kms_key_has(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, artifact_file: Path
) -> None:
    """A P-224 or a 1024-bit RSA key is no KMS key's (key specs), and an ML-KEM key does not sign."""
    from cryptography.hazmat.primitives.asymmetric import mlkem, rsa

    _offline(monkeypatch, tmp_path)
    sig = tmp_path / "s"
    sig.write_bytes(b"0" * 64)
    for name, public in [
        ("p224", ec.generate_private_key(ec.SECP224R1()).public_key()),
        ("rsa1024", rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()),
        ("mlkem", mlkem.MLKEM768PrivateKey.generate().public_key()),
    ]:
        path = tmp_path / f"{name}.pem"
        path.write_bytes(
            public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        res = cli(
            "artifact", "verify", str(artifact_file), "--signature-file", str(sig), "--public-key", str(path)
        )
        assert res.code == 252, (name, res.out, res.err)
        assert "not the public key of a KMS signing key" in res.err
        if name == "mlkem":
            assert "ML_KEM_768" in res.err


def test_artifact_sign_is_audited_as_sign_with_digest(cli: Any, vault: Path, artifact_file: Path) -> None:
    key = _key(cli, "ECC_NIST_P384")
    assert cli("artifact", "sign", str(artifact_file), "--key-id", key).code == 0
    events = [
        json.loads(line)
        for p in sorted((vault / "audit").glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    signs = [e for e in events if e["eventName"] == "Sign"]
    assert len(signs) == 1
    assert signs[0]["requestParameters"]["messageType"] == "DIGEST"
    assert signs[0]["requestParameters"]["signingAlgorithm"] == "ECDSA_SHA_384"


def test_public_key_to_stdout_is_pem(cli: Any) -> None:
    key = _key(cli, "ML_DSA_65")
    res = cli("artifact", "public-key", "--key-id", key)
    assert res.code == 0, res.err
    assert res.out.startswith("-----BEGIN PUBLIC KEY-----")
    serialization.load_pem_public_key(res.out.encode())


def test_verify_exit_codes_as_a_real_process(cli: Any, tmp_path: Path, artifact_file: Path) -> None:
    """The exit status a CI job sees: 0 valid, 1 invalid, from a process with no vault configured."""
    import sys

    key = _key(cli, "ECC_NIST_P256")
    assert cli("artifact", "sign", str(artifact_file), "--key-id", key).code == 0
    pem = _export(cli, key, tmp_path / "pub.pem")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSCLI_")}
    env["KMSCLI_VAULT"] = str(tmp_path / "absent")
    cmd = [
        sys.executable,
        "-m",
        "kmscli",
        "artifact",
        "verify",
        str(artifact_file),
        "--signature-file",
        f"{artifact_file}.sig",
        "--public-key",
        str(pem),
    ]
    ok = subprocess.run(cmd, env=env, capture_output=True, check=False)
    assert ok.returncode == 0, ok.stderr
    artifact_file.write_bytes(b"replaced")
    bad = subprocess.run(cmd, env=env, capture_output=True, check=False)
    assert bad.returncode == 1
    assert bad.stderr.decode().strip().count("\n") == 0 and b"invalid signature" in bad.stderr
