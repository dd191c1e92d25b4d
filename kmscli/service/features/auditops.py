"""Vault-side helpers for ``kmscli audit``: where the log is, alias names, verification and repair.

The CLI never opens vault files itself (DESIGN section 2); it calls these.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kmscli.audit.log import AuditLog
from kmscli.audit.query import normalize_key_ref
from kmscli.audit.verify import Report, verify_log
from kmscli.errors import VaultEnvironmentError
from kmscli.service.features.session import Prompt, audit_log_for, kmscli_event, unlock
from kmscli.settings import Settings
from kmscli.vault import fs
from kmscli.vault.store import Vault


def audit_folder(settings: Settings) -> Path:
    """The audit folder of the configured vault (exit 253 with advice when there is no vault)."""
    return Path(Vault.open(settings.vault_path).path) / "audit"


def _alias_files(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every region's alias index, read for display WITHOUT checking its MAC (docs/audit.md)."""
    out: dict[str, dict[str, Any]] = {}
    folder = Path(settings.vault_path) / "aliases"
    try:
        files = sorted(folder.glob("*.json"))
    except OSError:
        return out
    for path in files:
        try:
            data = json.loads(path.read_bytes()).get("data")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(data, dict):
            out[path.stem] = data
    return out


def alias_names(settings: Settings) -> dict[str, str]:
    """Key id -> its first alias name (alphabetically), across regions, for display."""
    names: dict[str, str] = {}
    for index in _alias_files(settings).values():
        for alias, entry in sorted(index.items()):
            target = entry.get("TargetKeyId") if isinstance(entry, dict) else None
            if isinstance(target, str):
                names.setdefault(target, alias)
    return names


def alias_targets(settings: Settings, ref: str) -> set[str]:
    """The key id(s) an alias name or alias ARN currently points to (empty for anything else)."""
    name = normalize_key_ref(ref)
    if not name.startswith("alias/"):
        return set()
    region = ref.split(":")[3] if ref.startswith("arn:") else settings.region
    entry = _alias_files(settings).get(region, {}).get(name)
    target = entry.get("TargetKeyId") if isinstance(entry, dict) else None
    return {target} if isinstance(target, str) else set()


def query_indexes(settings: Settings, folder: Path) -> dict[str, Any]:
    """The authenticated indexes of the vault's sealed segments, when the vault can be unlocked
    without asking (KMSCLI_SESSION, or a passphrase from the environment or a file); otherwise
    none, and queries scan (docs/audit.md, "The index"). Queries never prompt."""
    from kmscli.audit import index

    if not any(name.endswith(index.SUFFIX) for name in _names(folder)):
        return {}
    try:
        vault = unlock(settings, None)
    except Exception:  # no session, no passphrase source, or a wrong one: scan instead
        return {}
    return dict(index.load_all(str(folder), vault.audit_key))


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def reindex(settings: Settings, prompt: Prompt | None) -> list[str]:
    """Rebuild the sidecar index of every sealed segment, under the audit log's lock."""
    from kmscli.audit import index

    vault = unlock(settings, prompt)
    folder = fs.join(vault.path, "audit")
    if not fs.is_dir(folder):
        return []
    with fs.locked(fs.join(folder, ".lock"), exclusive=True):
        written = index.reindex(folder, vault.audit_key)
    audit_log_for(vault, settings).append(kmscli_event(settings, "ReindexAuditLog", {"indexes": written}))
    return written


def verify(settings: Settings, prompt: Prompt | None, *, repair: bool = False) -> Report:
    """Unlock the vault (the chain key derives from the vault key) and verify its audit log.

    With ``repair``, a torn final line is cut and a RepairAuditLog event recorded; nothing else
    is ever changed.
    """
    from kmscli.audit import index

    vault = unlock(settings, prompt)
    folder = Path(vault.path) / "audit"
    report = verify_log(folder, vault.audit_key)
    report.indexes = [p for p in index.check(str(folder), vault.audit_key) if p.kind != "missing"]
    if repair and report.torn is not None:
        log = AuditLog(folder, vault.audit_key, settings.audit_segment_bytes)
        base = kmscli_event(settings, "RepairAuditLog")
        recorded = log.repair(base)
        if recorded is None:  # someone else's append already cut it
            raise VaultEnvironmentError("the torn tail was already repaired by another process; verify again")
        fixed = verify_log(folder, vault.audit_key)
        fixed.indexes = report.indexes
        fixed.repaired = {
            "File": report.torn.file,
            "Line": report.torn.line,
            "RemovedBytes": report.torn_bytes,
            "Sequence": recorded["sequence"],
        }
        return fixed
    return report
