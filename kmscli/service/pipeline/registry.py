"""The registry: the one owner of lazy loading.

Importing every operation module costs more than an Encrypt itself (asymmetric crypto, grants,
import, regions...), so nothing imports them up front: the tables below name, for each operation,
each kind of due work, each key spec's material generator and the policy engine, the module (in
``kmscli.service.operations``) that implements it, and the functions here import that module when
it is first needed. No table is filled by an import's side effect, so none depends on what was
imported before. ``tests/service/test_registry.py`` checks the tables against the modules.

This module imports nothing of kmscli's service layer at its top (only the model), so
``core`` can import it without a cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from kmscli import errors
from kmscli.model import operation as model_operation

if TYPE_CHECKING:
    from kmscli.service.pipeline.core import Call
    from kmscli.vault.records import KeyRecord, ScheduleEntry

Response = dict[str, Any]
#: Work that becomes due with time: (call, region, key id, the key's schedule entry) -> None.
DueHandler = Callable[["Call", str, str, "ScheduleEntry"], None]
#: Policy evaluation: (call, action, record, condition context) -> None or raises.
Authorizer = Callable[["Call", str, "KeyRecord", dict[str, Any]], None]
#: New key material for a key spec: (call, spec) -> raw material.
MaterialGenerator = Callable[["Call", str], bytes]
#: Stages the AWS managed key of a predefined alias: (call, alias name) -> its record.
ManagedKeyCreator = Callable[["Call", str], "KeyRecord"]


class Operation(NamedTuple):
    """A registered KMS operation."""

    name: str
    func: Callable[[Call], Response]
    mutating: bool
    read_only: bool


#: The operations whose modules have been imported (``load`` fills it through ``@operation``).
OPERATIONS: dict[str, Operation] = {}


def operation(
    name: str, *, mutating: bool = False, read_only: bool | None = None
) -> Callable[[Callable[[Call], Response]], Callable[[Call], Response]]:
    """Register ``func`` as the implementation of the KMS operation ``name``.

    ``mutating`` operations run under the exclusive vault lock and may stage writes; ``read_only``
    is the audit record's ``readOnly`` flag (defaults to ``not mutating``).
    """
    model_operation(name)  # unknown names fail at import, not at call time

    def register(func: Callable[[Call], Response]) -> Callable[[Call], Response]:
        OPERATIONS[name] = Operation(name, func, mutating, not mutating if read_only is None else read_only)
        return func

    return register


#: Operation name -> module in kmscli.service.operations that registers it.
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

#: Schedule field (``ScheduleEntry``) -> the module and function that do the work when it comes due.
DUE_WORK: dict[str, tuple[str, str]] = {
    "delete_at": ("keys", "delete_due"),
    "rotate_at": ("rotation", "rotate_due"),
    "expire_at": ("importing", "expire_due"),
}

#: KeySpec -> the module and function that make new material for it. A spec is listed only once
#: every operation on it works; ``tests/service/test_registry.py`` compares this with crypto/.
GENERATORS: dict[str, tuple[str, str]] = {
    "SYMMETRIC_DEFAULT": ("common", "generate_symmetric"),
    **dict.fromkeys(("HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"), ("asymmetric", "generate_hmac")),
    **dict.fromkeys(
        (
            "ECC_NIST_EDWARDS25519", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1",
            "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ML_KEM_1024", "ML_KEM_768",
            "RSA_2048", "RSA_3072", "RSA_4096",
        ),
        ("asymmetric", "generate_private"),
    ),
}  # fmt: skip

#: The policy engine every call is authorised by (service/operations/policies.py).
AUTHORIZER = ("policies", "authorize")

#: AWS managed keys (service/operations/managed.py): which ``alias/aws/<service>`` aliases are
#: predefined, and staging the key of one (``core.invoke`` calls it on first use).
PREDEFINED_ALIAS_CHECK = ("managed", "is_predefined")
MANAGED_KEY_CREATOR = ("managed", "create")


def _function(module: str, name: str) -> Any:
    return getattr(importlib.import_module(f"kmscli.service.operations.{module}"), name)


def load(name: str) -> Operation | None:
    """The operation ``name``, its module imported on first use (None for an unknown name)."""
    op = OPERATIONS.get(name)
    if op is not None:
        return op
    module = OPERATION_MODULES.get(name)
    if module is None:
        return None
    importlib.import_module(f"kmscli.service.operations.{module}")
    return OPERATIONS.get(name)


def load_all() -> dict[str, Operation]:
    """Import every operation module; returns the complete registry."""
    for module in sorted(set(OPERATION_MODULES.values())):
        importlib.import_module(f"kmscli.service.operations.{module}")
    return OPERATIONS


def due_handlers() -> dict[str, DueHandler]:
    """Every kind of due work, by schedule field (their modules imported)."""
    return {field: _function(*where) for field, where in DUE_WORK.items()}


def generator(spec: str) -> MaterialGenerator:
    """The material generator of ``spec`` (UnsupportedOperationException when kmscli has none)."""
    where = GENERATORS.get(spec)
    if where is None:
        raise errors.UnsupportedOperationException(
            f"KeySpec {spec} is not supported by this kmscli build yet."
        )
    func: MaterialGenerator = _function(*where)
    return func


def authorizer() -> Authorizer:
    """The policy engine's decision function."""
    func: Authorizer = _function(*AUTHORIZER)
    return func


__all__ = ["OPERATIONS", "OPERATION_MODULES", "authorizer", "due_handlers", "generator", "load", "load_all"]


def is_predefined_alias(alias_name: str) -> bool:
    """Whether ``alias_name`` is one of AWS's predefined ``alias/aws/<service>`` aliases."""
    check: Callable[[str], bool] = _function(*PREDEFINED_ALIAS_CHECK)
    return check(alias_name)


def managed_key_creator() -> ManagedKeyCreator:
    """The function that stages an AWS managed key and its alias."""
    func: ManagedKeyCreator = _function(*MANAGED_KEY_CREATOR)
    return func
