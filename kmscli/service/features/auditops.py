"""Vault-side helpers for ``kmscli audit``: where the log is, alias names, verification and repair.

The CLI never opens vault or log files itself (docs/architecture.md: layers); it calls these.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from kmscli.audit.log import AuditLog
from kmscli.audit.query import Filters, ScanStats, normalize_key_ref
from kmscli.audit.verify import Report, verify_log
from kmscli.errors import VaultEnvironmentError
from kmscli.invocation import Sources
from kmscli.service.features.session import Prompt, kmscli_event, unlock
from kmscli.settings import Settings
from kmscli.vault import fs, layout
from kmscli.vault.store import Vault


def _checked_audit_folder(vault: Vault) -> Path:
    """``VAULT/audit``, refused (exit 253) when it is a link or not a folder (docs/security.md)."""
    if not getattr(vault, "read_only", False):  # an archive file has no folder to check
        try:
            vault.folder.subdir(layout.AUDIT).close()
        except FileNotFoundError:
            pass
    return Path(vault.path) / layout.AUDIT


def audit_folder(settings: Settings) -> Path:
    """The audit folder of the configured vault (exit 253 with advice when there is no vault)."""
    return _checked_audit_folder(Vault.open(settings.vault_path))


def alias_indexes(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every region's alias index, read for display and completion WITHOUT checking its MAC
    (docs/audit.md): region -> alias name -> entry."""
    out: dict[str, dict[str, Any]] = {}
    try:
        folder = fs.VaultDir.open(settings.vault_path)
    except OSError:
        return out
    with folder:
        for name in sorted(folder.listdir(layout.ALIASES)):
            region = layout.json_stem(name)
            if region is None:
                continue
            try:
                data = fs.loads(folder.read(f"{layout.ALIASES}/{name}")).get("data")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(data, dict):
                out[region] = data
    return out


def alias_names(settings: Settings) -> dict[str, str]:
    """Key id -> its first alias name (alphabetically), across regions, for display."""
    names: dict[str, str] = {}
    for index in alias_indexes(settings).values():
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
    entry = alias_indexes(settings).get(region, {}).get(name)
    target = entry.get("TargetKeyId") if isinstance(entry, dict) else None
    return {target} if isinstance(target, str) else set()


def verify(settings: Settings, sources: Sources, prompt: Prompt | None, *, repair: bool = False) -> Report:
    """Unlock the vault (the chain key derives from the vault key) and verify its audit log.

    With ``repair``, a torn final line is cut and a RepairAuditLog event recorded; nothing else
    is ever changed.
    """
    vault = unlock(settings, sources, prompt)
    folder = _checked_audit_folder(vault)
    report = verify_log(folder, vault.audit_key)
    if repair and report.torn is not None:
        in_vault = None if getattr(vault, "read_only", False) else vault.folder
        log = AuditLog(folder, vault.audit_key, settings.audit_segment_bytes, vault=in_vault)
        base = kmscli_event(settings, "RepairAuditLog")
        recorded = log.repair(base)
        if recorded is None:  # someone else's append already cut it
            raise VaultEnvironmentError("the torn tail was already repaired by another process; verify again")
        fixed = verify_log(folder, vault.audit_key)
        fixed.repaired = {
            "File": report.torn.file,
            "Line": report.torn.line,
            "RemovedBytes": report.torn_bytes,
            "Sequence": recorded["sequence"],
        }
        return fixed
    return report


# -- reading the log for `kmscli audit` queries, stats and tail (the CLI opens no log file itself) --


def query_batches(target: Path, filters: Filters, stats: ScanStats, *, raw: bool) -> Iterable[list[Any]]:
    """Matching events of the log at ``target`` (a folder of segments or one file), in batches:
    stored lines (``raw``) or (line, event) pairs."""
    from kmscli.audit.query import log_paths, scan_batches, scan_raw_batches

    paths = log_paths(target)
    return scan_raw_batches(paths, filters, stats) if raw else scan_batches(paths, filters, stats)


def matching_events(target: Path, filters: Filters, stats: ScanStats) -> Iterator[dict[str, Any]]:
    """Every matching event of the log at ``target``, oldest first."""
    from kmscli.audit.query import log_paths, scan

    return (event for _raw, event in scan(log_paths(target), filters, stats))


def latest_events(
    target: Path, filters: Filters, count: int
) -> tuple[list[tuple[bytes, dict[str, Any]]], Any]:
    """The last ``count`` matching events and the position to follow the log from."""
    from kmscli.audit.tail import last_events

    initial, position = last_events(target, filters, count)
    return list(initial), position


def follow_events(
    target: Path, filters: Filters, position: Any, *, poll: float, max_events: int | None
) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Matching events as they are appended after ``position`` (``kmscli audit tail --follow``)."""
    from kmscli.audit.tail import follow

    return follow(target, filters, position, poll=poll, max_events=max_events)
