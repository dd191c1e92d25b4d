"""Vault archives: one encrypted file holding a whole vault (backup) or a few keys (bundle).

Format (JSON)::

    {"format": "kmscli-archive", "version": 1, "kind": "backup" | "bundle", "created": ISO,
     "header": {... the vault header: KDF, salt, wrapped vault key, MAC ...},
     "payload": {"nonce": B64, "ciphertext": B64}}

The payload is AES-256-GCM under a key derived from the archive's vault key (HKDF, purpose
``archive``), with the kind, version, vault id and creation time as associated data. Its plaintext is
canonical JSON ``{"files": {"keys/REGION/ID.json": B64, ...}}``: the vault's files byte for byte, so
every key file keeps its own MAC and its material stays wrapped. The passphrase (or a session) opens
the header's vault key exactly as for a vault folder.

``KMSCLI_VAULT`` may name an archive file: it opens read-only, in memory (:class:`ArchiveVault`).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kmscli.errors import VaultEnvironmentError
from kmscli.vault import fs
from kmscli.vault.store import (
    FORMAT_VERSION,
    HEADER_NAME,
    Header,
    TamperError,
    UnlockedVault,
    Vault,
    _aesgcm,
    b64d,
    b64e,
    check_file_format,
    check_kdf_params,
    derive_root_key,
    subkey,
)

ARCHIVE_FORMAT = "kmscli-archive"
ARCHIVE_VERSION = 1
KINDS = ("backup", "bundle")
#: Largest archive we are willing to load into memory.
MAX_ARCHIVE = 1024 * 1024 * 1024
_KEY_FILE_RE = re.compile(r"^keys/([a-z0-9-]+)/([0-9a-z-]+)\.json$")


class ReadOnlyVaultError(VaultEnvironmentError):
    """A write was attempted on a vault archive opened through KMSCLI_VAULT."""


def _payload_aad(kind: str, vault_id: str, created: str) -> bytes:
    return b"kmscli-archive\0" + fs.canonical_json(
        {"version": ARCHIVE_VERSION, "kind": kind, "vault_id": vault_id, "created": created}
    )


def seal(vault: UnlockedVault, kind: str, created: str, files: dict[str, bytes], random: Any) -> bytes:
    """The archive bytes for ``files`` under ``vault``'s header and vault key."""
    if kind not in KINDS:
        raise ValueError(kind)
    body = fs.canonical_json({"files": {rel: b64e(data) for rel, data in sorted(files.items())}})
    nonce: bytes = random(12)
    ct = _aesgcm(subkey(vault.vault_key, "archive")).encrypt(
        nonce, body, _payload_aad(kind, vault.header.raw["vault_id"], created)
    )
    doc = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "kind": kind,
        "created": created,
        "header": vault.header.raw,
        "payload": {"nonce": b64e(nonce), "ciphertext": b64e(ct)},
    }
    return json.dumps(doc, indent=1).encode() + b"\n"


def new_vault_header(
    path: fs.StrPath, passphrase: bytes, kdf: dict[str, int], random: Callable[[int], bytes], created: str
) -> UnlockedVault:
    """A new vault identity (id, salt, vault key wrapped under ``passphrase``) held in memory only."""
    from kmscli.ids import uuid4

    params = check_kdf_params(kdf, source="export-key")
    salt = random(16)
    raw: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "vault_id": uuid4(random(16)),
        "created": created,
        "kdf": {"name": "argon2id", "salt": b64e(salt), **params},
    }
    header = Header(fs.pathstr(path), raw)
    vault_key = random(32)
    root = derive_root_key(passphrase, salt, params)
    nonce = random(12)
    raw["vault_key"] = {
        "nonce": b64e(nonce),
        "ciphertext": b64e(_aesgcm(root).encrypt(nonce, vault_key, header.wrap_aad())),
    }
    unlocked = UnlockedVault(path, header, vault_key)
    raw["mac"] = unlocked.header_mac(raw)
    return unlocked


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a file (an archive) rather than a vault folder."""
    return path.is_file()


class ArchiveFile(Vault):
    """An archive whose outer JSON and header were read; the passphrase or a session opens it."""

    def __init__(self, path: fs.StrPath, header: Header, doc: dict[str, Any]) -> None:
        super().__init__(path, header)
        self.doc = doc

    @property
    def kind(self) -> str:
        """``backup`` or ``bundle``."""
        return str(self.doc["kind"])

    @classmethod
    def open(cls, path: fs.StrPath) -> ArchiveFile:
        """Read an archive file and check its outer structure and header (no secret needed)."""
        path = fs.pathstr(path)
        try:
            raw = fs.read_bounded(path, MAX_ARCHIVE)
        except FileNotFoundError:
            raise VaultEnvironmentError(f"no vault archive at {path}") from None
        except (OSError, ValueError) as exc:
            raise VaultEnvironmentError(f"cannot read vault archive {path}: {exc}") from None
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise TamperError(f"{path} is not a kmscli vault archive (not JSON)") from None
        if not isinstance(doc, dict) or doc.get("format") != ARCHIVE_FORMAT:
            raise TamperError(f"{path} is not a kmscli vault archive")
        if doc.get("version") != ARCHIVE_VERSION:
            raise VaultEnvironmentError(
                f"vault archive {path} has version {doc.get('version')!r}; this kmscli reads "
                f"version {ARCHIVE_VERSION}"
            )
        head = doc.get("header")
        payload = doc.get("payload")
        if (
            doc.get("kind") not in KINDS
            or not isinstance(doc.get("created"), str)
            or not isinstance(head, dict)
            or not isinstance(payload, dict)
        ):
            raise TamperError(f"vault archive {path} is malformed")
        for field in ("format", "vault_id", "kdf", "vault_key", "mac", "created"):
            if field not in head:
                raise TamperError(f"vault archive {path}: header lacks '{field}'")
        if head["format"] != FORMAT_VERSION or not isinstance(head["kdf"], dict):
            raise TamperError(f"vault archive {path}: unsupported header")
        if head["kdf"].get("name") != "argon2id":
            raise TamperError(f"vault archive {path}: unknown KDF")
        header = Header(path, head)
        header.kdf  # noqa: B018 - validates bounds before anyone derives
        return cls(path, header, doc)

    def unlock_with_vault_key(self, vault_key: bytes) -> ArchiveVault:
        """Check the header MAC, decrypt the payload and return the in-memory, read-only vault."""
        from cryptography.exceptions import InvalidTag

        probe = UnlockedVault(self.path, self.header, vault_key)
        if not hmac.compare_digest(probe.header_mac(self.header.raw), str(self.header.raw["mac"])):
            raise TamperError(f"vault archive {self.path}: header failed its integrity check")
        payload = self.doc["payload"]
        try:
            nonce, ct = b64d(payload["nonce"]), b64d(payload["ciphertext"])
            body = _aesgcm(subkey(vault_key, "archive")).decrypt(
                nonce, ct, _payload_aad(self.kind, self.header.raw["vault_id"], self.doc["created"])
            )
            files = {str(rel): b64d(data) for rel, data in json.loads(body)["files"].items()}
        except (InvalidTag, ValueError, TypeError, KeyError):
            raise TamperError(
                f"vault archive {self.path} failed its integrity check: it was damaged or edited"
            ) from None
        for rel in files:
            if rel.startswith("/") or ".." in rel.split("/") or rel == HEADER_NAME:
                raise TamperError(f"vault archive {self.path} holds a bad file name {rel!r}")
        return ArchiveVault(self.path, self.header, vault_key, files, self.kind)


class ArchiveVault(UnlockedVault):
    """An archive opened in memory: every read is authenticated, every write is refused."""

    read_only = True

    def __init__(
        self, path: fs.StrPath, header: Header, vault_key: bytes, files: dict[str, bytes], kind: str
    ) -> None:
        super().__init__(path, header, vault_key)
        self.files = files
        self.kind = kind

    def _refuse(self) -> ReadOnlyVaultError:
        return ReadOnlyVaultError(
            f"the vault {self.path} is a read-only {self.kind} file; operations that change keys, "
            "aliases or policies need a vault folder (see `kmscli vault restore`)"
        )

    def read_authenticated(self, path: str, what: str) -> Any:
        """Read a MAC'd file from the archive; FileNotFoundError when it is not there."""
        rel = self._rel(path)
        if rel not in self.files:
            raise FileNotFoundError(rel)
        try:
            doc = json.loads(self.files[rel])
        except (ValueError, UnicodeDecodeError):
            raise TamperError(f"{what} {rel} in {self.path} is not valid JSON") from None
        if not isinstance(doc, dict) or "data" not in doc or not isinstance(doc.get("mac"), str):
            raise TamperError(f"{what} {rel} in {self.path} is malformed")
        check_file_format(doc, f"{what} {rel} in {self.path}")
        if not hmac.compare_digest(self._file_mac(rel, doc["data"]), doc["mac"]):
            raise TamperError(f"{what} {rel} in {self.path} failed its integrity check")
        return doc["data"]

    def vault_state(self) -> None:
        """An archive is one snapshot, authenticated as a whole: no state to check against."""
        return None

    def write_authenticated(self, path: str, data: Any) -> None:
        """Refused: the archive is read-only."""
        raise self._refuse()

    @contextlib.contextmanager
    def lock(self, exclusive: bool) -> Iterator[None]:
        """Reads need no lock (the archive is in memory); a write lock is refused up front."""
        if exclusive:
            raise self._refuse()
        yield

    def destroy_key(self, region: str, key_id: str) -> None:
        """Refused: the archive is read-only."""
        raise self._refuse()

    def rewrap(self, passphrase: bytes, kdf: dict[str, int], random: Callable[[int], bytes]) -> None:
        """Refused: the archive is read-only."""
        raise self._refuse()

    def load_schedule(self) -> dict[str, Any]:
        """No due work runs in a read-only archive."""
        return {}

    def _key_files(self) -> list[tuple[str, str]]:
        return sorted((m.group(1), m.group(2)) for rel in self.files if (m := _KEY_FILE_RE.match(rel)))

    def list_key_ids(self, region: str) -> list[str]:
        """Sorted key ids of one region in the archive."""
        return [key_id for reg, key_id in self._key_files() if reg == region]

    def list_regions(self) -> list[str]:
        """Regions that hold keys in the archive."""
        return sorted({reg for reg, _ in self._key_files()})

    def key_count(self) -> int:
        """Number of keys in the archive."""
        return len(self._key_files())


def open_archive(path: fs.StrPath) -> ArchiveFile:
    """Open an archive file (no secret needed yet)."""
    return ArchiveFile.open(path)


def vault_files(vault: Vault) -> Iterator[tuple[str, Path]]:
    """Every file of a vault folder worth backing up, as (relative name, path), sorted.

    Skips the header (stored separately), lock files and temporary files.
    """
    root = Path(vault.path)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or (Path(dirpath) == root and name == HEADER_NAME):
                continue
            full = Path(dirpath) / name
            if full.is_file() and not full.is_symlink():
                yield full.relative_to(root).as_posix(), full


def check_outfile(path: Path, *, force: bool) -> None:
    """Refuse an output path that exists (without ``force``), is a folder, or has no parent folder."""
    if path.is_dir():
        raise VaultEnvironmentError(f"{path} is a folder")
    if path.exists() and not force:
        raise VaultEnvironmentError(f"{path} already exists; refusing to overwrite it without --force")
    if not path.parent.is_dir():
        raise VaultEnvironmentError(f"the folder of {path} does not exist")


def write_new_file(path: Path, data: bytes, *, force: bool) -> None:
    """Write a private (0600) file atomically; refuse to replace an existing one without ``force``."""
    check_outfile(path, force=force)
    try:
        fs.atomic_write(path, data)
        os.chmod(path, fs.FILE_MODE)
    except OSError as exc:
        raise VaultEnvironmentError(f"cannot write {path}: {exc.strerror or exc}") from None
