"""Names, ids and numbers are read exactly: no trailing newline, no other script's digits.

A regex's ``$`` also matches before a final newline, and ``\\d`` (like ``str.isdigit`` and
``int``) takes Arabic-Indic or fullwidth digits. Each test below passed such a value where kmscli
accepted it before: a key ARN with a newline resolved the key, twelve Arabic-Indic digits were an
account in a key policy and in config.toml, a planted ``audit-٠٠٠٠٠٢.jsonl`` was segment 2.
"""

from __future__ import annotations

import ast
import base64
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmscli import errors
from kmscli.audit import log, query
from kmscli.ids import is_account_id, parse_kms_arn

ROOT = Path(__file__).resolve().parents[2]
ARABIC_ACCOUNT = "١١١١٢٢٢٢٣٣٣٣"  # twelve ARABIC-INDIC digits: int() reads 111122223333
FULLWIDTH_ACCOUNT = "１１１１２２２２３３３３"
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        (f"arn:aws:kms:us-east-1:111122223333:key/{KEY}", ("us-east-1", "111122223333", f"key/{KEY}")),
        (
            "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/a",
            ("us-gov-west-1", "111122223333", "alias/a"),
        ),
        (f"arn:aws:kms:us-east-1:111122223333:key/{KEY}\n", None),
        (f"arn:aws:kms:us-east-1:{ARABIC_ACCOUNT}:key/{KEY}", None),
        (f"arn:aws:kms:us-east-1:{FULLWIDTH_ACCOUNT}:key/{KEY}", None),
        (f"arn:aws:kms:us-east-1:11112222333:key/{KEY}", None),
        ("arn:aws:kms:us-east-1:111122223333:key/", None),
        ("arn:aws:kms:us-east-1:111122223333:alias/", None),
        ("arn:aws:kms:US-EAST-1:111122223333:alias/a", None),
        ("arn:aws:s3:us-east-1:111122223333:key/a", None),
        ("arn:aws:kms:us-east-1:111122223333:grant/a", None),
        ("arn:awsX:kms:us-east-1:111122223333:alias/a", None),
        ("arn:aws:kms::111122223333:alias/a", None),
        ("alias/a", None),
    ],
)
def test_kms_arns_are_read_exactly(ref: str, parsed: tuple[str, str, str] | None) -> None:
    assert parse_kms_arn(ref) == parsed


_OLD_ARN = re.compile(r"arn:aws[a-z-]*:kms:([a-z0-9-]+):([0-9]{12}):((?:key|alias)/.+)", re.ASCII)


@given(st.text(alphabet="arnwskmeyliasu:/-01239\n", max_size=60))
def test_kms_arn_reading_is_the_exact_form_of_the_pattern(ref: str) -> None:
    """The written-out reading accepts exactly what the full pattern matches (``.`` excludes a newline)."""
    m = _OLD_ARN.fullmatch(ref)
    assert parse_kms_arn(ref) == (m.groups() if m else None)


def test_account_ids_are_twelve_ascii_digits() -> None:
    assert is_account_id("111122223333")
    for bad in (ARABIC_ACCOUNT, FULLWIDTH_ACCOUNT, "111122223333\n", "11112222333", "1111222233334", ""):
        assert not is_account_id(bad), bad


def test_a_key_arn_with_a_trailing_newline_is_not_the_key(kms: Any) -> None:
    arn = kms("CreateKey")["KeyMetadata"]["Arn"]
    assert kms("DescribeKey", KeyId=arn)["KeyMetadata"]["Arn"] == arn
    for ref in (arn + "\n", arn.replace("111122223333", ARABIC_ACCOUNT)):
        with pytest.raises(errors.NotFoundException):
            kms("DescribeKey", KeyId=ref)
    kms("CreateAlias", AliasName="alias/exact", TargetKeyId=arn)
    alias_arn = arn.split(":key/")[0] + ":alias/exact"
    assert kms("DescribeKey", KeyId=alias_arn)["KeyMetadata"]["Arn"] == arn
    with pytest.raises(errors.NotFoundException):
        kms("DescribeKey", KeyId=alias_arn + "\n")


@pytest.mark.parametrize(
    "principal",
    [
        ARABIC_ACCOUNT,
        "111122223333\n",
        "arn:aws:iam::111122223333:root\n",
        f"arn:aws:iam::{ARABIC_ACCOUNT}:root",
    ],
)
def test_a_policy_principal_is_an_exact_account_or_arn(kms: Any, principal: str) -> None:
    import json

    from kmscli.service.operations.common import default_policy

    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    policy = json.loads(default_policy("111122223333"))
    policy["Statement"].append(
        {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "kms:Decrypt", "Resource": "*"}
    )
    with pytest.raises(errors.MalformedPolicyDocumentException):
        kms("PutKeyPolicy", KeyId=key, PolicyName="default", Policy=json.dumps(policy))


def test_a_grantee_is_an_exact_account_or_arn(kms: Any) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    for grantee in (ARABIC_ACCOUNT, "arn:aws:iam::111122223333:user/bob\n"):
        with pytest.raises(errors.ValidationException):
            kms("CreateGrant", KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt"])


def test_an_account_id_in_config_is_ascii(tmp_path: Path) -> None:
    from kmscli.errors import VaultEnvironmentError
    from kmscli.settings import load_settings

    config = tmp_path / "config.toml"
    config.write_text(f'[default]\naccount_id = "{ARABIC_ACCOUNT}"\n', encoding="utf-8")
    with pytest.raises(VaultEnvironmentError, match="12 digits"):
        load_settings({}, {"KMSCLI_CONFIG": str(config)})


def test_configure_set_refuses_other_digits(cli: Any) -> None:
    result = cli("configure", "set", "account_id", ARABIC_ACCOUNT)
    assert result.code == 252, result.err
    assert "12 digits" in result.err


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("audit-000001.jsonl", 1),
        ("audit-999999.jsonl", 999999),
        ("audit-000001.jsonl\n", None),
        ("audit-٠٠٠٠٠٢.jsonl", None),
        ("audit-00001.jsonl", None),
        ("audit-0000001.jsonl", None),
        ("audit-000001.json", None),
        ("xaudit-000001.jsonl", None),
    ],
)
def test_segment_names_are_read_exactly(name: str, number: int | None) -> None:
    assert log.segment_number(name) == number


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("audit-000001.jsonl.idx", True),
        (".tmp-audit-000001.jsonl.idx-0123456789ab", True),
        ("audit-000001.jsonl.idx\n", False),
        ("audit-٠٠٠٠٠١.jsonl.idx", False),
        (".tmp-audit-000001.jsonl.idx-0123456789AB", False),
        (".tmp-audit-000001.jsonl.idx-0123456789a", False),
        (".tmp-audit-000001.jsonl.idx", False),
        (".tmp-other-0123456789ab", False),
    ],
)
def test_index_file_names_are_read_exactly(name: str, ok: bool) -> None:
    assert log.is_index_file(name) is ok


def test_a_planted_segment_in_other_digits_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    folder.mkdir()
    (folder / "audit-000001.jsonl").write_bytes(b"")
    (folder / "audit-٠٠٠٠٠٢.jsonl").write_bytes(b'{"eventName":"Planted"}\n')
    segments, problems = log.survey(str(folder))
    assert [Path(s).name for s in segments] == ["audit-000001.jsonl"]
    assert any("unexpected file" in p and "٠٠٠٠٠٢" in p for p in problems)


def test_a_session_token_is_read_exactly() -> None:
    from kmscli.vault import sessions

    token = sessions.new_token(lambda n: b"\x01" * n)
    assert sessions.session_id(token)
    for bad in (token + "\n", token[:-1] + "=", token + "A", "kms2" + token[4:]):
        with pytest.raises(sessions.SessionError):
            sessions.session_id(bad)
    assert base64.urlsafe_b64decode(token[5:] + "=") == b"\x01" * 32


def test_relative_audit_times_take_ascii_digits_only() -> None:
    import datetime as dt

    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert query.parse_time("7d", now) == now - dt.timedelta(days=7)
    assert query.parse_time(" 30 m ", now) == now - dt.timedelta(minutes=30)
    for bad in ("٧d", "7d\n\n x", "d", "7x"):
        with pytest.raises(query.QueryError):
            query.parse_time(bad, now)


def test_epoch_timestamps_take_ascii_digits_only() -> None:
    from kmscli.cli.params import parse_timestamp
    from kmscli.errors import UsageError
    from kmscli.policy.conditions import parse_date

    assert parse_date("1700000000") is not None and parse_date("١٧٠٠٠٠٠٠٠٠") is None
    parse_timestamp("1700000000", "--x")
    with pytest.raises(UsageError):
        parse_timestamp("١٧٠٠٠٠٠٠٠٠", "--x")


@pytest.mark.parametrize(
    ("huge", "aws_gives_up"), [("99999999999999999", True), ("1" + "0" * 30, True), ("253402300800", False)]
)
def test_an_epoch_beyond_the_platform_clock_is_no_time_not_a_crash(huge: str, aws_gives_up: bool) -> None:
    """``fromtimestamp`` raises OverflowError for some huge epochs and OSError (EOVERFLOW) for
    others: a policy condition does not match (it crashed the evaluation, found by the policy fuzz),
    and an option is not the environment's 253: botocore's ``RuntimeError`` (255) where it gives up
    on the number, an invalid timestamp (252) where ``fromtimestamp`` says ``ValueError`` (year 10000)."""
    from kmscli.cli.params import parse_timestamp
    from kmscli.errors import ParamValueError, UsageError
    from kmscli.policy.conditions import parse_date

    assert parse_date(huge) is None
    with pytest.raises(
        ParamValueError if aws_gives_up else UsageError, match=r"timezone offset|Invalid timestamp"
    ):
        parse_timestamp(huge, "--valid-to")


def test_model_patterns_are_ascii_as_in_java() -> None:
    """botocore's patterns are Java regexes, whose ``\\d`` is 0-9."""
    from kmscli.service.pipeline.validate import _pattern

    assert _pattern(r"^(/kms/xks/v\d{1,2})$").fullmatch("/kms/xks/v1")
    assert not _pattern(r"^(/kms/xks/v\d{1,2})$").fullmatch("/kms/xks/v١")


_SAFE_RUN = re.compile(r"[A-Za-z0-9_.:@+=,\- ]{3,}")


@given(st.text(alphabet='ab:-_ "\\\n\u00e9\u2028', max_size=40))
def test_needles_are_the_longest_safe_run(text: str) -> None:
    runs = _SAFE_RUN.findall(text)
    assert query._needle(text) == (max(runs, key=len).encode() if runs else None)


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010) | st.sampled_from("ab\\"),
        max_size=12,
    )
)
def test_valid_text_escapes_exactly_the_surrogates(text: str) -> None:
    fixed = query.valid_text(text)
    fixed.encode("utf-8")  # never raises
    has_surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert (fixed == text) is not has_surrogate


_REGEX_CALLS = {"compile", "match", "search", "fullmatch", "findall", "finditer", "sub", "subn", "split"}


def _regex_literals() -> list[tuple[str, int, str, str]]:
    found = []
    for path in sorted((ROOT / "kmscli").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr in _REGEX_CALLS
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                continue
            flags = ast.unparse(node.args[1]) if len(node.args) > 1 else ""
            found.append(
                (path.relative_to(ROOT).as_posix(), node.lineno, node.args[0].value, node.func.attr + flags)
            )
    return found


def test_no_pattern_in_kmscli_takes_a_trailing_newline_or_other_digits() -> None:
    """The rule the fixes above follow, for every literal pattern: end anchors are ``\\Z`` (or the
    call is ``fullmatch``), and ``\\d`` is not used (``[0-9]``) unless the pattern is ASCII."""
    literals = _regex_literals()
    assert len(literals) > 10  # the scan finds the patterns it checks
    for where, line, pattern, call in literals:
        unescaped_dollar = re.search(r"(?<!\\)\$", pattern.replace("[$]", ""))
        assert not (unescaped_dollar and not call.startswith("fullmatch")), (
            f"{where}:{line}: {pattern!r} ends with $"
        )
        assert not ("\\d" in pattern and "ASCII" not in call), f"{where}:{line}: {pattern!r} uses \\d"
