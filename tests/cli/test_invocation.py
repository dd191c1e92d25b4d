"""The command-line contract around the one option declaration and the Invocation.

Abbreviated options (as argparse and so the AWS CLI accept them), the AWS CLI v2 global options and
variables a migrating script carries, the region rule, passphrase precedence, typo suggestions,
bare ``kmscli``, and the rule that the service layer reads no environment variable.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

from kmscli.cli import fastpath
from kmscli.invocation import Invocation, Sources
from tests.conftest import PASSPHRASE
from tests.helpers import CliResult, run_cli

ROOT = Path(__file__).resolve().parents[2]


def _click_only(args: list[str], monkeypatch: pytest.MonkeyPatch) -> CliResult:
    with monkeypatch.context() as m:
        m.setattr(fastpath, "parse", lambda _args: None)
        return run_cli(args)


def _key(cli: Any) -> str:
    return str(cli("create-key").json()["KeyMetadata"]["KeyId"])


# -- abbreviations ------------------------------------------------------------------------------


def test_aws_documented_untag_example_runs_on_both_paths(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`aws kms untag-resource --key-id K --tag-key 'Purpose'` (AWS's own example) works here too."""
    key = _key(cli)
    args = ["untag-resource", "--key-id", key, "--tag-key", "Purpose"]
    parsed = fastpath.parse(args)
    assert parsed is not None and parsed.values["TagKeys"] == ("Purpose",)
    for run in (lambda a: run_cli(a), lambda a: _click_only(a, monkeypatch)):
        assert cli("tag-resource", "--key-id", key, "--tags", "TagKey=Purpose,TagValue=x").code == 0
        res = run(args)
        assert res.code == 0, res.err
        assert cli("list-resource-tags", "--key-id", key).json()["Tags"] == []


def test_abbreviations_of_globals_values_and_flags(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    key = _key(cli)
    plain = base64.b64encode(b"hi").decode()
    args = ["--outp", "text", "encrypt", "--key", key, f"--plain={plain}", "--que", "KeyId", "--dry"]
    assert fastpath.parse(args) is not None
    fast, slow = run_cli(args), _click_only(args, monkeypatch)
    assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err)
    assert fast.code == 254 and "DryRunOperationException" in fast.err  # --dry is --dry-run


def test_ambiguous_prefix_is_252_with_the_candidates(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    key = _key(cli)
    args = ["encrypt", "--key-id", key, "--plaintext", "aGk=", "--encryption", "a=b"]
    assert fastpath.parse(args) is None  # Click reports it
    res = run_cli(args)
    assert res.code == 252
    assert (
        "ambiguous option: --encryption could match --encryption-algorithm, --encryption-context" in res.err
    )
    root = run_cli(["--no", "list-keys"])
    assert root.code == 252 and "--no-cli-pager" in root.err and "--no-paginate" in root.err


def test_abbreviations_on_hand_written_commands(cli: Any) -> None:
    res = cli("configure", "list", "--outp", "json")
    assert res.code == 0, res.err
    assert res.json()["Profile"] == "default"
    assert cli("vault", "stat", "--out", "json").code == 252  # commands are not abbreviated, options are
    status = cli("vault", "status", "--out", "json")
    assert status.code == 0 and "KeyCount" in status.json()


def test_a_value_is_never_taken_for_an_option(cli: Any) -> None:
    """The value after a value-taking option stays a value even when it looks like a prefix."""
    key = _key(cli)
    res = cli("tag-resource", "--key-id", key, "--tags", "TagKey=k,TagValue=--des")
    assert res.code == 0, res.err
    assert cli("list-resource-tags", "--key-id", key).json()["Tags"] == [{"TagKey": "k", "TagValue": "--des"}]


# -- AWS CLI v2 globals --------------------------------------------------------------------------


def test_raw_in_base64_out_takes_blob_text_as_is(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    key = _key(cli)
    args = [
        "encrypt",
        "--key-id",
        key,
        "--plaintext",
        "hello world",
        "--cli-binary-format",
        "raw-in-base64-out",
    ]
    for res in (run_cli(args), _click_only(args, monkeypatch)):
        assert res.code == 0, res.err
        blob = res.json()["CiphertextBlob"]
        out = cli("decrypt", "--ciphertext-blob", blob).json()
        assert base64.b64decode(out["Plaintext"]) == b"hello world"
    assert cli("encrypt", "--key-id", key, "--plaintext", "hello world").code == 255  # base64 by default


def test_client_options_are_accepted_and_carried(cli: Any) -> None:
    args = [
        "--no-sign-request",
        "--no-cli-auto-prompt",
        "--cli-read-timeout",
        "5",
        "--cli-connect-timeout",
        "0",
        "--no-verify-ssl",
        "--ca-bundle",
        "/nonexistent/ca.pem",
        "list-keys",
    ]
    assert fastpath.parse(args) is not None
    res = cli(*args)
    assert res.code == 0, res.err
    parsed = fastpath.parse(args)
    assert parsed is not None
    assert parsed.opts["cli_read_timeout"] == 5 and parsed.opts["ca_bundle"] == "/nonexistent/ca.pem"


def test_endpoint_url_sends_the_call_not_to_the_local_vault(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Client mode (tests/serve/test_client_mode.py runs it against a server): with nothing
    listening, the AWS CLI's connection error and exit 255, and nothing runs on the local vault."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    for run in (run_cli, lambda a: _click_only(a, monkeypatch)):
        res = run(["--endpoint-url", "http://127.0.0.1:9/", "--cli-connect-timeout", "1", "create-key"])
        assert res.code == 255 and "Could not connect to the endpoint URL" in res.err and res.out == ""
    assert cli("list-keys").json()["Keys"] == []  # nothing ran locally
    bad = cli("list-keys", "--endpoint-url", "localhost:4000")
    assert bad.code == 252 and "http://<hostname>/" in bad.err
    neg = cli("list-keys", "--cli-read-timeout=-1")
    assert neg.code == 252


def test_no_paginate_before_the_command(cli: Any) -> None:
    for _ in range(3):
        _key(cli)
    one = cli("--no-paginate", "list-keys", "--limit", "1").json()
    assert len(one["Keys"]) == 1 and one.get("Truncated") is True
    assert len(cli("list-keys", "--page-size", "1").json()["Keys"]) == 3
    assert len(cli("list-keys", "--no-paginate").json()["Keys"]) == 3  # one call, its default Limit


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--no-paginate", "--page-size", "1"], "--page-size"),
        (["--page-size", "1", "--no-paginate"], "--page-size"),
        (["--no-paginate", "--max-items", "1", "--starting-token", "x"], "--starting-token, --max-items"),
        (["--limit", "1", "--page-size", "2"], "--page-size"),
        (["--limit", "1", "--max-items", "2"], "--max-items"),
    ],
)
def test_paging_options_with_automatic_paging_off_are_252(
    cli: Any, monkeypatch: pytest.MonkeyPatch, args: list[str], named: str
) -> None:
    """AWS CLI v2 (awscli/paginate.py, ensure_paging_params_not_set): with --no-paginate, or with the
    operation's own --limit/--marker (which turn paging off), --starting-token, --page-size and
    --max-items are refused (exit 252), where kmscli used to send --page-size as Limit."""
    _key(cli)
    for res in (cli("list-keys", *args), _click_only(["list-keys", *args], monkeypatch)):
        assert res.code == 252, res.err
        assert f"Cannot specify --no-paginate along with pagination arguments: {named}" in res.err
        assert res.out == ""


def test_limit_or_marker_on_the_command_line_turns_automatic_paging_off(cli: Any) -> None:
    """As in the AWS CLI: the operation's own paging members mean one call, and its page's marker."""
    for _ in range(3):
        _key(cli)
    first = cli("list-keys", "--limit", "1").json()
    assert len(first["Keys"]) == 1 and first["Truncated"] is True and "NextToken" not in first
    rest = cli("list-keys", "--marker", first["NextMarker"], "--limit", "5").json()
    assert len(rest["Keys"]) == 2 and rest["Truncated"] is False
    assert first["Keys"][0] not in rest["Keys"]
    # through --cli-input-json as well (AWS CLI v2; v1 fetched every page)
    paged = cli("list-keys", "--cli-input-json", '{"Limit": 1}', "--query", "[length(Keys), Truncated]")
    assert paged.json() == [1, True]


def test_aws_region_and_output_variables_are_fallbacks(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert ":eu-west-1:" in cli("create-key").json()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("AWS_REGION", "eu-central-1")  # AWS_REGION before AWS_DEFAULT_REGION
    assert ":eu-central-1:" in cli("create-key").json()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("KMSCLI_REGION", "ap-south-1")  # the KMSCLI_ variable first
    assert ":ap-south-1:" in cli("create-key").json()["KeyMetadata"]["Arn"]
    assert ":us-west-2:" in cli("create-key", "--region", "us-west-2").json()["KeyMetadata"]["Arn"]
    monkeypatch.setenv("AWS_DEFAULT_OUTPUT", "text")
    assert cli("list-aliases", "--query", "length(Aliases)").out.strip().isdigit()
    monkeypatch.setenv("AWS_DEFAULT_OUTPUT", "xml")
    res = cli("list-keys")
    assert res.code == 253 and "AWS_DEFAULT_OUTPUT" in res.err


def test_aws_pager_is_read_as_the_aws_cli_does() -> None:
    assert Invocation({}, {"AWS_PAGER": ""}).pager == ""
    assert Invocation({}, {"PAGER": "more"}).pager == "more"
    assert Invocation({}, {"AWS_PAGER": "most", "PAGER": "more"}).pager == "most"


# -- region rule ---------------------------------------------------------------------------------


def test_configure_set_refuses_a_bad_region(cli: Any, env: Path) -> None:
    config = env.parent / "config.toml"
    res = cli("configure", "set", "region", "us-east")
    assert res.code == 252
    assert "us-east" in res.err and "e.g. us-east-1" in res.err
    assert not config.exists()  # nothing written
    assert cli("configure", "set", "region", "us-gov-west-1").code == 0
    assert cli("configure", "get", "region").out.strip() == "us-gov-west-1"


def test_bad_region_from_each_source(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("list-keys", "--region", "us-east").code == 252
    monkeypatch.setenv("KMSCLI_REGION", "../../etc")
    res = cli("list-keys")
    assert res.code == 253 and "KMSCLI_REGION" in res.err


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("us-east-1", True),
        ("us-gov-west-1", True),
        ("eu-central-12", True),
        ("us-east", False),
        ("us-east-1\n", False),
        ("US-east-1", False),
        ("us-east-1a", False),
        ("a-b-c-d-1", False),
        ("us--1", False),
        ("../x-1", False),
        ("us-east-\u0661", False),
    ],
)
def test_one_region_rule(name: str, ok: bool) -> None:
    from kmscli.ids import is_region

    assert is_region(name) is ok


def test_no_other_region_or_key_id_rule() -> None:
    """The region and key-id rules have one owner (kmscli/ids.py); no module spells them again."""
    for path in (ROOT / "kmscli").rglob("*.py"):
        if path.name == "ids.py":
            continue
        text = path.read_text()
        assert "[a-z]{2,}(-" not in text and r"([a-z]+-){2,3}" not in text, path
        assert "[0-9a-f]{8}-[0-9a-f]{4}" not in text, path


# -- passphrase precedence -----------------------------------------------------------------------


def test_explicit_passphrase_file_wins(cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    good = tmp_path / "pass.txt"
    good.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "wrong passphrase")
    assert cli("list-keys").code == 253
    assert cli("list-keys", "--passphrase-file", str(good)).code == 0
    monkeypatch.setenv("KMSCLI_PASSPHRASE", PASSPHRASE)
    missing = cli("list-keys", "--passphrase-file", str(tmp_path / "missing.txt"))
    assert missing.code == 253 and "missing.txt" in missing.err
    monkeypatch.setenv("KMSCLI_SESSION", "kms1_not-a-session")  # the explicit file wins over a session too
    assert cli("list-keys").code == 253
    assert cli("list-keys", "--passphrase-file", str(good)).code == 0


def test_sources_keep_secrets_out_of_repr() -> None:
    sources = Sources.from_environ({"KMSCLI_PASSPHRASE": "s3cret", "KMSCLI_SESSION": "tok3n"})
    inv = Invocation({}, {"KMSCLI_PASSPHRASE": "s3cret", "KMSCLI_SESSION": "tok3n"})
    for text in (repr(sources), repr(inv)):
        assert "s3cret" not in text and "tok3n" not in text and "<set>" in text
    explicit = Sources.from_environ({"KMSCLI_PASSPHRASE": "s3cret", "KMSCLI_SESSION": "t"}, "/p")
    assert explicit.passphrase is None and explicit.session_token is None and explicit.passphrase_file == "/p"


# -- commands ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "suggested"),
    [("encrpyt", "encrypt"), ("list-key", "list-keys"), ("describe-keys", "describe-key")],
)
def test_top_level_typos_suggest(cli: Any, typo: str, suggested: str) -> None:
    res = cli(typo)
    assert res.code == 252
    assert f"No such command '{typo}'" in res.err and f"'{suggested}'" in res.err


def test_bare_kmscli_prints_short_usage() -> None:
    res = run_cli([])
    assert res.code == 252 and res.out == ""
    assert res.err.startswith(
        "\nkmscli: [ERROR]: An error occurred (ParamValidation): the following arguments are required: "
        "command\n\nusage: kmscli [options] <command>"
    )
    assert len(res.err.splitlines()) < 10  # not the whole help


def test_kms_errors_carry_their_operation(kms: Any) -> None:
    from kmscli.errors import NotFoundException

    with pytest.raises(NotFoundException) as exc:
        kms("DescribeKey", KeyId="alias/missing")
    assert exc.value.operation == "DescribeKey"


def test_kmscli_events_take_the_injected_clock_and_randomness(service: Any) -> None:
    from kmscli.service.features.session import kmscli_event
    from kmscli.settings import load_settings

    settings = load_settings({}, {"KMSCLI_CONFIG": "/nonexistent/config.toml"})
    event = kmscli_event(settings, "Test", clock=service.clock, random=service.random)
    again = kmscli_event(settings, "Test", clock=service.clock, random=lambda n: b"\x00" * n)
    assert event["eventTime"] == again["eventTime"]
    assert event["eventID"] != again["eventID"] and again["eventID"].startswith("00000000-")


def test_service_layer_reads_no_environment() -> None:
    """The boundary (kmscli/__main__.py, cli/, invocation.py) reads the environment; below it,
    settings and the service layer take it as an argument."""
    pattern = re.compile(r"os\.environ|os\.getenv|getenv\(")
    checked = [ROOT / "kmscli" / "settings.py", *(ROOT / "kmscli" / "service").rglob("*.py")]
    for path in checked:
        assert not pattern.search(path.read_text()), path


def test_abbreviated_debug_shows_the_traceback(cli: Any) -> None:
    from kmscli.__main__ import _wants_debug

    assert _wants_debug(["list-keys", "--deb"]) and _wants_debug(["--debug", "list-keys"])
    assert not _wants_debug(["list-keys", "--de"]) and not _wants_debug(["encrypt", "--", "--debug"])


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (["--region", "us-east-1"], "command"),
        (["vault"], "subcommand"),
        (["--out", "json", "policy"], "subcommand"),
    ],
)
def test_a_missing_command_is_a_short_usage_error(args: list[str], missing: str) -> None:
    res = run_cli(args)
    assert res.code == 252 and res.out == ""
    assert f"the following arguments are required: {missing}" in res.err and "Options:" not in res.err


@pytest.mark.parametrize("option", ["--vault", "--passphrase-file"])
@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("click_only", [False, True])
def test_an_empty_path_option_is_refused_not_taken_for_the_default(
    cli: Any, monkeypatch: pytest.MonkeyPatch, option: str, where: str, click_only: bool
) -> None:
    # `--vault "$V"` with V unset used to open (and could change) the default vault instead
    args = [option, "", "list-keys"] if where == "before" else ["list-keys", option, ""]
    res = _click_only(args, monkeypatch) if click_only else cli(*args)
    assert res.code == 252, res.err
    assert f"Error parsing parameter '{option}': expected a value, got ''" in res.err and res.out == ""


@pytest.mark.parametrize("click_only", [False, True])
def test_an_empty_query_is_refused_as_the_aws_cli_does(
    cli: Any, monkeypatch: pytest.MonkeyPatch, click_only: bool
) -> None:
    # aws kms list-keys --query '' -> "Bad value for --query : Invalid JMESPath expression: cannot be empty."
    args = ["list-keys", "--query", ""]
    res = _click_only(args, monkeypatch) if click_only else cli(*args)
    assert res.code == 252, res.err
    assert "Bad value for --query : Invalid JMESPath expression: cannot be empty." in res.err
    assert res.out == ""
