"""``kmscli configure``: reading and writing profiles in ``config.toml`` (tomli-w), like ``aws configure``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kmscli.errors import UsageError, VaultEnvironmentError
from kmscli.ids import is_account_id
from kmscli.settings import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    OUTPUT_FORMATS,
    check_region,
    config_path,
    env_value,
    read_config,
)
from kmscli.vault import fs

#: Settings ``configure`` manages, in prompt order: name -> prompt.
KEYS: dict[str, str] = {
    "region": "Default region name",
    "account_id": "Account id",
    "output": "Default output format",
    "principal": "Caller principal ARN",
    "vault": "Vault path",
}
_PROFILE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")
_PRINCIPAL_RE = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:.+\Z")


def validate(key: str, value: str) -> Any:
    """The typed value to store for ``key``; UsageError (252) for a bad key or value."""
    if key not in KEYS:
        raise UsageError(f"unknown setting {key!r}; one of: {', '.join(KEYS)}")
    if key == "region":
        check_region(value)
    if key == "account_id" and not is_account_id(value):
        raise UsageError(f"invalid account id {value!r}: 12 digits expected")
    if key == "output" and value not in OUTPUT_FORMATS:
        raise UsageError(f"invalid output format {value!r}; one of: {', '.join(OUTPUT_FORMATS)}")
    if key == "principal" and not _PRINCIPAL_RE.match(value):
        raise UsageError(f"invalid principal {value!r} (e.g. arn:aws:iam::111122223333:role/ci)")
    if key == "vault" and not value.strip():
        raise UsageError("the vault path is empty")
    return value


def _profile_name(profile: str) -> str:
    if not _PROFILE_RE.match(profile):
        raise UsageError(f"invalid profile name {profile!r}")
    return profile


def _section(config: dict[str, Any], profile: str, create: bool, path: str) -> dict[str, Any] | None:
    if profile == "default":
        table = config.setdefault("default", {}) if create else config.get("default")
    elif f"profile {profile}" in config:
        table = config[f"profile {profile}"]
    else:
        profiles = config.setdefault("profile", {}) if create else config.get("profile", {})
        if not isinstance(profiles, dict):
            raise VaultEnvironmentError(f"{path}: 'profile' must be a table of profiles")
        table = profiles.setdefault(profile, {}) if create else profiles.get(profile)
    if table is not None and not isinstance(table, dict):
        raise VaultEnvironmentError(f"{path}: profile {profile} is not a table")
    return table


def write_config(path: fs.StrPath, config: dict[str, Any]) -> None:
    """Write ``config`` as TOML, atomically, private to the user."""
    import tomli_w

    path = fs.pathstr(path)
    try:
        if not fs.exists(fs.parent(path)):
            fs.ensure_dir(fs.parent(path))
        fs.atomic_write(path, tomli_w.dumps(config).encode())
    except OSError as exc:
        raise VaultEnvironmentError(f"cannot write config file {path}: {exc.strerror or exc}") from None


def set_value(profile: str, key: str, value: str, path: str) -> dict[str, Any]:
    """Store one setting in a profile of the config file at ``path`` (profile created when missing);
    other content is kept. A bad value is refused here (exit 252), before anything is written."""
    profile = _profile_name(profile)
    typed = validate(key, value)
    config = read_config(path)
    section = _section(config, profile, create=True, path=path)
    assert section is not None
    section[key] = typed
    write_config(path, config)
    return {"Profile": profile, "Name": key, "Value": typed, "ConfigFile": str(path)}


def get_value(profile: str, key: str, path: str) -> Any:
    """A setting as stored in the profile (None when it is not set there)."""
    if key not in KEYS and key != "audit_segment_bytes":
        raise UsageError(f"unknown setting {key!r}; one of: {', '.join(KEYS)}")
    section = _section(read_config(path), _profile_name(profile), create=False, path=path)
    return None if section is None else section.get(key)


def list_values(profile: str, overrides: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """Every setting with its value and where it came from (option, env, config file, default)."""
    from kmscli.settings import default_vault_path

    path = config_path(environ)
    section = _section(read_config(path), _profile_name(profile), create=False, path=path) or {}
    defaults = {
        "region": DEFAULT_REGION,
        "account_id": DEFAULT_ACCOUNT,
        "output": "json",
        "principal": f"arn:aws:iam::{section.get('account_id', DEFAULT_ACCOUNT)}:root",
        "vault": str(default_vault_path()),
    }
    rows = []
    for key in KEYS:
        found = env_value(environ, key)
        if overrides.get(key) is not None:
            value, source = overrides[key], "option"
        elif found is not None:
            value, source = found[0], f"env {found[1]}"
        elif key in section:
            value, source = section[key], "config-file"
        else:
            value, source = defaults[key], "default"
        rows.append({"Name": key, "Value": str(value), "Source": source})
    return {"Profile": profile, "ConfigFile": str(path), "Settings": rows}
