"""File primitives: private permissions, atomic writes, advisory locks, bounded reads."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FILE_MODE = 0o600
DIR_MODE = 0o700
#: Largest vault file we are willing to parse; a bigger one is hostile or corrupt.
MAX_VAULT_FILE = 16 * 1024 * 1024


def ensure_dir(path: Path) -> None:
    """Create ``path`` (and parents) as a private folder, tightening an existing one.

    Each folder created here has its entry flushed in its parent, so files later made durable
    inside it cannot vanish with the folder after a power loss.
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for created in reversed(missing):
        fsync_dir(created.parent)
    mode = path.stat().st_mode & 0o777
    if mode & ~DIR_MODE:  # only ever remove group/other bits: never grant ourselves write access
        os.chmod(path, mode & DIR_MODE)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entry table so a rename inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a mix.

    Temp file in the same folder, fsync, rename over the target, fsync the folder.
    """
    tmp = path.with_name(f".tmp-{path.name}-{os.urandom(6).hex()}")  # not `secrets`: it loads `random`
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def read_bounded(path: Path, limit: int = MAX_VAULT_FILE) -> bytes:
    """Read a whole file, refusing (ValueError) one larger than ``limit`` without reading it."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise ValueError(f"{path} is {size} bytes, larger than the {limit} bytes allowed")
        return fh.read(limit + 1)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes used for MACs and associated data."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def shred(path: Path) -> None:
    """Overwrite a file with zeros, flush it, then remove it (best effort on copy-on-write disks).

    The file is first renamed to a hidden name in one atomic step, so a crash part-way leaves either
    the intact file or no file under its name, never a zeroed file that readers would reject.
    """
    doomed = path.with_name(f".shred-{path.name}-{os.urandom(6).hex()}")
    try:
        os.rename(path, doomed)
    except FileNotFoundError:
        return
    fsync_dir(path.parent)
    size = doomed.stat().st_size
    with open(doomed, "r+b") as fh:
        fh.write(b"\0" * size)
        fh.flush()
        os.fsync(fh.fileno())
    doomed.unlink()
    fsync_dir(path.parent)


@contextlib.contextmanager
def locked(path: Path, exclusive: bool) -> Iterator[None]:
    """Hold an advisory ``flock`` on ``path`` (created 0600 if missing) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing drops the lock
