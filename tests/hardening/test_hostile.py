"""Hostile input: absurd headers, corrupt files, oversized parameter files, odd names and paths."""

from __future__ import annotations

import base64
import json
import os
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import PASSPHRASE, make_vault, run_kmscli, skip_fsync


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Durability is not this module's subject: skip the disk waits (see hardening.skip_fsync)."""
    skip_fsync(monkeypatch)


def _header(vault: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = vault / "vault.json"
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw))


ABSURD_HEADERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "memory-1PiB": lambda h: h["kdf"].update(memory_cost=2**40),
    "iterations-1e9": lambda h: h["kdf"].update(iterations=10**9),
    "lanes-1e6": lambda h: h["kdf"].update(lanes=10**6),
    "memory-negative": lambda h: h["kdf"].update(memory_cost=-1),
    "memory-float": lambda h: h["kdf"].update(memory_cost=65536.5),
    "memory-string": lambda h: h["kdf"].update(memory_cost="65536"),
    "memory-bool": lambda h: h["kdf"].update(memory_cost=True),
    "memory-missing": lambda h: h["kdf"].pop("memory_cost"),
    "kdf-scrypt": lambda h: h["kdf"].update(name="scrypt"),
    "kdf-not-object": lambda h: h.update(kdf="argon2id"),
    "format-99": lambda h: h.update(format=99),
    "format-string": lambda h: h.update(format="1"),
    "format-missing": lambda h: h.pop("format"),
    "salt-int": lambda h: h["kdf"].update(salt=12345),
    "salt-not-base64": lambda h: h["kdf"].update(salt="@@@@"),
    "salt-empty": lambda h: h["kdf"].update(salt=""),
    "vault-key-string": lambda h: h.update(vault_key="AAAA"),
    "vault-key-missing": lambda h: h.pop("vault_key"),
    "header-array": lambda h: h.clear(),
}


@pytest.mark.parametrize("case", sorted(ABSURD_HEADERS))
def test_hostile_header_refused_fast(cli: Any, vault: Path, case: str) -> None:
    if case == "header-array":
        (vault / "vault.json").write_text("[1, 2, 3]")
    else:
        _header(vault, ABSURD_HEADERS[case])
    started = time.monotonic()
    res = cli("list-keys")
    assert time.monotonic() - started < 1.0
    assert res.code == 253, (res.code, res.err)
    assert "vault.json" in res.err
    assert "Traceback" not in res.err and "internal error" not in res.err
    assert res.out == ""


def test_unknown_format_version_is_named(cli: Any, vault: Path) -> None:
    _header(vault, lambda h: h.update(format=2))
    res = cli("list-keys")
    assert res.code == 253
    assert "format version 2" in res.err and "reads version 1" in res.err


CORRUPTIONS: dict[str, bytes] = {
    "empty": b"",
    "truncated": b'{"data": {"KeyId": ',
    "not-utf8": b"\xff\xfe\x00garbage",
    "array": b"[]",
    "null": b"null",
    "no-mac": b'{"data": {}}',
}


def _vault_file(vault: Path, which: str, key_id: str) -> Path:
    return {
        "header": vault / "vault.json",
        "key": vault / "keys" / "us-east-1" / f"{key_id}.json",
        "aliases": vault / "aliases" / "us-east-1.json",
        "schedule": vault / "schedule.json",
    }[which]


@pytest.mark.parametrize("which", ["header", "key", "aliases", "schedule"])
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_vault_file_clear_error(cli: Any, vault: Path, which: str, corruption: str) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    assert cli("create-alias", "--alias-name", "alias/x", "--target-key-id", key).code == 0
    assert (
        cli("schedule-key-deletion", "--key-id", cli("create-key").json()["KeyMetadata"]["KeyId"]).code == 0
    )
    path = _vault_file(vault, which, key)
    path.write_bytes(CORRUPTIONS[corruption])
    res = cli("encrypt", "--key-id", "alias/x", "--plaintext", "aGk=")
    assert res.code == 253, (res.code, res.err)
    assert str(path) in res.err
    assert "Traceback" not in res.err and "internal error" not in res.err
    assert res.out == ""


def test_corrupt_audit_tail_fails_closed_without_traceback(cli: Any, vault: Path) -> None:
    assert cli("create-key").code == 0
    segment = next((vault / "audit").glob("*.jsonl"))
    segment.write_bytes(segment.read_bytes() + b"this is not json\n")
    res = cli("create-key")
    assert res.code != 0 and res.out == ""
    assert "audit" in res.err and "Traceback" not in res.err
    from kmscli.vault.store import Vault

    assert Vault.open(vault).key_count() == 1  # the refused create-key was not committed


CONFIGS: dict[str, str] = {
    "bad-toml": "[default\nregion = ",
    "not-utf8": "\udcff",
    "profile-not-table": "default = 3\n",
    "account-id-short": "[default]\naccount_id = '123'\n",
    "segment-string": "[default]\naudit_segment_bytes = 'big'\n",
    "region-traversal": "[default]\nregion = '../../etc'\n",
    "region-int": "[default]\nregion = 5\n",
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_corrupt_config_clear_error(cli: Any, vault: Path, case: str) -> None:
    config = Path(os.environ["KMSCLI_CONFIG"])
    config.write_bytes(CONFIGS[case].encode("utf-8", "surrogateescape"))
    res = cli("list-keys")
    assert res.code == 253, (res.code, res.err)
    assert "Traceback" not in res.err and "internal error" not in res.err
    assert res.out == ""


@pytest.mark.parametrize("region", ["../x", "us-east-1/../../x", "US-EAST-1", "", "a b"])
def test_region_option_with_path_characters_refused(cli: Any, region: str) -> None:
    """Before the fix a region like ``../x`` reached the file layout: exit 255 after auditing.

    A bad ``--region`` value is a malformed parameter (252); from the environment or config, 253.
    """
    for args in (("list-aliases",), ("create-key",)):
        res = cli("--region", region, *args)
        assert res.code == 252, (res.code, res.err)
        assert "region" in res.err and "Traceback" not in res.err and "internal error" not in res.err


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


@pytest.mark.parametrize("prefix,option", [("fileb://", "--plaintext"), ("file://", "--description")])
def test_oversized_param_file_refused_without_reading(
    cli: Any, tmp_path: Path, prefix: str, option: str
) -> None:
    big = _sparse(tmp_path / "big file.bin", 100 * 1024 * 1024)
    command = ("encrypt", "--key-id", "alias/any") if option == "--plaintext" else ("create-key",)
    small = tmp_path / "small"
    small.write_bytes(b"x")
    cli(*command, option, prefix + str(small))  # warm up: imports and the model are not counted
    tracemalloc.start()
    started = time.monotonic()
    try:
        res = cli(*command, option, prefix + str(big))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2.0
    assert peak < 256 * 1024  # refused from its size: not even the 1 MiB bound was read into memory
    assert res.code == 252, res.err
    assert "larger than" in res.err and "Traceback" not in res.err


def test_oversized_stdin_refused(cli: Any) -> None:
    res = cli("encrypt", "--key-id", "alias/any", "--plaintext", "fileb:///dev/stdin", stdin=b"x" * (2 << 20))
    assert res.code == 252 and "larger than" in res.err


@pytest.mark.parametrize("target", ["missing", "directory"])
def test_param_file_unreadable(cli: Any, tmp_path: Path, target: str) -> None:
    path = tmp_path / "nope" if target == "missing" else tmp_path
    res = cli("create-key", "--description", f"file://{path}")
    assert res.code == 252 and "Unable to load paramfile" in res.err and "Traceback" not in res.err


def test_non_utf8_file_param(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"caf\xe9")
    res = cli("create-key", "--description", f"file://{path}")
    assert res.code == 252 and "text contents could not be decoded" in res.err


ODD_TEXT = ["line one\nline two", "tab\there", "unicode ✓ ключ 鍵 🔑", "quote \" and ' and \\", "  spaced  "]


@pytest.mark.parametrize("text", ODD_TEXT)
def test_odd_description_and_tags_round_trip(cli: Any, text: str) -> None:
    res = cli("create-key", "--description", text, "--tags", json.dumps([{"TagKey": "k", "TagValue": text}]))
    assert res.code == 0, res.err
    key = res.json()["KeyMetadata"]["KeyId"]
    assert cli("describe-key", "--key-id", key).json()["KeyMetadata"]["Description"] == text
    tag = json.dumps([{"TagKey": "k 2 ✓", "TagValue": text}])
    assert cli("tag-resource", "--key-id", key, "--tags", tag).code == 0
    tags = cli("list-resource-tags", "--key-id", key).json()["Tags"]
    assert {"TagKey": "k 2 ✓", "TagValue": text} in tags and {"TagKey": "k", "TagValue": text} in tags
    enc = cli(
        "encrypt", "--key-id", key, "--plaintext", "aGk=", "--encryption-context", json.dumps({text: text})
    )
    assert enc.code == 0, enc.err
    blob = enc.json()["CiphertextBlob"]
    dec = cli("decrypt", "--ciphertext-blob", blob, "--encryption-context", json.dumps({text: text}))
    assert dec.code == 0 and base64.b64decode(dec.json()["Plaintext"]) == b"hi"


@pytest.mark.parametrize("name", ["alias/with space", "alias/new\nline", "alias/ünï", "alias/../x", "alias/"])
def test_odd_alias_names_refused_as_validation(cli: Any, name: str) -> None:
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    res = cli("create-alias", "--alias-name", name, "--target-key-id", key)
    assert res.code == 254, res.err
    assert "ValidationException" in res.err and "Traceback" not in res.err


@pytest.mark.parametrize(
    "ref", ["../../vault", "arn:aws:kms:us-east-1:111122223333:key/../../vault", "key\n", "🔑"]
)
def test_odd_key_ids_are_not_found(cli: Any, ref: str) -> None:
    res = cli("describe-key", "--key-id", ref)
    assert res.code == 254 and "NotFoundException" in res.err, res.err


def test_vault_path_with_spaces_and_unicode(tmp_path: Path) -> None:
    """A subprocess, so the real argv/environment handling is exercised end to end."""
    vault = make_vault(tmp_path / "my vault ✓" / "sub dir")
    res = run_kmscli(vault, "create-key", "--description", "x")
    assert res.returncode == 0, res.stderr
    key = json.loads(res.stdout)["KeyMetadata"]["KeyId"]
    enc = run_kmscli(
        vault,
        "encrypt",
        "--key-id",
        key,
        "--plaintext",
        "aGk=",
        "--query",
        "CiphertextBlob",
        "--output",
        "text",
    )
    assert enc.returncode == 0, enc.stderr
    assert run_kmscli(vault, "decrypt", "--ciphertext-blob", enc.stdout.strip()).returncode == 0
    assert run_kmscli(vault, "describe-key", "--key-id", key, passphrase=PASSPHRASE + "x").returncode == 253


@pytest.mark.parametrize(
    "option,text",
    [
        ("--cli-input-json", "[" * 200_000),
        ("--tags", "[" * 200_000),
        ("--encryption-context", '{"a":' * 100_000),
        ("--encryption-context", "a={" * 5_000),
    ],
)
def test_deeply_nested_parameters_refused(cli: Any, tmp_path: Path, option: str, text: str) -> None:
    """Regression: JSON or shorthand nested thousands deep raised RecursionError (exit 255)."""
    path = tmp_path / "deep"
    path.write_text(text)
    command = (
        ["encrypt", "--key-id", "alias/x", "--plaintext", "aGk="] if "context" in option else ["create-key"]
    )
    res = cli(*command, option, f"file://{path}")
    assert res.code == 252, res.err
    assert "nested too deeply" in res.err and "internal error" not in res.err


@pytest.mark.parametrize("query", ["Keys[", "KeyMetadata.[", "(" * 3000 + "a" + ")" * 3000])
def test_malformed_query_refused_before_anything_runs(cli: Any, vault: Path, query: str) -> None:
    """Regression: --query was compiled only when printing, after a mutating call had committed:
    `create-key --query 'Keys['` created a key, printed nothing and exited 255."""
    from kmscli.vault.store import Vault

    res = cli("create-key", "--query", query)
    assert res.code == 252, res.err
    assert "Bad value for --query" in res.err and res.out == ""
    assert Vault.open(vault).key_count() == 0
    assert not list((vault / "audit").glob("*.jsonl"))  # the service was never called
    assert cli("--query", query, "vault", "status").code == 252


@pytest.mark.parametrize(
    "token",
    [
        {"boto_truncate_amount": "x"},
        {"boto_truncate_amount": -3},
        {"boto_truncate_amount": True},
        {"Marker": 5},
        {"Marker": ["a"]},
    ],
)
def test_forged_starting_token_is_usage_error(cli: Any, token: dict[str, Any]) -> None:
    """Regression: a token whose fields had the wrong types crashed with ValueError (exit 255)."""
    text = base64.b64encode(json.dumps(token).encode()).decode()
    res = cli("list-keys", "--starting-token", text)
    assert res.code == 252, res.err
    assert "--starting-token" in res.err and "internal error" not in res.err


def test_vault_init_where_a_file_is_in_the_way(env: Path, tmp_path: Path) -> None:
    """Regression: `vault init` under a path whose parent is a file crashed (exit 255)."""
    from tests.helpers import CHEAP_KDF_ARGS, run_cli

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    res = run_cli(["--vault", str(blocker / "vault"), "vault", "init", *CHEAP_KDF_ARGS])
    assert res.code == 253, res.err
    assert "cannot create a vault" in res.err and "internal error" not in res.err


@pytest.mark.parametrize("config", ["vault = 5", 'output = "bogus"', "output = 3"])
def test_config_value_of_wrong_kind_refused_before_the_call(
    cli: Any, vault: Path, config: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: `vault = 5` crashed (255); `output = "bogus"` let create-key commit and then
    failed to print (255), so a script saw a failure for a key that existed."""
    from kmscli.vault.store import Vault

    Path(os.environ["KMSCLI_CONFIG"]).write_text(f"[default]\n{config}\n")
    if config.startswith("vault"):
        monkeypatch.delenv("KMSCLI_VAULT")  # the environment would win over the config file
    res = cli("create-key")
    assert res.code == 253, res.err
    assert "internal error" not in res.err and res.out == ""
    assert Vault.open(vault).key_count() == 0


def test_settings_output_formats_match_the_renderer() -> None:
    """settings.OUTPUT_FORMATS is the one list (option, config, configure set); the renderer draws each."""
    from kmscli import settings
    from kmscli.cli import render
    from kmscli.cli.options import GLOBALS_BY_NAME

    assert GLOBALS_BY_NAME["--output"].choices == settings.OUTPUT_FORMATS
    for fmt in settings.OUTPUT_FORMATS:
        drawn = render.render({"KeyId": "kid"}, fmt, title="T", color=False)
        assert ("kid" in drawn) if fmt != "off" else (drawn == ""), fmt
