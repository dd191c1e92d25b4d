"""Candidates for shell completion: key ids and alias names, with no passphrase.

Reads only the vault's key folder listing (``Vault.list_key_ids``) and the alias indexes' names
(unverified, as for display: ``auditops.alias_indexes``); nothing is decrypted or trusted.
"""

from __future__ import annotations

from kmscli.service.features.auditops import alias_indexes
from kmscli.settings import Settings
from kmscli.vault import fs
from kmscli.vault.store import Vault


def completion_ids(settings: Settings, kind: str) -> list[str]:
    """Key ids and alias names (``keys``) or alias names (``aliases``) of the configured region."""
    if not fs.is_dir(settings.vault_path):
        return []
    out: list[str] = []
    if kind == "keys":
        out += Vault.open(settings.vault_path).list_key_ids(settings.region)
    names = alias_indexes(settings).get(settings.region, {})
    out += sorted(str(name) for name in names if str(name).startswith("alias/"))
    return out
