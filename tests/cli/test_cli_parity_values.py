"""Parameter values, paramfiles and --query failures as the AWS CLI v2 (2.36) treats them.

Found by running `aws kms` (AWS CLI v1, whose parameter handling v2 kept) against a moto server
beside kmscli, and read against the AWS CLI v2's own source (awscli/shorthand.py, argprocess.py,
paramfile.py, errorhandler.py) where v1 and v2 differ: v2 exits 252 for botocore's parameter check
where v1 exits 255."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def key_id(cli: Any) -> str:
    res = cli("create-key", "--description", "before", "--query", "KeyMetadata.KeyId", "--output", "text")
    assert res.code == 0, res.err
    return str(res.out.strip())


def _encrypt(cli: Any, key_id: str, *extra: str) -> Any:
    return cli("encrypt", "--key-id", key_id, "--plaintext", "aGk=", *extra)


# -- a value of the wrong type reaches botocore's check, never becomes text ----------------------------


@pytest.mark.parametrize(
    ("context", "problem"),
    [
        ("a=b,c", "EncryptionContext.a, value: ['b', 'c'], type: <class 'list'>"),
        ("a=[x,y]", "EncryptionContext.a, value: ['x', 'y'], type: <class 'list'>"),
        ("a={x=y}", "EncryptionContext.a, value: {'x': 'y'}, type: <class 'dict'>"),
        ('{"a": 1}', "EncryptionContext.a, value: 1, type: <class 'int'>"),
        ('{"a": true}', "EncryptionContext.a, value: True, type: <class 'bool'>"),
        ('{"a": {"b": "c"}}', "EncryptionContext.a, value: {'b': 'c'}, type: <class 'dict'>"),
    ],
)
def test_an_encryption_context_value_that_is_not_text_is_refused(
    cli: Any, key_id: str, context: str, problem: str
) -> None:
    """The AWS CLI hands shorthand's lists and maps, and JSON's numbers, to botocore as they are,
    and its check refuses them (exit 252). kmscli made them text (``["b", "c"]``, ``1``) and
    encrypted under a context the same command cannot build on AWS."""
    res = _encrypt(cli, key_id, "--encryption-context", context)
    assert (res.code, res.out) == (252, ""), res.err
    assert (
        f"Parameter validation failed:\nInvalid type for parameter {problem}, valid types: <class 'str'>"
        in (res.err)
    )
    assert cli("audit", "--output", "json", "--event-name", "Encrypt").out.strip() in ("", "[]")


def test_structure_values_of_the_wrong_type_or_member_are_botocores_errors(cli: Any, key_id: str) -> None:
    """Tags and grant constraints: a list where text is asked, text where a map is asked, members
    the structure does not have: botocore's check lists each problem (kmscli stored the tag value
    ``["x", "y"]`` and answered the others in words of its own)."""
    tag = cli("tag-resource", "--key-id", key_id, "--tags", "TagKey=a,TagValue=x,y")
    assert tag.code == 252
    assert "Invalid type for parameter Tags[0].TagValue, value: ['x', 'y'], type: <class 'list'>" in tag.err
    assert cli("list-resource-tags", "--key-id", key_id, "--query", "Tags").json() == []
    wrong_names = cli("tag-resource", "--key-id", key_id, "--tags", "Key=a,Value=b")
    assert wrong_names.code == 252
    assert (
        'Parameter validation failed:\nMissing required parameter in Tags[0]: "TagKey"\n'
        'Missing required parameter in Tags[0]: "TagValue"\n'
        'Unknown parameter in Tags[0]: "Key", must be one of: TagKey, TagValue\n'
        'Unknown parameter in Tags[0]: "Value", must be one of: TagKey, TagValue'
    ) in wrong_names.err
    grant = ["create-grant", "--key-id", key_id, "--grantee-principal", "arn:aws:iam::111122223333:role/r"]
    grant += ["--operations", "Decrypt", "--constraints"]
    for constraints, problem in (
        (
            "EncryptionContextSubset=a",
            "Invalid type for parameter Constraints.EncryptionContextSubset, value: a, "
            "type: <class 'str'>, valid types: <class 'dict'>",
        ),
        (
            "Bogus={a=b}",
            'Unknown parameter in Constraints: "Bogus", must be one of: EncryptionContextSubset, '
            "EncryptionContextEquals, SourceArn",
        ),
    ):
        refused = cli(*grant, constraints)
        assert refused.code == 252 and problem in refused.err, refused.err
    assert cli("list-grants", "--key-id", key_id, "--query", "Grants").json() == []
    right = cli(*grant, "EncryptionContextSubset={a=b,c=d}", "--query", "GrantId", "--output", "text")
    assert right.code == 0, right.err


def test_json_that_is_not_an_object_for_a_map_is_invalid_json(cli: Any, key_id: str) -> None:
    """A map or structure option whose text starts with ``[`` is refused as the AWS CLI words it."""
    res = _encrypt(cli, key_id, "--encryption-context", '["a"]')
    assert res.code == 252
    assert "Error parsing parameter '--encryption-context': Invalid JSON:\n[\"a\"]" in res.err


# -- shorthand syntax ------------------------------------------------------------------------------


def test_shorthand_trailing_comma_is_a_syntax_error() -> None:
    """`a=b,` wants a value after the comma in the AWS CLI's grammar (kmscli read an empty second
    value and, for a map, encrypted under ``["b", ""]``); the message is v2's, its input after one
    space and the caret where the value is missing."""
    from kmscli.cli import params
    from kmscli.errors import UsageError

    with pytest.raises(UsageError) as exc:
        params.parse_shorthand("a=b,", "--encryption-context")
    assert exc.value.message == (
        "Error parsing parameter '--encryption-context': Expected: '<second>', received: '<none>' "
        "for input:\n a=b,\n    ^"
    )
    with pytest.raises(UsageError, match="'<second>'"):
        params.parse_shorthand("a=b,c=d, ", "--x")
    with pytest.raises(UsageError, match="Expected: '=', received: 'EOF' for input:\n \n\\^"):
        params.parse_shorthand("", "--x")
    assert params.parse_shorthand("a=b, c=d", "--x") == {"a": "b", "c": "d"}
    assert params.parse_shorthand("a=,b=c", "--x") == {"a": "", "b": "c"}
    assert params.parse_shorthand("a=b,c,d=e", "--x") == {"a": ["b", "c"], "d": "e"}


def test_quoted_shorthand_values_keep_commas_equals_and_spaces(cli: Any, key_id: str) -> None:
    """Quoted values keep ``,`` ``=`` and spaces; a bare value keeps ``=`` and inner spaces; the
    same context decrypts whichever way it was written (shorthand, JSON, file://)."""
    from kmscli.cli import params

    assert params.parse_shorthand("a=\"x,y\",b='p=q r',c=x=y,d=x y", "--x") == {
        "a": "x,y",
        "b": "p=q r",
        "c": "x=y",
        "d": "x y",
    }
    blob = _encrypt(cli, key_id, "--encryption-context", 'a="x,y",b=x=y', "--query", "CiphertextBlob")
    assert blob.code == 0, blob.err
    for same in ('{"b": "x=y", "a": "x,y"}', "b=x=y,a='x,y'"):
        back = cli("decrypt", "--ciphertext-blob", blob.json(), "--encryption-context", same)
        assert back.code == 0 and back.json()["Plaintext"] == "aGk=", (same, back.err)


# -- file:// and fileb:// ------------------------------------------------------------------------------


def test_fileb_on_a_text_parameter_is_bytes_botocore_refuses(cli: Any, key_id: str, tmp_path: Path) -> None:
    """The AWS CLI v2 resolves ``fileb://`` for every parameter: bytes where the model asks for
    text are refused by botocore's check (252). kmscli took the words ``fileb://PATH`` as the
    description (or policy, alias name...)."""
    (tmp_path / "desc.txt").write_bytes(b"my description")
    res = cli(
        "update-key-description", "--key-id", key_id, "--description", f"fileb://{tmp_path / 'desc.txt'}"
    )
    assert res.code == 252
    assert (
        "Parameter validation failed:\nInvalid type for parameter Description, value: b'my description', "
        "type: <class 'bytes'>, valid types: <class 'str'>"
    ) in res.err
    description = cli("describe-key", "--key-id", key_id, "--query", "KeyMetadata.Description")
    assert description.json() == "before"
    tokens = _encrypt(cli, key_id, "--grant-tokens", f"fileb://{tmp_path / 'desc.txt'}")
    assert tokens.code == 252 and "Invalid type for parameter GrantTokens[0], value: b'my description'" in (
        tokens.err
    )
    context = _encrypt(cli, key_id, "--encryption-context", f"fileb://{tmp_path / 'desc.txt'}")
    assert context.code == 252 and "Invalid type for parameter EncryptionContext, value: b'my" in context.err
    text = cli(
        "update-key-description", "--key-id", key_id, "--description", f"file://{tmp_path / 'desc.txt'}"
    )
    assert text.code == 0, text.err
    assert cli("describe-key", "--key-id", key_id, "--query", "KeyMetadata.Description").json() == (
        "my description"
    )


def test_fileb_where_python_reads_bytes_works_as_in_the_aws_cli(
    cli: Any, key_id: str, tmp_path: Path
) -> None:
    """Where the AWS CLI's Python takes bytes as well as text, so does kmscli: ``int(b"8\\n")`` for
    an integer, ``json.loads(bytes)`` for ``--cli-input-json``."""
    (tmp_path / "n.txt").write_bytes(b"8\n")
    res = cli("generate-random", "--number-of-bytes", f"fileb://{tmp_path / 'n.txt'}", "--query", "Plaintext")
    assert res.code == 0, res.err
    assert len(base64.b64decode(res.json())) == 8
    (tmp_path / "req.json").write_bytes(f'{{"KeyId": "{key_id}"}}'.encode())
    described = cli("describe-key", "--cli-input-json", f"fileb://{tmp_path / 'req.json'}")
    assert described.code == 0, described.err
    assert described.json()["KeyMetadata"]["KeyId"] == key_id
    (tmp_path / "req.yaml").write_bytes(f"KeyId: {key_id}\n".encode())
    assert cli("describe-key", "--cli-input-yaml", f"fileb://{tmp_path / 'req.yaml'}").code == 0


def test_paramfile_errors_in_the_aws_clis_words(cli: Any, key_id: str, tmp_path: Path) -> None:
    """A missing file or a folder: the prefix and path as given, then the OS error as Python words
    it; undecodable text behind ``file://``: the AWS CLI's hint to use ``fileb://``. Exit 252."""
    missing = tmp_path / "none.json"
    res = _encrypt(cli, key_id, "--encryption-context", f"file://{missing}")
    assert res.code == 252
    assert (
        f"Error parsing parameter '--encryption-context': Unable to load paramfile file://{missing}: "
        f"[Errno 2] No such file or directory: '{missing}'"
    ) in res.err
    folder = cli("encrypt", "--key-id", key_id, "--plaintext", f"fileb://{tmp_path}")
    assert folder.code == 252
    assert (
        f"Unable to load paramfile fileb://{tmp_path}: [Errno 21] Is a directory: '{tmp_path}'" in folder.err
    )
    (tmp_path / "bin.bin").write_bytes(b"\xff\xfe\x00")
    binary = cli(
        "update-key-description", "--key-id", key_id, "--description", f"file://{tmp_path / 'bin.bin'}"
    )
    assert binary.code == 252
    assert (
        f"Unable to load paramfile ({tmp_path / 'bin.bin'}), text contents could not be decoded.  If this "
        "is a binary file, please use the fileb:// prefix instead of the file:// prefix."
    ) in binary.err
    (tmp_path / "empty.bin").write_bytes(b"")
    empty = cli("encrypt", "--key-id", key_id, "--plaintext", f"fileb://{tmp_path / 'empty.bin'}")
    assert empty.code == 254 and "(ValidationException) when calling the Encrypt operation" in empty.err


def test_http_prefixes_are_plain_text_as_in_v2(cli: Any, key_id: str) -> None:
    """The AWS CLI v2 does not fetch ``http://`` / ``https://`` parameter values (v1 did)."""
    res = cli("update-key-description", "--key-id", key_id, "--description", "https://example.invalid/x")
    assert res.code == 0, res.err
    assert cli("describe-key", "--key-id", key_id, "--query", "KeyMetadata.Description").json() == (
        "https://example.invalid/x"
    )


# -- --query -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("foo(@)", "Unknown function: foo()"),
        (
            "length(`5`)",
            "In function length(), invalid type for value: 5, expected one of: "
            "['string', 'array', 'object'], received: \"number\"",
        ),
        ("length(@, @)", "Expected 1 argument for function length(), received 2"),
    ],
)
def test_a_query_failing_on_the_result_is_the_general_error(
    cli: Any, key_id: str, query: str, message: str
) -> None:
    """An expression that compiles but fails on the result: the AWS CLI's general error, its
    message alone on stderr, exit 255, after the call ran. kmscli called it an internal error."""
    res = cli("describe-key", "--key-id", key_id, "--query", query, "--output", "text")
    assert (res.code, res.out) == (255, ""), res.err
    assert res.err == f"\nkmscli: [ERROR]: {message}\n"
    created = cli("create-key", "--query", query)
    assert created.code == 255 and "internal error" not in created.err
    assert cli("list-keys", "--query", "length(Keys)").json() == 2  # the call ran, as in the AWS CLI


@pytest.mark.parametrize("query", ["KeyMetadata.[KeyId", "", "a ||", "`{"])
def test_a_query_that_does_not_compile_is_refused_before_the_call(cli: Any, query: str) -> None:
    """botocore's wording, exit 252 (the AWS CLI v2's ParamValidationError), nothing run."""
    res = cli("create-key", "--query", query)
    assert res.code == 252 and f"Bad value for --query {query}: " in res.err
    assert cli("list-keys", "--query", "length(Keys)").json() == 0


# -- --cli-input-json / --cli-input-yaml -----------------------------------------------------------


@pytest.mark.parametrize("option", ["--cli-input-json", "--cli-input-yaml"])
def test_paging_members_in_the_input_document_turn_paging_off(cli: Any, option: str) -> None:
    """AWS CLI v2 (its migration guide; v1 ignored them): ``Limit`` or ``Marker`` in the input
    document make the one call asked for, printed with ``NextMarker`` and ``Truncated``, as
    ``--limit`` does. kmscli kept paging and printed every key."""
    for _ in range(3):
        assert cli("create-key").code == 0
    doc = '{"Limit": 1}' if option == "--cli-input-json" else "Limit: 1"
    page = cli("list-keys", option, doc)
    assert page.code == 0, page.err
    first = page.json()
    assert len(first["Keys"]) == 1 and first["Truncated"] is True and "NextToken" not in first
    marker = {"Marker": first["NextMarker"]}
    rest_doc = json.dumps(marker) if option == "--cli-input-json" else f"Marker: {first['NextMarker']}"
    rest = cli("list-keys", option, rest_doc, "--query", "[length(Keys), Truncated]")
    assert rest.json() == [2, False]
    assert cli("list-keys", option, doc, "--max-items", "1").code == 252  # paging is off: 252 as in v2


def test_input_documents_are_refused_in_the_aws_clis_words(cli: Any) -> None:
    """Invalid JSON or YAML (an empty value included: it was taken for no document) and a
    document that is not a map, as the AWS CLI v2 words them; exit 252."""
    for option, text in (("--cli-input-json", ""), ("--cli-input-json", "{"), ("--cli-input-yaml", "a: [")):
        res = cli("create-key", option, text)
        assert res.code == 252, (option, text, res.err)
        kind = option.removeprefix("--cli-input-").upper()
        assert f"Error parsing parameter '{option[2:]}': Invalid {kind} received." in res.err
    listed = cli("create-key", "--cli-input-json", "[]")
    assert listed.code == 252
    assert (
        "Error parsing parameter '--cli-input-json': Invalid type: expecting map, received <class 'list'>"
        in (listed.err)
    )
    empty_yaml = cli("create-key", "--cli-input-yaml", "")
    assert empty_yaml.code == 252 and "expecting map, received <class 'NoneType'>" in empty_yaml.err
    assert cli("list-keys", "--query", "length(Keys)").json() == 0


# -- how errors are written ---------------------------------------------------------------------------

USAGE_TEXT = (
    "usage: kmscli [options] <command> [<subcommand> ...] [parameters]\n"
    "To see help text, you can run:\n\n"
    "  kmscli --help\n  kmscli <command> --help\n  kmscli <command> <subcommand> --help\n"
)


def test_errors_are_written_as_the_aws_cli_v2_writes_them(
    cli: Any, key_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS CLI 2.34+ (errorformat.py, errorhandler.py): an empty line, ``aws: [ERROR]: `` (here
    ``kmscli``), and with the default ``enhanced`` format ``An error occurred (ParamValidation): ``
    or ``(Configuration)`` before a parameter or environment error; ``legacy`` leaves that out; an
    argparse error is followed by the usage text. kmscli wrote ``usage: ...`` then ``kmscli: error:``."""
    service = cli("describe-key", "--key-id", "alias/none")
    assert service.err == (
        "\nkmscli: [ERROR]: An error occurred (NotFoundException) when calling the DescribeKey operation: "
        "Alias arn:aws:kms:us-east-1:111122223333:alias/none is not found.\n"
    )
    param = _encrypt(cli, key_id, "--encryption-context", "a=b,")
    assert param.code == 252 and param.err.startswith(
        "\nkmscli: [ERROR]: An error occurred (ParamValidation): Error parsing parameter "
        "'--encryption-context': Expected: '<second>'"
    )
    legacy = _encrypt(cli, key_id, "--encryption-context", "a=b,", "--cli-error-format", "legacy")
    assert legacy.err.startswith("\nkmscli: [ERROR]: Error parsing parameter '--encryption-context'")
    missing = cli("describe-key")
    assert missing.code == 252
    assert missing.err == (
        "\nkmscli: [ERROR]: An error occurred (ParamValidation): the following arguments are required: "
        f"--key-id\n\n{USAGE_TEXT}"
    )
    ambiguous = _encrypt(cli, key_id, "--encryption", "x")
    assert ambiguous.code == 252 and ambiguous.err.endswith(f"--encryption-context\n\n{USAGE_TEXT}")
    choice = cli("describe-key", "--key-id", key_id, "--output", "xml")
    assert choice.code == 252 and choice.err.endswith(f"'off'.\n\n{USAGE_TEXT}")
    general = cli("describe-key", "--key-id", key_id, "--query", "foo(@)")
    assert general.err == "\nkmscli: [ERROR]: Unknown function: foo()\n"
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "not the passphrase")
    environment = cli("describe-key", "--key-id", key_id)
    assert environment.code == 253
    assert environment.err.startswith("\nkmscli: [ERROR]: An error occurred (Configuration): ")


@pytest.mark.parametrize(
    ("args", "unknown"),
    [
        (["--bogus"], "--bogus"),
        (["--bogus", "x"], "--bogus, x"),
        (["extra"], "extra"),
        (["--cli-error-format", "json", "--bogus"], "--bogus"),
    ],
)
def test_arguments_no_option_takes_are_unknown_options(
    cli: Any, key_id: str, args: list[str], unknown: str
) -> None:
    """argparse's ``parse_known_args`` leaves them over, and the AWS CLI v2 refuses them after its
    usage text, whatever ``--cli-error-format`` says (exit 252). kmscli said Click's "No such
    option" and "Got unexpected extra argument"."""
    res = cli("describe-key", "--key-id", key_id, *args)
    assert (res.code, res.out) == (252, "")
    assert res.err == f"\n{USAGE_TEXT}\n\nkmscli: [ERROR]: Unknown options: {unknown}\n"
    flag_value = _encrypt(cli, key_id, "--dry-run", "false")  # a flag takes no value, as in argparse
    assert flag_value.code == 252 and flag_value.err.endswith("Unknown options: false\n")


# -- --output yaml ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "line"),
    [
        # plain in the AWS CLI v2 (YAML 1.2: not booleans or numbers); kmscli quoted them (YAML 1.1)
        ("yes", "k: yes"),
        ("no", "k: no"),
        ("on", "k: on"),
        ("Off", "k: Off"),
        ("1:30", "k: 1:30"),
        # quoted in the AWS CLI v2 (YAML 1.2 numbers); kmscli left them plain, so a YAML 1.2 reader
        # took the tag value "08" for the number 8
        ("08", "k: '08'"),
        ("0o17", "k: '0o17'"),
        ("1e3", "k: '1e3'"),
        ("+.5", "k: '+.5'"),
        # quoted in both
        ("true", "k: 'true'"),
        ("0123", "k: '0123'"),
        ("~", "k: '~'"),
        ("", "k: ''"),
        ("=", "k: '='"),
        ("2001-12-14", "k: '2001-12-14'"),
        ("a: b", "k: 'a: b'"),
    ],
)
def test_yaml_quotes_text_by_yaml_1_2_as_the_aws_cli_v2(value: str, line: str) -> None:
    """The AWS CLI v2 writes YAML with ruamel.yaml's safe dumper (0.19.1 with its C emitter in
    2.36.7), which quotes a string only where YAML 1.2 would read it as another type; the lines
    here are what it printed for ``{"k": value, "l": [value]}``."""
    from kmscli.cli.render import to_yaml

    assert to_yaml({"k": value, "l": [value]}) == f"{line}\nl:\n- {line[3:]}\n"


def test_yaml_output_of_tags_reads_as_the_aws_clis(cli: Any, key_id: str) -> None:
    assert (
        cli(
            "tag-resource", "--key-id", key_id, "--tags", "TagKey=on,TagValue=yes", "TagKey=n,TagValue=08"
        ).code
        == 0
    )
    out = cli("list-resource-tags", "--key-id", key_id, "--output", "yaml").out
    assert out == "Tags:\n- TagKey: n\n  TagValue: '08'\n- TagKey: on\n  TagValue: yes\n"
    stream = cli("list-resource-tags", "--key-id", key_id, "--output", "yaml-stream").out
    assert "- TagKey: on\n    TagValue: yes\n" in stream
