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
