"""Terminal output: colour rules, the pager, progress bars (only on a terminal)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from kmscli.cli import pager, progress
from kmscli.cli.globals import use_color
from kmscli.invocation import Invocation, Sources


class FakeTTY(io.StringIO):
    """A text stream that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("tty", "no_color", "choice", "expected"),
    [
        (True, None, None, True),
        (False, None, None, False),  # piped
        (True, "1", None, False),  # NO_COLOR
        (True, "", None, True),  # NO_COLOR empty counts as unset (no-color.org)
        (False, None, "on", True),
        (True, None, "off", False),
    ],
)
def test_colour_rules(
    monkeypatch: pytest.MonkeyPatch, tty: bool, no_color: str | None, choice: str | None, expected: bool
) -> None:
    environ = {} if no_color is None else {"NO_COLOR": no_color}
    stream = FakeTTY() if tty else io.StringIO()
    assert use_color(Invocation({"color": choice}, environ), stream) is expected


def test_table_colour_codes_only_when_colour(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("create-key")
    assert "\x1b[" in cli("list-keys", "--output", "table", "--color", "on").out
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in cli("list-keys", "--output", "table").out


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "less -FRX"),
        ({"PAGER": "more"}, "more"),
        ({"PAGER": "more", "KMSCLI_PAGER": "most"}, "most"),
        ({"KMSCLI_PAGER": "", "PAGER": "more"}, ""),
        ({"AWS_PAGER": "", "PAGER": "more"}, ""),  # the AWS CLI v2's way to turn paging off
        ({"AWS_PAGER": "most", "PAGER": "more"}, "most"),
        ({"KMSCLI_PAGER": "less", "AWS_PAGER": ""}, "less"),
    ],
)
def test_pager_choice(env: dict[str, str], expected: str) -> None:
    assert Invocation({}, env).pager == expected


def test_should_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINES", "10")
    long, short = "x\n" * 50, "x\n"
    paging = Invocation({}, {"KMSCLI_PAGER": "less"})
    assert pager.should_page(long, paging, FakeTTY())
    assert not pager.should_page(short, paging, FakeTTY())
    assert not pager.should_page(long, Invocation({"no_cli_pager": True}, {}), FakeTTY())
    assert not pager.should_page(long, paging, io.StringIO())  # piped
    assert not pager.should_page(long, Invocation({}, {"KMSCLI_PAGER": ""}), FakeTTY())


def test_run_pager_feeds_the_pager(tmp_path: Path) -> None:
    out = tmp_path / "paged.txt"
    pager.run_pager(
        f"{sys.executable} -c \"import sys; open('{out}', 'w').write(sys.stdin.read())\"", "a\nb\n", {}
    )
    assert out.read_text() == "a\nb\n"


def test_missing_pager_falls_back_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    pager.run_pager("/nonexistent/pager --flag", "hello\n", {})
    assert capsys.readouterr().out == "hello\n"


def test_pager_quitting_early_is_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    pager.run_pager(f"{sys.executable} -c pass", "line\n" * 200_000, {})
    assert capsys.readouterr().out == ""


def test_long_output_on_a_tty_goes_through_pager(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(pager, "run_pager", lambda cmd, text, environ: seen.append(text))
    monkeypatch.setattr(
        pager, "should_page", lambda text, inv, stream=None: not inv.options.get("no_cli_pager")
    )
    for _ in range(3):
        cli("create-key", "--no-cli-pager")
    assert seen == []
    res = cli("list-keys")
    assert res.out == "" and len(seen) == 1 and '"Keys"' in seen[0]
    res = cli("list-keys", "--no-cli-pager")
    assert '"Keys"' in res.out and len(seen) == 1


def test_progress_bar_only_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    piped = io.StringIO()
    with progress.progress_bar("Working", Invocation({}, {}), piped) as advance:
        advance(1, 2)
        advance(2, 2)
    assert piped.getvalue() == ""
    tty = FakeTTY()
    with progress.progress_bar("Working", Invocation({"color": "off"}, {}), tty) as advance:
        for i in range(1, 4):
            advance(i, 3)
    assert "Working" in tty.getvalue()
    assert not progress.progress_enabled(FakeTTY(), Invocation({}, {"KMSCLI_NO_PROGRESS": "1"}))


def test_backup_progress_reports_every_file(cli: Any, vault: Path, tmp_path: Path) -> None:
    from kmscli.service.features.portability import backup
    from kmscli.settings import load_settings

    for _ in range(3):
        cli("create-key")
    calls: list[tuple[int, int]] = []
    backup(
        load_settings({}, os.environ),
        Sources.from_environ(os.environ),
        None,
        tmp_path / "b.bak",
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls and calls[-1][0] == calls[-1][1] >= 4
    assert [d for d, _ in calls] == list(range(1, len(calls) + 1))


def test_timestamps_print_to_the_millisecond_as_the_aws_cli_prints_what_aws_sends() -> None:
    import datetime as dt

    from kmscli.cli import render

    when = dt.datetime(2026, 11, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert render.jsonable({"CreationDate": when}) == {"CreationDate": "2026-11-01T10:00:00.123000+00:00"}
    assert render.jsonable([when.replace(microsecond=999)]) == ["2026-11-01T10:00:00+00:00"]
