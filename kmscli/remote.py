"""Client mode: ``kmscli --endpoint-url URL <command>`` sends each KMS call over the wire.

The request kmscli builds from the command line is the same one the local service takes (AWS member
names, blobs as bytes), so a front end only swaps its *caller*: ``service.pipeline.core.local_caller`` runs the
operation on the local vault, :func:`remote_caller` sends it with botocore to a ``kmscli serve`` or to
AWS KMS itself. botocore signs (SigV4), serialises (AWS JSON 1.1), verifies TLS and retries exactly as
the AWS CLI does, which is why client mode uses it instead of code of our own. It is an optional
dependency (``pip install 'kmscli[remote]'``) imported only here, only in client mode.

Errors map as the AWS CLI maps them: a service error is a :class:`~kmscli.errors.KMSError` with the
service's code and message (exit 254); botocore's parameter validation is a usage error (252); missing
credentials are an environment error (253); a connection or TLS failure is exit 255.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from kmscli import errors

Request = dict[str, Any]
Response = dict[str, Any]
Caller = Callable[[str, Request], Response]  # kmscli.service.pipeline.core.Caller, not imported here

#: The AWS CLI's default socket timeouts, in seconds (``--cli-connect-timeout``, ``--cli-read-timeout``).
DEFAULT_TIMEOUT = 60.0


class RemoteOptions(NamedTuple):
    """Where and how to reach the endpoint: the AWS CLI's connection options."""

    endpoint_url: str
    region: str
    #: True (verify with the default CA store), False (``--no-verify-ssl``) or a CA bundle path.
    verify: bool | str = True
    #: Seconds; 0 means blocking, as in the AWS CLI.
    connect_timeout: float = DEFAULT_TIMEOUT
    read_timeout: float = DEFAULT_TIMEOUT
    #: ``--no-sign-request``: send the request unsigned.
    sign: bool = True


def remote_options(options: Mapping[str, Any], region: str, environ: Mapping[str, str]) -> RemoteOptions:
    """The AWS CLI's connection options as it reads them: ``--no-verify-ssl`` wins over
    ``--ca-bundle``, which wins over ``AWS_CA_BUNDLE``; a timeout of 0 blocks; 60 s by default."""
    verify: bool | str = True
    if options.get("no_verify_ssl"):
        verify = False
    elif options.get("ca_bundle"):
        verify = str(options["ca_bundle"])
    elif environ.get("AWS_CA_BUNDLE"):
        verify = environ["AWS_CA_BUNDLE"]

    def seconds(name: str) -> float:
        value = options.get(name)
        return DEFAULT_TIMEOUT if value is None else float(value)

    return RemoteOptions(
        endpoint_url=str(options["endpoint_url"]),
        region=region,
        verify=verify,
        connect_timeout=seconds("cli_connect_timeout"),
        read_timeout=seconds("cli_read_timeout"),
        sign=not options.get("no_sign_request"),
    )


def _credentials(environ: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    """The standard AWS variables, when both halves of a key are set."""
    access = environ.get("AWS_ACCESS_KEY_ID")
    secret = environ.get("AWS_SECRET_ACCESS_KEY")
    if access and secret:
        return access, secret, environ.get("AWS_SESSION_TOKEN") or None
    return None


def _plain(value: Any) -> Any:
    """botocore's parsed response as the local service returns it: UTC timestamps, no metadata."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _unknown_members(shape: Any, request: Request) -> list[str]:
    members = getattr(shape, "members", {}) if shape is not None else {}
    return sorted(name for name in request if name not in members)


def remote_caller(options: RemoteOptions, environ: Mapping[str, str]) -> Caller:
    """A caller that sends each operation to ``options.endpoint_url`` (SigV4-signed by botocore)."""
    try:
        import botocore.session
        from botocore import UNSIGNED
        from botocore import exceptions as bexc
        from botocore.config import Config
    except ImportError:
        raise errors.VaultEnvironmentError(
            "--endpoint-url needs botocore: pip install 'kmscli[remote]'"
        ) from None

    session = botocore.session.Session()
    creds = _credentials(environ)
    if creds is not None:
        session.set_credentials(*creds)
    config = Config(
        connect_timeout=options.connect_timeout or None,
        read_timeout=options.read_timeout or None,
        retries={"mode": "standard"},
        signature_version=UNSIGNED if not options.sign else None,
    )
    try:  # credentials and the profile's configuration are resolved here, not at the first call
        client = session.create_client(
            "kms",
            region_name=options.region,
            endpoint_url=options.endpoint_url,
            verify=options.verify,
            config=config,
        )
    except ValueError as exc:  # botocore rejects a malformed endpoint URL here
        raise errors.UsageError(f"Invalid endpoint: {options.endpoint_url} ({exc})") from None
    except bexc.BotoCoreError as exc:  # a missing profile, an unreadable config file, half a key
        raise _botocore_error(exc) from None
    model = client.meta.service_model

    def call(name: str, request: Request) -> Response:
        if name not in model.operation_names:
            raise errors.UsageError(
                f"{name} is a kmscli extension and is not part of the KMS API at {options.endpoint_url}"
            )
        unknown = _unknown_members(model.operation_model(name).input_shape, request)
        if unknown:
            raise errors.UsageError(
                f"{', '.join(unknown)}: kmscli extension parameter(s) of {name}, not part of the KMS API "
                f"at {options.endpoint_url}"
            )
        method = getattr(client, _snake(name))
        try:
            return _plain(method(**request))
        except bexc.ClientError as exc:
            err = exc.response.get("Error", {})
            failure = errors.kms_error(str(err.get("Code", "Unknown")), str(err.get("Message", "")))
            failure.for_operation(name)
            raise failure from None
        except bexc.BotoCoreError as exc:
            raise _botocore_error(exc) from None

    return call


def _botocore_error(exc: Exception) -> errors.KmscliError:
    """A botocore failure as the AWS CLI reports it: botocore's own message (which names the URL,
    and for TLS the reason: ``SSL validation failed for URL [SSL: ...]``); parameter validation is a
    usage error, missing credentials an environment error, anything else (no connection, a timeout,
    TLS, a missing profile, an unreadable config file, half a key) exit 255."""
    from botocore import exceptions as bexc

    if isinstance(exc, bexc.ParamValidationError):
        return errors.UsageError(str(exc))
    if isinstance(exc, bexc.NoCredentialsError):
        return errors.VaultEnvironmentError(
            "Unable to locate credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(see `kmscli credentials create` for a kmscli serve endpoint)"
        )
    return errors.KmscliError(str(exc))


def _snake(name: str) -> str:
    from botocore import xform_name

    return str(xform_name(name))
