"""``kmscli audit stats``: counts by event, key, principal, error and day, and a per-day chart."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

from kmscli.audit.query import display_key, display_principal

#: Bars longer than this many days fall back to listing only active days.
MAX_FILLED_DAYS = 120


def _ranked(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def collect(events: Iterable[dict[str, Any]], aliases: dict[str, str] | None = None) -> dict[str, Any]:
    """Aggregate matched events; memory grows with distinct names, not with the number of events."""
    by_event: Counter[str] = Counter()
    by_key: Counter[str] = Counter()
    by_principal: Counter[str] = Counter()
    by_error: Counter[str] = Counter()
    days: dict[str, list[int]] = {}
    total = errors = 0
    first = last = None
    for event in events:
        total += 1
        name = str(event.get("eventName", ""))
        by_event[name] += 1
        key = display_key(event, aliases)
        if key:
            by_key[key] += 1
        by_principal[display_principal(event)] += 1
        when = str(event.get("eventTime", ""))
        day = days.setdefault(when[:10], [0, 0])
        day[0] += 1
        if code := event.get("errorCode"):
            errors += 1
            by_error[str(code)] += 1
            day[1] += 1
        if when:
            first = when if first is None or when < first else first
            last = when if last is None or when > last else last
    out: dict[str, Any] = {"Total": total, "Errors": errors}
    if first is not None:
        out["FirstEventTime"], out["LastEventTime"] = first, last
    out.update(
        {
            "ByEvent": _ranked(by_event),
            "ByKey": _ranked(by_key),
            "ByPrincipal": _ranked(by_principal),
            "ByError": _ranked(by_error),
            "ByDay": [{"Date": d, "Events": n, "Errors": e} for d, (n, e) in sorted(days.items())],
        }
    )
    return out


def fill_days(by_day: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert days without events (zero bars) between the first and last active day, when short."""
    try:
        dates = [dt.date.fromisoformat(d["Date"]) for d in by_day]
    except ValueError:
        return by_day
    if not dates or (dates[-1] - dates[0]).days >= MAX_FILLED_DAYS:
        return by_day
    known = {d["Date"]: d for d in by_day}
    out = []
    day = dates[0]
    while day <= dates[-1]:
        out.append(known.get(day.isoformat(), {"Date": day.isoformat(), "Events": 0, "Errors": 0}))
        day += dt.timedelta(days=1)
    return out


def chart_rows(by_day: list[dict[str, Any]], width: int = 50) -> list[tuple[str, str, str, int, int]]:
    """Per-day rows (date, ok bar, error bar, events, errors); bars share one scale, and any
    non-zero count gets at least one cell so that a quiet day with errors still shows them."""
    days = fill_days(by_day)
    peak = max((d["Events"] for d in days), default=0)
    rows = []
    for d in days:
        total, errors = d["Events"], d["Errors"]
        cells = max(1, round(total * width / peak)) if total else 0
        err_cells = max(1, round(errors * width / peak)) if errors else 0
        ok_cells = max(0, cells - err_cells)
        if total > errors and ok_cells == 0:
            ok_cells = 1
        rows.append((d["Date"], "█" * ok_cells, "█" * err_cells, total, errors))
    return rows
