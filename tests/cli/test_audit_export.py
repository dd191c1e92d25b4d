"""`kmscli audit export`: CloudTrail's S3 layout and Parquet, read back with DuckDB, incremental."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

duckdb = pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

OBJECTS = ["s3://b/a", "s3://b/b"]


@pytest.fixture
def story(env: Path, vault: Path, cli: Any) -> dict[str, Any]:
    key = cli("create-key", "--query", "KeyMetadata.KeyId", "--output", "text").out.strip()
    other = cli("create-key", "--query", "KeyMetadata.KeyId", "--output", "text").out.strip()
    blobs = []
    for i in range(6):
        ctx = f"object={OBJECTS[i % 2]}"
        res = cli(
            "encrypt", "--key-id", key if i % 3 else other, "--plaintext", "aGk=", "--encryption-context", ctx
        )
        blobs.append((json.loads(res.out)["CiphertextBlob"], ctx))
    for blob, ctx in blobs[:4]:
        assert cli("decrypt", "--ciphertext-blob", blob, "--encryption-context", ctx).code == 0
    assert (
        cli("decrypt", "--ciphertext-blob", blobs[0][0], "--encryption-context", "object=wrong").code == 254
    )
    return {"key": key, "other": other}


def ids(cli: Any, *args: str) -> list[str]:
    res = cli("audit", *args, "--output", "jsonl")
    assert res.code == 0, res.err
    return [json.loads(line)["eventID"] for line in res.out.splitlines()]


def test_parquet_export_answers_as_kmscli_audit(story: dict[str, Any], cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "pq"
    res = cli("audit", "export", "--format", "parquet", "--out", str(out), "--output", "json")
    assert res.code == 0, res.err
    doc = res.json()
    assert doc["Events"] == len(ids(cli)) and len(doc["Files"]) == 1
    files = str(out / "*.parquet")
    con = duckdb.connect()

    def q(where: str) -> list[str]:
        return [
            r[0] for r in con.sql(f"SELECT eventID FROM '{files}' WHERE {where} ORDER BY sequence").fetchall()
        ]

    assert q(
        "eventName = 'Decrypt' AND json_extract_string(requestParameters, '$.encryptionContext.object') = 's3://b/a'"
    ) == ids(cli, "--event-name", "Decrypt", "--encryption-context", "object=s3://b/a")
    arn_other = f"arn:aws:kms:us-east-1:111122223333:key/{story['other']}"
    assert q(f"EXISTS (SELECT 1 FROM unnest(resources) AS t(r) WHERE r.ARN = '{arn_other}')") == ids(
        cli, "--key-id", story["other"]
    )
    assert q("errorCode IS NOT NULL AND userIdentity.arn = 'arn:aws:iam::111122223333:root'") == ids(
        cli, "--errors-only", "--principal", "arn:aws:iam::111122223333:root"
    )
    assert q("sourceIPAddress = '127.0.0.1'") == ids(cli, "--source-ip-address", "127.0.0.1")
    typed = con.sql(
        f"SELECT typeof(eventTime), typeof(sequence), typeof(readOnly) FROM '{files}' LIMIT 1"
    ).fetchall()[0]
    assert typed == ("TIMESTAMP WITH TIME ZONE", "BIGINT", "BOOLEAN")


def test_exports_are_incremental_and_take_a_time_range(
    story: dict[str, Any], cli: Any, tmp_path: Path
) -> None:
    out = tmp_path / "ct"
    first = cli("audit", "export", "--format", "cloudtrail", "--out", str(out), "--output", "json").json()
    assert first["Events"] == len(ids(cli)) - 0 and first["Files"]
    again = cli("audit", "export", "--format", "cloudtrail", "--out", str(out), "--output", "json").json()
    assert again["Events"] == 0 and again["Files"] == []  # nothing new (the export itself is not audited)
    cli("encrypt", "--key-id", story["key"], "--plaintext", "aGk=")
    more = cli("audit", "export", "--format", "cloudtrail", "--out", str(out), "--output", "json").json()
    assert more["Events"] == 1 and more["LastSequence"] == first["LastSequence"] + 1
    pq = cli(
        "audit", "export", "--format", "parquet", "--out", str(tmp_path / "p2"), "--start-time", "2999-01-01"
    )
    assert pq.code == 0 and "exported 0 event(s)" in pq.out
    assert (
        cli(
            "audit", "--event-name", "Decrypt", "export", "--format", "parquet", "--out", str(tmp_path / "x")
        ).code
        == 252
    )


def test_cloudtrail_layout_reads_back_with_duckdb(story: dict[str, Any], cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "ct"
    doc = cli("audit", "export", "--format", "cloudtrail", "--out", str(out), "--output", "json").json()
    for name in doc["Files"]:
        parts = Path(name).parts
        assert parts[:4] == ("AWSLogs", "111122223333", "CloudTrail", "us-east-1") and len(parts) == 8
        assert parts[-1].startswith("111122223333_CloudTrail_us-east-1_") and parts[-1].endswith(".json.gz")
        records = json.loads(gzip.decompress((out / name).read_bytes()))["Records"]
        assert records and all(r["eventSource"] for r in records)
    glob = str(out / "AWSLogs" / "**" / "*.json.gz")
    rows = duckdb.sql(
        f"SELECT r.eventID FROM (SELECT unnest(Records) AS r FROM read_json('{glob}', "
        "columns={'Records': 'STRUCT(eventID VARCHAR, eventName VARCHAR, sequence BIGINT)[]'})) "
        "WHERE r.eventName = 'Decrypt' ORDER BY r.sequence"
    ).fetchall()
    assert [r[0] for r in rows] == ids(cli, "--event-name", "Decrypt")


def test_parquet_without_pyarrow_is_a_clear_error(
    story: dict[str, Any], cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins

    real = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    res = cli("audit", "export", "--format", "parquet", "--out", str(tmp_path / "p"))
    assert res.code == 253 and "kmscli[parquet]" in res.err


def test_export_errors_and_foreign_logs(env: Path, cli: Any, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.jsonl"
    record = {"eventTime": "2026-11-01T00:00:00Z", "eventName": "Decrypt", "awsRegion": "eu-west-1"}
    foreign.write_text(json.dumps(record) + "\n" + json.dumps({**record, "sequence": 7}) + "\n")
    out = tmp_path / "out"
    res = cli(
        "audit",
        "export",
        "--format",
        "cloudtrail",
        "--out",
        str(out),
        "--log-file",
        str(foreign),
        "--output",
        "json",
    )
    assert res.code == 0, res.err
    assert res.json()["Events"] == 1 and res.json()["SkippedWithoutSequence"] == 1
    assert res.json()["SkippedWithoutTime"] == 0
    assert res.json()["Files"][0].startswith("AWSLogs/000000000000/CloudTrail/eu-west-1/2026/11/01/")
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    res = cli(
        "audit", "export", "--format", "cloudtrail", "--out", str(blocked / "sub"), "--log-file", str(foreign)
    )
    assert res.code == 253 and "cannot create the export folder" in res.err
    (out / ".kmscli-export-cloudtrail.json").write_text("{}")
    res = cli("audit", "export", "--format", "cloudtrail", "--out", str(out), "--log-file", str(foreign))
    assert res.code == 253 and "malformed" in res.err
    assert cli("audit", "export", "--format", "csv", "--out", str(out)).code == 252


@pytest.mark.parametrize("when", [None, 12, "yesterday"])
def test_cloudtrail_export_counts_records_without_a_time_instead_of_dropping_them_silently(
    cli: Any, tmp_path: Path, when: Any
) -> None:
    """A CloudTrail file belongs to a day; a record without a readable eventTime was dropped without a
    word while the incremental state moved past it. It is now counted (Parquet exports it)."""
    base = {"eventName": "Encrypt", "awsRegion": "eu-west-1", "eventTime": "2026-11-01T00:00:00Z"}
    odd = {k: v for k, v in base.items() if k != "eventTime"}
    if when is not None:
        odd["eventTime"] = when
    log = tmp_path / "foreign.jsonl"
    log.write_text(
        "".join(json.dumps({**r, "sequence": n}) + "\n" for n, r in enumerate([base, odd, base], 1))
    )
    args = ["audit", "export", "--log-file", str(log), "--out"]
    res = cli(*args, str(tmp_path / "ct"), "--format", "cloudtrail", "--output", "json")
    assert res.code == 0, res.err
    assert (res.json()["Events"], res.json()["SkippedWithoutTime"], res.json()["LastSequence"]) == (2, 1, 3)
    res = cli(*args, str(tmp_path / "ct2"), "--format", "cloudtrail")
    assert res.out.strip().endswith("(up to sequence 3); skipped 1 without a readable eventTime")
    res = cli(*args, str(tmp_path / "pq"), "--format", "parquet", "--output", "json")
    assert (res.json()["Events"], res.json()["SkippedWithoutTime"]) == (3, 0)
