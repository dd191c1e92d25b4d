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
