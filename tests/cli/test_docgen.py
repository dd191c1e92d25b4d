"""Completions and man pages: current with the Click tree, render cleanly, complete what they should."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def man_pages() -> dict[str, str]:
    from kmscli.docgen import manpages

    return manpages.generate()


@pytest.fixture(scope="module")
def completion_scripts() -> dict[str, str]:
    from kmscli.docgen import completions

    return completions.generate()


def test_completions_are_current(completion_scripts: dict[str, str]) -> None:
    for name, text in completion_scripts.items():
        path = ROOT / "completions" / name
        assert path.is_file(), f"{path} missing: run `make completions`"
        assert path.read_text() == text, f"{path} is stale: run `make completions`"


def test_man_pages_are_current(man_pages: dict[str, str]) -> None:
    committed = {p.name for p in (ROOT / "man").glob("kmscli*.1")}
    assert committed == set(man_pages), "man/ does not match the command tree: run `make man`"
    for name, text in man_pages.items():
        assert (ROOT / "man" / name).read_text() == text, f"man/{name} is stale: run `make man`"


def test_generation_is_deterministic(man_pages: dict[str, str], completion_scripts: dict[str, str]) -> None:
    from kmscli.docgen import completions, manpages

    assert manpages.generate() == man_pages
    assert completions.generate() == completion_scripts


def test_every_command_has_a_page(man_pages: dict[str, str]) -> None:
    from kmscli.docgen.tree import root

    for cmd in root().walk():
        assert f"{'-'.join(('kmscli', *cmd.path))}.1" in man_pages
    assert "kmscli-encrypt.1" in man_pages and "kmscli-vault.1" in man_pages
    assert "kmscli-vault-export-key.1" in man_pages and "kmscli-unlock.1" in man_pages
    assert not any("complete-ids" in name for name in man_pages)  # hidden helper


def test_root_page_sections(man_pages: dict[str, str]) -> None:
    page = man_pages["kmscli.1"]
    for section in (
        "SYNOPSIS",
        "DESCRIPTION",
        "GLOBAL OPTIONS",
        "EXIT STATUS",
        "ENVIRONMENT",
        "FILES",
        "EXAMPLES",
    ):
        assert f".SH {section}" in page or f'.SH "{section}"' in page, section
    for code in ("0", "252", "253", "254", "255", "130"):
        assert f"\\fB{code}\\fR" in page
    assert "KMSCLI_SESSION" in page and "NO_COLOR" in page


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff not installed")
def test_pages_render_without_warnings(man_pages: dict[str, str], tmp_path: Path) -> None:
    paths = []
    for name, text in sorted(man_pages.items()):
        path = tmp_path / name
        path.write_text(text)
        paths.append(str(path))
    # one groff run over every page (warnings name the file), then the terminal device once
    proc = subprocess.run(["groff", "-man", "-ww", "-z", *paths], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    proc = subprocess.run(
        ["groff", "-man", "-ww", "-Tutf8", "-z", *paths], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_groff_check_catches_a_broken_page(tmp_path: Path) -> None:
    if shutil.which("groff") is None:
        pytest.skip("groff not installed")
    bad = tmp_path / "bad.1"
    bad.write_text('.TH "BAD" "1"\n.SH NAME\nbad \\- x\n.XX undefined macro\n\\fBunclosed\n')
    proc = subprocess.run(
        ["groff", "-man", "-ww", "-z", str(bad)], capture_output=True, text=True, check=False
    )
    assert proc.stderr != ""  # the check above is able to fail


def test_escaping() -> None:
    from kmscli.docgen.manpages import _para, esc

    assert esc("a-b\\c") == "a\\-b\\ec"
    assert esc("caf\u00e9") == "caf\\[u00E9]"
    lines = [x for x in _para(".hidden macro\n\n'quote") if x != ".PP"]
    assert lines == ["\\&.hidden macro", "\\&'quote"]


# -- completion behaviour ------------------------------------------------------------------------


@pytest.fixture
def shell_env(cli: Any, vault: Path, tmp_path: Path) -> dict[str, str]:
    """A vault with one key and one alias; PATH finds this kmscli; no passphrase in the environment."""
    key = cli("create-key").json()["KeyMetadata"]["KeyId"]
    assert cli("create-alias", "--alias-name", "alias/ci-signing", "--target-key-id", key).code == 0
    env = {k: v for k, v in os.environ.items() if k != "KMSCLI_PASSPHRASE"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["KEY_ID"] = key
    return env


def test_complete_ids_needs_no_passphrase(
    cli: Any, shell_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    keys = cli("_complete-ids", "keys")
    assert keys.code == 0
    assert keys.out.split() == [shell_env["KEY_ID"], "alias/ci-signing"]
    assert cli("_complete-ids", "aliases").out.split() == ["alias/ci-signing"]
    assert cli("_complete-ids", "keys", "--region", "eu-west-1").out == ""
    assert cli("_complete-ids", "keys", "--vault", "/nonexistent").out == ""


BASH_PROBE = """
source "$1"
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _kmscli; echo "${COMPREPLY[*]}"; }
t kmscli encr
t kmscli encrypt --ke
t kmscli encrypt --key-id ''
t kmscli create-alias --alias-name ''
t kmscli vault ''
t kmscli --output table vault backup --outf
t kmscli create-key --key-spec ECC_NIST_P2
t kmscli encrypt --encryption-algorithm SYM
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_bash_completion(shell_env: dict[str, str]) -> None:
    proc = subprocess.run(
        ["bash", "-c", BASH_PROBE, "probe", str(ROOT / "completions" / "kmscli.bash")],
        capture_output=True,
        text=True,
        env=shell_env,
        check=True,
    )
    lines = proc.stdout.splitlines()
    assert lines[0] == "encrypt"
    assert lines[1] == "--key-id"
    assert lines[2].split() == [shell_env["KEY_ID"], "alias/ci-signing"]
    assert lines[3] == "alias/ci-signing"
    assert lines[4].split() == ["backup", "change-passphrase", "export-key", "init", "restore", "status"]
    assert lines[5] == "--outfile"
    assert lines[6] == "ECC_NIST_P256"
    assert lines[7] == "SYMMETRIC_DEFAULT"


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed")
def test_zsh_completion(shell_env: dict[str, str]) -> None:
    probe = """
compdef() { : }; compadd() { [[ "$1" == "--" ]] && shift; print -r -- "${(j: :)@}" }; _files() { print FILES }
source "$1"
t() { words=("$@"); CURRENT=${#words}; _kmscli }
t kmscli encrypt --key-id ''
t kmscli vault ''
t kmscli create-key --key-usage ''
"""
    proc = subprocess.run(
        ["zsh", "-f", "-c", probe, "probe", str(ROOT / "completions" / "_kmscli")],
        capture_output=True,
        text=True,
        env=shell_env,
        check=True,
    )
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [shell_env["KEY_ID"], "alias/ci-signing"]
    assert "export-key" in lines[1].split()
    assert "SIGN_VERIFY" in lines[2].split()


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish not installed")
def test_fish_completion(shell_env: dict[str, str]) -> None:
    script = ROOT / "completions" / "kmscli.fish"
    probe = (
        f"source {script}; complete -C 'kmscli encr'; echo ---; complete -C 'kmscli encrypt --key-id '; "
        "echo ---; complete -C 'kmscli vault '"
    )
    proc = subprocess.run(
        ["fish", "-N", "-c", probe], capture_output=True, text=True, env=shell_env, check=True
    )
    first, keys, vault = proc.stdout.split("---\n")
    assert first.split("\t")[0] == "encrypt"
    assert sorted(line.split("\t")[0] for line in keys.splitlines()) == sorted(
        [shell_env["KEY_ID"], "alias/ci-signing"]
    )
    assert "export-key" in [line.split("\t")[0] for line in vault.splitlines()]
