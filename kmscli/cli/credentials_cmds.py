"""``kmscli credentials``: access keys for callers of ``kmscli serve`` (create, list, delete)."""

from __future__ import annotations

from typing import Any

import click

from kmscli.cli.globals import Command, Group, pop_globals, with_global_options
from kmscli.cli.run import emit
from kmscli.invocation import Invocation


def _open(inv: Invocation) -> Any:
    from kmscli.cli.prompt import tty_prompt
    from kmscli.service.features.session import unlock

    return unlock(inv.settings, inv.sources, tty_prompt())


@click.group(cls=Group)
def credentials() -> None:
    """Access keys that AWS SDKs sign `kmscli serve` requests with."""


@credentials.command(cls=Command)
@click.option("--principal", required=True, help="IAM principal ARN the key acts as (key policies, grants).")
@click.option("--description", default="", help="A note shown by `credentials list`.")
@with_global_options
def create(principal: str, description: str, **kwargs: Any) -> None:
    """Create an access key; prints its id and secret (the secret is shown only this once)."""
    from kmscli.service.features import credentials as creds
    from kmscli.service.pipeline.core import system_random, utcnow

    inv = pop_globals(kwargs)
    vault = _open(inv)
    result = creds.create(vault, inv.settings, inv.sources, principal, description, system_random, utcnow())
    emit({"AccessKey": result}, inv, inv.output(), "AccessKey")


@credentials.command("list", cls=Command)
@with_global_options
def list_(**kwargs: Any) -> None:
    """List access keys (never their secrets)."""
    from kmscli.service.features import credentials as creds

    inv = pop_globals(kwargs)
    emit(creds.list_all(_open(inv)), inv, inv.output(), "AccessKeys")


@credentials.command(cls=Command)
@click.option("--access-key-id", required=True, help="The access key to delete.")
@with_global_options
def delete(access_key_id: str, **kwargs: Any) -> None:
    """Delete an access key: requests signed with it are refused from then on.

    Prints nothing, as the AWS CLI's delete commands, so --output does not apply."""
    from kmscli.errors import KMSError
    from kmscli.service.features import credentials as creds

    inv = pop_globals(kwargs)
    vault = _open(inv)
    try:
        creds.delete(vault, inv.settings, inv.sources, access_key_id)
    except KMSError as exc:
        exc.operation = "DeleteAccessKey"
        raise
