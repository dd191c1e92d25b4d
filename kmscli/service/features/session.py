"""Opening the vault for one invocation: passphrase sources, unlocking, the service context.

Every input is explicit: the settings and the :class:`kmscli.invocation.Sources` the front end
resolved (passphrase, passphrase file, session token, audit-log folder). Nothing here reads the
environment. :func:`unlock` is the one way to unlock the vault from those sources.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kmscli import clock as real
from kmscli.audit.log import AuditLog
from kmscli.errors import VaultEnvironmentError
from kmscli.invocation import Sources
from kmscli.settings import Settings
from kmscli.vault import fs, layout
from kmscli.vault.store import UnlockedVault, Vault

if TYPE_CHECKING:  # the pipeline is imported where a context is built: an audit query unlocks without it
    from kmscli.service.pipeline.core import ServiceContext

#: Asks the user for a secret on a terminal: (prompt text, confirm twice) -> passphrase.
Prompt = Callable[[str, bool], str]
MAX_PASSPHRASE_FILE = 64 * 1024


def read_passphrase_file(path: fs.StrPath) -> bytes:
    """The passphrase in a file (one trailing newline removed)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_PASSPHRASE_FILE + 1)
    except OSError as exc:
        raise VaultEnvironmentError(f"cannot read passphrase file {path}: {exc.strerror}") from None
    if len(data) > MAX_PASSPHRASE_FILE:
        raise VaultEnvironmentError(f"passphrase file {path} is larger than {MAX_PASSPHRASE_FILE} bytes")
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    return data


def get_passphrase(
    sources: Sources, prompt: Prompt | None, *, confirm: bool = False, what: str = "Vault passphrase"
) -> bytes:
    """The passphrase, else the passphrase file, else a no-echo prompt.

    ``kmscli.invocation.Sources.from_environ`` decides what a source holds: an explicit
    ``--passphrase-file`` leaves out ``KMSCLI_PASSPHRASE`` (the option wins).
    """
    if sources.passphrase is not None:
        secret = sources.passphrase
    elif sources.passphrase_file is not None:
        secret = read_passphrase_file(sources.passphrase_file)
    elif prompt is not None:
        secret = prompt(what, confirm).encode()
    else:
        raise VaultEnvironmentError(
            "no passphrase: set KMSCLI_PASSPHRASE, KMSCLI_PASSPHRASE_FILE or --passphrase-file, "
            "or KMSCLI_SESSION (see `kmscli unlock`), or run on a terminal to be prompted"
        )
    return require_passphrase(secret, "the passphrase")


def require_passphrase(secret: bytes, what: str) -> bytes:
    """``secret`` unless it is empty: no passphrase source ever yields an empty one, so a vault or
    bundle wrapped under it could never be opened again."""
    if not secret:
        raise VaultEnvironmentError(f"{what} is empty")
    return secret


def open_vault(settings: Settings) -> Vault:
    """The configured vault: a folder, or a read-only archive file (backup or bundle)."""
    if fs.is_file(settings.vault_path):
        from kmscli.vault.archive import ArchiveFile

        return ArchiveFile.open(settings.vault_path)
    return Vault.open(settings.vault_path)


def unlock(
    settings: Settings, sources: Sources, prompt: Prompt | None, *, refuse_session: str = ""
) -> UnlockedVault:
    """Open and unlock the configured vault from these sources: the session token (no KDF) when
    there is one, else the passphrase (:func:`get_passphrase`).

    ``refuse_session`` names a command that needs the passphrase itself: a session is not used for
    it, and when the passphrase is not at hand either, the error says why.
    """
    vault = open_vault(settings)
    if sources.session_token and refuse_session:
        try:
            return vault.unlock(get_passphrase(sources, prompt))
        except VaultEnvironmentError as exc:
            if not str(exc).startswith("no passphrase"):
                raise
            raise VaultEnvironmentError(
                f"{refuse_session} needs the vault passphrase: a session (KMSCLI_SESSION) cannot be used "
                "for it, because what it writes outlives the session"
            ) from None
    if sources.session_token:
        from kmscli.vault import sessions

        return vault.unlock_with_vault_key(
            sessions.open_session(vault.header.raw["vault_id"], sources.session_token, real.utcnow())
        )
    return vault.unlock(get_passphrase(sources, prompt))


def audit_log_for(vault: UnlockedVault, settings: Settings, sources: Sources) -> AuditLog:
    """The vault's chained log. A read-only archive logs to ``sources.audit_log`` (a folder), else
    to a durable folder of the user's (:func:`kmscli.settings.archive_audit_path`): never to a
    stream that ``2>/dev/null`` would drop. An append that cannot be made durable fails closed."""
    if getattr(vault, "read_only", False):  # an ArchiveVault (not imported: the hot path)
        from kmscli.settings import archive_audit_path

        folder = sources.audit_log or archive_audit_path(vault.header.raw["vault_id"])
        return AuditLog(folder, vault.audit_key, settings.audit_segment_bytes, indexer=index_segment)
    log = AuditLog(
        fs.join(vault.path, layout.AUDIT),
        vault.audit_key,
        settings.audit_segment_bytes,
        vault=vault.folder,
        indexer=index_segment,
    )
    state = vault.vault_state()  # read by every call anyway (cached)
    log.require_head = state is not None and state.head is not None  # a commit's event was appended
    return log


def index_segment(segment: str, audit_key: bytes) -> None:
    """The writer's indexer: brings ``segment``'s sidecar index up to date (imported only when a
    segment is sealed or grows past an 8 MiB mark, never on an ordinary append)."""
    from kmscli.audit import index

    index.write(segment, audit_key)


def context_for(vault: UnlockedVault, settings: Settings, sources: Sources) -> ServiceContext:
    """The service context of an unlocked vault for these settings."""
    from kmscli.service.pipeline.core import Identity, ServiceContext

    return ServiceContext(
        vault=vault,
        identity=Identity(settings.principal, settings.account_id, settings.region),
        audit=audit_log_for(vault, settings, sources),
    )


def open_service(settings: Settings, sources: Sources, prompt: Prompt | None) -> ServiceContext:
    """Unlock the vault and build the context every operation runs in."""
    ctx = context_for(unlock(settings, sources, prompt), settings, sources)
    ctx.session = bool(sources.session_token)  # unlock used the session when there is one
    return ctx


Clock = Callable[[], dt.datetime]
Random = Callable[[int], bytes]


def kmscli_event(
    settings: Settings,
    name: str,
    extra: dict[str, Any] | None = None,
    *,
    clock: Clock | None = None,
    random: Random | None = None,
    read_only: bool = False,
    resources: list[str] | None = None,
    error: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A CloudTrail-shaped record of something kmscli itself did (not a KMS API call); its time and
    ids come from ``clock`` and ``random`` (a ServiceContext's, where there is one; else the real ones)."""
    from kmscli.audit import events
    from kmscli.ids import uuid4

    return events.build(
        name=name,
        when=(clock or real.utcnow)(),
        principal=settings.principal,
        account_id=settings.account_id,
        region=settings.region,
        request=None,
        response=None,
        resources=resources or [],
        read_only=read_only,
        request_id=uuid4((random or real.system_random)(16)),
        event_id=uuid4((random or real.system_random)(16)),
        error=error,
        source="kmscli",
        extra=extra,
    )


def audit_event(
    vault: UnlockedVault,
    settings: Settings,
    sources: Sources,
    name: str,
    extra: dict[str, Any],
    *,
    clock: Clock | None = None,
    random: Random | None = None,
    read_only: bool = False,
    resources: list[str] | None = None,
    error: tuple[str, str] | None = None,
) -> None:
    """Append a kmscli event (not a KMS API call) to the vault's audit log (fail closed)."""
    event = kmscli_event(
        settings,
        name,
        extra,
        clock=clock,
        random=random,
        read_only=read_only,
        resources=resources,
        error=error,
    )
    audit_log_for(vault, settings, sources).append(event)
