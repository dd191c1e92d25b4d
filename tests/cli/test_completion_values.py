"""Completion offers the known values of --action, --event-name and `configure set/get` keys, not
file names (the shipped scripts, run in each shell; .ci/run installs zsh and fish)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPLETIONS = ROOT / "completions"

BASH_PROBE = """
source "$1"
t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _kmscli; echo "${COMPREPLY[*]}"; }
t kmscli policy who-can --action kms:De
t kmscli audit --event-name Decr
t kmscli configure set ''
t kmscli configure get reg
"""


def _check(lines: list[str]) -> None:
    actions = lines[0].split()
    assert "kms:Decrypt" in actions and all(a.startswith("kms:De") for a in actions)
    assert not any("Decoy" in a for a in actions)  # no file names
    assert lines[1].split() == ["Decrypt"]
    assert {"region", "output", "principal", "vault"} <= set(lines[2].split())
    assert lines[3].split() == ["region"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_bash_completes_known_values(tmp_path: Path) -> None:
    (tmp_path / "kms:Decoy").write_text("")  # a file that file completion would offer
    proc = subprocess.run(
        ["bash", "-c", BASH_PROBE, "probe", str(COMPLETIONS / "kmscli.bash")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    _check(proc.stdout.splitlines())


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed (.ci/run installs it)")
def test_zsh_completes_known_values(tmp_path: Path) -> None:
    probe = """
compdef() { : }; compadd() { [[ "$1" == "--" ]] && shift; print -r -- "${(j: :)@}" }; _files() { print FILES }
source "$1"
t() { words=("$@"); CURRENT=${#words}; _kmscli }
t kmscli policy who-can --action ''
t kmscli configure set ''
"""
    proc = subprocess.run(
        ["zsh", "-f", "-c", probe, "probe", str(COMPLETIONS / "_kmscli")],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = proc.stdout.splitlines()
    assert "kms:Decrypt" in lines[0].split() and "FILES" not in proc.stdout
    assert {"region", "output"} <= set(lines[1].split())


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish not installed (.ci/run installs it)")
def test_fish_completes_known_values(tmp_path: Path) -> None:
    (tmp_path / "kms:Decoy").write_text("")
    script = COMPLETIONS / "kmscli.fish"
    probe = (
        f"source {script}; complete -C 'kmscli policy who-can --action kms:De'; echo ---; "
        "complete -C 'kmscli audit --event-name Decr'; echo ---; complete -C 'kmscli configure set '"
    )
    proc = subprocess.run(
        ["fish", "-N", "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    actions, events, keys = (part.splitlines() for part in proc.stdout.split("---\n"))
    assert "kms:Decrypt" in [a.split("\t")[0] for a in actions] and not any("Decoy" in a for a in actions)
    assert [e.split("\t")[0] for e in events] == ["Decrypt"]
    assert {"region", "output"} <= {k.split("\t")[0] for k in keys}
