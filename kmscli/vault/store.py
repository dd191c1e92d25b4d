"""The vault: header, root key derivation, the vault key, and authenticated key/alias files.

The files and folders are named in :mod:`kmscli.vault.layout` (docs/format.md); every one is reached
through the vault folder's descriptor without following links (:class:`kmscli.vault.fs.VaultDir`).
Access keys of ``kmscli serve`` live in ``credentials.json`` (MAC'd, secrets wrapped like key material).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from kmscli.crypto import primitives
from kmscli.errors import VaultEnvironmentError
from kmscli.ids import is_key_id, is_region, uuid4
from kmscli.vault import fs, layout, state

FORMAT_VERSION = 1
HEADER_NAME = layout.HEADER

#: RFC 9106 second recommended option: Argon2id, 64 MiB, t=3, p=4.
DEFAULT_KDF = {"memory_cost": 65536, "iterations": 3, "lanes": 4}
#: Cheapest parameters accepted (for tests only; documented in README and docs/format.md).
KDF_FLOOR = {"memory_cost": 8, "iterations": 1, "lanes": 1}
#: Upper bounds checked before deriving, so a hostile header cannot stall or exhaust the machine:
#: at most 1 GiB of memory (memory_cost is in KiB), refused before any is allocated (docs/security.md).
KDF_CEILING = {"memory_cost": 1024 * 1024, "iterations": 16, "lanes": 64}


class TamperError(VaultEnvironmentError):
    """A vault file failed its authentication check: edited, swapped or corrupt."""


def b64e(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def b64d(text: str) -> bytes:
    """Strict base64 decoding."""
    return base64.b64decode(text.encode("ascii"), validate=True)


def check_kdf_params(params: dict[str, Any], *, source: str) -> dict[str, int]:
    """Validate Argon2id parameters against the floor and ceiling; return them as ints."""
    out: dict[str, int] = {}
    for name in ("memory_cost", "iterations", "lanes"):
        value = params.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise VaultEnvironmentError(f"{source}: KDF parameter {name} must be an integer")
        if not KDF_FLOOR[name] <= value <= KDF_CEILING[name]:
            raise VaultEnvironmentError(
                f"{source}: KDF parameter {name}={value} is outside {KDF_FLOOR[name]}..{KDF_CEILING[name]}"
            )
        out[name] = value
    if out["memory_cost"] < 8 * out["lanes"]:
        raise VaultEnvironmentError(f"{source}: KDF memory_cost must be at least 8 KiB per lane")
    return out


def derive_root_key(passphrase: bytes, salt: bytes, params: dict[str, int]) -> bytes:
    """Argon2id over the passphrase: the key that wraps the vault key."""
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    kdf = Argon2id(
        salt=salt,
        length=32,
        iterations=params["iterations"],
        lanes=params["lanes"],
        memory_cost=params["memory_cost"],
    )
    return kdf.derive(passphrase)


def subkey(vault_key: bytes, purpose: str) -> bytes:
    """A 256-bit key for one purpose, derived from the vault key with HKDF-SHA256."""
    return primitives.hkdf_sha256(vault_key, b"kmscli/v1/" + purpose.encode())


def _aesgcm(key: bytes) -> Any:
    return primitives.aesgcm(key)


class Header(NamedTuple):
    """The vault header as read from disk, without the passphrase."""

    path: str
    raw: dict[str, Any]

    @property
    def kdf(self) -> dict[str, int]:
        """The KDF parameters (validated)."""
        return check_kdf_params(self.raw["kdf"], source=str(self.path))

    def wrap_aad(self) -> bytes:
        """Associated data for the wrapped vault key: binds format, vault id and KDF settings."""
        return b"kmscli-vault-key\0" + fs.canonical_json(
            {"format": self.raw["format"], "vault_id": self.raw["vault_id"], "kdf": self.raw["kdf"]}
        )


def _read_json(folder: fs.VaultDir, rel: str, what: str) -> Any:
    return _parse_json(folder, rel, what, _read_raw(folder, rel, what)[0])


def _read_raw(folder: fs.VaultDir, rel: str, what: str) -> tuple[bytes, os.stat_result]:
    try:
        return folder.read_stat(rel)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise VaultEnvironmentError(f"cannot read {what} {folder.name(rel)}: {exc}") from None


def _parse_json(folder: fs.VaultDir, rel: str, what: str, raw: bytes) -> Any:
    try:
        return fs.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TamperError(
            f"{what} {folder.name(rel)} is not valid JSON ({exc}); it was damaged or edited"
        ) from None


class _Authentic:
    """A vault file this process read and authenticated (``UnlockedVault.read_mac_checked``)."""

    __slots__ = ("frozen", "mac", "raw", "stamp")

    def __init__(self, stamp: fs.Stamp, frozen: bytes, mac: str, raw: bytes | None) -> None:
        self.stamp = stamp
        #: The data, marshalled: every reader gets its own copy to change.
        self.frozen = frozen
        self.mac = mac
        #: The file's bytes while its stamp is too recent to stand for them (None once settled).
        self.raw = raw


#: How many authenticated files a vault object remembers (a server's working set of keys).
AUTHENTIC_CACHE_SIZE = 4096
#: A file found missing (the schedule of a vault with no due work, say): while no entry has that
#: name, it is still missing (a ``stat``: the same answer an open would give).
_ABSENT = _Authentic((0, 0, 0, 0, 0), b"", "", None)


def _header_mac_input(raw: dict[str, Any]) -> bytes:
    return b"header\0" + fs.canonical_json({k: v for k, v in raw.items() if k != "mac"})


#: The members of every MAC'd file's envelope, each exactly once (docs/format.md, "Authenticated files").
ENVELOPE_MEMBERS = frozenset({"format", "data", "mac"})


def check_envelope(doc: Any, where: str) -> None:
    """Refuse a MAC'd file whose envelope (the part its MAC does not cover) is anything but
    ``format``, ``data`` and ``mac``; a member named twice never gets here (:func:`fs.loads`)."""
    if not isinstance(doc, dict) or "data" not in doc or not isinstance(doc.get("mac"), str):
        raise TamperError(f"{where} is malformed; it was damaged or edited")
    extra = sorted(set(doc) - ENVELOPE_MEMBERS)
    if extra:
        raise TamperError(
            f"{where} has members outside its MAC ({', '.join(map(repr, extra))}); it was damaged or edited"
        )
    if "format" in doc and type(doc["format"]) is not int:
        raise TamperError(f"{where} has envelope format {doc['format']!r}; it was damaged or edited")
    check_file_format(doc, where)


def check_file_format(doc: dict[str, Any], where: str) -> None:
    """Refuse an authenticated file of another format version (its MAC does not cover ``format``)."""
    if doc.get("format") != FORMAT_VERSION:
        raise VaultEnvironmentError(
            f"{where} has format version {doc.get('format')!r}; this kmscli reads version {FORMAT_VERSION}"
        )


def _file_mac_input(rel: str, data: Any) -> bytes:
    return b"file\0" + rel.encode() + b"\0" + fs.canonical_json(data)


def header_json(raw: dict[str, Any]) -> bytes:
    """The bytes of a header file."""
    return json.dumps(raw, indent=2).encode() + b"\n"


def build_header(
    vault_id: str,
    created: str,
    vault_key: bytes,
    passphrase: bytes,
    params: dict[str, int],
    random: Callable[[int], bytes],
) -> dict[str, Any]:
    """The one header builder (new vault, new bundle, passphrase change): a fresh salt, the vault
    key wrapped under the passphrase's root key, and the header MAC under the vault key."""
    salt = random(16)
    raw: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "vault_id": vault_id,
        "created": created,
        "kdf": {"name": "argon2id", "salt": b64e(salt), **params},
    }
    root = derive_root_key(passphrase, salt, params)
    nonce = random(12)
    raw["vault_key"] = {
        "nonce": b64e(nonce),
        "ciphertext": b64e(_aesgcm(root).encrypt(nonce, vault_key, Header("", raw).wrap_aad())),
    }
    mac_key = subkey(vault_key, "file-mac")
    raw["mac"] = primitives.hmac_sha256(mac_key, _header_mac_input(raw)).hex()
    return raw


def check_header(raw: Any, where: str) -> None:
    """The header's structure (no secret needed): format, fields, KDF name and bounds."""
    if not isinstance(raw, dict):
        raise TamperError(f"{where} is not a JSON object")
    fmt = raw.get("format")
    if fmt != FORMAT_VERSION:
        raise VaultEnvironmentError(
            f"{where} has format version {fmt!r}; this kmscli reads version {FORMAT_VERSION}"
        )
    for field in ("vault_id", "kdf", "vault_key", "mac", "created"):
        if field not in raw:
            raise TamperError(f"{where} lacks '{field}'")
    if not isinstance(raw["kdf"], dict) or raw["kdf"].get("name") != "argon2id":
        raise TamperError(f"{where}: unknown KDF {raw['kdf']!r}")
    check_kdf_params(raw["kdf"], source=where)  # bounds checked before anyone derives


class Vault:
    """A vault folder whose header has been read; no secret is known yet.

    ``path`` is a string as ``str(pathlib.Path(...))`` would print it (:func:`kmscli.vault.fs.pathstr`):
    pathlib is not imported on the way to an encrypt. ``folder`` holds the vault folder open; every
    file below it is opened through it (None for an archive held in memory).
    """

    #: An archive (a backup or bundle file) opened in memory, not a folder (``archive.ArchiveVault``).
    read_only = False

    def __init__(self, path: fs.StrPath, header: Header, folder: fs.VaultDir | None = None) -> None:
        self.path = fs.pathstr(path)
        self.header = header
        self._folder = folder

    @property
    def folder(self) -> fs.VaultDir:
        """The open vault folder."""
        if self._folder is None:
            raise VaultEnvironmentError(f"{self.path} is not a vault folder")
        return self._folder

    # -- opening and creating -------------------------------------------------------------
    @staticmethod
    def exists(path: fs.StrPath) -> bool:
        """Whether ``path`` holds a vault header (or anything, even a link, under its name)."""
        try:
            os.lstat(fs.join(fs.pathstr(path), HEADER_NAME))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    @classmethod
    def open(cls, path: fs.StrPath) -> Vault:
        """Read and sanity-check the header of the vault at ``path``."""
        path = fs.pathstr(path)
        missing = VaultEnvironmentError(
            f"no vault at {path}. Create one with `kmscli vault init` "
            "(or point KMSCLI_VAULT / --vault at an existing vault)"
        )
        try:
            folder = fs.VaultDir.open(path)
        except (FileNotFoundError, NotADirectoryError):
            raise missing from None
        except OSError as exc:
            raise VaultEnvironmentError(f"cannot open the vault {path}: {exc.strerror or exc}") from None
        try:
            raw = _read_json(folder, HEADER_NAME, "vault header")
        except FileNotFoundError:
            raise missing from None
        header = Header(folder.name(HEADER_NAME), raw)
        check_header(raw, f"vault header {header.path}")
        return cls(path, header, folder)

    @classmethod
    def create(
        cls,
        path: fs.StrPath,
        passphrase: bytes,
        kdf: dict[str, int],
        random: Callable[[int], bytes],
        created: str,
    ) -> UnlockedVault:
        """Create a new vault at ``path``; refuses to overwrite an existing one."""
        path = fs.pathstr(path)
        params = check_kdf_params(kdf, source="vault init")
        if cls.exists(path):
            raise VaultEnvironmentError(f"a vault already exists at {path}; refusing to overwrite it")
        try:
            return cls._create(path, passphrase, params, random, created)
        except OSError as exc:
            raise VaultEnvironmentError(f"cannot create a vault at {path}: {exc.strerror or exc}") from None

    @classmethod
    def _create(
        cls,
        path: str,
        passphrase: bytes,
        params: dict[str, int],
        random: Callable[[int], bytes],
        created: str,
    ) -> UnlockedVault:
        """The body of :meth:`create` (file-system errors become exit-253 errors there)."""
        fs.ensure_dir(path)  # the folder the user named for a new vault is made private
        folder = fs.VaultDir.open(path)
        with folder.locked(layout.LOCK, exclusive=True):
            if folder.exists(HEADER_NAME):
                raise VaultEnvironmentError(f"a vault already exists at {path}; refusing to overwrite it")
            vault_id = uuid4(random(16))
            vault_key = random(32)
            raw = build_header(vault_id, created, vault_key, passphrase, params, random)
            for sub in layout.FOLDERS:
                folder.mkdir(sub)
            unlocked = UnlockedVault(path, Header(folder.name(HEADER_NAME), raw), vault_key, folder)
            state.create(unlocked)
            folder.replace_atomic(HEADER_NAME, header_json(raw))
        return unlocked

    # -- status without the passphrase --------------------------------------------------
    def key_count(self) -> int:
        """Number of key files in every region (no passphrase needed)."""
        return sum(
            1
            for region in self.list_regions()
            for name in self.key_folder_names(region)
            if layout.json_stem(name) is not None
        )

    def list_regions(self) -> list[str]:
        """Regions that hold a key folder (real folders only: a link there is never followed)."""
        folder = self.folder
        self.require_folder(layout.KEYS)
        return sorted(
            name
            for name in folder.listdir(layout.KEYS)
            if is_region(name) and folder.is_dir(layout.key_folder(name))
        )

    def key_folder_names(self, region: str) -> list[str]:
        """The names in ``keys/REGION``: none when the region has no folder yet (no key was ever
        made there), but :class:`TamperError` when ``keys/`` itself is gone."""
        names = self.folder.listdir(layout.key_folder(region))
        if not names:
            self.require_folder(layout.KEYS)
        return names

    def require_folder(self, rel: str) -> None:
        """Refuse a vault whose folder ``rel``, one that every vault has (``layout.FOLDERS``), is
        missing or is not a real folder: a listing would otherwise answer "nothing there" for a
        vault whose keys or aliases were removed (docs/security.md, section 4)."""
        if self.read_only:  # an archive lists what it holds
            return
        if not self.folder.is_dir(rel):
            raise TamperError(
                f"the vault's folder {self.folder.name(rel)} is missing or is not a folder: it was "
                "removed or replaced, and the vault cannot be listed (restore it from a backup)"
            )

    # -- unlocking ----------------------------------------------------------------------
    def unlock(self, passphrase: bytes) -> UnlockedVault:
        """Derive the root key and unwrap the vault key; a wrong passphrase is exit 253."""
        kdf = self.header.kdf
        try:
            salt = b64d(self.header.raw["kdf"]["salt"])
            root = derive_root_key(passphrase, salt, kdf)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise TamperError(f"vault header {self.header.path}: bad KDF salt ({exc})") from None
        return self.unlock_with_root_key(root)

    def unlock_with_root_key(self, root: bytes) -> UnlockedVault:
        """Unwrap the vault key with an already derived root key."""
        from cryptography.exceptions import InvalidTag

        wrapped = self.header.raw["vault_key"]
        try:
            nonce, ct = b64d(wrapped["nonce"]), b64d(wrapped["ciphertext"])
            vault_key = _aesgcm(root).decrypt(nonce, ct, self.header.wrap_aad())
        except (InvalidTag, ValueError, TypeError, KeyError):
            raise VaultEnvironmentError(
                f"wrong passphrase for the vault at {self.path} (or its header {self.header.path} "
                "was modified)"
            ) from None
        return self.unlock_with_vault_key(vault_key)

    def unlock_with_vault_key(self, vault_key: bytes) -> UnlockedVault:
        """Open the vault with the vault key itself (sessions); checks the header MAC."""
        unlocked = UnlockedVault(self.path, self.header, vault_key, self._folder)
        if not unlocked.header_mac_matches(self.header.raw):
            raise TamperError(
                f"vault header {self.header.path} failed its integrity check: it was edited "
                "without the passphrase"
            )
        return unlocked


class UnlockedVault(Vault):
    """A vault whose vault key is known: can read and write authenticated files."""

    def __init__(
        self, path: fs.StrPath, header: Header, vault_key: bytes, folder: fs.VaultDir | None = None
    ) -> None:
        super().__init__(path, header, folder)
        self._vault_key = vault_key
        self._mac_key = subkey(vault_key, "file-mac")
        self._wrap_key = subkey(vault_key, "material-wrap")
        self.audit_key = subkey(vault_key, "audit-chain")
        self.state_cache: list[state.VaultState] = []
        #: Files read and authenticated, by name (see :meth:`read_mac_checked`).
        self._authentic: dict[str, _Authentic] = {}

    @property
    def vault_key(self) -> bytes:
        """The raw vault key (sessions and backups wrap it; never printed or logged)."""
        return self._vault_key

    # -- authentication -----------------------------------------------------------------
    def header_mac(self, raw: dict[str, Any]) -> str:
        """MAC over every header field but the MAC itself."""
        return primitives.hmac_sha256(self._mac_key, _header_mac_input(raw)).hex()

    def header_mac_matches(self, raw: dict[str, Any]) -> bool:
        """Whether the header's ``mac`` field is its MAC (constant-time)."""
        return primitives.hmac_sha256_matches(self._mac_key, _header_mac_input(raw), raw.get("mac"))

    def _file_mac(self, rel: str, data: Any) -> str:
        return primitives.hmac_sha256(self._mac_key, _file_mac_input(rel, data)).hex()

    def authenticated_doc(self, rel: str, data: Any) -> bytes:
        """The bytes of the MAC'd file ``rel`` holding ``data`` (what :meth:`write_authenticated` writes)."""
        doc = {"format": FORMAT_VERSION, "data": data, "mac": self._file_mac(rel, data)}
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode() + b"\n"

    def check_authenticated(self, rel: str, doc: Any, where: str, what: str) -> Any:
        """``doc``'s data when its MAC binds it to ``rel``; TamperError naming ``where`` otherwise."""
        check_envelope(doc, f"{what} {where}")
        try:
            ok = primitives.hmac_sha256_matches(self._mac_key, _file_mac_input(rel, doc["data"]), doc["mac"])
        except RecursionError:
            ok = False
        if not ok:
            raise TamperError(
                f"{what} {where} failed its integrity check: it was edited, replaced or moved "
                "without the passphrase, and will not be used"
            )
        return doc["data"]

    def read_authenticated(self, rel: str, what: str) -> Any:
        """Read the MAC'd vault file ``rel``; raise ``TamperError`` naming the file if it fails, or
        if it is not the version the vault state lists (:meth:`check_current`)."""
        try:
            data, mac = self.read_mac_checked(rel, what)
        except FileNotFoundError:
            self.check_current(rel, None, what)
            raise
        self.check_current(rel, mac, what)
        return data

    def read_mac_checked(self, rel: str, what: str) -> tuple[Any, str]:
        """(data, MAC) of the MAC'd vault file ``rel`` whose MAC is right, whichever version it is.

        A file this object authenticated before is not parsed and MAC-checked again while it is
        provably the same file: its stamp (device, inode, size, mtime, ctime: :func:`fs.stamp`)
        is unchanged and was taken after the file had settled, or else its bytes are the same
        (docs/architecture.md, "What a long-lived process remembers"). The caller gets its own copy.
        """
        import marshal

        folder = self.folder
        known = self._authentic.get(rel)
        if known is _ABSENT:  # missing when last looked for: a stat says whether it still is
            if folder.missing(rel):
                raise FileNotFoundError(rel)
        # a settled file's stamp stands for its bytes; stamp_of follows no link and opens nothing
        elif known is not None and known.raw is None and folder.stamp_of(rel) == known.stamp:
            return marshal.loads(known.frozen), known.mac
        try:
            raw, info = _read_raw(folder, rel, what)
        except FileNotFoundError:
            # a removed file's data (a destroyed key's) is not kept; that it is missing is
            if rel in self._authentic or len(self._authentic) < AUTHENTIC_CACHE_SIZE:
                self._authentic[rel] = _ABSENT
            raise
        stamp = fs.stamp(info)
        if known is not None and known is not _ABSENT and known.raw == raw and known.stamp == stamp:
            data, mac = marshal.loads(known.frozen), known.mac
        else:
            doc = _parse_json(folder, rel, what, raw)
            data = self.check_authenticated(rel, doc, folder.name(rel), what)
            mac = bytes.fromhex(doc["mac"]).hex()
        import time

        settled = fs.settled(info, time.time_ns())
        cache = self._authentic
        if rel not in cache and len(cache) >= AUTHENTIC_CACHE_SIZE:
            cache.pop(next(iter(cache), rel), None)
        cache[rel] = _Authentic(stamp, marshal.dumps(data), mac, None if settled else raw)
        return data, mac

    # -- freshness: the authenticated vault state (kmscli/vault/state.py) ----------------------
    def vault_state(self) -> state.VaultState | None:
        """The vault's state (None for a vault an older kmscli made, until its next write)."""
        return state.current(self, self.state_cache)

    def check_current(self, rel: str, mac: str | None, what: str) -> None:
        """Refuse an authentic file that is not the current version (``mac`` None: it is absent)."""
        if not state.governs(rel):
            return
        current = self.vault_state()
        if current is None or current.accepts(self, rel, mac):
            return
        if mac is None:
            raise TamperError(
                f"{what} {self.folder.name(rel)} was removed: the vault state lists it (restore it from a backup)"
            )
        raise TamperError(
            f"{what} {self.folder.name(rel)} is not the current version of that file: an older copy was "
            "put back, or files from different moments were mixed (rollback); it will not be used"
        )

    def mac_of(self, rel: str, data: Any) -> str:
        """The MAC :meth:`write_authenticated` gives ``data`` at ``rel``."""
        return self._file_mac(rel, data)

    def write_authenticated(self, rel: str, data: Any) -> None:
        """Atomically write ``data`` with its MAC to ``rel`` (caller holds the exclusive lock)."""
        self.folder.replace_atomic(rel, self.authenticated_doc(rel, data))

    # -- locking --------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, exclusive: bool) -> Iterator[None]:
        """Shared lock for reads, exclusive for read-modify-write.

        Taking the exclusive lock first finishes what a crashed writer left behind (temp files,
        a shred half done): nobody else can have a write in flight then. Either lock first checks
        that the vault path still leads to this folder: a ``vault restore`` that replaced it while
        this process held it open (a server) makes every later call fail with
        :class:`~kmscli.vault.fs.FolderReplacedError` (253), never touch the removed folder.
        """
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(self.folder.locked(layout.LOCK, exclusive))
        except OSError:  # no lock file can be made in a folder a restore has removed
            self.folder.check_in_place()
            raise
        with stack:
            self.folder.check_in_place()  # a restore swapped the folder while this process held it
            if exclusive:
                self.sweep()
            yield

    def sweep(self) -> int:
        """Remove temp files and finish shreds a crash left (caller holds the exclusive lock)."""
        folder = self.folder
        folders = [*layout.REPLACED_FOLDERS, *(layout.key_folder(r) for r in self.list_regions())]
        return sum(folder.sweep(rel) for rel in folders)

    # -- keys -------------------------------------------------------------------------------
    def key_file(self, region: str, key_id: str) -> str:
        """Where one key's file lives (relative); refuses ids and regions that are not well-formed."""
        if not is_key_id(key_id) or not is_region(region):
            raise ValueError(f"not a key id / region: {key_id!r} {region!r}")
        return layout.key_file(region, key_id)

    def load_key(self, region: str, key_id: str) -> dict[str, Any] | None:
        """The key record, or None when no such key exists."""
        rel = self.key_file(region, key_id)
        try:
            data = self.read_authenticated(rel, "key file")
        except FileNotFoundError:
            return None
        if not isinstance(data, dict) or data.get("KeyId") != key_id:
            raise TamperError(f"key file {fs.join(self.path, rel)} does not describe key {key_id}")
        return data

    def save_key(self, region: str, record: dict[str, Any]) -> None:
        """Write one key record (caller holds the exclusive lock)."""
        self.write_authenticated(self.key_file(region, record["KeyId"]), record)

    def destroy_key(self, region: str, key_id: str) -> None:
        """Overwrite and remove a key's file: its material is gone (from this object's memory too)."""
        rel = self.key_file(region, key_id)
        self._authentic.pop(rel, None)  # forgotten whole: the next read looks for the file again
        self.folder.shred(rel)

    def list_key_ids(self, region: str) -> list[str]:
        """Sorted key ids in one region (directory listing only; no file is read)."""
        if not is_region(region):
            return []
        return sorted(
            stem
            for name in self.key_folder_names(region)
            if (stem := layout.json_stem(name)) is not None and is_key_id(stem)
        )

    # -- aliases ------------------------------------------------------------------------------
    def alias_file(self, region: str) -> str:
        """The alias index file of one region (relative)."""
        if not is_region(region):
            raise ValueError(f"not a region: {region!r}")
        return layout.alias_file(region)

    def load_aliases(self, region: str) -> dict[str, dict[str, Any]]:
        """Alias name -> {"TargetKeyId", "CreationDate", "LastUpdatedDate"}."""
        rel = self.alias_file(region)
        try:
            data = self.read_authenticated(rel, "alias index")
        except FileNotFoundError:
            self.require_folder(layout.ALIASES)
            return {}
        if not isinstance(data, dict):
            raise TamperError(f"alias index {fs.join(self.path, rel)} is malformed")
        return data

    def save_aliases(self, region: str, aliases: dict[str, dict[str, Any]]) -> None:
        """Write the alias index of one region (caller holds the exclusive lock)."""
        self.write_authenticated(self.alias_file(region), aliases)

    # -- schedule of due work -----------------------------------------------------------------
    def load_schedule(self) -> dict[str, Any]:
        """Pending deletions and rotations: ``{"REGION/KEYID": {"delete_at": ..., ...}}``."""
        try:
            data = self.read_authenticated(layout.SCHEDULE, "schedule")
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise TamperError(f"schedule {fs.join(self.path, layout.SCHEDULE)} is malformed")
        return data

    def save_schedule(self, schedule: dict[str, Any]) -> None:
        """Write the schedule (caller holds the exclusive lock)."""
        self.write_authenticated(layout.SCHEDULE, schedule)

    # -- access keys of `kmscli serve` ----------------------------------------------------------
    def load_credentials(self) -> dict[str, dict[str, Any]]:
        """Access key id -> {"Principal", "Description", "CreateDate", "Status", "Secret" (wrapped)}."""
        path = layout.CREDENTIALS
        try:
            data = self.read_authenticated(path, "credentials file")
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise TamperError(f"credentials file {path} is malformed")
        return data

    def credentials_stamp(self) -> fs.Stamp | None:
        """The credentials file's :func:`fs.stamp`, None when absent: a cache key.

        Every write replaces the file (atomic rename), so any change gives a new stamp.
        """
        return self.folder.stamp_of(layout.CREDENTIALS)

    def save_credentials(self, credentials: dict[str, dict[str, Any]]) -> None:
        """Write the access keys (caller holds the exclusive lock)."""
        self.write_authenticated(layout.CREDENTIALS, credentials)

    def wrap_secret(self, access_key_id: str, secret: bytes, nonce: bytes) -> str:
        """A secret access key under the vault's wrap key, bound to its access key id."""
        aad = b"kmscli-credential\0" + access_key_id.encode()
        return b64e(nonce + _aesgcm(self._wrap_key).encrypt(nonce, secret, aad))

    def unwrap_secret(self, access_key_id: str, wrapped: str) -> bytes:
        """Inverse of :meth:`wrap_secret`; a secret moved to another key id fails (TamperError)."""
        from cryptography.exceptions import InvalidTag

        aad = b"kmscli-credential\0" + access_key_id.encode()
        try:
            blob = b64d(wrapped)
            return bytes(_aesgcm(self._wrap_key).decrypt(blob[:12], blob[12:], aad))
        except (InvalidTag, ValueError, TypeError):
            raise TamperError(f"the secret of access key {access_key_id} failed to unwrap") from None

    # -- key material wrapping ----------------------------------------------------------------
    def wrap_material(self, arn: str, material_id: str, raw: bytes, nonce: bytes) -> str:
        """AES-256-GCM under the vault's wrap key, bound to the key ARN and material id."""
        aad = b"kmscli-material\0" + arn.encode() + b"\0" + material_id.encode()
        return b64e(nonce + _aesgcm(self._wrap_key).encrypt(nonce, raw, aad))

    def unwrap_material(self, arn: str, material_id: str, wrapped: str) -> bytes:
        """Inverse of :meth:`wrap_material`; a blob moved to another key fails (TamperError)."""
        from cryptography.exceptions import InvalidTag

        aad = b"kmscli-material\0" + arn.encode() + b"\0" + material_id.encode()
        try:
            blob = b64d(wrapped)
            return bytes(_aesgcm(self._wrap_key).decrypt(blob[:12], blob[12:], aad))
        except (InvalidTag, ValueError):
            raise TamperError(f"key material {material_id} of {arn} failed to unwrap") from None

    # -- passphrase change ----------------------------------------------------------------------
    def rewrap(self, passphrase: bytes, kdf: dict[str, int], random: Callable[[int], bytes]) -> None:
        """Wrap the same vault key under a new passphrase (and salt); nothing else changes."""
        params = check_kdf_params(kdf, source="change-passphrase")
        old = self.header.raw
        raw = build_header(old["vault_id"], old["created"], self._vault_key, passphrase, params, random)
        self.folder.replace_atomic(HEADER_NAME, header_json(raw))
        self.header = Header(self.header.path, raw)
