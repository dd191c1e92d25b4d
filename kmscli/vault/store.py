"""The vault: header, root key derivation, the vault key, and authenticated key/alias files.

Layout (see docs/format.md)::

    VAULT/vault.json              header: format, KDF parameters and salt, wrapped vault key, MAC
    VAULT/.lock                   flock target: shared for reads, exclusive for writes
    VAULT/keys/REGION/KEYID.json  one key: metadata, policy, grants, tags, wrapped material
    VAULT/aliases/REGION.json     alias name -> key id for one region
    VAULT/schedule.json           due work: pending deletions and rotations (small index)
    VAULT/state.json              which version of every file is current (kmscli.vault.state)
    VAULT/manifest/XY.json        the key files' MACs, in 256 buckets by key id
    VAULT/audit/*.jsonl           the chained audit log (kmscli.audit)
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
from kmscli.vault import fs, state

FORMAT_VERSION = 1
HEADER_NAME = "vault.json"

#: RFC 9106 second recommended option: Argon2id, 64 MiB, t=3, p=4.
DEFAULT_KDF = {"memory_cost": 65536, "iterations": 3, "lanes": 4}
#: Cheapest parameters accepted (for tests only; documented in README and docs/format.md).
KDF_FLOOR = {"memory_cost": 8, "iterations": 1, "lanes": 1}
#: Upper bounds checked before deriving, so a hostile header cannot stall or exhaust the machine.
KDF_CEILING = {"memory_cost": 4 * 1024 * 1024, "iterations": 16, "lanes": 64}


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


def _read_json(path: str, what: str) -> Any:
    try:
        raw = fs.read_bounded(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise VaultEnvironmentError(f"cannot read {what} {path}: {exc}") from None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TamperError(f"{what} {path} is not valid JSON ({exc}); it was damaged or edited") from None


def _header_mac_input(raw: dict[str, Any]) -> bytes:
    return b"header\0" + fs.canonical_json({k: v for k, v in raw.items() if k != "mac"})


def check_file_format(doc: dict[str, Any], where: str) -> None:
    """Refuse an authenticated file of another format version (its MAC does not cover ``format``)."""
    if doc.get("format") != FORMAT_VERSION:
        raise VaultEnvironmentError(
            f"{where} has format version {doc.get('format')!r}; this kmscli reads version {FORMAT_VERSION}"
        )


def _file_mac_input(rel: str, data: Any) -> bytes:
    return b"file\0" + rel.encode() + b"\0" + fs.canonical_json(data)


class Vault:
    """A vault folder whose header has been read; no secret is known yet.

    Paths are strings as ``str(pathlib.Path(...))`` would print them (:func:`kmscli.vault.fs.pathstr`):
    pathlib is not imported on the way to an encrypt.
    """

    def __init__(self, path: fs.StrPath, header: Header) -> None:
        self.path = fs.pathstr(path)
        self.header = header

    # -- opening and creating -------------------------------------------------------------
    @staticmethod
    def exists(path: fs.StrPath) -> bool:
        """Whether ``path`` holds a vault header."""
        return fs.is_file(fs.join(fs.pathstr(path), HEADER_NAME))

    @classmethod
    def open(cls, path: fs.StrPath) -> Vault:
        """Read and sanity-check the header of the vault at ``path``."""
        path = fs.pathstr(path)
        header_path = fs.join(path, HEADER_NAME)
        try:
            raw = _read_json(header_path, "vault header")
        except FileNotFoundError:
            raise VaultEnvironmentError(
                f"no vault at {path}. Create one with `kmscli vault init` "
                "(or point KMSCLI_VAULT / --vault at an existing vault)"
            ) from None
        if not isinstance(raw, dict):
            raise TamperError(f"vault header {header_path} is not a JSON object")
        fmt = raw.get("format")
        if fmt != FORMAT_VERSION:
            raise VaultEnvironmentError(
                f"vault header {header_path} has format version {fmt!r}; this kmscli reads version "
                f"{FORMAT_VERSION}"
            )
        for field in ("vault_id", "kdf", "vault_key", "mac", "created"):
            if field not in raw:
                raise TamperError(f"vault header {header_path} lacks '{field}'")
        if not isinstance(raw["kdf"], dict) or raw["kdf"].get("name") != "argon2id":
            raise TamperError(f"vault header {header_path}: unknown KDF {raw['kdf']!r}")
        header = Header(header_path, raw)
        header.kdf  # noqa: B018 - validates bounds before anyone derives
        return cls(path, header)

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
        fs.ensure_dir(path)
        with fs.locked(fs.join(path, ".lock"), exclusive=True):
            if cls.exists(path):
                raise VaultEnvironmentError(f"a vault already exists at {path}; refusing to overwrite it")
            salt = random(16)
            raw: dict[str, Any] = {
                "format": FORMAT_VERSION,
                "vault_id": uuid4(random(16)),
                "created": created,
                "kdf": {"name": "argon2id", "salt": b64e(salt), **params},
            }
            header = Header(fs.join(path, HEADER_NAME), raw)
            vault_key = random(32)
            root = derive_root_key(passphrase, salt, params)
            nonce = random(12)
            raw["vault_key"] = {
                "nonce": b64e(nonce),
                "ciphertext": b64e(_aesgcm(root).encrypt(nonce, vault_key, header.wrap_aad())),
            }
            unlocked = UnlockedVault(path, header, vault_key)
            raw["mac"] = unlocked.header_mac(raw)
            for sub in ("keys", "aliases", "audit"):
                fs.ensure_dir(fs.join(path, sub))
            state.create(unlocked)
            fs.atomic_write(header.path, json.dumps(raw, indent=2).encode() + b"\n")
        return unlocked

    # -- status without the passphrase --------------------------------------------------
    def key_count(self) -> int:
        """Number of key files in every region (no passphrase needed)."""
        keys = fs.join(self.path, "keys")
        if not fs.is_dir(keys):
            return 0
        regions = [fs.join(keys, name) for name in os.listdir(keys)]
        return sum(
            1
            for region in regions
            if fs.is_dir(region)
            for name in os.listdir(region)
            if name.endswith(".json") and not name.startswith(".")
        )

    def list_key_ids(self, region: str) -> list[str]:
        """Sorted key ids in one region (directory listing only; no file is read)."""
        folder = fs.join(self.path, "keys", region)
        if not is_region(region) or not fs.is_dir(folder):
            return []
        return sorted(
            name[:-5]
            for name in os.listdir(folder)
            if name.endswith(".json") and not name.startswith(".") and is_key_id(name[:-5])
        )

    def list_regions(self) -> list[str]:
        """Regions that hold at least one key folder."""
        folder = fs.join(self.path, "keys")
        if not fs.is_dir(folder):
            return []
        return sorted(name for name in os.listdir(folder) if fs.is_dir(fs.join(folder, name)))

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
        unlocked = UnlockedVault(self.path, self.header, vault_key)
        if not unlocked.header_mac_matches(self.header.raw):
            raise TamperError(
                f"vault header {self.header.path} failed its integrity check: it was edited "
                "without the passphrase"
            )
        return unlocked


class UnlockedVault(Vault):
    """A vault whose vault key is known: can read and write authenticated files."""

    def __init__(self, path: fs.StrPath, header: Header, vault_key: bytes) -> None:
        super().__init__(path, header)
        self._vault_key = vault_key
        self._mac_key = subkey(vault_key, "file-mac")
        self._wrap_key = subkey(vault_key, "material-wrap")
        self.audit_key = subkey(vault_key, "audit-chain")
        self.state_cache: list[state.VaultState] = []

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

    def _rel(self, path: str) -> str:
        """The name a file's MAC binds, e.g. ``keys/us-east-1/ID.json`` (Path.relative_to().as_posix())."""
        return fs.relative_posix(path, self.path)

    def read_authenticated(self, path: str, what: str) -> Any:
        """Read a MAC'd vault file; raise ``TamperError`` naming the file if it fails, or if it is
        not the version the vault state lists (:meth:`check_current`)."""
        try:
            data, mac = self.read_mac_checked(path, what)
        except FileNotFoundError:
            self.check_current(path, None, what)
            raise
        self.check_current(path, mac, what)
        return data

    def read_mac_checked(self, path: str, what: str) -> tuple[Any, str]:
        """(data, MAC) of a MAC'd vault file whose MAC is right, whichever version it is."""
        doc = _read_json(path, what)
        if not isinstance(doc, dict) or "data" not in doc or not isinstance(doc.get("mac"), str):
            raise TamperError(f"{what} {path} is malformed; it was damaged or edited")
        check_file_format(doc, f"{what} {path}")
        if not primitives.hmac_sha256_matches(
            self._mac_key, _file_mac_input(self._rel(path), doc["data"]), doc["mac"]
        ):
            raise TamperError(
                f"{what} {path} failed its integrity check: it was edited, replaced or moved "
                "without the passphrase, and will not be used"
            )
        return doc["data"], bytes.fromhex(doc["mac"]).hex()

    # -- freshness: the authenticated vault state (kmscli/vault/state.py) ----------------------
    def vault_state(self) -> state.VaultState | None:
        """The vault's state (None for a vault an older kmscli made, until its next write)."""
        return state.current(self, self.state_cache)

    def check_current(self, path: str, mac: str | None, what: str) -> None:
        """Refuse an authentic file that is not the current version (``mac`` None: it is absent)."""
        rel = self._rel(path)
        if rel == state.STATE_NAME:
            return
        current = self.vault_state()
        if current is None or current.accepts(self, rel, mac):
            return
        if mac is None:
            raise TamperError(
                f"{what} {path} was removed: the vault state lists it (restore it from a backup)"
            )
        raise TamperError(
            f"{what} {path} is not the current version of that file: an older copy was put back, or "
            "files from different moments were mixed (rollback); it will not be used"
        )

    def rel(self, path: str) -> str:
        """The name a file's MAC binds (``keys/REGION/ID.json``)."""
        return self._rel(path)

    def mac_of(self, rel: str, data: Any) -> str:
        """The MAC :meth:`write_authenticated` gives ``data`` at ``rel``."""
        return self._file_mac(rel, data)

    def write_authenticated(self, path: str, data: Any) -> None:
        """Atomically write ``data`` with its MAC (caller holds the exclusive lock)."""
        fs.ensure_dir(fs.parent(path))
        doc = {"format": FORMAT_VERSION, "data": data, "mac": self._file_mac(self._rel(path), data)}
        fs.atomic_write(path, json.dumps(doc, separators=(",", ":"), sort_keys=True).encode() + b"\n")

    # -- locking --------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, exclusive: bool) -> Iterator[None]:
        """Shared lock for reads, exclusive for read-modify-write."""
        with fs.locked(fs.join(self.path, ".lock"), exclusive):
            yield

    # -- keys -------------------------------------------------------------------------------
    def key_path(self, region: str, key_id: str) -> str:
        """Where one key's file lives; refuses ids and regions that are not well-formed."""
        if not is_key_id(key_id) or not is_region(region):
            raise ValueError(f"not a key id / region: {key_id!r} {region!r}")
        return fs.join(self.path, "keys", region, f"{key_id}.json")

    def load_key(self, region: str, key_id: str) -> dict[str, Any] | None:
        """The key record, or None when no such key exists."""
        path = self.key_path(region, key_id)
        try:
            data = self.read_authenticated(path, "key file")
        except FileNotFoundError:
            return None
        if not isinstance(data, dict) or data.get("KeyId") != key_id:
            raise TamperError(f"key file {path} does not describe key {key_id}")
        return data

    def save_key(self, region: str, record: dict[str, Any]) -> None:
        """Write one key record (caller holds the exclusive lock)."""
        self.write_authenticated(self.key_path(region, record["KeyId"]), record)

    def destroy_key(self, region: str, key_id: str) -> None:
        """Overwrite and remove a key's file: its material is gone."""
        fs.shred(self.key_path(region, key_id))

    # -- aliases ------------------------------------------------------------------------------
    def alias_path(self, region: str) -> str:
        """The alias index file of one region."""
        if not is_region(region):
            raise ValueError(f"not a region: {region!r}")
        return fs.join(self.path, "aliases", f"{region}.json")

    def load_aliases(self, region: str) -> dict[str, dict[str, Any]]:
        """Alias name -> {"TargetKeyId", "CreationDate", "LastUpdatedDate"}."""
        try:
            data = self.read_authenticated(self.alias_path(region), "alias index")
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise TamperError(f"alias index {self.alias_path(region)} is malformed")
        return data

    def save_aliases(self, region: str, aliases: dict[str, dict[str, Any]]) -> None:
        """Write the alias index of one region (caller holds the exclusive lock)."""
        self.write_authenticated(self.alias_path(region), aliases)

    # -- schedule of due work -----------------------------------------------------------------
    def load_schedule(self) -> dict[str, Any]:
        """Pending deletions and rotations: ``{"REGION/KEYID": {"delete_at": ..., ...}}``."""
        try:
            data = self.read_authenticated(fs.join(self.path, "schedule.json"), "schedule")
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise TamperError(f"schedule {fs.join(self.path, 'schedule.json')} is malformed")
        return data

    def save_schedule(self, schedule: dict[str, Any]) -> None:
        """Write the schedule (caller holds the exclusive lock)."""
        self.write_authenticated(fs.join(self.path, "schedule.json"), schedule)

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
        raw = dict(self.header.raw)
        salt = random(16)
        raw["kdf"] = {"name": "argon2id", "salt": b64e(salt), **params}
        header = Header(self.header.path, raw)
        nonce = random(12)
        root = derive_root_key(passphrase, salt, params)
        raw["vault_key"] = {
            "nonce": b64e(nonce),
            "ciphertext": b64e(_aesgcm(root).encrypt(nonce, self._vault_key, header.wrap_aad())),
        }
        raw["mac"] = self.header_mac(raw)
        fs.atomic_write(header.path, json.dumps(raw, indent=2).encode() + b"\n")
        self.header = header
