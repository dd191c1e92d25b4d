"""Asking for secrets on a terminal (never echoed); no prompt at all without a TTY."""

from __future__ import annotations

import sys

from kmscli.errors import VaultEnvironmentError
from kmscli.service.features.session import Prompt


def tty_prompt() -> Prompt | None:
    """A prompt function when stdin is a terminal, else None (so scripts never hang)."""
    if not sys.stdin.isatty():
        return None

    def ask(what: str, confirm: bool) -> str:
        import click  # only when asking: Click is not loaded on the fast path

        value = click.prompt(what, hide_input=True, err=True)
        if confirm:
            again = click.prompt(f"{what} (again)", hide_input=True, err=True)
            if again != value:
                raise VaultEnvironmentError("the two passphrases differ")
        return str(value)

    return ask
