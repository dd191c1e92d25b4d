"""Command listings in ``--help``: each subcommand's first sentence, whole, wrapped by the formatter.

Click's default listing cuts a description to the space left on the line (``...``), and an explicit
``short_help`` is printed as given; neither may cut a description mid-word or mid-sentence here.
"""

from __future__ import annotations

import re

import click

from kmscli.cli.globals import Group


def first_sentence(text: str) -> str:
    """The first sentence of a help text, whitespace folded, without its final full stop."""
    flat = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|\Z)", flat)
    return (match.group(1) if match else flat).rstrip(".")


class ListingGroup(Group):
    """A group (abbreviations and short usage errors as ``globals.Group``) whose ``--help`` lists each
    subcommand with its whole first sentence."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The Commands section: name, then the first sentence of its help (wrapped, never cut)."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is None or cmd.hidden:
                continue
            rows.append((name, first_sentence(cmd.help or cmd.short_help or "")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
