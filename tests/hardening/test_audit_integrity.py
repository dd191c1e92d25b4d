"""Issue 14: hidden audit segments, truncation, rollback of vault files, failed commits, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmscli.audit.log import segments


def _events(cli: Any, count: int = 3) -> str:
    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])
    for _ in range(count):
        assert cli("encrypt", "--key-id", key, "--plaintext", "eA==").code == 0
    return key


# -- item 2: hidden segments -------------------------------------------------------------------------


def test_renamed_padded_segment_cannot_hide_later_events(vault: Path, cli: Any) -> None:
    """The attack: the newest segment renamed audit-999999.jsonl behind blank-line padding (64 MiB
    in the report; a little here). New events then went to audit-1000000.jsonl, which nothing read."""
    key = _events(cli)
    folder = vault / "audit"
    newest = Path(segments(folder)[-1])
    hidden = folder / "audit-999999.jsonl"
    hidden.write_bytes(b"\n" * 4096 + newest.read_bytes())
    newest.unlink()
    # every command fails closed instead of logging where no reader looks
    res = cli("encrypt", "--key-id", key, "--plaintext", "eA==")
    assert res.code == 253 and "audit-999999.jsonl" in res.err and "out of sequence" in res.err
    assert not (folder / "audit-1000000.jsonl").exists()
    # readers refuse rather than skip it
    assert cli("audit").code == 253
    # verify names the renamed segment and the padding, and exits 1
    res = cli("audit", "verify")
    assert res.code == 1
    assert "folder: segment" in res.out and "audit-999999.jsonl is out of sequence" in res.out
    assert "padding: 4096 blank line(s)" in res.out


def test_unexpected_file_and_blank_line_are_reported(vault: Path, cli: Any) -> None:
    _events(cli, 1)
    folder = vault / "audit"
    (folder / "audit-1000000.jsonl").write_bytes(b"")
    res = cli("audit", "verify", "--output", "json")
    assert res.code == 1
    kinds = [p["Kind"] for p in res.json()["Problems"]]
    assert kinds == ["folder"]
    assert "unexpected file" in res.json()["Problems"][0]["Detail"]
    assert cli("list-keys").code == 253
    (folder / "audit-1000000.jsonl").unlink()
    seg = Path(segments(folder)[-1])
    lines = seg.read_bytes().splitlines(keepends=True)
    seg.write_bytes(b"".join([lines[0], b"   \n", *lines[1:]]))
    res = cli("audit", "verify", "--output", "json")
    assert res.code == 1
    assert [(p["Kind"], p["Line"]) for p in res.json()["Problems"]] == [("padding", 2)]


def test_segment_number_beyond_the_format_is_refused() -> None:
    import pytest

    from kmscli.audit.log import AuditWriteError, segment_name

    assert segment_name(999_999) == "audit-999999.jsonl"
    with pytest.raises(AuditWriteError):
        segment_name(1_000_000)


# -- item 18: truncation of the newest segment, deletion of the last segment ------------------------


def test_lines_cut_off_the_end_are_detected(vault: Path, cli: Any) -> None:
    key = _events(cli)
    seg = Path(segments(vault / "audit")[-1])
    lines = seg.read_bytes().splitlines(keepends=True)
    seg.write_bytes(b"".join(lines[:-2]))
    res = cli("audit", "verify")
    assert res.code == 1 and "truncated:" in res.out and "its head record" in res.out
    res = cli("encrypt", "--key-id", key, "--plaintext", "eA==")
    assert res.code == 253 and "cut off its end" in res.err
    assert seg.read_bytes() == b"".join(lines[:-2])  # nothing appended after the cut


def test_last_segment_removed_is_detected(vault: Path, cli: Any, env: Path) -> None:
    (env.parent / "config.toml").write_text("[default]\naudit_segment_bytes = 4096\n")
    key = _events(cli, 12)
    segs = segments(vault / "audit")
    assert len(segs) >= 2
    Path(segs[-1]).unlink()
    res = cli("audit", "verify", "--output", "json")
    assert res.code == 1 and [p["Kind"] for p in res.json()["Problems"]] == ["truncated"]
    assert cli("encrypt", "--key-id", key, "--plaintext", "eA==").code == 253


def test_forged_or_removed_head_record(vault: Path, cli: Any) -> None:
    _events(cli, 1)
    head = vault / "audit" / "head"
    data = head.read_bytes()
    head.write_bytes(data.replace(b'"sequence":', b'"sequence":9'))
    assert cli("list-keys").code == 253
    assert cli("audit", "verify").code == 1
    head.write_bytes(data)
    assert cli("list-keys").code == 0
    head.unlink()  # once a commit is on record, the head record must be there
    res = cli("list-keys")
    assert res.code == 253 and "head record" in res.err and "was removed" in res.err
    assert cli("audit", "verify").code == 1


@pytest.mark.parametrize("how", ["folder-removed", "folder-emptied"])
def test_whole_log_removed_is_refused(vault: Path, cli: Any, how: str) -> None:
    """Before: with the audit folder removed (or every file in it), the next command started a new
    log at sequence 1 and its commit moved the vault state's head there, so the history was gone
    and `audit verify` said OK. The vault state names a commit, so its log cannot be empty."""
    import shutil

    _events(cli, 1)
    if how == "folder-removed":
        shutil.rmtree(vault / "audit")
    else:
        for path in (vault / "audit").iterdir():
            path.unlink()
    for command in (("create-key",), ("list-keys",)):
        res = cli(*command)
        assert res.code == 253 and "log was removed or emptied" in res.err, res
    assert not list((vault / "audit").glob("audit-*"))  # nothing started in its place
    assert cli("audit", "verify").code == 1


# -- item 18: rollback of single files and mixes of files from different moments -------------------


def _key_file(vault: Path, key: str) -> Path:
    return vault / "keys" / "us-east-1" / f"{key}.json"


def _bucket(vault: Path, key: str) -> Path:
    return vault / "manifest" / f"{key[:2]}.json"


def test_key_file_rolled_back_is_refused(vault: Path, cli: Any) -> None:
    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])
    old = _key_file(vault, key).read_bytes()
    assert cli("disable-key", "--key-id", key).code == 0
    _key_file(vault, key).write_bytes(old)  # authentic, older: the key was enabled then
    res = cli("encrypt", "--key-id", key, "--plaintext", "eA==")
    assert res.code == 253 and str(_key_file(vault, key)) in res.err and "rollback" in res.err


def test_alias_index_and_schedule_rolled_back_or_removed(vault: Path, cli: Any) -> None:
    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])
    assert cli("create-alias", "--alias-name", "alias/a", "--target-key-id", key).code == 0
    aliases = vault / "aliases" / "us-east-1.json"
    old = aliases.read_bytes()
    assert cli("delete-alias", "--alias-name", "alias/a").code == 0
    aliases.write_bytes(old)
    assert cli("list-aliases").code == 253
    assert cli("delete-alias", "--alias-name", "alias/a").code == 253
    aliases.unlink()
    res = cli("list-aliases")
    assert res.code == 253 and "was removed" in res.err


def test_deleted_key_put_back_is_refused(vault: Path, kms: Any, clock: Any) -> None:
    from kmscli.errors import VaultEnvironmentError

    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
    old = _key_file(vault, key).read_bytes()
    clock.advance(days=8)
    kms("ListKeys")  # the deletion comes due
    assert not _key_file(vault, key).exists()
    _key_file(vault, key).write_bytes(old)
    import pytest

    with pytest.raises(VaultEnvironmentError, match="not the current version"):
        kms("DescribeKey", KeyId=key)


def test_state_removed_or_rolled_back_alone_is_refused(vault: Path, cli: Any) -> None:
    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])
    state = vault / "state.json"
    old = state.read_bytes()
    assert cli("disable-key", "--key-id", key).code == 0
    state.write_bytes(old)
    assert cli("describe-key", "--key-id", key).code == 253
    state.unlink()
    res = cli("describe-key", "--key-id", key)
    assert res.code == 253 and "state.json was removed" in res.err


def test_consistent_rollback_of_vault_files_fails_verify(vault: Path, cli: Any) -> None:
    """The state, the bucket and the key file all put back together: each is authentic and they
    agree, but the log's newest commit (DisableKey) is past the state's generation."""
    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])
    files = [vault / "state.json", _bucket(vault, key), _key_file(vault, key)]
    snapshot = [p.read_bytes() for p in files]
    assert cli("audit", "verify").code == 0
    assert cli("disable-key", "--key-id", key).code == 0
    for path, data in zip(files, snapshot, strict=True):
        path.write_bytes(data)
    res = cli("audit", "verify", "--output", "json")
    assert res.code == 1
    problems = res.json()["Problems"]
    assert [p["Kind"] for p in problems] == ["state"] and "rolled back" in problems[0]["Detail"]


def test_state_thrown_away_fails_verify(vault: Path, cli: Any) -> None:
    """state.json and manifest/ removed (the vault then looks like one an older kmscli made, and is
    given a fresh state at its next write): the log's generations restart, which verify reports."""
    import shutil

    cli("create-key")
    (vault / "state.json").unlink()
    shutil.rmtree(vault / "manifest")
    assert cli("create-key").code == 0
    res = cli("audit", "verify", "--output", "json")
    assert res.code == 1 and "state" in [p["Kind"] for p in res.json()["Problems"]]


# -- item 12 and crash safety: a commit that fails after its audit event ------------------------------


class Crash(BaseException):
    """A simulated kill: nothing after it runs (not an Exception, so nothing catches it)."""


def _crash(*args: Any) -> None:
    raise Crash()


def _events_named(vault: Path, name: str) -> list[dict[str, Any]]:
    import json

    out = []
    for seg in segments(vault / "audit"):
        out += [e for e in map(json.loads, Path(seg).read_bytes().splitlines()) if e["eventName"] == name]
    return out


def test_commit_failing_after_its_audit_event_exits_253_and_is_recorded(
    vault: Path, cli: Any, monkeypatch: Any
) -> None:
    import errno

    from kmscli.vault.store import UnlockedVault

    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])

    def full(self: Any, region: str, record: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(UnlockedVault, "save_key", full)
        res = cli("disable-key", "--key-id", key)
    assert res.code == 253 and "No space left on device" in res.err and res.out == ""
    (recovered,) = _events_named(vault, "RecoverVaultCommit")
    assert recovered["additionalEventData"]["files"] == {f"keys/us-east-1/{key}.json": "not written"}
    assert "failed" in recovered["additionalEventData"]["reason"]
    assert cli("describe-key", "--key-id", key).json()["KeyMetadata"]["Enabled"] is True
    assert cli("audit", "verify").code == 0


def test_crash_before_the_state_is_finished_is_settled_not_tamper(
    vault: Path, cli: Any, monkeypatch: Any
) -> None:
    import pytest

    from kmscli.vault import state

    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])
    with monkeypatch.context() as patch:
        patch.setattr(state, "finish", _crash)
        with pytest.raises(Crash):
            cli("disable-key", "--key-id", key)
    # the next call settles the commit: the key file was written, so the change stands
    assert cli("describe-key", "--key-id", key).json()["KeyMetadata"]["Enabled"] is False
    (recovered,) = _events_named(vault, "RecoverVaultCommit")
    assert recovered["additionalEventData"]["files"] == {f"keys/us-east-1/{key}.json": "written"}
    assert cli("audit", "verify").code == 0


def test_crash_during_recovery_and_verify_before_settling(vault: Path, cli: Any, monkeypatch: Any) -> None:
    """Killed in the commit, killed again in the recovery after its event: generations still only
    go up, and `audit verify` run before anything settles it reports no tamper."""
    import pytest

    from kmscli.vault import state

    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])
    with monkeypatch.context() as patch:
        patch.setattr(state, "finish", _crash)
        with pytest.raises(Crash):
            cli("disable-key", "--key-id", key)
        assert cli("audit", "verify").code == 0  # not settled yet: no false alarm
        with pytest.raises(Crash):
            cli("list-keys")  # the recovery appends its event, then is killed too
        assert cli("audit", "verify").code == 0
    assert cli("list-keys").code == 0
    generations = [
        e["additionalEventData"]["vaultGeneration"] for e in _events_named(vault, "RecoverVaultCommit")
    ]
    assert len(generations) == 2 and generations[0] < generations[1]
    assert cli("audit", "verify").code == 0


# -- item 18: checkpoints ------------------------------------------------------------------------------


def test_checkpoint_detects_a_consistent_rollback_of_the_whole_vault(
    vault: Path, cli: Any, tmp_path: Path
) -> None:
    import shutil

    _events(cli, 1)
    shutil.copytree(vault, tmp_path / "snapshot")
    _events(cli, 1)
    res = cli("audit", "checkpoint")
    assert res.code == 0
    statement = res.json()
    assert set(statement) == {"Format", "VaultId", "Sequence", "Chain", "Time", "Mac"}
    (tmp_path / "cp.json").write_text(res.out)
    assert cli("audit", "verify", "--checkpoint", str(tmp_path / "cp.json")).code == 0
    # a forged or edited checkpoint is refused
    (tmp_path / "bad.json").write_text(res.out.replace(str(statement["Sequence"]), "1", 1))
    assert cli("audit", "verify", "--checkpoint", str(tmp_path / "bad.json")).code == 253
    # the whole folder put back as it was: consistent, so only the checkpoint can tell
    shutil.rmtree(vault)
    shutil.copytree(tmp_path / "snapshot", vault)
    assert cli("audit", "verify").code == 0
    res = cli("audit", "verify", "--checkpoint", str(tmp_path / "cp.json"))
    assert res.code == 1 and "truncated" in res.out and "the checkpoint of" in res.out


# -- item 4: expired imported material -----------------------------------------------------------------


def _expiring_key(kms: Any, clock: Any) -> str:
    """An EXTERNAL key whose imported material expires in two days."""
    import datetime as dt

    from tests.service.test_import import _import

    key = str(kms("CreateKey", Origin="EXTERNAL")["KeyMetadata"]["KeyId"])
    valid_to = clock.now + dt.timedelta(days=2)
    _import(kms, key, b"\x05" * 32, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    return key


def test_expired_material_is_refused_where_it_is_used(kms: Any, clock: Any, monkeypatch: Any) -> None:
    """Even if its scheduled deletion never runs (the schedule lost, a read-only bundle)."""
    import pytest

    from kmscli import errors
    from kmscli.service.pipeline import core

    key = _expiring_key(kms, clock)
    blob = kms("Encrypt", KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    monkeypatch.setattr(core, "_run_due_work", lambda ctx, now: None)
    clock.advance(days=2)
    with pytest.raises(errors.KMSInvalidStateException, match="expired"):
        kms("Encrypt", KeyId=key, Plaintext=b"x")
    with pytest.raises(errors.KMSInvalidStateException, match="expired"):
        kms("Decrypt", CiphertextBlob=blob)


def test_schedule_removed_is_refused_so_no_expiry_is_abandoned(vault: Path, kms: Any, clock: Any) -> None:
    """The attack: delete schedule.json, and ValidTo was never enforced nor rotations run."""
    import pytest

    from kmscli.errors import VaultEnvironmentError

    key = _expiring_key(kms, clock)
    (vault / "schedule.json").unlink()
    clock.advance(days=3)
    with pytest.raises(VaultEnvironmentError, match=r"schedule .* was removed"):
        kms("Encrypt", KeyId=key, Plaintext=b"x")


# -- format migration: a vault made before the vault state ----------------------------------------------


def test_vault_without_state_is_read_then_migrated_on_its_next_write(vault: Path, cli: Any) -> None:
    import json
    import shutil

    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])
    # what an older kmscli left: no state.json, no manifest/, no head record, no generations
    (vault / "state.json").unlink()
    shutil.rmtree(vault / "manifest")
    (vault / "audit" / "head").unlink()
    assert cli("encrypt", "--key-id", key, "--plaintext", "eA==").code == 0  # read as it is
    assert not (vault / "state.json").exists()  # a read does not migrate
    assert cli("tag-resource", "--key-id", key, "--tags", "TagKey=a,TagValue=b").code == 0
    state = json.loads((vault / "state.json").read_bytes())["data"]
    assert state["generation"] == 1 and state["head"]["sequence"] > 0
    assert (_bucket(vault, key)).exists()
    # from now on, rollback is refused
    old = _key_file(vault, key).read_bytes()
    assert cli("untag-resource", "--key-id", key, "--tag-keys", "a").code == 0
    _key_file(vault, key).write_bytes(old)
    assert cli("describe-key", "--key-id", key).code == 253


# -- item 18, systematically: every single-file rollback and every mix is found --------------------------


def _vault_files(vault: Path) -> dict[str, bytes]:
    """Every vault file an attacker could put back (the audit folder and lock files aside)."""
    return {
        str(p.relative_to(vault)): p.read_bytes()
        for p in vault.rglob("*")
        if p.is_file() and "audit" not in p.parts and not p.name.startswith(".")
    }


def _put(vault: Path, files: dict[str, bytes]) -> None:
    for rel in set(_vault_files(vault)) - set(files):
        (vault / rel).unlink()
    for rel, data in files.items():
        (vault / rel).parent.mkdir(parents=True, exist_ok=True)
        (vault / rel).write_bytes(data)


def _detected(vault: Path) -> bool:
    """A full read of the vault refuses something (253), or `audit verify` fails (exit 1)."""
    import os

    from kmscli.errors import VaultEnvironmentError
    from kmscli.invocation import Sources
    from kmscli.service.features import auditops
    from kmscli.settings import load_settings
    from tests.conftest import PASSPHRASE
    from tests.hardening import check_vault_files

    try:
        check_vault_files(vault, PASSPHRASE)
    except VaultEnvironmentError:
        return True
    return not auditops.verify(load_settings({}, os.environ), Sources.from_environ(os.environ), None).ok


def test_every_single_file_rollback_and_random_mixes_are_detected(vault: Path, kms: Any, clock: Any) -> None:
    import random

    moments = [_vault_files(vault)]
    a = kms("CreateKey")["KeyMetadata"]["KeyId"]
    moments.append(_vault_files(vault))
    b = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/a", TargetKeyId=a)
    moments.append(_vault_files(vault))
    kms("EnableKeyRotation", KeyId=a)
    kms("PutKeyPolicy", KeyId=b, PolicyName="default", Policy=kms("GetKeyPolicy", KeyId=b)["Policy"] + " ")
    moments.append(_vault_files(vault))
    kms("ScheduleKeyDeletion", KeyId=b, PendingWindowInDays=7)
    kms("UpdateAlias", AliasName="alias/a", TargetKeyId=a)
    kms("DisableKey", KeyId=a)
    moments.append(_vault_files(vault))
    clock.advance(days=8)
    kms("ListKeys")  # b's deletion comes due
    now = _vault_files(vault)
    assert not _detected(vault)
    tried = 0
    for moment in moments:  # every file, one at a time, as it was at an earlier moment (or absent)
        for rel in sorted(set(moment) | set(now)):
            if moment.get(rel) == now.get(rel):
                continue
            changed = dict(now)
            if rel in moment:
                changed[rel] = moment[rel]
            else:
                del changed[rel]
            _put(vault, changed)
            assert _detected(vault), rel
            tried += 1
    rng = random.Random(14)
    for _ in range(25):  # each file from a moment of its own
        mix: dict[str, bytes] = {}
        for rel in set().union(*moments, now):
            pick = rng.choice([*moments, now])
            if rel in pick:
                mix[rel] = pick[rel]
        if mix == now:
            continue
        _put(vault, mix)
        assert _detected(vault), sorted(mix)
        tried += 1
    _put(vault, now)
    assert not _detected(vault) and tried > 30


def test_crash_while_an_older_vault_is_first_listed_is_redone_not_tamper(
    vault: Path, cli: Any, monkeypatch: Any
) -> None:
    import shutil

    import pytest

    from kmscli.vault.store import UnlockedVault

    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])
    (vault / "state.json").unlink()
    shutil.rmtree(vault / "manifest")
    real = UnlockedVault.write_authenticated

    def crash_on_bucket(self: Any, path: str, data: Any) -> None:
        if path.startswith("manifest/"):
            raise Crash()
        real(self, path, data)

    with monkeypatch.context() as patch:
        patch.setattr(UnlockedVault, "write_authenticated", crash_on_bucket)
        with pytest.raises(Crash):
            cli("tag-resource", "--key-id", key, "--tags", "TagKey=a,TagValue=b")
    assert (vault / "manifest").is_dir() and (vault / "state.json").exists()
    assert cli("describe-key", "--key-id", key).code == 0  # the listing is redone first
    assert cli("tag-resource", "--key-id", key, "--tags", "TagKey=a,TagValue=b").code == 0
    assert _bucket(vault, key).exists()


def test_a_crash_at_any_write_of_a_commit_or_its_recovery_is_never_tamper(
    vault: Path, cli: Any, monkeypatch: Any
) -> None:
    """Killed at the n-th file write (the state's, a bucket's, a key file's, the schedule's) of a
    multi-file commit, then possibly again at the m-th write of the recovery: the vault still works
    and `audit verify` passes."""
    import contextlib

    from kmscli.vault import fs

    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])
    assert cli("create-alias", "--alias-name", "alias/k", "--target-key-id", key).code == 0
    real = fs.VaultDir.replace_atomic
    ops = [
        ("schedule-key-deletion", "--key-id", key, "--pending-window-in-days", "7"),
        ("cancel-key-deletion", "--key-id", key),
    ]
    count, limit, crashes = [0], [0], [0]

    def crash_at(self: Any, rel: str, data: bytes) -> None:
        count[0] += 1
        if count[0] == limit[0]:
            crashes[0] += 1
            raise Crash()
        real(self, rel, data)

    for n in range(1, 7):
        for m in (0, 1, 2, 3):
            count[0], limit[0] = 0, n
            with monkeypatch.context() as patch:
                patch.setattr(fs.VaultDir, "replace_atomic", crash_at)
                with contextlib.suppress(Crash):
                    cli(*ops[(n + m) % 2])
                count[0], limit[0] = 0, m  # then the recovery (if any) is killed at its m-th write
                with contextlib.suppress(Crash):
                    cli("list-keys")
            res = cli("list-keys")
            assert res.code == 0, (n, m, res.err)
            res = cli("audit", "verify")
            assert res.code == 0, (n, m, res.out)
    assert crashes[0] > 15 and len(_events_named(vault, "RecoverVaultCommit")) > 10


def test_last_line_cut_short_on_purpose_is_not_taken_for_a_crash(vault: Path, cli: Any) -> None:
    """A crash tears only a line whose append never finished; the head record names the last
    finished one, so cutting into it is truncation, and the cut bytes stay for `audit verify`."""
    key = _events(cli)
    seg = Path(segments(vault / "audit")[-1])
    cut = seg.read_bytes()[:-40]
    seg.write_bytes(cut)
    res = cli("encrypt", "--key-id", key, "--plaintext", "eA==")
    assert res.code == 253 and "cut off its end" in res.err
    assert seg.read_bytes() == cut
    kinds = [p["Kind"] for p in cli("audit", "verify", "--output", "json").json()["Problems"]]
    assert "torn" in kinds and "truncated" in kinds


def test_an_event_that_landed_although_its_append_failed_does_not_repeat_a_generation(
    vault: Path, cli: Any, monkeypatch: Any
) -> None:
    """fsync fails after the line was written: the call fails closed and commits nothing, but the
    event is in the log, so its generation stays claimed and the next commit takes a later one."""
    import errno
    import os

    key = str(cli("create-key").json()["KeyMetadata"]["KeyId"])
    real = os.fsync

    def eio(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".jsonl"):
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", eio)
        assert cli("disable-key", "--key-id", key).code not in (0, 254)
    assert _events_named(vault, "DisableKey")  # the line reached the file
    assert cli("describe-key", "--key-id", key).json()["KeyMetadata"]["Enabled"] is True
    assert cli("disable-key", "--key-id", key).code == 0
    generations = [e["additionalEventData"]["vaultGeneration"] for e in _events_named(vault, "DisableKey")]
    assert generations[0] < generations[1]
    assert cli("audit", "verify").code == 0


def _drop_newest_event_and_its_head_slot(vault: Path) -> dict[str, Any]:
    from kmscli.audit.log import HEAD_SLOT

    seg = Path(segments(vault / "audit")[-1])
    lines = seg.read_bytes().splitlines(keepends=True)
    newest: dict[str, Any] = json.loads(lines[-1])
    seg.write_bytes(b"".join(lines[:-1]))
    head = bytearray((vault / "audit" / "head").read_bytes())
    at = (newest["sequence"] % 2) * HEAD_SLOT
    head[at : at + HEAD_SLOT - 1] = b" " * (HEAD_SLOT - 1)
    (vault / "audit" / "head").write_bytes(bytes(head))
    return newest


def test_newest_read_event_dropped_with_its_head_slot_needs_a_checkpoint(
    vault: Path, cli: Any, tmp_path: Path
) -> None:
    """The documented limit (docs/security.md, section 5): the newest event after the last commit,
    cut off with its head slot spoiled, looks like a crash that tore the slot, without any earlier
    copy of a file; a checkpoint statement kept off the machine names its own event, so dropping
    that one is found."""
    key = _events(cli, 1)
    assert cli("encrypt", "--key-id", key, "--plaintext", "aGk=").code == 0
    assert _drop_newest_event_and_its_head_slot(vault)["eventName"] == "Encrypt"
    assert cli("audit", "verify").code == 0  # the limit: indistinguishable from a torn slot
    res = cli("audit", "checkpoint")
    assert res.code == 0
    (tmp_path / "cp.json").write_text(res.out)
    assert _drop_newest_event_and_its_head_slot(vault)["eventName"] == "AuditCheckpoint"
    assert cli("audit", "verify").code == 0
    res = cli("audit", "verify", "--checkpoint", str(tmp_path / "cp.json"))
    assert res.code == 1 and "truncated" in res.out
