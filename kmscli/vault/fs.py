"""File primitives: private permissions, atomic writes, advisory locks, bounded reads.

Vault and session files are reached only through :class:`VaultDir`: a folder opened once, below
which every name is opened relative to its descriptor (``openat``), never following a link, and
accepted only when it is a regular file (or a real folder) that others cannot write. Anything else
there is tamper: :class:`UnsafePathError` (exit 253) names it and nothing is read or written through it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from kmscli.errors import VaultEnvironmentError

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
    """``Path(path).mkdir(mode, parents=True, exist_ok=True)``, step for step, parents made 0700."""
    try:
        os.mkdir(path, mode)
    except FileNotFoundError:
        if parent(path) == path:
            raise
        _mkdirs(parent(path), DIR_MODE)  # missing parents are private too (docs/security.md)
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


def loads(data: bytes | str) -> Any:
    """``json.loads`` that reports JSON nested too deeply to parse as ValueError, not RecursionError,
    and refuses a member named twice (``kmscli.jsonstrict``): every vault file is read with it."""
    from kmscli import jsonstrict

    return jsonstrict.loads(data)


Stamp = tuple[int, int, int, int, int]


def stamp(info: os.stat_result) -> Stamp:
    """What changes whenever a file or folder changes: device, inode, size, mtime and ctime. A user
    can set mtime but not ctime, so a file rewritten or put back (even with its old mtime) gets a
    new stamp; the one exception is a change within the same tick of the file system's clock as
    the stamp was taken (see :func:`settled`)."""
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


#: How long after its last change a file's stamp is taken to stand for its content: any later
#: change gets a later ctime, however coarse the file system's clock ticks (well under this).
SETTLED_NS = 1_000_000_000


def settled(info: os.stat_result, now_ns: int) -> bool:
    """Whether the file last changed more than :data:`SETTLED_NS` before ``now_ns`` (the wall
    clock, as the file system stamps files; only ever compared with file times)."""
    return max(info.st_mtime_ns, info.st_ctime_ns) < now_ns - SETTLED_NS


# -- folders opened once, names below them never followed --------------------------------------------


class UnsafePathError(VaultEnvironmentError):
    """A link, FIFO, device, other non-regular file, or an entry others may write, where a vault or
    session file or folder belongs: tamper (exit 253), and nothing was done through it."""


#: Leftovers of a crash: an atomic write's temp file, a shred in progress (still holding key material).
TEMP_PREFIX = ".tmp-"
SHRED_PREFIX = ".shred-"

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: O_NONBLOCK: a FIFO planted where a file belongs must not hang the open (regular files ignore it).
_O_FILE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
#: open() errors that mean "not a regular file here": a link (ELOOP), a FIFO with no reader (ENXIO),
#: a folder opened for writing (EISDIR), a file where a folder belongs (ENOTDIR).
_NOT_REGULAR = (errno.ELOOP, errno.ENXIO, errno.EISDIR, errno.ENOTDIR, errno.EMLINK)


def file_kind(mode: int) -> str:
    """What an entry of this mode is, for messages ("a symbolic link", "a FIFO", ...)."""
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return name
    return "a special file"


def split_rel(rel: str) -> list[str]:
    """The parts of a plain relative name (ValueError for empty, ``.`` or ``..`` parts, or a leading ``/``)."""
    parts = rel.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise ValueError(f"not a plain relative name: {rel!r}")
    return parts


class FolderReplacedError(VaultEnvironmentError):
    """The folder a :class:`VaultDir` holds open is no longer the one its path names (exit 253)."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"the vault at {path} was replaced (a `kmscli vault restore`) or moved after this process "
            "opened it; nothing was done: start the process again to use the vault now there"
        )
        self.path = path


class VaultDir:
    """A folder held open by descriptor; every name below it is opened relative to that descriptor.

    ``rel`` arguments are plain relative names (``keys/us-east-1/ID.json``): no link is followed in
    any part of them, a folder must be a folder and a file a regular file with one link, and none of
    them may be writable by group or others. ``private`` (the session runtime folder) also demands
    that each one belongs to this user and is closed to group and others (0700 / 0600).
    The folder's own ``path`` is followed as given: it is the user's setting, not the vault's content.
    """

    __slots__ = ("fd", "path", "private")

    def __init__(self, fd: int, path: str, private: bool = False) -> None:
        self.fd = fd
        self.path = path
        self.private = private

    @classmethod
    def open(cls, path: StrPath, *, create: bool = False, private: bool = False) -> VaultDir:
        """Open the folder ``path`` (created 0700 with its missing parents when ``create``; an
        existing folder is checked, never chmodded)."""
        path = pathstr(path)
        if create and not exists(path):
            ensure_dir(path)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        folder = cls(fd, path, private)
        try:
            folder._check(fd, path, "folder")
        except BaseException:
            folder.close()
            raise
        return folder

    def close(self) -> None:
        """Release the descriptor (also done when the object is collected)."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # at interpreter teardown nothing useful can be done
            pass

    def __enter__(self) -> VaultDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def name(self, rel: str) -> str:
        """The path of ``rel`` for messages."""
        return join(self.path, rel) if rel else self.path

    def check_in_place(self) -> None:
        """Raise :class:`FolderReplacedError` when ``path`` no longer leads to the folder held open:
        it was moved away or replaced (a ``vault restore --force``) since this process opened it.
        Writing on through the descriptor would go into a folder about to be removed."""
        try:
            current = os.stat(self.path)
        except OSError:
            current = None
        held = os.fstat(self.fd)
        if current is None or (current.st_dev, current.st_ino) != (held.st_dev, held.st_ino):
            raise FolderReplacedError(self.path)

    # -- checks ------------------------------------------------------------------------------------
    def _check(self, fd: int, path: str, what: str, writing: bool = False) -> os.stat_result:
        info = os.fstat(fd)
        want = stat.S_ISDIR if what == "folder" else stat.S_ISREG
        if not want(info.st_mode):
            raise UnsafePathError(self._tamper(path, file_kind(info.st_mode), what))
        if writing and info.st_nlink > 1:
            raise UnsafePathError(
                f"{path} has {info.st_nlink} hard links; a vault file has exactly one, so kmscli "
                "does not write through it (it was tampered with)"
            )
        mode = stat.S_IMODE(info.st_mode)
        if self.private:
            if info.st_uid != os.getuid():
                raise UnsafePathError(
                    f"{path} belongs to another user (uid {info.st_uid}); refusing to use it"
                )
            if mode & 0o077:
                raise UnsafePathError(
                    f"{path} is not private to this user: it is open to group or others (mode "
                    f"{mode:04o}; {DIR_MODE if what == 'folder' else FILE_MODE:04o} required), so it is refused"
                )
        elif mode & 0o022:
            raise UnsafePathError(
                f"{path} is writable by group or others (mode {mode:04o}); kmscli refuses a vault "
                f"{what} others may change, as ssh refuses such key files: run `chmod go-w {path}`"
            )
        return info

    @staticmethod
    def _tamper(path: str, kind: str, what: str) -> str:
        return (
            f"{path} is {kind} where a vault {what} belongs; kmscli does not follow links or use "
            "special files inside a vault, so it was tampered with: refusing to use it"
        )

    def _unsafe(self, dirfd: int, name: str, path: str, what: str) -> UnsafePathError:
        try:
            kind = file_kind(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode)
        except OSError:
            kind = "not a " + what
        return UnsafePathError(self._tamper(path, kind, what))

    # -- walking -----------------------------------------------------------------------------------
    def _subdir_fd(self, dirfd: int, name: str, path: str, create: bool) -> int:
        try:
            try:
                fd = os.open(name, _O_DIR, dir_fd=dirfd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, DIR_MODE, dir_fd=dirfd)
                    os.fsync(dirfd)  # the new folder's entry survives a power loss
                fd = os.open(name, _O_DIR, dir_fd=dirfd)
        except OSError as exc:
            if exc.errno in _NOT_REGULAR:
                raise self._unsafe(dirfd, name, path, "folder") from None
            raise
        try:
            self._check(fd, path, "folder")
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextlib.contextmanager
    def _folder(self, parts: list[str], create: bool = False) -> Iterator[int]:
        """The descriptor of the folder ``parts`` below this one (closed after the block)."""
        opened: list[int] = []
        fd = self.fd
        try:
            for i, part in enumerate(parts):
                fd = self._subdir_fd(fd, part, self.name("/".join(parts[: i + 1])), create)
                opened.append(fd)
            yield fd
        finally:
            for each in opened:
                os.close(each)

    def _open(self, dirfd: int, name: str, path: str, flags: int) -> tuple[int, os.stat_result]:
        try:
            fd = os.open(name, flags | _O_FILE, FILE_MODE, dir_fd=dirfd)
        except OSError as exc:
            if exc.errno in _NOT_REGULAR:
                raise self._unsafe(dirfd, name, path, "file") from None
            raise
        try:
            return fd, self._check(fd, path, "file", writing=bool(flags & (os.O_WRONLY | os.O_RDWR)))
        except BaseException:
            os.close(fd)
            raise

    def subdir(self, rel: str, *, create: bool = False) -> VaultDir:
        """The folder ``rel`` below this one as its own :class:`VaultDir` (0700 when created)."""
        parts = split_rel(rel)
        with self._folder(parts[:-1], create) as dirfd:
            fd = self._subdir_fd(dirfd, parts[-1], self.name(rel), create)
        return VaultDir(fd, self.name(rel), self.private)

    def mkdir(self, rel: str) -> None:
        """Create the folder ``rel`` (and those above it) 0700 if missing."""
        with self._folder(split_rel(rel), create=True):
            pass

    # -- reading -------------------------------------------------------------------------------------
    def read(self, rel: str, limit: int = MAX_VAULT_FILE) -> bytes:
        """The whole file ``rel``; FileNotFoundError when missing, ValueError beyond ``limit`` bytes."""
        return self.read_stat(rel, limit)[0]

    def read_stat(self, rel: str, limit: int = MAX_VAULT_FILE) -> tuple[bytes, os.stat_result]:
        """:meth:`read`, with the ``fstat`` of the file that was read."""
        parts = split_rel(rel)
        with self._folder(parts[:-1]) as dirfd:
            fd, info = self._open(dirfd, parts[-1], self.name(rel), os.O_RDONLY)
        try:
            if info.st_size > limit:
                raise ValueError(
                    f"{self.name(rel)} is {info.st_size} bytes, larger than the {limit} bytes allowed"
                )
            chunks: list[bytes] = []
            total = 0
            while chunk := os.read(fd, limit + 1 - total):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise ValueError(f"{self.name(rel)} is larger than the {limit} bytes allowed")
            return b"".join(chunks), info
        finally:
            os.close(fd)

    def read_end(self, rel: str, size: int) -> tuple[bytes, os.stat_result]:
        """The last ``size`` bytes of the file ``rel`` (fewer when it is shorter) and its ``fstat``,
        both from one open of the file; FileNotFoundError when missing."""
        parts = split_rel(rel)
        with self._folder(parts[:-1]) as dirfd:
            fd, info = self._open(dirfd, parts[-1], self.name(rel), os.O_RDONLY)
        try:
            start = max(0, info.st_size - size)
            return os.pread(fd, info.st_size - start, start), info
        finally:
            os.close(fd)

    def open_fd(self, rel: str, flags: int) -> tuple[int, os.stat_result]:
        """The existing file ``rel`` opened with ``flags`` (``os.O_RDWR | os.O_APPEND``, ...) under
        the checks every open here gets, as a raw descriptor the caller keeps and closes, with its
        ``fstat``."""
        parts = split_rel(rel)
        with self._folder(parts[:-1]) as dirfd:
            return self._open(dirfd, parts[-1], self.name(rel), flags & ~os.O_CREAT)

    def open_read(self, rel: str) -> BinaryIO:
        """The file ``rel`` opened for reading (a buffered binary file object)."""
        parts = split_rel(rel)
        with self._folder(parts[:-1]) as dirfd:
            fd, _ = self._open(dirfd, parts[-1], self.name(rel), os.O_RDONLY)
        return open(fd, "rb")  # the caller closes it

    def open_update(self, rel: str) -> BinaryIO:
        """The existing file ``rel`` opened to read and change in place (``truncate`` through it)."""
        parts = split_rel(rel)
        with self._folder(parts[:-1]) as dirfd:
            fd, _ = self._open(dirfd, parts[-1], self.name(rel), os.O_RDWR)
        return open(fd, "r+b")  # the caller closes it

    def listdir(self, rel: str = "") -> list[str]:
        """Names in the folder ``rel`` (empty when it does not exist)."""
        try:
            with self._folder(split_rel(rel) if rel else []) as dirfd:
                return os.listdir(dirfd)
        except FileNotFoundError:
            return []

    def lstat(self, rel: str) -> os.stat_result | None:
        """The entry ``rel`` itself (a link is not followed), or None when missing."""
        parts = split_rel(rel)
        try:
            with self._folder(parts[:-1]) as dirfd:
                return os.stat(parts[-1], dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def stamp_of(self, rel: str) -> Stamp | None:
        """The :func:`stamp` of the entry ``rel``, without opening anything: each folder on the way
        must be a real folder (``lstat``, so not a link) and the entry itself is not followed.
        None when something is missing or not a folder. For cache checks, where only a stamp equal
        to that of a file already read through descriptors counts (that same inode, unchanged)."""
        try:
            if not self._real_folders_to(rel):
                return None
            return stamp(os.stat(rel, dir_fd=self.fd, follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _real_folders_to(self, rel: str) -> bool:
        """Whether every folder on the way to ``rel`` is a real folder (``lstat``: not a link);
        a missing one raises FileNotFoundError."""
        parts = split_rel(rel)
        for i in range(1, len(parts)):
            if not stat.S_ISDIR(os.stat("/".join(parts[:i]), dir_fd=self.fd, follow_symlinks=False).st_mode):
                return False
        return True

    def missing(self, rel: str) -> bool:
        """Whether the entry ``rel`` does not exist while every folder on the way is a real folder
        (``lstat`` only). False for anything else, which a read then reports as it should."""
        try:
            if not self._real_folders_to(rel):
                return False
            os.stat(rel, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return False

    def is_dir(self, rel: str) -> bool:
        """Whether ``rel`` is a real folder (not a link to one)."""
        info = self.lstat(rel)
        return info is not None and stat.S_ISDIR(info.st_mode)

    def exists(self, rel: str) -> bool:
        """Whether anything (even a dangling link) is named ``rel``."""
        return self.lstat(rel) is not None

    # -- writing -------------------------------------------------------------------------------------
    def replace_atomic(self, rel: str, data: bytes) -> None:
        """Write ``rel`` so readers see the old or the new file, never a mix (folders made 0700).

        Temp file in the same folder, fsync, rename over the target, fsync the folder: an existing
        link at ``rel`` is replaced, never written through.
        """
        parts = split_rel(rel)
        with self._folder(parts[:-1], create=True) as dirfd:
            tmp = f"{TEMP_PREFIX}{parts[-1]}-{os.urandom(6).hex()}"  # not `secrets`: it loads `random`
            fd, _ = self._open(dirfd, tmp, self.name(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
            try:
                try:
                    _write_all(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, parts[-1], src_dir_fd=dirfd, dst_dir_fd=dirfd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dirfd)
                raise
            os.fsync(dirfd)

    def append(self, rel: str, data: bytes, fsync: Callable[[int], None] = os.fsync) -> bool:
        """Append ``data`` to ``rel`` (created 0600 if missing) and ``fsync`` it; True when it was created."""
        return self.append_stat(rel, data, fsync)[0]

    def append_stat(
        self, rel: str, data: bytes, fsync: Callable[[int], None] = os.fsync
    ) -> tuple[bool, os.stat_result]:
        """:meth:`append`, also returning the file's ``fstat`` once ``data`` is durable."""
        parts = split_rel(rel)
        with self._folder(parts[:-1], create=True) as dirfd:
            path = self.name(rel)
            try:
                fd, _ = self._open(dirfd, parts[-1], path, os.O_WRONLY | os.O_APPEND)
                created = False
            except FileNotFoundError:
                fd, _ = self._open(dirfd, parts[-1], path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL)
                created = True
            try:
                _write_all(fd, data)
                fsync(fd)
                info = os.fstat(fd)
            finally:
                os.close(fd)
            if created:  # the new file's folder entry must survive a power loss too
                os.fsync(dirfd)
            return created, info

    def write_at(self, rel: str, offset: int, data: bytes) -> os.stat_result:
        """Overwrite ``data`` at ``offset`` in the existing file ``rel`` (no fsync) through its
        descriptor; returns the file's ``fstat`` after the write."""
        parts = split_rel(rel)
        with self._folder(parts[:-1]) as dirfd:
            fd, _ = self._open(dirfd, parts[-1], self.name(rel), os.O_WRONLY)
        try:
            view = memoryview(data)
            while view:
                view = view[os.pwrite(fd, view, offset + len(data) - len(view)) :]
            return os.fstat(fd)
        finally:
            os.close(fd)

    def unlink(self, rel: str) -> None:
        """Remove the entry ``rel`` (a link itself, never its target); missing is fine."""
        parts = split_rel(rel)
        with self._folder(parts[:-1]) as dirfd, contextlib.suppress(FileNotFoundError):
            os.unlink(parts[-1], dir_fd=dirfd)
            os.fsync(dirfd)

    def shred(self, rel: str) -> None:
        """Overwrite the file ``rel`` with zeros through its descriptor, flush it, then remove it.

        The file is first renamed to a hidden name in one atomic step, so a crash part-way leaves the
        intact file, or a ``.shred-`` file that the next exclusive open finishes (:meth:`sweep`).
        A link or special file there is refused before anything changes (best effort on
        copy-on-write disks). A missing file is fine.
        """
        parts = split_rel(rel)
        with self._folder(parts[:-1]) as dirfd:
            path = self.name(rel)
            try:
                info = os.stat(parts[-1], dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if not stat.S_ISREG(info.st_mode):
                raise UnsafePathError(self._tamper(path, file_kind(info.st_mode), "file"))
            doomed = f"{SHRED_PREFIX}{parts[-1]}-{os.urandom(6).hex()}"
            try:
                os.rename(parts[-1], doomed, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            except FileNotFoundError:
                return
            os.fsync(dirfd)
            self._zero_and_unlink(dirfd, doomed)

    def _zero_and_unlink(self, dirfd: int, name: str) -> None:
        fd, info = self._open(dirfd, name, self.name(name), os.O_WRONLY)
        try:
            remaining = info.st_size
            zeros = bytes(min(remaining, 1 << 20))
            while remaining > 0:
                remaining -= os.write(fd, zeros[: min(remaining, len(zeros))])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(name, dir_fd=dirfd)
        os.fsync(dirfd)

    def sweep(self, rel: str = "") -> int:
        """Finish what a crash left in the folder ``rel``: temp files removed, shreds completed.

        Call it only under the exclusive lock (nobody else has a write in flight). Links and special
        files with those names are removed (unlinking never follows), never written through.
        Returns how many entries were cleaned.
        """
        count = 0
        try:
            with self._folder(split_rel(rel) if rel else []) as dirfd:
                for name in os.listdir(dirfd):
                    if not name.startswith((TEMP_PREFIX, SHRED_PREFIX)):
                        continue
                    info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                    if name.startswith(SHRED_PREFIX) and stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
                        self._zero_and_unlink(dirfd, name)
                    elif not stat.S_ISDIR(info.st_mode):
                        os.unlink(name, dir_fd=dirfd)
                    else:
                        continue
                    count += 1
        except FileNotFoundError:
            return count
        return count

    # -- locking -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, rel: str, exclusive: bool) -> Iterator[None]:
        """Hold an advisory ``flock`` on the file ``rel`` (created 0600 if missing) for the block."""
        parts = split_rel(rel)
        with self._folder(parts[:-1], create=True) as dirfd:
            fd, _ = self._open(dirfd, parts[-1], self.name(rel), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing drops the lock


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def open_read(path: StrPath) -> BinaryIO:
    """Open one file for reading without following a link at its last component, regular files only.

    For readers given a path (an audit segment under a folder already checked, a log file the user
    named); vault code uses :class:`VaultDir`.
    """
    return open(open_fd(path), "rb")  # the caller closes it


def open_fd(path: StrPath) -> int:
    """:func:`open_read` as a raw descriptor (for ``pread``); the caller closes it. A link at the last
    component or anything but a regular file raises :class:`UnsafePathError`; a FIFO never hangs."""
    path = pathstr(path)
    try:
        fd = os.open(path, os.O_RDONLY | _O_FILE)
    except OSError as exc:
        if exc.errno in _NOT_REGULAR:
            raise UnsafePathError(VaultDir._tamper(path, "a symbolic link or special file", "file")) from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafePathError(VaultDir._tamper(path, file_kind(mode), "file"))
    return fd
