"""Benchmark 5, scale: ``kmscli encrypt`` in a vault of 10,000 keys vs the same in a vault of 10 keys.

Both vaults use the KDF's documented test floor, so that the fixed KDF cost does not dilute what this
measures: the per-call work that grows with the number of keys. Target ratio <= 1.2.

Creating 10,000 keys through the CLI would take one process (and one KDF) per key, so the vaults are
built once, in-process, through the service layer (``kmscli.service.pipeline.core.invoke`` on a
``ServiceContext``, as tests/conftest.py does), with ``os.fsync`` disabled while building (durability
of a throwaway cache does not matter; the files written are the same). They are cached in
``bench/.work/scale/`` and rebuilt when kmscli's version or vault format changes or they stop working.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from bench.common import (
    BENCH_PASSPHRASE,
    KMSCLI_ENV_VARS,
    WORK_DIR,
    BenchError,
    Comparison,
    check_json_output,
    compare,
    kmscli_argv,
    kmscli_env,
    measured,
    write_payload,
)

NAME = "encrypt, 10,000 keys vs 10"
TARGET = 1.2
BIG = 10_000
SMALL = 10
FLOOR_KDF = {"memory_cost": 8, "iterations": 1, "lanes": 1}
STAMP = "bench-stamp.json"


@contextlib.contextmanager
def _no_fsync() -> Iterator[None]:
    """Skip fsync while building a throwaway cache (the same files are written, just not flushed)."""
    with mock.patch.object(os, "fsync", lambda fd: None):
        yield


@contextlib.contextmanager
def _isolated_env(vault: Path) -> Iterator[None]:
    """os.environ as a bench kmscli sees it (no user config or kmscli variables) during a build."""
    patched = {k: v for k, v in os.environ.items() if k not in KMSCLI_ENV_VARS}
    patched["KMSCLI_CONFIG"] = str(vault.parent / "config.toml")
    patched["KMSCLI_VAULT"] = str(vault)
    with mock.patch.dict(os.environ, patched, clear=True):
        yield


def _stamp() -> dict[str, object]:
    from kmscli import __version__
    from kmscli.vault.store import FORMAT_VERSION

    return {"kmscli": __version__, "format": FORMAT_VERSION}


def build_vault(vault: Path, keys: int, progress: bool = False) -> str:
    """Create a floor-KDF vault at ``vault`` holding ``keys`` symmetric keys; return one key's id.

    The key returned is the one created in the middle, so neither end of a listing is favoured.
    """
    from kmscli.invocation import Sources
    from kmscli.service.features.session import context_for
    from kmscli.service.pipeline.core import invoke, system_random
    from kmscli.settings import load_settings
    from kmscli.vault.store import Vault

    if vault.exists():
        shutil.rmtree(vault)
    vault.parent.mkdir(parents=True, exist_ok=True)
    created = dt.datetime.now(dt.UTC).isoformat()
    chosen = ""
    start = time.perf_counter()
    with _isolated_env(vault), _no_fsync():
        unlocked = Vault.create(vault, BENCH_PASSPHRASE.encode(), FLOOR_KDF, system_random, created)
        ctx = context_for(unlocked, load_settings({"vault": str(vault)}, os.environ), Sources())
        for i in range(keys):
            meta = invoke(ctx, "CreateKey", {"Description": f"bench key {i}"})["KeyMetadata"]
            if i == keys // 2:
                chosen = str(meta["KeyId"])
            if progress and i and i % 1000 == 0:
                print(f"  {i}/{keys} keys ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    (vault.parent / STAMP).write_text(json.dumps({**_stamp(), "keys": keys, "key_id": chosen}))
    return chosen


def cached_vault(folder: Path, keys: int) -> tuple[Path, str]:
    """The cached vault of ``keys`` keys under ``folder`` (built when missing or stale) and a key id."""
    vault = folder / "vault"
    try:
        stamp = json.loads((folder / STAMP).read_text())
    except (OSError, ValueError):
        stamp = {}
    if stamp.get("keys") == keys and all(stamp.get(k) == v for k, v in _stamp().items()) and vault.exists():
        return vault, str(stamp["key_id"])
    if keys >= 1000:
        print(f"building the {keys}-key bench vault in {folder} (once) ...", file=sys.stderr, flush=True)
    return vault, build_vault(vault, keys, progress=keys >= 1000)


def _encrypt_argv(key_id: str, payload: Path) -> list[str]:
    return [*kmscli_argv(), "encrypt", "--key-id", key_id, "--plaintext", f"fileb://{payload}"]


def measure(runs: int = 15, warmup: int = 3) -> Comparison:
    """Median ``kmscli encrypt`` time in the 10,000-key vault vs the 10-key vault (same payload)."""
    root = WORK_DIR / "scale"
    root.mkdir(parents=True, exist_ok=True)
    payload = write_payload(root, "payload.bin", 256)
    sides = []
    for keys in (BIG, SMALL):
        folder = root / f"keys-{keys}"
        vault, key_id = cached_vault(folder, keys)
        env = kmscli_env(vault)
        try:
            check_json_output(_encrypt_argv(key_id, payload), env, "CiphertextBlob")
        except BenchError:  # a stale cache (e.g. a format change): rebuild once, then it must work
            key_id = build_vault(vault, keys, progress=keys >= 1000)
            check_json_output(_encrypt_argv(key_id, payload), env, "CiphertextBlob")
        sides.append((_encrypt_argv(key_id, payload), env))
    (big, big_env), (small, small_env) = sides
    ours_t, peer_t = compare(big, big_env, small, small_env, runs=runs, warmup=warmup)
    row = Comparison(NAME, f"encrypt, {BIG:,} keys", f"encrypt, {SMALL} keys", TARGET)
    return measured(row, ours_t, peer_t)
