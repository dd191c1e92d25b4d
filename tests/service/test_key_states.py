"""Key state x operation matrix, after AWS's "Key states of AWS KMS keys" table.

Each row puts a fresh key of one kind in one state, runs one operation on it and checks the
outcome AWS documents for that cell: success, or the error class with its message shape
("<key ARN> is disabled.", "... is pending deletion.", "... is not pending deletion.",
"... is pending import.").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kmscli import errors

Kms = Callable[..., dict[str, Any]]
Request = Callable[[Kms, dict[str, Any]], dict[str, Any]]

DISABLED = (errors.DisabledException, "is disabled.")
PENDING_DELETION = (errors.KMSInvalidStateException, "is pending deletion.")
NOT_PENDING_DELETION = (errors.KMSInvalidStateException, "is not pending deletion.")
PENDING_IMPORT = (errors.KMSInvalidStateException, "is pending import.")
ORIGIN_EXTERNAL = (
    errors.UnsupportedOperationException,
    "origin is EXTERNAL which is not valid for this operation.",
)
OK = None
#: a cryptographic operation: works when enabled, refused otherwise (footnotes [1] and [3])
USE_ONLY_ENABLED = {"Enabled": OK, "Disabled": DISABLED, "PendingDeletion": PENDING_DELETION}

KINDS: dict[str, dict[str, Any]] = {
    "sym": {},
    "hmac": {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
    "rsa": {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"},
    "ext": {"Origin": "EXTERNAL"},
}


def _make(kms: Kms, kind: str, state: str) -> dict[str, Any]:
    """A key of ``kind`` in ``state``, with what the rows need made while it was still usable."""
    meta = kms("CreateKey", **KINDS[kind])["KeyMetadata"]
    kid = meta["KeyId"]
    key: dict[str, Any] = {"KeyId": kid, "Arn": meta["Arn"]}
    if kind == "sym":
        key["Blob"] = kms("Encrypt", KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
    if kind == "hmac":
        key["Mac"] = kms("GenerateMac", KeyId=kid, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    if kind == "rsa":
        key["Sig"] = kms("Sign", KeyId=kid, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    if state == "Disabled":
        kms("DisableKey", KeyId=kid)
    elif state == "PendingDeletion":
        kms("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyState"] == state
    return key


def _k(k: dict[str, Any]) -> dict[str, Any]:
    return {"KeyId": k["KeyId"]}


def _other(kms: Kms) -> str:
    return str(kms("CreateKey")["KeyMetadata"]["KeyId"])


def _retarget(kms: Kms, k: dict[str, Any]) -> dict[str, Any]:
    """UpdateAlias moving an alias of another (Enabled) key onto this one."""
    kms("CreateAlias", AliasName="alias/state", TargetKeyId=_other(kms))
    return {"AliasName": "alias/state", "TargetKeyId": k["KeyId"]}


# operation -> (key kind, request builder, {state: expected})
ROWS: dict[str, tuple[str, Request, dict[str, Any]]] = {
    "Encrypt": (
        "sym",
        lambda kms, k: {**_k(k), "Plaintext": b"x"},
        USE_ONLY_ENABLED,
    ),
    "Decrypt": (
        "sym",
        lambda kms, k: {"CiphertextBlob": k["Blob"]},
        USE_ONLY_ENABLED,
    ),
    "ReEncrypt": (
        "sym",
        lambda kms, k: {"CiphertextBlob": k["Blob"], "DestinationKeyId": k["KeyId"]},
        USE_ONLY_ENABLED,
    ),
    "GenerateDataKey": (
        "sym",
        lambda kms, k: {**_k(k), "KeySpec": "AES_256"},
        USE_ONLY_ENABLED,
    ),
    "GenerateDataKeyWithoutPlaintext": (
        "sym",
        lambda kms, k: {**_k(k), "KeySpec": "AES_256"},
        USE_ONLY_ENABLED,
    ),
    "GenerateDataKeyPair": (
        "sym",
        lambda kms, k: {**_k(k), "KeyPairSpec": "ECC_NIST_P256"},
        USE_ONLY_ENABLED,
    ),
    "GenerateMac": (
        "hmac",
        lambda kms, k: {**_k(k), "Message": b"m", "MacAlgorithm": "HMAC_SHA_256"},
        USE_ONLY_ENABLED,
    ),
    "VerifyMac": (
        "hmac",
        lambda kms, k: {**_k(k), "Message": b"m", "MacAlgorithm": "HMAC_SHA_256", "Mac": k["Mac"]},
        USE_ONLY_ENABLED,
    ),
    "Sign": (
        "rsa",
        lambda kms, k: {**_k(k), "Message": b"m", "SigningAlgorithm": "RSASSA_PSS_SHA_256"},
        USE_ONLY_ENABLED,
    ),
    "Verify": (
        "rsa",
        lambda kms, k: {
            **_k(k),
            "Message": b"m",
            "Signature": k["Sig"],
            "SigningAlgorithm": "RSASSA_PSS_SHA_256",
        },
        USE_ONLY_ENABLED,
    ),
    "GetPublicKey": (
        "rsa",
        lambda kms, k: _k(k),
        USE_ONLY_ENABLED,
    ),
    "CreateGrant": (
        "sym",
        lambda kms, k: {
            **_k(k),
            "GranteePrincipal": "arn:aws:iam::111122223333:role/r",
            "Operations": ["Encrypt"],
        },
        USE_ONLY_ENABLED,
    ),
    "DescribeKey": ("sym", lambda kms, k: _k(k), {}),
    "GetKeyPolicy": ("sym", lambda kms, k: {**_k(k), "PolicyName": "default"}, {}),
    "ListKeyPolicies": ("sym", lambda kms, k: _k(k), {}),
    "ListGrants": ("sym", lambda kms, k: _k(k), {}),
    "ListResourceTags": ("sym", lambda kms, k: _k(k), {}),
    "PutKeyPolicy": (
        "sym",
        lambda kms, k: {
            **_k(k),
            "PolicyName": "default",
            "Policy": kms("GetKeyPolicy", KeyId=k["KeyId"], PolicyName="default")["Policy"],
        },
        {},
    ),
    "TagResource": (
        "sym",
        lambda kms, k: {**_k(k), "Tags": [{"TagKey": "t", "TagValue": "v"}]},
        {"PendingDeletion": PENDING_DELETION},
    ),
    "UntagResource": (
        "sym",
        lambda kms, k: {**_k(k), "TagKeys": ["t"]},
        {"PendingDeletion": PENDING_DELETION},
    ),
    "UpdateKeyDescription": (
        "sym",
        lambda kms, k: {**_k(k), "Description": "d"},
        {"PendingDeletion": PENDING_DELETION},
    ),
    "CreateAlias": (
        "sym",
        lambda kms, k: {"AliasName": "alias/state", "TargetKeyId": k["KeyId"]},
        {"PendingDeletion": PENDING_DELETION},
    ),
    "UpdateAlias": (
        "sym",
        lambda kms, k: _retarget(kms, k),
        {"PendingDeletion": PENDING_DELETION},
    ),
    "EnableKey": ("sym", lambda kms, k: _k(k), {"PendingDeletion": PENDING_DELETION}),
    "DisableKey": ("sym", lambda kms, k: _k(k), {"PendingDeletion": PENDING_DELETION}),
    "ScheduleKeyDeletion": (
        "sym",
        lambda kms, k: {**_k(k), "PendingWindowInDays": 7},
        {"PendingDeletion": PENDING_DELETION},
    ),
    "CancelKeyDeletion": (
        "sym",
        lambda kms, k: _k(k),
        {"Enabled": NOT_PENDING_DELETION, "Disabled": NOT_PENDING_DELETION},
    ),
    "EnableKeyRotation": (
        "sym",
        lambda kms, k: _k(k),
        {"Disabled": DISABLED, "PendingDeletion": PENDING_DELETION},
    ),
    "DisableKeyRotation": (
        "sym",
        lambda kms, k: _k(k),
        {"Disabled": DISABLED, "PendingDeletion": PENDING_DELETION},
    ),
    # "?" [7] in every column of a key with AWS key material: it succeeds, even pending deletion.
    "GetKeyRotationStatus": ("sym", lambda kms, k: _k(k), {}),
}

CASES = [
    pytest.param(op, state, id=f"{op}-{state}")
    for op in ROWS
    for state in ("Enabled", "Disabled", "PendingDeletion")
]


@pytest.mark.parametrize(("op", "state"), CASES)
def test_operation_in_key_state(kms: Kms, op: str, state: str) -> None:
    kind, build, outcomes = ROWS[op]
    key = _make(kms, kind, state)
    _check(kms, op, state, key, build(kms, key), outcomes.get(state, OK))


def _check(
    kms: Kms, op: str, state: str, key: dict[str, Any], request: dict[str, Any], expected: Any
) -> None:
    """Run ``op``: it succeeds when ``expected`` is OK, else fails with its class and message tail."""
    if expected is None:
        kms(op, **request)
        return
    cls, tail = expected
    with pytest.raises(errors.KMSError) as info:
        kms(op, **request)
    assert type(info.value) is cls, f"{op} on a {state} key: {info.value.code}: {info.value.message}"
    assert info.value.message == f"{key['Arn']} {tail}"


# PendingImport: a key created with Origin EXTERNAL, before any import.
PENDING_IMPORT_ROWS: dict[str, tuple[Request, Any]] = {
    "Encrypt": (lambda kms, k: {**_k(k), "Plaintext": b"x"}, PENDING_IMPORT),
    "GenerateDataKey": (lambda kms, k: {**_k(k), "KeySpec": "AES_256"}, PENDING_IMPORT),
    "GenerateDataKeyWithoutPlaintext": (lambda kms, k: {**_k(k), "KeySpec": "AES_256"}, PENDING_IMPORT),
    "CreateGrant": (
        lambda kms, k: {
            **_k(k),
            "GranteePrincipal": "arn:aws:iam::111122223333:role/r",
            "Operations": ["Encrypt"],
        },
        PENDING_IMPORT,
    ),
    "EnableKey": (lambda kms, k: _k(k), PENDING_IMPORT),
    "DisableKey": (lambda kms, k: _k(k), PENDING_IMPORT),
    "EnableKeyRotation": (lambda kms, k: _k(k), ORIGIN_EXTERNAL),
    "DisableKeyRotation": (lambda kms, k: _k(k), ORIGIN_EXTERNAL),
    "DeleteImportedKeyMaterial": (lambda kms, k: _k(k), OK),  # "No effect"
    "CancelKeyDeletion": (lambda kms, k: _k(k), NOT_PENDING_DELETION),
    "DescribeKey": (lambda kms, k: _k(k), OK),
    "GetKeyPolicy": (lambda kms, k: {**_k(k), "PolicyName": "default"}, OK),
    "ListGrants": (lambda kms, k: _k(k), OK),
    "ListResourceTags": (lambda kms, k: _k(k), OK),
    "TagResource": (lambda kms, k: {**_k(k), "Tags": [{"TagKey": "t", "TagValue": "v"}]}, OK),
    "UpdateKeyDescription": (lambda kms, k: {**_k(k), "Description": "d"}, OK),
    "CreateAlias": (lambda kms, k: {"AliasName": "alias/state", "TargetKeyId": k["KeyId"]}, OK),
    "ScheduleKeyDeletion": (lambda kms, k: {**_k(k), "PendingWindowInDays": 7}, OK),
    "GetParametersForImport": (
        lambda kms, k: {**_k(k), "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"},
        OK,
    ),
}


@pytest.mark.parametrize("op", list(PENDING_IMPORT_ROWS))
def test_operation_on_pending_import_key(kms: Kms, op: str) -> None:
    build, expected = PENDING_IMPORT_ROWS[op]
    key = _make(kms, "ext", "PendingImport")
    _check(kms, op, "PendingImport", key, build(kms, key), expected)


def test_import_operations_on_pending_deletion_external_key(kms: Kms) -> None:
    """[8]: a key with imported key material that is pending deletion refuses import operations."""
    key = _make(kms, "ext", "PendingImport")
    kms("ScheduleKeyDeletion", KeyId=key["KeyId"], PendingWindowInDays=7)
    with pytest.raises(errors.KMSInvalidStateException) as info:
        kms(
            "GetParametersForImport",
            KeyId=key["KeyId"],
            WrappingAlgorithm="RSAES_OAEP_SHA_256",
            WrappingKeySpec="RSA_2048",
        )
    assert info.value.message == f"{key['Arn']} is pending deletion."


def test_generate_random_needs_no_key(kms: Kms) -> None:
    assert len(kms("GenerateRandom", NumberOfBytes=16)["Plaintext"]) == 16
