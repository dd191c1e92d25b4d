"""Generate tests/vectors/*.json: test vectors for every file format kmscli writes.

One command (``make vectors``) rewrites them all. Generation is deterministic: the clock and the
randomness are fixed, so the same code writes the same bytes, and a change to a format shows up as a
diff of the committed vectors. Each vector file has ``valid`` entries (files kmscli wrote, with the
secrets a reader needs and what it must find) and ``invalid`` entries labelled by what is wrong:
``tampered``, ``truncated``, ``other-vault`` (an authentic file of another vault), ``wrong-version``.

``tests/vectors/check.py`` reads them back without kmscli's code, from docs/format.md and
docs/audit.md alone; ``tests/unit/test_format_vectors.py`` runs it and kmscli's own readers over
every vector and checks that this generator still writes exactly the committed files.

Formats covered: the vault header, authenticated files (key files, aliases), the audit chain,
session files, backups and bundles. The ciphertext blob has its own vectors (tools/gen_vectors.py).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import os
import random
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kmscli.audit.log import AuditLog, segments
from kmscli.service.operations import materials
from kmscli.service.pipeline.core import Identity, ServiceContext, invoke
from kmscli.vault import archive, fs, sessions
from kmscli.vault.store import UnlockedVault, Vault, subkey

if TYPE_CHECKING:
    from kmscli.vault.records import KeyRecord

OUT = Path(__file__).resolve().parents[1] / "tests" / "vectors"
PASSPHRASE = "vector passphrase"
BUNDLE_PASSPHRASE = "vector bundle passphrase"
#: The documented test floor of the KDF (docs/format.md 1.1): cheap, for vectors and tests only.
KDF = {"memory_cost": 8, "iterations": 1, "lanes": 1}
START = dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.UTC)
CREATED = START.isoformat()
REGION = "us-east-1"
ACCOUNT = "111122223333"
PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:user/vectors"
PLAINTEXT = b"kmscli test vector plaintext"
CONTEXT = {"purpose": "vectors"}
SESSION_TTL = dt.timedelta(hours=1)
#: The smallest segment size kmscli allows: the vectors' log spans two segments.
AUDIT_SEGMENT_BYTES = 4096


class Clock:
    """A clock that starts at START and moves one second per reading."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


class Made:
    """Everything one generated vault yields."""

    def __init__(self, root: Path, seed: int) -> None:
        rnd = random.Random(seed)
        self.random = rnd.randbytes
        self.folder = root / f"vault-{seed}"
        self.vault: UnlockedVault = Vault.create(self.folder, PASSPHRASE.encode(), KDF, self.random, CREATED)
        self.vault_id = self.vault.header.raw["vault_id"]
        audit = AuditLog(
            fs.join(self.vault.path, "audit"),
            subkey(self.vault.vault_key, "audit-chain"),
            segment_bytes=AUDIT_SEGMENT_BYTES,
        )
        ctx = ServiceContext(self.vault, Identity(PRINCIPAL, ACCOUNT, REGION), audit, Clock(), self.random)
        meta = invoke(ctx, "CreateKey", {"Description": "test vector key"})["KeyMetadata"]
        self.key_id, self.arn = meta["KeyId"], meta["Arn"]
        invoke(ctx, "CreateAlias", {"AliasName": "alias/vectors", "TargetKeyId": self.key_id})
        self.ciphertext = invoke(
            ctx, "Encrypt", {"KeyId": self.key_id, "Plaintext": PLAINTEXT, "EncryptionContext": CONTEXT}
        )["CiphertextBlob"]
        for _ in range(2):  # enough events for a second audit segment
            invoke(ctx, "DescribeKey", {"KeyId": "alias/vectors"})
        self.key_rel = f"keys/{REGION}/{self.key_id}.json"
        record = self.vault.load_key(REGION, self.key_id)
        assert record is not None
        self.record = cast("KeyRecord", record)  # as Call.load does: a stored record is one
        self.session_now = START + dt.timedelta(minutes=5)
        os.environ["XDG_RUNTIME_DIR"] = str(root / f"run-{seed}")
        self.token, info = sessions.create(
            self.vault_id, self.vault.vault_key, SESSION_TTL, self.session_now, self.random
        )
        self.session_text = Path(info.path).read_text()
        self.session_name = Path(info.path).name

    def text(self, rel: str) -> str:
        return (self.folder / rel).read_text()

    def audit_segments(self) -> dict[str, str]:
        segs = segments(fs.join(self.vault.path, "audit"))
        assert len(segs) == 2, segs
        return {Path(seg).name: Path(seg).read_text() for seg in segs}

    def _with_key_file_format(self, files: dict[str, bytes], version: int) -> dict[str, bytes]:
        """``files`` with the key file's ``format`` member set to ``version`` (its MAC stays valid)."""
        if version != 1:
            doc = json.loads(files[self.key_rel])
            doc["format"] = version
            files[self.key_rel] = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode() + b"\n"
        return files

    def backup(self, key_file_format: int = 1) -> str:
        files = {
            rel: self.vault.folder.read(rel, limit=archive.MAX_ARCHIVE)
            for rel in archive.vault_files(self.vault)
        }
        files = self._with_key_file_format(files, key_file_format)
        return archive.seal(self.vault, "backup", CREATED, files, self.random).decode()

    def bundle(self, root: Path, key_file_format: int = 1) -> tuple[str, str]:
        """A bundle holding this vault's key and its alias; returns (archive text, bundle vault key hex)."""
        where = root / f"bundle-{self.vault_id}-{len(list(root.glob('bundle-*')))}.kmscli"
        bundle = archive.new_vault_header(where, BUNDLE_PASSPHRASE.encode(), KDF, self.random, CREATED)
        rec = materials.rewrapped(self.record, self.vault, bundle, self.random)
        alias_rel = f"aliases/{REGION}.json"
        files = {
            self.key_rel: bundle.authenticated_doc(self.key_rel, rec),
            alias_rel: bundle.authenticated_doc(alias_rel, self.vault.load_aliases(REGION)),
        }
        files = self._with_key_file_format(files, key_file_format)
        return archive.seal(bundle, "bundle", CREATED, files, self.random).decode(), bundle.vault_key.hex()


def _edit_json(text: str, change: Any, indent: int | None = None, compact: bool = True) -> str:
    """``text`` with ``change`` applied, written in the style of the file it came from."""
    doc = json.loads(text)
    change(doc)
    if indent is not None:
        return json.dumps(doc, indent=indent) + "\n"
    if compact:
        return json.dumps(doc, separators=(",", ":"), sort_keys=True) + "\n"
    return json.dumps(doc) + "\n"


def _set(path: list[str], value: Any) -> Any:
    def change(doc: Any) -> None:
        for name in path[:-1]:
            doc = doc[name]
        doc[path[-1]] = value

    return change


def _truncated(text: str) -> str:
    return text[: len(text) // 2]


def _material_hex(made: Made) -> dict[str, str]:
    out = {}
    for entry in made.record.get("Materials", []):
        mid = entry["KeyMaterialId"]
        out[mid] = made.vault.unwrap_material(made.arn, mid, entry["Wrapped"]).hex()
    return out


def header_vectors(a: Made, b: Made) -> dict[str, Any]:
    text = a.text("vault.json")
    other = json.loads(b.text("vault.json"))
    return {
        "valid": [{"file": text, "passphrase": PASSPHRASE, "vault_key_hex": a.vault.vault_key.hex()}],
        "invalid": [
            {
                "label": "tampered",
                "what": "kdf.iterations raised from 1 to 2 (the vault key no longer unwraps)",
                "file": _edit_json(text, _set(["kdf", "iterations"], 2), indent=2),
            },
            {
                "label": "tampered",
                "what": "created changed (the header MAC fails)",
                "file": _edit_json(text, _set(["created"], "2020-01-01T00:00:00+00:00"), indent=2),
            },
            {"label": "truncated", "what": "cut in half", "file": _truncated(text)},
            {
                "label": "other-vault",
                "what": "vault_key and mac taken from another vault's header",
                "file": _edit_json(
                    _edit_json(text, _set(["vault_key"], other["vault_key"]), indent=2),
                    _set(["mac"], other["mac"]),
                    indent=2,
                ),
            },
            {
                "label": "wrong-version",
                "what": "format 2",
                "file": _edit_json(text, _set(["format"], 2), indent=2),
            },
        ],
        "passphrase": PASSPHRASE,
    }


def authenticated_vectors(a: Made, b: Made) -> dict[str, Any]:
    key_text = a.text(a.key_rel)
    alias_rel = f"aliases/{REGION}.json"
    b_key_at_a = b.text(b.key_rel)
    return {
        "vault_key_hex": a.vault.vault_key.hex(),
        "valid": [
            {
                "rel": a.key_rel,
                "file": key_text,
                "key_arn": a.arn,
                "materials_hex": _material_hex(a),
                "ciphertext_blob_hex": a.ciphertext.hex(),
                "encryption_context": CONTEXT,
                "plaintext_hex": PLAINTEXT.hex(),
            },
            {"rel": alias_rel, "file": a.text(alias_rel)},
        ],
        "invalid": [
            {
                "label": "tampered",
                "what": "KeyState changed to Disabled",
                "rel": a.key_rel,
                "file": _edit_json(key_text, _set(["data", "KeyState"], "Disabled")),
            },
            {
                "label": "tampered",
                "what": "a key file moved to another name (its MAC binds its path)",
                "rel": f"keys/eu-west-1/{a.key_id}.json",
                "file": key_text,
            },
            {"label": "truncated", "what": "cut in half", "rel": a.key_rel, "file": _truncated(key_text)},
            {
                "label": "other-vault",
                "what": "another vault's authentic key file",
                "rel": b.key_rel,
                "file": b_key_at_a,
            },
            {
                "label": "wrong-version",
                "what": "format 2",
                "rel": a.key_rel,
                "file": _edit_json(key_text, _set(["format"], 2)),
            },
        ],
    }


def audit_vectors(a: Made, b: Made) -> dict[str, Any]:
    segs = a.audit_segments()
    first, second = sorted(segs)
    lines = segs[first].splitlines(keepends=True)
    assert len(lines) >= 3
    edited = json.loads(lines[1])
    edited["eventName"] = "DescribeKey"
    events = sum(len(text.splitlines()) for text in segs.values())

    def with_first(new_lines: list[str]) -> dict[str, str]:
        return {first: "".join(new_lines), second: segs[second]}

    return {
        "vault_key_hex": a.vault.vault_key.hex(),
        "valid": [{"segments": segs, "events": events}],
        "invalid": [
            {
                "label": "tampered",
                "what": "eventName of line 2 edited",
                "segments": with_first([lines[0], json.dumps(edited) + "\n", *lines[2:]]),
            },
            {
                "label": "tampered",
                "what": "lines 2 and 3 swapped",
                "segments": with_first([lines[0], lines[2], lines[1], *lines[3:]]),
            },
            {"label": "truncated", "what": "line 2 removed", "segments": with_first([lines[0], *lines[2:]])},
            {
                "label": "truncated",
                "what": "the last line cut short (a torn write)",
                "segments": {first: segs[first], second: segs[second][:-20]},
            },
            {"label": "truncated", "what": "the first segment deleted", "segments": {second: segs[second]}},
            {"label": "other-vault", "what": "another vault's log", "segments": b.audit_segments()},
        ],
    }


def session_vectors(a: Made, b: Made) -> dict[str, Any]:
    text = a.session_text
    return {
        "vault_id": a.vault_id,
        "token": a.token,
        "now": a.session_now.isoformat(),
        "valid": [{"name": a.session_name, "file": text, "vault_key_hex": a.vault.vault_key.hex()}],
        "invalid": [
            {
                "label": "tampered",
                "what": "expires moved a day later",
                "name": a.session_name,
                "file": _edit_json(
                    text,
                    _set(["expires"], (a.session_now + dt.timedelta(days=1)).isoformat(timespec="seconds")),
                    compact=False,
                ),
            },
            {"label": "truncated", "what": "cut in half", "name": a.session_name, "file": _truncated(text)},
            {
                "label": "other-vault",
                "what": "another vault's session file under this token's name",
                "name": a.session_name,
                "file": b.session_text,
            },
            {
                "label": "wrong-version",
                "what": "format 2",
                "name": a.session_name,
                "file": _edit_json(text, _set(["format"], 2), compact=False),
            },
        ],
    }


def archive_vectors(kind: str, a: Made, b: Made, root: Path) -> dict[str, Any]:
    if kind == "backup":
        text, other = a.backup(), b.backup()
        passphrase, vault_key = PASSPHRASE, a.vault.vault_key.hex()
        old_inside, old_inside_key = a.backup(key_file_format=2), vault_key
    else:
        (text, vault_key), (other, _) = a.bundle(root), b.bundle(root)
        old_inside, old_inside_key = a.bundle(root, key_file_format=2)
        passphrase = BUNDLE_PASSPHRASE
    doc = json.loads(text)
    ct = bytearray(base64.b64decode(doc["payload"]["ciphertext"]))
    ct[10] ^= 1
    flipped = copy.deepcopy(doc)
    flipped["payload"]["ciphertext"] = base64.b64encode(bytes(ct)).decode()
    foreign = copy.deepcopy(doc)
    foreign["payload"] = json.loads(other)["payload"]
    return {
        "passphrase": passphrase,
        "valid": [
            {
                "file": text,
                "vault_key_hex": vault_key,
                "files": sorted(
                    rel
                    for rel in (
                        list(archive.vault_files(a.vault))
                        if kind == "backup"
                        else [a.key_rel, f"aliases/{REGION}.json"]
                    )
                ),
                "key_arn": a.arn,
                "materials_hex": _material_hex(a),
            }
        ],
        "invalid": [
            {
                "label": "tampered",
                "what": "one ciphertext bit flipped",
                "file": json.dumps(flipped, indent=1) + "\n",
            },
            {
                "label": "tampered",
                "what": "kind changed (it is associated data)",
                "file": json.dumps({**doc, "kind": "bundle" if kind == "backup" else "backup"}, indent=1)
                + "\n",
            },
            {"label": "truncated", "what": "cut in half", "file": _truncated(text)},
            {
                "label": "other-vault",
                "what": "payload of another vault's archive",
                "file": json.dumps(foreign, indent=1) + "\n",
            },
            {
                "label": "wrong-version",
                "what": "version 2",
                "file": json.dumps({**doc, "version": 2}, indent=1) + "\n",
            },
            {
                "label": "wrong-version",
                "what": "the key file inside says format 2",
                "file": old_inside,
                "vault_key_hex": old_inside_key,
            },
        ],
    }


SPECS = {
    "header": ("the vault header, vault.json (format 1)", "docs/format.md, section 1.1"),
    "authenticated": (
        "authenticated vault files: key files and alias indexes (format 1)",
        "docs/format.md, sections 1.2 and 1.3",
    ),
    "audit": ("the audit log's chain", "docs/audit.md, 'Chain construction'"),
    "session": ("session files (format 1)", "docs/format.md, section 3"),
    "backup": ("backups (kmscli-archive version 1, kind backup)", "docs/format.md, section 4"),
    "bundle": ("key bundles (kmscli-archive version 1, kind bundle)", "docs/format.md, section 4"),
}


def generate() -> dict[str, dict[str, Any]]:
    """Every vector file's content, by name."""
    saved = os.environ.get("XDG_RUNTIME_DIR")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            a, b = Made(root, 1), Made(root, 2)
            bodies = {
                "header": header_vectors(a, b),
                "authenticated": authenticated_vectors(a, b),
                "audit": audit_vectors(a, b),
                "session": session_vectors(a, b),
                "backup": archive_vectors("backup", a, b, root),
                "bundle": archive_vectors("bundle", a, b, root),
            }
    finally:
        if saved is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = saved
    return {
        name: {
            "format": SPECS[name][0],
            "spec": SPECS[name][1],
            "generator": "tools/gen_format_vectors.py (make vectors)",
            "kdf": KDF,
            **body,
        }
        for name, body in bodies.items()
    }


def render(doc: dict[str, Any]) -> str:
    """A vector file's text (stable: the test compares it byte for byte)."""
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    """Write every vector file."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name, doc in generate().items():
        (OUT / f"{name}.json").write_text(render(doc))
        print(f"wrote {OUT / f'{name}.json'}")


if __name__ == "__main__":
    main()
