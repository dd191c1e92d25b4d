"""Issue 14: hidden audit segments, truncation, rollback of vault files, failed commits, checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
