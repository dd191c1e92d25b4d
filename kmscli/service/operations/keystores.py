"""Custom key store operations: they need hardware or services that do not exist on one machine.

A custom key store is backed by an AWS CloudHSM cluster or by an external key manager reached
through an XKS proxy. kmscli runs against a local vault file, so every custom key store operation
answers ``UnsupportedOperationException`` naming why, after validating the request like any other
operation. ``DescribeCustomKeyStores`` is the exception: with no key store filter it truthfully
returns an empty list, and naming a key store answers ``CustomKeyStoreNotFoundException``.
"""

from __future__ import annotations

from kmscli import errors
from kmscli.service.pipeline.core import Call, Response, operation

#: Why no custom key store can exist here (the message every refusal carries).
REASON = (
    "custom key stores are not supported: kmscli runs on one machine over a local vault, with no "
    "AWS CloudHSM cluster, no external key store (XKS) proxy and no Nitro enclave to host one"
)

CustomKeyStoreNotFoundException = type(
    "CustomKeyStoreNotFoundException",
    (errors.KMSError,),
    {"code": "CustomKeyStoreNotFoundException", "__doc__": "AWS KMS ``CustomKeyStoreNotFoundException``."},
)


def _refuse(call: Call) -> Response:
    raise errors.UnsupportedOperationException(f"{call.op.name}: {REASON}.")


@operation("CreateCustomKeyStore", mutating=True)
def create_custom_key_store(call: Call) -> Response:
    """CreateCustomKeyStore: refused (no CloudHSM cluster or XKS proxy exists here)."""
    return _refuse(call)


@operation("UpdateCustomKeyStore", mutating=True)
def update_custom_key_store(call: Call) -> Response:
    """UpdateCustomKeyStore: refused (no custom key store can exist here)."""
    return _refuse(call)


@operation("DeleteCustomKeyStore", mutating=True)
def delete_custom_key_store(call: Call) -> Response:
    """DeleteCustomKeyStore: refused (no custom key store can exist here)."""
    return _refuse(call)


@operation("ConnectCustomKeyStore", mutating=True)
def connect_custom_key_store(call: Call) -> Response:
    """ConnectCustomKeyStore: refused (there is no cluster or proxy to connect to)."""
    return _refuse(call)


@operation("DisconnectCustomKeyStore", mutating=True)
def disconnect_custom_key_store(call: Call) -> Response:
    """DisconnectCustomKeyStore: refused (there is no cluster or proxy to disconnect from)."""
    return _refuse(call)


@operation("DescribeCustomKeyStores")
def describe_custom_key_stores(call: Call) -> Response:
    """DescribeCustomKeyStores: an empty list; a named key store does not exist."""
    req = call.request
    if req.get("CustomKeyStoreId") is not None or req.get("CustomKeyStoreName") is not None:
        raise CustomKeyStoreNotFoundException(
            "No custom key store with that id or name exists: kmscli has no custom key stores "
            "(no AWS CloudHSM cluster or external key store proxy exists on one machine)."
        )
    return {"CustomKeyStores": [], "Truncated": False}
