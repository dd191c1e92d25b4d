"""Asymmetric primitives: key generation, public keys, signatures, RSA-OAEP, ECDH, ML-KEM, HMAC.

Every asymmetric private key is kept as unencrypted PKCS#8 DER (the vault wraps it); public keys are
handed out as DER SubjectPublicKeyInfo. Functions here raise :class:`CryptoInputError` for inputs a
caller got wrong (the service layer maps it to the matching AWS exception) and never include key
material or plaintext in messages.

Start-up matters here (``kmscli sign`` in a CI loop, bench/sign_session.py): only ``hashes`` is
imported with the module; each key family's module, padding and serialization are imported by the
functions that use them, so an ECDSA signature loads the EC code and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, padding


class CryptoInputError(ValueError):
    """The caller's input cannot be used (malformed key, wrong length, wrong message type...)."""


class InvalidSignatureError(Exception):
    """A signature (or MAC) does not verify."""


# -- key generation and loading -------------------------------------------------------------------

#: KeySpec -> the name of its curve class in ``cryptography.hazmat.primitives.asymmetric.ec``.
_CURVES = {
    "ECC_NIST_P256": "SECP256R1",
    "ECC_NIST_P384": "SECP384R1",
    "ECC_NIST_P521": "SECP521R1",
    "ECC_SECG_P256K1": "SECP256K1",
}
#: KeySpec -> the name of its private key class in the ``mldsa`` / ``mlkem`` module.
_MLDSA = {
    "ML_DSA_44": "MLDSA44PrivateKey",
    "ML_DSA_65": "MLDSA65PrivateKey",
    "ML_DSA_87": "MLDSA87PrivateKey",
}
_MLKEM = {"ML_KEM_768": "MLKEM768PrivateKey", "ML_KEM_1024": "MLKEM1024PrivateKey"}

#: Every asymmetric key spec (KeySpec and DataKeyPairSpec) this build can generate.
ASYMMETRIC_SPECS: tuple[str, ...] = (
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    *_CURVES,
    "ECC_NIST_EDWARDS25519",
    *_MLDSA,
    *_MLKEM,
)

#: Raw HMAC key lengths in bytes (the shared convention for HMAC key material).
HMAC_KEY_BYTES = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
_HMAC_HASH = {
    "HMAC_SHA_224": "sha224",
    "HMAC_SHA_256": "sha256",
    "HMAC_SHA_384": "sha384",
    "HMAC_SHA_512": "sha512",
}

PrivateKey = Any  # the union of cryptography's private key classes is not expressible as one ABC
PublicKey = Any


def generate_private(spec: str) -> bytes:
    """A new private key of ``spec`` as unencrypted PKCS#8 DER."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa

    key: Any
    if spec.startswith("RSA_"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=int(spec[4:]))
    elif spec in _CURVES:
        key = ec.generate_private_key(getattr(ec, _CURVES[spec])())
    elif spec == "ECC_NIST_EDWARDS25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif spec in _MLDSA:
        key = getattr(mldsa, _MLDSA[spec]).generate()
    elif spec in _MLKEM:
        key = getattr(mlkem, _MLKEM[spec]).generate()
    else:
        raise CryptoInputError(f"key spec {spec} has no asymmetric generator")
    return cast(
        bytes,
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def der_private_key_loader() -> Any:
    """``serialization.load_der_private_key``, without importing ``serialization``.

    Importing ``cryptography.hazmat.primitives.serialization`` also loads its SSH, bcrypt and
    PKCS#12 support, which costs more than the whole of a session ``kmscli sign``; the loader it
    re-exports is the Rust function below (tests/cli/test_startup.py checks that they are one object).
    Should a cryptography release move it, the public name is used instead.
    """
    try:
        from cryptography.hazmat.bindings._rust import openssl as rust_openssl

        return rust_openssl.keys.load_der_private_key
    except (ImportError, AttributeError):  # pragma: no cover - depends on cryptography's layout
        from cryptography.hazmat.primitives.serialization import load_der_private_key

        return load_der_private_key


def load_private(der: bytes, *, trusted: bool = True) -> PrivateKey:
    """Load a PKCS#8 DER private key.

    ``trusted`` material comes out of the vault's authenticated wrapping (AES-GCM under the vault
    key), so it is exactly what kmscli generated or validated at import: the costly RSA consistency
    check (hundreds of milliseconds for RSA_4096) is skipped for it. Pass ``trusted=False`` for key
    material from outside.
    """
    return der_private_key_loader()(der, password=None, unsafe_skip_rsa_key_validation=trusted)


def public_der(private_key: PrivateKey) -> bytes:
    """The DER SubjectPublicKeyInfo of a private key's public half."""
    from cryptography.hazmat.primitives import serialization

    return cast(
        bytes,
        private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def load_public(data: bytes) -> PublicKey:
    """Load a public key from DER SPKI or PEM; CryptoInputError when it is not one.

    For files a user hands to kmscli itself (``artifact verify --public-key``). A public key in a KMS
    request goes through :func:`load_public_der`: AWS takes DER there, never PEM.
    """
    from cryptography.hazmat.primitives import serialization

    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return serialization.load_pem_public_key(data)
        return load_public_der(data)
    except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
        raise CryptoInputError("the public key is not a valid DER or PEM SubjectPublicKeyInfo") from exc


def load_public_der(data: bytes) -> PublicKey:
    """Load a DER SubjectPublicKeyInfo (the only form AWS KMS requests take); CryptoInputError else."""
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_der_public_key(data)
    except (ValueError, UnsupportedAlgorithm, TypeError) as exc:
        raise CryptoInputError("the public key is not a valid DER-encoded SubjectPublicKeyInfo") from exc


def public_pem(public_key: PublicKey) -> bytes:
    """PEM SubjectPublicKeyInfo of a public key."""
    from cryptography.hazmat.primitives import serialization

    return cast(
        bytes,
        public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    )


# -- signing ----------------------------------------------------------------------------------------


class SigningAlgorithm(NamedTuple):
    """How one AWS SigningAlgorithm works: family, hash, and which message types it takes."""

    name: str
    family: str  # "pkcs1", "pss", "ecdsa", "ed25519", "ed25519ph", "mldsa"
    hash_name: str | None  # hashlib name of the message digest
    message_types: tuple[str, ...]

    @property
    def digest_size(self) -> int:
        """Length of the DIGEST (or EXTERNAL_MU) message this algorithm expects."""
        if self.family == "mldsa":
            return 64
        assert self.hash_name is not None
        return _CRYPTO_HASHES[self.hash_name]().digest_size


def _hash_algs(bits: int) -> str:
    return f"sha{bits}"


SIGNING_ALGORITHMS: dict[str, SigningAlgorithm] = {
    **{
        f"RSASSA_PKCS1_V1_5_SHA_{b}": SigningAlgorithm(
            f"RSASSA_PKCS1_V1_5_SHA_{b}", "pkcs1", _hash_algs(b), ("RAW", "DIGEST")
        )
        for b in (256, 384, 512)
    },
    **{
        f"RSASSA_PSS_SHA_{b}": SigningAlgorithm(
            f"RSASSA_PSS_SHA_{b}", "pss", _hash_algs(b), ("RAW", "DIGEST")
        )
        for b in (256, 384, 512)
    },
    **{
        f"ECDSA_SHA_{b}": SigningAlgorithm(f"ECDSA_SHA_{b}", "ecdsa", _hash_algs(b), ("RAW", "DIGEST"))
        for b in (256, 384, 512)
    },
    "ED25519_SHA_512": SigningAlgorithm("ED25519_SHA_512", "ed25519", "sha512", ("RAW",)),
    "ED25519_PH_SHA_512": SigningAlgorithm("ED25519_PH_SHA_512", "ed25519ph", "sha512", ("DIGEST",)),
    "ML_DSA_SHAKE_256": SigningAlgorithm("ML_DSA_SHAKE_256", "mldsa", None, ("RAW", "EXTERNAL_MU")),
}

_CRYPTO_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def check_message(alg: SigningAlgorithm, message: bytes, message_type: str) -> None:
    """CryptoInputError when ``message_type`` or the message length does not fit ``alg``."""
    if message_type not in alg.message_types:
        allowed = " or ".join(alg.message_types)
        raise CryptoInputError(f"MessageType {message_type} is not valid for {alg.name}; use {allowed}.")
    if message_type in ("DIGEST", "EXTERNAL_MU") and len(message) != alg.digest_size:
        what = "Digest" if message_type == "DIGEST" else "External mu"
        raise CryptoInputError(
            f"{what} is invalid length for algorithm {alg.name}: expected {alg.digest_size} bytes, "
            f"got {len(message)}."
        )


def _hash_for(alg: SigningAlgorithm, message_type: str) -> tuple[hashes.HashAlgorithm, Any]:
    """(the hash, the argument to pass to sign/verify: the hash or Prehashed for a DIGEST)."""
    assert alg.hash_name is not None
    algorithm = _CRYPTO_HASHES[alg.hash_name]()
    if message_type != "DIGEST":
        return algorithm, algorithm
    from cryptography.hazmat.primitives.asymmetric import utils

    return algorithm, utils.Prehashed(algorithm)


def _pss(algorithm: hashes.HashAlgorithm) -> padding.PSS:
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)


def ecdsa(algorithm: Any) -> ec.ECDSA:
    """``ec.ECDSA(algorithm)``: randomized ECDSA, as AWS KMS signs, without loading the OpenSSL backend.

    ``ECDSA.__init__`` imports ``cryptography.hazmat.backends.openssl.backend`` only to check that
    *deterministic* signing is available, which kmscli never asks for; that import loads some
    twenty-five modules (every cipher and mode, RSA padding, the cffi binding), more than the rest
    of a session ``kmscli sign`` (bench/sign_session.py). The object is therefore built with the
    two attributes ``__init__`` sets, and checked through the public properties the signing code
    reads; should a cryptography release store them differently, the constructor is used after all.
    tests/service/test_asymmetric.py checks both that this object is the one the constructor makes and
    that its signatures verify.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    sig = object.__new__(ec.ECDSA)
    try:
        sig._algorithm = algorithm
        sig._deterministic_signing = False
        if sig.algorithm is algorithm and sig.deterministic_signing is False:
            return sig
    except AttributeError:  # pragma: no cover - depends on cryptography's layout
        pass
    return ec.ECDSA(algorithm)  # pragma: no cover


def _pkcs1v15() -> padding.PKCS1v15:
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PKCS1v15()


def sign(private_key: PrivateKey, alg: SigningAlgorithm, message: bytes, message_type: str) -> bytes:
    """Sign ``message`` (RAW bytes, a DIGEST, or an ML-DSA EXTERNAL_MU) with ``alg``."""
    check_message(alg, message, message_type)
    if alg.family in ("pkcs1", "pss", "ecdsa"):
        base, h = _hash_for(alg, message_type)
        if alg.family == "ecdsa":
            return cast(bytes, private_key.sign(message, ecdsa(h)))
        if alg.family == "pss":
            return cast(bytes, private_key.sign(message, _pss(base), h))
        return cast(bytes, private_key.sign(message, _pkcs1v15(), h))
    if alg.family == "ed25519":
        return cast(bytes, private_key.sign(message))
    if alg.family == "ed25519ph":
        return _ed25519ph(private_key, message, None)
    if alg.family == "mldsa":
        if message_type == "EXTERNAL_MU":
            return cast(bytes, private_key.sign_mu(message))
        return cast(bytes, private_key.sign(message))
    raise CryptoInputError(f"unknown signing algorithm family {alg.family}")


def verify(
    public_key: PublicKey, alg: SigningAlgorithm, message: bytes, message_type: str, signature: bytes
) -> None:
    """Raise InvalidSignatureError unless ``signature`` is valid for ``message`` under ``public_key``."""
    check_message(alg, message, message_type)
    try:
        if alg.family in ("pkcs1", "pss", "ecdsa"):
            base, h = _hash_for(alg, message_type)
            if alg.family == "pkcs1":
                public_key.verify(signature, message, _pkcs1v15(), h)
            elif alg.family == "pss":
                public_key.verify(signature, message, _pss(base), h)
            else:
                public_key.verify(signature, message, ecdsa(h))
        elif alg.family == "ed25519":
            public_key.verify(signature, message)
        elif alg.family == "ed25519ph":
            _ed25519ph(public_key, message, signature)
        elif alg.family == "mldsa":
            if message_type == "EXTERNAL_MU":
                public_key.verify_mu(signature, message)
            else:
                public_key.verify(signature, message)
        else:
            raise CryptoInputError(f"unknown signing algorithm family {alg.family}")
    except (InvalidSignature, ValueError) as exc:
        if isinstance(exc, CryptoInputError):
            raise
        raise InvalidSignatureError("signature verification failed") from exc


def mu_hasher(public_key: PublicKey) -> Any:
    """An ML-DSA mu hasher (empty context) for streaming a message of any size (EXTERNAL_MU)."""
    from cryptography.hazmat.primitives.asymmetric import mldsa

    return mldsa.MLDSAMuHasher(public_key)


def _ed25519ph(key: Any, digest: bytes, signature: bytes | None) -> bytes:
    """Ed25519ph (RFC 8032, empty context) over a given SHA-512 digest, through pycryptodome.

    ``cryptography`` and libsodium take the message, not its digest; pycryptodome's RFC 8032 code
    takes a SHA-512 hash object, so the given digest is presented as one. Signs when ``signature``
    is None, else verifies (raising InvalidSignatureError).
    """
    from Crypto.Hash import SHA512
    from Crypto.PublicKey import ECC
    from Crypto.Signature import eddsa
    from cryptography.hazmat.primitives import serialization

    class _GivenDigest(SHA512.SHA512Hash):
        def __init__(self, value: bytes) -> None:
            super().__init__(None, None)
            self._value = value

        def digest(self) -> bytes:
            return self._value

    if signature is None:
        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        signer = eddsa.new(ECC.construct(curve="Ed25519", seed=raw), "rfc8032")
        return signer.sign(_GivenDigest(digest))
    pub = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    verifier = eddsa.new(eddsa.import_public_key(pub), "rfc8032")
    try:
        verifier.verify(_GivenDigest(digest), signature)
    except ValueError as exc:
        raise InvalidSignatureError("signature verification failed") from exc
    return signature


def new_hash(alg: SigningAlgorithm) -> Any:
    """A hashlib object for streaming a message into the digest ``alg`` signs (not for ML-DSA)."""
    import hashlib

    assert alg.hash_name is not None
    return hashlib.new(alg.hash_name)


def key_spec_of(public_key: PublicKey) -> str | None:
    """The KeySpec of a KMS key with this public key, or None when no KMS key spec has such a key
    (an RSA modulus other than 2048/3072/4096 bits, another curve, an Ed448 key...)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, rsa

    if isinstance(public_key, rsa.RSAPublicKey):
        spec = f"RSA_{public_key.key_size}"
        return spec if spec in ASYMMETRIC_SPECS else None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = type(public_key.curve).__name__
        return next((spec for spec, name in _CURVES.items() if name == curve), None)
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ECC_NIST_EDWARDS25519"
    for table, module in ((_MLDSA, mldsa), (_MLKEM, mlkem)):
        for spec, private_class in table.items():
            if isinstance(public_key, getattr(module, private_class.replace("Private", "Public"))):
                return spec
    return None


# -- RSA encryption ---------------------------------------------------------------------------------

_OAEP_HASH = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}


def _oaep(algorithm: str) -> padding.OAEP:
    from cryptography.hazmat.primitives.asymmetric import padding

    h = _OAEP_HASH[algorithm]()
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


def oaep_max_plaintext(key_bits: int, algorithm: str) -> int:
    """AWS's plaintext limit: k - 2*hLen - 2 (214/190 bytes for RSA_2048 with SHA-1/SHA-256)."""
    return key_bits // 8 - 2 * _OAEP_HASH[algorithm]().digest_size - 2


def rsa_encrypt(public_key: PublicKey, algorithm: str, plaintext: bytes) -> bytes:
    """RSAES-OAEP encryption; CryptoInputError when the plaintext is over AWS's limit."""
    limit = oaep_max_plaintext(public_key.key_size, algorithm)
    if len(plaintext) > limit:
        raise CryptoInputError(
            f"Plaintext is too long for {algorithm} with a {public_key.key_size}-bit key: "
            f"{len(plaintext)} bytes, at most {limit}."
        )
    return cast(bytes, public_key.encrypt(plaintext, _oaep(algorithm)))


def rsa_decrypt(private_key: PrivateKey, algorithm: str, ciphertext: bytes) -> bytes:
    """RSAES-OAEP decryption; CryptoInputError when the ciphertext does not decrypt."""
    try:
        return cast(bytes, private_key.decrypt(ciphertext, _oaep(algorithm)))
    except ValueError as exc:
        raise CryptoInputError("the ciphertext does not decrypt under this key and algorithm") from exc


# -- key agreement and encapsulation --------------------------------------------------------------


def ecdh(private_key: PrivateKey, peer_der: bytes) -> bytes:
    """ECDH shared secret (the raw x coordinate) with a peer's DER SPKI public key on the same curve.

    PEM is refused, as AWS's DeriveSharedSecret refuses it (its PublicKey must be DER SPKI).
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    peer = load_public_der(peer_der)
    if not isinstance(peer, ec.EllipticCurvePublicKey):
        raise CryptoInputError("the public key is not an elliptic curve key")
    if peer.curve.name != private_key.curve.name:
        raise CryptoInputError(
            f"the public key is on curve {peer.curve.name}, but the KMS key is on {private_key.curve.name}"
        )
    return cast(bytes, private_key.exchange(ec.ECDH(), peer))


def encapsulate(public_key: PublicKey) -> tuple[bytes, bytes]:
    """ML-KEM encapsulation: (shared secret, ciphertext)."""
    secret, ciphertext = public_key.encapsulate()
    return cast(bytes, secret), cast(bytes, ciphertext)


def decapsulate(private_key: PrivateKey, ciphertext: bytes) -> bytes:
    """ML-KEM decapsulation; CryptoInputError when the ciphertext has the wrong length."""
    try:
        return cast(bytes, private_key.decapsulate(ciphertext))
    except ValueError as exc:
        raise CryptoInputError("the ciphertext is not a valid ML-KEM ciphertext for this key") from exc


# -- MAC --------------------------------------------------------------------------------------------


def mac(key: bytes, algorithm: str, message: bytes) -> bytes:
    """HMAC of ``message`` with ``algorithm`` (HMAC_SHA_224/256/384/512)."""
    import hmac

    return hmac.new(key, message, _HMAC_HASH[algorithm]).digest()


def mac_equal(expected: bytes, given: bytes) -> bool:
    """Constant-time comparison of two MACs."""
    import hmac

    return hmac.compare_digest(expected, given)
