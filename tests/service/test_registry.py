"""The lazy operation table agrees with what the modules register; the policy engine always runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmscli import errors
from kmscli.service.pipeline import registry


def test_table_matches_registrations() -> None:
    ops = registry.load_all()
    assert set(ops) == set(registry.OPERATION_MODULES)
    for name, op in ops.items():
        assert op.func.__module__ == f"kmscli.service.operations.{registry.OPERATION_MODULES[name]}", name


def test_unknown_operation_is_unsupported(kms: Any) -> None:
    with pytest.raises(errors.UnsupportedOperationException):
        kms("NoSuchOperation")


def test_asymmetric_specs_load_on_demand(kms: Any) -> None:
    meta = kms("CreateKey", KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert meta["SigningAlgorithms"] == ["ECDSA_SHA_256"]


def test_policy_engine_decides_even_when_only_one_module_is_loaded(kms: Any, vault: Path) -> None:
    import json

    from kmscli.service.pipeline import core

    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "all",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "no-encrypt",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "kms:Encrypt",
                "Resource": "*",
            },
        ],
    }
    kms("PutKeyPolicy", KeyId=key, Policy=json.dumps(deny), PolicyName="default")
    saved = list(core._AUTHORIZERS)
    core._AUTHORIZERS.clear()  # as in a fresh process that has not imported the policy module yet
    try:
        with pytest.raises(errors.AccessDeniedException):
            kms("Encrypt", KeyId=key, Plaintext=b"x")
    finally:
        core._AUTHORIZERS[:] = saved
