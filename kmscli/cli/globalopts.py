"""The global options' Click-free parts: building the Invocation, ``--query`` checking, colour.

The options themselves are declared once in ``kmscli.cli.options``; ``kmscli.cli.globals`` turns
them into Click options. The fast path (``kmscli.cli.fastpath``) and Click both end here, in
:func:`make_invocation`, so the invocation is resolved the same way whichever parsed it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from kmscli.cli.options import BLANK_REFUSED_GLOBALS, GLOBAL_NAMES, refuse_blank
from kmscli.invocation import Invocation

__all__ = ["GLOBAL_NAMES", "check_query", "make_invocation", "use_color"]

#: The environment the CLI runs in: ``kmscli.__main__.main`` sets it (``os.environ`` by default)
#: before parsing, so both parsers build their Invocation from the same mapping.
ENVIRON: list[Mapping[str, str]] = [os.environ]


def check_query(query: str) -> None:
    """Refuse a malformed ``--query`` before anything runs (a mutating call must not commit and
    then fail to print); exit 252 as the AWS CLI does."""
    import jmespath
    from jmespath.exceptions import JMESPathError

    from kmscli.errors import UsageError

    try:
        jmespath.compile(query)
    except (JMESPathError, RecursionError) as exc:
        raise UsageError(f"Bad value for --query {query[:200]}: {str(exc)[:300]}") from None


def _check_client_options(options: Mapping[str, Any]) -> None:
    """Validate the client-mode options (``kmscli.remote`` gives them their meaning)."""
    from kmscli.errors import UsageError

    for name in ("cli_read_timeout", "cli_connect_timeout"):
        value = options.get(name)
        if value is not None and value < 0:
            raise UsageError(f"argument --{name.replace('_', '-')}: must be 0 or more seconds, got {value}")
    url = options.get("endpoint_url")
    if url is None:
        return
    scheme, sep, rest = str(url).partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise UsageError(
            f'Bad value for --endpoint-url "{url}": scheme is missing. '
            "Must be of the form http://<hostname>/ or https://<hostname>/"
        )


def make_invocation(options: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Invocation:
    """The Invocation for these global option values (checked) and the CLI's environment."""
    if options.get("query") is not None:  # an empty --query is refused, as the AWS CLI does
        check_query(options["query"])
    refuse_blank(BLANK_REFUSED_GLOBALS, options)
    _check_client_options(options)
    return Invocation(options, ENVIRON[0] if environ is None else environ)


def use_color(inv: Invocation, stream: Any = None) -> bool:
    """Colour only on a terminal, never under NO_COLOR, unless --color on/off says otherwise."""
    choice = inv.options.get("color") or "auto"
    if choice != "auto":
        return bool(choice == "on")
    stream = stream or sys.stdout
    return bool(stream.isatty()) and not inv.no_color
