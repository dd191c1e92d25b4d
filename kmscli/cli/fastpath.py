"""A Click-free fast path for KMS operation commands (``kmscli encrypt ...``).

Importing Click costs more than a session Encrypt itself, so ``kmscli.__main__`` first offers the
command line to :func:`parse`, which reads it from the same model declaration the generated Click
commands come from (``kmscli.cli.opcommand.build_command``). It accepts only the plain forms those
commands accept: global options before or after the command, ``--opt value``, ``--opt=value``,
list options with several values, ``--flag``/``--no-flag`` booleans, pagination options,
``--cli-input-json`` and ``--generate-cli-skeleton``. Anything else (help, ``--version``, unknown
options, values that start with ``-``, extra arguments, missing values, bad choices, ``--outfile``,
non-KMS command groups) returns None and the full Click path runs, so every error message stays
Click's. A parsed command line yields exactly the ``(values, extra, opts)`` the Click callback would
pass to :func:`kmscli.cli.run.run_operation`; ``tests/cli/test_fastpath.py`` checks that differentially.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from typing import Any

from kmscli.cli.globalopts import GLOBAL_FLAGS, GLOBAL_NAMES, GLOBAL_VALUE_OPTIONS

#: The variable Click's shell completion looks for (``_{PROG}_COMPLETE``, prog name ``kmscli``).
COMPLETE_VAR = "_KMSCLI_COMPLETE"
#: ``--generate-cli-skeleton`` takes an optional value from these (``input`` when it is left out).
SKELETON_CHOICES = ("input", "output")

# what an option does, in an operation's option table
_VALUE = "value"  # one text value: (kind, target, key)
_LIST = "list"  # several values, collected in a tuple
_FLAG = "flag"  # no value: stores a constant
_INT = "int"  # one integer value
_SKELETON = "skeleton"  # --generate-cli-skeleton's optional value

#: Where a parsed value goes: the request ``values``, the ``extra`` options, or the global ``opts``.
_VALUES, _EXTRA, _OPTS = "values", "extra", "opts"


class _Spec:
    """How one option is parsed and where its value goes (a plain class: no dataclass machinery
    on the start-up path)."""

    __slots__ = ("choices", "const", "key", "kind", "target")

    def __init__(
        self, kind: str, target: str, key: str, const: Any = None, choices: tuple[str, ...] | None = None
    ) -> None:
        self.kind, self.target, self.key, self.const, self.choices = kind, target, key, const, choices


class Parsed:
    """A command line the fast path accepted: what the Click callback would hand to run_operation."""

    __slots__ = ("extra", "op_name", "opts", "values")

    def __init__(
        self, op_name: str, values: dict[str, Any], extra: dict[str, Any], opts: dict[str, Any]
    ) -> None:
        self.op_name, self.values, self.extra, self.opts = op_name, values, extra, opts


def _global_specs() -> dict[str, _Spec]:
    specs = {
        name: _Spec(_VALUE, _OPTS, name[2:].replace("-", "_"), choices=choices)
        for name, choices in GLOBAL_VALUE_OPTIONS.items()
    }
    specs.update({name: _Spec(_FLAG, _OPTS, name[2:].replace("-", "_"), const=True) for name in GLOBAL_FLAGS})
    return specs


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
def option_table(op_name: str) -> tuple[dict[str, _Spec], dict[str, Any], dict[str, Any]] | None:
    """Options of one operation's command -> spec, plus the defaults of ``values`` and ``extra``.

    Built as ``opcommand.build_command`` builds the Click options. None when the operation has
    an option the fast path leaves to Click (a name that clashes with another option, ``--outfile``).
    """
    from kmscli.cli.request import kebab
    from kmscli.model import cli_extension, input_members, paginator, shape

    table: dict[str, _Spec] = {}
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}

    def add(name: str, spec: _Spec) -> bool:
        if name in table:
            return False
        table[name] = spec
        return True

    for member, spec in input_members(op_name).items():
        kind = shape(spec["shape"])["type"]
        flag = "--" + kebab(member)
        if kind == "boolean":
            ok = add(flag, _Spec(_FLAG, _VALUES, member, const=True))
            ok = add("--no-" + flag[2:], _Spec(_FLAG, _VALUES, member, const=False)) and ok
            values[member] = None
        elif kind == "list":
            ok = add(flag, _Spec(_LIST, _VALUES, member))
            values[member] = ()
        else:
            ok = add(flag, _Spec(_VALUE, _VALUES, member))
            values[member] = None
        if not ok:
            return None
    if paginator(op_name):
        specs = {
            "--max-items": _Spec(_INT, _EXTRA, "max_items"),
            "--page-size": _Spec(_INT, _EXTRA, "page_size"),
            "--starting-token": _Spec(_VALUE, _EXTRA, "starting_token"),
            "--no-paginate": _Spec(_FLAG, _EXTRA, "no_paginate", const=True),
        }
        for name, item in specs.items():
            if not add(name, item):
                return None
        extra.update(max_items=None, page_size=None, starting_token=None, no_paginate=False)
    if cli_extension(op_name).get("outfile"):
        return None  # click.Path checks the path: leave --outfile commands to Click
    if not add("--cli-input-json", _Spec(_VALUE, _EXTRA, "cli_input_json")):
        return None
    if not add("--generate-cli-skeleton", _Spec(_SKELETON, _EXTRA, "generate_cli_skeleton")):
        return None
    extra.update(cli_input_json=None, generate_cli_skeleton=None)
    for name, item in _global_specs().items():
        if not add(name, item):
            return None
    return table, values, extra


def _plain_value(value: str) -> bool:
    """A value Click would take as the option's value without any special case."""
    return not value.startswith("-")


def _store(spec: _Spec, value: Any, dest: dict[str, dict[str, Any]]) -> None:
    target = dest[spec.target]
    if spec.kind == _LIST:
        target[spec.key] = (*target[spec.key], value)
    else:
        target[spec.key] = value


def _take_value(spec: _Spec, explicit: str | None, rest: list[str], i: int) -> tuple[Any, int] | None:
    """The value of a value-taking option at ``rest[i-1]``: (value, next index), or None to fall back."""
    if explicit is not None:
        value = explicit
    else:
        if i >= len(rest) or not _plain_value(rest[i]):
            return None
        value = rest[i]
        i += 1
    if spec.choices is not None and value not in spec.choices:
        return None
    if spec.kind == _INT:
        if not (value.isascii() and value.isdigit()):
            return None
        return int(value), i
    return value, i


def _parse_root(args: list[str]) -> tuple[dict[str, Any], int] | None:
    """Global options before the command: (their values, index of the command), or None."""
    specs = _global_specs()
    root: dict[str, Any] = dict.fromkeys(GLOBAL_NAMES)
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, eq, explicit = args[i].partition("=")
        spec = specs.get(name)
        i += 1
        if spec is None:
            return None
        if spec.kind == _FLAG:
            if eq:
                return None
            root[spec.key] = spec.const
            continue
        taken = _take_value(spec, explicit if eq else None, args, i)
        if taken is None:
            return None
        root[spec.key], i = taken
    return (root, i) if i < len(args) else None


def parse(args: list[str]) -> Parsed | None:
    """Parse a KMS operation command line as the generated Click command would, or return None.

    None means "let Click handle it": the fast path never reports an error of its own.
    """
    if COMPLETE_VAR in os.environ:  # Click answers shell completion instead of running the command
        return None
    head = _parse_root(args)
    if head is None:
        return None
    root, index = head
    op_name = _operation_names().get(args[index])
    if op_name is None or not _registered(op_name):
        return None  # a command group (vault, audit, ...) or no command at all: Click's
    built = option_table(op_name)
    if built is None:
        return None
    table, value_defaults, extra_defaults = built
    dest: dict[str, dict[str, Any]] = {
        _VALUES: dict(value_defaults),
        _EXTRA: dict(extra_defaults),
        _OPTS: {},
    }
    rest = args[index + 1 :]
    current: _Spec | None = None  # the list option that bare values after it extend
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if not arg.startswith("--"):
            if current is None or not _plain_value(arg):
                return None  # an extra argument, or a short option: Click's error
            _store(current, arg, dest)
            continue
        name, eq, explicit = arg.partition("=")
        spec = table.get(name)
        current = None
        if spec is None:
            return None
        if spec.kind == _FLAG:
            if eq:
                return None
            _store(spec, spec.const, dest)
        elif spec.kind == _SKELETON:
            if eq:
                if explicit not in SKELETON_CHOICES:
                    return None
                _store(spec, explicit, dest)
            elif i < len(rest) and rest[i] in SKELETON_CHOICES:
                _store(spec, rest[i], dest)
                i += 1
            elif i >= len(rest) or (rest[i].startswith("-") and len(rest[i]) > 1):
                _store(spec, "input", dest)  # Click's flag_value when no value follows
            else:
                return None
        else:
            taken = _take_value(spec, explicit if eq else None, rest, i)
            if taken is None:
                return None
            value, i = taken
            _store(spec, value, dest)
            if spec.kind == _LIST and not eq:
                current = spec
    opts = dict(root)
    opts.update({k: v for k, v in dest[_OPTS].items() if v is not None})
    return Parsed(op_name, dest[_VALUES], dest[_EXTRA], opts)


def execute(parsed: Parsed) -> None:
    """Run a parsed command as the Click callback does (``--query`` checked first), with what
    ``click.Command.main`` does around it: an interrupt or end of input prints a newline on stderr
    and aborts (exit 130); a broken pipe on output exits 1 quietly."""
    from kmscli.cli.run import run_operation

    try:
        if parsed.opts.get("query"):
            from kmscli.cli.globalopts import check_query

            check_query(parsed.opts["query"])
        run_operation(parsed.op_name, parsed.values, parsed.extra, parsed.opts)
    except (EOFError, KeyboardInterrupt):
        sys.stderr.write("\n")
        sys.stderr.flush()
        raise KeyboardInterrupt from None  # what kmscli.__main__ does for click's Abort
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
