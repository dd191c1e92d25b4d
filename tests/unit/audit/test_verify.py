"""``kmscli audit verify``: tampering is detected, classified and located; torn tails are repaired."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kmscli.audit import verify as V
from kmscli.audit.log import segments
from tests.conftest import PASSPHRASE


def audit_key(vault: Path) -> bytes:
    from kmscli.vault.store import Vault

    return Vault.open(vault).unlock(PASSPHRASE.encode()).audit_key


def make_events(kms: Any, count: int = 6) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    for i in range(count - 1):
        kms("Encrypt", KeyId=key, Plaintext=b"x", EncryptionContext={"n": str(i)})


def only_segment(vault: Path) -> Path:
    segs = [Path(p) for p in segments(vault / "audit")]
    assert len(segs) == 1
    return segs[0]


def edit_lines(path: Path, change: Any) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(change(lines)))


def check(vault: Path) -> V.Report:
    return V.verify_log(vault / "audit", audit_key(vault))


def test_intact_log_verifies(kms: Any, vault: Path) -> None:
    make_events(kms)
    report = check(vault)
    assert report.ok and report.events == 6 and report.last_sequence == 6


def test_empty_log_verifies(vault: Path) -> None:
    report = check(vault)
    assert report.ok and report.events == 0


def test_edited_line(kms: Any, vault: Path) -> None:
    make_events(kms)
    seg = only_segment(vault)
    edit_lines(seg, lambda ls: [*ls[:3], ls[3].replace(b'"n":"2"', b'"n":"9"'), *ls[4:]])
    report = check(vault)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.line, report.problem.file) == ("edited", 4, str(seg))
    assert report.events == 3


def test_unreadable_line_is_edited(kms: Any, vault: Path) -> None:
    make_events(kms)
    edit_lines(only_segment(vault), lambda ls: [*ls[:2], b"garbage\n", *ls[3:]])
    report = check(vault)
    assert report.problem is not None and (report.problem.kind, report.problem.line) == ("edited", 3)


@pytest.mark.parametrize("spelling", [b"\\ud800", b"\\uDFFF", b"a\\udbff"])
def test_line_spelling_a_lone_surrogate_is_edited_not_a_crash(
    kms: Any, vault: Path, cli: Any, spelling: bytes
) -> None:
    """JSON's ``\\u`` escapes can spell a lone surrogate, which no UTF-8 text holds. Before: the chain
    value could not be recomputed and `audit verify` died with exit 255 (UnicodeEncodeError), so an
    edit could stop the check that reports it."""
    make_events(kms)
    seg = only_segment(vault)
    edit_lines(seg, lambda ls: [*ls[:3], ls[3].replace(b'"n":"2"', b'"n":"' + spelling + b'"'), *ls[4:]])
    report = check(vault)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.line, report.problem.file) == ("edited", 4, str(seg))
    res = cli("audit", "verify")
    assert res.code == 1 and res.out.startswith(f"{seg}:4: edited: "), (res.code, res.err)


def test_deleted_line(kms: Any, vault: Path) -> None:
    make_events(kms)
    edit_lines(only_segment(vault), lambda ls: [*ls[:2], *ls[3:]])
    report = check(vault)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.line) == ("deleted", 3)
    assert "sequence 3" in report.problem.detail


def test_deleted_first_line(kms: Any, vault: Path) -> None:
    make_events(kms)
    edit_lines(only_segment(vault), lambda ls: ls[1:])
    report = check(vault)
    assert report.problem is not None and (report.problem.kind, report.problem.line) == ("deleted", 1)


def test_reordered_lines(kms: Any, vault: Path) -> None:
    make_events(kms)
    edit_lines(only_segment(vault), lambda ls: [*ls[:2], ls[3], ls[2], *ls[4:]])
    report = check(vault)
    assert report.problem is not None and (report.problem.kind, report.problem.line) == ("reordered", 3)


def test_line_moved_far_later_is_reordered(kms: Any, vault: Path) -> None:
    make_events(kms)
    edit_lines(only_segment(vault), lambda ls: [ls[0], *ls[2:], ls[1]])
    report = check(vault)
    assert report.problem is not None and (report.problem.kind, report.problem.line) == ("reordered", 2)


def test_inserted_forged_line(kms: Any, vault: Path) -> None:
    make_events(kms)
    seg = only_segment(vault)

    def insert(ls: list[bytes]) -> list[bytes]:
        forged = json.loads(ls[2])
        forged["eventName"] = "Decrypt"
        return [*ls[:3], json.dumps(forged).encode() + b"\n", *ls[3:]]

    edit_lines(seg, insert)
    report = check(vault)
    assert report.problem is not None and (report.problem.kind, report.problem.line) == ("inserted", 4)


def test_replayed_line_is_inserted(kms: Any, vault: Path) -> None:
    make_events(kms)
    edit_lines(only_segment(vault), lambda ls: [*ls[:4], ls[1], *ls[4:]])
    report = check(vault)
    assert report.problem is not None and (report.problem.kind, report.problem.line) == ("inserted", 5)


def test_chain_from_another_vault_key_fails(kms: Any, vault: Path) -> None:
    make_events(kms)
    report = V.verify_log(vault / "audit", b"\x00" * 32)
    assert report.problem is not None and report.problem.line == 1


def test_torn_tail_is_reported_then_repaired(kms: Any, vault: Path, cli: Any) -> None:
    make_events(kms)
    seg = only_segment(vault)
    intact = seg.read_bytes()
    seg.write_bytes(intact + b'{"eventVersion":"1.08","userIdent')
    res = cli("audit", "verify")
    assert res.code == 1
    assert f"{seg}:7: torn:" in res.out
    assert seg.read_bytes().endswith(b"userIdent")  # verify alone changes nothing

    res = cli("audit", "verify", "--repair", "--output", "json")
    assert res.code == 0, res.out + res.err
    doc = res.json()
    assert doc["Verified"] is True and doc["Repaired"]["RemovedBytes"] == 33
    data = seg.read_bytes()
    assert data.startswith(intact)
    repair = json.loads(data[len(intact) :])
    assert repair["eventName"] == "RepairAuditLog" and repair["sequence"] == 7
    assert repair["additionalEventData"]["trigger"] == "kmscli audit verify --repair"
    assert cli("audit", "verify").code == 0


def test_repair_does_not_touch_tampering(kms: Any, vault: Path, cli: Any) -> None:
    make_events(kms)
    seg = only_segment(vault)
    edit_lines(seg, lambda ls: [*ls[:2], *ls[3:]])
    before = seg.read_bytes()
    res = cli("audit", "verify", "--repair")
    assert res.code == 1 and ":3: deleted:" in res.out
    assert seg.read_bytes() == before


def test_chain_spans_segments_and_missing_segment_is_named(kms: Any, vault: Path, env: Path) -> None:
    from kmscli.audit.log import AuditLog

    kms("CreateKey")
    log = AuditLog(vault / "audit", audit_key(vault), segment_bytes=4096)
    for _ in range(20):
        log.append({"eventName": "Probe", "eventTime": "2026-01-15T12:00:00Z", "pad": "x" * 500})
    segs = [Path(p) for p in segments(vault / "audit")]
    assert len(segs) >= 3
    assert check(vault).ok
    segs[1].unlink()
    report = check(vault)
    assert report.problem is not None and report.problem.kind == "deleted"
    assert report.problem.file == str(segs[2]) and report.problem.line == 1
    assert "segment(s) 2..2 are missing" in report.problem.detail


def test_cli_reports_file_line_and_exits_1(kms: Any, vault: Path, cli: Any) -> None:
    make_events(kms)
    seg = only_segment(vault)
    assert cli("audit", "verify").out.startswith("OK: 6 events in 1 segment(s)")
    edit_lines(seg, lambda ls: [*ls[:4], ls[4].replace(b"Encrypt", b"Decrypt"), *ls[5:]])
    res = cli("audit", "verify")
    assert res.code == 1
    assert res.out.splitlines()[0].startswith(f"{seg}:5: edited: ")
    doc = cli("audit", "verify", "--output", "json").json()
    assert doc["Verified"] is False
    assert doc["Problems"] == [
        {"File": str(seg), "Line": 5, "Kind": "edited", "Detail": doc["Problems"][0]["Detail"]}
    ]


def test_verify_needs_the_passphrase(
    kms: Any, vault: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_events(kms, 2)
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "wrong")
    res = cli("audit", "verify")
    assert res.code == 253 and "Traceback" not in res.err


def test_verify_takes_no_filters(vault: Path, cli: Any) -> None:
    res = cli("audit", "--event-name", "Decrypt", "verify")
    assert res.code == 252 and "takes no filters" in res.err
