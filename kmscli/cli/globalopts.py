"""The global options' Click-free parts: their names, ``--query`` checking, colour, settings.

``kmscli.cli.globals`` declares the options for Click; this module holds what the Click-free fast
path (``kmscli.cli.fastpath``) needs too, so neither path imports Click for it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from kmscli.cli.render import OUTPUT_FORMATS

#: Value-taking global options: name -> allowed values (None: any text). Mirrors globals.GLOBAL_OPTIONS
#: (tests/cli/test_fastpath.py checks the two agree).
GLOBAL_VALUE_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "--output": OUTPUT_FORMATS,
    "--query": None,
    "--region": None,
    "--profile": None,
    "--vault": None,
    "--passphrase-file": None,
    "--color": ("on", "off", "auto"),
}
#: Global flags (no value).
GLOBAL_FLAGS = ("--debug", "--no-cli-pager")
GLOBAL_NAMES = (
    "output",
    "query",
    "region",
    "profile",
    "vault",
    "passphrase_file",
    "debug",
    "no_cli_pager",
    "color",
)


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


def use_color(opts: dict[str, Any], stream: Any = None) -> bool:
    """Colour only on a terminal, never under NO_COLOR, unless --color on/off says otherwise."""
    choice = opts.get("color") or "auto"
    if choice != "auto":
        return bool(choice == "on")
    stream = stream or sys.stdout
    return bool(stream.isatty()) and not os.environ.get("NO_COLOR")


def settings_overrides(opts: dict[str, Any]) -> dict[str, Any]:
    """The subset of global options that settings.load_settings understands."""
    return {k: opts.get(k) for k in ("profile", "region", "vault", "passphrase_file", "output")}
