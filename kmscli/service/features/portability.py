"""Vault portability: backup to one encrypted file, restore it, export a few keys as a bundle.

A backup is the whole vault (keys, aliases, schedule, audit log) under the vault's own header and
passphrase; restoring it gives back the same vault. A bundle (``export-key``) is a new vault with a
new identity and passphrase that holds only the named keys, their policies and aliases: the least a
CI job needs. ``KMSCLI_VAULT`` may point at either file to use it read-only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kmscli.errors import KMSError, VaultEnvironmentError
from kmscli.invocation import Sources
from kmscli.service.features.session import (
    Prompt,
    audit_event,
    audit_log_for,
    get_passphrase,
    require_passphrase,
    unlock,
)
from kmscli.service.operations import materials
from kmscli.service.pipeline.core import Call, Identity, Operation, ServiceContext, system_random, utcnow
from kmscli.settings import Settings
from kmscli.vault import archive, fs, layout
from kmscli.vault.store import DEFAULT_KDF, UnlockedVault, Vault, header_json

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord

#: Called with (done, total) as work advances (the CLI draws a progress bar with it).
Progress = Callable[[int, int], None]


def _no_progress(done: int, total: int) -> None:
    pass


def _created() -> str:
    return utcnow().isoformat(timespec="seconds")


def _require_folder(vault: UnlockedVault, what: str) -> None:
    if getattr(vault, "read_only", False):
        raise VaultEnvironmentError(f"{what} needs a vault folder; {vault.path} is a read-only archive file")


def backup(
    settings: Settings,
    sources: Sources,
    prompt: Prompt | None,
    outfile: Path,
    *,
    force: bool = False,
    progress: Progress = _no_progress,
) -> dict[str, Any]:
    """Write the whole vault to one encrypted file (same passphrase as the vault)."""
    archive.check_outfile(outfile, force=force)
    vault = unlock(settings, sources, prompt)
    _require_folder(vault, "backup")
    if outfile.resolve().is_relative_to(Path(vault.path).resolve()):
        raise VaultEnvironmentError(f"the backup file {outfile} must be outside the vault folder")
    with vault.lock(exclusive=True):  # exclusive: the log must not grow while it is copied
        audit_event(vault, settings, sources, "BackupVault", {"outfile": str(outfile)}, read_only=True)
        names = archive.vault_files(vault)
        files: dict[str, bytes] = {}
        for i, rel in enumerate(names, 1):
            files[rel] = vault.folder.read(rel, limit=archive.MAX_ARCHIVE)
            progress(i, len(names))
        created = _created()
        data = archive.seal(vault, "backup", created, files, system_random)
    archive.write_new_file(outfile, data, force=force)
    return {
        "Path": str(outfile),
        "Kind": "backup",
        "VaultId": vault.header.raw["vault_id"],
        "KeyCount": sum(1 for rel in files if layout.KEY_FILE_RE.match(rel)),
        "FileCount": len(files),
        "CreationDate": created,
    }


def restore(
    settings: Settings,
    sources: Sources,
    prompt: Prompt | None,
    infile: Path,
    *,
    force: bool = False,
    progress: Progress = _no_progress,
) -> dict[str, Any]:
    """Recreate a vault folder from a backup (or bundle); refuses to clobber one without ``force``."""
    target = Path(settings.vault_path)
    if target.is_symlink():  # the user's own setting is followed as given: restore where the link leads
        target = Path(os.path.realpath(target))
    sealed = archive.ArchiveFile.open(infile)  # first: a missing or foreign file is the error to report
    if target.is_file():
        raise VaultEnvironmentError(f"the vault path {target} is a file; restore needs a folder path")
    if Vault.exists(target):
        if not force:
            raise VaultEnvironmentError(
                f"a vault already exists at {target}; refusing to overwrite it without --force"
            )
    elif _holds_anything(target):  # the swap below removes the whole folder: never one that is not a vault
        raise VaultEnvironmentError(
            f"{target} is not a vault but is not empty either; restore replaces the whole folder, so it "
            "restores only over a vault (with --force), into an empty folder or to a new path"
        )
    opened = sealed.unlock(get_passphrase(sources, prompt, what="Passphrase of the backup"))
    assert isinstance(opened, archive.ArchiveVault)
    parent = target.parent
    if not parent.exists():
        fs.ensure_dir(parent)
    staging = parent / f".restore-{target.name}-{os.urandom(6).hex()}"
    try:
        with fs.VaultDir.open(staging, create=True) as folder:
            total = len(opened.files)
            for i, (rel, data) in enumerate(sorted(opened.files.items()), 1):
                folder.replace_atomic(rel, data)
                progress(i, total)
            for sub in layout.FOLDERS:
                folder.mkdir(sub)
            folder.replace_atomic(layout.HEADER, header_json(sealed.header.raw))
        Vault.open(staging).unlock_with_vault_key(opened.vault_key)  # the header checks out
        old: Path | None = None
        with _quiesced(target):
            if target.exists():
                old = parent / f".replaced-{target.name}-{os.urandom(6).hex()}"
                os.replace(target, old)
            os.replace(staging, target)
            fs.fsync_dir(parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    restored = Vault.open(target).unlock_with_vault_key(opened.vault_key)
    audit_event(restored, settings, sources, "RestoreVault", {"source": str(infile), "kind": sealed.kind})
    return {
        "Path": str(target),
        "Kind": sealed.kind,
        "VaultId": sealed.header.raw["vault_id"],
        "KeyCount": restored.key_count(),
        "Replaced": old is not None,
    }


@contextlib.contextmanager
def _quiesced(target: Path) -> Iterator[None]:
    """The vault being replaced at ``target`` (if any) under its exclusive lock: operations in flight
    there (a server's, another CLI's) finish and write their audit events first, and those waiting
    for the lock find the folder replaced when they get it (``VaultDir.check_in_place``) instead of
    writing into the folder about to be removed."""
    if not Vault.exists(target):
        yield
        return
    with fs.VaultDir.open(target) as folder, folder.locked(layout.LOCK, exclusive=True):
        yield


def _holds_anything(path: Path) -> bool:
    """Whether ``path`` names an existing entry other than an empty folder."""
    if not os.path.lexists(path):
        return False
    try:
        return not path.is_dir() or any(os.scandir(path))
    except OSError as exc:
        raise VaultEnvironmentError(f"cannot read the vault path {path}: {exc.strerror}") from None


def _write_lock(vault: UnlockedVault) -> contextlib.AbstractContextManager[None]:
    """The exclusive lock of a vault folder; nothing for a read-only archive (audit goes elsewhere)."""
    if getattr(vault, "read_only", False):
        return contextlib.nullcontext()
    return vault.lock(exclusive=True)


def archive_status(settings: Settings) -> dict[str, Any]:
    """``vault status`` for a backup or bundle file: what its header says (no passphrase needed)."""
    import datetime as dt

    sealed = archive.ArchiveFile.open(settings.vault_path)
    kdf = sealed.header.raw["kdf"]
    return {
        "Path": str(sealed.path),
        "FormatVersion": sealed.header.raw["format"],
        "VaultId": sealed.header.raw["vault_id"],
        "CreationDate": dt.datetime.fromisoformat(sealed.doc["created"]),
        "Kdf": {
            "Algorithm": "argon2id",
            "MemoryKiB": kdf["memory_cost"],
            "Iterations": kdf["iterations"],
            "Parallelism": kdf["lanes"],
        },
        "Kind": sealed.kind,
        "ReadOnly": True,
    }


#: The permission a bundle export needs on each key (kmscli only; ``kms:*`` includes it).
EXPORT_ACTION = "kms:ExportKeyBundle"
EXPORT_EVENT = "ExportKeys"


def _resolver(vault: UnlockedVault, settings: Settings, sources: Sources) -> Call:
    ctx = ServiceContext(
        vault=vault,
        identity=Identity(settings.principal, settings.account_id, settings.region),
        audit=audit_log_for(vault, settings, sources),
    )
    return Call(ctx, Operation(EXPORT_EVENT, lambda c: {}, False, True), {}, ctx.clock())


def _authorized_keys(call: Call, key_refs: list[str]) -> dict[str, KeyRecord]:
    """The records to export: each resolved, allowed ``kms:ExportKeyBundle`` by its key policy and
    grants, and Enabled (a disabled or pending-deletion key stays where it is)."""
    from kmscli.service.operations.common import require_enabled
    from kmscli.service.operations.policies import authorize

    records: dict[str, KeyRecord] = {}
    for ref in key_refs:
        record = call.resolve(ref)  # NotFoundException (exit 254) for an unknown key or alias
        authorize(call, EXPORT_ACTION, record, {})
        require_enabled(record)
        records[record["Arn"]] = record
    return records


def export_keys(
    settings: Settings,
    sources: Sources,
    prompt: Prompt | None,
    key_refs: list[str],
    outfile: Path,
    new_passphrase: bytes,
    *,
    kdf: dict[str, int] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write a bundle: a new vault (new id, new passphrase) holding only the named keys.

    Each key keeps its metadata, policy, grants, tags and ``Exportable`` flag; its material is
    rewrapped under the bundle's vault key; the aliases of the region that point at it come along.
    Exporting is authorized like an operation (``kms:ExportKeyBundle`` on each key, which must be
    Enabled) and audited, refusals included. It needs the vault passphrase: a session cannot export,
    since a bundle under a passphrase of the holder's choosing would outlive it (docs/security.md).
    """
    if not key_refs:
        raise VaultEnvironmentError("name at least one --key-id")
    require_passphrase(new_passphrase, "the bundle passphrase")
    archive.check_outfile(outfile, force=force)
    vault = unlock(settings, sources, prompt, refuse_session="vault export-key")
    files: dict[str, bytes] = {}
    exported: list[dict[str, str]] = []
    aliases_out: dict[str, dict[str, dict[str, Any]]] = {}
    refused: KMSError | None = None
    with vault.lock(exclusive=False):
        call = _resolver(vault, settings, sources)
        try:
            records = _authorized_keys(call, key_refs)
        except KMSError as exc:
            refused = exc
        else:
            params = dict(DEFAULT_KDF, **(kdf or {}))
            bundle = archive.new_vault_header(outfile, new_passphrase, params, system_random, _created())
            for arn, record in sorted(records.items()):
                region = record.get("Region") or arn.split(":")[3]
                copied = materials.rewrapped(record, vault, bundle, system_random)
                rel = layout.key_file(region, record["KeyId"])
                files[rel] = bundle.authenticated_doc(rel, copied)
                names = sorted(
                    name
                    for name, entry in vault.load_aliases(region).items()
                    if entry.get("TargetKeyId") == record["KeyId"]
                )
                for name in names:
                    aliases_out.setdefault(region, {})[name] = vault.load_aliases(region)[name]
                exported.append({"KeyId": record["KeyId"], "Arn": arn, "Aliases": ",".join(names)})

    def audit(extra: dict[str, Any], resources: list[str], error: KMSError | None = None) -> None:
        with _write_lock(vault):
            audit_event(
                vault,
                settings,
                sources,
                EXPORT_EVENT,
                {"outfile": str(outfile), **extra, **call.audit_extra},
                clock=call.ctx.clock,
                random=call.ctx.random,
                read_only=True,
                resources=resources,
                error=(error.code, error.message) if error is not None else None,
            )

    if refused is not None:
        audit({}, list(dict.fromkeys(call.resources)), refused)
        refused.for_operation("ExportKey")
        raise refused
    for region, entries in aliases_out.items():
        rel = layout.alias_file(region)
        files[rel] = bundle.authenticated_doc(rel, entries)
    data = archive.seal(bundle, "bundle", bundle.header.raw["created"], files, system_random)
    keys = [e["Arn"] for e in exported]
    audit({"bundleVaultId": bundle.header.raw["vault_id"], "keys": keys}, keys)
    archive.write_new_file(outfile, data, force=force)
    return {
        "Path": str(outfile),
        "Kind": "bundle",
        "VaultId": bundle.header.raw["vault_id"],
        "Keys": [
            {"KeyId": e["KeyId"], "Arn": e["Arn"], "Aliases": e["Aliases"].split(",") if e["Aliases"] else []}
            for e in exported
        ],
    }
