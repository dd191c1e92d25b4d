"""Output paging: long output on a terminal goes through the Invocation's pager unless --no-cli-pager.

The pager is ``KMSCLI_PAGER``, then ``AWS_PAGER`` (as the AWS CLI v2 reads it), then ``PAGER``,
then ``less -FRX`` (``kmscli.invocation.pager_from``); an empty value turns paging off.
``LESS=FRX`` is set when ``LESS`` is unset, so a short result does not leave the user in the
pager. A pager that cannot start is skipped, not fatal.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from kmscli.invocation import Invocation


def should_page(text: str, inv: Invocation, stream: Any = None) -> bool:
    """Page only on a terminal, without --no-cli-pager, when the text is taller than the screen."""
    stream = stream or sys.stdout
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    if inv.options.get("no_cli_pager") or not tty or not inv.pager:
        return False
    import shutil  # only on a terminal: shutil loads zlib, bz2 and lzma, a cost on every piped call

    return text.count("\n") >= shutil.get_terminal_size().lines


def page_or_write(text: str, inv: Invocation) -> None:
    """Write ``text`` to stdout, through a pager when on a TTY and longer than the screen."""
    if not should_page(text, inv):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    run_pager(inv.pager, text, inv.environ)


def run_pager(command: str, text: str, environ: Mapping[str, str]) -> None:
    """Feed ``text`` to the pager; fall back to stdout when it cannot start."""
    import shlex
    import subprocess

    try:
        argv = shlex.split(command)
    except ValueError:
        argv = []
    env = dict(environ)
    env.setdefault("LESS", "FRX")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env)
    except (OSError, IndexError, ValueError):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    assert proc.stdin is not None
    try:
        proc.stdin.write(text.encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the user quit the pager early: the rest is not wanted
    proc.wait()


class paged_stdout:
    """Streamed output through the pager: on a terminal, unless paging is off, ``sys.stdout`` is the
    pager's input inside the ``with`` block, so long streamed views (``audit``, ``audit stats``, the
    policy views) page as the others do while being written. ``less -FRX`` (the default) leaves at
    once when the output fits on the screen. A pager that cannot start is skipped. (A class, not
    contextlib: this module is on the start-up path.)"""

    def __init__(self, inv: Invocation) -> None:
        self.inv = inv
        self.proc: Any = None
        self.saved: Any = None

    def __enter__(self) -> None:
        inv = self.inv
        if not _on_terminal(sys.stdout) or inv.options.get("no_cli_pager") or not inv.pager:
            return
        import io
        import shlex
        import subprocess

        env = dict(inv.environ)
        env.setdefault("LESS", "FRX")
        try:
            self.proc = subprocess.Popen(shlex.split(inv.pager), stdin=subprocess.PIPE, env=env)
        except (OSError, IndexError, ValueError):
            return
        self.saved = sys.stdout
        self.saved.flush()
        sys.stdout = io.TextIOWrapper(
            self.proc.stdin, encoding=getattr(self.saved, "encoding", None) or "utf-8"
        )

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if self.proc is None:
            return False
        try:
            sys.stdout.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        sys.stdout = self.saved
        self.proc.wait()
        return exc_type is not None and issubclass(exc_type, BrokenPipeError)  # the user quit early


def _on_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
