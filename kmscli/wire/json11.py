"""AWS JSON 1.1 bodies for KMS, as botocore's ``json`` protocol writes and reads them.

Both directions are driven by the model (:mod:`kmscli.model`), so a server and a client share one
encoding: ``blob`` members are standard base64 text, ``timestamp`` members are epoch seconds (a JSON
number, to the millisecond as AWS KMS sends them), everything else is plain JSON. Errors are ``{"__type": CODE, "message": TEXT}``.

* :func:`decode_request` / :func:`encode_response` are the server's half;
* :func:`encode_request` / :func:`decode_response` are a client's half;
* :func:`error_body` and :func:`parse_error` handle the error document.

Bodies are read with :func:`kmscli.jsonstrict.loads`, as everything kmscli authenticates: a member
named twice, or nesting too deep for the parser, is a :class:`SerializationError`, never a guess.

Decoding is where JSON types meet the model, as in AWS's JSON services: a value of the wrong JSON
type is a :class:`SerializationError` in AWS's words (``NUMBER_VALUE can not be converted to a
String``), before any constraint is checked; constraints (length, range, enum, pattern, required)
stay with request validation (:mod:`kmscli.service.pipeline.validate`), which answers
``ValidationException``. A member the model does not name is dropped here, at every depth, so a
newer SDK's new members are ignored as AWS ignores them and never reach the service. An explicit
``null`` is taken as absent, in a structure and in a list.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from typing import Any

from kmscli import errors, jsonstrict
from kmscli.clock import to_millis
from kmscli.model import operation, shape

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "TrentService."
#: KMS errors botocore's model marks ``"fault": true`` (server-side): HTTP 500; every other is 400.
SERVER_FAULTS = frozenset({"KMSInternalException", "KeyUnavailableException", "DependencyTimeoutException"})


def error_status(code: str) -> int:
    """The HTTP status AWS KMS answers an error with."""
    return 500 if code in SERVER_FAULTS else 400


class SerializationError(ValueError):
    """A body that is not a JSON object, a member of the wrong JSON type, or a blob that is not
    base64 (AWS: SerializationException)."""


_LIST_FOUND = "Start of list found where not expected"
_OBJECT_FOUND = "Start of structure or map found where not expected."


def _mismatch(kind: str, value: Any) -> SerializationError:
    """``value`` (JSON) where the model wants ``kind``: AWS's SerializationException message."""
    if isinstance(value, list) and kind != "list":
        return SerializationError(_LIST_FOUND)
    if isinstance(value, dict) and kind not in ("map", "structure"):
        return SerializationError(_OBJECT_FOUND)
    if kind == "list":
        return SerializationError("Expected list or null")
    if kind == "map":
        return SerializationError("Expected map or null")
    if kind == "structure":
        return SerializationError("Expected null")
    return SerializationError(errors.not_convertible(value, kind))


def _from_wire(shape_name: str, value: Any, where: str) -> Any:
    """``value`` (parsed JSON) as the model's ``shape_name``: typed, unknown members dropped."""
    sh = shape(shape_name)
    kind = sh["type"]
    if kind == "string":
        if not isinstance(value, str):
            raise _mismatch(kind, value)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _mismatch(kind, value)
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch(kind, value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise _mismatch(kind, value)
            return int(value)  # AWS truncates a fraction; range checks are validation's
        return value
    if kind == "blob":
        if not isinstance(value, str):
            raise _mismatch(kind, value)
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise SerializationError(f"'{where}' is not valid base64") from None
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch(kind, value)
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise SerializationError(f"'{where}' is not a valid timestamp") from None
    if kind == "structure":
        if not isinstance(value, dict):
            raise _mismatch(kind, value)
        members = sh.get("members", {})
        return {
            name: _from_wire(members[name]["shape"], item, _path(where, name))
            for name, item in value.items()
            if name in members and item is not None  # unknown members and nulls: absent, as in AWS
        }
    if kind == "list":
        if not isinstance(value, list):
            raise _mismatch(kind, value)
        # KMS's lists are dense too ("RestJsonBodyMalformedListNullItem": 400 SerializationException):
        # a null member is refused, not dropped, as botocore refuses to send one (the CLI's 252)
        for i, item in enumerate(value):
            if item is None:
                raise SerializationError(f"'{where}[{i}]' is null: a list member cannot be null")
        return [_from_wire(sh["member"], item, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _mismatch(kind, value)
        # KMS's maps are dense: a null value is a malformed request (Smithy's server protocol tests,
        # "RestJsonBodyMalformedMapNullValue": 400 SerializationException), never dropped, since
        # dropping it would change, say, an encryption context the caller meant
        for k, v in value.items():
            if v is None:
                raise SerializationError(f"'{_path(where, k)}' is null: a map value cannot be null")
        return {k: _from_wire(sh["value"], v, _path(where, k)) for k, v in value.items()}
    raise SerializationError(f"'{where}' has a type kmscli cannot read")  # pragma: no cover - model types


def _path(where: str, name: str) -> str:
    """Where a member sits in the request, for messages: ``Recipient.AttestationDocument``. A map
    key is the caller's text, and may hold a lone surrogate, shown as its escape (an answer with
    one could not be encoded: a 500)."""
    name = errors.printable(name)
    return f"{where}.{name}" if where else name


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _to_wire(value: Any) -> Any:
    """Python values as JSON 1.1: blobs as base64, timestamps as epoch seconds to the millisecond."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        millis = (to_millis(value) - _EPOCH) // dt.timedelta(milliseconds=1)
        return millis // 1000 if millis % 1000 == 0 else millis / 1000
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_wire(v) for v in value]
    return value


def _load_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}  # botocore sends "{}" for an empty request; an empty body means the same
    try:
        doc = jsonstrict.loads(body)  # a repeated member or JSON nested too deeply: a ValueError
    except jsonstrict.DuplicateMemberError as exc:
        raise SerializationError(f"the request body is ambiguous: {exc}") from None
    except (ValueError, UnicodeDecodeError):
        raise SerializationError("the request body is not valid JSON") from None
    if isinstance(doc, list):
        raise SerializationError(_LIST_FOUND)
    if not isinstance(doc, dict):
        raise SerializationError("the request body is not a JSON object")
    return doc


def decode_request(op_name: str, body: bytes) -> dict[str, Any]:
    """The request dict ``service.invoke`` takes, from an operation's JSON 1.1 request body."""
    doc = _load_object(body)
    decoded: dict[str, Any] = _from_wire(operation(op_name)["input"], doc, "")
    return decoded


def encode_response(response: dict[str, Any] | None) -> bytes:
    """The JSON 1.1 body of a successful response (``{}`` for operations without output)."""
    return json.dumps(_to_wire(response or {}), separators=(",", ":")).encode()


def encode_request(request: dict[str, Any]) -> bytes:
    """A request body as botocore would send it."""
    return json.dumps(_to_wire(request), separators=(",", ":")).encode()


def decode_response(op_name: str, body: bytes) -> dict[str, Any]:
    """A successful response body as Python values (bytes, aware datetimes)."""
    output = operation(op_name)["output"]
    doc = _load_object(body)
    if output is None:
        return {}
    decoded: dict[str, Any] = _from_wire(output, doc, "")
    return decoded


def error_body(code: str, message: str) -> bytes:
    """An AWS JSON error document."""
    return json.dumps({"__type": code, "message": message}, ensure_ascii=False).encode()


def parse_error(body: bytes) -> tuple[str, str]:
    """(code, message) of an error document; ``com.amazon.coral...#Code`` prefixes are dropped."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "UnknownError", body[:200].decode("utf-8", "replace")
    if not isinstance(doc, dict):
        return "UnknownError", str(doc)[:200]
    code = str(doc.get("__type", "UnknownError")).rsplit("#", 1)[-1]
    message = doc.get("message", doc.get("Message", ""))
    return code, str(message)
