"""``kmscli _complete-ids keys|aliases``: key ids and alias names for shell completion.

Hidden; the completion scripts call it. Reads only the vault's directory listing and the alias
index's ``data`` field, so it needs no passphrase and never fails loudly (no output on any error).
"""

from __future__ import annotations

import sys

import click


def vault_ids(kind: str, vault: str | None, region: str | None) -> list[str]:
    """Key ids (and alias names, for ``keys``) or alias names (``aliases``) of one region, sorted."""
    from kmscli.service.features.vaultops import completion_ids
    from kmscli.settings import load_settings

    settings = load_settings({"vault": vault, "region": region})
    return completion_ids(settings.vault_path, settings.region, kind)


@click.command("_complete-ids", hidden=True)
@click.argument("kind", type=click.Choice(["keys", "aliases"]))
@click.option("--vault", default=None)
@click.option("--region", default=None)
def complete_ids(kind: str, vault: str | None, region: str | None) -> None:
    """Print completion candidates, one per line (nothing on any error)."""
    try:
        ids = vault_ids(kind, vault or None, region or None)
    except Exception:
        return
    sys.stdout.write("".join(f"{i}\n" for i in ids))
