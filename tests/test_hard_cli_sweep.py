"""A sweep over every registered operation and every one of its options with odd values.

Driven by the registry and the model, so operations merged later are swept without editing this
file. The rule: exit 0, 252, 253 or 254 with an AWS-style message; never 255 or a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.hardening import skip_fsync

ODD_VALUES = [
    "", " ", "-", "=", "{}", "[]", "null", "0", "-1", "99999999999999999999", "é", "file://",
    "fileb://", "AAAA", "alias/x", "a=b", '{"a":1}', '[{"TagKey":1}]', "true", "<KEY>",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    skip_fsync(monkeypatch)


def test_every_option_of_every_operation_with_odd_values(cli: Any, vault: Path) -> None:
    from kmscli.cli.opcommand import command_name, kebab
    from kmscli.model import input_members
    from kmscli.service.registry import OPERATIONS

    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    failures: list[str] = []
    for op in sorted(OPERATIONS):
        members = input_members(op)
        for member in members:
            for raw in ODD_VALUES:
                value = key if raw == "<KEY>" else raw
                args = [command_name(op), "--" + kebab(member), value]
                if member != "KeyId" and "KeyId" in members:
                    args += ["--key-id", key]
                res = cli(*args)
                if (
                    res.code not in (0, 252, 253, 254)
                    or "Traceback" in res.err
                    or "internal error" in res.err
                ):
                    failures.append(f"{' '.join(args)} -> {res.code}: {res.err.strip()[-160:]}")
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize("command", ["decrypt", "re-encrypt"])
def test_missing_ciphertext_blob_is_validation_error(cli: Any, command: str) -> None:
    """Regression: CiphertextBlob is optional in the botocore model; leaving it out crashed with
    KeyError (exit 255) instead of a ValidationException."""
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    args = ["--key-id", key] if command == "decrypt" else ["--destination-key-id", key]
    res = cli(command, *args)
    assert res.code == 254, res.err
    assert "ValidationException" in res.err and "ciphertextBlob" in res.err
