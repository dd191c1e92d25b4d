"""kmscli.errors: an AWS error code answered by an endpoint becomes kmscli's class of that name."""

from __future__ import annotations

from kmscli import errors


def test_a_known_code_is_its_own_class() -> None:
    err = errors.kms_error("KMSInvalidSignatureException", "bad signature")
    assert isinstance(err, errors.KMSInvalidSignatureException)
    assert (err.code, err.message, err.exit_code) == ("KMSInvalidSignatureException", "bad signature", 254)


def test_an_unknown_code_is_a_plain_kms_error_that_keeps_it() -> None:
    err = errors.kms_error("ThrottlingException", "slow down")
    assert type(err) is errors.KMSError
    assert (err.code, err.message, err.exit_code) == ("ThrottlingException", "slow down", 254)
