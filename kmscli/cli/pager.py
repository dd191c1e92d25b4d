"""Output paging: long output on a terminal goes through KMSCLI_PAGER / PAGER unless --no-cli-pager.

As with the AWS CLI v2's ``AWS_PAGER``: ``KMSCLI_PAGER`` wins over ``PAGER``; an empty value turns
paging off; the default is ``less -FRX`` (``LESS=FRX`` is set when ``LESS`` is unset, so a short
result does not leave the user in the pager). A pager that cannot start is skipped, not fatal.
"""

from __future__ import annotations

import os
import sys
from typing import Any

DEFAULT_PAGER = "less -FRX"


def pager_command() -> str:
    """The pager to use: KMSCLI_PAGER, then PAGER, then ``less -FRX`` ("" means no paging)."""
    for name in ("KMSCLI_PAGER", "PAGER"):
        if name in os.environ:
            return os.environ[name].strip()
    return DEFAULT_PAGER


def should_page(text: str, opts: dict[str, Any], stream: Any = None) -> bool:
    """Page only on a terminal, without --no-cli-pager, when the text is taller than the screen."""
    stream = stream or sys.stdout
    try:
        tty = bool(stream.isatty())
    except (AttributeError, ValueError):
        tty = False
    if opts.get("no_cli_pager") or not tty or not pager_command():
        return False
    import shutil  # only on a terminal: shutil loads zlib, bz2 and lzma, a cost on every piped call

    return text.count("\n") >= shutil.get_terminal_size().lines


def page_or_write(text: str, opts: dict[str, Any]) -> None:
    """Write ``text`` to stdout, through a pager when on a TTY and longer than the screen."""
    if not should_page(text, opts):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    run_pager(pager_command(), text)


def run_pager(command: str, text: str) -> None:
    """Feed ``text`` to the pager; fall back to stdout when it cannot start."""
    import shlex
    import subprocess

    try:
        argv = shlex.split(command)
    except ValueError:
        argv = []
    env = dict(os.environ)
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

    def __init__(self, opts: dict[str, Any]) -> None:
        self.opts = opts
        self.proc: Any = None
        self.saved: Any = None

    def __enter__(self) -> None:
        if not _on_terminal(sys.stdout) or self.opts.get("no_cli_pager") or not pager_command():
            return
        import io
        import shlex
        import subprocess

        env = dict(os.environ)
        env.setdefault("LESS", "FRX")
        try:
            self.proc = subprocess.Popen(shlex.split(pager_command()), stdin=subprocess.PIPE, env=env)
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
