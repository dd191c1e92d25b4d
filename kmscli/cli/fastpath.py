"""A Click-free fast path for KMS operation commands (``kmscli encrypt ...``) and audit queries.

Importing Click costs more than a session Encrypt itself, so ``kmscli.__main__`` first offers the
command line to :func:`parse`, which reads it from the one option declaration the generated Click
commands come from (``kmscli.cli.options``). It accepts only the plain forms those commands
accept: global options before or after the command, ``--opt value``, ``--opt=value``, list
options with several values, ``--flag``/``--no-flag`` booleans, pagination options,
``--cli-input-json``, ``--generate-cli-skeleton``, and unambiguous abbreviations of all of them. Anything else (help, ``--version``, unknown
options, values that start with ``-``, extra arguments, missing values, bad choices, ``--outfile``,
non-KMS command groups) returns None and the full Click path runs, so every error message stays
Click's. A parsed command line yields exactly the ``(values, extra, opts)`` the Click callback would
pass to :func:`kmscli.cli.run.run_operation`; ``tests/cli/test_fastpath.py`` checks that differentially.

An audit query (``kmscli audit`` and its filters, no subcommand) is read the same way from
``options.AUDIT_FILTER_OPTIONS``, ``AUDIT_QUERY_OPTIONS`` and the global options with ``--output``
narrowed to the query's formats, and runs :func:`kmscli.cli.auditquery.run_query`, as the Click
group's callback does; a subcommand, ``--help``, ``--endpoint-url`` (refused by Click), a missing
``--log-file`` or an out-of-range ``--max-items`` go to Click (``tests/cli/test_fastpath_audit.py``).
"""

from __future__ import annotations

import errno
import functools
import sys
from typing import Any

from kmscli.cli import options as o

#: The variable Click's shell completion looks for (``_{PROG}_COMPLETE``, prog name ``kmscli``).
COMPLETE_VAR = "_KMSCLI_COMPLETE"


#: ``Parsed.command`` of an audit query (``kmscli audit`` with options and no subcommand).
AUDIT = "audit"
#: ``Parsed.command`` of a KMS operation command.
OPERATION = "operation"


class Parsed:
    """A command line the fast path accepted: what the Click callback would hand to run_operation
    (``command`` OPERATION), or to ``auditquery.run_query`` (AUDIT: the options in ``extra``)."""

    __slots__ = ("command", "extra", "op_name", "opts", "values")

    def __init__(
        self,
        op_name: str,
        values: dict[str, Any],
        extra: dict[str, Any],
        opts: dict[str, Any],
        command: str = OPERATION,
    ) -> None:
        self.op_name, self.values, self.extra, self.opts = op_name, values, extra, opts
        self.command = command


def _spellings(options: tuple[o.Opt, ...]) -> dict[str, tuple[o.Opt, Any]] | None:
    """Every spelling -> (declaration, the constant it stores for a flag); None on a clash."""
    table: dict[str, tuple[o.Opt, Any]] = {}
    for opt in options:
        spelled = (
            ((opt.name, True), ("--no-" + opt.name[2:], False))
            if opt.kind == o.BOOL
            else ((opt.name, opt.const),)
        )
        for name, const in spelled:
            if name in table:
                return None
            table[name] = (opt, const)
    return table


_GLOBAL_TABLE = _spellings(o.GLOBAL_OPTIONS) or {}
_GLOBAL_VALUE_OPTIONS = {name: opt.takes_value for name, (opt, _) in _GLOBAL_TABLE.items()}


@functools.cache
def _operation_names() -> dict[str, str]:
    """Command name -> operation name for the model's operations (the model is loaded anyway; the
    registry, which imports the service core, is consulted only for a command that is one)."""
    from kmscli.cli.request import command_name
    from kmscli.model import model

    return {command_name(op): op for op in model()["operations"]}


def _registered(op_name: str) -> bool:
    """Whether cli/main.py lists the operation as a command (it lists the registry's operations)."""
    from kmscli.service.pipeline.registry import OPERATION_MODULES

    return op_name in OPERATION_MODULES


@functools.cache
def option_table(
    op_name: str,
) -> tuple[dict[str, tuple[o.Opt, Any]], dict[str, bool], dict[str, Any], dict[str, Any]] | None:
    """One operation command's options (``options.operation_options`` and the global options):
    spelling -> (declaration, flag constant), spelling -> takes a value, and the defaults of
    ``values`` and ``extra``. None when the command has an option the fast path leaves to Click
    (a ``--outfile`` path, or a name that clashes with another option)."""
    declared = o.operation_options(op_name)
    if any(opt.kind == o.PATH for opt in declared):
        return None  # click.Path checks the path: leave --outfile commands to Click
    table = _spellings((*declared, *o.GLOBAL_OPTIONS))
    if table is None:
        return None
    values = {opt.dest: (() if opt.kind == o.LIST else None) for opt in declared if opt.target == o.VALUES}
    takes = {name: opt.takes_value for name, (opt, _) in table.items()}
    return table, takes, values, o.extra_defaults(declared)


def _store(opt: o.Opt, value: Any, dest: dict[str, dict[str, Any]]) -> None:
    target = dest[opt.target]
    if opt.kind in (o.LIST, o.REPEAT):
        target[opt.dest] = (*target[opt.dest], value)
    else:
        target[opt.dest] = value


def _read(
    table: dict[str, tuple[o.Opt, Any]], args: list[str], dest: dict[str, dict[str, Any]], *, root: bool
) -> int | None:
    """Read options from ``args`` into ``dest``: the index where reading stopped (the command, for
    ``root``; the end otherwise), or None when Click must handle the command line."""
    current: o.Opt | None = None  # the list option that bare values after it extend
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            if root:
                return i if not arg.startswith("-") else None
            if current is None or arg.startswith("-"):
                return None  # an extra argument, or a short option: Click's error
            _store(current, arg, dest)
            i += 1
            continue
        i += 1
        name, eq, explicit = arg.partition("=")
        found = table.get(name)
        current = None
        if found is None:
            return None
        opt, const = found
        taken = o.KINDS[opt.kind].read(opt, const, explicit if eq else None, args, i)
        if taken is None:
            return None
        value, i = taken
        if opt.kind == o.LIST:  # given again: the last occurrence wins, as in the AWS CLI
            dest[opt.target][opt.dest] = ()
        _store(opt, value, dest)
        if opt.kind == o.LIST and not eq:
            current = opt
    return None if root else i


def parse(args: list[str]) -> Parsed | None:
    """Parse a KMS operation command line as the generated Click command would, or return None.

    None means "let Click handle it": the fast path never reports an error of its own.
    """
    from kmscli.cli.globalopts import ENVIRON
    from kmscli.errors import UsageError

    if COMPLETE_VAR in ENVIRON[0]:  # Click answers shell completion instead of running the command
        return None
    try:
        args = o.expand_abbreviations(args, _GLOBAL_VALUE_OPTIONS, stop_at_command=True)
    except UsageError:
        return None  # ambiguous: Click reports it
    root: dict[str, dict[str, Any]] = {o.OPTS: dict.fromkeys(o.GLOBAL_NAMES)}
    index = _read(_GLOBAL_TABLE, args, root, root=True)
    if index is None:
        return None
    if args[index] == AUDIT:
        return _parse_audit(root[o.OPTS], args[index + 1 :])
    op_name = _operation_names().get(args[index])
    if op_name is None or not _registered(op_name):
        return None  # a command group (vault, audit, ...) or no command at all: Click's
    built = option_table(op_name)
    if built is None:
        return None
    table, takes, value_defaults, extra_defaults = built
    try:
        rest = o.expand_abbreviations(args[index + 1 :], takes)
    except UsageError:
        return None
    dest: dict[str, dict[str, Any]] = {
        o.VALUES: dict(value_defaults),
        o.EXTRA: dict(extra_defaults),
        o.OPTS: {},
    }
    if _read(table, rest, dest, root=False) is None:
        return None
    opts = root[o.OPTS]
    opts.update({k: v for k, v in dest[o.OPTS].items() if v is not None})
    return Parsed(op_name, dest[o.VALUES], dest[o.EXTRA], opts)


@functools.cache
def audit_table() -> tuple[dict[str, tuple[o.Opt, Any]], dict[str, bool], dict[str, Any]]:
    """The audit query's options, as :func:`option_table` gives an operation's: spelling ->
    (declaration, flag constant), spelling -> takes a value (``--help`` too, so an abbreviation of
    it is one here as in Click), and the defaults of the parsed values."""
    declared = (
        *o.AUDIT_FILTER_OPTIONS,
        *o.AUDIT_QUERY_OPTIONS,
        *o.narrowed_globals(o.AUDIT_QUERY_FORMATS),
    )
    table = _spellings(declared)
    assert table is not None, "the audit query's options clash"  # tests/cli/test_fastpath_audit.py
    takes = {name: opt.takes_value for name, (opt, _) in table.items()}
    takes["--help"] = False
    defaults = {opt.dest: (() if opt.kind == o.REPEAT else None) for opt in declared if opt.target == o.EXTRA}
    return table, takes, defaults


def _parse_audit(root_opts: dict[str, Any], args: list[str]) -> Parsed | None:
    """An audit query's options after ``audit``, or None (a subcommand, help, anything unusual)."""
    from kmscli.errors import UsageError

    table, takes, defaults = audit_table()
    try:
        rest = o.expand_abbreviations(args, takes, stop_at_command=True)
    except UsageError:
        return None
    dest: dict[str, dict[str, Any]] = {o.EXTRA: dict(defaults), o.OPTS: {}}
    if _read(table, rest, dest, root=False) is None:
        return None
    opts = dict(root_opts)
    opts.update({k: v for k, v in dest[o.OPTS].items() if v is not None})
    if opts.get("endpoint_url"):
        return None  # refused, with the command's path in the message: Click's
    return Parsed(AUDIT, {}, dest[o.EXTRA], opts, command=AUDIT)


def execute(parsed: Parsed) -> None:
    """Run a parsed command as the Click callback does (its Invocation built and checked first), with what
    ``click.Command.main`` does around it: an interrupt or end of input ends the command (exit 130,
    ``kmscli.__main__`` writes the AWS CLI's newline on stdout); a broken pipe on output exits 1 quietly."""
    from kmscli.cli.globalopts import make_invocation

    try:
        if parsed.command == AUDIT:
            from kmscli.cli.auditquery import given_filters, run_query

            inv = make_invocation(parsed.opts)
            run_query(inv, given_filters(parsed.extra), parsed.extra["max_items"])
            return
        from kmscli.cli.run import run_operation

        run_operation(parsed.op_name, parsed.values, parsed.extra, make_invocation(parsed.opts))
    except EOFError:
        raise KeyboardInterrupt from None  # end of input at a prompt ends the command as Ctrl-C does
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout = _PacifyFlush(sys.stdout)
        sys.stderr = _PacifyFlush(sys.stderr)
        sys.exit(1)


class _PacifyFlush:
    """Click's ``_PacifyFlushWrapper``: the interpreter's final flush of a broken pipe stays quiet."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        """Flush, ignoring EPIPE."""
        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.wrapped, attr)
