"""Principal ARNs: the caller's account, and matching a policy's Principal entries against a caller."""

from __future__ import annotations

import re

from kmscli.ids import is_account_id

ROOT_RE = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):root\Z")
ASSUMED_ROLE_RE = re.compile(r"^arn:aws[a-z-]*:sts::([0-9]{12}):assumed-role/([^/]+)/.+\Z")
ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::([0-9]{12}):role/(?:.*/)?([^/]+)\Z")


def account_of(principal: str) -> str:
    """The account id in a principal ARN (the 5th field), or the principal when it is an account id."""
    if is_account_id(principal):
        return principal
    parts = principal.split(":")
    return parts[4] if len(parts) > 5 else ""


def root_of(account: str) -> str:
    """The account root principal ARN."""
    return f"arn:aws:iam::{account}:root"


def principal_arn(caller: str) -> str:
    """``aws:PrincipalArn``: for a role session, the role's ARN (IAM global condition keys)."""
    m = ASSUMED_ROLE_RE.match(caller)
    if m:
        return f"arn:aws:iam::{m.group(1)}:role/{m.group(2)}"
    return caller


USER_RE = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:user/(?:.*/)?([^/]+)\Z")
FEDERATED_RE = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::[0-9]{12}:federated-user/.+\Z")


def principal_type(caller: str) -> str:
    """``aws:PrincipalType`` (IAM User Guide, "Principal key values"): Account, User, FederatedUser
    or AssumedRole. A role ARN given as the caller stands for a session of that role: a role acts in
    AWS only through a session."""
    if ROOT_RE.match(caller):
        return "Account"
    if USER_RE.match(caller):
        return "User"
    if FEDERATED_RE.match(caller):
        return "FederatedUser"
    return "AssumedRole"


def user_name(caller: str) -> str | None:
    """``aws:username``: an IAM user's friendly name; None for every other principal (the key is then
    absent, as AWS leaves it out for the root, roles and federated users)."""
    m = USER_RE.match(caller)
    return m.group(1) if m else None


def names_account(value: str) -> str | None:
    """The account a Principal value delegates to (12 digits or the root ARN), else None."""
    if is_account_id(value):
        return value
    m = ROOT_RE.match(value)
    return m.group(1) if m else None


def is_anyone(kind: str, value: str) -> bool:
    """``"*"`` or ``{"AWS": "*"}``: every principal."""
    return value == "*" and kind in ("*", "AWS")


def same_identity(value: str, caller: str) -> bool:
    """The caller is the principal named (exactly; a role ARN also names sessions of that role)."""
    if value == caller:
        return True
    session, role = ASSUMED_ROLE_RE.match(caller), ROLE_RE.match(value)
    return bool(session and role and session.groups() == role.groups())


def matches(kind: str, value: str, caller: str) -> bool:
    """Whether a ``Principal`` entry covers the caller; the account root covers all of its principals."""
    if is_anyone(kind, value):
        return True
    if kind != "AWS":
        return False
    account = names_account(value)
    if account is not None:
        return account_of(caller) == account
    return same_identity(value, caller)


def exempted(entries: tuple[tuple[str, str], ...], caller: str) -> bool:
    """Whether ``NotPrincipal`` exempts the caller (IAM: a user is exempt only if its account is too)."""
    if any(is_anyone(k, v) for k, v in entries):
        return True
    aws = [v for k, v in entries if k == "AWS"]
    account_listed = account_of(caller) in {names_account(v) for v in aws}
    if ROOT_RE.match(caller):
        return account_listed
    return account_listed and any(same_identity(v, caller) for v in aws)
