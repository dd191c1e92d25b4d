"""The AWS-CLI contract: parameter syntax, output formats, --query, pagination, exit codes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from kmscli.cli import params, render
from kmscli.cli.request import check_request
from kmscli.errors import ParamValueError, UsageError
from tests.helpers import assert_output_shape


@pytest.fixture
def key_id(cli: Any) -> str:
    res = cli("create-key", "--description", "cli", "--query", "KeyMetadata.KeyId", "--output", "text")
    assert res.code == 0, res.err
    return str(res.out.strip())


# -- parameter parsing ---------------------------------------------------------------------------


def test_shorthand_grammar() -> None:
    assert params.parse_shorthand("a=1,b=2", "--x") == {"a": "1", "b": "2"}
    assert params.parse_shorthand("EncryptionContextSubset={tenant=t1,env=dev}", "--x") == {
        "EncryptionContextSubset": {"tenant": "t1", "env": "dev"}
    }
    assert params.parse_shorthand("k=[a,b],j='x,y'", "--x") == {"k": ["a", "b"], "j": "x,y"}
    assert params.parse_shorthand("k=a,b,c", "--x") == {"k": ["a", "b", "c"]}
    with pytest.raises(UsageError):
        params.parse_shorthand("novalue", "--x")
    with pytest.raises(UsageError):
        params.parse_shorthand("k={a=b", "--x")


def test_shorthand_escapes_and_repeated_keys_as_the_aws_cli() -> None:
    """``\\,`` is a comma in a bare value, ``\\"`` a quote in a quoted one; a key given twice at
    the top level is refused (not one of the two values kept)."""
    assert params.parse_shorthand("k=v\\,w,z=1", "--x") == {"k": "v,w", "z": "1"}
    assert params.parse_shorthand("a=\"b\\\"c\",s='it\\'s'", "--x") == {"a": 'b"c', "s": "it's"}
    assert params.parse_shorthand('a="x\\\\y"', "--x") == {"a": "x\\y"}
    assert params.parse_shorthand("l=[c\\,d,e]", "--x") == {"l": ["c,d", "e"]}
    assert params.parse_shorthand("m={a=1,a=2}", "--x") == {"m": {"a": "2"}}  # nested: the last, as AWS
    with pytest.raises(
        UsageError, match='Second instance of key "a" encountered for input:\na=b,a=c\n    \\^'
    ):
        params.parse_shorthand("a=b,a=c", "--encryption-context")
    assert params.parse_shorthand('a="b\\"', "--x") == {"a": "b\\"}  # no bare quote after: it closes
    with pytest.raises(UsageError, match="closing"):
        params.parse_shorthand('a="b', "--x")


def test_repeated_encryption_context_key_is_a_usage_error(cli: Any, key_id: str) -> None:
    res = cli("encrypt", "--key-id", key_id, "--plaintext", "aGk=", "--encryption-context", "a=b,a=c")
    assert res.code == 252 and "Second instance of key" in res.err and res.out == ""


def test_map_json_and_shorthand_are_equivalent() -> None:
    assert params.parse_value("EncryptionContextType", '{"a": "1", "b": "x=y"}', "--e") == {
        "a": "1",
        "b": "x=y",
    }
    assert params.parse_value("EncryptionContextType", "a=1,b=2", "--e") == {"a": "1", "b": "2"}


def test_list_of_structures_shorthand() -> None:
    tags = params.parse_value("TagList", ("TagKey=a,TagValue=1", "TagKey=b,TagValue=2"), "--tags")
    assert tags == [{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}]
    assert params.parse_value("TagList", ('[{"TagKey":"a","TagValue":"1"}]',), "--tags") == tags[:1]
    wrong = params.parse_value("TagList", ("Key=a,Value=1",), "--tags")  # botocore's check refuses it
    with pytest.raises(UsageError, match='Unknown parameter in Tags\\[0\\]: "Key", must be one of: TagKey'):
        check_request("TagResource", {"KeyId": "k", "Tags": wrong})


def test_blob_sources(tmp_path: Path) -> None:
    raw = bytes(range(256))
    (tmp_path / "b.bin").write_bytes(raw)
    (tmp_path / "b.txt").write_text(base64.b64encode(raw).decode() + "\n")
    assert params.decode_blob(f"fileb://{tmp_path / 'b.bin'}", "--p") == raw
    assert params.decode_blob(f"file://{tmp_path / 'b.txt'}", "--p") == raw
    assert params.decode_blob(base64.b64encode(raw).decode(), "--p") == raw
    with pytest.raises(ParamValueError, match="Invalid base64"):
        params.decode_blob("not base64!", "--p")
    with pytest.raises(UsageError, match="Unable to load paramfile"):
        params.decode_blob(f"fileb://{tmp_path / 'missing'}", "--p")


def test_param_file_paths_expand_home_and_variables(
    cli: Any, key_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the AWS CLI does: ``~`` and ``$VAR`` in a file:// or fileb:// path, even when the shell
    did not expand them (quoted); a missing file is named as given, the variable's value unshown."""
    (tmp_path / "pt.bin").write_bytes(b"hi")
    (tmp_path / "ctx.json").write_text('{"a": "b"}')
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PT_DIR", str(tmp_path))
    for path in ("fileb://~/pt.bin", "fileb://$PT_DIR/pt.bin", "fileb://${PT_DIR}/pt.bin"):
        res = cli(
            "encrypt", "--key-id", key_id, "--plaintext", path, "--encryption-context", "file://~/ctx.json"
        )
        assert res.code == 0, res.err
        dec = cli("decrypt", "--ciphertext-blob", res.json()["CiphertextBlob"], "--encryption-context", "a=b")
        assert dec.json()["Plaintext"] == "aGk="
    monkeypatch.setenv("SECRET_DIR", "s3cr3t-value")
    missing = cli("encrypt", "--key-id", key_id, "--plaintext", "fileb://$SECRET_DIR/none")
    assert missing.code == 252 and "$SECRET_DIR/none" in missing.err and "s3cr3t" not in missing.err


def test_oversized_param_file_is_refused_without_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(100 * 1024 * 1024)
    with pytest.raises(UsageError, match="larger than"):
        params.decode_blob(f"fileb://{big}", "--plaintext")


def test_fileb_stdin(cli: Any, key_id: str) -> None:
    res = cli("encrypt", "--key-id", key_id, "--plaintext", "fileb:///dev/stdin", stdin=b"from stdin")
    assert res.code == 0, res.err
    dec = cli(
        "decrypt",
        "--ciphertext-blob",
        res.json()["CiphertextBlob"],
        "--query",
        "Plaintext",
        "--output",
        "text",
    )
    assert base64.b64decode(dec.out) == b"from stdin"


def test_fileb_dash_is_a_file_named_dash_not_stdin(
    cli: Any, key_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AWS CLI opens a file named ``-`` (its paramfile has no stdin shorthand); kmscli read stdin."""
    monkeypatch.chdir(tmp_path)
    missing = cli("encrypt", "--key-id", key_id, "--plaintext", "fileb://-", stdin=b"from stdin")
    assert missing.code == 252 and "Unable to load paramfile" in missing.err
    (tmp_path / "-").write_bytes(b"from the file")
    res = cli("encrypt", "--key-id", key_id, "--plaintext", "fileb://-", stdin=b"from stdin")
    assert res.code == 0, res.err
    dec = cli("decrypt", "--ciphertext-blob", res.json()["CiphertextBlob"], "--query", "Plaintext")
    assert base64.b64decode(dec.json()) == b"from the file"


def test_list_option_takes_space_separated_values(cli: Any, key_id: str) -> None:
    res = cli("untag-resource", "--key-id", key_id, "--tag-keys", "a", "b", "c")
    assert res.code == 0, res.err
    res = cli("tag-resource", "--key-id", key_id, "--tags", "TagKey=a,TagValue=1", "TagKey=b,TagValue=2")
    assert res.code == 0, res.err
    tags = cli("list-resource-tags", "--key-id", key_id).json()["Tags"]
    assert [t["TagKey"] for t in tags] == ["a", "b"]


# -- exit codes and messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["encrypt", "--bogus"], "Unknown options: --bogus"),
        (["no-such-command"], "No such command"),
        (["encrypt", "--key-id", "k"], "required: --plaintext"),
        (
            ["encrypt", "--key-id", "k", "--plaintext", "aGk=", "--encryption-context", "{bad json"],
            "Invalid JSON",
        ),
        # argparse's check of required options comes before any value is read
        (["encrypt", "--plaintext", "not base64!"], "required: --key-id"),
        # a value error (252) met while reading the options wins over a blob decoded as the call goes out
        (["encrypt", "--key-id", "k", "--plaintext", "abc", "--encryption-context", "{"], "Invalid JSON"),
        # botocore's check (252) runs after the blobs are decoded, so it needs them to decode
        (["encrypt", "--key-id", "", "--plaintext", "aGk="], "Invalid length for parameter KeyId"),
        (["list-keys", "--page-size", "many"], "'many' is not a valid integer"),  # argparse's int
    ],
)
def test_usage_errors_exit_252(cli: Any, args: list[str], needle: str) -> None:
    res = cli(*args)
    assert res.code == 252, (res.code, res.err)
    assert needle in res.err
    assert "Traceback" not in res.err and res.out == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["encrypt", "--key-id", "k", "--plaintext", "not base64!"], "Invalid base64"),
        (
            ["encrypt", "--key-id", "", "--plaintext", "not base64!"],
            "Invalid base64",
        ),  # before botocore's check
        (["generate-random", "--number-of-bytes", "many"], "invalid literal for int() with base 10: 'many'"),
        (["list-keys", "--limit", "1.5"], "invalid literal for int() with base 10: '1.5'"),
        (["schedule-key-deletion", "--key-id", "k", "--pending-window-in-days", ""], "invalid literal"),
        (
            [
                "import-key-material",
                "--key-id",
                "k",
                "--import-token",
                "aGk=",
                "--encrypted-key-material",
                "aGk=",
                "--valid-to",
                "99999999999999999",
            ],
            'Unable to calculate correct timezone offset for "99999999999999999"',
        ),
    ],
)
def test_value_errors_the_aws_cli_does_not_classify_exit_255(cli: Any, args: list[str], needle: str) -> None:
    """AWS CLI v2: an integer member's text goes through ``int()`` (argparse takes it as a string),
    blob text is base64-decoded as the call goes out (``InvalidBase64Error``), and botocore gives up
    on an epoch too large for a date with ``RuntimeError``; none is a ``ParamError``, so each takes
    the general exit code, 255 (awscli/argprocess.py, customizations/binaryformat.py, errorhandler.py)."""
    res = cli(*args)
    assert res.code == 255, (res.code, res.err)
    assert needle in res.err and "Traceback" not in res.err and res.out == ""


def test_service_error_exit_254(cli: Any) -> None:
    res = cli("encrypt", "--key-id", "alias/nope", "--plaintext", "aGk=")
    assert res.code == 254
    assert res.err == (  # as the AWS CLI v2 (2.34+) writes it, with kmscli's name for `aws`
        "\nkmscli: [ERROR]: An error occurred (NotFoundException) when calling the Encrypt operation: "
        "Alias arn:aws:kms:us-east-1:111122223333:alias/nope is not found.\n"
    )


def test_debug_shows_traceback_only_when_asked(cli: Any) -> None:
    assert "Traceback" not in cli("describe-key", "--key-id", "alias/x").err
    assert "Traceback" in cli("--debug", "describe-key", "--key-id", "alias/x").err


def test_dry_run_flag(cli: Any, key_id: str) -> None:
    res = cli("encrypt", "--key-id", key_id, "--plaintext", "aGk=", "--dry-run")
    assert res.code == 254 and "DryRunOperationException" in res.err


# -- output -------------------------------------------------------------------------------------------


def test_text_output_matches_aws_cli_format() -> None:
    data = {"Keys": [{"KeyId": "k1", "KeyArn": "a1"}, {"KeyId": "k2", "KeyArn": "a2"}], "Truncated": False}
    assert render.to_text(data) == "False\nKEYS\ta1\tk1\nKEYS\ta2\tk2\n"
    assert render.to_text("plain") == "plain\n"
    assert render.to_text(["a", "b"]) == "a\tb\n"
    assert (
        render.to_text({"EncryptionAlgorithms": ["X", "Y"], "KeyId": "k"})
        == "k\nENCRYPTIONALGORITHMS\tX\nENCRYPTIONALGORITHMS\tY\n"
    )


@pytest.mark.parametrize(
    ("fmt", "nothing", "scalar"),
    [
        ("json", "null\n", '"Enabled"\n'),
        ("text", "None\n", "Enabled\n"),
        ("yaml", "null\n", '"Enabled"\n'),
        ("yaml-stream", "- null\n", "- Enabled\n"),
        ("table", "", None),
    ],
)
def test_query_results_print_as_the_aws_cli_prints_them(
    cli: Any, key_id: str, fmt: str, nothing: str, scalar: str | None
) -> None:
    """A --query that matches nothing, and one that picks a scalar, in each format."""
    missing = cli("describe-key", "--key-id", key_id, "--query", "KeyMetadata.Nope", "--output", fmt)
    assert missing.code == 0 and missing.out == nothing
    picked = cli("describe-key", "--key-id", key_id, "--query", "KeyMetadata.KeyState", "--output", fmt)
    assert scalar is None or picked.out == scalar
    empty = cli("describe-key", "--key-id", key_id, "--query", "KeyMetadata.Tags || `[]`", "--output", fmt)
    assert (
        empty.out == {"json": "[]\n", "text": "", "yaml": "[]\n", "yaml-stream": "- []\n", "table": ""}[fmt]
    )
    assert cli("enable-key", "--key-id", key_id, "--query", "@", "--output", fmt).out == ""


def test_output_off_prints_nothing_but_errors(cli: Any, key_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--output off`` (AWS CLI 2.34+): the call runs, stdout stays empty, errors still on stderr."""
    res = cli("create-key", "--description", "quiet", "--output", "off")
    assert res.code == 0 and res.out == ""
    assert cli("list-keys", "--query", "length(Keys)", "--output", "text").out == "2\n"  # it ran
    assert cli("describe-key", "--key-id", key_id, "--output", "off", "--query", "KeyMetadata").out == ""
    assert cli("list-keys", "--page-size", "1", "--output", "off").out == ""
    failed = cli("describe-key", "--key-id", "alias/none", "--output", "off")
    assert failed.code == 254 and "NotFoundException" in failed.err and failed.out == ""
    monkeypatch.setenv("AWS_DEFAULT_OUTPUT", "off")
    assert cli("describe-key", "--key-id", key_id).out == ""
    assert (
        cli("describe-key", "--key-id", key_id, "--output", "json").json()["KeyMetadata"]["KeyId"] == key_id
    )


def test_output_formats(cli: Any, key_id: str) -> None:
    as_json = cli("describe-key", "--key-id", key_id)
    assert as_json.out.startswith('{\n    "KeyMetadata": {')
    assert_output_shape("DescribeKey", as_json.json())
    text = cli("describe-key", "--key-id", key_id, "--output", "text")
    assert text.out.startswith("KEYMETADATA\t111122223333\t")
    yaml = cli("describe-key", "--key-id", key_id, "--output", "yaml")
    assert yaml.out.startswith("KeyMetadata:\n  AWSAccountId: '111122223333'\n") or yaml.out.startswith(
        'KeyMetadata:\n  AWSAccountId: "111122223333"\n'
    )
    table = cli("describe-key", "--key-id", key_id, "--output", "table")
    assert "KeyMetadata" in table.out and "\x1b[" not in table.out  # no colour when not a terminal
    empty = cli("enable-key", "--key-id", key_id)
    assert empty.code == 0 and empty.out == ""


def test_global_options_after_subcommand(cli: Any, key_id: str) -> None:
    res = cli("describe-key", "--key-id", key_id, "--query", "KeyMetadata.KeyState", "--output", "text")
    assert res.out == "Enabled\n"
    res = cli("--output", "text", "describe-key", "--key-id", key_id, "--query", "KeyMetadata.KeyState")
    assert res.out == "Enabled\n"


def test_region_separates_keys(cli: Any, key_id: str) -> None:
    assert cli("list-keys", "--region", "eu-west-1").json()["Keys"] == []
    res = cli("describe-key", "--key-id", key_id, "--region", "eu-west-1")
    assert res.code == 254 and "NotFoundException" in res.err


# -- pagination ---------------------------------------------------------------------------------------


def test_client_side_pagination(cli: Any) -> None:
    for _ in range(5):
        assert cli("create-key").code == 0
    full = cli("list-keys").json()
    assert len(full["Keys"]) == 5 and "NextMarker" not in full and "Truncated" not in full
    assert_output_shape("ListKeys", full, paginated=True)
    first = cli("list-keys", "--max-items", "2", "--page-size", "1").json()
    assert len(first["Keys"]) == 2 and "NextToken" in first
    rest = cli("list-keys", "--starting-token", first["NextToken"]).json()
    assert [k["KeyId"] for k in first["Keys"] + rest["Keys"]] == [k["KeyId"] for k in full["Keys"]]
    mid = cli("list-keys", "--max-items", "3", "--page-size", "2").json()
    tail = cli("list-keys", "--starting-token", mid["NextToken"], "--max-items", "10").json()
    assert [k["KeyId"] for k in mid["Keys"] + tail["Keys"]] == [k["KeyId"] for k in full["Keys"]]
    assert "NextToken" not in tail


def test_starting_token_as_botocore_reads_it(cli: Any) -> None:
    """A token that is not kmscli's (or the AWS CLI's) base64 JSON is the service's own marker, or
    botocore's old ``MARKER___N`` form; the service judges the marker."""
    for _ in range(3):
        assert cli("create-key").code == 0
    ids = cli("list-keys", "--query", "Keys[].KeyId").json()
    marker = cli("list-keys", "--no-paginate", "--limit", "1", "--query", "NextMarker", "--output", "text")
    marker_text = marker.out.strip()
    assert cli("list-keys", "--starting-token", marker_text, "--query", "Keys[].KeyId").json() == ids[1:]
    old_form = cli("list-keys", "--starting-token", f"{marker_text}___1", "--query", "Keys[].KeyId")
    assert old_form.json() == ids[2:]
    aws_written = base64.b64encode(b'{"Marker": null, "boto_truncate_amount": 2}').decode()
    assert cli("list-keys", "--starting-token", aws_written, "--query", "Keys[].KeyId").json() == ids[2:]
    bad = cli("list-keys", "--starting-token", "garbage")
    assert bad.code == 254 and "(InvalidMarkerException) when calling the ListKeys operation" in bad.err
    assert cli("list-keys", "--starting-token", "a___b___c").code == 255
    negative = base64.b64encode(b'{"boto_truncate_amount": -1}').decode()
    assert cli("list-keys", "--starting-token", negative).code == 252


def test_text_output_is_printed_page_by_page(cli: Any) -> None:
    """As the AWS CLI's text format: each page's items, --query applied to each page, and NextToken
    last as its own line (the query applied to it too)."""
    for _ in range(3):
        assert cli("create-key").code == 0
    ids = cli("list-keys", "--query", "Keys[].KeyId").json()
    per_page = cli("list-keys", "--page-size", "2", "--query", "Keys[].KeyId", "--output", "text")
    assert per_page.out == f"{ids[0]}\t{ids[1]}\n{ids[2]}\n"
    cut = cli("list-keys", "--max-items", "1", "--output", "text").out.splitlines()
    assert cut[0].startswith("KEYS\t") and cut[0].endswith(ids[0]) and len(cut) == 2
    assert cut[1].startswith("NEXTTOKEN\t")
    rest = cli("list-keys", "--starting-token", cut[1].split("\t")[1], "--query", "Keys[].KeyId").json()
    assert rest == ids[1:]
    queried = cli("list-keys", "--max-items", "1", "--query", "Keys[].KeyId", "--output", "text")
    assert queried.out == f"{ids[0]}\nNone\n"
    assert cli("list-keys", "--max-items", "1", "--page-size", "1", "--output", "json").json()["NextToken"]


def test_yaml_stream_prints_each_page_as_returned(cli: Any) -> None:
    import yaml

    for _ in range(3):
        assert cli("create-key").code == 0
    pages = yaml.safe_load(cli("list-keys", "--page-size", "2", "--output", "yaml-stream").out)
    assert [len(p["Keys"]) for p in pages] == [2, 1]
    assert pages[0]["Truncated"] is True and "NextMarker" in pages[0] and "NextToken" not in pages[0]
    assert pages[1]["Truncated"] is False
    cut = yaml.safe_load(cli("list-keys", "--max-items", "1", "--output", "yaml-stream").out)
    assert len(cut) == 1 and len(cut[0]["Keys"]) == 1 and "NextToken" not in cut[0]


# -- skeleton and JSON input --------------------------------------------------------------------------


def test_skeleton_and_cli_input_json(cli: Any, key_id: str, tmp_path: Path) -> None:
    skel = cli("encrypt", "--generate-cli-skeleton").json()
    assert set(skel) == {
        "KeyId",
        "Plaintext",
        "EncryptionContext",
        "GrantTokens",
        "EncryptionAlgorithm",
        "DryRun",
    }
    out_skel = cli(
        "encrypt", "--key-id", key_id, "--plaintext", "aGk=", "--generate-cli-skeleton", "output"
    ).json()
    assert set(out_skel) == {"CiphertextBlob", "KeyId", "EncryptionAlgorithm"}
    req = tmp_path / "req.json"
    req.write_text(json.dumps({"KeyId": "alias/none", "Plaintext": "aGk=", "EncryptionContext": {"a": "b"}}))
    res = cli("encrypt", "--cli-input-json", f"file://{req}", "--key-id", key_id)  # explicit option wins
    assert res.code == 0, res.err
    dec = cli("decrypt", "--ciphertext-blob", res.json()["CiphertextBlob"], "--encryption-context", "a=b")
    assert dec.code == 0, dec.err
    bad = cli("encrypt", "--cli-input-json", '{"Nope": 1}')
    assert bad.code == 252 and "Unknown parameter" in bad.err


# -- model ---------------------------------------------------------------------------------------------


def test_committed_model_is_current() -> None:
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "gen_model", Path(__file__).parents[2] / "tools" / "gen_model.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_model"] = module
    spec.loader.exec_module(module)
    committed = (Path(__file__).parents[2] / "kmscli" / "model" / "kms.json").read_text()
    assert module.render() == committed, "kmscli/model/kms.json is stale: run `make model`"


def test_version_and_python_m(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "kmscli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("kmscli ")


@pytest.mark.parametrize(
    "value",
    ["0", "1700000000", "253402300800", "99999999999999999", "1e17", "1e400", "-1e400", "nan", "-9" * 8],
)
def test_timestamps_botocore_gives_up_on_are_the_255_ones(value: str) -> None:
    """botocore's own check of a timestamp parameter: ``RuntimeError`` (the AWS CLI's 255) exactly
    where kmscli says 255; anything else is not 255 here."""
    import botocore.session
    from botocore.validate import ParamValidator

    shape = (
        botocore.session.get_session()
        .get_service_model("kms")
        .operation_model("ImportKeyMaterial")
        .input_shape
    )
    request = {"KeyId": "k", "ImportToken": b"t", "EncryptedKeyMaterial": b"m", "ValidTo": value}
    try:
        ParamValidator().validate(request, shape)
        botocore_gives_up = False
    except RuntimeError:
        botocore_gives_up = True
    try:
        params.parse_timestamp(value, "--valid-to")
        ours = 0
    except ParamValueError as exc:
        ours = exc.exit_code
    except UsageError as exc:
        ours = exc.exit_code
    assert (ours == 255) is botocore_gives_up
