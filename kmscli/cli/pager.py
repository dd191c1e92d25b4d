"""Output paging: long output on a terminal goes through KMSCLI_PAGER / PAGER unless --no-cli-pager."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any


def page_or_write(text: str, opts: dict[str, Any]) -> None:
    """Write ``text`` to stdout, through a pager when on a TTY and longer than the screen."""
    pager = os.environ.get("KMSCLI_PAGER", os.environ.get("PAGER", "less -FRX"))
    if (
        opts.get("no_cli_pager")
        or not pager
        or not sys.stdout.isatty()
        or text.count("\n") < shutil.get_terminal_size().lines
    ):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    import subprocess

    try:
        proc = subprocess.Popen(pager, shell=True, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        proc.stdin.write(text.encode())
        proc.stdin.close()
        proc.wait()
    except (OSError, BrokenPipeError):
        sys.stdout.write(text)
