"""Links and special files planted in the vault and the session runtime folder (issue: adversarial
round two, item 1 and 9), loose permissions (11), crash leftovers (17).

The attacker can write the vault folder and the runtime folder but does not know the passphrase.
Each case plants a symbolic link, hard link, FIFO or a loose mode where kmscli keeps a file or
folder, runs a command, and checks: exit 253 naming the path, no traceback, and nothing outside the
vault (the victim) read, created, chmodded, truncated, appended to or zeroed.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import skip_fsync
from tests.helpers import CliResult


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    skip_fsync(monkeypatch)


def _refused(res: CliResult, names: Path | str) -> None:
    assert res.code == 253, (res.code, res.out, res.err)
    assert str(names) in res.err, res.err
    assert res.out == ""
    assert "Traceback" not in res.err


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry below ``folder`` with its mode and (for files) content: links are not followed."""
    out: dict[str, tuple[int, bytes | None]] = {str(folder): (folder.lstat().st_mode, None)}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        out[str(path)] = (info.st_mode, path.read_bytes() if stat.S_ISREG(info.st_mode) else None)
    return out


@pytest.fixture
def key(cli: Any) -> str:
    res = cli("create-key", "--description", "victim test")
    assert res.code == 0, res.err
    return str(res.json()["KeyMetadata"]["KeyId"])


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the vault holding the victim's files."""
    folder = tmp_path / "outside"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    return folder


# -- item 1: the observed attacks ------------------------------------------------------------------


@pytest.mark.parametrize("victim_text", [b"line 1\nline 2 no newline", b"line 1\nline 2\n"])
def test_symlinked_audit_segment_is_refused_and_the_victim_is_untouched(
    cli: Any, vault: Path, outside: Path, victim_text: bytes
) -> None:
    """Before: the victim's last line was cut (exit 255), or audit JSON appended to it (exit 0)."""
    victim = outside / "victim.txt"
    victim.write_bytes(victim_text)
    assert cli("list-keys").code == 0
    segment = vault / "audit" / "audit-000001.jsonl"
    segment.unlink()
    segment.symlink_to(victim)
    _refused(cli("list-keys"), segment)
    _refused(cli("create-key"), segment)
    assert victim.read_bytes() == victim_text


def test_hard_linked_audit_segment_is_not_appended_to(cli: Any, vault: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.jsonl"
    assert cli("list-keys").code == 0
    segment = vault / "audit" / "audit-000001.jsonl"
    victim.write_bytes(segment.read_bytes())
    segment.unlink()
    os.link(victim, segment)
    before = victim.read_bytes()
    _refused(cli("list-keys"), segment)
    assert victim.read_bytes() == before


@pytest.mark.parametrize("folder", ["audit", "keys/us-east-1", "aliases"])
def test_symlinked_folder_is_refused_not_chmodded_or_written(
    cli: Any, vault: Path, outside: Path, key: str, folder: str
) -> None:
    """Before: the folder the link pointed at was chmodded 0700 and files were created in it."""
    (outside / "existing.txt").write_bytes(b"keep")
    planted = vault / folder
    if folder == "keys/us-east-1":  # keep the key file, so only the link is wrong
        (outside / f"{key}.json").write_bytes((planted / f"{key}.json").read_bytes())
    for child in planted.iterdir() if planted.exists() else []:
        child.unlink()
    if planted.exists():
        planted.rmdir()
    planted.symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    commands = {
        "audit": ["list-keys"],
        "keys/us-east-1": ["describe-key", "--key-id", key],
        "aliases": ["create-alias", "--alias-name", "alias/x", "--target-key-id", key],
    }
    _refused(cli(*commands[folder]), planted)
    if folder != "aliases":  # a new key is written in keys/us-east-1 and audited in audit/
        _refused(cli("create-key"), planted)
    assert _snapshot(outside) == before
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755


def test_dangling_lock_symlink_does_not_create_its_target(cli: Any, vault: Path, outside: Path) -> None:
    """Before: the flock open followed the link and created the target file."""
    target = outside / "created-by-kmscli"
    (vault / ".lock").unlink(missing_ok=True)
    (vault / ".lock").symlink_to(target)
    _refused(cli("create-key"), vault / ".lock")
    _refused(cli("list-keys"), vault / ".lock")
    assert not target.exists() and not target.is_symlink()


def test_key_destruction_never_zeroes_through_a_symlink(
    kms: Any, clock: Any, vault: Path, outside: Path
) -> None:
    """Before: fs.shred renamed the link and wrote zeros into its target."""
    from kmscli.errors import VaultEnvironmentError

    key_id = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("ScheduleKeyDeletion", KeyId=key_id, PendingWindowInDays=7)
    key_file = vault / "keys" / "us-east-1" / f"{key_id}.json"
    victim = outside / "victim.json"
    victim.write_bytes(key_file.read_bytes())  # an authentic copy: reads would even accept it
    key_file.unlink()
    key_file.symlink_to(victim)
    before = victim.read_bytes()
    clock.advance(days=8)
    with pytest.raises(VaultEnvironmentError) as caught:
        kms("ListKeys")  # runs the due deletion
    assert str(key_file) in caught.value.message
    assert victim.read_bytes() == before
    assert key_file.is_symlink()  # left for the operator to see


def test_vault_dir_shred_refuses_links_special_and_hard_linked_files(tmp_path: Path, outside: Path) -> None:
    from kmscli.vault import fs

    victim = outside / "victim"
    victim.write_bytes(b"secret")
    folder = tmp_path / "v"
    folder.mkdir(mode=0o700)
    (folder / "link").symlink_to(victim)
    os.mkfifo(folder / "fifo")
    os.link(victim, folder / "hard")
    with fs.VaultDir.open(folder) as vdir:
        for name in ("link", "fifo", "hard"):
            with pytest.raises(fs.UnsafePathError, match=name):
                vdir.shred(name)
        vdir.shred("missing")  # nothing there: fine
    assert victim.read_bytes() == b"secret"
    assert (folder / "link").is_symlink() and stat.S_ISFIFO((folder / "fifo").lstat().st_mode)


def test_symlink_to_an_authentic_key_file_copy_is_refused(
    cli: Any, vault: Path, key: str, outside: Path
) -> None:
    """Before: a link to a genuine copy passed the MAC check (the name the MAC binds matched)."""
    key_file = vault / "keys" / "us-east-1" / f"{key}.json"
    copy = outside / "copy.json"
    copy.write_bytes(key_file.read_bytes())
    key_file.unlink()
    key_file.symlink_to(copy)
    _refused(cli("describe-key", "--key-id", key), key_file)
    _refused(cli("encrypt", "--key-id", key, "--plaintext", "aGk="), key_file)


@pytest.mark.parametrize("which", ["header", "key", "aliases", "schedule"])
def test_fifo_where_a_vault_file_belongs_is_refused_without_hanging(
    cli: Any, vault: Path, key: str, which: str
) -> None:
    assert cli("create-alias", "--alias-name", "alias/f", "--target-key-id", key).code == 0
    assert cli("schedule-key-deletion", "--key-id", key).code == 0
    path = {
        "header": vault / "vault.json",
        "key": vault / "keys" / "us-east-1" / f"{key}.json",
        "aliases": vault / "aliases" / "us-east-1.json",
        "schedule": vault / "schedule.json",
    }[which]
    path.unlink()
    os.mkfifo(path, 0o600)
    _refused(cli("describe-key", "--key-id", "alias/f"), path)
    assert "FIFO" in cli("describe-key", "--key-id", "alias/f").err


def test_symlinked_header_is_refused(cli: Any, vault: Path, outside: Path) -> None:
    header = vault / "vault.json"
    copy = outside / "vault.json"
    copy.write_bytes(header.read_bytes())
    header.unlink()
    header.symlink_to(copy)
    _refused(cli("list-keys"), header)
    _refused(cli("vault", "status"), header)


def test_backup_never_reads_through_links(cli: Any, vault: Path, outside: Path, tmp_path: Path) -> None:
    secret = outside / "secret.txt"
    secret.write_bytes(b"not the vault's")
    (vault / "aliases" / "extra.json").symlink_to(secret)
    res = cli("vault", "backup", "--outfile", str(tmp_path / "b.kmsbak"))
    _refused(res, vault / "aliases" / "extra.json")
    assert not (tmp_path / "b.kmsbak").exists()


# -- item 11: loose permissions are refused, as ssh refuses loose key files --------------------------


@pytest.mark.parametrize("target", ["", "keys/us-east-1", "vault.json", "audit"])
def test_group_or_world_writable_vault_entries_are_refused(
    cli: Any, vault: Path, key: str, target: str
) -> None:
    path = vault / target if target else vault
    mode = 0o666 if path.is_file() else 0o777
    path.chmod(mode)
    try:
        res = cli("describe-key", "--key-id", key)
    finally:
        path.chmod(0o600 if path.is_file() else 0o700)
    _refused(res, path)
    assert "writable by group or others" in res.err and "chmod go-w" in res.err
    assert cli("describe-key", "--key-id", key).code == 0  # fixed by the chmod it advised


def test_init_creates_missing_parents_private(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import CHEAP_KDF_ARGS

    vault = tmp_path / "deep" / "er" / "vault"
    monkeypatch.setenv("KMSCLI_VAULT", str(vault))
    assert cli("vault", "init", *CHEAP_KDF_ARGS).code == 0
    for folder in (tmp_path / "deep", tmp_path / "deep" / "er", vault, vault / "keys", vault / "audit"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


# -- item 17: crash leftovers swept at the next exclusive open ----------------------------------------


def test_crash_leftovers_are_swept_at_the_next_exclusive_open(
    cli: Any, vault: Path, key: str, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kmscli.vault import fs

    region = vault / "keys" / "us-east-1"
    shred_left = region / f".shred-{key}.json-0123456789ab"
    shred_left.write_bytes(b'{"data": "wrapped material that must not survive"}')
    shred_left.chmod(0o600)
    leftovers = [
        vault / ".tmp-vault.json-aaaaaaaaaaaa",
        vault / "aliases" / ".tmp-us-east-1.json-bbbbbbbbbbbb",
    ]
    for path in leftovers:
        path.write_bytes(b"half written")
    victim = outside / "victim"
    victim.write_bytes(b"keep")
    planted = region / ".tmp-x.json-cccccccccccc"
    planted.symlink_to(victim)
    zeroed: list[bytes] = []
    real = fs.VaultDir._zero_and_unlink

    def spy(self: fs.VaultDir, dirfd: int, name: str) -> None:
        fd = os.open(name, os.O_RDONLY, dir_fd=dirfd)
        try:
            before = os.read(fd, 1 << 16)
        finally:
            os.close(fd)
        real(self, dirfd, name)
        zeroed.append(before)

    monkeypatch.setattr(fs.VaultDir, "_zero_and_unlink", spy)
    assert cli("list-keys").code == 0  # a shared lock: nothing is swept while others may write
    assert shred_left.exists() and all(p.exists() for p in leftovers)
    assert cli("tag-resource", "--key-id", key, "--tags", "TagKey=a,TagValue=b").code == 0
    assert not shred_left.exists() and not any(p.exists() for p in leftovers)
    assert not planted.is_symlink() and victim.read_bytes() == b"keep"
    assert zeroed and b"wrapped material" in zeroed[0]
    assert cli("describe-key", "--key-id", key).code == 0


# -- item 9: the session runtime folder ----------------------------------------------------------------


def _session_dir(tmp_path: Path) -> Path:
    return next((tmp_path / "run" / "kmscli" / "sessions").iterdir())


def test_lock_never_zeroes_a_file_through_a_linked_session_folder(
    cli: Any, tmp_path: Path, outside: Path
) -> None:
    """Before: another user's planted folder or link made `lock` zero the victim's file."""
    cli("unlock", "--raw")
    folder = _session_dir(tmp_path)
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    victim = outside / "victim.json"
    victim.write_bytes(b"the victim's data")
    folder.symlink_to(outside, target_is_directory=True)
    res = cli("lock")
    _refused(res, folder)
    assert victim.read_bytes() == b"the victim's data"


def test_session_file_link_is_not_shredded_by_lock(cli: Any, tmp_path: Path, outside: Path) -> None:
    cli("unlock", "--raw")
    session = next(_session_dir(tmp_path).iterdir())
    victim = outside / "victim.json"
    victim.write_bytes(b"the victim's data")
    session.unlink()
    session.symlink_to(victim)
    _refused(cli("lock"), session)
    assert victim.read_bytes() == b"the victim's data"


@pytest.mark.parametrize("where", ["runtime-parent", "kmscli", "sessions"])
def test_loose_runtime_folder_is_refused_on_every_use(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    token = cli("unlock", "--raw").out.strip()
    folder = {
        "runtime-parent": tmp_path / "run",
        "kmscli": tmp_path / "run" / "kmscli",
        "sessions": _session_dir(tmp_path),
    }[where]
    folder.chmod(0o755)
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_SESSION", token)
    for args in (["list-keys"], ["lock"]):
        res = cli(*args)
        _refused(res, folder)
        assert "not private" in res.err
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "correct horse battery staple")
    monkeypatch.delenv("KMSCLI_SESSION")
    _refused(cli("unlock"), folder)
    folder.chmod(0o700)
    monkeypatch.setenv("KMSCLI_SESSION", token)
    assert cli("list-keys").code == 0


def test_symlinked_runtime_kmscli_folder_is_refused(cli: Any, tmp_path: Path, outside: Path) -> None:
    (tmp_path / "run").mkdir(mode=0o700)
    (tmp_path / "run" / "kmscli").symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)
    _refused(cli("unlock"), tmp_path / "run" / "kmscli")
    assert _snapshot(outside) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a folder's owner needs root")
def test_runtime_folder_of_another_user_is_refused(cli: Any, tmp_path: Path) -> None:
    cli("unlock", "--raw")
    os.chown(tmp_path / "run", 4242, -1)
    res = cli("unlock")
    _refused(res, tmp_path / "run")
    assert "another user" in res.err


# -- item 3: lock authenticates the header it acts on ---------------------------------------------------


def _edit_vault_id(vault: Path) -> bytes:
    header = vault / "vault.json"
    original = header.read_bytes()
    doc = json.loads(original)
    doc["vault_id"] = "00000000-0000-4000-8000-000000000000"
    header.write_text(json.dumps(doc))
    return original


@pytest.mark.parametrize("with_passphrase", [False, True])
def test_lock_with_an_edited_vault_id_still_ends_the_given_session(
    cli: Any, vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_passphrase: bool
) -> None:
    """Before: `SessionsDestroyed: 0` with exit 0, and the token worked again once the header was back."""
    token = cli("unlock", "--raw").out.strip()
    other = cli("unlock", "--raw").out.strip()
    original = _edit_vault_id(vault)
    if not with_passphrase:
        monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_SESSION", token)
    res = cli("lock")
    assert res.code == 253 and res.out == "" and "Traceback" not in res.err
    assert "authenticate" in res.err
    (vault / "vault.json").write_bytes(original)
    assert cli("list-keys").code == 253  # the given session is gone for good
    monkeypatch.setenv("KMSCLI_SESSION", other)
    assert cli("list-keys").code == 0  # the lock failed loudly: other sessions are as they were
    monkeypatch.delenv("KMSCLI_SESSION")
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "correct horse battery staple")
    res = cli("lock", "--output", "json")
    assert res.code == 0 and res.json()["SessionsDestroyed"] == 1 and res.json()["Audited"] is True


def test_lock_with_a_valid_session_destroys_all_and_audits(
    cli: Any, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = cli("unlock", "--raw").out.strip()
    cli("unlock", "--raw")
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_SESSION", token)
    res = cli("lock", "--output", "json")
    assert res.code == 0, res.err
    assert res.json()["SessionsDestroyed"] == 2 and res.json()["Audited"] is True
    lines = (vault / "audit" / "audit-000001.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["eventName"] == "Lock"


# -- the audit readers: every segment and index they open by path is checked first --------------------


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "--output", "jsonl"],
        ["audit", "--event-name", "Forged", "--output", "jsonl"],
        ["audit", "stats", "--output", "json"],
        ["audit", "tail", "-n", "1", "--output", "jsonl"],
        ["audit", "export", "--format", "cloudtrail", "--out", "EXPORT"],
    ],
)
def test_audit_readers_refuse_a_segment_planted_as_a_link(
    cli: Any, vault: Path, outside: Path, tmp_path: Path, args: list[str]
) -> None:
    """Before: every reader but `verify` read through the link and showed (or exported) the forged
    events of a file outside the vault as the vault's newest ones (exit 0)."""
    assert cli("list-keys").code == 0
    forged = outside / "forged.jsonl"
    forged.write_text('{"eventName": "Forged", "eventTime": "2026-01-01T00:00:00Z", "sequence": 99}\n')
    planted = vault / "audit" / "audit-000002.jsonl"
    planted.symlink_to(forged)
    res = cli(*[str(tmp_path / "export") if a == "EXPORT" else a for a in args])
    _refused(res, planted)
    assert "symbolic link" in res.err and "Forged" not in res.out
    assert not (tmp_path / "export" / "AWSLogs").exists()


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_audit_index_planted_as_a_link_or_fifo_is_reported_without_hanging(
    cli: Any, vault: Path, outside: Path, kind: str
) -> None:
    """Before: `audit verify` opened a FIFO planted as a segment's index and waited for a writer for
    ever; queries read a FIFO segment the same way."""
    assert cli("list-keys").code == 0
    planted = vault / "audit" / "audit-000001.jsonl.idx"
    if kind == "link":
        (outside / "x.idx").write_bytes(b"KMSCLI-AUDIT-INDEX\n")
        planted.symlink_to(outside / "x.idx")
    else:
        os.mkfifo(planted, 0o600)
    res = cli("audit", "verify", "--output", "json")
    assert res.code == 1, (res.code, res.err)
    doc = res.json()
    assert any(p["Kind"] == "folder" and str(planted) in p["Detail"] for p in doc["Problems"])
    assert [p["Kind"] for p in doc["IndexProblems"]] == ["tampered"]
    _refused(cli("audit", "--output", "jsonl"), planted)
    planted.unlink()
    os.mkfifo(vault / "audit" / "audit-000002.jsonl", 0o600)
    _refused(cli("audit", "--output", "jsonl"), vault / "audit" / "audit-000002.jsonl")


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "--output", "jsonl"],
        ["audit", "stats", "--output", "json"],
        ["audit", "tail", "--output", "jsonl"],
    ],
)
def test_a_segment_swapped_for_a_link_after_the_listing_is_not_read_through(
    cli: Any, vault: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """Before: the listing refused a planted link, but the readers then opened each listed segment
    by path, following a link swapped in between (a race someone who can write the vault can win
    with inotify): the forged events were shown as the vault's."""
    from kmscli.audit import query

    assert cli("list-keys").code == 0
    forged = outside / "forged.jsonl"
    forged.write_text('{"eventName": "Forged", "eventTime": "2026-01-01T00:00:00Z", "sequence": 1}\n')
    segment = vault / "audit" / "audit-000001.jsonl"
    listed = query.log_files

    def swap_after_listing(target: Any) -> list[str]:
        found = listed(target)  # checked: every entry a regular file
        if os.path.isdir(target) and not segment.is_symlink():
            segment.rename(outside / "moved.jsonl")
            segment.symlink_to(forged)
        return found

    monkeypatch.setattr(query, "log_files", swap_after_listing)
    res = cli(*args)
    _refused(res, segment)
    assert "Forged" not in res.out
