"""AWS CLI input habits: --generate-cli-skeleton [input|output] and --cli-input-json, for every operation."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_output_shape

B64 = base64.b64encode(b"hello").decode()


def _ops() -> list[str]:
    from kmscli.cli.opcommand import command_name
    from kmscli.service.pipeline.registry import load_all

    return sorted(command_name(op) for op in load_all())


@pytest.mark.parametrize("command", _ops())
def test_input_skeleton_for_every_operation(cli: Any, command: str) -> None:
    from kmscli.cli.opcommand import kebab
    from kmscli.model import input_members
    from kmscli.service.pipeline.registry import load_all

    op = next(o for o in load_all() if kebab(o) == command)
    for args in ((), ("input",)):
        res = cli(command, "--generate-cli-skeleton", *args)  # required options are not enforced
        assert res.code == 0, res.err
        assert set(res.json()) == set(input_members(op))


@pytest.mark.parametrize("command", _ops())
def test_output_skeleton_for_every_operation_is_shaped_like_aws(cli: Any, command: str, vault: Path) -> None:
    from kmscli.cli.opcommand import kebab, skeleton
    from kmscli.model import operation, shape
    from kmscli.service.pipeline.registry import load_all

    op = next(o for o in load_all() if kebab(o) == command)
    before = sorted(p.name for p in (vault / "audit").glob("*"))
    required = shape(operation(op)["input"]).get("required", [])
    if required:  # `output` validates the inputs first, as the AWS CLI does
        res = cli(command, "--generate-cli-skeleton", "output")
        assert res.code == 252 and "required" in res.err
        return
    res = cli(command, "--generate-cli-skeleton", "output")
    assert res.code == 0, res.err
    assert res.out == "" or res.json() == json.loads(json.dumps(skeleton(op, "output")))
    assert sorted(p.name for p in (vault / "audit").glob("*")) == before  # no call was made


def test_skeleton_values_follow_botocore_argument_generator() -> None:
    from kmscli.cli.opcommand import skeleton

    enc = skeleton("Encrypt", "input")
    assert enc["Plaintext"] is None  # blob
    assert enc["KeyId"] == "" and enc["EncryptionContext"] == {"KeyName": ""} and enc["GrantTokens"] == [""]
    assert enc["DryRun"] is True and enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    out = skeleton("CreateKey", "output")["KeyMetadata"]
    assert out["KeyId"] == "KeyId" and out["CreationDate"] == "1970-01-01T00:00:00"
    assert out["EncryptionAlgorithms"] == ["EncryptionAlgorithmSpec"]
    assert skeleton("ListKeys", "input")["Limit"] == 0


def test_output_skeleton_validates_and_honours_query(cli: Any, vault: Path) -> None:
    res = cli("encrypt", "--generate-cli-skeleton", "output", "--key-id", "alias/x", "--plaintext", B64)
    assert res.code == 0, res.err
    assert res.json()["KeyId"] == "KeyId"
    res = cli(
        "describe-key",
        "--key-id",
        "k",
        "--generate-cli-skeleton",
        "output",
        "--query",
        "KeyMetadata.Arn",
        "--output",
        "text",
    )
    assert (res.code, res.out) == (0, "Arn\n")
    res = cli("encrypt", "--generate-cli-skeleton", "output", "--key-id", "", "--plaintext", B64)
    assert res.code != 0
    res = cli("encrypt", "--generate-cli-skeleton", "bogus")
    assert res.code == 252


def test_filled_skeleton_round_trips_through_cli_input_json(cli: Any, tmp_path: Path) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    skel = cli("encrypt", "--generate-cli-skeleton").json()
    skel.update(KeyId=key, Plaintext=B64, EncryptionContext={"app": "web"}, GrantTokens=[], DryRun=False)
    path = tmp_path / "in.json"
    path.write_text(json.dumps(skel))
    res = cli("encrypt", "--cli-input-json", f"file://{path}")
    assert res.code == 0, res.err
    assert_output_shape("Encrypt", res.json())
    blob = res.json()["CiphertextBlob"]
    dec = cli(
        "decrypt",
        "--cli-input-json",
        json.dumps({"CiphertextBlob": blob, "EncryptionContext": {"app": "web"}}),
    )
    assert dec.code == 0, dec.err
    assert dec.json()["Plaintext"] == B64


def test_explicit_options_override_json(cli: Any) -> None:
    k1 = cli("create-key", "--cli-input-json", '{"Description": "from json"}', "--description", "from option")
    assert k1.code == 0, k1.err
    assert k1.json()["KeyMetadata"]["Description"] == "from option"
    key = k1.json()["KeyMetadata"]["KeyId"]
    doc = json.dumps({"KeyId": "alias/does-not-exist", "Plaintext": B64, "DryRun": True})
    res = cli("encrypt", "--cli-input-json", doc, "--key-id", key, "--no-dry-run")
    assert res.code == 0, res.err
    assert key in res.json()["KeyId"]
    res = cli("encrypt", "--cli-input-json", doc, "--key-id", key)
    assert res.code == 254 and "DryRunOperationException" in res.err


def test_json_supplies_required_members(cli: Any) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    res = cli("encrypt", "--key-id", key, "--cli-input-json", json.dumps({"Plaintext": B64}))
    assert res.code == 0, res.err


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"KeyId": "k", "Bogus": 1}', 'Unknown parameter in input: "Bogus"'),
        ('{"KeyId": ', "Invalid JSON"),
        ("[1, 2]", "Invalid type: expecting map, received <class 'list'>"),
        ('{"KeyId": "k", "Plaintext": null}', "value: None"),
        (
            '{"KeyId": "k", "Plaintext": "aGk=", "EncryptionContext": "flat"}',
            "Invalid type for parameter EncryptionContext, value: flat",
        ),
        ("file:///nonexistent/in.json", "Unable to load paramfile"),
    ],
)
def test_bad_cli_input_json_is_252(cli: Any, doc: str, message: str) -> None:
    res = cli("encrypt", "--cli-input-json", doc)
    assert res.code == 252, res.err
    assert message in res.err and "Traceback" not in res.err


def test_cli_input_json_blob_that_is_not_base64_is_255(cli: Any) -> None:
    """The AWS CLI v2 decodes blobs as the call goes out and stops on ``InvalidBase64Error``, which
    its error handler leaves to the general exit code; kmscli does not echo the value, though."""
    res = cli("encrypt", "--cli-input-json", '{"KeyId": "k", "Plaintext": "my secret value!"}')
    assert res.code == 255, res.err
    assert "Invalid base64" in res.err and "--cli-input-json" in res.err and "my secret" not in res.err


@pytest.mark.parametrize("doc", ['{"Limit": true}', '{"Limit": true, "Marker": "\\u20ac"}'])
def test_a_bool_for_an_integer_is_the_serialization_error_aws_and_kmscli_serve_answer(
    cli: Any, doc: str
) -> None:
    """botocore's client-side check takes a bool as an int, so the AWS CLI sends ``"Limit": true``;
    AWS's JSON decoder (and ``kmscli serve``'s) refuses it before validating anything else. Locally
    the same code comes from the service, not a ValidationException, even with a constraint broken
    too (``false`` is below Limit's minimum, which botocore checks: exit 252)."""
    res = cli("list-keys", "--cli-input-json", doc)
    assert res.code == 254, res.err
    assert res.err.strip() == (
        "kmscli: [ERROR]: An error occurred (SerializationException) when calling the ListKeys operation: "
        "TRUE_VALUE can not be converted to an Integer"
    )
