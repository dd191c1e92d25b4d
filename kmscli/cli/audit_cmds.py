"""``kmscli audit``: query (the group itself), ``verify``, ``stats`` and ``tail`` over the audit log.

Queries stream: events are written as they are found, so memory stays flat whatever the log's size.
On a terminal the default view is a table; when piped it is JSON lines (one event per line).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from kmscli.audit.query import COLUMNS, Filters, QueryError, ScanStats, parse_time, summary_row
from kmscli.cli import options as o
from kmscli.cli.globals import (
    add_options,
    click_option,
    make_invocation,
    merged_globals,
    refuse_endpoint,
    use_color,
)
from kmscli.cli.listing import ListingGroup
from kmscli.cli.render import cell, visible
from kmscli.errors import KmscliError, UsageError
from kmscli.invocation import Invocation
from kmscli.service.features import auditops

F = TypeVar("F", bound=Callable[..., Any])

QUERY_FORMATS = ("json", "jsonl", "text", "table", "yaml", "yaml-stream")
STATS_FORMATS = ("json", "text", "table", "yaml", "yaml-stream")
VERIFY_FORMATS = ("json", "text", "table", "yaml", "yaml-stream")
#: Formats whose records are data (exact, ``--query`` applies); the others are views for people.
DATA_FORMATS = ("json", "jsonl", "yaml", "yaml-stream")
FILTER_NAMES = (
    "key_id",
    "event_name",
    "principal",
    "start_time",
    "end_time",
    "errors_only",
    "encryption_context",
    "access_key_id",
    "source_ip_address",
    "log_file",
)
_META = "kmscli.audit"
#: Rows per rendered table block; blocks share fixed column widths so they line up.
TABLE_BLOCK = 200


def audit_globals(formats: tuple[str, ...]) -> Callable[[F], F]:
    """The global options, with ``--output`` limited to what this command can render."""

    def decorate(func: F) -> F:
        output = o.Opt("--output", o.VALUE, o.OPTS, "output", f"Output format: {', '.join(formats)}.")
        declared = [output if opt.name == "--output" else opt for opt in o.GLOBAL_OPTIONS]
        return add_options(
            func, [click_option(opt, choices=formats if opt is output else None) for opt in declared]
        )

    return decorate


def filter_options(func: F) -> F:
    """The event filters shared by the query, stats and tail."""
    options = [
        click.option(
            "--key-id",
            help="Key id, key ARN, alias name or alias ARN (an alias also matches "
            "events recorded under the alias name).",
        ),
        click.option("--event-name", multiple=True, help="Event name, e.g. Decrypt (repeatable)."),
        click.option("--principal", help="Caller ARN, principal id or user/role name."),
        click.option("--start-time", help="ISO 8601 time or relative (30m, 1h, 7d, 2w ago)."),
        click.option("--end-time", help="ISO 8601 time or relative (30m, 1h, 7d, 2w ago)."),
        click.option("--errors-only", is_flag=True, default=None, help="Only failed calls."),
        click.option(
            "--encryption-context",
            multiple=True,
            metavar="K=V",
            help="Encryption context pair the request carried (repeatable; all must match).",
        ),
        click.option(
            "--access-key-id",
            metavar="AKID",
            help="Access key id the caller signed with (userIdentity.accessKeyId).",
        ),
        click.option(
            "--source-ip-address",
            metavar="IP",
            help="Address the call came from (sourceIPAddress), compared exactly.",
        ),
        click.option(
            "--log-file",
            type=click.Path(exists=True, path_type=Path),
            help="Query this log file (or folder of segments) instead of the vault's; no vault "
            "or passphrase needed.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _merged(kwargs: dict[str, Any], filters: bool = True) -> tuple[Invocation, dict[str, Any]]:
    """(invocation, filters): this command's values win over the audit group's, then the root's."""
    ctx = click.get_current_context()
    meta = ctx.meta.get(_META, {})
    inv = make_invocation(merged_globals(kwargs, meta.get("globals", {})))
    refuse_endpoint(inv)  # the audit log is the local vault's
    found = dict(meta.get("filters", {}))
    if filters:
        for name in FILTER_NAMES:
            value = kwargs.pop(name, None)
            if value not in (None, ()):
                found[name] = value
    return inv, found


def _context_pairs(values: Iterable[str]) -> list[tuple[str, str]]:
    pairs = []
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise UsageError(f"Error parsing parameter '--encryption-context': expected K=V, got {text!r}")
        pairs.append((key, value))
    return pairs


def _source(inv: Invocation, found: dict[str, Any]) -> tuple[Path, Filters, dict[str, str]]:
    """The log to read, the filters, and key id -> alias names for display."""
    now = dt.datetime.now(dt.UTC)
    key_id = found.get("key_id")
    try:
        start = parse_time(found["start_time"], now) if found.get("start_time") else None
        end = parse_time(found["end_time"], now) if found.get("end_time") else None
        targets: set[str] = set()
        aliases: dict[str, str] = {}
        if found.get("log_file"):
            target = Path(found["log_file"])
        else:
            settings = inv.settings
            target = auditops.audit_folder(settings)
            aliases = auditops.alias_names(settings)
            if key_id:
                targets = auditops.alias_targets(settings, key_id)
        filters = Filters.build(
            key_id=key_id,
            alias_targets=targets,
            event_names=found.get("event_name") or (),
            principal=found.get("principal"),
            start=start,
            end=end,
            errors_only=bool(found.get("errors_only")),
            context=_context_pairs(found.get("encryption_context") or ()),
            access_key_id=found.get("access_key_id"),
            source_ip=found.get("source_ip_address"),
        )
    except QueryError as exc:
        raise UsageError(str(exc)) from None
    return target, filters, aliases


#: Below this much log, a query without a session scans rather than derive the key for the index.
INDEX_WORTH_KDF = 256 * 1024 * 1024


def _indexes(inv: Invocation, found: dict[str, Any], target: Path, filters: Filters) -> dict[str, Any]:
    """The vault's authenticated segment indexes when a selective query can use them (never for
    ``--log-file``: a foreign log is scanned). Without a session, unlocking costs the KDF (about
    0.3 s with the default parameters), more than scanning a log under INDEX_WORTH_KDF."""
    if found.get("log_file") or filters == Filters():
        return {}
    if not inv.sources.session_token and auditops.log_bytes(target) < INDEX_WORTH_KDF:
        return {}
    return auditops.query_indexes(inv.settings, inv.sources, target)


class _Bytes:
    """Buffered byte output to stdout (its binary buffer when it has one)."""

    def __init__(self) -> None:
        sys.stdout.flush()
        self.parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        self.parts.append(data)
        self.size += len(data)
        if self.size >= 1 << 16:
            self.flush()

    def flush(self) -> None:
        data = b"".join(self.parts)
        self.parts, self.size = [], 0
        raw = getattr(sys.stdout, "buffer", None)  # looked up here: stdout may be the pager's input
        if raw is not None:
            raw.write(data)
            raw.flush()
        else:
            sys.stdout.write(data.decode())
            sys.stdout.flush()


class EventWriter:
    """Writes a stream of (raw line, event) in one output format, a block at a time."""

    def __init__(self, fmt: str, inv: Invocation, aliases: dict[str, str]) -> None:
        self.fmt = fmt
        self.aliases = aliases
        self.color = use_color(inv)
        self.width = None if sys.stdout.isatty() else 160  # decided before any pager takes stdout
        if self.width is None:
            import shutil

            self.width = shutil.get_terminal_size().columns
        self.query = inv.options.get("query")
        if self.query and fmt not in DATA_FORMATS:
            raise UsageError("--query works with --output json, jsonl, yaml or yaml-stream for audit queries")
        self.out = _Bytes()
        self.count = 0
        self.rows: list[tuple[list[str], bool]] = []
        self.console: Any = None

    def _json(self, raw: bytes, event: dict[str, Any]) -> bytes:
        if not self.query:
            return raw
        import jmespath

        return json.dumps(jmespath.search(self.query, event), ensure_ascii=False).encode()

    def add(self, raw: bytes, event: dict[str, Any]) -> None:
        """Write one event (tables are written in blocks)."""
        if self.fmt == "jsonl":
            self.out.write(self._json(raw, event) + b"\n")
        elif self.fmt == "json":
            self.out.write((b"[\n" if self.count == 0 else b",\n") + self._json(raw, event))
        elif self.fmt in ("yaml", "yaml-stream"):  # a YAML list, one item per event as it is found
            from kmscli.cli.render import to_yaml_stream_item

            value = event
            if self.query:
                import jmespath

                value = jmespath.search(self.query, event)
            self.out.write(to_yaml_stream_item(value).encode())
        elif self.fmt == "text":
            row = summary_row(event, self.aliases)
            self.out.write("\t".join(visible(v) for v in row).encode() + b"\n")
        else:
            self.rows.append((summary_row(event, self.aliases), bool(event.get("errorCode"))))
            if len(self.rows) >= TABLE_BLOCK:
                self._table_block()
        self.count += 1

    def add_batch(self, batch: list[tuple[bytes, dict[str, Any]]]) -> None:
        """Write several events."""
        if self.query or self.fmt not in ("json", "jsonl"):
            for raw, event in batch:
                self.add(raw, event)
        else:
            self.add_raw([raw for raw, _ in batch])

    def add_raw(self, lines: list[bytes]) -> None:
        """Write several records as stored (json and jsonl without --query), in one write."""
        if not lines:
            return
        if self.fmt == "jsonl":
            self.out.write(b"\n".join(lines) + b"\n")
        else:
            self.out.write((b"[\n" if self.count == 0 else b",\n") + b",\n".join(lines))
        self.count += len(lines)

    def _table_block(self) -> None:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        if self.console is None:
            self.console = Console(
                file=sys.stdout,
                force_terminal=self.color,
                no_color=not self.color,
                width=self.width,
            )
            self.out.flush()
        first = self.count <= len(self.rows)
        table = Table(box=box.SIMPLE_HEAD, show_header=first, expand=True, show_edge=False, pad_edge=False)
        # fixed: the time, and the result (most AWS error codes); the rest share what is left, so at
        # 160 columns an account-root ARN and a typical encryption context each fit on one line
        widths = (20, 0, 0, 0, 0, 26)
        ratios = (0, 4, 2, 3, 4, 0)
        for name, width, ratio in zip(COLUMNS, widths, ratios, strict=True):
            if width:
                table.add_column(name, width=width, no_wrap=name == "Time", overflow="fold")
            else:
                table.add_column(name, ratio=ratio, overflow="fold")
        for row, failed in self.rows:
            table.add_row(*(cell(v) for v in row), style="red" if failed else None)
        if self.rows or first:
            self.console.print(table)
        self.rows = []

    def flush(self) -> None:
        """Write out everything added so far (tables print their pending rows)."""
        if self.fmt == "table" and self.rows:
            self._table_block()
        self.out.flush()

    def close(self) -> None:
        """Finish the output (closing bracket, last table block)."""
        if self.fmt == "json":
            self.out.write(b"[]\n" if self.count == 0 else b"\n]\n")
        elif self.fmt == "yaml" and self.count == 0:
            self.out.write(b"[]\n")
        elif self.fmt == "table":
            if self.rows or self.count == 0:
                self._table_block()
            if self.count == 0:
                self.console.print("No matching events.", style="dim")
        self.out.flush()


def _default_format(inv: Invocation, tty: str, piped: str, allowed: tuple[str, ...]) -> str:
    fmt = inv.options.get("output")
    if not fmt:
        return tty if sys.stdout.isatty() else piped
    if fmt not in allowed:  # given to the root command, whose choices differ
        raise UsageError(f"--output {fmt} is not available here; choose from {', '.join(allowed)}")
    return str(fmt)


def _warn_unreadable(stats: ScanStats) -> None:
    if stats.unreadable:
        sys.stderr.write(
            f"kmscli: warning: skipped {stats.unreadable} unreadable line(s); "
            "run `kmscli audit verify` to locate them\n"
        )


class VerificationFailed(KmscliError):
    """``audit verify`` found a problem: exit 1 (the report is on stdout)."""

    exit_code = 1


def _no_cycle_collection() -> None:
    """Parsed events hold no reference cycles, and this process ends after the scan: the cyclic
    garbage collector only costs time here (about a quarter of a large query)."""
    import gc

    gc.disable()


class AuditGroup(ListingGroup):
    """``kmscli audit`` queries; its subcommands verify, summarise and follow."""


@click.group(cls=AuditGroup, invoke_without_command=True)
@filter_options
@click.option("--max-items", type=click.IntRange(min=1), help="Stop after this many events.")
@audit_globals(QUERY_FORMATS)
@click.pass_context
def audit(ctx: click.Context, max_items: int | None, **kwargs: Any) -> None:
    """Query the audit log: who used which key, when, with which encryption context, and the result.

    On a terminal the default view is a table; when piped, JSON lines. `--output json` prints one
    JSON array. Filters combine with AND; repeated --event-name values combine with OR.
    """
    inv, found = _merged(kwargs)
    if ctx.invoked_subcommand is not None:
        ctx.meta[_META] = {"globals": inv.options, "filters": found}
        if max_items is not None:
            ctx.meta[_META]["max_items"] = max_items
        return
    fmt = _default_format(inv, "table", "jsonl", QUERY_FORMATS)
    target, filters, aliases = _source(inv, found)
    writer = EventWriter(fmt, inv, aliases)
    from kmscli.cli.pager import paged_stdout

    with paged_stdout(inv):
        _query(writer, target, filters, fmt, inv, max_items, _indexes(inv, found, target, filters))


def _query(
    writer: EventWriter,
    target: Path,
    filters: Filters,
    fmt: str,
    inv: Invocation,
    max_items: int | None,
    indexes: dict[str, Any],
) -> None:
    stats = ScanStats()
    _no_cycle_collection()
    remaining = max_items
    raw = fmt in ("json", "jsonl") and not inv.options.get("query")
    batches: Iterable[list[Any]] = auditops.query_batches(target, filters, stats, raw=raw, indexes=indexes)
    for batch in batches:
        if remaining is not None:
            batch = batch[:remaining]
            remaining -= len(batch)
        if raw:
            writer.add_raw(batch)
        else:
            writer.add_batch(batch)
        if remaining == 0:
            break
    writer.close()
    _warn_unreadable(stats)


@audit.command()
@click.option("--repair", is_flag=True, help="Cut a torn final line (only that) and record the repair.")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    metavar="FILE",
    help="A statement printed earlier by `kmscli audit checkpoint`: fail unless the log still extends it.",
)
@audit_globals(VERIFY_FORMATS)
def verify(repair: bool, checkpoint_file: str | None, **kwargs: Any) -> None:
    """Check the chain across every segment; name the first bad line as FILE:LINE and what is wrong
    (edited, deleted, reordered, inserted, torn, truncated, padding, folder, state). Exits 1 when
    anything is found."""
    from kmscli.cli.prompt import tty_prompt

    inv, found = _merged(kwargs, filters=False)
    if found:
        raise UsageError("audit verify takes no filters: it always checks the whole log")
    statement = _read_checkpoint(checkpoint_file) if checkpoint_file is not None else None
    report = auditops.verify(inv.settings, inv.sources, tty_prompt(), repair=repair, checkpoint=statement)
    fmt = inv.options.get("output") or "text"
    if fmt != "text":
        from kmscli.cli.run import emit

        emit(report.as_dict(), inv, fmt, "AuditVerify")
    else:
        lines = []
        if report.repaired:
            r = report.repaired
            lines.append(
                f"repaired: removed {r['RemovedBytes']} torn byte(s) at {r['File']}:{r['Line']}; "
                f"recorded as sequence {r['Sequence']}"
            )
        for problem in report.problems():
            lines.append(visible(f"{problem.location()}: {problem.kind}: {problem.detail}"))
        for bad in report.indexes:
            lines.append(
                visible(f"{bad.segment}: index {bad.kind}: {bad.detail}; run `kmscli audit reindex`")
            )
        if report.ok:
            lines.append(
                f"OK: {report.events} events in {len(report.segments)} segment(s), chain intact "
                f"(last sequence {report.last_sequence})"
            )
        elif report.problem is None and report.torn is None:
            lines.append(f"FAILED: the chain is intact ({report.events} events) but an index is not")
        else:
            lines.append(f"FAILED: {report.events} events verified before the first problem")
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    if not report.ok:
        raise VerificationFailed(
            "the audit log has a torn final line"
            if report.torn is not None and report.problem is None and not report.findings
            else "the audit log failed verification"
            if report.problem is not None or report.torn is not None or report.findings
            else "an audit index failed verification"
        )


def _read_checkpoint(name: str) -> bytes:
    try:
        with open(name, "rb") as fh:
            data = fh.read(64 * 1024 + 1)
    except OSError as exc:
        raise UsageError(f"cannot read --checkpoint {name}: {exc.strerror or exc}") from None
    if len(data) > 64 * 1024:
        raise UsageError(f"--checkpoint {name} is larger than 64 KiB: not a checkpoint")
    return data


CHECKPOINT_FORMATS = ("json", "text", "table", "yaml")


@audit.command()
@audit_globals(CHECKPOINT_FORMATS)
def checkpoint(**kwargs: Any) -> None:
    """Print a short authenticated statement of the log's head (sequence, chain value, time), after
    recording an AuditCheckpoint event. Keep it off this machine; `kmscli audit verify --checkpoint
    FILE` later fails if the log no longer extends it (a rolled-back or cut log)."""
    from kmscli.cli.prompt import tty_prompt
    from kmscli.cli.run import emit

    inv, found = _merged(kwargs, filters=False)
    if found:
        raise UsageError("audit checkpoint takes no filters: it states the whole log's head")
    data = auditops.checkpoint(inv.settings, inv.sources, tty_prompt())
    emit(data, inv, _default_format(inv, "json", "json", CHECKPOINT_FORMATS), "AuditCheckpoint")


@audit.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["cloudtrail", "parquet"]),
    required=True,
    help="cloudtrail: CloudTrail's S3 layout (AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/*.json.gz); "
    "parquet: one typed row per event (needs pyarrow: kmscli[parquet]).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write into; a second run adds only the events appended since the first.",
)
@click.option("--start-time", help="Export events from this time (ISO 8601 or relative: 7d).")
@click.option("--end-time", help="Export events up to this time (ISO 8601 or relative).")
@click.option(
    "--log-file",
    type=click.Path(exists=True, path_type=Path),
    help="Export this log file (or folder of segments) instead of the vault's.",
)
@audit_globals(VERIFY_FORMATS)
def export(fmt: str, out: Path, **kwargs: Any) -> None:
    """Export the log for Athena, Spark or DuckDB, incrementally (docs/audit.md, "Exporting")."""
    own = {name: kwargs.pop(name) for name in ("start_time", "end_time", "log_file") if kwargs.get(name)}
    inv, inherited = _merged(kwargs)
    if set(inherited) - {"start_time", "end_time", "log_file"}:
        raise UsageError("audit export takes a time range (--start-time, --end-time) and no other filter")
    found = {**inherited, **own}
    target, filters, _aliases = _source(inv, found)
    result = auditops.export_log(target, filters, out, fmt, _indexes(inv, found, target, filters))
    _summary(
        inv,
        result.as_dict(),
        "Export",
        f"exported {result.events} event(s) in {len(result.files)} file(s) to {out} "
        f"(up to sequence {result.last_sequence})",
    )


@audit.command()
@audit_globals(VERIFY_FORMATS)
def reindex(**kwargs: Any) -> None:
    """Rebuild the sidecar index of every segment (queries use it to skip lines that cannot match;
    a missing or stale index only makes them scan). Records a ReindexAuditLog event."""
    from kmscli.cli.prompt import tty_prompt

    inv, found = _merged(kwargs, filters=False)
    if found:
        raise UsageError("audit reindex takes no filters: it always indexes every segment")
    written = auditops.reindex(inv.settings, inv.sources, tty_prompt())
    _summary(inv, {"Indexes": written}, "Reindex", f"indexed {len(written)} segment(s)")


def _summary(inv: Invocation, data: dict[str, Any], title: str, line: str) -> None:
    """A one-line report by default; ``--output FORMAT`` (or ``--query``) prints ``data`` in it."""
    fmt = inv.options.get("output")
    if fmt or inv.options.get("query"):
        from kmscli.cli.run import emit

        emit(data, inv, fmt or "json", title)
        return
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@audit.command()
@filter_options
@click.option(
    "--width",
    type=click.IntRange(min=10, max=200),
    default=50,
    show_default=True,
    help="Width of the per-day chart's bars.",
)
@audit_globals(STATS_FORMATS)
def stats(width: int, **kwargs: Any) -> None:
    """Counts by event, key, principal and error over the selected events, and a per-day chart."""
    from kmscli.audit.stats import collect

    inv, found = _merged(kwargs)
    target, filters, aliases = _source(inv, found)
    scan_stats = ScanStats()
    _no_cycle_collection()
    indexes = _indexes(inv, found, target, filters)
    data = collect(auditops.matching_events(target, filters, scan_stats, indexes), aliases)
    fmt = _default_format(inv, "table", "json", STATS_FORMATS)
    if fmt == "table" and not inv.options.get("query"):
        from kmscli.cli.pager import paged_stdout

        color, tty = use_color(inv), sys.stdout.isatty()
        with paged_stdout(inv):
            _print_stats(data, width, color, tty)
    else:
        from kmscli.cli.run import emit

        emit(data, inv, fmt, "AuditStats")
    _warn_unreadable(scan_stats)


def _print_stats(data: dict[str, Any], width: int, color: bool, tty: bool) -> None:
    import shutil

    from rich import box
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

    from kmscli.audit.stats import chart_rows

    console = Console(
        file=sys.stdout,
        force_terminal=color,
        no_color=not color,
        width=shutil.get_terminal_size().columns if tty else 120,
    )
    span = f" from {data['FirstEventTime']} to {data['LastEventTime']}" if data["Total"] else ""
    console.print(Text(f"{data['Total']} events, {data['Errors']} errors{span}", style="bold"))
    tables = []
    for title, member in (
        ("Event", "ByEvent"),
        ("Key", "ByKey"),
        ("Principal", "ByPrincipal"),
        ("Error", "ByError"),
    ):
        if not data[member]:
            continue
        table = Table(title=f"By {title.lower()}", box=box.SIMPLE_HEAD, title_justify="left")
        table.add_column(title, overflow="fold")
        table.add_column("Count", justify="right")
        for name, count in data[member].items():
            table.add_row(cell(name or "-"), str(count), style="red" if member == "ByError" else None)
        tables.append(table)
    console.print(Group(*tables))
    rows = chart_rows(data["ByDay"], width)
    if rows:
        chart = Table(title="Activity per day", box=None, title_justify="left", show_header=False)
        chart.add_column("Date", no_wrap=True)
        chart.add_column("Bar", no_wrap=True)
        chart.add_column("Events", justify="right", no_wrap=True)
        for date, ok_bar, err_bar, events, errors in rows:
            bar = Text(ok_bar, style="green")
            bar.append(err_bar, style="red")
            chart.add_row(date, bar, f"{events}" + (f" ({errors} errors)" if errors else ""))
        console.print(chart)


@audit.command()
@filter_options
@click.option(
    "-n",
    "--lines",
    "count",
    type=click.IntRange(min=0, max=2**31 - 1),  # a bound keeps a huge number a parameter error (252)
    default=10,
    show_default=True,
    help="How many of the latest matching events to show first.",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new events as they are appended.")
@click.option("--poll-interval", type=click.FloatRange(min=0.0), default=1.0, hidden=True)
@click.option("--max-events", type=click.IntRange(min=0), default=None, hidden=True)
@audit_globals(QUERY_FORMATS)
def tail(count: int, follow: bool, poll_interval: float, max_events: int | None, **kwargs: Any) -> None:
    """The latest events; with --follow, new events as they arrive (Ctrl-C stops)."""

    inv, found = _merged(kwargs)
    fmt = _default_format(inv, "text", "jsonl", QUERY_FORMATS)
    if fmt == "json" and follow:
        raise UsageError("--follow writes a stream: use --output jsonl, text or table")
    target, filters, aliases = _source(inv, found)
    writer = EventWriter(fmt, inv, aliases)
    initial, position = auditops.latest_events(target, filters, count)
    for raw, event in initial:
        writer.add(raw, event)
    if not follow:
        writer.close()
        return
    writer.flush()
    for raw, event in auditops.follow_events(
        target, filters, position, poll=poll_interval, max_events=max_events
    ):
        writer.add(raw, event)
        writer.flush()
    writer.close()
