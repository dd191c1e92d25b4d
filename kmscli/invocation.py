"""One command-line invocation, resolved once at the boundary (the AWS CLI's ``parsed_globals``).

The front end builds an :class:`Invocation` from the parsed global options and an environment
mapping it is given (``os.environ`` only in ``kmscli.__main__``), and passes it down. Everything
below reads the values it holds: the settings (config file, profile, environment, options), the
secrets and paths the environment supplies (:class:`Sources`), and the pager. The service layer
reads no environment variable; it takes a :class:`Sources` (or the values in it) explicitly.

Precedence of the environment's vault sources, decided here and nowhere else:

* an explicit ``--passphrase-file`` wins over everything (``KMSCLI_SESSION``,
  ``KMSCLI_PASSPHRASE``, ``KMSCLI_PASSPHRASE_FILE``); a missing file is then exit 253;
* otherwise ``KMSCLI_SESSION`` (no KDF), then ``KMSCLI_PASSPHRASE``, then
  ``KMSCLI_PASSPHRASE_FILE``, then a prompt on a terminal.

Pager: ``KMSCLI_PAGER``, then ``AWS_PAGER`` (as the AWS CLI v2 reads it), then ``PAGER``, then
``less -FRX``; an empty value turns paging off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, cast

from kmscli.settings import Settings, load_settings

DEFAULT_PAGER = "less -FRX"
#: Variables the pager is taken from, first set one wins.
PAGER_VARIABLES = ("KMSCLI_PAGER", "AWS_PAGER", "PAGER")


class Sources:
    """What the environment gives for opening the vault. Secrets never appear in ``repr``."""

    __slots__ = ("audit_log", "new_passphrase", "passphrase", "passphrase_file", "session_token")

    def __init__(
        self,
        *,
        passphrase: bytes | None = None,
        passphrase_file: str | None = None,
        session_token: str | None = None,
        new_passphrase: bytes | None = None,
        audit_log: str | None = None,
    ) -> None:
        #: The vault passphrase itself (``KMSCLI_PASSPHRASE``), None when not given.
        self.passphrase = passphrase
        #: A file holding the passphrase (``--passphrase-file`` or ``KMSCLI_PASSPHRASE_FILE``).
        self.passphrase_file = passphrase_file
        #: A session token from ``kmscli unlock`` (``KMSCLI_SESSION``).
        self.session_token = session_token
        #: A new passphrase for change-passphrase and bundles (``KMSCLI_NEW_PASSPHRASE``).
        self.new_passphrase = new_passphrase
        #: Where a read-only archive vault's audit events go (``KMSCLI_AUDIT_LOG``, a folder).
        self.audit_log = audit_log

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], passphrase_file: str | None = None) -> Sources:
        """The sources in ``environ``; an explicit ``passphrase_file`` (the option) overrides them."""
        if passphrase_file:
            return cls(
                passphrase_file=passphrase_file,
                new_passphrase=_bytes(environ.get("KMSCLI_NEW_PASSPHRASE")),
                audit_log=environ.get("KMSCLI_AUDIT_LOG") or None,
            )
        return cls(
            passphrase=_bytes(environ.get("KMSCLI_PASSPHRASE"), keep_empty=True),
            passphrase_file=environ.get("KMSCLI_PASSPHRASE_FILE") or None,
            session_token=environ.get("KMSCLI_SESSION") or None,
            new_passphrase=_bytes(environ.get("KMSCLI_NEW_PASSPHRASE")),
            audit_log=environ.get("KMSCLI_AUDIT_LOG") or None,
        )

    def has_secret(self) -> bool:
        """Whether the vault can be unlocked without a prompt (a session, passphrase or file)."""
        return bool(self.session_token) or self.passphrase is not None or self.passphrase_file is not None

    def __repr__(self) -> str:
        shown = {
            "passphrase": "<set>" if self.passphrase is not None else None,
            "passphrase_file": self.passphrase_file,
            "session_token": "<set>" if self.session_token else None,
            "new_passphrase": "<set>" if self.new_passphrase is not None else None,
            "audit_log": self.audit_log,
        }
        return f"Sources({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def _bytes(value: str | None, *, keep_empty: bool = False) -> bytes | None:
    """The bytes the environment holds: a variable that is not UTF-8 arrives with its undecodable
    bytes as lone surrogates (PEP 383), which ``os.fsencode`` turns back into those bytes, the
    same bytes a passphrase file holding them gives."""
    if value is None or (not value and not keep_empty):
        return None
    import os

    return os.fsencode(value)


def pager_from(environ: Mapping[str, str]) -> str:
    """The pager command the environment asks for ("" means no paging)."""
    for name in PAGER_VARIABLES:
        if name in environ:
            return environ[name].strip()
    return DEFAULT_PAGER


class GlobalOptions(TypedDict, total=False):
    """The global options' values by name (None: not given). Its keys are the ``dest`` names of
    ``kmscli.cli.options.GLOBAL_OPTIONS``, where the options are declared (a test keeps them equal)."""

    output: str | None
    query: str | None
    region: str | None
    profile: str | None
    vault: str | None
    passphrase_file: str | None
    debug: bool | None
    no_cli_pager: bool | None
    color: str | None
    no_paginate: bool | None
    cli_binary_format: str | None
    endpoint_url: str | None
    no_verify_ssl: bool | None
    ca_bundle: str | None
    cli_read_timeout: int | None
    cli_connect_timeout: int | None
    no_sign_request: bool | None
    no_cli_auto_prompt: bool | None
    cli_error_format: str | None


class Invocation:
    """The parsed global options, the environment's sources, and (on first use) the settings."""

    __slots__ = ("_settings", "environ", "no_color", "no_progress", "options", "pager", "sources")

    def __init__(self, options: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        #: Global option values by name (``output``, ``query``, ``region``, ...; None when not given).
        self.options = cast(GlobalOptions, dict(options))
        #: The environment the invocation was started with (passed to a pager it starts).
        self.environ = environ
        self.sources = Sources.from_environ(environ, self.options.get("passphrase_file"))
        self.pager = pager_from(environ)
        self.no_color = bool(environ.get("NO_COLOR"))
        self.no_progress = bool(environ.get("KMSCLI_NO_PROGRESS"))
        self._settings: Settings | None = None

    def overrides(self) -> dict[str, Any]:
        """The global options that settings understand (None when not given)."""
        o = self.options
        return {
            "profile": o.get("profile"),
            "region": o.get("region"),
            "vault": o.get("vault"),
            "passphrase_file": o.get("passphrase_file"),
            "output": o.get("output"),
        }

    @property
    def settings(self) -> Settings:
        """The resolved settings, loaded on first use (a skeleton or a help never reads config)."""
        if self._settings is None:
            self._settings = load_settings(self.overrides(), self.environ)
        return self._settings

    def output(self, default: str | None = None) -> str:
        """``--output``, else the settings' output format (or ``default`` without loading settings)."""
        chosen = self.options.get("output")
        if chosen:
            return str(chosen)
        return default if default is not None else self.settings.output

    def __repr__(self) -> str:
        return f"Invocation(options={self.options!r}, sources={self.sources!r}, pager={self.pager!r})"
