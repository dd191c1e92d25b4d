"""``kmscli audit`` from the command line: formats, filters, --log-file, stats, tail, segments."""

from __future__ import annotations

import base64
import gzip
import io
import json
import threading
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from kmscli.audit.log import segments
from kmscli.cli import options as o


@pytest.fixture
def story(kms: Any, clock: Any) -> dict[str, str]:
    """A small history: a key with an alias, encryptions and decryptions, one failure."""
    key = kms("CreateKey", Description="reports")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/reports", TargetKeyId=key)
    other = kms("CreateKey")["KeyMetadata"]["KeyId"]
    ctx = {"object": "s3://bucket/report.csv"}
    blob = kms("Encrypt", KeyId="alias/reports", Plaintext=b"top secret 42", EncryptionContext=ctx)
    clock.advance(days=1)
    kms("Decrypt", CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=ctx)
    clock.advance(days=2)
    kms("Encrypt", KeyId=other, Plaintext=b"x", EncryptionContext={"object": "s3://bucket/other.csv"})
    kms("DisableKey", KeyId=key)
    with pytest.raises(Exception, match="disabled"):
        kms("Decrypt", CiphertextBlob=blob["CiphertextBlob"], EncryptionContext=ctx)
    return {"key": key, "other": other}


def lines(res: Any) -> list[dict[str, Any]]:
    assert res.code == 0, res.err
    return [json.loads(line) for line in res.out.splitlines()]


def test_piped_default_is_json_lines(cli: Any, story: dict[str, str]) -> None:
    events = lines(cli("audit"))
    assert [e["eventName"] for e in events] == [
        "CreateKey",
        "CreateAlias",
        "CreateKey",
        "Encrypt",
        "Decrypt",
        "Encrypt",
        "DisableKey",
        "Decrypt",
    ]
    assert [e["sequence"] for e in events] == list(range(1, 9))


def test_output_json_is_one_array(cli: Any, story: dict[str, str]) -> None:
    res = cli("audit", "--event-name", "Decrypt", "--output", "json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert [e["eventName"] for e in doc] == ["Decrypt", "Decrypt"]
    assert doc[1]["errorCode"] == "DisabledException"
    empty = cli("audit", "--event-name", "Nothing", "--output", "json")
    assert json.loads(empty.out) == []


def test_seed_question_who_decrypted_this_object(cli: Any, story: dict[str, str]) -> None:
    res = cli(
        "audit",
        "--event-name",
        "Decrypt",
        "--encryption-context",
        "object=s3://bucket/report.csv",
        "--start-time",
        "2026-01-01",
        "--query",
        "userIdentity.arn",
    )
    assert lines(res) == ["arn:aws:iam::111122223333:root"] * 2


def test_seed_question_what_happened_to_this_key(cli: Any, story: dict[str, str]) -> None:
    by_alias = [e["eventName"] for e in lines(cli("audit", "--key-id", "alias/reports"))]
    assert by_alias == ["CreateKey", "CreateAlias", "Encrypt", "Decrypt", "DisableKey", "Decrypt"]
    by_id = [e["eventName"] for e in lines(cli("audit", "--key-id", story["key"]))]
    assert by_id == by_alias
    window = lines(
        cli(
            "audit",
            "--key-id",
            "alias/reports",
            "--start-time",
            "2026-01-16T00:00:00Z",
            "--end-time",
            "2026-01-17T00:00:00Z",
        )
    )
    assert [e["eventName"] for e in window] == ["Decrypt"]


def test_errors_only_principal_and_max_items(cli: Any, story: dict[str, str]) -> None:
    assert [e["errorCode"] for e in lines(cli("audit", "--errors-only"))] == ["DisabledException"]
    assert len(lines(cli("audit", "--principal", "arn:aws:iam::111122223333:root", "--max-items", "3"))) == 3
    assert lines(cli("audit", "--principal", "arn:aws:iam::111122223333:user/bob")) == []


def test_table_view_columns_alias_and_errors(cli: Any, story: dict[str, str]) -> None:
    res = cli("audit", "--output", "table", "--color", "off")
    assert res.code == 0, res.err
    for column in ("Time", "Principal", "Event", "Key", "Encryption context", "Result"):
        assert column in res.out
    assert "alias/reports" in res.out and "DisabledException" in res.out
    assert "object=s3://bucket/report.csv" in res.out
    colored = cli("audit", "--output", "table", "--color", "on", "--errors-only")
    assert "\x1b[31m" in colored.out  # failures in red
    assert (
        "No matching events" in cli("audit", "--output", "table", "--event-name", "X", "--color", "off").out
    )


def test_text_view_is_tab_separated(cli: Any, story: dict[str, str]) -> None:
    res = cli("audit", "--output", "text", "--event-name", "Encrypt")
    rows = [line.split("\t") for line in res.out.splitlines()]
    assert rows[0][2:] == ["Encrypt", "alias/reports", "object=s3://bucket/report.csv", "OK"]
    assert rows[1][3] == story["other"]


def test_log_file_needs_no_vault_nor_passphrase(
    cli: Any, story: dict[str, str], vault: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "copied.jsonl"
    copy.write_bytes(b"".join(p.read_bytes() for p in map(Path, segments(vault / "audit"))))
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    monkeypatch.setenv("KMSCLI_VAULT", str(tmp_path / "nowhere"))
    assert len(lines(cli("audit", "--log-file", str(copy), "--event-name", "Decrypt"))) == 2
    # a folder of segments works too
    assert len(lines(cli("audit", "--log-file", str(vault / "audit")))) == 8
    # without --log-file there is no vault: 253 with advice
    res = cli("audit")
    assert res.code == 253 and "vault init" in res.err


def test_query_without_passphrase_reads_the_vault_log(
    cli: Any, story: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KMSCLI_PASSPHRASE")
    assert len(lines(cli("audit"))) == 8


@pytest.mark.parametrize(
    "args",
    [
        ["--start-time", "last tuesday"],
        ["--encryption-context", "novalue"],
        ["--output", "xml"],
        ["--max-items", "0"],
        ["--log-file", "/does/not/exist"],
        ["--output", "text", "--query", "eventName"],
    ],
)
def test_bad_parameters_exit_252(cli: Any, story: dict[str, str], args: list[str]) -> None:
    res = cli("audit", *args)
    assert res.code == 252, res.err
    assert "Traceback" not in res.err and res.out == ""


def test_secrets_never_reach_the_log(cli: Any, story: dict[str, str], vault: Path) -> None:
    raw = b"".join(p.read_bytes() for p in map(Path, segments(vault / "audit")))
    assert b"top secret 42" not in raw
    assert base64.b64encode(b"top secret 42") not in raw
    assert b"correct horse" not in raw


def test_unreadable_lines_warn_on_stderr(cli: Any, story: dict[str, str], vault: Path) -> None:
    seg = Path(segments(vault / "audit")[-1])
    seg.write_bytes(seg.read_bytes() + b"not json\n")
    res = cli("audit")
    assert res.code == 0 and len(res.out.splitlines()) == 8
    assert "skipped 1 unreadable line" in res.err


# -- stats ------------------------------------------------------------------------------------------


def test_stats_json_counts(cli: Any, story: dict[str, str]) -> None:
    res = cli("audit", "stats")
    assert res.code == 0, res.err
    doc = res.json()
    assert doc["Total"] == 8 and doc["Errors"] == 1
    assert doc["ByEvent"] == {"CreateKey": 2, "Decrypt": 2, "Encrypt": 2, "CreateAlias": 1, "DisableKey": 1}
    assert doc["ByKey"]["alias/reports"] == 6 and doc["ByKey"][story["other"]] == 2
    assert doc["ByError"] == {"DisabledException": 1}
    assert doc["ByDay"] == [
        {"Date": "2026-01-15", "Events": 4, "Errors": 0},
        {"Date": "2026-01-16", "Events": 1, "Errors": 0},
        {"Date": "2026-01-18", "Events": 3, "Errors": 1},
    ]
    assert (
        cli("audit", "stats", "--event-name", "Decrypt", "--query", "Total", "--output", "text").out == "2\n"
    )


def test_stats_chart_fills_quiet_days(cli: Any, story: dict[str, str]) -> None:
    res = cli("audit", "stats", "--output", "table", "--color", "off", "--width", "20")
    assert res.code == 0, res.err
    assert "Activity per day" in res.out and "8 events, 1 errors" in res.out
    chart = {line.split()[0]: line for line in res.out.splitlines() if line.strip().startswith("2026-01-1")}
    assert set(chart) == {"2026-01-15", "2026-01-16", "2026-01-17", "2026-01-18"}
    assert "█" not in chart["2026-01-17"]  # a day without events has an empty bar
    assert chart["2026-01-15"].count("█") == 20  # the busiest day fills the width
    assert "(1 errors)" in chart["2026-01-18"]


def test_chart_rows_scale_and_error_cells() -> None:
    from kmscli.audit.stats import chart_rows

    rows = chart_rows(
        [
            {"Date": "2026-01-01", "Events": 100, "Errors": 1},
            {"Date": "2026-01-03", "Events": 10, "Errors": 0},
        ],
        width=10,
    )
    assert [r[0] for r in rows] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert (len(rows[0][1]), len(rows[0][2])) == (9, 1)  # one error still shows
    assert rows[1][1:] == ("", "", 0, 0)
    assert len(rows[2][1]) == 1


# -- tail ----------------------------------------------------------------------------------------------


def test_tail_shows_the_last_events(cli: Any, story: dict[str, str]) -> None:
    assert [e["eventName"] for e in lines(cli("audit", "tail", "-n", "2"))] == ["DisableKey", "Decrypt"]
    text = cli("audit", "tail", "-n", "1", "--output", "text")
    assert text.out.split("\t")[2] == "Decrypt"
    assert lines(cli("audit", "tail", "-n", "0")) == []


def test_tail_follow_prints_new_events(cli: Any, story: dict[str, str], kms: Any) -> None:
    def later() -> None:
        time.sleep(0.2)
        kms("Encrypt", KeyId=story["other"], Plaintext=b"y")
        kms("DescribeKey", KeyId=story["other"])

    worker = threading.Thread(target=later)
    worker.start()
    res = cli(
        "audit",
        "tail",
        "-n",
        "1",
        "--follow",
        "--poll-interval",
        "0.02",
        "--max-events",
        "1",
        "--event-name",
        "DescribeKey",
    )
    worker.join()
    assert [e["eventName"] for e in lines(res)] == ["DescribeKey"]  # -n 1 matched nothing before


def test_follow_moves_on_to_new_segments(kms: Any, vault: Path, service: Any) -> None:
    from kmscli.audit.log import AuditLog
    from kmscli.audit.query import Filters
    from kmscli.audit.tail import follow, last_events

    kms("CreateKey")
    folder = vault / "audit"
    _, position = last_events(folder, Filters(), 0)
    log = AuditLog(folder, service.audit.key, segment_bytes=4096)
    for i in range(12):
        log.append({"eventName": f"Probe{i}", "pad": "x" * 700})
    assert len(segments(folder)) >= 2
    got = [e["eventName"] for _r, e in follow(folder, Filters(), position, poll=0, max_events=12)]
    assert got == [f"Probe{i}" for i in range(12)]
    stops = iter([False, True])
    assert (
        list(
            follow(
                folder,
                Filters(),
                position,
                poll=0,
                should_stop=lambda: next(stops),
                max_events=None,
                sleep=lambda s: None,
            )
        )[-1][1]["eventName"]
        == "Probe11"
    )


def test_follow_rejects_json_array(cli: Any, story: dict[str, str]) -> None:
    assert cli("audit", "tail", "--follow", "--output", "json").code == 252


# -- segments ----------------------------------------------------------------------------------------


def test_segments_roll_over_and_queries_read_all_in_order(
    env: Path, vault: Path, tmp_path: Path, cli: Any
) -> None:
    (tmp_path / "config.toml").write_text("[default]\naudit_segment_bytes = 4096\n")
    key = cli("create-key", "--query", "KeyMetadata.KeyId", "--output", "text").out.strip()
    for i in range(8):
        assert (
            cli("encrypt", "--key-id", key, "--plaintext", "aGk=", "--encryption-context", f"n={i}").code == 0
        )
    segs = [Path(p) for p in segments(vault / "audit")]
    assert len(segs) >= 2
    assert all(p.stat().st_size <= 4096 for p in segs)
    events = lines(cli("audit"))
    assert [e["sequence"] for e in events] == list(range(1, 10))
    assert [e["requestParameters"]["encryptionContext"]["n"] for e in events[1:]] == [
        str(i) for i in range(8)
    ]
    assert cli("audit", "verify").code == 0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_default_is_the_table(story: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from kmscli.__main__ import main

    monkeypatch.setenv("KMSCLI_PAGER", "")
    monkeypatch.setenv("COLUMNS", "220")
    out = _Terminal()
    with redirect_stdout(out):
        assert main(["audit", "--event-name", "Decrypt"]) == 0
    text = out.getvalue()
    assert "Encryption context" in text and "DisabledException" in text
    assert not text.lstrip().startswith("{")
    stats = _Terminal()
    with redirect_stdout(stats):
        assert main(["audit", "stats"]) == 0
    assert "Activity per day" in stats.getvalue()


def test_group_filters_apply_to_subcommands(cli: Any, story: dict[str, str]) -> None:
    res = cli("audit", "--event-name", "Decrypt", "stats", "--query", "Total", "--output", "text")
    assert res.out == "2\n"
    tail = cli("audit", "--key-id", story["other"], "tail", "--output", "jsonl")
    assert [e["eventName"] for e in lines(tail)] == ["CreateKey", "Encrypt"]


def test_every_output_format_works_on_audit(cli: Any, story: dict[str, str]) -> None:
    """--output yaml|yaml-stream|text|table|json on the query, stats and verify, before or after."""
    import yaml

    events = yaml.safe_load(cli("--output", "yaml", "audit").out)
    assert len(events) == 8 and events[0]["eventName"] == "CreateKey"
    stream = cli("audit", "--output", "yaml-stream", "--query", "eventName")
    assert stream.out.startswith("- CreateKey\n") and len(yaml.safe_load(stream.out)) == 8
    assert cli("audit", "--event-name", "NoSuch", "--output", "yaml").out == "[]\n"
    assert yaml.safe_load(cli("--output", "yaml", "audit", "stats").out)["Total"] == 8
    assert yaml.safe_load(cli("audit", "stats", "--output", "yaml-stream").out)[0]["Total"] == 8
    for fmt in ("yaml", "yaml-stream", "table", "json"):
        res = cli("audit", "verify", "--output", fmt)
        assert res.code == 0 and "Verified" in res.out, (fmt, res.out)
    assert yaml.safe_load(cli("audit", "verify", "--output", "yaml").out)["Verified"] is True
    statement = yaml.safe_load(cli("audit", "checkpoint", "--output", "yaml-stream").out)
    assert statement[0]["Format"] == "kmscli-audit-checkpoint-1"


def test_seed_question_did_every_access_go_through_the_key(cli: Any, story: dict[str, str]) -> None:
    res = cli(
        "audit",
        "stats",
        "--encryption-context",
        "object=s3://bucket/report.csv",
        "--query",
        "{ByKey: ByKey, ByError: ByError}",
    )
    assert res.json() == {"ByKey": {"alias/reports": 3}, "ByError": {"DisabledException": 1}}


def test_tail_follow_table_prints_backlog_then_rows(cli: Any, story: dict[str, str], kms: Any) -> None:
    def later() -> None:
        time.sleep(0.2)
        kms("DescribeKey", KeyId=story["other"])

    worker = threading.Thread(target=later)
    worker.start()
    res = cli(
        "audit",
        "tail",
        "-n",
        "2",
        "--follow",
        "--poll-interval",
        "0.02",
        "--max-events",
        "1",
        "--output",
        "table",
        "--color",
        "off",
    )
    worker.join()
    assert res.code == 0, res.err
    assert res.out.count("Encryption context") == 1  # one header
    assert res.out.index("DisableKey") < res.out.index("DescribeKey")


#: Every filter that takes a value (``--errors-only`` is a flag, ``--log-file`` a path checked by
#: its parser).
VALUE_FILTERS = [
    opt.name for opt in o.AUDIT_FILTER_OPTIONS if opt.name not in ("--errors-only", "--log-file")
]


@pytest.mark.parametrize("command", [[], ["stats"], ["tail"]])
@pytest.mark.parametrize("name", VALUE_FILTERS)
@pytest.mark.parametrize("empty", ["", " "])
def test_an_empty_filter_value_is_refused_not_read_as_no_filter(
    cli: Any, story: dict[str, str], command: list[str], name: str, empty: str
) -> None:
    # `--principal "$WHO"` with WHO unset used to print every caller's events as if they were WHO's
    res = cli("audit", *command, name, empty)
    assert res.code == 252, res.err
    assert res.out == "" and "Traceback" not in res.err
    assert f"Error parsing parameter '{name}': expected a value, got {empty!r}" in res.err


@pytest.mark.parametrize("name", ["--start-time", "--end-time"])
def test_export_refuses_an_empty_time_rather_than_export_everything(
    cli: Any, story: dict[str, str], tmp_path: Path, name: str
) -> None:
    res = cli("audit", "export", "--format", "cloudtrail", "--out", str(tmp_path / "out"), name, "")
    assert res.code == 252, res.err
    assert f"Error parsing parameter '{name}'" in res.err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [[], ["stats"], ["tail"]])
@pytest.mark.parametrize("name", VALUE_FILTERS)
def test_a_filter_value_that_is_not_text_is_a_usage_error(
    cli: Any, story: dict[str, str], command: list[str], name: str
) -> None:
    # undecodable bytes in argv arrive as lone surrogates; they used to reach the needle encoder
    # (UnicodeEncodeError, exit 255)
    value = "a=\udcff" if name == "--encryption-context" else "\udcff"
    res = cli("audit", *command, name, value)
    assert res.code == 252, res.err
    assert res.out == "" and "Traceback" not in res.err
    assert f"Error parsing parameter '{name}': the value is not valid UTF-8 text" in res.err


@pytest.mark.parametrize("when", ["99999999999d", "800000w", "9" * 5000 + "s"])
@pytest.mark.parametrize("command", [[], ["stats"], ["tail"]])
def test_a_relative_time_before_year_one_is_a_usage_error(
    cli: Any, story: dict[str, str], command: list[str], when: str
) -> None:
    res = cli("audit", *command, "--start-time", when)  # was OverflowError / ValueError, exit 255
    assert res.code == 252, res.err
    assert "reaches back before year 1" in res.err and "Traceback" not in res.err


def test_a_record_spelling_a_lone_surrogate_is_shown_counted_and_exported(cli: Any, tmp_path: Path) -> None:
    """A foreign (or edited) log can spell a lone surrogate with a JSON \\u escape. Every view used
    to die with exit 255 (UnicodeEncodeError) writing it; it is now read as the escape's text."""
    record = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/b\ud800b"},
        "eventTime": "2026-11-28T20:33:51Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Encrypt",
        "awsRegion": "us-east-1",
        "errorCode": "X\udfff",
        "requestParameters": {"keyId": "k", "encryptionContext": {"a\udbff": "\ud800"}},
        "recipientAccountId": "111122223333",
        "sequence": 1,
    }
    log = tmp_path / "foreign.jsonl"
    log.write_text(json.dumps(record) + "\n")  # ensure_ascii: the surrogates as \\u escapes
    for command, args in (
        ([], []),
        ([], ["--output", "table"]),
        ([], ["--output", "text"]),
        ([], ["--output", "yaml"]),
        ([], ["--output", "json", "--query", "requestParameters"]),
        (["stats"], ["--output", "json"]),
        (["stats"], ["--output", "text"]),
        (["tail"], ["--output", "text"]),
        ([], ["--errors-only", "--encryption-context", "a\\udbff=\\ud800", "--output", "text"]),
    ):
        res = cli("audit", *command, "--log-file", str(log), *args)
        assert res.code == 0, (command, args, res.err)
        res.out.encode("utf-8")  # no lone surrogate reaches the output
        if command != ["stats"]:
            assert "ud800" in res.out, (command, args, res.out)
    out = tmp_path / "pq"
    res = cli("audit", "export", "--log-file", str(log), "--format", "parquet", "--out", str(out))
    assert res.code == 0, res.err
    pq = pytest.importorskip("pyarrow.parquet")
    (row,) = pq.read_table(next(out.glob("*.parquet"))).to_pylist()
    assert row["errorCode"] == "X\\udfff" and row["userIdentity"]["arn"].endswith("b\\ud800b")


@pytest.mark.parametrize(
    "command", [[], ["stats"], ["tail"], ["export", "--format", "cloudtrail", "--out", "OUT"]]
)
def test_a_cloudtrail_or_gzip_file_given_as_log_file_is_refused_not_misread(
    cli: Any, story: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    """Before: a CloudTrail file (what `audit export --format cloudtrail` writes) read as JSON lines
    was one empty event (stats: 1 event), and its .json.gz form only "unreadable line" warnings."""
    assert cli("audit", "export", "--format", "cloudtrail", "--out", str(tmp_path / "ct")).code == 0
    compressed = next((tmp_path / "ct").rglob("*.json.gz"))
    document = tmp_path / "records.json"
    document.write_bytes(gzip.decompress(compressed.read_bytes()))
    args = [str(tmp_path / "again") if a == "OUT" else a for a in command]
    for path, said in ((compressed, "gzip-compressed"), (document, "CloudTrail file")):
        res = cli("audit", *args, "--log-file", str(path))
        assert res.code == 252, res.err
        assert f"{path} is a {said}" in res.err or f"{path} is {said}" in res.err
        assert res.out == "" and "Traceback" not in res.err
    # what the message suggests works: one record per line
    lines = tmp_path / "records.jsonl"
    records = json.loads(document.read_text())["Records"]
    lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert len(cli("audit", "--log-file", str(lines), "--output", "json").json()) == len(records)
