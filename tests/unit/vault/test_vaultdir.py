"""``fs.VaultDir``: names below a folder opened through its descriptor, no link followed; and
``vault/layout.py`` as the one owner of the vault's file names."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from kmscli.vault import fs


@pytest.fixture
def folder(tmp_path: Path) -> fs.VaultDir:
    root = tmp_path / "v"
    root.mkdir(mode=0o700)
    return fs.VaultDir.open(root)


def test_replace_read_append_and_unlink_stay_inside(folder: fs.VaultDir, tmp_path: Path) -> None:
    folder.replace_atomic("a/b/c.json", b"one")
    assert folder.read("a/b/c.json") == b"one"
    assert stat.S_IMODE((tmp_path / "v" / "a" / "b").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "v" / "a" / "b" / "c.json").stat().st_mode) == 0o600
    assert folder.append("log", b"x") is True and folder.append("log", b"y") is False
    assert folder.read("log") == b"xy"
    folder.unlink("log")
    folder.unlink("log")  # missing is fine
    assert not folder.exists("log")
    assert folder.listdir("a") == ["b"] and folder.listdir("missing") == []
    assert not [n for n in os.listdir(tmp_path / "v" / "a" / "b") if n.startswith(".tmp-")]


def test_replace_over_a_link_replaces_the_link_not_its_target(folder: fs.VaultDir, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "v" / "f").symlink_to(victim)
    folder.replace_atomic("f", b"new")
    assert victim.read_bytes() == b"keep" and (tmp_path / "v" / "f").read_bytes() == b"new"


@pytest.mark.parametrize("rel", ["", "/abs", "a//b", "./a", "a/../b", ".."])
def test_only_plain_relative_names(folder: fs.VaultDir, rel: str) -> None:
    with pytest.raises(ValueError):
        folder.read(rel)


def test_read_is_bounded_and_open_read_refuses_links(folder: fs.VaultDir, tmp_path: Path) -> None:
    folder.replace_atomic("big", b"x" * 100)
    with pytest.raises(ValueError, match="larger"):
        folder.read("big", limit=10)
    (tmp_path / "v" / "link").symlink_to(tmp_path / "v" / "big")
    with pytest.raises(fs.UnsafePathError, match="symbolic link"):
        fs.open_read(tmp_path / "v" / "link")
    with fs.open_read(tmp_path / "v" / "big") as fh:
        assert fh.read() == b"x" * 100


def test_loads_reports_deep_nesting_as_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        fs.loads(b"[" * 100_000 + b"]" * 100_000)


def test_layout_is_the_one_owner_of_vault_file_names() -> None:
    """No module but vault/layout.py spells the vault's files out (issue: one owner per rule)."""
    root = Path(__file__).resolve().parents[3] / "kmscli"
    spelled = re.compile(r"""["'](vault\.json|schedule\.json|\.lock|keys/|aliases/|audit/|sessions/)""")
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "layout.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if spelled.search(line)
    ]
    assert offenders == []
