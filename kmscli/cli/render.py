"""Rendering results as the AWS CLI v2 does: json, text, table, yaml, after ``--query``."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from typing import IO, Any

from kmscli.clock import to_millis

# Characters a terminal acts on rather than prints: C0 controls (ESC starts window-title, conceal and
# clear-screen sequences), DEL, C1 controls (0x9b is a one-byte CSI), and the Unicode bidirectional
# overrides and isolates, which reorder what is shown. Zero-width and line/paragraph separators too.
_UNSAFE = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))},
    **{c: f"\\u{c:04x}" for c in (0x200B, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F))},
    **{c: f"\\u{c:04x}" for c in range(0x2066, 0x206A)},
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
}
#: The same, keeping line feeds and tabs: for text output on a terminal, where lines are the format.
_UNSAFE_KEEP_LINES = {c: v for c, v in _UNSAFE.items() if c not in (0x09, 0x0A)}


def visible(value: Any, *, keep_lines: bool = False) -> str:
    """A caller-supplied value made safe to print on a terminal: control characters, DEL, C1 and
    bidi/zero-width characters shown as escapes (``\\x1b``, ``\\n``, ``\\u202e``), everything else as is.
    Human-readable views (table, text, the audit and policy views) print values through this; JSON and
    YAML output stay exact (their encoders escape such characters themselves)."""
    text = value if isinstance(value, str) else str(value)
    return text.translate(_UNSAFE_KEEP_LINES if keep_lines else _UNSAFE)


def cell(value: Any) -> Any:
    """A rich table cell holding ``value`` as plain text: made ``visible`` and never read as markup, so
    a value such as ``[/][green]Allowed`` is shown literally and cannot restyle or forge a row."""
    from rich.text import Text

    return Text(visible(value))


def markup_value(value: Any) -> str:
    """``value`` made ``visible`` and escaped for a rich markup string (for views that mix markup
    with caller-supplied values)."""
    from rich.markup import escape

    return escape(visible(value))


def jsonable(value: Any) -> Any:
    """Blobs to base64, timestamps to ISO 8601 (to the millisecond, as the AWS CLI shows what AWS
    sends), recursively."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        return to_millis(value).isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def apply_query(data: Any, query: str | None) -> Any:
    """Apply a JMESPath expression (``--query``). An expression that compiles but fails on the
    result (an unknown function, an argument of the wrong type or number) is the AWS CLI's general
    error: its message alone, exit 255, after the call ran (``check_query`` refused the rest)."""
    if not query:
        return data
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return jmespath.search(query, data)
    except JMESPathError as exc:
        from kmscli.errors import KmscliError

        raise KmscliError(str(exc)) from None


# -- text: a port of awscli's text formatter -------------------------------------------------------


def _scalar(value: Any) -> str:
    return str(value)


def _format_text(
    item: Any, out: list[str], identifier: str | None = None, scalar_keys: list[str] | None = None
) -> None:
    if isinstance(item, dict):
        _format_dict(scalar_keys, item, identifier, out)
    elif isinstance(item, list):
        _format_list(item, identifier, out)
    else:
        out.append(_scalar(item) + "\n")


def _format_list(item: list[Any], identifier: str | None, out: list[str]) -> None:
    if not item:
        return
    if any(isinstance(el, dict) for el in item):
        keys = sorted(
            {
                k
                for el in item
                if isinstance(el, dict)
                for k, v in el.items()
                if not isinstance(v, dict | list)
            }
        )
        for element in item:
            _format_text(element, out, identifier, keys)
    elif any(isinstance(el, list) for el in item):
        scalars = [el for el in item if not isinstance(el, list | dict)]
        if scalars:
            _format_scalar_list(scalars, identifier, out)
        for el in item:
            if isinstance(el, list | dict):
                _format_text(el, out, identifier)
    else:
        _format_scalar_list(item, identifier, out)


def _format_scalar_list(elements: list[Any], identifier: str | None, out: list[str]) -> None:
    if identifier is not None:
        out.extend(f"{identifier.upper()}\t{_scalar(el)}\n" for el in elements)
    else:
        out.append("\t".join(_scalar(el) for el in elements) + "\n")


def _format_dict(
    scalar_keys: list[str] | None, item: dict[str, Any], identifier: str | None, out: list[str]
) -> None:
    scalars: list[str] = []
    non_scalars: list[tuple[str, Any]] = []
    if scalar_keys is None:
        for key, value in sorted(item.items()):
            if isinstance(value, dict | list):
                non_scalars.append((key, value))
            else:
                scalars.append(_scalar(value))
    else:
        scalars = [_scalar(item.get(key, "")) for key in scalar_keys]
        non_scalars = [(k, item[k]) for k in sorted(set(item) - set(scalar_keys))]
    if scalars:
        if identifier is not None:
            scalars.insert(0, identifier.upper())
        out.append("\t".join(scalars) + "\n")
    for new_identifier, value in non_scalars:
        _format_text(value, out, new_identifier)


def to_text(data: Any) -> str:
    """awscli's ``--output text``: a null (``--query`` matching nothing) is the line ``None``, as
    the AWS CLI prints it, so ``[ "$(... --output text)" = None ]`` works the same."""
    out: list[str] = []
    _format_text(data, out)
    return "".join(out)


# -- yaml ------------------------------------------------------------------------------------------------
# PyYAML's safe emitter (libyaml when built with it), imported only when YAML is asked for. The AWS CLI
# v2 uses ruamel.yaml's safe dumper, which is PyYAML's emitter under another name: block style, keys
# sorted (ruamel's safe representer sorts every mapping, so `aws kms list-keys --output yaml` prints
# KeyArn before KeyId), non-ASCII kept, strings that would read back as another type quoted, control
# characters escaped in double quotes. Which text is quoted follows YAML 1.2, as ruamel.yaml decides it
# (``_YAML12_IMPLICIT``). So the output is the AWS CLI's, and a YAML 1.2 reader reads it back exactly.


#: What a plain scalar must not look like, by YAML 1.2's rules as ruamel.yaml's safe dumper applies
#: them (its ``implicit_resolvers`` for version 1.2): (tag, pattern, the first characters it can start
#: with; ``""`` for the empty string). PyYAML quotes by YAML 1.1's, where ``yes``, ``on``, ``off``,
#: ``no``, ``y`` and ``1:30`` are booleans and numbers too, so kmscli printed ``'yes'`` where the AWS
#: CLI v2 prints ``yes``.
_YAML12_IMPLICIT = (
    ("bool", r"(?:true|True|TRUE|false|False|FALSE)\Z", "tTfF"),
    (
        "float",
        r"(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
        r"|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z",
        "-+0123456789.",
    ),
    ("int", r"(?:[-+]?0b[0-1_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+)\Z", "-+0123456789"),
    ("merge", r"(?:<<)\Z", "<"),
    ("null", r"(?:~|null|Null|NULL|)\Z", "~nN"),
    (
        "timestamp",
        r"(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
        r"(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?"
        r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)\Z",
        "0123456789",
    ),
    ("value", r"(?:=)\Z", "="),
    ("yaml", r"(?:!|&|\*)\Z", "!&*"),
)
_yaml_dumper: list[Any] = []  # built on first use: YAML output only


def _dumper() -> Any:
    """PyYAML's safe dumper (libyaml's emitter when PyYAML has it, as ruamel.yaml's C emitter in the
    AWS CLI v2) with YAML 1.2's rules for which text to quote."""
    if not _yaml_dumper:
        import re

        import yaml

        class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
            yaml_implicit_resolvers: dict[str, list[Any]] = {}

        for name, pattern, first in _YAML12_IMPLICIT:
            starts = [*first, ""] if name == "null" else list(first)
            Dumper.add_implicit_resolver(f"tag:yaml.org,2002:{name}", re.compile(pattern), starts)
        _yaml_dumper.append(Dumper)
    return _yaml_dumper[0]


def _yaml_dump(data: Any) -> str:
    import yaml

    text: str = yaml.dump(
        data, Dumper=_dumper(), default_flow_style=False, sort_keys=True, allow_unicode=True, width=80
    )
    return text


def to_yaml(data: Any) -> str:
    """``--output yaml``: one YAML document. A lone scalar (a ``--query`` result) is written as JSON,
    as the AWS CLI v2 writes it (``"text"``, ``3``, ``null``), not as a YAML document ended by
    ``...``."""
    if data is None or isinstance(data, bool | int | float | str):
        return json.dumps(data, ensure_ascii=False) + "\n"
    return _yaml_dump(data)


def to_yaml_stream_item(data: Any) -> str:
    """``--output yaml-stream``: one response page as an item of the top-level YAML sequence, as the
    AWS CLI v2 writes it; a paginated listing prints one item per page, as each page arrives, and the
    concatenated items form a single valid YAML list."""
    return _yaml_dump([data])


# -- table -------------------------------------------------------------------------------------------------
# The AWS CLI's ``--output table`` (awscli/formatter.py TableFormatter over awscli/table.py MultiTable, the
# same in v1 and v2), rebuilt from its rules; tests/cli/test_table.py holds golden outputs of the AWS
# CLI's own formatter. ASCII only: ``-`` rules, ``|`` borders, ``+`` corners; one section per structure
# or list, titled by its key (the operation name at the top) and indented by ``|`` on both sides for
# each level of nesting. A structure's scalars are one row under their sorted names (a lone scalar a
# ``name | value`` row); a list of structures is one row per item under the union of their scalar names
# (an item's nested values follow it, the header repeated before each next item); a list of scalars is
# one column. Nested values follow their scalars, sorted by key. Every section is as wide as the widest
# (each column its longest value plus 4, scaled to that width), titles and headers centred, values
# left-aligned after two spaces. When that is wider than the terminal (80 columns when stdout is not
# one), each single-row section with a header turns into ``name | value`` rows. A cell counts East Asian
# wide, fullwidth and ambiguous characters as two columns. Colour (``--color on``, or a terminal) makes
# values bright blue and the nesting borders dim yellow.

_ROW_STYLE = ("\x1b[1m\x1b[34m", "\x1b[0m")  # values: bright blue
_EDGE_STYLE = ("\x1b[2m\x1b[33m", "\x1b[0m")  # the nesting borders: dim yellow


def text_width(text: str) -> int:
    """Columns ``text`` takes in a table: East Asian wide, fullwidth and ambiguous characters count
    two, every other character one (the AWS CLI's ``get_text_length``)."""
    from unicodedata import east_asian_width

    if text.isascii():
        return len(text)
    return sum(2 if east_asian_width(ch) in "WFA" else 1 for ch in text)


class _Section:
    """One titled block of a table: optional column names, rows of cells, its nesting level."""

    __slots__ = ("headers", "indent", "rows", "title", "widths")

    def __init__(self, title: str | None, indent: int) -> None:
        self.title, self.indent = (None if title is None else visible(title)), indent
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self.widths: list[int] = []  # each column's widest cell (header included)

    def _measure(self, cells: list[str]) -> None:
        if not self.widths:
            self.widths = [text_width(c) for c in cells]
            return
        for i, cell_text in enumerate(cells):
            if i < len(self.widths):
                self.widths[i] = max(self.widths[i], text_width(cell_text))
            else:
                self.widths.append(text_width(cell_text))

    def set_headers(self, headers: list[str]) -> None:
        self.headers = [visible(h) for h in headers]
        self._measure(self.headers)

    def add_row(self, values: list[Any]) -> None:
        """Add a row of values (shown as ``str`` shows them: ``True``, ``None``, ``1.5``). A row
        longer or shorter than the section's first (possible only in a ``--query`` result such as
        ``[[1, 2], [3]]``, which the AWS CLI refuses with an error) is drawn with empty cells."""
        cells = [visible(v) for v in values]
        self.rows.append(cells)
        self._measure(cells)

    def title_width(self) -> int:
        # a section without a title (a list inside a list) is measured as the word None, as the
        # AWS CLI measures it
        return text_width("None" if self.title is None else self.title)

    def total_width(self) -> int:
        cells = sum(w + 4 for w in self.widths) + 2 + 2 * self.indent
        return max(self.title_width() + 2 + 2 * self.indent, cells)

    def scaled_widths(self, width: int) -> list[int]:
        """Each column's width, scaled so that they add up to ``width``: rounded half to even, then
        the difference taken from the first columns (or given to the last ones)."""
        unscaled = [w + 4 for w in self.widths]
        if not unscaled:
            return []
        factor = width / float(sum(unscaled))
        scaled = [round(factor * w) for w in unscaled]  # half to even, as Python rounds
        off_by = sum(scaled) - width
        while off_by != 0:
            order = range(len(scaled)) if off_by > 0 else reversed(range(len(scaled)))
            for i in order:
                if off_by > 0:
                    scaled[i] -= 1
                    off_by -= 1
                else:
                    scaled[i] += 1
                    off_by += 1
                if off_by == 0:
                    break
        return scaled


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _split_keys(item: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the keys holding scalars, the keys holding structures or lists), each sorted."""
    return sorted(k for k, v in item.items() if _is_scalar(v)), sorted(
        k for k, v in item.items() if not _is_scalar(v)
    )


class _TableBuilder:
    """Walks a result into sections, in the order and shape the AWS CLI's TableFormatter gives them."""

    def __init__(self) -> None:
        self.sections: list[_Section] = []
        self.current: _Section | None = None

    def _section(self, title: str | None, indent: int) -> _Section:
        self.current = _Section(title, indent)
        self.sections.append(self.current)
        return self.current

    def _here(self) -> _Section:
        return self.current if self.current is not None else self._section(None, 0)

    def build(self, title: str | None, value: Any, indent: int = 0) -> bool:
        if not value:
            return False
        if title is not None:
            self._section(title, indent)
        if isinstance(value, list):
            if isinstance(value[0], dict):
                self._list_of_structures(value, indent, title)
            else:
                for item in value:
                    if _is_scalar(item):
                        self._here().add_row([item])
                    elif all(_is_scalar(el) for el in item):  # a structure here shows its keys
                        self._here().add_row(list(item))
                    else:
                        self.build(None, item)
        elif isinstance(value, dict):
            self._structure(value, indent)
        return True

    def _structure(self, value: dict[str, Any], indent: int) -> None:
        scalars, nested = _split_keys(value)
        if len(scalars) == 1:
            self._here().add_row([scalars[0], value[scalars[0]]])
        elif scalars:
            self._here().set_headers(scalars)
            self._here().add_row([value[k] for k in scalars])
        for key in nested:
            self.build(key, value[key], indent + 1)

    def _list_of_structures(self, items: list[Any], indent: int, title: str | None) -> None:
        scalars: set[str] = set()
        nested: set[str] = set()
        for item in items:
            if isinstance(item, dict):
                found = _split_keys(item)
                scalars.update(found[0])
                nested.update(found[1])
        headers, more = sorted(scalars), sorted(nested)
        self._here().set_headers(headers)
        for n, item in enumerate(items):
            item = item if isinstance(item, dict) else {}  # [{...}, 5] (a --query result): a blank row
            if n and more:
                self._section(title, indent).set_headers(headers)
            self._here().add_row([item.get(h, "") for h in headers])
            for key in more:
                if key in item:
                    self.build(key, item[key], indent + 1)


def _vertical(section: _Section) -> _Section:
    """A single-row section with a header as ``name | value`` rows."""
    turned = _Section(section.title, section.indent)
    for header, value in zip(section.headers, section.rows[0], strict=False):
        turned.add_row([header, value])
    return turned


def _centred(text: str, length: int, left: str, right: str) -> str:
    """``text`` centred between the edges in ``length`` columns (a text too long pushes the right
    edge out, as in the AWS CLI)."""
    size = text_width(text)
    start = length // 2 - size // 2 - 1
    so_far = text_width(left) + start + size
    return left + " " * start + text + " " * (length - text_width(right) - so_far) + right


def _left(text: str, length: int, left: str, shown: str) -> str:
    """``text`` after two spaces (none when they do not fit), padded to ``length`` columns."""
    size = text_width(text)
    padding = 2 if length - (size + 2 + len(left) + 1) >= 0 else 0
    return left + " " * padding + shown + " " * (length - len(left) - padding - size - 1) + "|"


def _rule(widths: list[int]) -> str:
    return "".join(
        ("+" + "-" * (w - 2) + "+") if i == 0 else ("-" * (w - 1) + "+") for i, w in enumerate(widths)
    )


def _render_section(section: _Section, width: int, color: bool, out: list[str]) -> None:
    edge = "|" if not color else _EDGE_STYLE[0] + "|" + _EDGE_STYLE[1]
    pad = edge * section.indent
    width -= 2 * section.indent
    lines: list[str] = []
    if section.title:
        lines.append(_centred(section.title, width, "|", "|"))
        if not section.headers and not section.rows:
            lines.append("+" + "-" * (width - 2) + "+")
    widths = section.scaled_widths(width)
    if section.headers:
        lines.append(_rule(widths))
        lines.append(
            "".join(
                _centred(h, w, "|" if i == 0 else "", "|")
                for i, (w, h) in enumerate(zip(widths, section.headers, strict=False))
            )
        )
    if section.rows and widths:
        lines.append(_rule(widths))
        for cells in section.rows:
            row = cells + [""] * (len(widths) - len(cells))
            lines.append(
                "".join(
                    _left(v, w, "|" if i == 0 else "", _ROW_STYLE[0] + v + _ROW_STYLE[1] if color else v)
                    for i, (w, v) in enumerate(zip(widths, row, strict=False))
                )
            )
        lines.append(_rule(widths))
    out.extend(pad + line + pad + "\n" for line in lines)


def terminal_width(stream: Any = None) -> int:
    """The width a table is fitted to: the terminal's, when standard output is one, else 80 (as the
    AWS CLI asks the terminal; ``COLUMNS`` plays no part)."""
    import os

    try:
        return os.get_terminal_size((stream or sys.stdout).fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 80


def to_table(data: Any, title: str, color: bool, width: int | None = None) -> str:
    """``data`` as the AWS CLI's ``--output table`` draws it (the rules above), fitted to ``width``
    columns (default: the terminal's). Every name and value is made ``visible`` first: control
    characters are shown as escapes. Empty when there is nothing to show (the AWS CLI prints nothing
    for an empty result)."""
    builder = _TableBuilder()
    if not builder.build(title, data):
        return ""
    sections = builder.sections
    widest = max(s.total_width() for s in sections)
    if widest > (terminal_width() if width is None else width):
        sections = [_vertical(s) if len(s.rows) == 1 and s.headers else s for s in sections]
        widest = max(s.total_width() for s in sections)
    out = ["-" * widest + "\n"]
    for section in sections:
        _render_section(section, widest, color, out)
    return "".join(out)


def prints_nothing(data: Any, fmt: str) -> bool:
    """Whether the AWS CLI v2 prints nothing for ``data`` (the response after ``--query``): an empty
    object in every format (an operation without output), and in a table anything empty or false;
    text prints every other value, a null as ``None``. ``off`` prints nothing at all."""
    if fmt == "off":
        return True
    if fmt == "table":
        return not data
    return isinstance(data, dict) and not data


def render(data: Any, fmt: str, *, title: str = "", color: bool = False, terminal: bool = False) -> str:
    """Render ``data`` (already JSON-able) in ``fmt``. ``--output text`` is data for scripts and stays
    exact when piped (`--query Policy --output text > policy.json`); on a ``terminal`` its control
    characters other than line feeds and tabs are shown as escapes."""
    if fmt == "json":
        return json.dumps(data, indent=4, ensure_ascii=False) + "\n"
    if fmt == "text":
        text = to_text(data)
        return visible(text, keep_lines=True) if terminal else text
    if fmt == "yaml":
        return to_yaml(data)
    if fmt == "yaml-stream":
        return to_yaml_stream_item(data)
    if fmt == "table":
        return to_table(data, title, color)
    if fmt == "off":
        return ""
    raise ValueError(fmt)


def write(stream: IO[str], text: str) -> None:
    """Write and flush (stdout carries only results)."""
    stream.write(text)
    stream.flush()
