"""Building CloudTrail-shaped events (the schema is docs/audit.md)."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from kmscli import __version__
from kmscli.audit.query import valid_text
from kmscli.crypto import primitives
from kmscli.model import shape

EVENT_VERSION = "1.08"


def event_time(when: dt.datetime) -> str:
    """CloudTrail's eventTime format: UTC, whole seconds, ``Z``."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_identity(principal: str, account_id: str) -> dict[str, Any]:
    """CloudTrail ``userIdentity`` for a principal ARN: its ``accountId`` (and a root's principal id)
    is the account in the ARN, the caller's own, which ``account_id`` (the vault's) is only when the
    principal is not another account's."""
    from kmscli.policy.principals import account_of

    account_id = account_of(principal) or account_id
    resource = principal.split(":", 5)[5] if principal.count(":") >= 5 else principal
    if resource == "root":
        kind, pid = "Root", account_id
    elif resource.startswith("assumed-role/"):
        kind = "AssumedRole"
        pid = "AROA" + _digest(principal) + ":" + resource.rsplit("/", 1)[-1]
    elif resource.startswith("role/"):
        kind, pid = "AssumedRole", "AROA" + _digest(principal)
    elif resource.startswith("user/"):
        kind, pid = "IAMUser", "AIDA" + _digest(principal)
    else:
        kind, pid = "Unknown", _digest(principal)
    ident: dict[str, Any] = {"type": kind, "principalId": pid, "arn": principal, "accountId": account_id}
    if kind == "IAMUser":
        ident["userName"] = resource.rsplit("/", 1)[-1]
    return ident


def _digest(text: str) -> str:
    return base64.b32encode(primitives.sha256(text.encode())).decode()[:17]


def _camel(name: str) -> str:
    if name.startswith("AWS"):
        return "aWS" + name[3:]
    return name[:1].lower() + name[1:]


def sanitize(shape_name: str | None, value: Any) -> Any:
    """A value made fit for the log: blobs and sensitive members removed, names in lowerCamel."""
    if shape_name is None:
        return None
    sh = shape(shape_name)
    if sh.get("sensitive") or sh["type"] == "blob":
        return None
    kind = sh["type"]
    if kind == "structure" and isinstance(value, dict):
        out = {}
        for name, item in value.items():
            member = sh["members"].get(name)
            clean = sanitize(member["shape"], item) if member else None
            if clean is not None:
                out[_camel(name)] = clean
        return out
    if kind == "list" and isinstance(value, list):
        return [sanitize(sh["member"], v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {valid_text(str(k)): sanitize(sh["value"], v) for k, v in value.items()}
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, str):
        return valid_text(value)
    return value


def build(
    *,
    name: str,
    when: dt.datetime,
    principal: str,
    account_id: str,
    region: str,
    request: dict[str, Any] | None,
    response: dict[str, Any] | None,
    resources: list[str],
    read_only: bool,
    request_id: str,
    event_id: str,
    error: tuple[str, str] | None = None,
    source: str = "kms.amazonaws.com",
    event_type: str = "AwsApiCall",
    extra: dict[str, Any] | None = None,
    caller: Any = None,
) -> dict[str, Any]:
    """One CloudTrail record. ``request``/``response`` must already be sanitized.

    ``caller`` (a ``kmscli.service.pipeline.core.Identity``) supplies what a network caller adds:
    ``userIdentity.accessKeyId``, ``sourceIPAddress`` and ``userAgent``; the CLI's are the defaults.
    """
    identity = user_identity(principal, account_id)
    if caller is not None and caller.access_key_id:
        identity["accessKeyId"] = caller.access_key_id
    event: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": event_time(when),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": (caller is not None and caller.source_ip) or "127.0.0.1",
        "userAgent": (caller is not None and caller.user_agent) or f"kmscli/{__version__}",
    }
    if error is not None:
        event["errorCode"], event["errorMessage"] = error
    event["requestParameters"] = request or None
    event["responseElements"] = response or None
    if extra:
        event["additionalEventData"] = extra
    event.update(
        {
            "requestID": request_id,
            "eventID": event_id,
            "readOnly": read_only,
            "resources": [
                {"accountId": account_id, "type": "AWS::KMS::Key", "ARN": arn} for arn in resources
            ],
            "eventType": event_type,
            "managementEvent": True,
            "recipientAccountId": account_id,
            "eventCategory": "Management",
        }
    )
    return event
