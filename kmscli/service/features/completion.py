"""Candidates for shell completion: key ids and alias names, with no passphrase.

Reads only the vault's key folder listing and the alias index's names (unverified, as for display:
docs/audit.md), through the vault folder's descriptor; nothing is decrypted or trusted.
"""

from __future__ import annotations

from kmscli.settings import Settings
from kmscli.vault import fs


def completion_ids(settings: Settings, kind: str) -> list[str]:
    """Key ids and alias names (``keys``) or alias names (``aliases``) of the configured region."""
    from kmscli.ids import is_key_id, is_region
    from kmscli.vault import layout

    region = settings.region
    if not is_region(region) or not fs.is_dir(settings.vault_path):
        return []
    out: list[str] = []
    with fs.VaultDir.open(settings.vault_path) as folder:
        if kind == "keys":
            stems = (layout.json_stem(name) for name in folder.listdir(layout.key_folder(region)))
            out += sorted(stem for stem in stems if stem is not None and is_key_id(stem))
        try:
            data = fs.loads(folder.read(layout.alias_file(region), limit=4 * 1024 * 1024)).get("data", {})
            out += sorted(str(name) for name in data if str(name).startswith("alias/"))
        except (OSError, ValueError, AttributeError):
            pass
    return out
