"""Errors and their exit codes (the contract is docs/cli.md).

``KMSError`` subclasses carry the AWS exception name as ``code`` and the operation that raised them
as ``operation`` (set by the service pipeline); the CLI prints them as the AWS CLI v2 does
("An error occurred (CODE) when calling the OPERATION operation: ...") and exits 254. ``UsageError``
is 252, ``VaultEnvironmentError`` 253, anything else 255.
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_USAGE = 252
EXIT_ENVIRONMENT = 253
EXIT_SERVICE = 254
EXIT_OTHER = 255
EXIT_INTERRUPTED = 130


class KmscliError(Exception):
    """Base of every error kmscli reports without a traceback."""

    exit_code = EXIT_OTHER

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(KmscliError):
    """Invalid syntax, unknown option or malformed parameter value (exit 252)."""

    exit_code = EXIT_USAGE


class ArgumentError(UsageError):
    """One of argparse's own errors in the AWS CLI (a required option missing, an ambiguous option
    prefix): the AWS CLI v2 follows its message with its usage text."""


class UnknownOptionsError(UsageError):
    """Arguments no option of the command takes (``--bogus``, a stray value): the AWS CLI v2's
    ``Unknown options: ...``, written after its usage text whatever ``--cli-error-format`` says."""


class ParamValueError(KmscliError):
    """A parameter value the AWS CLI v2 stops on with its general exit code (255), not as a parameter
    error (252): its error handler classifies none of these, since they surface as plain exceptions.
    An integer member's text that ``int()`` refuses (``ValueError``, while the option is read), and,
    once every option has been read and the call is about to go out (``at_send``), blob text that is
    not base64 (``InvalidBase64Error``) and an epoch timestamp too large for a date (botocore's
    ``RuntimeError``). No secret value is ever part of the message."""

    def __init__(self, message: str, *, at_send: bool = False) -> None:
        super().__init__(message)
        self.at_send = at_send


class VaultEnvironmentError(KmscliError):
    """The environment or configuration is invalid: no vault, wrong passphrase, bad config (253)."""

    exit_code = EXIT_ENVIRONMENT


class Interrupted(Exception):
    """Ctrl-C (or end of input at a prompt) inside a Click command, carried past ``click``'s own
    handling, which would write its newline to stderr: ``kmscli.__main__`` ends it as the AWS CLI v2
    does (exit 130, a newline on stdout)."""


class KMSError(KmscliError):
    """An error the KMS API itself would return; ``code`` is the AWS exception name (exit 254)."""

    exit_code = EXIT_SERVICE
    code = "KMSInternalException"

    def __init__(self, message: str, code: str | None = None, *, operation: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        #: The KMS operation (or kmscli command) the error belongs to; None until one claims it.
        self.operation: str | None = operation

    def for_operation(self, name: str) -> KMSError:
        """Claim the error for operation ``name`` unless an inner operation already did; returns it."""
        if self.operation is None:
            self.operation = name
        return self


#: The :class:`KMSError` subclass of each AWS exception name that has one (filled by ``_kms_error``).
_BY_CODE: dict[str, type[KMSError]] = {}


def _kms_error(name: str) -> type[KMSError]:
    cls = type(name, (KMSError,), {"code": name, "__doc__": f"AWS KMS ``{name}``."})
    _BY_CODE[name] = cls
    return cls


def kms_error(code: str, message: str) -> KMSError:
    """The error a KMS endpoint answered with ``code``: the subclass of that name when kmscli has one,
    so code that catches, say, :data:`KMSInvalidSignatureException` catches it from a remote
    endpoint as from the local service; a plain :class:`KMSError` carrying ``code`` otherwise."""
    cls = _BY_CODE.get(code)
    return cls(message) if cls is not None else KMSError(message, code=code)


AccessDeniedException = _kms_error("AccessDeniedException")
AlreadyExistsException = _kms_error("AlreadyExistsException")
DisabledException = _kms_error("DisabledException")
DryRunOperationException = _kms_error("DryRunOperationException")
ExpiredImportTokenException = _kms_error("ExpiredImportTokenException")
IncorrectKeyException = _kms_error("IncorrectKeyException")
IncorrectKeyMaterialException = _kms_error("IncorrectKeyMaterialException")
InvalidAliasNameException = _kms_error("InvalidAliasNameException")
InvalidArnException = _kms_error("InvalidArnException")
InvalidCiphertextException = _kms_error("InvalidCiphertextException")
InvalidGrantIdException = _kms_error("InvalidGrantIdException")
InvalidGrantTokenException = _kms_error("InvalidGrantTokenException")
InvalidImportTokenException = _kms_error("InvalidImportTokenException")
InvalidKeyUsageException = _kms_error("InvalidKeyUsageException")
InvalidMarkerException = _kms_error("InvalidMarkerException")
KMSInternalException = _kms_error("KMSInternalException")
KMSInvalidMacException = _kms_error("KMSInvalidMacException")
KMSInvalidSignatureException = _kms_error("KMSInvalidSignatureException")
KMSInvalidStateException = _kms_error("KMSInvalidStateException")
KeyUnavailableException = _kms_error("KeyUnavailableException")
LimitExceededException = _kms_error("LimitExceededException")
MalformedPolicyDocumentException = _kms_error("MalformedPolicyDocumentException")
NotFoundException = _kms_error("NotFoundException")
TagException = _kms_error("TagException")
UnsupportedOperationException = _kms_error("UnsupportedOperationException")
ValidationException = _kms_error("ValidationException")
ConflictException = _kms_error("ConflictException")
CustomKeyStoreNotFoundException = _kms_error("CustomKeyStoreNotFoundException")
#: AWS's JSON protocol error for a request member of the wrong JSON type (before any validation).
SerializationException = _kms_error("SerializationException")
#: Not in KMS's service model, but what AWS answers (HTTP 400, no message) to CreateAlias and
#: UpdateAlias naming an ``alias/aws/`` alias: that prefix is reserved for AWS managed keys.
NotAuthorizedException = _kms_error("NotAuthorizedException")


def os_error_text(exc: OSError) -> str:
    """What an OSError says, for a message: its reason and the file it names, without the errno
    number or Python's quoting (``No space left on device: /vault/keys``)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{reason}: {exc.filename}" if exc.filename is not None else reason


def require_text(value: str, option: str) -> str:
    """``value`` when it is valid Unicode text; a usage error (252) for one holding a lone surrogate
    (undecodable bytes in argv arrive as one, and JSON ``\\u`` escapes can spell one): it cannot be
    encoded, matched, stored or audited."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"Error parsing parameter '{option}': the value is not valid UTF-8 text") from None
    return value


def printable(text: str) -> str:
    """``text`` for a message: each lone surrogate (JSON's ``\\ud800`` escapes can spell one in a
    member name or a map key) as its escape, since messages are answered, audited and logged as
    UTF-8, which cannot hold one."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


#: The name AWS's messages give each model type a JSON value is converted to.
_TARGETS = {
    "string": "a String",
    "integer": "an Integer",
    "long": "a Long",
    "boolean": "a Boolean",
    "blob": "a Blob",
    "timestamp": "a Date",
}


def not_convertible(value: Any, kind: str) -> str:
    """AWS's SerializationException text for a JSON scalar ``value`` where the model wants a ``kind``
    (``TRUE_VALUE can not be converted to an Integer``): the wire decoder's words, and the service's
    for the one mismatch a client-side check lets through (botocore takes a bool as an integer)."""
    if value is True:
        token = "TRUE_VALUE"
    elif value is False:
        token = "FALSE_VALUE"
    else:
        token = "STRING_VALUE" if isinstance(value, str) else "NUMBER_VALUE"
    return f"{token} can not be converted to {_TARGETS.get(kind, 'a ' + kind)}"
