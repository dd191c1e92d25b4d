"""Custom key store operations: they need hardware or services that do not exist on one machine.

A custom key store is backed by an AWS CloudHSM cluster or by an external key manager reached
through an XKS proxy. kmscli runs against a local vault file, so no custom key store exists or can be
created: ``CreateCustomKeyStore`` answers ``UnsupportedOperationException`` naming why, and every
request that names a key store (``UpdateCustomKeyStore``, ``DeleteCustomKeyStore``,
``ConnectCustomKeyStore``, ``DisconnectCustomKeyStore``, ``DescribeCustomKeyStores`` with a filter,
``CreateKey`` and ``GenerateRandom`` with ``CustomKeyStoreId``) answers what AWS answers for an id or
name that is not in the account: ``CustomKeyStoreNotFoundException``. ``DescribeCustomKeyStores``
without a filter truthfully returns an empty list.
"""

from __future__ import annotations

from typing import NoReturn

from kmscli import errors
from kmscli.service.operations.common import custom_key_store_not_found, no_custom_key_store
from kmscli.service.pipeline.core import Call, Response, operation

#: Why no custom key store can exist here (the message every refusal carries).
REASON = (
    "custom key stores are not supported: kmscli runs on one machine over a local vault, with no "
    "AWS CloudHSM cluster, no external key store (XKS) proxy and no Nitro enclave to host one"
)


def _named(call: Call) -> NoReturn:
    custom_key_store_not_found(call.request["CustomKeyStoreId"])


@operation("CreateCustomKeyStore", mutating=True)
def create_custom_key_store(call: Call) -> Response:
    """CreateCustomKeyStore: refused (no CloudHSM cluster or XKS proxy exists here)."""
    raise errors.UnsupportedOperationException(f"{call.op.name}: {REASON}.")


@operation("UpdateCustomKeyStore", mutating=True)
def update_custom_key_store(call: Call) -> Response:
    """UpdateCustomKeyStore: no custom key store exists here, so the one named is not found."""
    _named(call)


@operation("DeleteCustomKeyStore", mutating=True)
def delete_custom_key_store(call: Call) -> Response:
    """DeleteCustomKeyStore: no custom key store exists here, so the one named is not found."""
    _named(call)


@operation("ConnectCustomKeyStore", mutating=True)
def connect_custom_key_store(call: Call) -> Response:
    """ConnectCustomKeyStore: no custom key store exists here, so the one named is not found."""
    _named(call)


@operation("DisconnectCustomKeyStore", mutating=True)
def disconnect_custom_key_store(call: Call) -> Response:
    """DisconnectCustomKeyStore: no custom key store exists here, so the one named is not found."""
    _named(call)


@operation("DescribeCustomKeyStores")
def describe_custom_key_stores(call: Call) -> Response:
    """DescribeCustomKeyStores: an empty list; a named key store does not exist."""
    no_custom_key_store(call)
    return {"CustomKeyStores": [], "Truncated": False}
