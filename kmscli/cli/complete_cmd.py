"""``kmscli _complete-ids keys|aliases``: key ids and alias names for shell completion.

Hidden; the completion scripts call it. The service layer lists the candidates
(``service/features/completion.py``: no passphrase, nothing decrypted); this command prints
nothing on any error, so completion never fails loudly.
"""

from __future__ import annotations

import sys

import click

from kmscli.cli.globals import Choice, Command


@click.command("_complete-ids", cls=Command, hidden=True)
@click.argument("kind", type=Choice(["keys", "aliases"]))
@click.option("--vault", default=None)
@click.option("--region", default=None)
def complete_ids(kind: str, vault: str | None, region: str | None) -> None:
    """Print completion candidates, one per line (nothing on any error)."""
    from kmscli.cli.globalopts import make_invocation
    from kmscli.service.features.completion import completion_ids

    try:
        ids = completion_ids(
            make_invocation({"vault": vault or None, "region": region or None}).settings, kind
        )
    except Exception:
        return
    sys.stdout.write("".join(f"{i}\n" for i in ids))
