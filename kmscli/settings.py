"""Where things are and who is calling: config file, profiles, environment, command-line overrides.

Precedence for each setting: command-line option, environment variable, the profile in
``config.toml``, built-in default. Profiles live in ``[default]`` and ``[profile.NAME]`` tables.
"""

from __future__ import annotations

import os
import re
from typing import Any, NamedTuple

from kmscli.errors import UsageError, VaultEnvironmentError
from kmscli.vault import fs

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "111122223333"
#: The --output formats (kmscli.cli.render.OUTPUT_FORMATS; a test keeps the two equal).
OUTPUT_FORMATS = ("json", "text", "table", "yaml", "yaml-stream")
#: The region names a vault can hold (the same rule as kmscli.vault.store's file layout).
CONFIG_KEYS = ("region", "account_id", "output", "principal", "vault", "audit_segment_bytes")


def config_path() -> str:
    """``KMSCLI_CONFIG`` or ``platformdirs.user_config_dir("kmscli")/config.toml``."""
    env = os.environ.get("KMSCLI_CONFIG")
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


#: botocore's RegionType pattern (``us-east-1``, ``us-gov-west-1``, ...).
REGION_RE = re.compile(r"([a-z]+-){2,3}\d+")


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
    passphrase_file: str | None
    audit_segment_bytes: int
    config_file: str


def load_settings(overrides: dict[str, Any]) -> Settings:
    """Resolve every setting; ``overrides`` holds command-line values (None when not given)."""
    path = config_path()
    config = read_config(path)
    profile = overrides.get("profile") or os.environ.get("KMSCLI_PROFILE") or "default"
    section = profile_section(config, profile)
    if section is None:
        if overrides.get("profile") or os.environ.get("KMSCLI_PROFILE"):
            raise VaultEnvironmentError(f"The config profile ({profile}) could not be found in {path}")
        section = {}

    def pick(option: str, env: str | None, key: str, default: Any) -> Any:
        if overrides.get(option) is not None:
            return overrides[option]
        if env and os.environ.get(env):
            return os.environ[env]
        return section.get(key, default)

    account = str(section.get("account_id", DEFAULT_ACCOUNT))
    if not (len(account) == 12 and account.isdigit()):
        raise VaultEnvironmentError(f"{path}: account_id must be 12 digits, got {account!r}")
    region = str(pick("region", "KMSCLI_REGION", "region", DEFAULT_REGION))
    if not REGION_RE.fullmatch(region):  # botocore's RegionType; also keeps paths inside the vault
        message = f"Provided region_name '{region}' doesn't match a supported format."
        raise UsageError(message) if overrides.get("region") is not None else VaultEnvironmentError(message)
    vault = pick("vault", "KMSCLI_VAULT", "vault", None)
    if vault is not None and not isinstance(vault, str):
        raise VaultEnvironmentError(f"{path}: vault must be a path (a string), got {vault!r}")
    output = pick("output", None, "output", "json")
    if output not in OUTPUT_FORMATS:  # checked now: a mutating call must not commit, then fail to print
        raise VaultEnvironmentError(
            f"{path}: output must be one of {', '.join(OUTPUT_FORMATS)}, got {output!r}"
        )
    passphrase_file = overrides.get("passphrase_file") or os.environ.get("KMSCLI_PASSPHRASE_FILE")
    segment = section.get("audit_segment_bytes", 64 * 1024 * 1024)
    if not isinstance(segment, int) or segment < 4096:
        raise VaultEnvironmentError(f"{path}: audit_segment_bytes must be an integer of at least 4096")
    return Settings(
        profile=profile,
        vault_path=expanduser(vault) if vault else default_vault_path(),
        region=region,
        account_id=account,
        principal=str(pick("principal", "KMSCLI_PRINCIPAL", "principal", f"arn:aws:iam::{account}:root")),
        output=str(output),
        passphrase_file=fs.pathstr(passphrase_file) if passphrase_file else None,
        audit_segment_bytes=segment,
        config_file=path,
    )
