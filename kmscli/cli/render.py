"""Rendering results as the AWS CLI v2 does: json, text, table, yaml, after ``--query``."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import IO, Any


def jsonable(value: Any) -> Any:
    """Blobs to base64, timestamps to ISO 8601, recursively."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime):
        return value.isoformat()
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
    """awscli's ``--output text``."""
    out: list[str] = []
    if data is None:
        return ""
    _format_text(data, out)
    return "".join(out)


# -- yaml ------------------------------------------------------------------------------------------------


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    plain = (
        text
        and text.strip() == text
        and not any(c in text for c in ":#{}[],&*!|>'\"%@`\n\t")
        and text[0] not in "-?"
        and text.lower() not in ("true", "false", "null", "yes", "no", "on", "off", "~")
        and not _looks_numeric(text)
    )
    return text if plain else json.dumps(text, ensure_ascii=False)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _yaml(value: Any, indent: int, out: list[str]) -> None:
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            out.append(pad + "{}\n")
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{_yaml_scalar(key)}:\n")
                _yaml(item, indent + (1 if isinstance(item, dict) else 0), out)
            else:
                out.append(
                    f"{pad}{_yaml_scalar(key)}: {_yaml_scalar(item) if not isinstance(item, dict | list) else ('{}' if isinstance(item, dict) else '[]')}\n"
                )
    elif isinstance(value, list):
        if not value:
            out.append(pad + "[]\n")
        for item in value:
            if isinstance(item, dict | list) and item:
                sub: list[str] = []
                _yaml(item, indent + 1, sub)
                first = sub[0].lstrip()
                out.append(f"{pad}- {first}")
                out.extend(sub[1:])
            else:
                out.append(
                    f"{pad}- {_yaml_scalar(item) if not isinstance(item, dict | list) else ('{}' if isinstance(item, dict) else '[]')}\n"
                )
    else:
        out.append(pad + _yaml_scalar(value) + "\n")


def to_yaml(data: Any) -> str:
    """A YAML document (block style) for JSON-like data."""
    out: list[str] = []
    _yaml(data, 0, out)
    return "".join(out)


# -- table -------------------------------------------------------------------------------------------------


def to_table(data: Any, title: str, color: bool, width: int | None = None) -> str:
    """A rich rendering akin to the AWS CLI's table view."""
    from rich.console import Console
    from rich.table import Table

    def build(value: Any, heading: str) -> Any:
        if isinstance(value, dict):
            table = Table(title=heading, show_header=False, expand=False)
            table.add_column("Key", style="bold")
            table.add_column("Value")
            for key, item in value.items():
                table.add_row(str(key), build(item, key) if isinstance(item, dict | list) else str(item))
            return table
        if isinstance(value, list):
            if value and all(isinstance(v, dict) for v in value):
                cols = list(dict.fromkeys(k for v in value for k in v))
                table = Table(title=heading)
                for col in cols:
                    table.add_column(col)
                for v in value:
                    table.add_row(
                        *[
                            build(v[c], c) if isinstance(v.get(c), dict | list) else str(v.get(c, ""))
                            for c in cols
                        ]
                    )
                return table
            table = Table(title=heading, show_header=False)
            table.add_column(heading)
            for v in value:
                table.add_row(build(v, heading) if isinstance(v, dict | list) else str(v))
            return table
        return str(value)

    import io

    buf = io.StringIO()
    if width is None:
        import shutil

        width = shutil.get_terminal_size((120, 24)).columns  # honours COLUMNS
    console = Console(file=buf, force_terminal=color, no_color=not color, width=width)
    console.print(build(data, title))
    return buf.getvalue()


def render(data: Any, fmt: str, *, title: str = "", color: bool = False) -> str:
    """Render ``data`` (already JSON-able) in ``fmt``."""
    if fmt == "json":
        return json.dumps(data, indent=4, ensure_ascii=False) + "\n"
    if fmt == "text":
        return to_text(data)
    if fmt in ("yaml", "yaml-stream"):
        return to_yaml(data)
    if fmt == "table":
        return to_table(data, title, color)
    raise ValueError(fmt)


def write(stream: IO[str], text: str) -> None:
    """Write and flush (stdout carries only results)."""
    stream.write(text)
    stream.flush()
