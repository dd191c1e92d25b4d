"""A rich progress bar on stderr for long work, shown only when stderr is a terminal.

Usage from any command::

    with progress_bar("Backing up", inv) as advance:
        service_call(..., progress=advance)      # advance(done, total)
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from kmscli.invocation import Invocation

Advance = Callable[[int, int], None]


def _noop(done: int, total: int) -> None:
    pass


def progress_enabled(stream: Any = None, inv: Invocation | None = None) -> bool:
    """Whether to draw: stderr is a terminal and KMSCLI_NO_PROGRESS is not set (``inv.no_progress``)."""
    stream = stream or sys.stderr
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    return tty and not (inv is not None and inv.no_progress)


@contextlib.contextmanager
def progress_bar(description: str, inv: Invocation | None = None, stream: Any = None) -> Iterator[Advance]:
    """Yield ``advance(done, total)``; draws a transient bar on stderr only on a terminal."""
    stream = stream or sys.stderr
    if not progress_enabled(stream, inv):
        yield _noop
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from kmscli.cli.globals import use_color

    console = Console(file=stream, no_color=inv is not None and not use_color(inv, stream))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
