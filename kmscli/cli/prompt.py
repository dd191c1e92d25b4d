"""Asking for secrets on a terminal (never echoed); no prompt at all without a TTY."""

from __future__ import annotations

import sys

from kmscli.errors import VaultEnvironmentError
from kmscli.service.features.session import Prompt

#: A new passphrase shorter than this is taken, with a warning.
WEAK_BELOW = 12


def tty_prompt() -> Prompt | None:
    """A prompt function when stdin is a terminal, else None (so scripts never hang)."""
    if not sys.stdin.isatty():
        return None

    def ask(what: str, confirm: bool) -> str:
        import click  # only when asking: Click is not loaded on the fast path

        while True:
            value = str(click.prompt(what, default="", show_default=False, hide_input=True, err=True))
            if value:
                break
            click.echo("  the passphrase is empty: type it, or press Ctrl-C to stop", err=True)
        if confirm:
            if len(value) < WEAK_BELOW:
                click.echo(
                    f"kmscli: warning: a {len(value)}-character passphrase is weak: Argon2id slows each "
                    f"guess but cannot save a short one (use {WEAK_BELOW}+ characters, e.g. 4+ random words)",
                    err=True,
                )
            again = click.prompt(f"{what} (again)", default="", show_default=False, hide_input=True, err=True)
            if again != value:
                raise VaultEnvironmentError("the two passphrases differ")
        return value

    return ask
