"""The string paths of kmscli.vault.fs print, join and relate exactly as the pathlib code they replaced.

The hot path keeps paths as ``str`` so that no encrypt imports pathlib; every message that names a
file, and the relative names bound by every vault file's MAC, must not change because of that.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmscli.vault import fs

#: Path text with the parts that pathlib normalises: repeated, leading and trailing slashes, ".", "..", "~".
PATH_TEXT = st.lists(
    st.sampled_from(["/", "//", "a", "b.json", ".", "..", "~", "~root", ".lock", "x y"]), max_size=8
).map("".join)
NAME = st.sampled_from(["keys", "audit", "us-east-1", "vault.json", ".lock", "a b", "~x", "..", "x.json"])


@settings(max_examples=500, deadline=None)
@given(PATH_TEXT)
def test_pathstr_is_how_pathlib_prints_a_path(text: str) -> None:
    assert fs.pathstr(text) == str(PurePosixPath(text))
    assert fs.pathstr(Path(text)) == str(Path(text))
    assert fs.pathstr(fs.pathstr(text)) == fs.pathstr(text)


@settings(max_examples=500, deadline=None)
@given(PATH_TEXT, st.lists(NAME, max_size=4))
def test_join_and_parent_are_pathlibs(text: str, names: list[str]) -> None:
    base = fs.pathstr(text)
    joined = fs.join(base, *names)
    assert joined == str(PurePosixPath(base).joinpath(*names))
    assert fs.parent(joined) == str(PurePosixPath(joined).parent)


@settings(max_examples=500, deadline=None)
@given(PATH_TEXT, st.lists(NAME, max_size=4), PATH_TEXT)
def test_relative_posix_is_relative_to_as_posix(text: str, names: list[str], other: str) -> None:
    base = fs.pathstr(text)
    inside = fs.join(base, *names)
    assert fs.relative_posix(inside, base) == PurePosixPath(inside).relative_to(base).as_posix()
    stranger = fs.pathstr(other)
    try:
        expected: Any = PurePosixPath(stranger).relative_to(base).as_posix()
    except ValueError:
        expected = ValueError
    if expected is ValueError:
        with pytest.raises(ValueError):
            fs.relative_posix(stranger, base)
    else:
        assert fs.relative_posix(stranger, base) == expected


def test_key_file_names_in_macs_are_unchanged(tmp_path: Path) -> None:
    """The MAC of every key, alias and schedule file binds ``Path.relative_to(vault).as_posix()``."""
    from kmscli.vault import layout
    from kmscli.vault.store import Header, UnlockedVault, _file_mac_input

    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    vault = UnlockedVault(tmp_path, Header(str(tmp_path / "vault.json"), {}), b"k" * 32)
    assert vault.key_file("us-east-1", key_id) == f"keys/us-east-1/{key_id}.json"
    assert vault.alias_file("eu-west-1") == "aliases/eu-west-1.json"
    assert layout.SCHEDULE == "schedule.json"
    for rel in (vault.key_file("us-east-1", key_id), vault.alias_file("eu-west-1"), layout.SCHEDULE):
        expected = (tmp_path / rel).relative_to(tmp_path).as_posix()
        assert rel == expected
        doc = json.loads(vault.authenticated_doc(rel, {"x": 1}))
        assert doc["mac"] == vault._file_mac(expected, {"x": 1})
        assert _file_mac_input(rel, {"x": 1}).startswith(b"file\0" + expected.encode() + b"\0")


@pytest.mark.parametrize("value", ["~", "~/", "~/vault", "~//v/./w/", "~root/x", "/abs/~/x", "rel//v/"])
def test_vault_setting_expands_the_home_folder_as_pathlib(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kmscli.settings import expanduser

    for home in ("/home/someone", "/home/someone/", "/"):
        monkeypatch.setenv("HOME", home)
        assert expanduser(value) == str(Path(value).expanduser())


def test_an_unknown_users_home_fails_as_pathlib_did() -> None:
    from kmscli.settings import expanduser

    with pytest.raises(RuntimeError) as theirs:
        Path("~no-such-user-kmscli/x").expanduser()
    with pytest.raises(RuntimeError) as ours:
        expanduser("~no-such-user-kmscli/x")
    assert str(ours.value) == str(theirs.value)


def test_exists_is_dir_is_file_answer_as_pathlib(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "to-dir").symlink_to(tmp_path / "dir")
    for name in ("file", "dir", "missing", "file/child", "loop", "loop/x", "to-dir", "dir/"):
        path = tmp_path / name
        for ours, theirs in ((fs.exists, Path.exists), (fs.is_dir, Path.is_dir), (fs.is_file, Path.is_file)):
            assert ours(str(path)) == theirs(path), (name, ours)


def test_ensure_dir_makes_private_folders_and_parents(tmp_path: Path) -> None:
    """The new folder and every missing parent are 0700 (docs/security.md: parents created 0700)."""
    import stat

    fs.ensure_dir(str(tmp_path / "ours" / "a" / "b"))
    for sub in ("", "/a", "/a/b"):
        assert stat.S_IMODE((tmp_path / f"ours{sub}").stat().st_mode) == fs.DIR_MODE
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        fs.ensure_dir(str(tmp_path / "file"))
    with pytest.raises(NotADirectoryError):
        fs.ensure_dir(str(tmp_path / "file" / "sub"))
