"""The KMS action and condition-key vocabulary used by key policies (AWS names)."""

from __future__ import annotations

import functools

from kmscli.model import model
from kmscli.policy import wildcard

#: Permissions that exist in KMS but are not API operation names one to one.
#: ``ExportKeyBundle`` is kmscli's own: ``vault export-key`` (service/features/portability.py).
_EXTRA_ACTIONS = (
    "ReEncryptFrom",
    "ReEncryptTo",
    "ReplicateKey",
    "SynchronizeMultiRegionKey",
    "ExportKeyBundle",
)
#: API operations that are authorised under other permission names.
_NOT_ACTIONS = ("ReEncrypt",)

#: Actions that use the key for cryptography ("key users" in AWS's console-generated policy).
USER_ACTIONS = frozenset(
    {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateDataKeyPair",
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "kms:Sign",
        "kms:Verify",
        "kms:GenerateMac",
        "kms:VerifyMac",
        "kms:DeriveSharedSecret",
        "kms:Encapsulate",
        "kms:Decapsulate",
    }
)

#: Actions whose request carries ``kms:RequestAlias`` when the key is named by an alias: the
#: cryptographic operations, DescribeKey and GetPublicKey. AWS KMS, "kms:RequestAlias": "You cannot use
#: this condition key to control access to alias operations, such as CreateAlias or DeleteAlias."
REQUEST_ALIAS_ACTIONS = USER_ACTIONS | {"kms:DescribeKey", "kms:GetPublicKey"}

#: Actions a key policy does not decide (AWS, "Retiring and revoking grants": ``kms:RetireGrant`` "is
#: not effective in a key policy"): the grant being retired names who may retire it
#: (``service/operations/grants.py``), so the key-level views refuse them rather than guess.
GRANT_DECIDED_ACTIONS = frozenset({"kms:RetireGrant"})

#: Permissions AWS's API reference lists as "(IAM policy)" only: no key policy or grant decides them
#: (a key policy statement naming one has no effect). kmscli has no IAM policies, so its stand-in
#: lets every principal of the account do them (``service/operations/common.py``,
#: ``iam_only``), and the key-level views (policy simulate, lint) say so rather than guess.
IAM_ONLY_ACTIONS = frozenset(
    {
        "kms:CreateKey",
        "kms:ListKeys",
        "kms:ListAliases",
        "kms:ListRetirableGrants",
        "kms:GenerateRandom",
        "kms:CreateCustomKeyStore",
        "kms:ConnectCustomKeyStore",
        "kms:DeleteCustomKeyStore",
        "kms:DescribeCustomKeyStores",
        "kms:DisconnectCustomKeyStore",
        "kms:UpdateCustomKeyStore",
    }
)

#: Actions whose request carries ``kms:GrantIsForAWSResource`` (AWS KMS condition keys reference):
#: false for every kmscli call, as no AWS service calls on a principal's behalf.
GRANT_FOR_AWS_RESOURCE_ACTIONS = frozenset({"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"})

#: Actions whose request carries ``kms:ReEncryptOnSameKey`` (AWS's service authorization reference for
#: KMS lists the key for these two permissions only): true when ReEncrypt's source and destination
#: key are the same key.
REENCRYPT_ON_SAME_KEY_ACTIONS = frozenset({"kms:ReEncryptFrom", "kms:ReEncryptTo"})

#: Actions that manage the key without using it ("key administrators").
ADMIN_ACTIONS = frozenset(
    {
        "kms:PutKeyPolicy",
        "kms:ScheduleKeyDeletion",
        "kms:CancelKeyDeletion",
        "kms:EnableKey",
        "kms:DisableKey",
        "kms:CreateAlias",
        "kms:UpdateAlias",
        "kms:DeleteAlias",
        "kms:UpdateKeyDescription",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:EnableKeyRotation",
        "kms:DisableKeyRotation",
        "kms:RotateKeyOnDemand",
        "kms:RevokeGrant",
        "kms:ImportKeyMaterial",
        "kms:DeleteImportedKeyMaterial",
        "kms:ReplicateKey",
        "kms:UpdatePrimaryRegion",
    }
)

#: The grant operations (GrantOperation enum) are the action names without the ``kms:`` prefix.
GRANT_OPERATIONS_WITH_CONTEXT = frozenset(
    {
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    }
)
#: Grant operations that a constrained grant may include, where the constraint does not apply.
GRANT_OPERATIONS_UNCONSTRAINED = frozenset({"DescribeKey", "RetireGrant", "CreateGrant"})

#: The grant operations a key supports, by (key type, key usage) (``crypto.specs.key_type``), after
#: AWS's "Key type reference" table; CreateGrant refuses any other with ValidationException.
GRANT_OPERATIONS_BY_KEY_TYPE: dict[tuple[str, str], frozenset[str]] = {
    ("SYMMETRIC", "ENCRYPT_DECRYPT"): GRANT_OPERATIONS_WITH_CONTEXT | GRANT_OPERATIONS_UNCONSTRAINED,
    ("ASYMMETRIC", "ENCRYPT_DECRYPT"): GRANT_OPERATIONS_UNCONSTRAINED
    | {"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"},
    ("ASYMMETRIC", "SIGN_VERIFY"): GRANT_OPERATIONS_UNCONSTRAINED | {"Sign", "Verify", "GetPublicKey"},
    ("ASYMMETRIC", "KEY_AGREEMENT"): GRANT_OPERATIONS_UNCONSTRAINED | {"DeriveSharedSecret", "GetPublicKey"},
    ("ASYMMETRIC", "ENCAPSULATE_DECAPSULATE"): GRANT_OPERATIONS_UNCONSTRAINED
    | {"Encapsulate", "Decapsulate", "GetPublicKey"},
    ("HMAC", "GENERATE_VERIFY_MAC"): GRANT_OPERATIONS_UNCONSTRAINED | {"GenerateMac", "VerifyMac"},
}
#: AWS: "Each grant constraint value can include up to 8 encryption context pairs."
GRANT_CONSTRAINT_MAX_PAIRS = 8
#: AWS: "The encryption context value in each constraint cannot exceed 384 characters" (kmscli counts
#: the keys and values of each constraint's encryption context together).
GRANT_CONSTRAINT_MAX_CHARS = 384
#: AWS's "Grants per KMS key" resource quota (customer managed keys): CreateGrant past it is
#: LimitExceededException; retired and revoked grants do not count.
MAX_GRANTS_PER_KEY = 50_000

#: Single-valued KMS and global condition keys kmscli knows (lower case for lookup).
KNOWN_KEYS = frozenset(
    k.lower()
    for k in (
        "kms:CallerAccount",
        "kms:EncryptionAlgorithm",
        "kms:SigningAlgorithm",
        "kms:MacAlgorithm",
        "kms:MessageType",
        "kms:KeySpec",
        "kms:KeyUsage",
        "kms:KeyOrigin",
        "kms:KeyAgreementAlgorithm",
        "kms:RequestAlias",
        "kms:ReEncryptOnSameKey",
        "kms:GranteePrincipal",
        "kms:GrantIsForAWSResource",
        "kms:RetiringPrincipal",
        "kms:GrantConstraintType",
        "kms:RotationPeriodInDays",
        "kms:ScheduleKeyDeletionPendingWindowInDays",
        "kms:ViaService",
        "kms:BypassPolicyLockoutSafetyCheck",
        "kms:MultiRegion",
        "kms:MultiRegionKeyType",
        "kms:PrimaryRegion",
        "kms:ReplicaRegion",
        "kms:ValidTo",
        "kms:WrappingAlgorithm",
        "kms:WrappingKeySpec",
        "kms:ExpirationModel",
        "kms:DataKeyPairSpec",
        "kms:CustomerMasterKeySpec",
        "kms:CustomerMasterKeyUsage",
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "aws:CurrentTime",
        "aws:EpochTime",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:PrincipalType",
        "aws:userid",
        "aws:username",
        "aws:SecureTransport",
        "aws:SourceIp",  # with aws:UserAgent and aws:SecureTransport: requests to kmscli serve
        "aws:UserAgent",
        "aws:RequestedRegion",
        "aws:ResourceAccount",
        "aws:PrincipalIsAWSService",
        "aws:ViaAWSService",
    )
)
#: Multivalued keys (compared with ForAnyValue/ForAllValues).
MULTI_VALUED_KEYS = frozenset(
    k.lower()
    for k in ("kms:EncryptionContextKeys", "kms:ResourceAliases", "kms:GrantOperations", "aws:TagKeys")
)
#: Condition keys that take a name after a prefix.
KEY_PREFIXES = ("kms:encryptioncontext:", "aws:requesttag/", "aws:resourcetag/", "aws:principaltag/")

#: Values a key can take, when the set is closed (used by lint for conditions that never match).
KEY_ENUMS: dict[str, frozenset[str]] = {
    "kms:encryptionalgorithm": frozenset(
        {"SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"}
    ),
    "kms:keyusage": frozenset({"ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"}),
    "kms:keyorigin": frozenset({"AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"}),
    "kms:messagetype": frozenset({"RAW", "DIGEST", "EXTERNAL_MU"}),
    "kms:macalgorithm": frozenset({"HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"}),
}


@functools.cache
def all_actions() -> frozenset[str]:
    """Every KMS permission name, ``kms:Encrypt`` style."""
    ops = set(model()["operations"]) - set(_NOT_ACTIONS)
    return frozenset(f"kms:{name}" for name in (*ops, *_EXTRA_ACTIONS))


@functools.lru_cache(maxsize=4096)
def action_matches(pattern: str, action: str) -> bool:
    """IAM action matching: case-insensitive, ``*`` and ``?`` wildcards (``*`` alone is every action)."""
    return wildcard.matches(pattern, action, ignore_case=True)


@functools.lru_cache(maxsize=1024)
def expand(pattern: str) -> frozenset[str]:
    """The KMS actions a pattern names (empty when it names none)."""
    return frozenset(a for a in all_actions() if action_matches(pattern, a))


def is_known_condition_key(key: str) -> bool:
    """Whether kmscli (and AWS KMS) knows this condition key."""
    low = key.lower()
    if low in KNOWN_KEYS or low in MULTI_VALUED_KEYS:
        return True
    return any(low.startswith(p) and len(low) > len(p) for p in KEY_PREFIXES)


def is_multi_valued(key: str) -> bool:
    """Whether a condition key holds a set of values."""
    return key.lower() in MULTI_VALUED_KEYS
