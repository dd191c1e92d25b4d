"""Key specs: which usages each allows and the algorithms AWS lists for them, in AWS's order."""

from __future__ import annotations

from typing import NamedTuple

RSA_SIGNING = (
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
)
RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")


class KeySpecInfo(NamedTuple):
    """What one KeySpec allows. ``algorithms`` maps a KeyUsage to the DescribeKey members it fills."""

    name: str
    usages: tuple[str, ...]
    algorithms: dict[str, dict[str, tuple[str, ...]]]
    #: Why kmscli cannot offer this spec, or None when it can.
    unsupported: str | None = None


def _spec(name: str, **usage_algs: dict[str, tuple[str, ...]]) -> KeySpecInfo:
    return KeySpecInfo(name, tuple(usage_algs), usage_algs)


_ECDSA = {
    "ECC_NIST_P256": "ECDSA_SHA_256",
    "ECC_NIST_P384": "ECDSA_SHA_384",
    "ECC_NIST_P521": "ECDSA_SHA_512",
}

SPECS: dict[str, KeySpecInfo] = {
    "SYMMETRIC_DEFAULT": _spec(
        "SYMMETRIC_DEFAULT", ENCRYPT_DECRYPT={"EncryptionAlgorithms": ("SYMMETRIC_DEFAULT",)}
    ),
    **{
        f"RSA_{bits}": _spec(
            f"RSA_{bits}",
            ENCRYPT_DECRYPT={"EncryptionAlgorithms": RSA_ENCRYPTION},
            SIGN_VERIFY={"SigningAlgorithms": RSA_SIGNING},
        )
        for bits in (2048, 3072, 4096)
    },
    **{
        name: _spec(
            name,
            SIGN_VERIFY={"SigningAlgorithms": (alg,)},
            KEY_AGREEMENT={"KeyAgreementAlgorithms": ("ECDH",)},
        )
        for name, alg in _ECDSA.items()
    },
    "ECC_SECG_P256K1": _spec("ECC_SECG_P256K1", SIGN_VERIFY={"SigningAlgorithms": ("ECDSA_SHA_256",)}),
    "ECC_NIST_EDWARDS25519": _spec(
        "ECC_NIST_EDWARDS25519", SIGN_VERIFY={"SigningAlgorithms": ("ED25519_SHA_512", "ED25519_PH_SHA_512")}
    ),
    **{
        f"HMAC_{bits}": _spec(f"HMAC_{bits}", GENERATE_VERIFY_MAC={"MacAlgorithms": (f"HMAC_SHA_{bits}",)})
        for bits in (224, 256, 384, 512)
    },
    **{
        f"ML_DSA_{n}": _spec(f"ML_DSA_{n}", SIGN_VERIFY={"SigningAlgorithms": ("ML_DSA_SHAKE_256",)})
        for n in (44, 65, 87)
    },
    **{
        f"ML_KEM_{n}": _spec(f"ML_KEM_{n}", ENCAPSULATE_DECAPSULATE={"EncapsulationAlgorithms": ("ML_KEM",)})
        for n in (768, 1024)
    },
    "SM2": KeySpecInfo(
        "SM2",
        ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"),
        {},
        unsupported="SM2 keys exist only in AWS China Regions, and the cryptography library kmscli "
        "uses has no SM2 implementation",
    ),
    "ML_KEM_512": KeySpecInfo(
        "ML_KEM_512",
        ("ENCAPSULATE_DECAPSULATE",),
        {},
        unsupported="the cryptography library kmscli uses implements ML-KEM-768 and ML-KEM-1024 only",
    ),
}

#: KeyMetadata members that list algorithms; every one absent from a spec is omitted from output.
#: Key specs that the deprecated CustomerMasterKeySpec member can name (botocore's enum); newer specs
#: (ML-DSA, ML-KEM, Ed25519) leave that member out.
CUSTOMER_MASTER_KEY_SPECS = frozenset(
    {
        "SYMMETRIC_DEFAULT",
        "RSA_2048",
        "RSA_3072",
        "RSA_4096",
        "ECC_NIST_P256",
        "ECC_NIST_P384",
        "ECC_NIST_P521",
        "ECC_SECG_P256K1",
        "HMAC_224",
        "HMAC_256",
        "HMAC_384",
        "HMAC_512",
        "SM2",
    }
)

#: Key specs that have a private/secret half but no public key to hand out.
SYMMETRIC_SPECS = frozenset({"SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"})


def key_type(spec: str) -> str:
    """AWS's key type of a spec: ``SYMMETRIC`` (encryption), ``HMAC`` or ``ASYMMETRIC`` (the three
    kinds its "Key type reference" table, UpdateAlias and CreateGrant tell apart)."""
    if spec == "SYMMETRIC_DEFAULT":
        return "SYMMETRIC"
    return "HMAC" if spec in SYMMETRIC_SPECS else "ASYMMETRIC"


def algorithms_for(spec: str, usage: str) -> dict[str, list[str]]:
    """The algorithm lists DescribeKey shows for a key of ``spec`` used for ``usage``."""
    info = SPECS[spec]
    return {member: list(values) for member, values in info.algorithms.get(usage, {}).items()}
