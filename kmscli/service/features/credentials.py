"""``kmscli credentials``: the access keys callers of ``kmscli serve`` sign their requests with.

Each access key belongs to a principal ARN; a request signed with it runs as that principal, so key
policies and grants decide what it may do. The secret is shown once at creation and stored wrapped
under the vault key (``VAULT/credentials.json``, docs/format.md). Every change is audited.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any, NamedTuple

from kmscli.errors import KMSError, UsageError, os_error_text
from kmscli.invocation import Sources
from kmscli.service.features.session import audit_event
from kmscli.service.pipeline.core import VaultIOError
from kmscli.settings import Settings
from kmscli.vault import fs
from kmscli.vault.store import UnlockedVault

#: AWS's access key id alphabet and shape: "AKIA" and 16 base32 characters.
ACCESS_KEY_PREFIX = "AKIA"
MAX_DESCRIPTION = 256


class Credential(NamedTuple):
    """An access key as the server needs it."""

    access_key_id: str
    principal: str
    secret: bytes


def _new_ids(random: Callable[[int], bytes]) -> tuple[str, str]:
    key_id = ACCESS_KEY_PREFIX + base64.b32encode(random(10)).decode("ascii")
    secret = base64.b64encode(random(30)).decode("ascii")  # 40 characters, as AWS's
    return key_id, secret


def _check_principal(principal: str) -> None:
    from kmscli.policy.document import IAM_PRINCIPAL_RE

    if not IAM_PRINCIPAL_RE.match(principal):
        raise UsageError(
            f"argument --principal: {principal!r} is not an IAM principal ARN "
            "(e.g. arn:aws:iam::111122223333:role/ci or arn:aws:iam::111122223333:user/alice)"
        )


def _public(key_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "AccessKeyId": key_id,
        "Principal": entry["Principal"],
        "Description": entry.get("Description", ""),
        "CreateDate": dt.datetime.fromisoformat(entry["CreateDate"]),
        "Status": entry.get("Status", "Active"),
    }


def create(
    vault: UnlockedVault,
    settings: Settings,
    sources: Sources,
    principal: str,
    description: str,
    random: Callable[[int], bytes],
    now: dt.datetime,
) -> dict[str, Any]:
    """Make an access key for ``principal``; the result holds the secret (shown once)."""
    _check_principal(principal)
    if len(description) > MAX_DESCRIPTION:
        raise UsageError(f"argument --description: at most {MAX_DESCRIPTION} characters")
    key_id, secret = _new_ids(random)
    entry = {
        "Principal": principal,
        "Description": description,
        "CreateDate": now.astimezone(dt.UTC).isoformat(),
        "Status": "Active",
        "Secret": vault.wrap_secret(key_id, secret.encode("ascii"), random(12)),
    }
    with vault.lock(exclusive=True):
        creds = vault.load_credentials()
        creds[key_id] = entry
        # audited before it is written: a key that exists was recorded (fail closed)
        audit_event(
            vault, settings, sources, "CreateAccessKey", {"accessKeyId": key_id, "principal": principal}
        )
        vault.save_credentials(creds)
    return {**_public(key_id, entry), "SecretAccessKey": secret}


def list_all(vault: UnlockedVault) -> dict[str, Any]:
    """Every access key without its secret, oldest first."""
    with vault.lock(exclusive=False):
        creds = vault.load_credentials()
    keys = sorted(
        (_public(k, v) for k, v in creds.items()), key=lambda e: (e["CreateDate"], e["AccessKeyId"])
    )
    return {"AccessKeys": keys}


def delete(vault: UnlockedVault, settings: Settings, sources: Sources, access_key_id: str) -> None:
    """Remove an access key: requests signed with it fail from the next one on."""
    with vault.lock(exclusive=True):
        creds = vault.load_credentials()
        entry = creds.pop(access_key_id, None)
        if entry is None:
            raise KMSError(f"The Access Key with id {access_key_id} cannot be found.", code="NoSuchEntity")
        audit_event(
            vault,
            settings,
            sources,
            "DeleteAccessKey",
            {"accessKeyId": access_key_id, "principal": entry["Principal"]},
        )
        vault.save_credentials(creds)


def lookup(vault: UnlockedVault, access_key_id: str) -> Credential | None:
    """The active access key ``access_key_id`` with its secret, or None (the server's check)."""
    with vault.lock(exclusive=False):
        entry = vault.load_credentials().get(access_key_id)
    if entry is None or entry.get("Status", "Active") != "Active":
        return None
    return Credential(access_key_id, entry["Principal"], vault.unwrap_secret(access_key_id, entry["Secret"]))


class CredentialCache:
    """The server's view of the access keys: re-read only when the credentials file changed.

    A `credentials create` or `delete` from the CLI replaces the file, which changes its stamp, so
    the next request sees the change; between changes a request costs one ``stat``. The cache is
    one snapshot object swapped whole, so concurrent requests never mix two versions of the file.
    """

    def __init__(self, vault: UnlockedVault) -> None:
        self.vault = vault
        self._snapshot: tuple[fs.Stamp | None, dict[str, dict[str, Any]], dict[str, Credential]] | None
        self._snapshot = None

    def lookup(self, access_key_id: str) -> Credential | None:
        """Like :func:`lookup`, from the cache while the file is unchanged."""
        stamp = self.vault.credentials_stamp()
        snapshot = self._snapshot
        if snapshot is None or snapshot[0] != stamp:
            try:
                with self.vault.lock(exclusive=False):
                    entries = self.vault.load_credentials()
            except OSError as exc:  # out of descriptors, say: the server's log names it (not a fault)
                raise VaultIOError(
                    f"cannot read the access keys in {self.vault.path} ({os_error_text(exc)})"
                ) from None
            snapshot = self._snapshot = (stamp, entries, {})
        _, entries, secrets = snapshot
        found = secrets.get(access_key_id)
        if found is None:
            entry = entries.get(access_key_id)
            if entry is None or entry.get("Status", "Active") != "Active":
                return None
            secret = self.vault.unwrap_secret(access_key_id, entry["Secret"])
            found = secrets[access_key_id] = Credential(access_key_id, entry["Principal"], secret)
        return found
