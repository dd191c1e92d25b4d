"""The sidecar index of sealed segments: same answers as a full scan, never believed when it is
missing, stale or tampered, built at seal time, checked by verify, rebuilt by reindex."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmscli.audit import chain, index
from kmscli.audit.log import AuditLog, segment_name, segments
from kmscli.audit.query import Filters, ScanStats, scan, scan_raw_batches

KEY = b"k" * 32
ACCOUNT = "111122223333"
KEYS = ["1234abcd-12ab-34cd-56ef-1234567890ab", "0987dcba-09fe-87dc-65ba-ab0987654321", "k3"]
PRINCIPALS = [
    f"arn:aws:iam::{ACCOUNT}:user/alice",
    f"arn:aws:iam::{ACCOUNT}:user/bob",
    f"arn:aws:iam::{ACCOUNT}:role/r",
]
NAMES = ["Decrypt", "Encrypt", "DescribeKey", "CreateAlias"]
OBJECTS = ["o1", "o2", "ö3", 'q"4']
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

record = st.fixed_dictionaries(
    {
        "name": st.sampled_from(NAMES),
        "key": st.sampled_from([*KEYS, None]),
        "arn_form": st.booleans(),
        "principal": st.sampled_from(PRINCIPALS),
        "akid": st.sampled_from(["AKIAONE", "ASIATWO", None]),
        "ip": st.sampled_from(["10.0.0.1", "10.0.0.10", None]),
        "error": st.sampled_from([None, None, "AccessDeniedException", ""]),
        "obj": st.sampled_from([*OBJECTS, None]),
        "hours": st.integers(min_value=0, max_value=300),
        "junk": st.sampled_from([None, None, None, None, "unreadable", "blank", "escaped", "surrogate"]),
    }
)


def make_event(r: dict[str, Any]) -> dict[str, Any]:
    ident: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": "AIDA" + r["principal"][-3:].upper(),
        "arn": r["principal"],
    }
    if r["akid"]:
        ident["accessKeyId"] = r["akid"]
    ev: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": ident,
        "eventTime": (START + dt.timedelta(hours=r["hours"])).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "kms.amazonaws.com",
        "eventName": r["name"],
    }
    if r["ip"]:
        ev["sourceIPAddress"] = r["ip"]
    if r["error"] is not None:
        ev["errorCode"] = r["error"]
    req: dict[str, Any] = {}
    if r["key"]:
        req["keyId"] = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{r['key']}" if r["arn_form"] else r["key"]
    if r["obj"]:
        req["encryptionContext"] = {"object": r["obj"]}
    ev["requestParameters"] = req or None
    return ev


def write_segments(folder: Path, records: list[dict[str, Any]], per_segment: int) -> list[str]:
    """Chained segments of ``per_segment`` lines (some junk lines as a tamperer leaves), all but the
    last indexed as the writer seals them."""
    folder.mkdir(exist_ok=True)
    prev = chain.genesis(KEY)
    lines: list[list[bytes]] = [[]]
    for seq, r in enumerate(records, 1):
        if len(lines[-1]) >= per_segment:
            lines.append([])
        ev = make_event(r)
        ev["sequence"] = seq
        ev["chain"] = prev = chain.link(KEY, prev, ev)
        text = json.dumps(ev, separators=(",", ":"), ensure_ascii=False)
        if r["junk"] == "escaped":  # the same record, spelled with \u escapes
            text = text.replace('"eventName"', '"event\\u004eame"').replace("Decrypt", "\\u0044ecrypt")
        elif r["junk"] == "surrogate":  # a context pair spelling lone surrogates (read as their escapes)
            text = text.replace('"encryptionContext":{', '"encryptionContext":{"o\\ud800":"\\udfff",')
        lines[-1].append(text.encode())
        if r["junk"] == "unreadable":
            lines[-1].append(b'{"eventName":"Decrypt",')
        elif r["junk"] == "blank":
            lines[-1].append(b"   ")
    for number, seg in enumerate(lines, 1):
        (folder / segment_name(number)).write_bytes(b"".join(line + b"\n" for line in seg))
    for seg_path in segments(folder)[:-1]:  # index.write, without its fsyncs
        Path(index.index_path(seg_path)).write_bytes(index.build(seg_path, KEY))
    # the newest segment: indexed when half written, then extended by a quarter, then appended to
    newest = folder / segment_name(len(lines))
    half, three = len(lines[-1]) // 2, len(lines[-1]) * 3 // 4
    newest.write_bytes(b"".join(line + b"\n" for line in lines[-1][:half]))
    Path(index.index_path(str(newest))).write_bytes(index.build(str(newest), KEY))
    newest.write_bytes(b"".join(line + b"\n" for line in lines[-1][:three]))
    previous = index.load(str(newest), KEY)
    Path(index.index_path(str(newest))).write_bytes(index.build(str(newest), KEY, previous))
    previous.close()
    newest.write_bytes(b"".join(line + b"\n" for line in lines[-1]))
    return segments(folder)


filters_strategy = st.builds(
    Filters.build,
    key_id=st.sampled_from([None, None, *KEYS, f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEYS[0]}"]),
    event_names=st.lists(st.sampled_from([*NAMES, "Nope"]), max_size=2),
    principal=st.sampled_from([None, None, *PRINCIPALS, "alice", "r", "AIDABOB", "nobody"]),
    start=st.sampled_from([None, START + dt.timedelta(hours=50)]),
    end=st.sampled_from([None, START + dt.timedelta(hours=200)]),
    errors_only=st.booleans(),
    context=st.lists(
        st.tuples(st.just("object"), st.sampled_from(OBJECTS)) | st.just(("o\\ud800", "\\udfff")), max_size=2
    ),
    access_key_id=st.sampled_from([None, None, "AKIAONE", "ASIATWO"]),
    source_ip=st.sampled_from([None, None, "10.0.0.1", "10.0.0.10"]),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(record, min_size=1, max_size=60),
    per_segment=st.integers(min_value=1, max_value=25),
    queries=st.lists(filters_strategy, min_size=1, max_size=6),
    block_lines=st.sampled_from([1, 3, 512]),
)
def test_indexed_answers_equal_a_full_scan(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    records: list[dict[str, Any]],
    per_segment: int,
    queries: list[Filters],
    block_lines: int,
) -> None:
    monkeypatch.setattr(index, "BLOCK_LINES", block_lines)
    folder = tmp_path_factory.mktemp("log")
    paths = write_segments(folder, records, per_segment)
    for f in queries:
        full = list(scan(paths, f))
        indexes = index.load_all(segments(folder), KEY)
        assert len(indexes) == len(paths)
        assert list(scan(paths, f, indexes=indexes)) == full, f
        indexes = index.load_all(segments(folder), KEY)
        raw = [r for b in scan_raw_batches(paths, f, indexes=indexes) for r in b]
        assert raw == [r for r, _e in full], f


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    records=st.lists(record, min_size=1, max_size=60),
    per_segment=st.integers(min_value=1, max_value=25),
    queries=st.lists(filters_strategy, min_size=1, max_size=4),
    count=st.sampled_from([0, 1, 2, 5, 10, 100]),
    back_block=st.sampled_from([1, 7, 64, 1 << 20]),
)
def test_tail_shows_the_last_events_of_a_full_scan(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    records: list[dict[str, Any]],
    per_segment: int,
    queries: list[Filters],
    count: int,
    back_block: int,
) -> None:
    """`audit tail` reads segments from their ends (and sealed ones through their index): its
    events are the last ``count`` a forward scan finds, whatever the block size."""
    from kmscli.audit import tail

    monkeypatch.setattr(tail, "BACK_BLOCK", back_block)
    folder = tmp_path_factory.mktemp("log")
    paths = write_segments(folder, records, per_segment)
    for f in [Filters(), *queries]:
        full = list(scan(paths, f))
        expected = full[max(0, len(full) - count) :]
        shown, end = tail.last_events(folder, f, count)
        assert shown == expected, f
        assert end.offset == os.path.getsize(paths[-1])
        indexes = index.load_all(segments(folder), KEY)
        assert tail.last_events(folder, f, count, indexes)[0] == expected, f
        assert all(i.fd == -1 for i in indexes.values())  # every index file closed


def _log(tmp_path: Path, count: int = 40) -> tuple[Path, list[str]]:
    records = [
        {
            "name": NAMES[i % 4],
            "key": KEYS[i % 3],
            "arn_form": bool(i % 2),
            "principal": PRINCIPALS[i % 3],
            "akid": "AKIAONE" if i % 5 == 0 else None,
            "ip": "10.0.0.1",
            "error": "AccessDeniedException" if i % 7 == 0 else None,
            "obj": OBJECTS[i % 4],
            "hours": i,
            "junk": None,
        }
        for i in range(count)
    ]
    folder = tmp_path / "audit"
    return folder, write_segments(folder, records, 10)


def test_the_index_skips_lines(tmp_path: Path) -> None:
    folder, paths = _log(tmp_path)
    f = Filters.build(errors_only=True, principal="alice")
    stats = ScanStats()
    found = list(scan(paths, f, stats, index.load_all(segments(folder), KEY)))
    assert found == list(scan(paths, f))
    assert stats.candidates < 12  # 30 indexed lines, only the ones the index names were read


def _tamper(path: str, at: int) -> None:
    data = bytearray(Path(path).read_bytes())
    data[at] ^= 1
    Path(path).write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["header", "mac", "body", "magic"])
def test_a_tampered_index_is_not_believed(tmp_path: Path, where: str) -> None:
    folder, paths = _log(tmp_path)
    idx = index.index_path(paths[0])
    size = os.path.getsize(idx)
    head = len(index.MAGIC) + 4
    header_len = int.from_bytes(Path(idx).read_bytes()[len(index.MAGIC) : head], "little")
    at = {"header": head + 5, "mac": head + header_len + 3, "body": size - 2, "magic": 0}[where]
    _tamper(idx, at)
    f = Filters.build(event_names=["Decrypt"])
    loaded = index.load_all(segments(folder), KEY)
    if where == "body":  # the MAC'd header still holds; the posting list's own hash fails when read
        assert paths[0] in loaded
    else:
        assert paths[0] not in loaded and paths[1] in loaded and paths[-1] in loaded
    assert list(scan(paths, f, indexes=loaded)) == list(scan(paths, f))
    problems = index.check(segments(folder), KEY)
    assert [(p.segment, p.kind) for p in problems] == [(os.path.basename(paths[0]), "tampered")]


def test_an_index_moved_to_another_segment_or_built_with_another_key_is_refused(tmp_path: Path) -> None:
    _folder, paths = _log(tmp_path)
    os.replace(index.index_path(paths[0]), index.index_path(paths[1]))
    with pytest.raises(index.Invalid) as caught:
        index.load(paths[1], KEY)
    assert caught.value.kind == "tampered"
    with pytest.raises(index.Invalid):
        index.load(paths[2], b"x" * 32)


def test_a_stale_index_is_ignored_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "TAIL_BYTES", 100)  # less than a line: an edit above it keeps the tail
    folder, paths = _log(tmp_path)
    extra = json.loads(Path(paths[-1]).read_bytes().splitlines()[0])
    extra["eventName"] = "Appended"
    indexed = Path(paths[0]).read_bytes()
    with open(paths[0], "ab") as fh:  # a line added to a sealed segment after its index
        fh.write(json.dumps(extra).encode() + b"\n")
    assert paths[0] in index.load_all(segments(folder), KEY)  # still right about the lines it covers
    f = Filters.build(event_names=["Appended"])
    found = list(scan(paths, f, indexes=index.load_all(segments(folder), KEY)))
    assert found == list(scan(paths, f)) and len(found) == 1  # the line after it is read too
    assert [p.kind for p in index.check(segments(folder), KEY)] == ["stale"]
    Path(paths[0]).write_bytes(indexed[:-20])  # now shorter than indexed
    assert paths[0] not in index.load_all(segments(folder), KEY)
    Path(paths[0]).write_bytes(indexed)
    # same size and last line, other content: only verify's whole-segment hash sees it
    data = Path(paths[1]).read_bytes()
    Path(paths[1]).write_bytes(data.replace(b"Encrypt", b"Encrypu", 1))
    assert paths[1] in index.load_all(segments(folder), KEY)
    assert (os.path.basename(paths[1]), "stale") in [
        (p.segment, p.kind) for p in index.check(segments(folder), KEY)
    ]
    index.reindex(segments(folder), KEY)
    assert index.check(segments(folder), KEY) == []


def test_writer_indexes_the_segment_it_seals(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit", KEY, segment_bytes=4096, indexer=index.write)
    for i in range(12):
        log.append({"eventName": "Decrypt", "eventTime": "2026-01-15T12:00:00Z", "i": i, "pad": "x" * 600})
    segs = segments(tmp_path / "audit")
    assert len(segs) >= 3
    assert [os.path.exists(index.index_path(s)) for s in segs] == [True] * (len(segs) - 1) + [False]
    assert index.check(segments(tmp_path / "audit"), KEY) == []
    assert oct(os.stat(index.index_path(segs[0])).st_mode & 0o777) == "0o600"


def test_a_failing_index_build_never_fails_the_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(segment: str, key: bytes) -> None:
        raise RecursionError("deep")

    monkeypatch.setattr(index, "write", boom)
    log = AuditLog(tmp_path / "audit", KEY, segment_bytes=4096, indexer=index.write)
    for i in range(8):
        log.append({"eventName": "Decrypt", "i": i, "pad": "x" * 600})
    assert len(segments(tmp_path / "audit")) >= 2
    assert not any(n.endswith(index.SUFFIX) for n in os.listdir(tmp_path / "audit"))


def test_an_authentic_index_of_an_unexpected_shape_makes_the_query_scan(tmp_path: Path) -> None:
    import struct

    from kmscli.crypto import primitives
    from kmscli.vault import fs

    folder, paths = _log(tmp_path)
    idx = Path(index.index_path(paths[0]))
    data = idx.read_bytes()
    at = len(index.MAGIC)
    (length,) = struct.unpack("<I", data[at : at + 4])
    header = json.loads(data[at + 4 : at + 4 + length])
    header["fields"]["eventName"] = {"Decrypt": "not a location"}
    head = fs.canonical_json(header)
    mac = primitives.hmac_sha256(index.index_key(KEY), index._mac_input(paths[0], head))
    idx.write_bytes(index.MAGIC + struct.pack("<I", len(head)) + head + mac + data[at + 4 + length + 32 :])
    f = Filters.build(event_names=["Decrypt"])
    loaded = index.load_all(segments(folder), KEY)
    assert paths[0] in loaded
    assert list(scan(paths, f, indexes=loaded)) == list(scan(paths, f))


def test_writer_extends_the_newest_segments_index_as_it_grows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kmscli.audit import log as audit_log

    monkeypatch.setattr(audit_log, "INDEX_PART_BYTES", 1500)
    log = AuditLog(tmp_path / "audit", KEY, segment_bytes=8192, indexer=index.write)
    for i in range(16):
        log.append(
            {
                "eventName": "Decrypt" if i % 3 else "Encrypt",
                "eventTime": "2026-01-15T12:00:00Z",
                "i": i,
                "pad": "x" * 500,
            }
        )
    segs = segments(tmp_path / "audit")
    newest = index.load(segs[-1], KEY)
    assert 0 < newest.header["size"] <= os.path.getsize(segs[-1])
    newest.close()
    assert index.check(segments(tmp_path / "audit"), KEY) == []
    f = Filters.build(event_names=["Encrypt"])
    assert list(scan(segs, f, indexes=index.load_all(segments(tmp_path / "audit"), KEY))) == list(
        scan(segs, f)
    )


@pytest.mark.parametrize("back_block", [16, 1 << 20])
def test_tail_reads_escaped_lines_as_a_scan_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, back_block: int
) -> None:
    """A line that spells Decrypt as ``\\u0044ecrypt`` holds no needle, yet matches: tail, reading
    backwards, must judge it as the scan does (a backslash makes a line a candidate)."""
    from kmscli.audit import tail

    monkeypatch.setattr(tail, "BACK_BLOCK", back_block)
    base = {"key": None, "arn_form": False, "principal": PRINCIPALS[0], "akid": None, "ip": None}
    records = [
        {**base, "name": name, "error": None, "obj": None, "hours": i, "junk": junk}
        for i, (name, junk) in enumerate(
            [("Decrypt", "escaped"), ("Encrypt", None), ("Decrypt", None), ("Decrypt", "escaped")] * 3
        )
    ]
    paths = write_segments(tmp_path / "log", records, per_segment=5)
    f = Filters.build(event_names=["Decrypt"])
    full = list(scan(paths, f))
    assert len(full) == 9 and sum(b"\\u0044" in raw for raw, _ in full) == 6
    for count in (1, 2, 5, 9, 20):
        assert tail.last_events(tmp_path / "log", f, count)[0] == full[-count:]


def _lock_is_free(folder: Path) -> bool:
    """Whether another process could take the log's lock now (a separate open file: its own flock)."""
    import fcntl

    from kmscli.vault import layout

    fd = os.open(folder / layout.LOCK, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_index_work_runs_after_the_append_released_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building an index takes tenths of a second per 8 MiB; other writers must not wait for it."""
    from kmscli.audit import log as audit_log

    monkeypatch.setattr(audit_log, "INDEX_PART_BYTES", 1500)
    folder = tmp_path / "audit"
    seen: list[tuple[str, bool]] = []

    def indexer(segment: str, key: bytes) -> None:
        seen.append((os.path.basename(segment), _lock_is_free(folder)))
        index.write(segment, key)

    log = AuditLog(folder, KEY, segment_bytes=4096, indexer=indexer)
    for i in range(12):
        log.append({"eventName": "Decrypt", "eventTime": "2026-01-15T12:00:00Z", "i": i, "pad": "x" * 500})
    assert seen, "no segment reached an index mark"
    assert all(free for _name, free in seen), seen
    assert {name for name, _ in seen} >= {os.path.basename(segments(folder)[0])}  # the sealed one
    assert index.check(segments(folder), KEY) == []


def test_a_failing_indexer_never_fails_the_append(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kmscli.audit import log as audit_log

    monkeypatch.setattr(audit_log, "INDEX_PART_BYTES", 1500)

    def indexer(segment: str, key: bytes) -> None:
        raise OSError("disk full")

    log = AuditLog(tmp_path / "audit", KEY, segment_bytes=4096, indexer=indexer)
    done = [log.append({"eventName": "Decrypt", "i": i, "pad": "x" * 500}) for i in range(12)]
    assert [e["sequence"] for e in done] == list(range(1, 13))
