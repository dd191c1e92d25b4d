"""A long-lived vault object (the server's) reads each authenticated file once while it is unchanged;
every change by another writer, and every older copy put back, is still seen."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from kmscli.errors import KMSError
from kmscli.vault import fs, store
from kmscli.vault.fs import UnsafePathError
from kmscli.vault.store import TamperError, UnlockedVault


@pytest.fixture(params=["settled", "recent"])
def age(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Files count as settled at once (their stamp alone is trusted) or never (bytes compared)."""
    monkeypatch.setattr(fs, "SETTLED_NS", -(10**15) if request.param == "settled" else 10**15)
    return str(request.param)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files whose MAC was checked (parsed and authenticated), in order."""
    seen: list[str] = []
    check = UnlockedVault.check_authenticated

    def counted(self: UnlockedVault, rel: str, doc: Any, where: str, what: str) -> Any:
        seen.append(rel)
        return check(self, rel, doc, where, what)

    monkeypatch.setattr(UnlockedVault, "check_authenticated", counted)
    return seen


def _key_file(vault: Path, key: str) -> Path:
    return vault / "keys" / "us-east-1" / f"{key}.json"


def test_an_unchanged_file_is_authenticated_once_and_each_reader_gets_a_copy(
    service: Any, kms: Any, age: str, parses: list[str]
) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    rel = f"keys/us-east-1/{key}.json"
    first = service.vault.load_key("us-east-1", key)
    first["KeyState"] = "Disabled"
    first["Grants"].append({"changed": "by a caller"})
    second = service.vault.load_key("us-east-1", key)
    assert second["KeyState"] == "Enabled" and second["Grants"] == []
    assert parses.count(rel) == 1
    for _ in range(3):
        kms("Encrypt", KeyId=key, Plaintext=b"x")
    assert parses.count(rel) == 1


def test_a_change_by_another_writer_is_seen(service: Any, kms: Any, cli: Any, age: str) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("Encrypt", KeyId=key, Plaintext=b"x")
    assert cli("disable-key", "--key-id", key).code == 0  # another process's vault object
    with pytest.raises(KMSError) as err:
        kms("Encrypt", KeyId=key, Plaintext=b"x")
    assert err.value.code == "DisabledException"
    assert cli("enable-key", "--key-id", key).code == 0
    kms("Encrypt", KeyId=key, Plaintext=b"x")


def test_an_older_copy_put_back_with_its_old_times_is_refused(
    service: Any, kms: Any, cli: Any, vault: Path, age: str
) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    path = _key_file(vault, key)
    saved = vault.parent / "saved.json"
    shutil.copy2(path, saved)  # authentic, enabled
    kms("Encrypt", KeyId=key, Plaintext=b"x")
    assert cli("disable-key", "--key-id", key).code == 0
    kms("DescribeKey", KeyId=key)  # the server has read the disabled version
    os.replace(saved, path)  # put back, mtime as it was
    with pytest.raises(TamperError, match="rollback"):
        service.vault.load_key("us-east-1", key)


def test_a_same_size_edit_within_one_clock_tick_is_caught_by_the_bytes(
    service: Any, kms: Any, vault: Path, monkeypatch: pytest.MonkeyPatch, parses: list[str]
) -> None:
    """A file changed within the same tick as the stamp was taken can keep its stamp: while a file
    is that recent, its bytes are compared (a clock that never moves stands for such a tick here)."""
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    monkeypatch.setattr(fs, "stamp", lambda info: (info.st_dev, info.st_ino, info.st_size, 0, 0))
    service.vault.load_key("us-east-1", key)
    path = _key_file(vault, key)
    data = path.read_bytes()
    forged = data.replace(b'"KeyState":"Enabled"', b'"KeyState":"Xnabled"')
    assert forged != data and len(forged) == len(data)
    with open(path, "r+b") as fh:  # the same inode, the same size
        fh.write(forged)
    with pytest.raises(TamperError):
        service.vault.load_key("us-east-1", key)


def test_a_link_planted_for_a_folder_is_refused_even_for_a_remembered_file(
    service: Any, kms: Any, vault: Path, age: str
) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    service.vault.load_key("us-east-1", key)
    region = vault / "keys" / "us-east-1"
    region.rename(vault / "keys" / "elsewhere")
    region.symlink_to(vault / "keys" / "elsewhere")  # the same files, the same inodes, through a link
    with pytest.raises(UnsafePathError, match="symbolic link"):
        service.vault.load_key("us-east-1", key)


def test_a_removed_file_is_missing_for_the_long_lived_reader(
    service: Any, kms: Any, vault: Path, age: str
) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    service.vault.load_key("us-east-1", key)
    _key_file(vault, key).unlink()
    with pytest.raises(TamperError, match="was removed"):
        service.vault.load_key("us-east-1", key)


def test_a_destroyed_key_is_not_kept_in_memory(service: Any, kms: Any, clock: Any, vault: Path) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    rel = f"keys/us-east-1/{key}.json"
    kms("Encrypt", KeyId=key, Plaintext=b"x")
    assert rel in service.vault._authentic
    kms("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
    clock.advance(days=8)
    with pytest.raises(KMSError):
        kms("DescribeKey", KeyId=key)  # the deletion came due in this process: shredded, forgotten
    assert service.vault._authentic.get(rel) in (None, store._ABSENT)
    other = kms("CreateKey")["KeyMetadata"]["KeyId"]
    service.vault.load_key("us-east-1", other)
    _key_file(vault, other).unlink()
    with pytest.raises(TamperError, match="was removed"):  # removed by someone else: refused, forgotten
        service.vault.load_key("us-east-1", other)
    assert service.vault._authentic[f"keys/us-east-1/{other}.json"] is store._ABSENT


def test_a_missing_file_created_by_another_writer_is_seen(service: Any, kms: Any, cli: Any, age: str) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    assert service.vault.load_schedule() == {}  # no due work: schedule.json is missing
    assert service.vault.load_schedule() == {}
    assert service.vault._authentic["schedule.json"] is store._ABSENT
    assert cli("schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "7").code == 0
    assert list(service.vault.load_schedule()) == [f"us-east-1/{key}"]
    with pytest.raises(KMSError) as err:
        kms("Encrypt", KeyId=key, Plaintext=b"x")
    assert err.value.code == "KMSInvalidStateException"


def test_a_link_planted_where_a_missing_files_folder_was_is_still_refused(
    service: Any, kms: Any, vault: Path
) -> None:
    kms("CreateKey")
    gone = "0" * 8 + "-0000-4000-8000-" + "0" * 12
    assert service.vault.load_key("us-east-1", gone) is None  # remembered as missing
    assert service.vault._authentic[f"keys/us-east-1/{gone}.json"] is store._ABSENT
    region = vault / "keys" / "us-east-1"
    region.rename(vault / "keys" / "elsewhere")
    region.symlink_to(vault / "keys" / "elsewhere")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        service.vault.load_key("us-east-1", gone)
