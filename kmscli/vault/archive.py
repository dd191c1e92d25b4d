"""Vault archives: one encrypted file holding a whole vault (backup) or a few keys (bundle).

Format (JSON)::

    {"format": "kmscli-archive", "version": 1, "kind": "backup" | "bundle", "created": ISO,
     "header": {... the vault header: KDF, salt, wrapped vault key, MAC ...},
     "payload": {"nonce": B64, "ciphertext": B64}}

The payload is AES-256-GCM under a key derived from the archive's vault key (HKDF, purpose
``archive``), with the kind, version, vault id and creation time as associated data. Its plaintext is
canonical JSON ``{"files": {NAME: B64, ...}}`` (NAME as :mod:`kmscli.vault.layout` names the file,
e.g. ``keys/REGION/ID.json``): the vault's files byte for byte, so
every key file keeps its own MAC and its material stays wrapped. The passphrase (or a session) opens
the header's vault key exactly as for a vault folder.

``KMSCLI_VAULT`` may name an archive file: it opens read-only, in memory (:class:`ArchiveVault`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kmscli.errors import VaultEnvironmentError
from kmscli.jsonstrict import DuplicateMemberError
from kmscli.vault import fs, layout
from kmscli.vault.store import (
    HEADER_NAME,
    Header,
    TamperError,
    UnlockedVault,
    Vault,
    _aesgcm,
    b64d,
    b64e,
    build_header,
    check_header,
    check_kdf_params,
    subkey,
)

ARCHIVE_FORMAT = "kmscli-archive"
ARCHIVE_VERSION = 1
KINDS = ("backup", "bundle")
#: Largest archive we are willing to load into memory.
MAX_ARCHIVE = 1024 * 1024 * 1024


class ReadOnlyVaultError(VaultEnvironmentError):
    """A write was attempted on a vault archive opened through KMSCLI_VAULT."""


def _payload_aad(kind: str, vault_id: str, created: str) -> bytes:
    return b"kmscli-archive\0" + fs.canonical_json(
        {"version": ARCHIVE_VERSION, "kind": kind, "vault_id": vault_id, "created": created}
    )


#: The members of an archive file, each authenticated (header MAC, payload AEAD and its AAD).
ARCHIVE_MEMBERS = frozenset({"format", "version", "kind", "created", "header", "payload"})


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
    vault_id = uuid4(random(16))
    vault_key = random(32)
    raw = build_header(vault_id, created, vault_key, passphrase, params, random)
    return UnlockedVault(path, Header(fs.pathstr(path), raw), vault_key)


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
            doc = fs.loads(raw)
        except DuplicateMemberError as exc:
            raise TamperError(f"vault archive {path} is malformed: {exc}") from None
        except (ValueError, UnicodeDecodeError):
            raise TamperError(f"{path} is not a kmscli vault archive (not JSON)") from None
        if not isinstance(doc, dict) or doc.get("format") != ARCHIVE_FORMAT:
            raise TamperError(f"{path} is not a kmscli vault archive")
        extra = sorted(set(doc) - ARCHIVE_MEMBERS)
        inner = doc.get("payload")
        payload_extra = sorted(set(inner) - {"nonce", "ciphertext"}) if isinstance(inner, dict) else []
        if extra or payload_extra:
            raise TamperError(
                f"vault archive {path} has members outside its authentication "
                f"({', '.join(map(repr, extra + payload_extra))})"
            )
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
        check_header(head, f"the header of vault archive {path}")
        return cls(path, Header(path, head), doc)

    def unlock_with_vault_key(self, vault_key: bytes) -> ArchiveVault:
        """Check the header MAC, decrypt the payload and return the in-memory, read-only vault."""
        from cryptography.exceptions import InvalidTag

        probe = UnlockedVault(self.path, self.header, vault_key)
        if not probe.header_mac_matches(self.header.raw):
            raise TamperError(f"vault archive {self.path}: header failed its integrity check")
        payload = self.doc["payload"]
        try:
            nonce, ct = b64d(payload["nonce"]), b64d(payload["ciphertext"])
            body = _aesgcm(subkey(vault_key, "archive")).decrypt(
                nonce, ct, _payload_aad(self.kind, self.header.raw["vault_id"], self.doc["created"])
            )
            files = {str(rel): b64d(data) for rel, data in fs.loads(body)["files"].items()}
        except (InvalidTag, ValueError, TypeError, KeyError, AttributeError):
            raise TamperError(
                f"vault archive {self.path} failed its integrity check: it was damaged or edited"
            ) from None
        for rel in files:
            try:
                fs.split_rel(rel)
            except ValueError:
                rel = ""
            if not rel or rel == HEADER_NAME:
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

    def read_authenticated(self, rel: str, what: str) -> Any:
        """Read a MAC'd file from the archive; FileNotFoundError when it is not there."""
        if rel not in self.files:
            raise FileNotFoundError(rel)
        try:
            doc = fs.loads(self.files[rel])
        except (ValueError, UnicodeDecodeError):
            raise TamperError(f"{what} {rel} in {self.path} is not valid JSON") from None
        return self.check_authenticated(rel, doc, f"{rel} in {self.path}", what)

    def vault_state(self) -> None:
        """An archive is one snapshot, authenticated as a whole: no state to check against."""
        return None

    def write_authenticated(self, rel: str, data: Any) -> None:
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

    def sweep(self) -> int:
        """Nothing to sweep in memory."""
        return 0

    def rewrap(self, passphrase: bytes, kdf: dict[str, int], random: Callable[[int], bytes]) -> None:
        """Refused: the archive is read-only."""
        raise self._refuse()

    def load_schedule(self) -> dict[str, Any]:
        """No due work runs in a read-only archive."""
        return {}

    def _key_files(self) -> list[tuple[str, str]]:
        return sorted((m.group(1), m.group(2)) for rel in self.files if (m := layout.KEY_FILE_RE.match(rel)))

    def list_key_ids(self, region: str) -> list[str]:
        """Sorted key ids of one region in the archive."""
        return [key_id for reg, key_id in self._key_files() if reg == region]

    def list_regions(self) -> list[str]:
        """Regions that hold keys in the archive."""
        return sorted({reg for reg, _ in self._key_files()})

    def key_count(self) -> int:
        """Number of keys in the archive."""
        return len(self._key_files())


def vault_files(vault: Vault) -> list[str]:
    """Every file of a vault folder worth backing up, as relative names, sorted.

    Skips the header (stored separately), lock, hidden and temporary files. The folder is walked
    through its descriptor: a link there is not followed (reading it as a file is then refused).
    """
    folder = vault.folder
    found: list[str] = []

    def walk(rel: str) -> None:
        for name in sorted(folder.listdir(rel)):
            if name.startswith(".") or (not rel and name == HEADER_NAME):
                continue
            child = f"{rel}/{name}" if rel else name
            if folder.is_dir(child):
                walk(child)
            else:
                found.append(child)

    walk("")
    return found


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
        fs.atomic_write(path, data)  # created 0600
    except OSError as exc:
        raise VaultEnvironmentError(f"cannot write {path}: {exc.strerror or exc}") from None
