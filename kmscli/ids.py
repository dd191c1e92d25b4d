"""Random identifiers in AWS's formats, without the ``uuid`` module (which imports ``platform``)."""

from __future__ import annotations


def uuid4(raw: bytes) -> str:
    """An RFC 4122 version-4 UUID string from 16 random bytes (what ``uuid.UUID(bytes=raw, version=4)`` gives)."""
    if len(raw) != 16:
        raise ValueError("a UUID takes 16 bytes")
    b = bytearray(raw)
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_HEX = frozenset("0123456789abcdef")


def is_key_id(text: str) -> bool:
    """Whether ``text`` is a KMS key id: a lowercase UUID, or ``mrk-`` and 32 hex digits (multi-Region).

    Written out rather than as a regex: compiling one costs more than the checks of a whole call,
    and this also rejects the trailing newline a ``$``-anchored pattern lets through.
    """
    if len(text) != 36:
        return False
    if text.startswith("mrk-"):
        return _HEX.issuperset(text[4:])
    hex_digits = text[:8] + text[9:13] + text[14:18] + text[19:23] + text[24:]
    return text[8] == text[13] == text[18] == text[23] == "-" and _HEX.issuperset(hex_digits)


#: What a region name looks like, for messages: botocore's RegionType form.
REGION_FORM = "letters-letters-digits, e.g. us-east-1 or us-gov-west-1"


def is_region(text: str) -> bool:
    """Whether ``text`` is a region name kmscli accepts: two or three groups of lowercase letters and
    a number, joined by dashes (``us-east-1``, ``us-gov-west-1``; botocore's RegionType pattern
    ``([a-z]+-){2,3}\\d+``). The one region rule: settings, ``configure set``, the vault's file
    layout and completion all ask here, and such a name is always safe as a folder name.
    """
    parts = text.split("-")
    if not 3 <= len(parts) <= 4 or not parts[-1].isdigit() or not parts[-1].isascii():
        return False
    return all(part.isascii() and part.isalpha() and part.islower() for part in parts[:-1])


_ARN_REGION = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_PARTITION_TAIL = frozenset("abcdefghijklmnopqrstuvwxyz-")


def is_account_id(text: str) -> bool:
    """Whether ``text`` is an AWS account id: exactly twelve ASCII digits (``str.isdigit`` and a
    regex's ``\\d`` also take other scripts' digits, and ``$`` a trailing newline)."""
    return len(text) == 12 and text.isascii() and text.isdigit()


def parse_kms_arn(ref: str) -> tuple[str, str, str] | None:
    """(region, account, resource) of a KMS ARN, ``arn:<partition>:kms:<region>:<account>:<resource>``
    with a ``key/`` or ``alias/`` resource; None for anything else. The one reading of key and alias
    ARNs (the service's key references and the audit log's filters): written out rather than as a
    regex, which costs more to compile than a query's checks, and exact, with no trailing newline
    and no non-ASCII digit let through."""
    if not ref.startswith("arn:aws"):
        return None
    parts = ref.split(":", 5)
    if len(parts) != 6 or parts[2] != "kms" or not _PARTITION_TAIL.issuperset(parts[1][3:]):
        return None
    region, account, resource = parts[3], parts[4], parts[5]
    if not region or not _ARN_REGION.issuperset(region) or not is_account_id(account):
        return None
    if "\n" in resource or not (
        (resource.startswith("key/") and len(resource) > 4)
        or (resource.startswith("alias/") and len(resource) > 6)
    ):
        return None
    return region, account, resource
