"""``kmscli configure``: set / get / list, the interactive prompts, profiles, malformed config files."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def cfg(env: Path, tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def test_set_get_writes_toml_profiles(cli: Any, cfg: Path) -> None:
    assert cli("configure", "set", "region", "eu-west-1").code == 0
    assert cli("--profile", "ci", "configure", "set", "output", "table").code == 0
    assert cli("configure", "set", "account_id", "123456789012", "--profile", "ci").code == 0
    assert (
        cli("configure", "set", "principal", "arn:aws:iam::123456789012:role/ci", "--profile", "ci").code == 0
    )
    doc = tomllib.loads(cfg.read_text())
    assert doc == {
        "default": {"region": "eu-west-1"},
        "profile": {
            "ci": {
                "output": "table",
                "account_id": "123456789012",
                "principal": "arn:aws:iam::123456789012:role/ci",
            }
        },
    }
    assert cfg.stat().st_mode & 0o777 == 0o600
    res = cli("configure", "get", "region")
    assert (res.code, res.out) == (0, "eu-west-1\n")
    assert cli("configure", "get", "output", "--profile", "ci").out == "table\n"


def test_get_unset_exits_1_like_aws(cli: Any, cfg: Path) -> None:
    res = cli("configure", "get", "region")
    assert (res.code, res.out) == (1, "")


def test_profile_from_environment_is_used_by_commands(
    cli: Any, vault: Path, cfg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("configure", "set", "region", "eu-central-1", "--profile", "eu").code == 0
    monkeypatch.setenv("KMSCLI_PROFILE", "eu")
    assert cli("configure", "get", "region").out == "eu-central-1\n"
    arn = cli("create-key").json()["KeyMetadata"]["Arn"]
    assert ":eu-central-1:" in arn
    monkeypatch.setenv("KMSCLI_PROFILE", "missing")
    res = cli("list-keys")
    assert res.code == 253 and "missing" in res.err


def test_list_shows_sources(cli: Any, cfg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("configure", "set", "output", "text")
    monkeypatch.setenv("KMSCLI_REGION", "ap-south-1")
    res = cli("configure", "list", "--output", "json")
    assert res.code == 0, res.err
    rows = {r["Name"]: (r["Value"], r["Source"]) for r in res.json()["Settings"]}
    assert rows["region"] == ("ap-south-1", "env KMSCLI_REGION")
    assert rows["output"] == ("text", "config-file")
    assert rows["account_id"] == ("111122223333", "default")


def test_other_content_is_kept(cli: Any, cfg: Path) -> None:
    cfg.write_text(
        '[default]\nregion = "us-west-2"\naudit_segment_bytes = 8192\n\n["profile old"]\nregion = "eu-west-3"\n'
    )
    assert cli("configure", "set", "output", "yaml", "--profile", "old").code == 0
    doc = tomllib.loads(cfg.read_text())
    assert doc["default"] == {"region": "us-west-2", "audit_segment_bytes": 8192}
    assert doc["profile old"] == {"region": "eu-west-3", "output": "yaml"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bogus", "1"),
        ("region", "Not A Region"),
        ("account_id", "12"),
        ("output", "xml"),
        ("principal", "bob"),
    ],
)
def test_bad_key_or_value_is_252_and_writes_nothing(cli: Any, cfg: Path, key: str, value: str) -> None:
    res = cli("configure", "set", key, value)
    assert res.code == 252, res.err
    assert not cfg.exists()


def test_bad_profile_name(cli: Any, cfg: Path) -> None:
    assert cli("configure", "set", "region", "us-east-1", "--profile", "bad name!").code == 252


def test_interactive_prompts_keep_and_change(cli: Any, cfg: Path) -> None:
    cli("configure", "set", "region", "eu-west-1")
    res = cli("configure", stdin=b"\n123456789012\njson\n\n\n")
    assert res.code == 0, res.err
    assert "Default region name [eu-west-1]" in res.err
    doc = tomllib.loads(cfg.read_text())
    assert doc["default"] == {"region": "eu-west-1", "account_id": "123456789012", "output": "json"}


def test_interactive_bad_value_without_tty_fails(cli: Any, cfg: Path) -> None:
    res = cli("configure", stdin=b"nonsense region\n")
    assert res.code == 252
    assert not cfg.exists()


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[default]\nregion = "x"\nfoo = \n', 3),
        ("[default\n", 1),
        ('[default]\nregion = "a"\nregion = "b"\n', 3),
    ],
)
def test_malformed_config_is_253_with_file_and_line(
    cli: Any, vault: Path, cfg: Path, text: str, line: int
) -> None:
    cfg.write_text(text)
    for args in (("list-keys",), ("configure", "set", "region", "us-east-1"), ("configure", "list")):
        res = cli(*args)
        assert res.code == 253, (args, res.err)
        assert str(cfg) in res.err and f"line {line}" in res.err
        assert "Traceback" not in res.err
    assert cfg.read_text() == text  # never clobbered


@pytest.mark.parametrize("value", ['""', '"  "', "7"])
def test_a_config_file_vault_that_is_not_a_path_is_253(
    cli: Any, vault: Path, cfg: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # an empty `vault = ""` used to mean the default vault, which may be another one than meant
    monkeypatch.delenv("KMSCLI_VAULT")
    cfg.write_text(f"[default]\nvault = {value}\n")
    res = cli("list-keys")
    assert res.code == 253, res.err
    assert str(cfg) in res.err and "vault must be a path" in res.err and res.out == ""
