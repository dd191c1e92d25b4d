"""A plain, sorted description of the Click command tree, shared by the completion and man generators."""

from __future__ import annotations

from dataclasses import dataclass, field

import click

from kmscli.cli.globals import GLOBAL_NAMES

#: Options whose values are key ids or alias names (completed from the vault without the passphrase).
KEY_OPTIONS = {"--key-id", "--target-key-id", "--destination-key-id", "--source-key-id"}
ALIAS_OPTIONS = {"--alias-name"}


def _value_lists() -> dict[str, list[str]]:
    """Options whose values come from a known list, though Click takes any text: completed from it,
    never with file names."""
    from kmscli.policy.actions import all_actions
    from kmscli.service.pipeline.registry import OPERATION_MODULES

    return {"--action": sorted(all_actions()), "--event-name": sorted(OPERATION_MODULES)}


def _argument_values(path: tuple[str, ...]) -> list[str]:
    """What the first positional argument of a command completes to (never file names)."""
    if path in (("configure", "set"), ("configure", "get")):
        from kmscli.service.features.configure import KEYS

        return list(KEYS)
    return []


@dataclass
class Opt:
    """One option of a command."""

    names: list[str]
    takes_value: bool
    metavar: str
    help: str
    choices: list[str]
    is_global: bool
    required: bool

    @property
    def dynamic(self) -> str:
        """``keys`` (key ids and aliases), ``aliases`` or ``""``: what the vault can complete."""
        if set(self.names) & KEY_OPTIONS:
            return "keys"
        if set(self.names) & ALIAS_OPTIONS:
            return "aliases"
        return ""


@dataclass
class Cmd:
    """One command or group, with its path below ``kmscli``."""

    path: tuple[str, ...]
    help: str
    short_help: str
    options: list[Opt]
    arguments: list[str]
    children: list[Cmd] = field(default_factory=list)
    argument_values: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """The first sentence of the help (what a listing shows)."""
        from kmscli.cli.listing import first_sentence

        return first_sentence(self.help) or self.short_help

    @property
    def name(self) -> str:
        """``kmscli vault backup``."""
        return " ".join(("kmscli", *self.path))

    def walk(self) -> list[Cmd]:
        """This command and every descendant, depth first, sorted."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def _option(param: click.Option) -> Opt:
    names = [n for n in [*param.opts, *param.secondary_opts] if n.startswith("--")]
    choices: list[str] = []
    ptype = param.type
    if isinstance(ptype, click.Choice) or hasattr(ptype, "choices"):
        choices = [str(c) for c in ptype.choices]
    takes_value = not param.is_flag and not param.count
    metavar = "" if not takes_value else (ptype.name.upper() if ptype.name else "VALUE")
    if not choices:
        choices = next((v for n, v in _value_lists().items() if n in names), [])
    if choices:
        metavar = "CHOICE"
    return Opt(
        names=names,
        takes_value=takes_value,
        metavar=metavar,
        help=" ".join((param.help or "").split()),
        choices=choices,
        is_global=param.name in GLOBAL_NAMES,
        required=param.required or "[required]" in (param.help or ""),
    )


def describe(cmd: click.Command, ctx: click.Context, path: tuple[str, ...] = ()) -> Cmd:
    """Describe ``cmd`` and, for a group, every visible subcommand (sorted by name)."""
    options = [
        _option(p) for p in cmd.params if isinstance(p, click.Option) and not p.hidden and p.name != "version"
    ]
    if not path:
        options.append(Opt(["--version"], False, "", "Show the version and exit.", [], True, False))
    options.append(Opt(["--help"], False, "", "Show the help and exit.", [], True, False))
    arguments = [p.human_readable_name.upper() for p in cmd.params if isinstance(p, click.Argument)]
    help_text = (cmd.help or "").strip()
    short = cmd.get_short_help_str(limit=80) if path else "the aws kms commands, offline"
    node = Cmd(path, help_text, short, options, arguments, argument_values=_argument_values(path))
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.list_commands(ctx)):
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            node.children.append(describe(sub, click.Context(sub, parent=ctx, info_name=name), (*path, name)))
    return node


def root() -> Cmd:
    """The whole ``kmscli`` tree."""
    from kmscli.cli.main import cli

    return describe(cli, click.Context(cli, info_name="kmscli"))
