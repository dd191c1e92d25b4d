"""``kmscli _complete-ids keys|aliases``: key ids and alias names for shell completion.

Hidden; the completion scripts call it. Reads only the vault's directory listing and the alias
index's ``data`` field, so it needs no passphrase and never fails loudly (no output on any error).
"""

from __future__ import annotations

import json
import os
import re
import sys

import click

_KEY_FILE_RE = re.compile(
    r"^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.json$"
)
_REGION_RE = re.compile(r"^[a-z]{2,}(-[a-z0-9]+){1,3}$")


def vault_ids(kind: str, vault: str | None, region: str | None) -> list[str]:
    """Key ids (and alias names, for ``keys``) or alias names (``aliases``) of one region, sorted."""
    from kmscli.settings import load_settings
    from kmscli.vault import fs

    settings = load_settings({"vault": vault, "region": region})
    if not _REGION_RE.match(settings.region) or not fs.is_dir(settings.vault_path):
        return []
    out: list[str] = []
    if kind == "keys":
        try:
            names = os.listdir(os.path.join(settings.vault_path, "keys", settings.region))
        except OSError:
            names = []
        out += sorted(m.group(1) for n in names if (m := _KEY_FILE_RE.match(n)))
    try:
        with open(os.path.join(settings.vault_path, "aliases", f"{settings.region}.json"), "rb") as fh:
            data = json.loads(fh.read(4 * 1024 * 1024)).get("data", {})
        out += sorted(str(name) for name in data if str(name).startswith("alias/"))
    except (OSError, ValueError, AttributeError):
        pass
    return out


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
