"""Which module implements each operation; a module is imported only when one of its operations runs.

Importing every operation module costs more than an Encrypt itself (asymmetric crypto, grants,
import, regions...), so ``invoke`` loads just the module it needs. The policy engine is loaded by
``service/pipeline/core.py`` before any operation runs, whatever the module. ``tests/service/test_registry.py``
checks that this table and the modules' ``@operation`` registrations agree.
"""

from __future__ import annotations

import importlib

from kmscli.service.pipeline.core import OPERATIONS, Operation, invoke

#: Operation name -> module in kmscli.service that registers it.
OPERATION_MODULES: dict[str, str] = {
    **dict.fromkeys(("CreateAlias", "DeleteAlias", "ListAliases", "UpdateAlias"), "aliases"),
    **dict.fromkeys(
        (
            "Decapsulate", "DeriveSharedSecret", "Encapsulate", "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "GetPublicKey", "Sign", "Verify", "VerifyMac",
        ),
        "asymmetric",
    ),
    "ExportKeyMaterial": "export",
    **dict.fromkeys(("CreateGrant", "ListGrants", "ListRetirableGrants", "RetireGrant", "RevokeGrant"), "grants"),
    **dict.fromkeys(("DeleteImportedKeyMaterial", "GetParametersForImport", "ImportKeyMaterial"), "importing"),
    **dict.fromkeys(
        (
            "CancelKeyDeletion", "CreateKey", "DescribeKey", "DisableKey", "EnableKey", "ListKeys",
            "ScheduleKeyDeletion", "UpdateKeyDescription",
        ),
        "keys",
    ),
    **dict.fromkeys(
        (
            "ConnectCustomKeyStore", "CreateCustomKeyStore", "DeleteCustomKeyStore", "DescribeCustomKeyStores",
            "DisconnectCustomKeyStore", "UpdateCustomKeyStore",
        ),
        "keystores",
    ),
    **dict.fromkeys(("GetKeyPolicy", "ListKeyPolicies", "PutKeyPolicy"), "policies"),
    **dict.fromkeys(("ReplicateKey", "UpdatePrimaryRegion"), "regions"),
    **dict.fromkeys(
        ("DisableKeyRotation", "EnableKeyRotation", "GetKeyRotationStatus", "ListKeyRotations", "RotateKeyOnDemand"),
        "rotation",
    ),
    **dict.fromkeys(
        ("Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateRandom", "ReEncrypt"),
        "symmetric",
    ),
    **dict.fromkeys(("ListResourceTags", "TagResource", "UntagResource"), "tags"),
    "GetKeyLastUsage": "usage",
}  # fmt: skip

#: Modules that register handlers for work that comes due (deletion, rotation, material expiry).
DUE_WORK_MODULES = ("keys", "rotation", "importing")


def load(name: str) -> Operation | None:
    """Import the module of operation ``name`` and return it (None for an unknown name)."""
    module = OPERATION_MODULES.get(name)
    if module is None:
        return None
    importlib.import_module(f"kmscli.service.operations.{module}")
    return OPERATIONS.get(name)


def load_due_work() -> None:
    """Import every module that handles due work."""
    for module in DUE_WORK_MODULES:
        importlib.import_module(f"kmscli.service.operations.{module}")


def load_all() -> dict[str, Operation]:
    """Import every operation module; returns the complete registry."""
    for module in sorted(set(OPERATION_MODULES.values())):
        importlib.import_module(f"kmscli.service.operations.{module}")
    return OPERATIONS


__all__ = ["OPERATIONS", "OPERATION_MODULES", "invoke", "load", "load_all"]
