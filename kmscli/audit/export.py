"""``kmscli audit export``: the log in CloudTrail's S3 layout, or as Parquet (docs/audit.md, "Exporting").

* ``cloudtrail``: ``DIR/AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_
  YYYYMMDDTHHMMZ_UNIQUE.json.gz``, each file ``{"Records": [...]}`` holding one day's events of one
  account and region in log order, at most :data:`RECORDS_PER_FILE` per file. The records are the
  log's lines as stored (with kmscli's ``sequence`` and ``chain`` members, which CloudTrail readers
  ignore). Athena's CloudTrail table, Spark and DuckDB read it as they read AWS's own.
* ``parquet`` (needs pyarrow: ``pip install 'kmscli[parquet]'``): one typed row per event in
  ``DIR/kmscli-audit-FIRST-LAST.parquet`` (sequence numbers); nested members that vary by operation
  (``requestParameters``, ``responseElements``, ``additionalEventData``) are JSON text, as in
  Athena's CloudTrail table.

Both take a time range and are incremental: ``DIR/.kmscli-export-FORMAT.json`` records the last
sequence number read, and the next run reads only the events appended after it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from kmscli.audit import query
from kmscli.errors import VaultEnvironmentError
from kmscli.ids import is_account_id
from kmscli.vault import fs

FORMATS = ("cloudtrail", "parquet")
RECORDS_PER_FILE = 10_000
ROWS_PER_GROUP = 8192


class ExportError(VaultEnvironmentError):
    """The export cannot run (pyarrow missing, unusable output folder, unreadable state): exit 253."""


class Result(NamedTuple):
    """What one export run did."""

    files: list[str]
    events: int
    last_sequence: int
    skipped: int
    untimed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON form (``--output json``)."""
        return {
            "Files": self.files,
            "Events": self.events,
            "LastSequence": self.last_sequence,
            "SkippedWithoutSequence": self.skipped,
            "SkippedWithoutTime": self.untimed,
        }


def _state_path(out: Path, fmt: str) -> Path:
    return out / f".kmscli-export-{fmt}.json"


def _read_state(out: Path, fmt: str) -> int:
    path = _state_path(out, fmt)
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return 0
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read the export state {path}: {exc}") from None
    last = doc.get("lastSequence") if isinstance(doc, dict) else None
    if not isinstance(last, int) or isinstance(last, bool) or not 0 <= last <= MAX_SEQUENCE:
        raise ExportError(f"the export state {path} is malformed; remove it to export everything again")
    return last


#: The largest sequence number an export takes (Parquet's ``sequence`` is a signed 64-bit integer).
MAX_SEQUENCE = 2**63 - 1


def _sequence(event: Any) -> int | None:
    """The record's ``sequence`` when it is one the writer could make (1 .. :data:`MAX_SEQUENCE`)."""
    seq = event.get("sequence") if isinstance(event, dict) else None
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq <= MAX_SEQUENCE:
        return None
    return seq


def _selected(
    paths: list[Path], filters: query.Filters, after: int, indexes: Any, counts: dict[str, int], listed: bool
) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Matching (raw line, event) with a sequence above ``after``; counts records lacking one."""
    for raw, event in query.scan(paths, filters, indexes=indexes, listed=listed):
        seq = _sequence(event)
        if seq is None:
            counts["skipped"] += 1
            continue
        if seq > after:
            counts["last"] = max(counts["last"], seq)
            yield raw, event


def _file_last_sequence(path: Path) -> int | None:
    """The sequence of the last line of one file (None when it has no readable last record)."""
    from kmscli.audit.log import _last_line

    with fs.open_read(path) as fh:
        line, _torn = _last_line(fh)
    return _sequence(query.parse_line(line)) if line is not None else None


def _last_sequence(paths: list[Path]) -> int:
    """The sequence of the log's last readable record (0 when none): where the next run starts."""
    for path in reversed(paths):
        seq = _file_last_sequence(path)
        if seq is not None:
            return seq
    return 0


def _unread(paths: list[Path], after: int) -> list[Path]:
    """The files that may hold records after sequence ``after``: a segment whose last record is at
    or before it was read completely by an earlier run (sequences grow along the log)."""
    if not after:
        return paths
    for i, path in enumerate(paths):
        seq = _file_last_sequence(path)
        if seq is None or seq > after:
            return paths[i:]
    return []


def export(
    paths: list[Path],
    filters: query.Filters,
    out: Path,
    fmt: str,
    indexes: Any = None,
    *,
    listed: bool = True,
) -> Result:
    """Export the events of ``paths`` selected by ``filters`` (a time range) that are newer than the
    previous run's into ``out``. ``listed``: the paths are a folder's segments, not one file the
    user named (:func:`kmscli.audit.query.open_log`)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose {' or '.join(FORMATS)}")
    writer = _parquet_writer() if fmt == "parquet" else None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the export folder {out}: {exc.strerror}") from None
    after = _read_state(out, fmt)
    end = _last_sequence(paths)
    counts = {"skipped": 0, "last": after, "untimed": 0}
    events = _selected(_unread(paths, after), filters, after, indexes, counts, listed)
    if writer is not None:
        files, exported = writer(events, out)
    else:
        files, exported = _write_cloudtrail(events, out, counts)
    last = max(counts["last"], end, after)
    fs.atomic_write(_state_path(out, fmt), json.dumps({"lastSequence": last}).encode() + b"\n")
    return Result(files, exported, last, counts["skipped"], counts["untimed"])


# -- CloudTrail's layout ------------------------------------------------------------------------------


def _day_and_place(event: dict[str, Any]) -> tuple[str, str, dt.datetime] | None:
    when = query.event_datetime(event)
    if when is None:
        return None
    account = event.get("recipientAccountId")
    identity = event.get("userIdentity")
    if not isinstance(account, str) and isinstance(identity, dict):
        account = identity.get("accountId")
    region = event.get("awsRegion")
    if not isinstance(account, str) or not is_account_id(account):
        account = "000000000000"
    if not isinstance(region, str) or not region.replace("-", "").isalnum():
        region = "unknown"
    return account, region, when.astimezone(dt.UTC)


def _write_cloudtrail(
    events: Iterable[tuple[bytes, dict[str, Any]]], out: Path, counts: dict[str, int]
) -> tuple[list[str], int]:
    """The CloudTrail files; a record without a readable ``eventTime`` has no day folder to go to and
    is counted in ``counts["untimed"]`` (the run still moves past it)."""
    files: list[str] = []
    group: tuple[str, str, str] | None = None
    lines: list[bytes] = []
    first = (0, dt.datetime.min)
    last_seq = 0
    count = 0

    def flush() -> None:
        if not lines or group is None:
            return
        account, region, day = group
        stamp = first[1].strftime("%Y%m%dT%H%MZ")
        name = f"{account}_CloudTrail_{region}_{stamp}_{first[0]:010d}{last_seq:010d}.json.gz"
        folder = out / "AWSLogs" / account / "CloudTrail" / region / day
        folder.mkdir(parents=True, exist_ok=True)
        body = b'{"Records":[' + b",".join(lines) + b"]}\n"
        fs.atomic_write(folder / name, gzip.compress(body, compresslevel=6, mtime=0))
        files.append(str((folder / name).relative_to(out)))
        lines.clear()

    for raw, event in events:
        place = _day_and_place(event)
        if place is None:
            counts["untimed"] += 1
            continue
        account, region, when = place
        key = (account, region, when.strftime("%Y/%m/%d"))
        if key != group or len(lines) >= RECORDS_PER_FILE:
            flush()
            group = key
            first = (int(event["sequence"]), when)
        lines.append(raw)
        last_seq = int(event["sequence"])
        count += 1
    flush()
    return files, count


# -- Parquet ------------------------------------------------------------------------------------------

_IDENTITY = ("type", "principalId", "arn", "accountId", "userName", "accessKeyId")
_STRINGS = (
    "eventVersion",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestID",
    "eventID",
    "eventType",
    "recipientAccountId",
    "eventCategory",
    "chain",
)
_JSON = ("requestParameters", "responseElements", "additionalEventData")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _row(event: dict[str, Any]) -> dict[str, Any]:
    ident = event.get("userIdentity")
    ident = ident if isinstance(ident, dict) else {}
    resources = event.get("resources")
    row: dict[str, Any] = {name: _text(event.get(name)) for name in _STRINGS}
    row["userIdentity"] = {name: _text(ident.get(name)) for name in _IDENTITY}
    row["eventTime"] = query.event_datetime(event)
    for name in _JSON:
        value = event.get(name)
        row[name] = None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    row["readOnly"] = _flag(event.get("readOnly"))
    row["managementEvent"] = _flag(event.get("managementEvent"))
    row["resources"] = [
        {"accountId": _text(r.get("accountId")), "type": _text(r.get("type")), "ARN": _text(r.get("ARN"))}
        for r in (resources if isinstance(resources, list) else [])
        if isinstance(r, dict)
    ]
    row["sequence"] = event["sequence"]
    return row


def parquet_schema() -> Any:
    """The Parquet schema: one typed row per event (docs/audit.md, "Exporting")."""
    import pyarrow as pa

    text = pa.string()
    fields = [pa.field(name, text) for name in _STRINGS]
    fields.append(pa.field("userIdentity", pa.struct([pa.field(n, text) for n in _IDENTITY])))
    fields.append(pa.field("eventTime", pa.timestamp("us", tz="UTC")))
    fields += [pa.field(name, text) for name in _JSON]
    fields.append(pa.field("readOnly", pa.bool_()))
    fields.append(pa.field("managementEvent", pa.bool_()))
    fields.append(
        pa.field(
            "resources",
            pa.list_(pa.struct([pa.field("accountId", text), pa.field("type", text), pa.field("ARN", text)])),
        )
    )
    fields.append(pa.field("sequence", pa.int64()))
    return pa.schema(fields)


def _parquet_writer() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ExportError(
            "--format parquet needs pyarrow: pip install 'kmscli[parquet]' (or pip install pyarrow)"
        ) from None
    return _write_parquet


def _write_parquet(events: Iterable[tuple[bytes, dict[str, Any]]], out: Path) -> tuple[list[str], int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    tmp = out / f".tmp-kmscli-audit-{os.urandom(6).hex()}.parquet"
    writer: Any = None
    rows: list[dict[str, Any]] = []
    first = last = 0
    count = 0
    try:
        for _raw, event in events:
            rows.append(_row(event))
            first = first or int(event["sequence"])
            last = int(event["sequence"])
            count += 1
            if len(rows) >= ROWS_PER_GROUP:
                writer = writer or pq.ParquetWriter(str(tmp), schema)
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows.clear()
        if rows:
            writer = writer or pq.ParquetWriter(str(tmp), schema)
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
        if writer is None:
            return [], 0
        writer.close()
        writer = None
        name = f"kmscli-audit-{first:012d}-{last:012d}.parquet"
        os.chmod(tmp, fs.FILE_MODE)
        os.replace(tmp, out / name)
        return [name], count
    except (OSError, pa.ArrowException) as exc:
        raise VaultEnvironmentError(f"cannot write the Parquet export in {out}: {exc}") from None
    finally:
        if writer is not None:
            writer.close()
        if tmp.exists():
            tmp.unlink()
