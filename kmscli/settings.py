"""Where things are and who is calling: config file, profiles, environment, command-line overrides.

Precedence for each setting: command-line option, environment variable (the ``KMSCLI_`` one, then
the AWS CLI's: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, ``AWS_DEFAULT_OUTPUT``), the profile in
``config.toml``, built-in default. Profiles live in ``[default]`` and ``[profile.NAME]`` tables.
The environment is a mapping the caller passes in (``kmscli.invocation``); nothing here reads
the process environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from kmscli.errors import UsageError, VaultEnvironmentError
from kmscli.ids import REGION_FORM, is_account_id, is_region
from kmscli.vault import fs

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "111122223333"
#: The --output formats: the one list (the option, the config file, ``configure set`` and the renderer).
#: ``off`` prints nothing on stdout (errors still go to stderr), as ``--output off`` in AWS CLI 2.34+.
OUTPUT_FORMATS = ("json", "text", "table", "yaml", "yaml-stream", "off")
#: Where each setting may come from in the environment, first set one wins (after the option).
ENV_VARIABLES: dict[str, tuple[str, ...]] = {
    "region": ("KMSCLI_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "output": ("AWS_DEFAULT_OUTPUT",),
    "principal": ("KMSCLI_PRINCIPAL",),
    "vault": ("KMSCLI_VAULT",),
}


def config_path(environ: Mapping[str, str]) -> str:
    """``KMSCLI_CONFIG`` or ``platformdirs.user_config_dir("kmscli")/config.toml``."""
    env = environ.get("KMSCLI_CONFIG")
    if env:
        return fs.pathstr(env)
    import platformdirs

    return fs.join(fs.pathstr(platformdirs.user_config_dir("kmscli")), "config.toml")


def default_vault_path() -> str:
    """``platformdirs.user_data_dir("kmscli")``."""
    import platformdirs

    return fs.pathstr(platformdirs.user_data_dir("kmscli"))


def archive_audit_path(vault_id: str) -> str:
    """Where a read-only vault file (backup, bundle) logs when ``KMSCLI_AUDIT_LOG`` is unset:
    ``platformdirs.user_state_dir("kmscli")/archive-audit/VAULT_ID``, a durable segment folder."""
    import platformdirs

    return fs.join(fs.pathstr(platformdirs.user_state_dir("kmscli")), "archive-audit", vault_id)


def expanduser(path: str) -> str:
    """``str(Path(path).expanduser())``: a leading ``~`` or ``~user`` becomes that home folder."""
    path = fs.pathstr(path)
    if path[:1] != "~":
        return path
    first, _, rest = path.partition("/")
    home = os.path.expanduser(first)
    if home[:1] == "~":
        raise RuntimeError("Could not determine home directory.")
    return fs.join(fs.pathstr(home), rest) if rest else fs.pathstr(home)


def check_region(region: str, where: str = "") -> str:
    """``region`` if it is well-formed (kmscli.ids.is_region), else UsageError (252) naming the form."""
    if not is_region(region):
        source = f" ({where})" if where else ""
        raise UsageError(
            f"Provided region_name '{region}'{source} doesn't match a supported format: {REGION_FORM}."
        )
    return region


def env_value(environ: Mapping[str, str], setting: str) -> tuple[str, str] | None:
    """(value, variable) of the first non-empty environment variable for ``setting``, or None."""
    for name in ENV_VARIABLES.get(setting, ()):
        if environ.get(name):
            return environ[name], name
    return None


def profile_name(overrides: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """``--profile``, else ``KMSCLI_PROFILE``, else ``default``."""
    return str(overrides.get("profile") or environ.get("KMSCLI_PROFILE") or "default")


def read_config(path: fs.StrPath) -> dict[str, Any]:
    """The parsed config file ({} when absent); a malformed file is exit 253 naming file and line."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise VaultEnvironmentError(f"cannot read config file {path}: {exc.strerror}") from None
    import tomllib  # only when there is a config file to parse

    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise VaultEnvironmentError(f"malformed config file {path}: {exc}") from None


def profile_section(config: dict[str, Any], profile: str) -> dict[str, Any] | None:
    """The table for ``profile``: ``[default]`` or ``[profile.NAME]`` (also ``["profile NAME"]``)."""
    if profile == "default":
        section = config.get("default", {})
    else:
        section = config.get("profile", {}).get(profile) or config.get(f"profile {profile}")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise VaultEnvironmentError(f"profile {profile} in the config file is not a table")
    return section


class Settings(NamedTuple):
    """Resolved settings for one invocation (paths as strings, printed as ``pathlib.Path`` would)."""

    profile: str
    vault_path: str
    region: str
    account_id: str
    principal: str
    output: str
    audit_segment_bytes: int
    config_file: str


def load_settings(overrides: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Resolve every setting; ``overrides`` holds command-line values (None when not given)."""
    path = config_path(environ)
    config = read_config(path)
    profile = profile_name(overrides, environ)
    section = profile_section(config, profile)
    if section is None:
        if overrides.get("profile") or environ.get("KMSCLI_PROFILE"):
            raise VaultEnvironmentError(f"The config profile ({profile}) could not be found in {path}")
        section = {}

    def pick(setting: str, default: Any) -> tuple[Any, str]:
        if overrides.get(setting) is not None:
            return overrides[setting], "option"
        found = env_value(environ, setting)
        if found is not None:
            return found
        return section.get(setting, default), path

    account = str(section.get("account_id", DEFAULT_ACCOUNT))
    if not is_account_id(account):
        raise VaultEnvironmentError(f"{path}: account_id must be 12 digits, got {account!r}")
    region, where = pick("region", DEFAULT_REGION)
    try:
        check_region(str(region), "" if where == "option" else where)
    except UsageError as exc:  # a bad --region is the caller's syntax; from elsewhere, configuration
        if where == "option":
            raise
        raise VaultEnvironmentError(exc.message) from None
    vault, _ = pick("vault", None)
    if vault is not None and (not isinstance(vault, str) or not vault.strip()):
        # an empty path is not "the default": that vault may be another one than the file meant
        raise VaultEnvironmentError(f"{path}: vault must be a path (a string), got {vault!r}")
    output, where = pick("output", "json")
    # checked now (a mutating call must not commit, then fail to print); an option was checked by
    # its parser, against the command's own formats (``kmscli audit --output jsonl``)
    if where != "option" and output not in OUTPUT_FORMATS:
        raise VaultEnvironmentError(
            f"{where}: output must be one of {', '.join(OUTPUT_FORMATS)}, got {output!r}"
        )
    segment = section.get("audit_segment_bytes", 64 * 1024 * 1024)
    if not isinstance(segment, int) or segment < 4096:
        raise VaultEnvironmentError(f"{path}: audit_segment_bytes must be an integer of at least 4096")
    principal, _ = pick("principal", f"arn:aws:iam::{account}:root")
    return Settings(
        profile=profile,
        vault_path=expanduser(vault) if vault else default_vault_path(),
        region=str(region),
        account_id=account,
        principal=str(principal),
        output=str(output),
        audit_segment_bytes=segment,
        config_file=path,
    )
