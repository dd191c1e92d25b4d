"""The one declaration of every command-line option: global options and each operation's options.

Click (``kmscli.cli.globals.click_option``, ``kmscli.cli.opcommand``), the Click-free fast path
(``kmscli.cli.fastpath``), the hand-written command groups (``cli/*_cmds.py``, through
``with_global_options``) and docgen (which reads the Click tree built from this) all consume these
:class:`Opt` records. A new option *kind* is added here (a ``KINDS`` entry), in
``globals.click_option`` and in ``fastpath``'s value reader; ``tests/cli/test_options.py`` fails
while one of them lacks it.

Also here, shared by both parsers: long-option abbreviation as argparse (and so the AWS CLI) does
it: every unambiguous prefix of a long option is that option; an ambiguous one is exit 252 naming
the candidates.

Click-free and cheap to import: the fast path imports it on every session ``kmscli encrypt``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
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
KINDS = (VALUE, LIST, INT, FLAG, BOOL, OPTIONAL, PATH)

# -- targets: where a parsed value goes -----------------------------------------------------------
VALUES = "values"  #: a request member (``dest`` is the member name)
EXTRA = "extra"  #: a per-command option run_operation reads (pagination, skeleton, ...)
OPTS = "opts"  #: a global option (``dest`` is its name in ``Invocation.options``)

#: ``--cli-binary-format``: how blob parameters given as text are read (the AWS CLI v2's choices).
BINARY_FORMATS = ("base64", "raw-in-base64-out")
#: ``--generate-cli-skeleton`` takes an optional value from these (``input`` when it is left out).
SKELETON_CHOICES = ("input", "output")


class Opt:
    """One option: its names, how its value is read, where it goes, and its help."""

    __slots__ = ("choices", "const", "dest", "help", "hidden", "kind", "name", "shape", "target")

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
    ) -> None:
        self.name, self.kind, self.target, self.dest, self.help = name, kind, target, dest, help
        self.choices, self.const, self.shape, self.hidden = choices, const, shape, hidden

    @property
    def names(self) -> tuple[str, ...]:
        """Every spelling: ``--name`` and, for a BOOL, ``--no-name``."""
        return (self.name, "--no-" + self.name[2:]) if self.kind == BOOL else (self.name,)

    @property
    def takes_value(self) -> bool:
        """Whether a value must follow (an OPTIONAL's value is optional, so no)."""
        return self.kind in (VALUE, LIST, INT, PATH)

    def __repr__(self) -> str:
        return f"Opt({self.name!r}, {self.kind!r}, {self.target!r}, {self.dest!r})"


def _global(name: str, kind: str, help: str, **kw: Any) -> Opt:
    return Opt(name, kind, OPTS, name[2:].replace("-", "_"), help, **kw)


#: The global options: accepted before the command and, as with the AWS CLI, after it.
GLOBAL_OPTIONS: tuple[Opt, ...] = (
    _global(
        "--output", VALUE, "Output format: json, text, table, yaml or yaml-stream.", choices=OUTPUT_FORMATS
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
        "A kmscli server to call instead of the local vault (client mode: not available in this build).",
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
)
#: Global option name -> its declaration.
GLOBALS_BY_NAME: dict[str, Opt] = {opt.name: opt for opt in GLOBAL_OPTIONS}
#: The keys of ``Invocation.options``.
GLOBAL_NAMES: tuple[str, ...] = tuple(opt.dest for opt in GLOBAL_OPTIONS)


@functools.cache
def operation_options(op_name: str) -> tuple[Opt, ...]:
    """The options of one KMS operation's command, from the model: a ``--kebab-name`` per input
    member (parsed by its shape), pagination options, ``--outfile`` where the model's ``cli``
    section names a member, ``--cli-input-json`` and ``--generate-cli-skeleton``."""
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
        out += [
            Opt("--max-items", INT, EXTRA, "max_items", "Total number of items to return."),
            Opt("--page-size", INT, EXTRA, "page_size", "Number of items fetched per service call."),
            Opt(
                "--starting-token",
                VALUE,
                EXTRA,
                "starting_token",
                "A NextToken from a previous truncated response.",
            ),
        ]
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
            "--generate-cli-skeleton",
            OPTIONAL,
            EXTRA,
            "generate_cli_skeleton",
            "Print a JSON skeleton of the request (or output) and exit.",
            choices=SKELETON_CHOICES,
            const="input",
        ),
    ]
    return tuple(out)


def extra_defaults(options: Iterable[Opt]) -> dict[str, Any]:
    """What ``run_operation`` receives for per-command options left out."""
    return {opt.dest: None for opt in options if opt.target == EXTRA}


def repeat_list_options(args: list[str], list_options: set[str]) -> list[str]:
    """``--opt a b c`` -> ``--opt a --opt b --opt c`` for the list options (how Click reads them)."""
    out: list[str] = []
    current: str | None = None
    for arg in args:
        if arg.startswith("--"):
            name = arg.split("=", 1)[0]
            current = name if name in list_options and "=" not in arg else None
            out.append(arg)
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
                from kmscli.errors import UsageError

                raise UsageError(f"ambiguous option: {name} could match {', '.join(sorted(matches))}")
            if matches:
                name = matches[0]
        out.append(name + eq + value)
        if not eq and value_options.get(name) and i < len(args):
            out.append(args[i])  # its value, whatever it looks like
            i += 1
    return out
