"""Verifying AWS Signature Version 4 on a request as it was received (docs/serve.md, "Authentication").

The canonical request, string to sign and signature come from botocore's ``SigV4Auth`` (the
algorithm every AWS SDK for Python signs with), fed with exactly the headers the client named in
``SignedHeaders``, the received path, query and body. The comparison is constant-time.

Failures carry the error code and HTTP status AWS answers with (JSON protocol services):

======================================  ======  ===============================================
what                                    status  code
======================================  ======  ===============================================
no ``Authorization`` header              400    MissingAuthenticationTokenException
unknown access key, any session token    400    UnrecognizedClientException
wrong signature, wrong scope, time skew  400    InvalidSignatureException
malformed ``Authorization``, presigned   400    IncompleteSignatureException
======================================  ======  ===============================================
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from kmscli.crypto import primitives

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "kms"
#: How far the request's X-Amz-Date may be from the server's clock (AWS: 5 minutes).
MAX_SKEW = dt.timedelta(minutes=5)
_AMZ_DATE_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z")  # ASCII digits only, as strptime reads them
_REQUIRED = ("Credential", "SignedHeaders", "Signature")
#: The payload hash of SigV4's unsigned-payload option (Amazon S3 only: docs/serve.md, "Authentication").
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


class AuthError(Exception):
    """A request that failed authentication: AWS's code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class Caller(NamedTuple):
    """Who signed a request: access key, its principal, and the region of the credential scope."""

    access_key_id: str
    principal: str
    region: str


class Secret(NamedTuple):
    """What the verifier needs to know about an access key."""

    principal: str
    secret: bytes


#: (access key id) -> the key's principal and secret, or None when there is no such (active) key.
Lookup = Callable[[str], "Secret | None"]


def _incomplete(message: str) -> AuthError:
    return AuthError("IncompleteSignatureException", message)


def _invalid(message: str) -> AuthError:
    return AuthError("InvalidSignatureException", message)


def _unrecognized() -> AuthError:
    return AuthError("UnrecognizedClientException", "The security token included in the request is invalid.")


def _fmt(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_authorization(value: str, amz_date: str | None) -> dict[str, str]:
    """The ``Credential``, ``SignedHeaders`` and ``Signature`` of an Authorization header."""
    algorithm, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    if algorithm == ALGORITHM:
        for part in rest.split(","):
            part = part.strip()
            if not part:
                continue
            name, eq, val = part.partition("=")
            if not eq:
                raise _incomplete(
                    f"'{_part_name(part)}' not a valid key=value pair (missing equal-sign) in Authorization header"
                )
            name = name.strip()
            if name in params:  # which copy counts would be a guess: a proxy may read the other
                raise _incomplete(
                    f"'{_part_name(name)}' is given more than once in the Authorization header."
                )
            params[name] = val.strip()
    problems = [
        f"Authorization header requires '{name}' parameter." for name in _REQUIRED if name not in params
    ]
    if amz_date is None:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    if problems:
        if algorithm != ALGORITHM and algorithm.startswith("AWS"):
            problems.insert(0, f"Unsupported AWS 'algorithm': '{_part_name(algorithm)}'.")
        raise _incomplete(" ".join(problems))
    return params


_PARAMETER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,39}")


def _signed_names(value: str) -> list[str]:
    """The header names of ``SignedHeaders``, which must be in SigV4's canonical form: lower-case,
    sorted, each named once, no empty entry. botocore (like AWS) rebuilds that form from the names,
    so ``host;host`` or ``x-amz-date;host`` would verify as ``host`` or ``host;x-amz-date``: the
    list a client sent is not the one it signed, and is refused rather than repaired."""
    names = value.split(";")
    if names != sorted(set(names)) or not all(names) or value != value.lower():
        raise _incomplete(
            "SignedHeaders must list lower-case header names, sorted, each once, separated by ';'. "
            f"Got '{value[:200]}'."
        )
    return names


def _part_name(part: str) -> str:
    """How a message names a part of the Authorization header: its parameter name, never its value
    (``Signature 5d67...`` is a signature; AWS quotes the whole header)."""
    name = part.split(None, 1)[0] if part.split() else ""
    return name if _PARAMETER_NAME.fullmatch(name) else "..."


def verify(
    method: str,
    path: str,
    query: str,
    headers: list[tuple[str, str]],
    body: bytes,
    now: dt.datetime,
    lookup: Lookup,
) -> Caller:
    """Check a request's SigV4 signature; returns the caller or raises :class:`AuthError`.

    ``headers`` are (name, value) pairs as received (any case; a repeated name appears twice).
    """
    lower: dict[str, list[str]] = {}
    for name, value in headers:
        lower.setdefault(name.lower(), []).append(value)
    if any(
        k.lower() in ("x-amz-signature", "x-amz-credential", "x-amz-algorithm") for k in _query_keys(query)
    ):
        raise _incomplete(
            "kmscli serve accepts SigV4 in the Authorization header only; "
            "query-string (presigned) authentication is not supported."
        )
    auth = lower.get("authorization")
    if not auth or not auth[0].strip():
        raise AuthError("MissingAuthenticationTokenException", "Missing Authentication Token")
    # X-Amz-Date, else Date (docs/serve.md, "Authentication"); either in ISO-8601 basic format
    dates = lower.get("x-amz-date") or lower.get("date")
    amz_date = dates[0] if dates else None
    params = parse_authorization(auth[0], amz_date)
    assert amz_date is not None
    scope = params["Credential"].split("/")
    if len(scope) != 5:
        raise _incomplete(
            f"Credential should be scoped to a valid region, not ''. Credential: '{params['Credential'][:120]}'"
        )
    key_id, scope_date, region, service, terminator = scope
    if not _AMZ_DATE_RE.fullmatch(amz_date):
        raise _incomplete(f"Date must be in ISO-8601 'basic format'. Got '{amz_date[:40]}'.")
    try:  # the pattern matched: strptime's "%Y%m%dT%H%M%SZ", without its parser
        when = dt.datetime(
            int(amz_date[:4]),
            int(amz_date[4:6]),
            int(amz_date[6:8]),
            int(amz_date[9:11]),
            int(amz_date[11:13]),
            int(amz_date[13:15]),
            tzinfo=dt.UTC,
        )
    except ValueError:
        raise _incomplete(f"Date must be in ISO-8601 'basic format'. Got '{amz_date[:40]}'.") from None
    if terminator != "aws4_request":
        raise _invalid(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator[:40]}'."
        )
    if service != SERVICE:
        raise _invalid(f"Credential should be scoped to correct service: '{SERVICE}'. ")
    if scope_date != amz_date[:8]:
        raise _invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope_date[:20]}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    from kmscli.ids import is_region

    if not is_region(region):
        raise _invalid(f"Credential should be scoped to a valid region, not '{region[:40]}'. ")
    if when < now - MAX_SKEW:
        raise _invalid(
            f"Signature expired: {amz_date} is now earlier than {_fmt(now - MAX_SKEW)} ({_fmt(now)} - 5 min.)"
        )
    if when > now + MAX_SKEW:
        raise _invalid(
            f"Signature not yet current: {amz_date} is still later than {_fmt(now + MAX_SKEW)} "
            f"({_fmt(now)} + 5 min.)"
        )
    if "x-amz-security-token" in lower:
        raise _unrecognized()  # kmscli issues no temporary credentials
    signed = _signed_names(params["SignedHeaders"])
    if "host" not in signed:
        raise _incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    for name in signed:
        if name not in lower:
            raise _incomplete(
                f"'{name[:60]}' is named as a SignedHeader, but it does not exist in the HTTP request."
            )
    declared_hash = lower.get("x-amz-content-sha256")
    if declared_hash and declared_hash[0] == UNSIGNED_PAYLOAD:
        raise _invalid(
            "x-amz-content-sha256 'UNSIGNED-PAYLOAD' is an Amazon S3 option; requests to KMS sign their payload."
        )
    if declared_hash and declared_hash[0] != primitives.sha256(body).hex():
        raise _invalid("The provided 'x-amz-content-sha256' header does not match what was computed.")
    found = lookup(key_id)
    if found is None:
        raise _unrecognized()
    expected = _signature(method, path, query, lower, signed, body, amz_date, region, key_id, found.secret)
    if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
        raise _invalid(
            "The request signature we calculated does not match the signature you provided. Check your "
            "AWS Secret Access Key and signing method. Consult the service documentation for details."
        )
    return Caller(key_id, found.principal, region)


def _query_keys(query: str) -> list[str]:
    return [part.split("=", 1)[0] for part in query.split("&") if part]


def _signature(
    method: str,
    path: str,
    query: str,
    headers: dict[str, list[str]],
    signed: list[str],
    body: bytes,
    amz_date: str,
    region: str,
    key_id: str,
    secret: bytes,
) -> str:
    """The SigV4 signature of the request as received, over exactly the headers the client signed.

    botocore's ``SigV4Auth`` builds the canonical request and the string to sign, from a plain
    request object (:class:`_Received`) rather than an ``AWSRequest`` and ``HTTPHeaders`` (built on
    ``email.message``, a third of the verifier's time); the signing key derived from the secret,
    date and region is remembered (:func:`_signing_key`). Should a botocore release read something
    else off the request, the ``AWSRequest`` route is taken (docs/architecture.md, "What a long-lived process remembers").
    """
    url = f"http://{headers['host'][0]}{path}" + (f"?{query}" if query else "")
    auth = _received_auth(region)
    try:
        request: Any = _Received(method, url, headers, signed, body, amz_date)
        canonical = auth.canonical_request(request)
    except (AttributeError, TypeError, KeyError):
        request = _botocore_request(method, url, headers, signed, body, amz_date)
        canonical = auth.canonical_request(request)
    string_to_sign: str = auth.string_to_sign(request, canonical)
    key = _signing_key(secret, amz_date[:8], region)
    return primitives.hmac_sha256(key, string_to_sign.encode()).hex()


class _Headers(dict[str, list[str]]):
    """The received headers (lower-case name -> values), answering botocore's case-insensitive
    ``name in headers`` and ``headers[name]`` (the first value) as ``HTTPHeaders`` does."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())

    def __getitem__(self, name: str) -> Any:
        return dict.__getitem__(self, name.lower())[0]


class _Signed:
    """The headers the client named in ``SignedHeaders``, as botocore reads ``headers_to_sign``:
    the names (iteration) and every value of one name (``get_all``)."""

    __slots__ = ("headers", "names")

    def __init__(self, headers: dict[str, list[str]], names: list[str]) -> None:
        self.headers = headers
        self.names = names

    def __iter__(self) -> Any:
        return iter(self.names)

    def get_all(self, name: str) -> list[str]:
        return self.headers[name]


class _Received:
    """The request as ``SigV4Auth.canonical_request`` and ``string_to_sign`` read it."""

    __slots__ = ("body", "context", "headers", "method", "params", "signed", "url")

    def __init__(
        self,
        method: str,
        url: str,
        headers: dict[str, list[str]],
        signed: list[str],
        body: bytes,
        amz_date: str,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = _Headers(headers)
        self.signed = _Signed(headers, signed)
        self.body = body
        self.params: dict[str, str] = {}
        self.context = {"timestamp": amz_date}


def _botocore_request(
    method: str, url: str, headers: dict[str, list[str]], signed: list[str], body: bytes, amz_date: str
) -> Any:
    """The same request as botocore's own ``AWSRequest`` (the fallback of :func:`_signature`)."""
    from botocore.awsrequest import AWSRequest
    from botocore.compat import HTTPHeaders

    chosen = HTTPHeaders()
    for name in signed:
        for value in headers[name]:
            chosen[name] = value
    request = AWSRequest(method=method, url=url, data=body)
    request.context["timestamp"] = amz_date
    for name, values in headers.items():
        for value in values:
            request.headers[name] = value
    request.signed = chosen
    return request


@functools.lru_cache(maxsize=1024)
def _signing_key(secret: bytes, date: str, region: str) -> bytes:
    """SigV4's signing key: HMAC-SHA256 chained over the date, region, service and terminator,
    keyed first by ``"AWS4" + secret``. It changes once a day per access key and region, so it is
    derived once (four HMACs saved per request); a deleted key never reaches here (the lookup
    fails first), and a secret is part of the cache key, never looked up by access key alone."""
    key = b"AWS4" + secret
    for part in (date, region, SERVICE, "aws4_request"):
        key = primitives.hmac_sha256(key, part.encode())
    return key


@functools.cache
def _received_auth(region: str) -> Any:
    """botocore's SigV4Auth for ``kms`` in ``region``, over exactly the headers the client signed
    (the request's ``signed``); it holds no per-request state, so one serves every request."""
    from botocore.auth import SigV4Auth

    class ReceivedSigV4Auth(SigV4Auth):
        def headers_to_sign(self, request: Any) -> Any:
            return request.signed

    return ReceivedSigV4Auth(None, SERVICE, region)
