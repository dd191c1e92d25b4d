"""An independent reader of kmscli's file formats, written from docs/format.md and docs/audit.md.

It imports nothing of kmscli: every key is derived, every MAC recomputed and every wrapped secret
unwrapped with ``cryptography``'s primitives directly, as the documents describe them. If kmscli and
this reader disagree about a vector, the format, its document or one of the two readers is wrong.

``python tests/vectors/check.py`` checks every vector file next to it and prints one line per vector.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import struct
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = Path(__file__).resolve().parent


class Invalid(Exception):
    """The input is not a valid file of the format (the message says why)."""


# -- primitives, as docs/format.md names them ------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (not ASCII-escaped)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hkdf(secret: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    h = hmac.HMAC(key, hashes.SHA256())
    h.update(data)
    return h.finalize()


def sha256(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


def subkey(vault_key: bytes, purpose: str) -> bytes:
    return hkdf(vault_key, b"kmscli/v1/" + purpose.encode())


def b64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise Invalid("expected base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise Invalid("bad base64") from None


def gcm_open(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes, what: str) -> bytes:
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise Invalid(f"{what} does not decrypt (wrong key, or edited)") from None


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise Invalid("not JSON (truncated or damaged)") from None


def mac_matches(key: bytes, data: bytes, expected_hex: Any) -> None:
    if not isinstance(expected_hex, str) or hmac_sha256(key, data).hex() != expected_hex:
        raise Invalid("MAC mismatch")


# -- 1.1 the vault header --------------------------------------------------------------------------

KDF_BOUNDS = {"memory_cost": (8, 4194304), "iterations": (1, 16), "lanes": (1, 64)}


def open_header(header: Any, passphrase: bytes) -> bytes:
    """The vault key of a header (already parsed), after checking its version, bounds and MAC."""
    if not isinstance(header, dict) or header.get("format") != 1:
        raise Invalid(
            f"header format {header.get('format') if isinstance(header, dict) else None!r} is not 1"
        )
    kdf = header["kdf"]
    if kdf.get("name") != "argon2id":
        raise Invalid("unknown KDF")
    for name, (lo, hi) in KDF_BOUNDS.items():
        if not isinstance(kdf.get(name), int) or not lo <= kdf[name] <= hi:
            raise Invalid(f"KDF parameter {name} out of bounds")
    root = Argon2id(
        salt=b64(kdf["salt"]),
        length=32,
        iterations=kdf["iterations"],
        lanes=kdf["lanes"],
        memory_cost=kdf["memory_cost"],
    ).derive(passphrase)
    aad = b"kmscli-vault-key\0" + canonical_json(
        {"format": header["format"], "vault_id": header["vault_id"], "kdf": kdf}
    )
    wrapped = header["vault_key"]
    vault_key = gcm_open(root, b64(wrapped["nonce"]), b64(wrapped["ciphertext"]), aad, "the vault key")
    body = {k: v for k, v in header.items() if k != "mac"}
    mac_matches(subkey(vault_key, "file-mac"), b"header\0" + canonical_json(body), header.get("mac"))
    return vault_key


# -- 1.2 authenticated files, 1.3 key material -----------------------------------------------------


def read_authenticated(text: str, rel: str, vault_key: bytes) -> Any:
    """The ``data`` of an authenticated file stored at ``rel`` in the vault folder."""
    doc = parse_json(text)
    if not isinstance(doc, dict) or doc.get("format") != 1:
        raise Invalid("authenticated file format is not 1")
    if "data" not in doc:
        raise Invalid("no data member")
    body = b"file\0" + rel.encode() + b"\0" + canonical_json(doc["data"])
    mac_matches(subkey(vault_key, "file-mac"), body, doc.get("mac"))
    return doc["data"]


def unwrap_material(vault_key: bytes, arn: str, material_id: str, wrapped: str) -> bytes:
    raw = b64(wrapped)
    aad = b"kmscli-material\0" + arn.encode() + b"\0" + material_id.encode()
    return gcm_open(subkey(vault_key, "material-wrap"), raw[:12], raw[12:], aad, "key material")


# -- 2. the ciphertext blob ------------------------------------------------------------------------


KEY_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}")


def encode_context(context: dict[str, str]) -> bytes:
    pairs = sorted((k.encode(), v.encode()) for k, v in context.items())
    out = struct.pack(">H", len(pairs))
    for k, v in pairs:
        out += struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v
    return out


def open_blob(blob: bytes, materials: dict[str, bytes], context: dict[str, str]) -> tuple[str, bytes]:
    """(key id, plaintext) of a version 1 blob whose material is among ``materials`` (id hex -> raw)."""
    if len(blob) < 3 or blob[0] != 0x4B or blob[1] != 0x01 or not 1 <= blob[2] <= 64:
        raise Invalid("blob header")
    n = blob[2]
    header_len = 63 + n
    if len(blob) < header_len + 16:
        raise Invalid("blob too short")
    header = blob[:header_len]
    key_id = header[3 : 3 + n].decode("latin-1")
    if not KEY_ID_RE.fullmatch(key_id):
        raise Invalid("blob key id")
    mid, salt, nonce = header[3 + n : 35 + n], header[35 + n : 51 + n], header[51 + n : 63 + n]
    material = materials.get(mid.hex())
    if material is None:
        raise Invalid("unknown material version")
    key = hkdf(material, b"kmscli blob v1" + header, salt=salt)
    return key_id, gcm_open(key, nonce, blob[header_len:], header + encode_context(context), "the blob")


# -- the audit chain (docs/audit.md) ---------------------------------------------------------------


SEGMENT_RE = re.compile(r"^audit-(\d{6})\.jsonl$")


def verify_audit(segments: dict[str, str], vault_key: bytes) -> int:
    """How many events a log holds, or Invalid naming the first line that fails.

    ``segments`` maps file names (``audit-000001.jsonl``, ...) to their text; the chain and the
    sequence numbers run on from one segment to the next.
    """
    key = subkey(vault_key, "audit-chain")
    previous = hmac_sha256(key, b"kmscli audit genesis")
    names = sorted(segments)
    if not all(SEGMENT_RE.match(name) for name in names):
        raise Invalid("not an audit segment name")
    number = 0
    for name in names:
        lines = segments[name].split("\n")
        if lines[-1] != "":
            raise Invalid(f"{name} line {len(lines)}: torn (no final newline)")
        for index, line in enumerate(lines[:-1], 1):
            number += 1
            try:
                event = json.loads(line)
            except ValueError:
                raise Invalid(f"{name} line {index}: not JSON") from None
            body = {k: v for k, v in event.items() if k != "chain"}
            value = hmac_sha256(key, previous + canonical_json(body))
            if event.get("chain") != value.hex() or event.get("sequence") != number:
                raise Invalid(f"{name} line {index}: chain broken")
            previous = value
    return number


# -- 3. session files ------------------------------------------------------------------------------

TOKEN_RE = re.compile(r"^kms1_[A-Za-z0-9_-]{43}$")


def open_session(text: str, name: str, vault_id: str, token: str, now: dt.datetime) -> bytes:
    """The vault key a session file holds for ``token``."""
    if not TOKEN_RE.match(token):
        raise Invalid("not a session token")
    secret = base64.urlsafe_b64decode(token[5:] + "=")
    sid = sha256(b"kmscli-session-id\0" + secret).hex()[:32]
    if name != f"{sid}.json":
        raise Invalid("the file is not this token's")
    doc = parse_json(text)
    if not isinstance(doc, dict) or doc.get("format") != 1:
        raise Invalid("session format is not 1")
    if doc.get("vault_id") != vault_id or doc.get("session") != sid:
        raise Invalid("the file names another vault or session")
    aad = b"kmscli-session\0" + canonical_json(
        {"format": 1, "vault_id": vault_id, "session": sid, "expires": doc["expires"]}
    )
    key = hkdf(secret, b"kmscli/v1/session-wrap")
    vault_key = gcm_open(key, b64(doc["nonce"]), b64(doc["ciphertext"]), aad, "the session")
    if dt.datetime.fromisoformat(doc["expires"]) <= now:
        raise Invalid("expired")
    return vault_key


# -- 4. backups and bundles ------------------------------------------------------------------------


def open_archive(text: str, passphrase: bytes) -> tuple[bytes, str, dict[str, bytes]]:
    """(vault key, kind, files) of an archive; every key and alias file inside is authenticated."""
    doc = parse_json(text)
    if not isinstance(doc, dict) or doc.get("format") != "kmscli-archive":
        raise Invalid("not a kmscli archive")
    if doc.get("version") != 1:
        raise Invalid(f"archive version {doc.get('version')!r} is not 1")
    kind = doc.get("kind")
    if kind not in ("backup", "bundle"):
        raise Invalid("unknown kind")
    header = doc["header"]
    vault_key = open_header(header, passphrase)
    aad = b"kmscli-archive\0" + canonical_json(
        {"version": 1, "kind": kind, "vault_id": header["vault_id"], "created": doc["created"]}
    )
    payload = doc["payload"]
    body = gcm_open(
        subkey(vault_key, "archive"), b64(payload["nonce"]), b64(payload["ciphertext"]), aad, "the payload"
    )
    files = {rel: b64(data) for rel, data in json.loads(body)["files"].items()}
    for rel, data in files.items():
        if rel.startswith(("keys/", "aliases/")) or rel == "schedule.json":
            read_authenticated(data.decode(), rel, vault_key)
    return vault_key, kind, files


# -- the vector files ------------------------------------------------------------------------------


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text())
    return doc


def check_valid(name: str, vector: dict[str, Any], doc: dict[str, Any]) -> None:
    """Raise AssertionError (or Invalid) unless ``vector`` reads as the vector file says."""
    if name == "header":
        assert (
            open_header(parse_json(vector["file"]), doc["passphrase"].encode()).hex()
            == vector["vault_key_hex"]
        )
    elif name == "authenticated":
        vault_key = bytes.fromhex(doc["vault_key_hex"])
        data = read_authenticated(vector["file"], vector["rel"], vault_key)
        if "materials_hex" in vector:
            found = {
                m["KeyMaterialId"]: unwrap_material(
                    vault_key, vector["key_arn"], m["KeyMaterialId"], m["Wrapped"]
                )
                for m in data["Materials"]
            }
            assert {k: v.hex() for k, v in found.items()} == vector["materials_hex"]
            key_id, plaintext = open_blob(
                bytes.fromhex(vector["ciphertext_blob_hex"]), found, vector["encryption_context"]
            )
            assert key_id == data["KeyId"] and plaintext.hex() == vector["plaintext_hex"]
    elif name == "audit":
        assert verify_audit(vector["segments"], bytes.fromhex(doc["vault_key_hex"])) == vector["events"]
    elif name == "session":
        now = dt.datetime.fromisoformat(doc["now"])
        key = open_session(vector["file"], vector["name"], doc["vault_id"], doc["token"], now)
        assert key.hex() == vector["vault_key_hex"]
    elif name in ("backup", "bundle"):
        vault_key, kind, files = open_archive(vector["file"], doc["passphrase"].encode())
        assert (vault_key.hex(), kind, sorted(files)) == (vector["vault_key_hex"], name, vector["files"])
        key_rel = next(rel for rel in files if rel.startswith("keys/"))
        record = read_authenticated(files[key_rel].decode(), key_rel, vault_key)
        got = {
            m["KeyMaterialId"]: unwrap_material(
                vault_key, vector["key_arn"], m["KeyMaterialId"], m["Wrapped"]
            ).hex()
            for m in record["Materials"]
        }
        assert got == vector["materials_hex"]
    else:
        raise AssertionError(f"unknown vector file {name}")


def check_invalid(name: str, vector: dict[str, Any], doc: dict[str, Any]) -> str:
    """The reason ``vector`` is refused; AssertionError if it is accepted."""
    try:
        check_valid(name, {**doc["valid"][0], **vector}, doc)
    except Invalid as exc:
        return str(exc)
    raise AssertionError(f"{name}: accepted an invalid vector ({vector['label']}: {vector['what']})")


NAMES = ("header", "authenticated", "audit", "session", "backup", "bundle")


def main() -> int:
    for name in NAMES:
        doc = load(name)
        for vector in doc["valid"]:
            check_valid(name, vector, doc)
            print(f"ok     {name}: valid")
        for vector in doc["invalid"]:
            print(
                f"ok     {name}: {vector['label']} ({vector['what']}) refused: {check_invalid(name, vector, doc)}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
