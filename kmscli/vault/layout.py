"""The one place that names a vault's files and folders (and the session runtime folder's).

Every reader and writer (store, archive, portability, audit operations, sessions, completion) builds
names from here, as paths relative to the vault folder (docs/format.md, "Layout")::

    vault.json              header: format, KDF parameters and salt, wrapped vault key, MAC
    .lock                   flock target: shared for reads, exclusive for writes
    keys/REGION/KEYID.json  one key: metadata, policy, grants, tags, wrapped material
    aliases/REGION.json     alias name -> key id for one region
    schedule.json           due work: pending deletions and rotations (small index)
    credentials.json        access keys of `kmscli serve`: principal, wrapped secret (MAC'd)
    state.json              vault state: generation, last commit, current MACs (kmscli.vault.state)
    manifest/XY.json        the key files' current MACs, in 256 buckets by key id
    audit/                  the chained audit log (kmscli.audit; its own .lock inside)

Session files live in ``RUNTIME/sessions/VAULT_ID/SESSION_ID.json`` (:func:`session_folder`,
:func:`session_name`).
Relative names use ``/`` and are what file MACs bind: they must not change.
"""

from __future__ import annotations

import re

HEADER = "vault.json"
LOCK = ".lock"
KEYS = "keys"
ALIASES = "aliases"
SCHEDULE = "schedule.json"
CREDENTIALS = "credentials.json"
AUDIT = "audit"
#: The vault state and its manifest buckets (kmscli.vault.state; docs/format.md section 1.5).
STATE = "state.json"
MANIFEST = "manifest"
#: Folders a new (or restored) vault starts with.
FOLDERS = (KEYS, ALIASES, AUDIT)
#: Folders whose files are written by replacement (their crash leftovers are swept; audit/ only appends).
REPLACED_FOLDERS = ("", ALIASES, MANIFEST)

SESSIONS = "sessions"

#: ``keys/REGION/KEYID.json`` as it appears in a backup (region and key id captured, not yet validated).
KEY_FILE_RE = re.compile(r"^keys/([a-z0-9-]+)/([0-9a-z-]+)\.json\Z")


def key_folder(region: str) -> str:
    """``keys/REGION``."""
    return f"{KEYS}/{region}"


def key_file(region: str, key_id: str) -> str:
    """``keys/REGION/KEYID.json``."""
    return f"{KEYS}/{region}/{key_id}.json"


def alias_file(region: str) -> str:
    """``aliases/REGION.json``."""
    return f"{ALIASES}/{region}.json"


def json_stem(name: str) -> str | None:
    """``NAME`` for a visible ``NAME.json`` entry, else None (hidden and temp files are skipped)."""
    if name.endswith(".json") and not name.startswith("."):
        return name[:-5]
    return None


def session_folder(vault_id: str) -> str:
    """``sessions/VAULT_ID`` below the runtime folder."""
    return f"{SESSIONS}/{vault_id}"


def session_name(session_id: str) -> str:
    """``SESSION_ID.json``: a session's file in its vault's :func:`session_folder`."""
    return f"{session_id}.json"
