"""The one declaration of every command-line option: global options and each operation's options.

Click (``kmscli.cli.globals.click_option``, ``kmscli.cli.opcommand``), the Click-free fast path
(``kmscli.cli.fastpath``), the hand-written command groups (``cli/*_cmds.py``, through
``with_global_options``) and docgen (which reads the Click tree built from this) all consume these
:class:`Opt` records. A new option *kind* is added here, in one place: a :class:`Kind` in ``KINDS``
says both how Click declares it and how the fast path reads it (``tests/cli/test_options.py``
checks that the two read every kind alike).

Also here, shared by both parsers: long-option abbreviation as argparse (and so the AWS CLI) does
it: every unambiguous prefix of a long option is that option; an ambiguous one is exit 252 naming
the candidates.

Click-free and cheap to import: the fast path imports it on every session ``kmscli encrypt``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kmscli.settings import OUTPUT_FORMATS

# -- kinds: how an option's value is read -----------------------------------------------------------
VALUE = "value"  #: one text value
LIST = "list"  #: one or more values (``--opt a b c`` or repeated)
INT = "int"  #: one integer value
FLAG = "flag"  #: no value: stores ``const``
BOOL = "bool"  #: ``--name`` / ``--no-name``: True / False
OPTIONAL = "optional"  #: an optional value from ``choices``; ``const`` when none follows
PATH = "path"  #: a file path to write (not an existing folder)
REPEAT = "repeat"  #: one text value per occurrence, repeatable (``--opt a --opt b``; a group's option)
EXISTING = "existing"  #: an existing, readable file or folder to read (a ``pathlib.Path``)

# -- targets: where a parsed value goes -----------------------------------------------------------
VALUES = "values"  #: a request member (``dest`` is the member name)
EXTRA = "extra"  #: a per-command option run_operation reads (pagination, skeleton, ...)
OPTS = "opts"  #: a global option (``dest`` is its name in ``Invocation.options``)

#: ``--cli-binary-format``: how blob parameters given as text are read (the AWS CLI v2's choices).
BINARY_FORMATS = ("base64", "raw-in-base64-out")
#: ``--cli-error-format``: the AWS CLI v2's choices (``enhanced``, its default, and ``legacy`` print the
#: message; the others print the error's Code and Message in that output format).
ERROR_FORMATS = ("legacy", "json", "yaml", "text", "table", "enhanced")
#: ``--generate-cli-skeleton`` takes an optional value from these (``input`` when it is left out).
SKELETON_CHOICES = ("input", "output", "yaml-input")


class Opt:
    """One option: its names, how its value is read, where it goes, and its help."""

    __slots__ = (
        "choices",
        "const",
        "dest",
        "help",
        "hidden",
        "kind",
        "metavar",
        "minimum",
        "name",
        "shape",
        "target",
    )

    def __init__(
        self,
        name: str,
        kind: str,
        target: str,
        dest: str,
        help: str = "",
        *,
        choices: tuple[str, ...] | None = None,
        const: Any = None,
        shape: str | None = None,
        hidden: bool = False,
        metavar: str | None = None,
        minimum: int | None = None,
    ) -> None:
        self.name, self.kind, self.target, self.dest, self.help = name, kind, target, dest, help
        self.choices, self.const, self.shape, self.hidden = choices, const, shape, hidden
        self.metavar, self.minimum = metavar, minimum  # shown in help; an INT's lowest value

    @property
    def names(self) -> tuple[str, ...]:
        """Every spelling: ``--name`` and, for a BOOL, ``--no-name``."""
        return (self.name, "--no-" + self.name[2:]) if self.kind == BOOL else (self.name,)

    @property
    def takes_value(self) -> bool:
        """Whether a value must follow (an OPTIONAL's value is optional, so no)."""
        return KINDS[self.kind].takes_value

    def __repr__(self) -> str:
        return f"Opt({self.name!r}, {self.kind!r}, {self.target!r}, {self.dest!r})"


# -- what each kind means to Click and to the fast path ----------------------------------------------

#: The fast path's reader: (option, flag constant, ``--opt=VALUE``'s value or None, args, index of
#: the next arg) -> (value, next index), or None to leave the command line to Click.
Reader = Callable[[Opt, Any, "str | None", list[str], int], "tuple[Any, int] | None"]
#: Click's declaration: (option, the click module, choices, a type override) -> (option names,
#: ``click.Option`` keyword arguments).
Declarer = Callable[[Opt, Any, "tuple[str, ...] | None", Any], "tuple[list[str], dict[str, Any]]"]
Choices = tuple[str, ...] | None
Declared = tuple[list[str], dict[str, Any]]
Read = tuple[Any, int] | None


class Kind:
    """One option kind: whether a value must follow, how Click declares it, how the fast path reads it."""

    __slots__ = ("click", "name", "read", "takes_value")

    def __init__(self, name: str, takes_value: bool, click: Declarer, read: Reader) -> None:
        self.name, self.takes_value, self.click, self.read = name, takes_value, click, read


def _read_value(opt: Opt, const: Any, explicit: str | None, args: list[str], i: int) -> Read:
    if explicit is not None:
        value = explicit
    else:
        if i >= len(args) or args[i].startswith("-"):
            return None  # missing, or a value Click treats specially: Click's
        value, i = args[i], i + 1
    if opt.choices is not None and value not in opt.choices:
        return None
    return value, i


def _read_int(opt: Opt, const: Any, explicit: str | None, args: list[str], i: int) -> Read:
    taken = _read_value(opt, const, explicit, args, i)
    if taken is None or not (taken[0].isascii() and taken[0].isdigit()):
        return None
    value = int(taken[0])
    if opt.minimum is not None and value < opt.minimum:
        return None  # out of range: Click's error
    return value, taken[1]


def _read_existing(opt: Opt, const: Any, explicit: str | None, args: list[str], i: int) -> Read:
    """An existing, readable path, as ``click.Path(exists=True, path_type=Path)`` converts it; a
    missing or unreadable one is left to Click, which reports it."""
    import os

    taken = _read_value(opt, const, explicit, args, i)
    if taken is None or not taken[0]:
        return None
    try:
        os.stat(taken[0])
    except (OSError, ValueError):
        return None
    if not os.access(taken[0], os.R_OK):
        return None
    from pathlib import Path

    return Path(taken[0]), taken[1]


def _read_flag(opt: Opt, const: Any, explicit: str | None, args: list[str], i: int) -> Read:
    return None if explicit is not None else (const, i)


def _read_optional(opt: Opt, const: Any, explicit: str | None, args: list[str], i: int) -> Read:
    choices = opt.choices or ()
    if explicit is not None:
        return (explicit, i) if explicit in choices else None
    if i < len(args) and args[i] in choices:
        return args[i], i + 1
    if i >= len(args) or (args[i].startswith("-") and len(args[i]) > 1):
        return const, i  # Click's flag_value when no value follows
    return None


def _click_value(opt: Opt, click: Any, choices: Choices, type_: Any) -> Declared:
    if type_ is None and choices is not None:
        type_ = click.Choice(choices)
    return [opt.name], {"type": type_, "default": None, "multiple": opt.kind in (LIST, REPEAT)}


def _click_int(opt: Opt, click: Any, choices: Choices, type_: Any) -> Declared:
    if type_ is None and opt.minimum is not None:
        type_ = click.IntRange(min=opt.minimum)
    return [opt.name], {"type": type_ or int}


def _click_flag(opt: Opt, click: Any, choices: Choices, type_: Any) -> Declared:
    return [opt.name], {"is_flag": True, "flag_value": opt.const, "default": None}


def _click_bool(opt: Opt, click: Any, choices: Choices, type_: Any) -> Declared:
    return [f"{opt.name}/--no-{opt.name[2:]}"], {"default": None}


def _click_optional(opt: Opt, click: Any, choices: Choices, type_: Any) -> Declared:
    return [opt.name], {
        "type": type_ or click.Choice(choices or ()),
        "is_flag": False,
        "flag_value": opt.const,
    }


def _click_path(opt: Opt, click: Any, choices: Choices, type_: Any) -> Declared:
    return [opt.name], {"type": type_ or click.Path(dir_okay=False)}


def _click_existing(opt: Opt, click: Any, choices: Choices, type_: Any) -> Declared:
    from pathlib import Path

    return [opt.name], {"type": type_ or click.Path(exists=True, path_type=Path)}


#: Every option kind, by name: add a kind here and both parsers know it.
KINDS: dict[str, Kind] = {
    VALUE: Kind(VALUE, True, _click_value, _read_value),
    LIST: Kind(LIST, True, _click_value, _read_value),
    INT: Kind(INT, True, _click_int, _read_int),
    FLAG: Kind(FLAG, False, _click_flag, _read_flag),
    BOOL: Kind(BOOL, False, _click_bool, _read_flag),
    OPTIONAL: Kind(OPTIONAL, False, _click_optional, _read_optional),
    PATH: Kind(PATH, True, _click_path, _read_value),
    REPEAT: Kind(REPEAT, True, _click_value, _read_value),
    EXISTING: Kind(EXISTING, True, _click_existing, _read_existing),
}


def _global(name: str, kind: str, help: str, **kw: Any) -> Opt:
    return Opt(name, kind, OPTS, name[2:].replace("-", "_"), help, **kw)


#: The global options: accepted before the command and, as with the AWS CLI, after it.
GLOBAL_OPTIONS: tuple[Opt, ...] = (
    _global(
        "--output",
        VALUE,
        f"Output format: {', '.join(OUTPUT_FORMATS[:-1])} or {OUTPUT_FORMATS[-1]} (nothing on stdout).",
        choices=OUTPUT_FORMATS,
    ),
    _global("--query", VALUE, "A JMESPath query applied to the result."),
    _global(
        "--region",
        VALUE,
        "Region the keys live in (KMSCLI_REGION, AWS_REGION, AWS_DEFAULT_REGION; default from the profile).",
    ),
    _global("--profile", VALUE, "Profile in config.toml (KMSCLI_PROFILE)."),
    _global("--vault", VALUE, "Vault folder (KMSCLI_VAULT)."),
    _global(
        "--passphrase-file",
        VALUE,
        "File holding the vault passphrase (KMSCLI_PASSPHRASE_FILE); wins over KMSCLI_PASSPHRASE "
        "and KMSCLI_SESSION.",
    ),
    _global("--debug", FLAG, "Show tracebacks and debug details.", const=True),
    _global("--no-cli-pager", FLAG, "Never page output.", const=True),
    _global("--color", VALUE, "Colour in terminal output.", choices=("on", "off", "auto")),
    _global("--no-paginate", FLAG, "Make one service call only (no automatic pagination).", const=True),
    _global(
        "--cli-binary-format",
        VALUE,
        "How blob parameters given as text are read: base64 (default) or raw-in-base64-out (raw text).",
        choices=BINARY_FORMATS,
    ),
    _global(
        "--endpoint-url",
        VALUE,
        "Send the call to this endpoint (a kmscli serve, or AWS KMS) instead of the local vault (client mode).",
    ),
    _global("--no-verify-ssl", FLAG, "Client mode: do not verify the server's certificate.", const=True),
    _global("--ca-bundle", VALUE, "Client mode: CA certificates to verify the server with."),
    _global("--cli-read-timeout", INT, "Client mode: socket read timeout in seconds (0: none)."),
    _global("--cli-connect-timeout", INT, "Client mode: socket connect timeout in seconds (0: none)."),
    _global(
        "--no-sign-request", FLAG, "Accepted for the AWS CLI's sake: local calls are not signed.", const=True
    ),
    _global(
        "--no-cli-auto-prompt",
        FLAG,
        "Accepted for the AWS CLI's sake: kmscli never auto-prompts.",
        const=True,
    ),
    _global(
        "--cli-error-format",
        VALUE,
        "How errors are written to stderr (AWS_CLI_ERROR_FORMAT): enhanced or legacy (the message), or "
        "json, yaml, text or table (its Code and Message as data).",
        choices=ERROR_FORMATS,
    ),
)
#: Global option name -> its declaration.
GLOBALS_BY_NAME: dict[str, Opt] = {opt.name: opt for opt in GLOBAL_OPTIONS}
#: The keys of ``Invocation.options``.
GLOBAL_NAMES: tuple[str, ...] = tuple(opt.dest for opt in GLOBAL_OPTIONS)


def invalid_choice(option: str, value: str, choices: Iterable[str]) -> str:
    """The one message for a value outside an option's choices, in Click's words (its period
    included): Click's own check (``globals.Choice``) and the check of a root ``--output`` against
    a command that prints fewer formats (``auditquery.default_format``) both give it."""
    listed = tuple(choices)
    shown = ", ".join(repr(c) for c in listed)
    return f"Invalid value for {option!r}: {value!r} is not {'one of ' if len(listed) != 1 else ''}{shown}."


def narrowed_globals(formats: tuple[str, ...]) -> tuple[Opt, ...]:
    """The global options of a command that renders only ``formats``: ``--output`` limited to them."""
    output = _global("--output", VALUE, f"Output format: {', '.join(formats)}.", choices=formats)
    return tuple(output if opt.name == "--output" else opt for opt in GLOBAL_OPTIONS)


#: Global options naming a path, where an empty value must not stand for the default.
BLANK_REFUSED_GLOBALS: tuple[Opt, ...] = tuple(
    opt for opt in GLOBAL_OPTIONS if opt.name in ("--vault", "--passphrase-file")
)


def refuse_blank(options: Iterable[Opt], values: Mapping[str, Any]) -> None:
    """Usage error (252) when one of ``options`` was given an empty or blank text value (``values``
    by ``dest``): a script's unset variable (``--vault "$V"``, ``--principal "$WHO"``) must not be
    taken for the option left out, which would act on the default vault or widen a query."""
    for opt in options:
        value = values.get(opt.dest)
        for text in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(text, str) and not text.strip():
                from kmscli.errors import UsageError

                raise UsageError(f"Error parsing parameter '{opt.name}': expected a value, got {text!r}")


def refuse_non_text(options: Iterable[Opt], values: Mapping[str, Any]) -> None:
    """:func:`kmscli.errors.require_text` for every text value given to one of ``options``
    (``values`` by ``dest``)."""
    for opt in options:
        value = values.get(opt.dest)
        for text in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(text, str):
                from kmscli.errors import require_text

                require_text(text, opt.name)


def _filter(name: str, kind: str, help: str, **kw: Any) -> Opt:
    return Opt(name, kind, EXTRA, name[2:].replace("-", "_"), help, **kw)


#: What ``kmscli audit`` queries (and ``audit tail``) can print: ``--output``'s choices there.
AUDIT_QUERY_FORMATS = ("json", "jsonl", "text", "table", "yaml", "yaml-stream")

#: The event filters of ``kmscli audit`` queries, ``audit stats`` and ``audit tail`` (in help order).
AUDIT_FILTER_OPTIONS: tuple[Opt, ...] = (
    _filter(
        "--key-id",
        VALUE,
        "Key id, key ARN, alias name or alias ARN (an alias also matches events recorded under the "
        "alias name).",
    ),
    _filter("--event-name", REPEAT, "Event name, e.g. Decrypt (repeatable)."),
    _filter("--principal", VALUE, "Caller ARN, principal id or user/role name."),
    _filter("--start-time", VALUE, "ISO 8601 time or relative (30m, 1h, 7d, 2w ago)."),
    _filter("--end-time", VALUE, "ISO 8601 time or relative (30m, 1h, 7d, 2w ago)."),
    _filter("--errors-only", FLAG, "Only failed calls.", const=True),
    _filter(
        "--encryption-context",
        REPEAT,
        "Encryption context pair the request carried (repeatable; all must match).",
        metavar="K=V",
    ),
    _filter(
        "--access-key-id",
        VALUE,
        "Access key id the caller signed with (userIdentity.accessKeyId).",
        metavar="AKID",
    ),
    _filter(
        "--source-ip-address",
        VALUE,
        "Address the call came from (sourceIPAddress), compared exactly.",
        metavar="IP",
    ),
    _filter(
        "--log-file",
        EXISTING,
        "Query this log file (or folder of segments) instead of the vault's; no vault or passphrase needed.",
    ),
)
#: ``kmscli audit``'s own options beyond the filters (the query is the group itself).
AUDIT_QUERY_OPTIONS: tuple[Opt, ...] = (
    _filter("--max-items", INT, "Stop after this many events.", minimum=1),
)


#: The AWS CLI's client-side paging options of every list command (in help order).
PAGING_OPTIONS: tuple[Opt, ...] = (
    Opt("--max-items", INT, EXTRA, "max_items", "Total number of items to return."),
    Opt("--page-size", INT, EXTRA, "page_size", "Number of items fetched per service call."),
    Opt(
        "--starting-token", VALUE, EXTRA, "starting_token", "A NextToken from a previous truncated response."
    ),
)


@functools.cache
def operation_options(op_name: str) -> tuple[Opt, ...]:
    """The options of one KMS operation's command, from the model: a ``--kebab-name`` per input
    member (parsed by its shape), pagination options, ``--outfile`` where the model's ``cli``
    section names a member, ``--cli-input-json``, ``--cli-input-yaml`` and ``--generate-cli-skeleton``."""
    from kmscli.cli.request import kebab
    from kmscli.model import cli_extension, input_members, operation, paginator, shape

    pag = paginator(op_name)
    hidden = {pag["input_token"], pag["limit_key"]} if pag else set()
    required = set(shape(operation(op_name)["input"]).get("required", []))
    out: list[Opt] = []
    for member, spec in input_members(op_name).items():
        kind = shape(spec["shape"])["type"]
        help_text = spec.get("doc", "") + (" [required]" if member in required else "")
        opt_kind = BOOL if kind == "boolean" else LIST if kind == "list" else VALUE
        out.append(
            Opt(
                "--" + kebab(member),
                opt_kind,
                VALUES,
                member,
                help_text,
                shape=spec["shape"],
                hidden=member in hidden,
            )
        )
    if pag:
        out += PAGING_OPTIONS
    if member_to_file := cli_extension(op_name).get("outfile"):
        out.append(
            Opt(
                "--outfile",
                PATH,
                EXTRA,
                "outfile",
                f"Write {member_to_file} (raw bytes) to this file instead of printing it.",
            )
        )
    out += [
        Opt(
            "--cli-input-json",
            VALUE,
            EXTRA,
            "cli_input_json",
            "Read the request from JSON (file:// allowed); options override it.",
        ),
        Opt(
            "--cli-input-yaml",
            VALUE,
            EXTRA,
            "cli_input_yaml",
            "Read the request from YAML (file:// allowed); options override it.",
        ),
        Opt(
            "--generate-cli-skeleton",
            OPTIONAL,
            EXTRA,
            "generate_cli_skeleton",
            "Print a JSON skeleton of the request (or output), or a YAML one (yaml-input), and exit.",
            choices=SKELETON_CHOICES,
            const="input",
        ),
    ]
    return tuple(out)


def extra_defaults(options: Iterable[Opt]) -> dict[str, Any]:
    """What ``run_operation`` receives for per-command options left out."""
    return {opt.dest: None for opt in options if opt.target == EXTRA}


def repeat_list_options(args: list[str], list_options: set[str]) -> list[str]:
    """``--opt a b c`` -> ``--opt a --opt b --opt c`` for the list options (how Click reads them).

    A list option given twice keeps its last occurrence's values, as the AWS CLI's argparse does
    (``--operations Encrypt --operations Decrypt`` grants Decrypt only): earlier occurrences and
    their values are dropped."""
    last: dict[str, int] = {}
    for i, arg in enumerate(args):
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        if arg.startswith("--") and name in list_options:
            last[name] = i
    out: list[str] = []
    current: str | None = None
    dropping = False
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            name = arg.split("=", 1)[0]
            dropping = name in last and i < last[name]
            current = name if name in list_options and "=" not in arg else None
            if not dropping:
                out.append(arg)
        elif dropping:
            continue
        elif current is not None and out and out[-1] != current:
            out.extend((current, arg))
        else:
            out.append(arg)
    return out


# -- abbreviations --------------------------------------------------------------------------------


def expand_abbreviations(
    args: list[str], value_options: Mapping[str, bool], *, stop_at_command: bool = False
) -> list[str]:
    """``args`` with every unambiguous prefix of a long option replaced by the option's name.

    ``value_options`` maps each long option name of the command to whether a value follows it
    (that value is never read as an option). An exact name always wins; a prefix of several names
    is a UsageError (exit 252) listing them, as argparse says it; an unknown name is left for the
    parser to report. ``--`` ends options; with ``stop_at_command`` (a group) so does the first
    argument that is not an option.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            out.extend(args[i - 1 :])
            break
        if not arg.startswith("--") or len(arg) == 2:
            out.append(arg)
            if stop_at_command and not arg.startswith("-"):
                out.extend(args[i:])
                break
            continue
        name, eq, value = arg.partition("=")
        if name not in value_options:
            matches = [known for known in value_options if known.startswith(name)]
            if len(matches) > 1:
                from kmscli.errors import ArgumentError

                raise ArgumentError(f"ambiguous option: {name} could match {', '.join(sorted(matches))}")
            if matches:
                name = matches[0]
        out.append(name + eq + value)
        if not eq and value_options.get(name) and i < len(args):
            out.append(args[i])  # its value, whatever it looks like
            i += 1
    return out
