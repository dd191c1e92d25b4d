"""Rendering results as the AWS CLI v2 does: json, text, table, yaml, after ``--query``."""

from __future__ import annotations

import base64
import datetime as dt
import json
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
    """Apply a JMESPath expression (``--query``)."""
    if not query:
        return data
    import jmespath

    return jmespath.search(query, data)


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
# characters escaped in double quotes. So the output is the AWS CLI's, and it always reads back exactly.


def _yaml_dump(data: Any) -> str:
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text: str = yaml.dump(
        data, Dumper=dumper, default_flow_style=False, sort_keys=True, allow_unicode=True, width=80
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


def to_table(data: Any, title: str, color: bool, width: int | None = None) -> str:
    """A rich rendering akin to the AWS CLI's table view. Cells fold rather than cut: a key id or ARN
    too long for its column wraps onto the next line, whole, never ending in an ellipsis. Every value is
    plain text (``cell``): control characters shown as escapes, markup never interpreted."""
    from rich.console import Console
    from rich.table import Table

    def build(value: Any, heading: str) -> Any:
        if isinstance(value, dict):
            table = Table(title=cell(heading), show_header=False, expand=False)
            table.add_column("Key", style="bold", overflow="fold")
            table.add_column("Value", overflow="fold")
            for key, item in value.items():
                table.add_row(cell(key), build(item, key) if isinstance(item, dict | list) else cell(item))
            return table
        if isinstance(value, list):
            if value and all(isinstance(v, dict) for v in value):
                cols = list(dict.fromkeys(k for v in value for k in v))
                table = Table(title=cell(heading))
                for col in cols:
                    table.add_column(cell(col), overflow="fold")
                for v in value:
                    table.add_row(
                        *[
                            build(v[c], c) if isinstance(v.get(c), dict | list) else cell(v.get(c, ""))
                            for c in cols
                        ]
                    )
                return table
            table = Table(title=cell(heading), show_header=False)
            table.add_column(cell(heading), overflow="fold")
            for v in value:
                table.add_row(build(v, heading) if isinstance(v, dict | list) else cell(v))
            return table
        return cell(value)

    import io

    buf = io.StringIO()
    if width is None:
        import shutil

        width = shutil.get_terminal_size((120, 24)).columns  # honours COLUMNS
    console = Console(file=buf, force_terminal=color, no_color=not color, width=width)
    console.print(build(data, title))
    return buf.getvalue()


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
