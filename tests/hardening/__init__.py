"""Shared helpers for the hardening tests: an audit chain checker, a subprocess runner, vault checks.

The extension points for operations (asymmetric keys, policies, grants, rotation, import,
sessions, backups, artifacts: all merged now) are one-line tables in the test modules:

* ``test_crash.CRASH_OPS`` (and ``MULTI_FILE_OPS``, ``SETUP``, ``INVOKE_AS``, ``READ_OPS``) -
  injected crash points per operation, with the set-up an operation needs;
* ``test_crash._plan`` - the commands the SIGKILL torture picks from;
* ``test_scale.WRITE_CASES`` - which files each operation may write;
* ``test_failclosed._mutations`` / ``_reads`` - audit-failure cases;
* ``test_secrets._steps`` / ``_merged_steps`` - success and error paths scanned for secrets
  (a step may take its arguments and environment from earlier steps' saved results);
* ``test_tamper.KEY_FILE_EDITS`` - offline edits of key-file fields;
* ``test_tamper_policies_grants.MANAGED_KEY_EDITS`` / ``IMPORT_EDITS`` / ``SESSION_EDITS`` - edits of
  what policies, grants, rotation and import wrote, and of session files;
* ``test_cli_sweep.KNOWN_BUGS`` - sweep cases excluded while a strict xfail test tracks them;
* ``test_fuzz.PARSE_TARGETS`` / ``REQUEST_SHAPES`` - parser and validation fuzz targets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import CHEAP_KDF

PASSPHRASE = "correct horse battery staple"


@dataclass
class ChainReport:
    """What the chain checker found: events in order, and whether a torn final line was ignored."""

    events: list[dict[str, Any]]
    torn_tail: bool


class ChainError(AssertionError):
    """The audit chain does not verify; the message names the file and line."""


def audit_key(vault: Path, passphrase: str = PASSPHRASE) -> bytes:
    """The audit chain key of a vault (derived from its vault key)."""
    from kmscli.vault.store import Vault

    return Vault.open(vault).unlock(passphrase.encode()).audit_key


def verify_chain(vault: Path, passphrase: str = PASSPHRASE, *, allow_torn_tail: bool = True) -> ChainReport:
    """Walk every audit segment in order and check sequence numbers and chain values.

    Independent of ``kmscli audit verify`` (written by another engineer) on purpose: a second
    implementation of the same rule catches mistakes in either. A final line without its newline
    (a crash mid-append) is tolerated when ``allow_torn_tail``; any other damage raises ChainError.
    """
    from kmscli.audit import chain
    from kmscli.audit.log import segments

    key = audit_key(vault, passphrase)
    prev = chain.genesis(key)
    seq = 0
    out: list[dict[str, Any]] = []
    torn = False
    segs = [Path(p) for p in segments(vault / "audit")]
    for index, path in enumerate(segs):
        data = path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        if tail:
            if not (allow_torn_tail and index == len(segs) - 1):
                raise ChainError(f"{path}: torn line in the middle of the log")
            torn = True
        for number, line in enumerate(lines, 1):
            try:
                event = json.loads(line)
            except ValueError as exc:
                raise ChainError(f"{path}:{number}: not JSON ({exc})") from None
            if event.get("sequence") != seq + 1:
                raise ChainError(f"{path}:{number}: sequence {event.get('sequence')} after {seq}")
            if chain.link(key, prev, event) != event.get("chain"):
                raise ChainError(f"{path}:{number}: chain value does not verify")
            prev, seq = event["chain"], seq + 1
            out.append(event)
    return ChainReport(out, torn)


def make_vault(path: Path, passphrase: str = PASSPHRASE) -> Path:
    """A fresh cheap-KDF vault at ``path``."""
    from kmscli.service.pipeline.core import system_random
    from kmscli.vault.store import Vault

    Vault.create(path, passphrase.encode(), CHEAP_KDF, system_random, "2026-01-15T12:00:00+00:00")
    return path


def child_env(vault: Path, passphrase: str = PASSPHRASE, config: Path | None = None) -> dict[str, str]:
    """Environment for a ``python -m kmscli`` subprocess on ``vault``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSCLI_")}
    env.update(
        KMSCLI_VAULT=str(vault),
        KMSCLI_PASSPHRASE=passphrase,
        KMSCLI_CONFIG=str(config or vault.parent / "config.toml"),
        NO_COLOR="1",
    )
    return env


def kmscli_argv(*args: str) -> list[str]:
    """argv for running kmscli as a subprocess with this interpreter."""
    return [sys.executable, "-m", "kmscli", *args]


def run_kmscli(vault: Path, *args: str, passphrase: str = PASSPHRASE) -> subprocess.CompletedProcess[str]:
    """Run one kmscli command in a subprocess and wait for it."""
    return subprocess.run(
        kmscli_argv(*args), env=child_env(vault, passphrase), capture_output=True, text=True, timeout=60
    )


def check_vault_files(vault: Path, passphrase: str = PASSPHRASE) -> dict[str, dict[str, Any]]:
    """Open every key file, alias index and the schedule through the authenticated reader.

    Raises (TamperError) if any file that kmscli would read does not verify; returns the key
    records by key id. Temp files (``.tmp-*``) are ignored, as kmscli ignores them.
    """
    from kmscli.vault.store import Vault

    unlocked = Vault.open(vault).unlock(passphrase.encode())
    records: dict[str, dict[str, Any]] = {}
    for region in unlocked.list_regions():
        for key_id in unlocked.list_key_ids(region):
            record = unlocked.load_key(region, key_id)
            assert record is not None
            records[key_id] = record
        unlocked.load_aliases(region)
    unlocked.load_schedule()
    return records


def skip_fsync(monkeypatch: Any) -> None:
    """Make ``os.fsync`` a no-op in this process, for tests whose subject is not durability.

    Atomicity (temp file + rename) and locking are unaffected; only the wait for the disk goes.
    Durability is exercised by the SIGKILL torture in test_crash.py, which runs subprocesses
    that never see this patch.
    """
    monkeypatch.setattr(os, "fsync", lambda fd: None)
