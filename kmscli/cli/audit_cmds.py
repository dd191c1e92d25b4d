"""``kmscli audit``: query (the group itself), ``verify``, ``stats`` and ``tail`` over the audit log.

What a query does once parsed is ``kmscli/cli/auditquery.py`` (Click-free: the fast path runs it
too); the options are declared once in ``kmscli/cli/options.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kmscli.audit.query import ScanStats
from kmscli.cli import options as o
from kmscli.cli.auditquery import (
    QUERY_FORMATS,
    EventWriter,
    default_format,
    given_filters,
    indexes,
    no_cycle_collection,
    run_query,
    source,
    warn_unreadable,
)
from kmscli.cli.globals import (
    Choice,
    add_options,
    click_option,
    make_invocation,
    merged_globals,
    refuse_endpoint,
    use_color,
)
from kmscli.cli.listing import ListingGroup
from kmscli.cli.render import cell, visible
from kmscli.errors import ArgumentError, KmscliError, UsageError
from kmscli.invocation import Invocation
from kmscli.service.features import auditops

F = TypeVar("F", bound=Callable[..., Any])

STATS_FORMATS = ("json", "text", "table", "yaml", "yaml-stream")
VERIFY_FORMATS = ("json", "text", "table", "yaml", "yaml-stream")
_META = "kmscli.audit"


def audit_globals(formats: tuple[str, ...]) -> Callable[[F], F]:
    """The global options, with ``--output`` limited to what this command can render."""

    def decorate(func: F) -> F:
        return add_options(func, [click_option(opt) for opt in o.narrowed_globals(formats)])

    return decorate


def filter_options(func: F) -> F:
    """The event filters shared by the query, stats and tail (``options.AUDIT_FILTER_OPTIONS``)."""
    return add_options(func, [click_option(opt) for opt in o.AUDIT_FILTER_OPTIONS])


def _query_options(func: F) -> F:
    """The query's own options (``options.AUDIT_QUERY_OPTIONS``: ``--max-items``)."""
    return add_options(func, [click_option(opt) for opt in o.AUDIT_QUERY_OPTIONS])


def _merged(kwargs: dict[str, Any], filters: bool = True) -> tuple[Invocation, dict[str, Any]]:
    """(invocation, filters): this command's values win over the audit group's, then the root's."""
    ctx = click.get_current_context()
    meta = ctx.meta.get(_META, {})
    inv = make_invocation(merged_globals(kwargs, meta.get("globals", {})))
    refuse_endpoint(inv)  # the audit log is the local vault's
    if ctx.invoked_subcommand is None:  # the subcommand judges the --output it prints
        _refuse_unprinted_format(inv, ctx.command)
    found = dict(meta.get("filters", {}))
    if filters:
        found.update(given_filters(kwargs))
        for opt in o.AUDIT_FILTER_OPTIONS:
            kwargs.pop(opt.dest, None)
    return inv, found


def _refuse_unprinted_format(inv: Invocation, command: click.Command) -> None:
    """An ``--output`` given before the command (to the root or to ``audit``), which this command
    cannot print, is refused before anything runs, as Click refuses it after the command."""
    fmt = inv.options.get("output")
    found = next((p for p in command.params if p.name == "output"), None)
    choices = getattr(getattr(found, "type", None), "choices", None)
    if fmt and choices is not None and fmt not in choices:
        raise ArgumentError(o.invalid_choice("--output", str(fmt), [str(c) for c in choices]))


class VerificationFailed(KmscliError):
    """``audit verify`` found a problem: exit 1 (the report is on stdout)."""

    exit_code = 1


class AuditGroup(ListingGroup):
    """``kmscli audit`` queries; its subcommands verify, summarise and follow."""


@click.group(cls=AuditGroup, invoke_without_command=True)
@filter_options
@_query_options
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
    run_query(inv, found, max_items)


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


CHECKPOINT_FORMATS = ("json", "text", "table", "yaml", "yaml-stream")


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
    emit(data, inv, default_format(inv, "json", "json", CHECKPOINT_FORMATS), "AuditCheckpoint")


@audit.command()
@click.option(
    "--format",
    "fmt",
    type=Choice(["cloudtrail", "parquet"]),
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
    own = {
        name: kwargs.pop(name)
        for name in ("start_time", "end_time", "log_file")
        if kwargs.get(name) is not None  # an empty time is refused, not read as "no limit"
    }
    inv, inherited = _merged(kwargs)
    if set(inherited) - {"start_time", "end_time", "log_file"}:
        raise UsageError("audit export takes a time range (--start-time, --end-time) and no other filter")
    found = {**inherited, **own}
    target, filters, _aliases = source(inv, found)
    result = auditops.export_log(target, filters, out, fmt, indexes(inv, found, target, filters))
    _summary(
        inv,
        result.as_dict(),
        "Export",
        f"exported {result.events} event(s) in {len(result.files)} file(s) to {out} "
        f"(up to sequence {result.last_sequence})"
        + (f"; skipped {result.untimed} without a readable eventTime" if result.untimed else ""),
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
    target, filters, aliases = source(inv, found)
    scan_stats = ScanStats()
    no_cycle_collection()
    found_indexes = indexes(inv, found, target, filters)
    data = collect(auditops.matching_events(target, filters, scan_stats, found_indexes), aliases)
    fmt = default_format(inv, "table", "json", STATS_FORMATS)
    if fmt == "table" and not inv.options.get("query"):
        from kmscli.cli.pager import paged_stdout

        color, tty = use_color(inv), sys.stdout.isatty()
        with paged_stdout(inv):
            _print_stats(data, width, color, tty)
    else:
        from kmscli.cli.run import emit

        emit(data, inv, fmt, "AuditStats")
    warn_unreadable(scan_stats)


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
    fmt = default_format(inv, "text", "jsonl", QUERY_FORMATS)
    if fmt == "json" and follow:
        raise UsageError("--follow writes a stream: use --output jsonl, text or table")
    target, filters, aliases = source(inv, found)
    writer = EventWriter(fmt, inv, aliases)
    initial, position = auditops.latest_events(
        target, filters, count, indexes(inv, found, target, filters) if count else {}
    )
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
