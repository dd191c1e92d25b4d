"""``kmscli audit`` queries without Click: what the query command does once its options are parsed.

The Click command (``kmscli/cli/audit_cmds.py``) and the fast path (``kmscli/cli/fastpath.py``, which
parses an audit query command line from the same declarations, ``options.AUDIT_FILTER_OPTIONS`` and
``options.AUDIT_QUERY_OPTIONS``) both end in :func:`run_query`, so what a query prints, its errors
and its exit codes are one code's. Nothing here imports Click (tests/cli/test_startup.py).

Queries stream: events are written as they are found, so memory stays flat whatever the log's size.
On a terminal the default view is a table; when piped it is JSON lines (one event per line).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from kmscli.audit.query import COLUMNS, Filters, QueryError, ScanStats, parse_time, summary_row
from kmscli.cli import options as o
from kmscli.cli.globalopts import use_color
from kmscli.cli.render import cell, visible
from kmscli.errors import ArgumentError, UsageError
from kmscli.invocation import Invocation
from kmscli.service.features import auditops
from kmscli.vault.fs import StrPath

QUERY_FORMATS = o.AUDIT_QUERY_FORMATS
#: Formats whose records are data (exact, ``--query`` applies); the others are views for people.
DATA_FORMATS = ("json", "jsonl", "yaml", "yaml-stream")
#: The filters' names, as their values are passed (``key_id``, ``event_name``, ...).
FILTER_NAMES = tuple(opt.dest for opt in o.AUDIT_FILTER_OPTIONS)
#: Rows per rendered table block; blocks share fixed column widths so they line up.
TABLE_BLOCK = 200


def given_filters(values: Mapping[str, Any]) -> dict[str, Any]:
    """The filters given on the command line (name -> value), from the parsed option values."""
    found = {}
    for name in FILTER_NAMES:
        value = values.get(name)
        if value not in (None, ()):
            found[name] = value
    return found


def run_query(inv: Invocation, found: dict[str, Any], max_items: int | None) -> None:
    """``kmscli audit`` with these filters: print the matching events in the chosen format."""
    fmt = default_format(inv, "table", "jsonl", QUERY_FORMATS)
    target, filters, aliases = source(inv, found, display=fmt not in DATA_FORMATS)
    writer = EventWriter(fmt, inv, aliases)
    from kmscli.cli.pager import paged_stdout

    with paged_stdout(inv):
        _query(writer, target, filters, fmt, inv, max_items, indexes(inv, found, target, filters))


def _context_pairs(values: Iterable[str]) -> list[tuple[str, str]]:
    pairs = []
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise UsageError(f"Error parsing parameter '--encryption-context': expected K=V, got {text!r}")
        pairs.append((key, value))
    return pairs


def source(
    inv: Invocation, found: dict[str, Any], *, display: bool = True
) -> tuple[StrPath, Filters, dict[str, str]]:
    """The log to read, the filters, and key id -> alias names for display (read only for a view
    that shows them: ``display``; JSON, JSON lines and YAML print records as stored)."""
    o.refuse_blank(o.AUDIT_FILTER_OPTIONS, found)
    o.refuse_non_text(o.AUDIT_FILTER_OPTIONS, found)
    now = dt.datetime.now(dt.UTC)
    key_id = found.get("key_id")
    try:
        start = parse_time(found["start_time"], now) if found.get("start_time") else None
        end = parse_time(found["end_time"], now) if found.get("end_time") else None
        targets: set[str] = set()
        aliases: dict[str, str] = {}
        if found.get("log_file"):
            target: StrPath = found["log_file"]  # a Path (click.Path, the fast path's EXISTING)
        else:
            settings = inv.settings
            target = auditops.audit_folder(settings)
            aliases = auditops.alias_names(settings) if display else {}
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


def indexes(inv: Invocation, found: dict[str, Any], target: StrPath, filters: Filters) -> dict[str, Any]:
    """The vault's authenticated segment indexes when a selective query can use them (never for
    ``--log-file``: a foreign log is scanned). Without a session, unlocking costs the KDF (about
    0.3 s with the default parameters), more than scanning a log under INDEX_WORTH_KDF."""
    if found.get("log_file") or filters == Filters():
        return {}
    if not inv.sources.session_token and auditops.log_bytes(target) < INDEX_WORTH_KDF:
        return {}
    found_indexes, unusable = auditops.query_indexes(inv.settings, inv.sources, target)
    if unusable:  # the answer is the same; only slower, and the caller should know why
        sys.stderr.write(f"kmscli: warning: the audit index is not used ({unusable}); scanning every line\n")
    return found_indexes


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


def default_format(inv: Invocation, tty: str, piped: str, allowed: tuple[str, ...]) -> str:
    fmt = inv.options.get("output")
    if not fmt:
        return tty if sys.stdout.isatty() else piped
    if fmt not in allowed:  # given to the root command, whose choices differ
        from kmscli.cli.options import invalid_choice

        raise ArgumentError(invalid_choice("--output", str(fmt), allowed))
    return str(fmt)


def warn_unreadable(stats: ScanStats) -> None:
    if stats.unreadable:
        sys.stderr.write(
            f"kmscli: warning: skipped {stats.unreadable} unreadable line(s); "
            "run `kmscli audit verify` to locate them\n"
        )


def no_cycle_collection() -> None:
    """Parsed events hold no reference cycles, and this process ends after the scan: the cyclic
    garbage collector only costs time here (about a quarter of a large query)."""
    import gc

    gc.disable()


def _query(
    writer: EventWriter,
    target: StrPath,
    filters: Filters,
    fmt: str,
    inv: Invocation,
    max_items: int | None,
    indexes: dict[str, Any],
) -> None:
    stats = ScanStats()
    no_cycle_collection()
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
    warn_unreadable(stats)
