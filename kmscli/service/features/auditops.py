"""Vault-side helpers for ``kmscli audit``: where the log is, alias names, verification and repair.

The CLI never opens vault or log files itself (docs/architecture.md: layers); it calls these.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from kmscli.audit.log import HEAD_NAME, AuditLog, segments, survey
from kmscli.audit.query import Filters, ScanStats, normalize_key_ref
from kmscli.errors import KmscliError, VaultEnvironmentError
from kmscli.invocation import Sources
from kmscli.service.features.session import Prompt, audit_log_for, index_segment, kmscli_event, unlock
from kmscli.settings import Settings
from kmscli.vault import fs, layout
from kmscli.vault.store import UnlockedVault, Vault

if TYPE_CHECKING:  # verification is imported by verify only, pathlib by export and tail: queries
    from pathlib import Path  # start without them (paths are strings there, as kmscli/vault/fs.py holds them)

    from kmscli.audit.verify import Mark, Report


def _checked_audit_folder(vault: Vault) -> str:
    """``VAULT/audit``, refused (exit 253) when it is a link or not a folder (docs/security.md)."""
    if not getattr(vault, "read_only", False):  # an archive file has no folder to check
        try:
            vault.folder.subdir(layout.AUDIT).close()
        except FileNotFoundError:
            pass
    return fs.join(vault.path, layout.AUDIT)


def audit_folder(settings: Settings) -> str:
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


def query_indexes(
    settings: Settings, sources: Sources, folder: fs.StrPath
) -> tuple[dict[str, Any], str | None]:
    """(the authenticated indexes of the vault's segments, why they cannot be used). They are read
    when the vault can be unlocked without asking (a session, or a passphrase from the environment
    or a file); otherwise there are none and queries scan (docs/audit.md, "The index"). Queries
    never prompt. The reason is given when a session or passphrase was there but did not unlock
    (expired, wrong): the query still answers, by scanning, but the caller may say why it is slow."""
    from kmscli.audit import index

    if not sources.has_secret() or not any(n.endswith(index.SUFFIX) for n in _names(folder)):
        return {}, None
    try:
        vault = unlock(settings, sources, None)
    except KmscliError as exc:  # a wrong passphrase, an expired session, a damaged header
        return {}, exc.message
    except Exception as exc:  # never fail a query that a scan can answer
        return {}, type(exc).__name__
    return dict(index.load_all(segments(folder), vault.audit_key)), None


def _names(folder: fs.StrPath) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def reindex(settings: Settings, sources: Sources, prompt: Prompt | None) -> list[str]:
    """Rebuild the sidecar index of every segment, under the audit log's lock; audited."""
    from kmscli.audit import index

    vault = unlock(settings, sources, prompt)
    if getattr(vault, "read_only", False):
        raise VaultEnvironmentError("a backup or bundle file has no audit log of its own to index")
    try:
        audit = vault.folder.subdir(layout.AUDIT)
    except FileNotFoundError:
        return []
    with audit as folder, folder.locked(layout.LOCK, exclusive=True):
        written = index.reindex(segments(folder), vault.audit_key)
    log = audit_log_for(vault, settings, sources)
    log.append(kmscli_event(settings, "ReindexAuditLog", {"indexes": written}))
    return written


def verify(
    settings: Settings,
    sources: Sources,
    prompt: Prompt | None,
    *,
    repair: bool = False,
    checkpoint: bytes | None = None,
) -> Report:
    """Unlock the vault (the chain key derives from the vault key) and verify its audit log.

    With ``repair``, a torn final line is cut and a RepairAuditLog event recorded; nothing else
    is ever changed.
    """
    from pathlib import Path

    from kmscli.audit import index
    from kmscli.audit.verify import verify_log

    vault = unlock(settings, sources, prompt)
    folder = Path(_checked_audit_folder(vault))
    marks = _state_marks(vault) + (checkpoint_mark(vault, checkpoint) if checkpoint is not None else ())
    report = verify_log(folder, vault.audit_key, marks)
    _check_state(vault, report)
    paths, _problems = survey(folder)  # verify reports an odd folder; the indexes are checked anyway
    report.indexes = [p for p in index.check(paths, vault.audit_key) if p.kind != "missing"]
    if repair and report.torn is not None:
        in_vault = None if getattr(vault, "read_only", False) else vault.folder
        log = AuditLog(
            folder, vault.audit_key, settings.audit_segment_bytes, vault=in_vault, indexer=index_segment
        )
        base = kmscli_event(settings, "RepairAuditLog")
        recorded = log.repair(base)
        if recorded is None:  # someone else's append already cut it
            raise VaultEnvironmentError("the torn tail was already repaired by another process; verify again")
        fixed = verify_log(folder, vault.audit_key, marks)
        _check_state(vault, fixed)
        fixed.indexes = report.indexes
        fixed.repaired = {
            "File": report.torn.file,
            "Line": report.torn.line,
            "RemovedBytes": report.torn_bytes,
            "Sequence": recorded["sequence"],
        }
        return fixed
    return report


# -- reading the log for `kmscli audit` queries, stats and tail (the CLI opens no log file itself) --


def query_batches(
    target: fs.StrPath,
    filters: Filters,
    stats: ScanStats,
    *,
    raw: bool,
    indexes: dict[str, Any] | None = None,
) -> Iterable[list[Any]]:
    """Matching events of the log at ``target`` (a folder of segments or one file), in batches:
    stored lines (``raw``) or (line, event) pairs. ``indexes`` (:func:`query_indexes`) let the
    reader skip lines that cannot match; the answer is the same."""
    from kmscli.audit.query import log_files, scan_batches, scan_raw_batches

    paths, listed = log_files(target), os.path.isdir(target)
    if raw:
        return scan_raw_batches(paths, filters, stats, indexes, listed=listed)
    return scan_batches(paths, filters, stats, indexes, listed=listed)


def matching_events(
    target: fs.StrPath, filters: Filters, stats: ScanStats, indexes: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Every matching event of the log at ``target``, oldest first."""
    from kmscli.audit.query import log_files, scan

    found = scan(log_files(target), filters, stats, indexes, listed=os.path.isdir(target))
    return (event for _raw, event in found)


def log_bytes(target: fs.StrPath) -> int:
    """The size of the log at ``target`` (a folder of segments or one file)."""
    from kmscli.audit.query import log_files

    total = 0
    for path in log_files(target):
        try:
            total += os.stat(path).st_size
        except OSError:
            continue
    return total


def export_log(
    target: fs.StrPath, filters: Filters, out: Path, fmt: str, indexes: dict[str, Any] | None = None
) -> Any:
    """``kmscli audit export``: the log at ``target`` into ``out`` (:mod:`kmscli.audit.export`)."""
    from kmscli.audit import export
    from kmscli.audit.query import log_paths

    return export.export(log_paths(target), filters, out, fmt, indexes, listed=os.path.isdir(target))


def latest_events(
    target: fs.StrPath, filters: Filters, count: int, indexes: dict[str, Any] | None = None
) -> tuple[list[tuple[bytes, dict[str, Any]]], Any]:
    """The last ``count`` matching events and the position to follow the log from; ``indexes``
    (:func:`query_indexes`) let it read only candidate lines of sealed segments."""
    from pathlib import Path

    from kmscli.audit.tail import last_events

    initial, position = last_events(Path(target), filters, count, indexes)
    return list(initial), position


def follow_events(
    target: fs.StrPath, filters: Filters, position: Any, *, poll: float, max_events: int | None
) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """Matching events as they are appended after ``position`` (``kmscli audit tail --follow``)."""
    from pathlib import Path

    from kmscli.audit.tail import follow

    return follow(Path(target), filters, position, poll=poll, max_events=max_events)


# -- the vault state against the log (rollback), checkpoints (kmscli/vault/state.py, docs/audit.md) ------
def _state_marks(vault: UnlockedVault) -> tuple[Mark, ...]:
    from kmscli.audit.verify import Mark

    current = vault.vault_state()
    if current is None or current.head is None:
        return ()
    return (Mark(current.head[0], current.head[1], "the vault state"),)


def _check_state(vault: UnlockedVault, report: Report) -> None:
    """The vault's files must be current (each one as the state lists it), and the state must be
    the one the log's newest commit made: an older generation means the vault's files were rolled
    back together, or the state was removed."""
    from pathlib import Path

    from kmscli.audit.verify import STATE, Problem
    from kmscli.vault import state

    try:
        problems = state.check_all(vault)
    except VaultEnvironmentError as exc:
        problems = [exc.message]
    current = vault.vault_state()
    head = Path(vault.path) / "audit" / HEAD_NAME
    if current is not None and current.head is not None and not head.exists():
        problems.append(f"the audit head record {head} was removed")
    report.findings += [Problem(str(Path(vault.path) / "state.json"), 0, STATE, p) for p in problems]
    if report.problem is not None or report.last_generation is None:
        return
    gen, seq = report.last_generation
    if current is not None and (
        gen == current.generation or current.generation < gen <= current.pending_generation
    ):
        return  # (a commit interrupted or failed before it finished may have appended its event)
    what = "has no state" if current is None else f"is at generation {current.generation}"
    report.findings.append(
        Problem(
            str(Path(vault.path) / "state.json"),
            0,
            STATE,
            f"the log's newest vault commit is generation {gen} (sequence {seq}) but the vault {what}: "
            "its files were rolled back to an earlier moment, or its state was removed",
        )
    )


CHECKPOINT_FORMAT = "kmscli-audit-checkpoint-1"


def _checkpoint_mac(vault: UnlockedVault, body: dict[str, Any]) -> str:
    from kmscli.crypto import primitives
    from kmscli.vault import fs
    from kmscli.vault.store import subkey

    return primitives.hmac_sha256(subkey(vault.vault_key, "audit-checkpoint"), fs.canonical_json(body)).hex()


def checkpoint(settings: Settings, sources: Sources, prompt: Prompt | None) -> dict[str, Any]:
    """An authenticated statement of the log's head (after an AuditCheckpoint event recording that
    it was taken), for the operator to keep off the machine (docs/audit.md, "Checkpoints")."""
    vault = unlock(settings, sources, prompt)
    log = audit_log_for(vault, settings, sources)
    event = log.append(kmscli_event(settings, "AuditCheckpoint", read_only=True))
    body = {
        "Format": CHECKPOINT_FORMAT,
        "VaultId": vault.header.raw["vault_id"],
        "Sequence": event["sequence"],
        "Chain": event["chain"],
        "Time": event["eventTime"],
    }
    return {**body, "Mac": _checkpoint_mac(vault, body)}


def checkpoint_mark(vault: UnlockedVault, data: bytes) -> tuple[Mark, ...]:
    """The point a checkpoint says the log reached; 253 when it is not an authentic checkpoint of
    this vault."""
    import hmac

    from kmscli.audit.verify import Mark

    try:
        doc = json.loads(data)
        body = {k: doc[k] for k in ("Format", "VaultId", "Sequence", "Chain", "Time")}
        ok = body["Format"] == CHECKPOINT_FORMAT and isinstance(body["Sequence"], int)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok or not hmac.compare_digest(str(doc.get("Mac")), _checkpoint_mac(vault, body)):
        raise VaultEnvironmentError(
            "the checkpoint is not an authentic kmscli audit checkpoint of this vault"
        )
    return (Mark(int(body["Sequence"]), str(body["Chain"]), f"the checkpoint of {body['Time']}"),)
