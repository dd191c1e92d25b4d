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

    def read(what: str) -> str:
        import click  # only when asking: Click is not loaded on the fast path

        try:
            return str(click.prompt(what, default="", show_default=False, hide_input=True, err=True))
        except UnicodeDecodeError:  # its message would quote the typed bytes: never shown
            raise VaultEnvironmentError(
                "what was typed is not valid text in the terminal's encoding; fix the terminal's "
                "locale, or give the passphrase's bytes in a file (--passphrase-file)"
            ) from None

    def ask(what: str, confirm: bool) -> str:
        import click

        while True:
            value = read(what)
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
            again = read(f"{what} (again)")
            if again != value:
                raise VaultEnvironmentError("the two passphrases differ")
        return value

    return ask
