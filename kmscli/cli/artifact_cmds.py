"""``kmscli artifact``: sign files of any size, verify them (offline from a public key), export PEM keys.

Exit codes: ``sign`` and ``public-key`` follow the AWS CLI contract. ``verify`` exits 0 when the
signature is valid and 1 when it is not, with a one-line reason on stderr; bad parameters are 252,
vault problems 253 and KMS errors other than an invalid signature 254.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kmscli.cli.globals import pop_globals, with_global_options
from kmscli.cli.listing import ListingGroup
from kmscli.cli.run import emit, write_user_file
from kmscli.errors import KmscliError, UsageError
from kmscli.invocation import Invocation


class ArtifactSignatureInvalid(KmscliError):
    """The artifact's signature does not verify: exit 1, one line on stderr."""

    exit_code = 1


_ALGORITHM_HELP = (
    "Signing algorithm (default: the key's first one that signs digests, e.g. RSASSA_PKCS1_V1_5_SHA_256, "
    "ECDSA_SHA_256, ED25519_PH_SHA_512, ML_DSA_SHAKE_256)."
)


def _service(inv: Invocation) -> Any:
    """What the artifact commands make their KMS calls through: the local vault, or the endpoint."""
    from kmscli.cli.run import caller_for

    return caller_for(inv)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None


def _check_file(path: str) -> Path:
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"artifact {path} is not a readable file")
    return file


@click.group(cls=ListingGroup)
def artifact() -> None:
    """Sign and verify release artifacts of any size (the hash is computed locally)."""


@artifact.command("sign")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--key-id", required=True, help="Signing key: key id, ARN, alias name or alias ARN.")
@click.option("--signing-algorithm", help=_ALGORITHM_HELP)
@click.option("--signature-file", help="Where to write the detached signature (default FILE.sig).")
@with_global_options
def sign(
    file: str, key_id: str, signing_algorithm: str | None, signature_file: str | None, **kwargs: Any
) -> None:
    """Stream FILE through the algorithm's hash and sign the digest with KMS (DIGEST, or EXTERNAL_MU
    for ML-DSA). Writes the raw signature (DER for ECDSA), which openssl verifies."""
    from kmscli.service.features.artifact import sign_file

    inv = pop_globals(kwargs, remote=True)
    path = _check_file(file)
    call = _service(inv)
    signature, summary = sign_file(call, path, key_id, signing_algorithm)
    target = Path(signature_file or f"{file}.sig")
    write_user_file(str(target), signature, "signature file")
    summary["SignatureFile"] = str(target)
    emit(summary, inv, inv.output(), "Artifact")


@artifact.command("verify")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--signature-file", required=True, help="The detached signature to check.")
@click.option("--key-id", help="Verify through KMS with this key (needs the vault).")
@click.option("--public-key", help="Verify offline with this PEM or DER public key file (no vault).")
@click.option("--signing-algorithm", help=_ALGORITHM_HELP)
@with_global_options
def verify(
    file: str,
    signature_file: str,
    key_id: str | None,
    public_key: str | None,
    signing_algorithm: str | None,
    **kwargs: Any,
) -> None:
    """Exit 0 when the signature of FILE is valid, 1 (with the reason on stderr) when it is not.

    Prints `Verified OK (ALGORITHM)`; with --output, {"Verified": true, "SigningAlgorithm"} in that format.
    """
    from kmscli.crypto.asymmetric import InvalidSignatureError
    from kmscli.errors import KMSInvalidSignatureException

    inv = pop_globals(kwargs, remote=True)
    if (key_id is None) == (public_key is None):
        raise UsageError("give exactly one of --key-id and --public-key")
    path = _check_file(file)
    signature = _read(signature_file, "signature file")
    try:
        if public_key is not None:
            from kmscli.service.features.artifact import verify_file_offline

            alg = verify_file_offline(
                path, signature, _read(public_key, "public key file"), signing_algorithm
            )
        else:
            from kmscli.service.features.artifact import verify_file_with_key

            call = _service(inv)
            assert key_id is not None
            alg = verify_file_with_key(call, path, signature, key_id, signing_algorithm)
    except (InvalidSignatureError, KMSInvalidSignatureException):
        raise ArtifactSignatureInvalid(
            f"invalid signature: {signature_file} is not a valid signature of {file} for this key"
        ) from None
    if inv.options.get("output"):
        emit({"Verified": True, "SigningAlgorithm": alg}, inv, inv.output(), "Verify")
        return
    click.echo(f"Verified OK ({alg})")


@artifact.command("public-key")
@click.option("--key-id", required=True, help="An asymmetric KMS key.")
@click.option("--out", "out_file", help="Write the PEM here instead of standard output.")
@with_global_options
def public_key(key_id: str, out_file: str | None, **kwargs: Any) -> None:
    """Write the key's public key as PEM (SubjectPublicKeyInfo), for openssl and offline verify.

    The output is the PEM file itself, so --output does not apply (`get-public-key` gives the data)."""
    from kmscli.service.features.artifact import public_key_pem

    inv = pop_globals(kwargs, remote=True)
    call = _service(inv)
    pem = public_key_pem(call, key_id)
    if out_file is None:
        click.echo(pem.decode("ascii"), nl=False)
        return
    write_user_file(out_file, pem, "public key file")
