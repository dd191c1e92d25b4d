"""Every operation of botocore's KMS model has a subcommand, every member an option; the operations
that cannot exist on one machine answer UnsupportedOperationException saying why."""

from __future__ import annotations

import base64
from typing import Any

import botocore.session
import pytest

from kmscli.cli.opcommand import build_command, command_name, kebab
from tests.helpers import assert_output_shape

#: Operations whose implementation lands with another issue's branch (asymmetric keys, HMAC,
#: ML-KEM, policies and grants). Remove names as those branches merge: the test below fails both
#: when an operation is missing that is not listed here and when a listed one already exists, so
#: on main after every merge this set must end up empty (56 of 56 operations answer).
OWNED_ELSEWHERE: frozenset[str] = frozenset()

CUSTOM_KEY_STORE_OPS = {
    "CreateCustomKeyStore": ["--custom-key-store-name", "store"],
    "UpdateCustomKeyStore": ["--custom-key-store-id", "cks-1234567890abcdef0"],
    "DeleteCustomKeyStore": ["--custom-key-store-id", "cks-1234567890abcdef0"],
    "ConnectCustomKeyStore": ["--custom-key-store-id", "cks-1234567890abcdef0"],
    "DisconnectCustomKeyStore": ["--custom-key-store-id", "cks-1234567890abcdef0"],
}


def _botocore() -> Any:
    return botocore.session.get_session().get_service_model("kms")


def _cli_commands() -> dict[str, str]:
    from kmscli.cli.main import _operation_names

    return _operation_names()


def test_every_botocore_operation_has_a_subcommand() -> None:
    model = _botocore()
    assert len(model.operation_names) == 56
    commands = _cli_commands()
    missing = {op for op in model.operation_names if command_name(op) not in commands}
    assert missing <= OWNED_ELSEWHERE, f"operations without a subcommand: {sorted(missing - OWNED_ELSEWHERE)}"
    done = OWNED_ELSEWHERE - missing
    assert not done, f"implemented now: remove {sorted(done)} from OWNED_ELSEWHERE"


def test_every_member_of_every_operation_has_an_option() -> None:
    model = _botocore()
    commands = _cli_commands()
    for op in model.operation_names:
        if command_name(op) not in commands:
            continue
        cmd = build_command(op)
        options = {opt for param in cmd.params for opt in param.opts}
        members = (
            model.operation_model(op).input_shape.members if model.operation_model(op).input_shape else {}
        )
        for member in members:
            assert f"--{kebab(member)}" in options, f"{op}: no --{kebab(member)}"


def test_creating_a_custom_key_store_says_why_not(cli: Any) -> None:
    res = cli("create-custom-key-store", "--custom-key-store-name", "store")
    assert res.code == 254, res.err
    assert (
        "An error occurred (UnsupportedOperationException) when calling the CreateCustomKeyStore" in res.err
    )
    assert "CloudHSM" in res.err and "external key store" in res.err
    assert "Traceback" not in res.err and res.out == ""


@pytest.mark.parametrize("op", sorted(set(CUSTOM_KEY_STORE_OPS) - {"CreateCustomKeyStore"}))
def test_a_named_custom_key_store_is_not_found(cli: Any, op: str) -> None:
    """No custom key store exists here, so an id is one AWS does not find in the account: the
    operation's declared CustomKeyStoreNotFoundException, naming the id and why."""
    res = cli(command_name(op), *CUSTOM_KEY_STORE_OPS[op])
    assert res.code == 254, res.err
    assert f"An error occurred (CustomKeyStoreNotFoundException) when calling the {op} operation" in res.err
    assert "cks-1234567890abcdef0" in res.err and "CloudHSM" in res.err
    declared = {shape.name for shape in _botocore().operation_model(op).error_shapes}
    assert "CustomKeyStoreNotFoundException" in declared
    assert "Traceback" not in res.err and res.out == ""


def test_describe_custom_key_stores_is_empty(cli: Any) -> None:
    res = cli("describe-custom-key-stores")
    assert res.code == 0, res.err
    assert res.json()["CustomKeyStores"] == []
    assert_output_shape("DescribeCustomKeyStores", res.json(), paginated=True)
    named = cli("describe-custom-key-stores", "--custom-key-store-name", "prod")
    assert named.code == 254
    assert "(CustomKeyStoreNotFoundException)" in named.err


def test_custom_key_store_ids_on_other_operations_are_not_found(cli: Any) -> None:
    res = cli("create-key", "--custom-key-store-id", "cks-1234567890abcdef0")
    assert res.code == 254 and "(CustomKeyStoreNotFoundException)" in res.err and "CloudHSM" in res.err
    rnd = cli("generate-random", "--number-of-bytes", "8", "--custom-key-store-id", "cks-1234567890abcdef0")
    assert rnd.code == 254 and "(CustomKeyStoreNotFoundException)" in rnd.err
    assert cli("list-keys").json()["Keys"] == []  # nothing was created
    xks = cli("create-key", "--xks-key-id", "ext-1")  # no key store named: still refused, saying why
    assert xks.code == 254 and "(UnsupportedOperationException)" in xks.err


def test_recipient_parameter_names_the_missing_enclave(cli: Any) -> None:
    recipient = '{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256","AttestationDocument":"' + base64.b64encode(
        b"doc"
    ).decode() + '"}'  # fmt: skip
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    blob = cli("encrypt", "--key-id", key, "--plaintext", base64.b64encode(b"x").decode()).json()[
        "CiphertextBlob"
    ]
    calls = [
        ("decrypt", "--ciphertext-blob", blob),
        ("generate-data-key", "--key-id", key, "--key-spec", "AES_256"),
        ("generate-random", "--number-of-bytes", "8"),
    ]
    for args in calls:
        res = cli(*args, "--recipient", recipient)
        assert res.code == 254, (args, res.err)
        assert "(UnsupportedOperationException)" in res.err and "Nitro" in res.err, res.err
