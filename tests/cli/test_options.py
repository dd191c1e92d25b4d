"""The one option declaration (kmscli/cli/options.py): every kind reads the same in Click and in the
fast path, and abbreviations follow argparse's rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest

from kmscli.cli import fastpath
from kmscli.cli import options as o
from kmscli.cli.globals import click_name, click_option
from kmscli.errors import UsageError

#: Command lines per kind: (args, expected value). Each kind must be listed: a new kind fails here
#: until Click (globals.click_option) and the fast path (fastpath._read) both read it.
CASES: dict[str, list[tuple[list[str], Any]]] = {
    o.VALUE: [(["--x", "v"], "v"), (["--x=v"], "v"), (["--x", "a", "--x", "b"], "b")],
    # a list option given again: its last occurrence wins, as with the AWS CLI's argparse
    o.LIST: [
        (["--x", "a", "b"], ("a", "b")),
        (["--x", "a", "--x", "b", "c"], ("b", "c")),
        (["--x=a"], ("a",)),
    ],
    o.INT: [(["--x", "7"], 7), (["--x=007"], 7)],
    o.FLAG: [(["--x"], True), ([], None)],
    o.BOOL: [(["--x"], True), (["--no-x"], False), (["--x", "--no-x"], False)],
    o.OPTIONAL: [(["--x"], "input"), (["--x", "output"], "output"), (["--x=input"], "input")],
    o.PATH: [(["--x", "out.bin"], "out.bin")],
    o.REPEAT: [(["--x", "a", "--x", "b"], ("a", "b")), (["--x=a"], ("a",)), ([], ())],
    o.EXISTING: [(["--x", "/"], Path("/")), (["--x=/"], Path("/"))],
}


def _declared(kind: str) -> o.Opt:
    if kind == o.OPTIONAL:
        return o.Opt("--x", kind, o.EXTRA, "x", choices=("input", "output"), const="input")
    return o.Opt("--x", kind, o.EXTRA, "x", const=True if kind == o.FLAG else None)


def _click_value(opt: o.Opt, args: list[str]) -> Any:
    command = click.Command("t", params=[click_option(opt)])
    args = o.repeat_list_options(args, {"--x"} if opt.kind == o.LIST else set())  # as OperationCommand
    value = command.make_context("t", list(args)).params[click_name(opt)]
    return tuple(value) if isinstance(value, list | tuple) else value


def _fast_value(opt: o.Opt, args: list[str]) -> Any:
    table = fastpath._spellings((opt,))
    assert table is not None
    dest: dict[str, dict[str, Any]] = {o.EXTRA: {"x": () if opt.kind in (o.LIST, o.REPEAT) else None}}
    assert fastpath._read(table, args, dest, root=False) == len(args)
    return dest[o.EXTRA]["x"]


def test_every_kind_has_cases() -> None:
    assert set(CASES) == set(o.KINDS)


@pytest.mark.parametrize(
    ("kind", "args", "expected"), [(k, a, e) for k, cases in CASES.items() for a, e in cases]
)
def test_click_and_the_fast_path_read_each_kind_alike(kind: str, args: list[str], expected: Any) -> None:
    opt = _declared(kind)
    assert _click_value(opt, args) == expected
    assert _fast_value(opt, args) == expected


def test_global_declarations_are_unique_and_named_after_their_options() -> None:
    names = [opt.name for opt in o.GLOBAL_OPTIONS]
    assert len(names) == len(set(names))
    assert all(
        opt.dest == opt.name[2:].replace("-", "_") and opt.target == o.OPTS for opt in o.GLOBAL_OPTIONS
    )
    assert tuple(opt.dest for opt in o.GLOBAL_OPTIONS) == o.GLOBAL_NAMES


def test_the_invocation_type_names_every_global_option() -> None:
    from kmscli.invocation import GlobalOptions

    assert list(GlobalOptions.__annotations__) == list(o.GLOBAL_NAMES)


KNOWN = {"--key-id": True, "--key-spec": True, "--dry-run": False, "--no-dry-run": False, "--tags": True}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--key-i", "k"], ["--key-id", "k"]),
        (["--key-id", "k"], ["--key-id", "k"]),
        (["--ta=a", "--dry"], ["--tags=a", "--dry-run"]),
        (["--key-id", "--dry"], ["--key-id", "--dry"]),  # a value, however it looks
        (["--tags", "a", "--", "--dry"], ["--tags", "a", "--", "--dry"]),
        (["--nope", "x"], ["--nope", "x"]),  # unknown: left for the parser's own error
        (["-h"], ["-h"]),
    ],
)
def test_expand_abbreviations(args: list[str], expected: list[str]) -> None:
    assert o.expand_abbreviations(args, KNOWN) == expected


def test_ambiguous_and_group_rules() -> None:
    with pytest.raises(UsageError, match="ambiguous option: --key could match --key-id, --key-spec"):
        o.expand_abbreviations(["--key", "k"], KNOWN)
    assert o.expand_abbreviations(["--dry", "cmd", "--key"], KNOWN, stop_at_command=True) == [
        "--dry-run",
        "cmd",
        "--key",
    ]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (["--output", "off", "audit", "tail"], ["audit", "tail", "--output", "off"]),
        (["--output", "off", "audit"], ["audit", "--output", "off"]),  # the query: the fast path
        (["audit", "--output", "jsonl", "stats"], ["audit", "stats", "--output", "jsonl"]),
        (["--output", "off", "audit", "checkpoint"], ["audit", "checkpoint", "--output", "off"]),
        (["--output", "off", "audit", "verify"], ["audit", "verify", "--output", "off"]),
        (["vault", "status", "--output", "jsonl"], ["--output", "jsonl", "vault", "status"]),
    ],
)
def test_an_output_a_command_cannot_print_has_one_message(
    cli: Any, before: list[str], after: list[str]
) -> None:
    """Given before the command or after it, an --output the command does not print is the same usage
    error, in Click's words and with its final period (``options.invalid_choice``), before anything runs."""
    events = len(cli("audit", "--output", "jsonl").out.splitlines())
    first, second = cli(*before), cli(*after)
    assert first.code == second.code == 252
    assert first.err == second.err and first.err.splitlines()[1].endswith(".")
    assert "Invalid value for '--output': " in first.err and "is not one of" in first.err
    assert len(cli("audit", "--output", "jsonl").out.splitlines()) == events  # nothing ran (no checkpoint)


def test_invalid_choice_is_clicks_wording() -> None:
    """The message Click gives for a bad choice, which kmscli gives everywhere (a test of the owner)."""
    import click

    from kmscli.cli.options import invalid_choice

    with pytest.raises(click.BadParameter) as caught:
        click.Choice(["json", "text"]).convert("x", click.Option(["--output"]), None)
    assert caught.value.format_message() == invalid_choice("--output", "x", ["json", "text"])
    with pytest.raises(click.BadParameter) as caught:
        click.Choice(["json"]).convert("x", click.Option(["--output"]), None)
    assert caught.value.format_message() == invalid_choice("--output", "x", ["json"])
