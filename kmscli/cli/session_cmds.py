"""``kmscli unlock`` and ``kmscli lock``: sessions for scripts, like ``bw unlock`` / ``bw lock``."""

from __future__ import annotations

import sys
from typing import Any

import click

from kmscli.cli.globals import Command, pop_globals, with_global_options
from kmscli.cli.run import emit
from kmscli.errors import UsageError


@click.command(cls=Command)
@click.option("--raw", is_flag=True, help="Print only the session token.")
@click.option(
    "--ttl", default="15m", show_default=True, help="Session lifetime: 900, 90s, 15m, 2h, 1h30m (max 7d)."
)
@with_global_options
def unlock(raw: bool, ttl: str, **kwargs: Any) -> None:
    """Unlock once; start a session for scripts.

    Prints `export KMSCLI_SESSION="..."` (or the bare token with --raw) for the shell, so --output does
    not apply. With KMSCLI_SESSION set, commands use the session and run no passphrase KDF.
    `eval "$(kmscli lock)"` ends every session.
    """
    from kmscli.cli.prompt import tty_prompt
    from kmscli.service.features.sessionops import unlock_session
    from kmscli.vault.sessions import parse_ttl

    inv = pop_globals(kwargs)
    try:
        lifetime = parse_ttl(ttl)
    except ValueError as exc:
        raise UsageError(f"argument --ttl: {exc}") from None
    token, info = unlock_session(inv.settings, inv.sources, tty_prompt(), lifetime)
    if raw:
        sys.stdout.write(token + "\n")
    else:
        sys.stdout.write(f'export KMSCLI_SESSION="{token}"\n')
        sys.stderr.write(
            f"Session {info['SessionId'][:12]} expires at {info['Expiration'].isoformat()}; "
            'end it with `eval "$(kmscli lock)"`.\n'
        )


@click.command(cls=Command)
@with_global_options
def lock(**kwargs: Any) -> None:
    """End every session of the vault; use as `eval "$(kmscli lock)"`.

    Session files are destroyed, so every token stops working, and the Lock event is audited. The
    vault is authenticated first, with KMSCLI_SESSION or else the passphrase (prompted on a terminal).
    Prints `unset KMSCLI_SESSION` for the shell to eval, and on stderr how many sessions ended and that
    the Lock event was recorded. With --output the result is printed in that format instead
    ({"VaultId", "SessionsDestroyed", "Audited"}).
    """
    from kmscli.cli.prompt import tty_prompt
    from kmscli.service.features.sessionops import lock_sessions

    inv = pop_globals(kwargs)
    result = lock_sessions(inv.settings, inv.sources, tty_prompt())
    if inv.options.get("output"):
        emit(result, inv, inv.output(), "Lock")
        return
    sys.stdout.write("unset KMSCLI_SESSION\n")
    sys.stdout.flush()
    note = "recorded in the audit log" if result["Audited"] else "NOT recorded in the audit log"
    sys.stderr.write(f"Locked: {result['SessionsDestroyed']} session(s) ended; {note}.\n")
