"""The operation registry and the call pipeline shared by every KMS operation.

``invoke(ctx, "Encrypt", request)`` validates the request against the model, takes the vault lock,
runs due work (expired deletions, rotations), runs the operation, appends the audit event (fail
closed), and only then commits the files the operation staged. Operations never print.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from kmscli import errors
from kmscli.audit import events
from kmscli.audit.log import AuditLog
from kmscli.clock import system_random as system_random
from kmscli.clock import utcnow as utcnow
from kmscli.errors import KMSError
from kmscli.ids import is_key_id, parse_kms_arn
from kmscli.model import operation as model_operation
from kmscli.service.pipeline import registry

# operation modules declare themselves with `from kmscli.service.pipeline.core import operation`
from kmscli.service.pipeline.registry import Operation as Operation
from kmscli.service.pipeline.registry import operation as operation
from kmscli.service.pipeline.validate import validate_request
from kmscli.vault.store import UnlockedVault

if TYPE_CHECKING:
    from kmscli.vault.records import AliasIndex, KeyRecord, Schedule, ScheduleEntry

Request = dict[str, Any]
Response = dict[str, Any]
#: Runs one operation by name: the local pipeline (:func:`local_caller`) or a remote endpoint
#: (``kmscli.remote``). Features beyond the KMS API that only make KMS calls take one of these, so
#: they work the same against the local vault and over the wire.
Caller = Callable[[str, Request], Response]
#: How every key and alias ARN kmscli issues begins (partition ``aws``); the region follows.
ARN_PREFIX = "arn:aws:kms:"


# The classes below are written out rather than declared as dataclasses: importing dataclasses (and
# the inspect/ast machinery it pulls in) and generating their methods was a tenth of a session
# Encrypt's wall time (bench/encrypt_session.py).
class Identity(NamedTuple):
    """Who is calling, and where: principal ARN, account and region.

    A caller over the network (``kmscli serve``) also has the access key it signed with, its address,
    its User-Agent and whether it came over TLS; the audit event records the first three as
    CloudTrail does, and key policies see them as ``aws:SourceIp``, ``aws:UserAgent`` and
    ``aws:SecureTransport`` (docs/policy.md).
    """

    principal: str
    account_id: str
    region: str
    access_key_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    secure_transport: bool | None = None


class ServiceContext:
    """Everything an operation may depend on; clock and randomness are injectable for tests."""

    __slots__ = ("audit", "clock", "identity", "random", "request_id", "session", "vault")

    def __init__(
        self,
        vault: UnlockedVault,
        identity: Identity,
        audit: AuditLog,
        clock: Callable[[], dt.datetime] = utcnow,
        random: Callable[[int], bytes] = system_random,
        request_id: str | None = None,
        session: bool = False,
    ) -> None:
        self.vault = vault
        self.identity = identity
        self.audit = audit
        self.clock = clock
        self.random = random
        #: The requestID of the next API call's event (a server sets it: it is also the response's
        #: x-amzn-RequestId); None draws a fresh one.
        self.request_id = request_id
        #: The vault was opened with a session token (KMSCLI_SESSION), not the passphrase: nothing
        #: that outlives the session may leave through it (export-key-material, vault export-key).
        self.session = session

    def new_uuid(self) -> str:
        """A random UUID from the context's randomness."""
        from kmscli.ids import uuid4

        return uuid4(self.random(16))

    def in_region(self, region: str) -> ServiceContext:
        """The same caller, vault, clock and randomness, calling from another region."""
        identity = self.identity._replace(region=region)
        return ServiceContext(
            self.vault, identity, self.audit, self.clock, self.random, self.request_id, self.session
        )


class ManagedKeyNeeded(errors.NotFoundException):  # type: ignore[misc,valid-type]
    """An ``alias/aws/...`` alias with no key yet. For a predefined one, ``invoke`` creates the AWS
    managed key (service/operations/managed.py) and runs the call again; anywhere else it is the
    NotFoundException it derives from."""

    def __init__(self, alias_name: str, message: str) -> None:
        super().__init__(message)
        self.alias_name = alias_name


class Call:
    """One operation in flight: its request, the time, and the writes it stages."""

    __slots__ = (
        "alias_dirty",
        "audit_extra",
        "audit_request",
        "ctx",
        "deferred",
        "loaded",
        "now",
        "op",
        "request",
        "resources",
        "staged_aliases",
        "staged_keys",
        "staged_schedule",
    )

    def __init__(
        self,
        ctx: ServiceContext,
        op: Operation,
        request: Request,
        now: dt.datetime,
        *,
        resources: list[str] | None = None,
        audit_extra: dict[str, Any] | None = None,
    ) -> None:
        self.ctx = ctx
        self.op = op
        self.request = request
        self.now = now
        self.resources: list[str] = resources if resources is not None else []
        self.audit_extra: dict[str, Any] = audit_extra if audit_extra is not None else {}
        self.audit_request: dict[str, Any] = {}
        self.staged_keys: dict[tuple[str, str], KeyRecord | None] = {}
        self.staged_aliases: dict[str, AliasIndex] = {}
        self.staged_schedule: Schedule | None = None
        self.alias_dirty: set[str] = set()
        self.loaded: dict[tuple[str, str], KeyRecord] = {}
        #: Service events held back until the commit's intent is recorded (due work); else None.
        self.deferred: list[dict[str, Any]] | None = None

    # -- identity and naming ---------------------------------------------------------------
    @property
    def region(self) -> str:
        """The region this call runs in."""
        return self.ctx.identity.region

    @property
    def account_id(self) -> str:
        """The account that owns the vault's keys."""
        return self.ctx.identity.account_id

    def key_arn(self, key_id: str, region: str | None = None) -> str:
        """The ARN of ``key_id`` in this account."""
        return f"{ARN_PREFIX}{region or self.region}:{self.account_id}:key/{key_id}"

    def alias_arn(self, alias_name: str, region: str | None = None) -> str:
        """The ARN of an alias name (``alias/...``)."""
        return f"{ARN_PREFIX}{region or self.region}:{self.account_id}:{alias_name}"

    # -- reading -------------------------------------------------------------------------------
    def load(self, key_id: str, region: str | None = None) -> KeyRecord | None:
        """A key record as this call sees it (its own staged writes included)."""
        where = (region or self.region, key_id)
        if where in self.staged_keys:
            return self.staged_keys[where]
        if where not in self.loaded:
            record = self.ctx.vault.load_key(*where)
            if record is None:
                return None
            self.loaded[where] = cast("KeyRecord", record)
        return self.loaded[where]

    def aliases(self, region: str | None = None) -> AliasIndex:
        """The alias index of a region (staged version when this call changed it)."""
        reg = region or self.region
        if reg not in self.staged_aliases:
            self.staged_aliases[reg] = cast("AliasIndex", self.ctx.vault.load_aliases(reg))
        return self.staged_aliases[reg]

    def resolve(self, ref: str, *, allow_alias: bool = True) -> KeyRecord:
        """The key a KeyId parameter names: key id, key ARN, alias name or alias ARN."""
        record = self._resolve(ref, allow_alias)
        self.resources.append(record["Arn"])
        return record

    def peek(self, ref: str) -> KeyRecord | None:
        """The key a KeyId parameter names, or None when it names none; unlike ``resolve`` it leaves
        no trace in the call (no resource, no request alias), for a decision that needs to know a
        key before the operation resolves it."""
        had_alias = "requestAlias" in self.audit_extra
        try:
            return self._resolve(ref, True)
        except errors.NotFoundException:
            return None
        finally:
            if not had_alias:
                self.audit_extra.pop("requestAlias", None)

    def _resolve(self, ref: str, allow_alias: bool) -> KeyRecord:
        region = self.region
        key_id: str | None = None
        arn = parse_kms_arn(ref)
        # an ARN of another partition (arn:aws-cn:..., arn:aws-us-gov:...) names no key of this one
        elsewhere = arn is not None and not ref.startswith(ARN_PREFIX)
        if arn is not None and arn[2].startswith("key/"):
            region, account, key_id = arn[0], arn[1], arn[2][4:]
            if account != self.account_id or region != self.region or elsewhere:
                raise errors.NotFoundException(f"Key '{ref}' does not exist")
        elif is_key_id(ref):
            key_id = ref
        elif ref.startswith("alias/") or arn is not None:
            if not allow_alias:
                raise errors.NotFoundException(
                    f"Invalid keyId '{ref}'. {self.op.name} takes no alias: give the key id or key ARN "
                    f"(`kmscli describe-key --key-id {ref}` shows them)"
                )
            name = ref
            if arn is not None:  # an alias ARN
                if arn[1] != self.account_id or arn[0] != self.region or elsewhere:
                    raise errors.NotFoundException(f"Alias {ref} is not found.")
                name = arn[2]
            entry = self.aliases().get(name)
            if entry is None and name.startswith("alias/aws/"):
                raise ManagedKeyNeeded(name, f"Alias {self.alias_arn(name)} is not found.")
            if entry is None:
                raise errors.NotFoundException(f"Alias {self.alias_arn(name)} is not found.")
            key_id = entry["TargetKeyId"]
            self.audit_extra.setdefault("requestAlias", name)
        else:
            raise errors.NotFoundException(f"Invalid keyId '{ref}'")
        record = self.load(key_id, region) if is_key_id(key_id) else None
        if record is None:
            raise errors.NotFoundException(f"Key '{self.key_arn(key_id, region)}' does not exist")
        return record

    # -- checks ---------------------------------------------------------------------------------
    def authorize(self, action: str, record: KeyRecord, context: dict[str, Any] | None = None) -> None:
        """Ask the policy engine whether the caller may do ``action`` on ``record``."""
        registry.authorizer()(self, action, record, context or {})

    def dry_run(self) -> None:
        """End a DryRun request that would have succeeded (call after every check passed)."""
        if self.request.get("DryRun"):
            raise errors.DryRunOperationException(
                "The request would have succeeded, but the DryRun flag is set."
            )

    # -- staging writes -------------------------------------------------------------------------
    def save(self, record: KeyRecord) -> None:
        """Stage a key record to be written once the audit event is durable."""
        region = record.get("Region", self.region)
        self.staged_keys[(region, record["KeyId"])] = record

    def destroy(self, key_id: str, region: str | None = None) -> None:
        """Stage destruction of a key's file (its material is overwritten and removed)."""
        self.staged_keys[(region or self.region, key_id)] = None

    def touch_aliases(self, region: str | None = None) -> None:
        """Mark the alias index of a region as changed (write it at commit)."""
        self.aliases(region)
        self.alias_dirty.add(region or self.region)

    def schedule(self) -> Schedule:
        """The due-work schedule, staged for change."""
        if self.staged_schedule is None:
            self.staged_schedule = cast("Schedule", self.ctx.vault.load_schedule())
        return self.staged_schedule

    def _schedule_versions(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The schedule versions :meth:`commit` writes: the union of the stored and the staged entries
        (before the key files, when it differs from the stored one), then the staged one (after
        them, when it differs from what is stored by then)."""
        final = self.staged_schedule
        if final is None:
            return None, None
        before = self.ctx.vault.load_schedule()
        union = {**before, **{k: {**before.get(k, {}), **v} for k, v in final.items()}}
        first = union if union != before else None
        return first, final if final != (before if first is None else first) else None

    def commit(self) -> None:
        """Write everything staged (the caller holds the exclusive lock).

        The order makes a crash between two files recoverable: due work is added to the schedule
        before the key files change and retired from it only after they changed (an entry whose key
        is not PendingDeletion is dropped harmlessly when it comes due), and alias removals land
        before a key file is destroyed, so no alias is left pointing at a deleted key.
        """
        vault = self.ctx.vault
        first, last = self._schedule_versions()
        if first is not None:
            vault.save_schedule(first)
        for region in sorted(self.alias_dirty):
            vault.save_aliases(region, cast("dict[str, dict[str, Any]]", self.staged_aliases[region]))
        for (region, key_id), record in self.staged_keys.items():
            if record is None:
                vault.destroy_key(region, key_id)
            else:
                vault.save_key(region, cast("dict[str, Any]", record))
        if last is not None:
            vault.save_schedule(last)

    def planned_files(self) -> dict[str, list[str | None]]:
        """Every file :meth:`commit` writes (vault-relative) and the MACs it passes through (None:
        removed), for the vault state's record of the commit in flight."""
        from kmscli.vault import layout

        vault = self.ctx.vault
        out: dict[str, list[str | None]] = {}
        for region in sorted(self.alias_dirty):
            rel = vault.alias_file(region)
            out[rel] = [vault.mac_of(rel, self.staged_aliases[region])]
        for (region, key_id), record in self.staged_keys.items():
            rel = vault.key_file(region, key_id)
            out[rel] = [None if record is None else vault.mac_of(rel, record)]
        if versions := [v for v in self._schedule_versions() if v is not None]:
            out[layout.SCHEDULE] = [vault.mac_of(layout.SCHEDULE, v) for v in versions]
        return out

    @property
    def has_writes(self) -> bool:
        """Whether the call staged anything."""
        return bool(self.staged_keys or self.alias_dirty or self.staged_schedule is not None)


def _audit(
    call: Call,
    response: Response | None,
    error: KMSError | None,
    *,
    name: str | None = None,
    event_type: str = "AwsApiCall",
    source: str = "kms.amazonaws.com",
) -> dict[str, Any]:
    ctx = call.ctx
    op = model_operation(call.op.name) if name is None else None
    request = events.sanitize(op["input"], call.request) if op else None
    if call.audit_request:
        request = {**(request or {}), **call.audit_request}
    resp = events.sanitize(op["output"], response) if op and response is not None else None
    return ctx.audit.append(
        events.build(
            name=name or call.op.name,
            when=call.now,
            principal=ctx.identity.principal,
            account_id=ctx.identity.account_id,
            region=ctx.identity.region,
            request=request,
            response=resp,
            resources=list(dict.fromkeys(call.resources)),
            read_only=call.op.read_only,
            request_id=(ctx.request_id if name is None else None) or ctx.new_uuid(),
            event_id=ctx.new_uuid(),
            error=(error.code, error.message) if error else None,
            source=source,
            event_type=event_type,
            extra=call.audit_extra or None,
            caller=ctx.identity,
        )
    )


def record_service_event(call: Call, name: str, resources: list[str], extra: dict[str, Any]) -> None:
    """Append an event that kmscli itself caused (a deletion or rotation coming due); held back
    until the commit's intent is recorded when the call defers them (due work)."""
    sub = Call(call.ctx, call.op, {}, call.now, resources=list(resources), audit_extra=extra)
    if call.deferred is not None:
        call.deferred.append({"name": name, "call": sub})
        return
    _audit(sub, None, None, name=name, event_type="AwsServiceEvent")


# -- committing under the authenticated vault state (kmscli/vault/state.py) ------------------------------
def _commit_audited(call: Call, append: Callable[[], dict[str, Any]]) -> None:
    """Record the commit's intent in the vault state, ``append`` its audit event(s) (the last one
    carries ``vaultGeneration``), write the files, then make the state name that event.

    A write that fails after the event is settled at once: a RecoverVaultCommit event records which
    files landed, and the call fails with exit 253 (VaultCommitError), never with a lone success."""
    from kmscli.vault import state

    vault = call.ctx.vault
    txn = state.begin(vault, call.planned_files(), vault.state_cache)
    call.audit_extra["vaultGeneration"] = txn.generation
    try:
        event = append()
    except BaseException:
        state.abandon(vault, txn)
        raise
    try:
        call.commit()
        state.finish(vault, txn, (int(event["sequence"]), str(event["chain"])))
    except (OSError, errors.KmscliError) as exc:
        reason = f"the commit of sequence {event['sequence']} failed: {getattr(exc, 'strerror', None) or exc}"
        try:
            _recover_commit(call.ctx, call.now, reason)
        except (OSError, errors.KmscliError):
            reason += "; the next call records which files landed"
        raise VaultCommitError(f"{reason}. The change may be partly applied; see `kmscli audit`") from None


class VaultCommitError(errors.VaultEnvironmentError):
    """Files could not be written after the call's audit event was (exit 253)."""


class VaultIOError(errors.VaultEnvironmentError):
    """The file system refused a read or write before the call's audit event (a full disk, a file
    size or open-file limit, a folder gone or read-only): nothing was done (exit 253)."""


def _recover_commit(ctx: ServiceContext, now: dt.datetime, reason: str) -> None:
    """Settle an unfinished commit (caller holds the exclusive lock); a RecoverVaultCommit event says
    which of its files were written."""
    from kmscli.vault import state

    def record(generation: int, outcome: dict[str, str]) -> tuple[int, str]:
        extra = {"vaultGeneration": generation, "reason": reason, "files": outcome}
        sub = Call(
            ctx, Operation("RecoverVaultCommit", lambda c: {}, True, False), {}, now, audit_extra=extra
        )
        event = _audit(
            sub, None, None, name="RecoverVaultCommit", event_type="AwsServiceEvent", source="kmscli"
        )
        return int(event["sequence"]), str(event["chain"])

    state.recover(ctx.vault, ctx.vault.state_cache, record)


def _settle_unfinished(ctx: ServiceContext, now: dt.datetime) -> None:
    """A commit interrupted by a crash is settled before anything else reads the vault."""
    current = ctx.vault.vault_state()
    if current is None or not current.unfinished:
        return
    with ctx.vault.lock(exclusive=True):
        _recover_commit(ctx, now, "a commit was interrupted (crash or kill) before it finished")


def _run_due_work(ctx: ServiceContext, now: dt.datetime) -> None:
    """Apply deletions, rotations and expiries whose time has come (lazily, at vault access)."""
    schedule = cast("Schedule", ctx.vault.load_schedule())
    if not any(_is_due(entry, now) for entry in schedule.values()):
        return
    handlers = registry.due_handlers()
    with ctx.vault.lock(exclusive=True):
        call = Call(ctx, Operation("ScheduledWork", lambda c: {}, True, False), {}, now)
        call.deferred = []
        for where, entry in sorted(call.schedule().items()):
            for field_name, handler in handlers.items():
                when = entry.get(field_name)
                if isinstance(when, str) and dt.datetime.fromisoformat(when) <= now:
                    region, key_id = where.split("/", 1)
                    handler(call, region, key_id, entry)
        _commit_due_work(call)


def _commit_due_work(call: Call) -> None:
    """Append the due work's service events (the last carries the commit's generation) and commit."""
    held, call.deferred = call.deferred or [], None

    def append() -> dict[str, Any]:
        event: dict[str, Any] = {}
        for i, item in enumerate(held):
            sub = item["call"]
            if i == len(held) - 1 and "vaultGeneration" in call.audit_extra:
                sub.audit_extra["vaultGeneration"] = call.audit_extra["vaultGeneration"]
            event = _audit(sub, None, None, name=item["name"], event_type="AwsServiceEvent")
        return event

    if not call.has_writes:
        append()
    elif held:
        _commit_audited(call, append)
    else:  # nothing to record (a stale entry dropped): the schedule change alone, under a kmscli event
        _commit_audited(
            call,
            lambda: _audit(
                call, None, None, name="UpdateSchedule", event_type="AwsServiceEvent", source="kmscli"
            ),
        )


def _is_due(entry: ScheduleEntry, now: dt.datetime) -> bool:
    """Every schedule field is a due time named ``*_at`` (their handlers may not be loaded yet)."""
    return any(
        name.endswith("_at") and isinstance(when, str) and dt.datetime.fromisoformat(when) <= now
        for name, when in entry.items()
    )


def invoke(ctx: ServiceContext, name: str, request: Request) -> Response:
    """Run one KMS operation end to end; raises KMSError (audited, ``operation`` set) on failure."""
    try:
        return _invoke(ctx, name, request)
    except KMSError as exc:
        exc.for_operation(name)
        raise
    except OSError as exc:
        # before the call's audit event (a write after it is VaultCommitError): nothing happened
        raise VaultIOError(
            f"cannot use the vault {ctx.vault.path} ({errors.os_error_text(exc)}); {name} was not performed"
        ) from None


def _invoke(ctx: ServiceContext, name: str, request: Request) -> Response:
    op = registry.load(name)
    if op is None:
        raise errors.UnsupportedOperationException(f"{name} is not implemented by kmscli")
    now = ctx.clock()
    _settle_unfinished(ctx, now)
    _run_due_work(ctx, now)
    created: set[str] = set()
    while True:
        try:
            return _invoke_once(ctx, op, name, request, now, created)
        except ManagedKeyNeeded as need:
            if not _managed_key_creatable(ctx, need, created):
                raise  # already audited as the NotFoundException it is
            created.add(need.alias_name)  # not audited yet: create the key, then run the call again
            _create_managed_key(ctx, need.alias_name, now)


def _managed_key_creatable(ctx: ServiceContext, exc: KMSError, created: set[str]) -> bool:
    """Whether ``exc`` asks for an AWS managed key this call may create (once, in a vault folder)."""
    if not isinstance(exc, ManagedKeyNeeded) or exc.alias_name in created:
        return False
    if getattr(ctx.vault, "read_only", False):  # a backup or bundle file: nothing can be created
        return False
    return registry.is_predefined_alias(exc.alias_name)


def _create_managed_key(ctx: ServiceContext, alias_name: str, now: dt.datetime) -> None:
    """Create the AWS managed key of a predefined alias: exclusive lock, audited, committed."""
    with ctx.vault.lock(exclusive=True):
        call = Call(ctx, Operation("CreateKey", lambda c: {}, True, False), {}, now)
        if alias_name in call.aliases():  # another process created it meanwhile
            return
        call.deferred = []  # its event carries the commit's generation (vault state)
        record = registry.managed_key_creator()(call, alias_name)
        record_service_event(
            call,
            "CreateKey",
            [record["Arn"]],
            {"keyManager": record.get("KeyManager"), "aliasName": alias_name, "keyId": record["KeyId"]},
        )
        _commit_due_work(call)


def _invoke_once(
    ctx: ServiceContext, op: Operation, name: str, request: Request, now: dt.datetime, created: set[str]
) -> Response:
    call = Call(ctx, op, request, now)
    with ctx.vault.lock(exclusive=op.mutating):
        try:
            validate_request(model_operation(name)["input"], request)
            response = op.func(call)
        except KMSError as exc:
            if _managed_key_creatable(ctx, exc, created):
                raise
            _audit(call, None, exc)
            raise
        except Exception as exc:  # a defect, or a vault problem: still one event, then the original error
            _audit(call, None, errors.KMSInternalException(f"internal error ({type(exc).__name__})"))
            raise
        if call.has_writes and op.mutating:
            _commit_audited(call, lambda: _audit(call, response, None))
        else:
            _audit(call, response, None)
            if call.has_writes:
                raise errors.KMSInternalException(f"{name} staged writes without the write lock")
    return response


def iso(when: dt.datetime) -> str:
    """How timestamps are stored in vault records."""
    return when.astimezone(dt.UTC).isoformat()


def parse_time(text: str) -> dt.datetime:
    """Inverse of :func:`iso`."""
    return dt.datetime.fromisoformat(text)


def local_caller(ctx: ServiceContext) -> Caller:
    """A :data:`Caller` that runs each operation on ``ctx``'s vault through :func:`invoke`."""

    def call(name: str, request: Request) -> Response:
        return invoke(ctx, name, request)

    return call
