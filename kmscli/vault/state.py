"""Authenticated vault state: which version of every vault file is the current one.

``state.json`` (an authenticated file, docs/format.md section 1.5) holds the vault's generation, the
audit event of the commit that made it (sequence and chain value), the MACs of the alias indexes,
the schedule and the manifest buckets, and, while a commit is in flight, the MACs each changing
file may have (``pending``). Key files are listed in 256 buckets ``manifest/XY.json`` (``XY`` = the
first two hex digits of the key id), so a read touches ``state.json``, one bucket and the key file,
whatever the number of keys. A file whose MAC is not the listed one is an older authentic copy put
back (rollback) or a file from another moment: ``store.TamperError``. A listed file that is missing
was removed; an unlisted key file was put back.

A commit runs: :func:`begin` (state with ``pending``), the audit event (carrying
``vaultGeneration``), the file writes, :func:`finish` (buckets, then the state without ``pending``).
A crash anywhere leaves files that ``pending`` accepts; the next call runs :func:`recover`, which
records what landed in a ``RecoverVaultCommit`` event and makes that the state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kmscli.errors import VaultEnvironmentError
from kmscli.vault import fs, layout

if TYPE_CHECKING:
    from kmscli.vault.store import UnlockedVault

STATE_NAME = layout.STATE
MANIFEST_DIR = layout.MANIFEST
STATE_VERSION = 1
#: The stamp of a state changed in memory: never a file's, so it is read from disk next time.
_NO_STAMP: fs.Stamp = (0, 0, 0, 0, 0)
#: Files the state lists directly (key files are listed in the buckets).
_LISTED_DIRS = (layout.ALIASES,)


class StateTamperError(VaultEnvironmentError):
    """The vault state, a manifest bucket, or a file an unfinished commit was changing was tampered
    with (exit 253). (Not ``store.TamperError``: the store imports this module.)"""


def governs(rel: str) -> bool:
    """Whether the state lists ``rel``'s versions: key files, alias indexes, the schedule and the
    manifest buckets (not the header, the audit log or ``credentials.json``)."""
    return (
        rel.startswith((layout.KEYS + "/", layout.ALIASES + "/", MANIFEST_DIR + "/"))
        or rel == layout.SCHEDULE
    )


def bucket_of(rel: str) -> str | None:
    """``manifest/XY.json`` for a key file ``keys/REGION/ID.json``; None for any other file."""
    if not rel.startswith(layout.KEYS + "/"):
        return None
    key_id = rel.rsplit("/", 1)[-1].removeprefix("mrk-")
    return f"{MANIFEST_DIR}/{key_id[:2]}.json"


class VaultState:
    """One authentic ``state.json``, with the buckets read so far."""

    __slots__ = (
        "buckets",
        "files",
        "generation",
        "head",
        "migrating",
        "pending",
        "pending_generation",
        "stamp",
    )

    def __init__(self, data: Any, stamp: fs.Stamp, where: str) -> None:
        try:
            if data["version"] != STATE_VERSION:
                raise VaultEnvironmentError(
                    f"{where}: state version {data['version']!r} is not {STATE_VERSION}"
                )
            self.generation = int(data["generation"])
            head = data["head"]
            self.head: tuple[int, str] | None = (
                None if head is None else (int(head["sequence"]), str(head["chain"]))
            )
            self.files: dict[str, str] = {str(k): str(v) for k, v in data["files"].items()}
            pending = data.get("pending") or {}
            self.pending_generation = int(pending.get("generation", 0))
            self.migrating = pending.get("migrating") is True
            self.pending: dict[str, list[str | None]] = {
                str(k): [None if m is None else str(m) for m in v]
                for k, v in pending.get("files", {}).items()
            }
        except (KeyError, TypeError, ValueError, AttributeError):
            raise StateTamperError(f"vault state {where} is malformed") from None
        self.stamp = stamp
        self.buckets: dict[str, dict[str, str]] = {}

    def listed(self, vault: UnlockedVault, rel: str) -> str | None:
        """The MAC the state lists for ``rel`` (None: the file must not exist)."""
        bucket = bucket_of(rel)
        if bucket is None:
            return self.files.get(rel)
        return self.bucket(vault, bucket).get(rel)

    def bucket(self, vault: UnlockedVault, bucket: str) -> dict[str, str]:
        """One manifest bucket (authenticated and checked against the state), read once."""
        if bucket not in self.buckets:
            try:
                data = vault.read_authenticated(bucket, "vault manifest")
            except FileNotFoundError:
                data = {}
            if not isinstance(data, dict):
                raise StateTamperError(f"vault manifest {vault.folder.name(bucket)} is malformed")
            self.buckets[bucket] = data
        return self.buckets[bucket]

    def accepts(self, vault: UnlockedVault, rel: str, mac: str | None) -> bool:
        """Whether a file at ``rel`` with ``mac`` (None: absent) is a current version."""
        return mac in self.pending.get(rel, ()) or mac == self.listed(vault, rel)

    def as_data(self) -> dict[str, Any]:
        """The ``data`` member of ``state.json``."""
        out: dict[str, Any] = {
            "version": STATE_VERSION,
            "generation": self.generation,
            "head": None if self.head is None else {"sequence": self.head[0], "chain": self.head[1]},
            "files": dict(sorted(self.files.items())),
        }
        if self.unfinished or self.pending_generation:
            out["pending"] = {"generation": self.pending_generation, "files": self.pending}
            if self.migrating:
                out["pending"]["migrating"] = True
        return out

    @property
    def unfinished(self) -> bool:
        """Whether a commit (or the first listing of an older vault's files) did not finish."""
        return bool(self.pending) or self.migrating


def state_path(vault: UnlockedVault) -> str:
    """Where ``state.json`` lives (for messages)."""
    return vault.folder.name(STATE_NAME)


def current(vault: UnlockedVault, cache: list[VaultState]) -> VaultState | None:
    """The vault's state (re-read only when ``state.json`` changed); None for a vault that has none
    yet (made by an older kmscli; :func:`migrate` gives it one at its next write)."""
    stamp = vault.folder.stamp_of(STATE_NAME)
    if cache and cache[0].stamp == stamp:
        return cache[0]
    path = state_path(vault)
    if stamp is None:
        if vault.folder.is_dir(MANIFEST_DIR):
            raise StateTamperError(
                f"vault state {path} was removed: without it an older copy of any vault file would be "
                "accepted; restore it from a backup"
            )
        return None
    state = VaultState(vault.read_authenticated(STATE_NAME, "vault state"), stamp, path)
    cache[:] = [state]
    return state


def _write_state(vault: UnlockedVault, state: VaultState) -> None:
    state.stamp = _NO_STAMP  # changed in memory: re-read from disk next time, whether or not this lands
    vault.write_authenticated(STATE_NAME, state.as_data())


def create(vault: UnlockedVault) -> None:
    """A new vault's state: generation 0, nothing listed (caller holds the exclusive lock)."""
    vault.folder.mkdir(MANIFEST_DIR)
    _write_state(vault, VaultState({"version": 1, "generation": 0, "head": None, "files": {}}, _NO_STAMP, ""))


def migrate(vault: UnlockedVault) -> None:
    """Give a vault made by an older kmscli its state: every file as it is now is the current one
    (an existing state keeps its generation and head). Reads every key file once (exclusive lock
    held); afterwards reads cost one bucket each."""
    before = current(vault, []) if vault.folder.lstat(STATE_NAME) is not None else None
    if before is None:  # say so first: a crash before the listing is complete is then redone, not tamper
        before = VaultState({"version": 1, "generation": 0, "head": None, "files": {}}, _NO_STAMP, "")
        before.migrating = True
        vault.folder.mkdir(MANIFEST_DIR)
        _write_state(vault, before)
    files: dict[str, str] = {}
    old = vault.folder.listdir(MANIFEST_DIR)
    buckets: dict[str, dict[str, str]] = {f"{MANIFEST_DIR}/{n}": {} for n in old if n.endswith(".json")}
    for region in vault.list_regions():
        for key_id in vault.list_key_ids(region):
            rel = vault.key_file(region, key_id)
            mac = vault.read_mac_checked(rel, "key file")[1]
            buckets.setdefault(str(bucket_of(rel)), {})[rel] = mac
    for rel in _other_files(vault):
        files[rel] = vault.read_mac_checked(rel, "vault file")[1]
    vault.folder.mkdir(MANIFEST_DIR)
    for bucket, data in sorted(buckets.items()):
        vault.write_authenticated(bucket, data)
        files[bucket] = vault.mac_of(bucket, data)
    state = VaultState({"version": 1, "generation": 0, "head": None, "files": files}, _NO_STAMP, "")
    if before is not None:
        state.generation, state.head = before.generation, before.head
    _write_state(vault, state)


def _other_files(vault: UnlockedVault) -> list[str]:
    out = [layout.SCHEDULE] if vault.folder.lstat(layout.SCHEDULE) is not None else []
    for sub in _LISTED_DIRS:
        out += sorted(
            f"{sub}/{n}" for n in vault.folder.listdir(sub) if n.endswith(".json") and not n.startswith(".")
        )
    return out


class Transaction:
    """A commit in flight: every changing file's possible MACs and the buckets' new contents."""

    __slots__ = ("buckets", "changes", "generation", "state")

    def __init__(self, state: VaultState, changes: dict[str, list[str | None]]) -> None:
        self.state = state
        self.changes = changes
        self.generation = max(state.generation, state.pending_generation) + 1
        self.buckets: dict[str, dict[str, str]] = {}


def begin(vault: UnlockedVault, changes: dict[str, list[str | None]], cache: list[VaultState]) -> Transaction:
    """Record that the files in ``changes`` (rel -> MACs they may pass through, None = absent) are
    about to change: the state gains ``pending`` (caller holds the exclusive lock)."""
    state = current(vault, cache)
    if state is None:
        migrate(vault)
        state = current(vault, cache)
        assert state is not None
    txn = Transaction(state, changes)
    pending: dict[str, list[str | None]] = {}
    for rel, macs in changes.items():
        old = state.listed(vault, rel)
        pending[rel] = [old, *(m for m in macs if m != old)]
        bucket = bucket_of(rel)
        if bucket is not None:
            data = txn.buckets.setdefault(bucket, dict(state.bucket(vault, bucket)))
            if macs[-1] is None:
                data.pop(rel, None)
            else:
                data[rel] = macs[-1]
    for bucket, data in txn.buckets.items():
        pending[bucket] = [state.files.get(bucket), vault.mac_of(bucket, data)]
    state.pending, state.pending_generation = pending, txn.generation
    _write_state(vault, state)
    return txn


def abandon(vault: UnlockedVault, txn: Transaction) -> None:
    """The commit's audit event could not be written, so no file changed: drop ``pending`` again
    (best effort; left in place, it is settled by the next call)."""
    state = txn.state
    state.pending = {}  # the generation stays claimed: the event may have landed before the error
    with contextlib.suppress(OSError):
        _write_state(vault, state)


def finish(vault: UnlockedVault, txn: Transaction, head: tuple[int, str]) -> None:
    """The commit's files are written: write the buckets, then the state naming ``head``."""
    state = txn.state
    for bucket, data in sorted(txn.buckets.items()):
        vault.write_authenticated(bucket, data)
        state.files[bucket] = vault.mac_of(bucket, data)
    for rel, macs in txn.changes.items():
        if bucket_of(rel) is None:
            _set(state.files, rel, macs[-1])
    state.buckets = dict(txn.buckets)
    state.pending, state.pending_generation = {}, 0
    state.generation, state.head = txn.generation, head
    _write_state(vault, state)


def _set(files: dict[str, str], rel: str, mac: str | None) -> None:
    if mac is None:
        files.pop(rel, None)
    else:
        files[rel] = mac


def recover(
    vault: UnlockedVault,
    cache: list[VaultState],
    record: Callable[[int, dict[str, str]], tuple[int, str]],
) -> dict[str, str] | None:
    """Settle a commit that did not finish (a crash, or a write that failed after its audit event).

    Every file it was changing must still be a version ``pending`` allows; whichever is there stays.
    ``record(generation, outcome)`` appends the RecoverVaultCommit event (outcome: rel -> "written"
    / "not written" / "partly written") and returns its (sequence, chain). None when nothing was
    pending. Caller holds the exclusive lock.
    """
    state = current(vault, cache)
    if state is None or not state.unfinished:
        return None
    if state.migrating:
        migrate(vault)
        return {}
    outcome: dict[str, str] = {}
    landed: dict[str, str | None] = {}
    for rel, macs in sorted(state.pending.items()):
        if rel.startswith(MANIFEST_DIR + "/"):
            continue
        path = vault.folder.name(rel)
        try:
            mac: str | None = vault.read_mac_checked(rel, "vault file")[1]
        except FileNotFoundError:
            mac = None
        if mac not in macs:
            raise StateTamperError(
                f"vault file {path} is neither the version before nor after an unfinished commit"
            )
        landed[rel] = mac
        outcome[rel] = "not written" if mac == macs[0] else "written" if mac == macs[-1] else "partly written"
    txn = Transaction(state, {rel: [mac] for rel, mac in landed.items()})
    for rel, mac in landed.items():
        bucket = bucket_of(rel)
        if bucket is not None:
            data = txn.buckets.setdefault(bucket, dict(state.bucket(vault, bucket)))
            _set(data, rel, mac)
    # claim the generation before its event is appended: a crash during this recovery then makes
    # the next one use a later generation, never the same one again
    state.pending_generation = txn.generation
    for bucket, data in txn.buckets.items():  # the buckets as this recovery rewrites them, too
        state.pending.setdefault(bucket, [state.files.get(bucket)]).append(vault.mac_of(bucket, data))
    _write_state(vault, state)
    head = record(txn.generation, outcome)
    finish(vault, txn, head)
    return outcome


def check_all(vault: UnlockedVault) -> list[str]:
    """Every vault file that is not current, is missing although listed, or is there although not
    listed (``audit verify``: reads every file once)."""
    state = current(vault, [])
    if state is None:
        return []
    problems: list[str] = []
    present: set[str] = set()
    try:
        for region in vault.list_regions():
            present |= {vault.key_file(region, key_id) for key_id in vault.list_key_ids(region)}
    except VaultEnvironmentError as exc:  # keys/ gone: said once, then each listed key file below
        problems.append(exc.message)
    present |= set(_other_files(vault))
    listed = {rel for rel in state.files if not rel.startswith(MANIFEST_DIR + "/")}
    for bucket in sorted(b for b in state.files if b.startswith(MANIFEST_DIR + "/")):
        try:
            listed |= set(state.bucket(vault, bucket))
        except VaultEnvironmentError as exc:
            problems.append(exc.message)
    for rel in sorted(present | listed):
        try:
            vault.read_authenticated(rel, "vault file")
        except FileNotFoundError:
            pass  # read_authenticated raised TamperError instead when it was listed
        except VaultEnvironmentError as exc:
            problems.append(exc.message)
    return problems
