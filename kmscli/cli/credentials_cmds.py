"""``kmscli credentials``: access keys for callers of ``kmscli serve`` (create, list, delete)."""

from __future__ import annotations

from typing import Any

import click

from kmscli.cli.globals import pop_globals, settings_overrides, with_global_options
from kmscli.cli.run import emit


def _open(opts: dict[str, Any]) -> tuple[Any, Any]:
    from kmscli.cli.prompt import tty_prompt
    from kmscli.service.features.session import unlock
    from kmscli.settings import load_settings

    settings = load_settings(settings_overrides(opts))
    return settings, unlock(settings, tty_prompt())


@click.group()
def credentials() -> None:
    """Access keys that AWS SDKs sign `kmscli serve` requests with."""


@credentials.command()
@click.option("--principal", required=True, help="IAM principal ARN the key acts as (key policies, grants).")
@click.option("--description", default="", help="A note shown by `credentials list`.")
@with_global_options
def create(principal: str, description: str, **kwargs: Any) -> None:
    """Create an access key; prints its id and secret (the secret is shown only this once)."""
    from kmscli.service.features import credentials as creds
    from kmscli.service.pipeline.core import system_random, utcnow

    opts = pop_globals(kwargs)
    settings, vault = _open(opts)
    result = creds.create(vault, settings, principal, description, system_random, utcnow())
    emit({"AccessKey": result}, opts, opts.get("output") or settings.output, "AccessKey")


@credentials.command("list")
@with_global_options
def list_(**kwargs: Any) -> None:
    """List access keys (never their secrets)."""
    from kmscli.service.features import credentials as creds

    opts = pop_globals(kwargs)
    settings, vault = _open(opts)
    emit(creds.list_all(vault), opts, opts.get("output") or settings.output, "AccessKeys")


@credentials.command()
@click.option("--access-key-id", required=True, help="The access key to delete.")
@with_global_options
def delete(access_key_id: str, **kwargs: Any) -> None:
    """Delete an access key: requests signed with it are refused from then on."""
    from kmscli.errors import KMSError
    from kmscli.service.features import credentials as creds

    opts = pop_globals(kwargs)
    settings, vault = _open(opts)
    try:
        creds.delete(vault, settings, access_key_id)
    except KMSError as exc:
        exc.operation = "DeleteAccessKey"  # type: ignore[attr-defined]
        raise
