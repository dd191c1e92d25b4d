"""File primitives: private permissions, atomic writes, advisory locks, bounded reads."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from typing import Any

#: What the functions here accept: a ``str`` or a ``pathlib.Path`` (this module never imports pathlib,
#: which would load ``urllib.parse`` and ``ipaddress`` on every start-up).
StrPath = str | os.PathLike[str]

FILE_MODE = 0o600
DIR_MODE = 0o700
#: Largest vault file we are willing to parse; a bigger one is hostile or corrupt.
MAX_VAULT_FILE = 16 * 1024 * 1024


def pathstr(path: StrPath) -> str:
    """``str(pathlib.PurePosixPath(path))``: repeated slashes, ``.`` parts and a trailing slash removed.

    Paths kept as such strings print exactly as the ``Path`` objects kmscli used before; ``..`` is
    kept (unlike ``os.path.normpath``), and so are two leading slashes.
    """
    text = os.fspath(path)
    root = ""
    if text[:1] == "/":
        rest = text.lstrip("/")
        root = "//" if len(text) - len(rest) == 2 else "/"
        text = rest
    return root + "/".join(part for part in text.split("/") if part and part != ".") or "."


def join(base: str, *names: str) -> str:
    """``str(Path(base).joinpath(*names))`` for a :func:`pathstr` ``base`` and plain relative names."""
    for name in names:
        base = name if base == "." else base + name if base.endswith("/") else f"{base}/{name}"
    return base


def parent(path: str) -> str:
    """``str(Path(path).parent)`` for a :func:`pathstr` path (``.`` for a bare name, ``/`` for ``/``)."""
    return os.path.dirname(path) or "."


def _root_and_parts(path: str) -> tuple[str, list[str]]:
    root = "//" if path[:2] == "//" else path[:1] if path[:1] == "/" else ""
    rest = path[len(root) :]
    return root, rest.split("/") if rest and rest != "." else []


def relative_posix(path: str, base: str) -> str:
    """``Path(path).relative_to(base).as_posix()`` for :func:`pathstr` paths; ValueError if not under.

    The vault's file MACs cover this string (``keys/REGION/ID.json``): it must not change.
    """
    root, parts = _root_and_parts(path)
    base_root, base_parts = _root_and_parts(base)
    if root != base_root or parts[: len(base_parts)] != base_parts:
        raise ValueError(f"{path!r} is not in the subpath of {base!r}")
    return "/".join(parts[len(base_parts) :]) or "."


#: The errors for which pathlib's exists(), is_dir() and is_file() answer False; others (EACCES) raise.
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def _mode(path: StrPath) -> int | None:
    try:
        return os.stat(path).st_mode
    except OSError as exc:
        if exc.errno in _MISSING:
            return None
        raise
    except ValueError:
        return None


def exists(path: StrPath) -> bool:
    """``Path(path).exists()`` (unlike ``os.path.exists``, a permission error raises)."""
    return _mode(path) is not None


def is_dir(path: StrPath) -> bool:
    """``Path(path).is_dir()`` (unlike ``os.path.isdir``, a permission error raises)."""
    mode = _mode(path)
    return mode is not None and stat.S_ISDIR(mode)


def is_file(path: StrPath) -> bool:
    """``Path(path).is_file()`` (unlike ``os.path.isfile``, a permission error raises)."""
    mode = _mode(path)
    return mode is not None and stat.S_ISREG(mode)


def _mkdirs(path: str, mode: int) -> None:
    """``Path(path).mkdir(mode, parents=True, exist_ok=True)``, step for step."""
    try:
        os.mkdir(path, mode)
    except FileNotFoundError:
        if parent(path) == path:
            raise
        _mkdirs(parent(path), 0o777)  # as pathlib: missing parents get the default mode (and umask)
        try:
            os.mkdir(path, mode)
        except FileNotFoundError:
            raise
        except OSError:
            if not is_dir(path):
                raise
    except OSError:
        if not is_dir(path):
            raise


def ensure_dir(path: StrPath) -> None:
    """Create ``path`` (and parents) as a private folder, tightening an existing one.

    Each folder created here has its entry flushed in its parent, so files later made durable
    inside it cannot vanish with the folder after a power loss.
    """
    path = pathstr(path)
    missing: list[str] = []
    probe = path
    while not exists(probe) and probe != parent(probe):
        missing.append(probe)
        probe = parent(probe)
    _mkdirs(path, DIR_MODE)
    for created in reversed(missing):
        fsync_dir(parent(created))
    mode = os.stat(path).st_mode & 0o777
    if mode & ~DIR_MODE:  # only ever remove group/other bits: never grant ourselves write access
        os.chmod(path, mode & DIR_MODE)


def fsync_dir(path: StrPath) -> None:
    """Flush a folder's entry table so a rename inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: StrPath, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a mix.

    Temp file in the same folder, fsync, rename over the target, fsync the folder.
    """
    path = pathstr(path)
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".tmp-{name}-{os.urandom(6).hex()}")  # not `secrets`: it loads `random`
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
    fsync_dir(parent(path))


def read_bounded(path: StrPath, limit: int = MAX_VAULT_FILE) -> bytes:
    """Read a whole file, refusing (ValueError) one larger than ``limit`` without reading it."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            raise ValueError(f"{path} is {size} bytes, larger than the {limit} bytes allowed")
        return fh.read(limit + 1)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes used for MACs and associated data."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def shred(path: StrPath) -> None:
    """Overwrite a file with zeros, flush it, then remove it (best effort on copy-on-write disks).

    The file is first renamed to a hidden name in one atomic step, so a crash part-way leaves either
    the intact file or no file under its name, never a zeroed file that readers would reject.
    """
    path = pathstr(path)
    folder, name = os.path.split(path)
    doomed = os.path.join(folder, f".shred-{name}-{os.urandom(6).hex()}")
    try:
        os.rename(path, doomed)
    except FileNotFoundError:
        return
    fsync_dir(parent(path))
    size = os.stat(doomed).st_size
    with open(doomed, "r+b") as fh:
        fh.write(b"\0" * size)
        fh.flush()
        os.fsync(fh.fileno())
    os.unlink(doomed)
    fsync_dir(parent(path))


@contextlib.contextmanager
def locked(path: StrPath, exclusive: bool) -> Iterator[None]:
    """Hold an advisory ``flock`` on ``path`` (created 0600 if missing) for the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing drops the lock
