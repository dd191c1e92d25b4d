"""The audit query engine: time parsing, the byte prefilter (never skips a match), exact filters."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmscli.audit import query
from kmscli.audit.query import Filters, QueryError, ScanStats, fast_accept, parse_time, scan, scan_raw_batches

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
KEY_A = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = "0987dcba-09fe-87dc-65ba-ab0987654321"
ARN_A = f"arn:aws:kms:us-east-1:111122223333:key/{KEY_A}"
ARN_B = f"arn:aws:kms:us-east-1:111122223333:key/{KEY_B}"


def event(
    name: str = "Decrypt",
    *,
    key_arn: str | None = ARN_A,
    principal: str = "arn:aws:iam::111122223333:user/alice",
    when: str = "2026-11-20T10:00:00Z",
    context: dict[str, str] | None = None,
    error: str | None = None,
    request: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A CloudTrail-shaped record like the writer's."""
    ev: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": principal,
            "accountId": "111122223333",
            "userName": principal.rsplit("/", 1)[-1],
        },
        "eventTime": when,
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
    }
    if error:
        ev["errorCode"], ev["errorMessage"] = error, "nope"
    req = dict(request or {})
    if context is not None:
        req["encryptionContext"] = context
    ev["requestParameters"] = req or None
    if extra:
        ev["additionalEventData"] = extra
    ev["resources"] = (
        [{"accountId": "111122223333", "type": "AWS::KMS::Key", "ARN": key_arn}] if key_arn else []
    )
    return ev


def write_log(path: Path, events: list[dict[str, Any]], **dump: Any) -> Path:
    opts = {"separators": (",", ":"), "ensure_ascii": False, **dump}
    path.write_text("".join(json.dumps(e, **opts) + "\n" for e in events), encoding="utf-8")
    return path


def names(path: Path, filters: Filters) -> list[str]:
    return [e["eventName"] + ":" + e["eventTime"] for _raw, e in scan([path], filters)]


# -- time -------------------------------------------------------------------------------------------


def test_parse_time_iso_and_relative() -> None:
    assert parse_time("2026-11-01", NOW) == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert parse_time("2026-11-01T08:30:00Z", NOW) == dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC)
    assert parse_time("2026-11-01T08:30:00+02:00", NOW) == dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)
    assert parse_time("1h", NOW) == NOW - dt.timedelta(hours=1)
    assert parse_time("7d", NOW) == NOW - dt.timedelta(days=7)
    assert parse_time("2w", NOW) == NOW - dt.timedelta(weeks=2)
    assert parse_time("30m", NOW) == NOW - dt.timedelta(minutes=30)


@pytest.mark.parametrize("bad", ["yesterday", "7x", "2026-13-01", "", "-1d"])
def test_parse_time_rejects_garbage(bad: str) -> None:
    with pytest.raises(QueryError, match="invalid time"):
        parse_time(bad, NOW)


def test_start_after_end_is_refused() -> None:
    with pytest.raises(QueryError):
        Filters.build(start=NOW, end=NOW - dt.timedelta(days=1))


# -- exact filters ------------------------------------------------------------------------------------


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_log(
        tmp_path / "audit.jsonl",
        [
            event("Encrypt", context={"object": "s3://bucket/report.csv"}, when="2026-11-01T00:00:00Z"),
            event("Decrypt", context={"object": "s3://bucket/report.csv"}, when="2026-11-02T00:00:00Z"),
            event(
                "Decrypt",
                context={"object": "s3://bucket/other.csv"},
                when="2026-11-03T00:00:00Z",
                principal="arn:aws:iam::111122223333:role/etl",
            ),
            event("Decrypt", key_arn=ARN_B, error="AccessDeniedException", when="2026-11-04T00:00:00Z"),
            # an encryption context that mimics the top-level member must not fool the filter
            event("Encrypt", context={"eventName": "Decrypt", "errorCode": "x"}, when="2026-11-05T00:00:00Z"),
            event(
                "CreateAlias",
                key_arn=ARN_B,
                request={"aliasName": "alias/app", "targetKeyId": KEY_B},
                when="2026-11-06T00:00:00Z",
            ),
            event("Encrypt", key_arn=ARN_B, extra={"requestAlias": "alias/app"}, when="2026-11-07T00:00:00Z"),
            event(
                "Encrypt",
                key_arn=None,
                request={"keyId": "alias/app"},
                error="NotFoundException",
                when="2026-11-08T00:00:00Z",
            ),
        ],
    )


def test_event_name_is_exact_and_top_level(log: Path) -> None:
    assert names(log, Filters.build(event_names=["Decrypt"])) == [
        "Decrypt:2026-11-02T00:00:00Z",
        "Decrypt:2026-11-03T00:00:00Z",
        "Decrypt:2026-11-04T00:00:00Z",
    ]
    assert len(names(log, Filters.build(event_names=["Decrypt", "CreateAlias"]))) == 4
    assert names(log, Filters.build(event_names=["Decryp"])) == []


def test_errors_only(log: Path) -> None:
    assert names(log, Filters.build(errors_only=True)) == [
        "Decrypt:2026-11-04T00:00:00Z",
        "Encrypt:2026-11-08T00:00:00Z",
    ]


def test_key_id_arn_and_alias(log: Path) -> None:
    by_id = names(log, Filters.build(key_id=KEY_B))
    assert by_id == names(log, Filters.build(key_id=ARN_B))
    assert by_id == [
        "Decrypt:2026-11-04T00:00:00Z",
        "CreateAlias:2026-11-06T00:00:00Z",
        "Encrypt:2026-11-07T00:00:00Z",
    ]
    # an alias matches events recorded under its name, plus its target's events
    assert names(log, Filters.build(key_id="alias/app")) == [
        "CreateAlias:2026-11-06T00:00:00Z",
        "Encrypt:2026-11-07T00:00:00Z",
        "Encrypt:2026-11-08T00:00:00Z",
    ]
    with_target = names(log, Filters.build(key_id="alias/app", alias_targets=[KEY_B]))
    assert with_target[0] == "Decrypt:2026-11-04T00:00:00Z" and len(with_target) == 4
    alias_arn = "arn:aws:kms:us-east-1:111122223333:alias/app"
    assert names(log, Filters.build(key_id=alias_arn)) == names(log, Filters.build(key_id="alias/app"))


def test_principal_by_arn_name_or_id(log: Path) -> None:
    assert names(log, Filters.build(principal="etl")) == ["Decrypt:2026-11-03T00:00:00Z"]
    assert names(log, Filters.build(principal="arn:aws:iam::111122223333:role/etl")) == [
        "Decrypt:2026-11-03T00:00:00Z"
    ]
    assert len(names(log, Filters.build(principal="alice"))) == 7
    assert names(log, Filters.build(principal="ali")) == []


def test_time_range_inclusive(log: Path) -> None:
    got = names(log, Filters.build(start=parse_time("2026-11-02", NOW), end=parse_time("2026-11-04", NOW)))
    assert got == [
        "Decrypt:2026-11-02T00:00:00Z",
        "Decrypt:2026-11-03T00:00:00Z",
        "Decrypt:2026-11-04T00:00:00Z",
    ]


def test_encryption_context_pairs(log: Path) -> None:
    report = [("object", "s3://bucket/report.csv")]
    assert names(log, Filters.build(context=report)) == [
        "Encrypt:2026-11-01T00:00:00Z",
        "Decrypt:2026-11-02T00:00:00Z",
    ]
    assert names(log, Filters.build(context=report, event_names=["Decrypt"])) == [
        "Decrypt:2026-11-02T00:00:00Z"
    ]
    assert names(log, Filters.build(context=[("object", "s3://bucket/report")])) == []


def test_unreadable_and_torn_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    good = json.dumps(event("Decrypt"), separators=(",", ":"))
    path.write_text(good + '\n{not json "Decrypt"}\n\n[1, 2]\n' + good + "\n" + good[:40])
    stats = ScanStats()
    found = list(scan([path], Filters(), stats))
    assert len(found) == 2
    assert stats.unreadable == 3  # the garbage, the array, the torn tail


def test_block_boundaries_do_not_lose_or_split_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = [event("Decrypt" if i % 3 else "Encrypt", context={"n": str(i) * (i % 7)}) for i in range(200)]
    path = write_log(tmp_path / "a.jsonl", events)
    expected = [e for e in events if e["eventName"] == "Decrypt"]
    for block in (7, 64, 333, 4096):
        monkeypatch.setattr(query, "BLOCK", block)
        assert [e for _r, e in scan([path], Filters.build(event_names=["Decrypt"]))] == expected
        assert len(list(scan([path], Filters()))) == 200


def test_non_ascii_lines_are_parsed_on_their_own(tmp_path: Path) -> None:
    path = write_log(tmp_path / "a.jsonl", [event(context={"owner": "Zoë ✓"}), event("Encrypt")])
    found = list(scan([path], Filters.build(context=[("owner", "Zoë ✓")])))
    assert [e["eventName"] for _r, e in found] == ["Decrypt"]
    assert json.loads(found[0][0]) == found[0][1]  # the raw line is the record


# -- the prefilter may only skip lines that cannot match -----------------------------------------------

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=12)
name = st.sampled_from(["Decrypt", "Encrypt", "ReEncrypt", "GenerateDataKey", "Weird/Name", "ünï"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ev_name=name,
    ctx=st.dictionaries(text, text, max_size=3),
    principal=st.sampled_from(["arn:aws:iam::111122223333:user/al/ice", "arn:aws:iam::111122223333:role/r"]),
    error=st.booleans(),
    encoder=st.sampled_from(["compact", "ascii", "spaced", "slashes"]),
    pick=st.integers(min_value=0, max_value=5),
    data=st.data(),
)
def test_prefilter_never_skips_a_matching_line(
    tmp_path: Path,
    ev_name: str,
    ctx: dict[str, str],
    principal: str,
    error: bool,
    encoder: str,
    pick: int,
    data: Any,
) -> None:
    ev = event(ev_name, context=ctx, principal=principal, error="AccessDeniedException" if error else None)
    dumps = {
        "compact": lambda e: json.dumps(e, separators=(",", ":"), ensure_ascii=False),
        "ascii": lambda e: json.dumps(e, separators=(",", ":")),
        "spaced": lambda e: json.dumps(e, ensure_ascii=False),
        "slashes": lambda e: json.dumps(e).replace("/", "\\/"),
    }[encoder]
    path = tmp_path / f"p-{encoder}.jsonl"
    path.write_text(dumps(ev) + "\n", encoding="utf-8")
    # filters drawn from the event itself (so they match), or arbitrary (so they may not)
    if ctx and pick == 0:
        k = data.draw(st.sampled_from(sorted(ctx)))
        filters = Filters.build(context=[(k, ctx[k])], event_names=[ev_name])
    elif pick == 1:
        filters = Filters.build(event_names=[ev_name, data.draw(name)], errors_only=error)
    elif pick == 2:
        filters = Filters.build(principal=data.draw(st.sampled_from([principal, "ice", "r", "x"])))
    elif pick == 3:
        filters = Filters.build(key_id=data.draw(st.sampled_from([KEY_A, ARN_A, KEY_B, "alias/x"])))
    elif pick == 4:
        filters = Filters.build(context=[(data.draw(text), data.draw(text))])
    else:
        filters = Filters.build(event_names=[data.draw(name)])
    found = [e for _r, e in scan([path], filters)]
    assert found == ([ev] if filters.matches(ev) else [])
    # the unparsed fast path for raw output selects exactly the same lines
    raw = [line for batch in scan_raw_batches([path], filters) for line in batch]
    assert [json.loads(line) for line in raw] == found


def test_fast_path_only_vouches_for_well_formed_top_level_names(tmp_path: Path) -> None:
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    good = json.dumps(event("Decrypt"), **compact)
    nested = json.dumps(event("Encrypt", context={"eventName": "Decrypt"}), **compact)
    brace_arn = json.dumps(event("Decrypt", principal="arn:aws:iam::111122223333:user/a}b"), **compact)
    dup = good[:-1] + ',"event\\u004eame":"Encrypt"}'  # json.loads keeps the last: Encrypt
    cut_after_brace = good[: good.index("}") + 1]  # ends with "}" but the outer object is open
    spaced = json.dumps(event("Decrypt"))
    lines = [good, nested, brace_arn, dup, cut_after_brace, spaced, good[:-1]]
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    filters = Filters.build(event_names=["Decrypt"])
    pattern = fast_accept(filters)
    assert pattern is not None and pattern.match(good.encode())
    assert pattern.match(dup.encode())  # the pattern alone would be fooled; _well_formed is not
    raw = [line.decode() for batch in scan_raw_batches([path], filters) for line in batch]
    assert raw == [good, brace_arn, spaced]
    assert raw == [r.decode() for r, _e in scan([path], filters)]
    # any other filter turns the fast path off
    assert fast_accept(Filters.build(event_names=["Decrypt"], errors_only=True)) is None
    assert fast_accept(Filters.build(event_names=["Decrypt"], key_id=KEY_A)) is None
    assert fast_accept(Filters()) is None


def test_a_pipe_is_read_with_carried_partial_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import threading

    monkeypatch.setattr(query, "BLOCK", 100)
    events = [event("Decrypt" if i % 2 else "Encrypt", context={"i": str(i)}) for i in range(30)]
    data = "".join(json.dumps(e) + "\n" for e in events).encode()
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        pipe = [Path(f"/dev/fd/{read_fd}")]  # a file the user named (--log-file): opened as given
        found = [e for _r, e in scan(pipe, Filters.build(event_names=["Decrypt"]), listed=False)]
    finally:
        writer.join()
        os.close(read_fd)
    assert found == [e for e in events if e["eventName"] == "Decrypt"]


# -- \u escapes cannot blind a query (issue: adversarial round two, item 5) -----------------------------


def _escape_some(line: str, pick: Any) -> str:
    """``line`` with some characters inside its strings rewritten as \\u escapes (still the same JSON)."""
    out = []
    in_string = False
    skip = 0  # characters still inside an escape already present
    for ch in line:
        if skip:
            skip -= 1
            if ch == "u":
                skip = 4
            out.append(ch)
            continue
        if in_string and ch == "\\":
            skip = 1
            out.append(ch)
            continue
        if in_string and ch != '"' and pick(ch):
            out.append(f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else ch)
            continue
        if ch == '"':
            in_string = not in_string
        out.append(ch)
    return "".join(out)


def test_escaped_spellings_still_match_every_filter(tmp_path: Path) -> None:
    ev = event(
        "Decrypt",
        context={"object": "s3://b/k"},
        error="AccessDeniedException",
        principal="arn:aws:iam::111122223333:user/bob",
    )
    ev["userIdentity"]["accessKeyId"] = "AKIAEXAMPLE"
    ev["sourceIPAddress"] = "10.0.0.7"
    line = json.dumps(ev, separators=(",", ":"), ensure_ascii=False)
    every = _escape_some(line, lambda ch: ch.isalnum())
    assert json.loads(every) == ev and "Decrypt" not in every and "errorCode" not in every
    path = write_log(tmp_path / "a.jsonl", [])
    path.write_text(every + "\n", encoding="utf-8")
    for filters in (
        Filters.build(event_names=["Decrypt"]),
        Filters.build(key_id=KEY_A),
        Filters.build(key_id=ARN_A),
        Filters.build(principal="bob"),
        Filters.build(principal="arn:aws:iam::111122223333:user/bob"),
        Filters.build(context=[("object", "s3://b/k")]),
        Filters.build(errors_only=True),
        Filters.build(access_key_id="AKIAEXAMPLE"),
        Filters.build(source_ip="10.0.0.7"),
        Filters.build(event_names=["Decrypt"], errors_only=True, principal="bob", source_ip="10.0.0.7"),
    ):
        assert [e for _r, e in scan([path], filters)] == [ev], filters
        raw = [line for batch in scan_raw_batches([path], filters) for line in batch]
        assert [json.loads(r) for r in raw] == [ev], filters


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ev_name=name,
    ctx=st.dictionaries(text, text, max_size=2),
    mask=st.integers(min_value=0, max_value=2**32 - 1),
    pick=st.integers(min_value=0, max_value=4),
    data=st.data(),
)
def test_random_escapes_never_change_an_answer(
    tmp_path: Path, ev_name: str, ctx: dict[str, str], mask: int, pick: int, data: Any
) -> None:
    ev = event(ev_name, context=ctx, error="DisabledException" if mask & 1 else None)
    ev["userIdentity"]["accessKeyId"] = "ASIAQUERY"
    ev["sourceIPAddress"] = "192.0.2.1"
    counter = iter(range(10**6))
    line = _escape_some(json.dumps(ev, ensure_ascii=False), lambda ch: bool(mask >> (next(counter) % 32) & 1))
    assert json.loads(line) == ev
    other = json.dumps(event("Encrypt", key_arn=ARN_B), separators=(",", ":"))
    path = tmp_path / "e.jsonl"
    path.write_text(other + "\n" + line + "\n" + other + "\n", encoding="utf-8")
    filters = [
        Filters.build(event_names=[ev_name]),
        Filters.build(key_id=data.draw(st.sampled_from([KEY_A, ARN_A, KEY_B]))),
        Filters.build(errors_only=True, principal="alice"),
        Filters.build(access_key_id="ASIAQUERY", source_ip=data.draw(st.sampled_from(["192.0.2.1", "x"]))),
        Filters.build(context=list(ctx.items())[:1], event_names=[ev_name]),
    ][pick]
    expected = [e for e in (json.loads(other), ev, json.loads(other)) if filters.matches(e)]
    assert [e for _r, e in scan([path], filters)] == expected
    raw = [r for batch in scan_raw_batches([path], filters) for r in batch]
    assert [json.loads(r) for r in raw] == expected


def test_access_key_id_and_source_ip_filters(tmp_path: Path) -> None:
    a = event("Decrypt")
    a["userIdentity"]["accessKeyId"] = "AKIAONE"
    a["sourceIPAddress"] = "10.1.1.1"
    b = event("Encrypt")
    b["userIdentity"]["accessKeyId"] = "AKIATWO"
    b["sourceIPAddress"] = "10.1.1.10"
    c = event("Encrypt")  # no access key id, no source address
    path = write_log(tmp_path / "k.jsonl", [a, b, c])
    assert [e for _r, e in scan([path], Filters.build(access_key_id="AKIAONE"))] == [a]
    assert [e for _r, e in scan([path], Filters.build(access_key_id="AKIA"))] == []
    assert [e for _r, e in scan([path], Filters.build(source_ip="10.1.1.1"))] == [a]
    assert [e for _r, e in scan([path], Filters.build(source_ip="10.1.1.10"))] == [b]


def test_rarest_group_drives_the_search(tmp_path: Path) -> None:
    common = [event("Decrypt", principal="arn:aws:iam::111122223333:user/bob") for _ in range(50)]
    refused = event("Decrypt", principal="arn:aws:iam::111122223333:user/bob", error="AccessDeniedException")
    path = write_log(tmp_path / "r.jsonl", [*common, refused])
    filters = Filters.build(errors_only=True, principal="arn:aws:iam::111122223333:user/bob")
    stats = ScanStats()
    assert [e for _r, e in scan([path], filters, stats)] == [refused]
    assert stats.candidates == 1  # "errorCode" (one line) was searched first, not the ARN (51 lines)
