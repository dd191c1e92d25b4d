"""docs/cli.md's examples: each command line exits as the page says, with AWS's error line."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _examples() -> list[tuple[dict[str, str], list[str], int, str | None]]:
    text = DOC.read_text()
    block = re.search(r"Examples \(.*?\n```sh\n(.*?)```", text, re.S)
    assert block, "docs/cli.md lost its examples"
    out = []
    for line in block.group(1).splitlines():
        command, _, comment = line.partition("#")
        code, *rest = comment.split()
        words = shlex.split(command)
        env = {}
        while "=" in words[0]:
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        assert words[0] == "kmscli"
        error = rest[0] if rest and rest[0].endswith("Exception") else None
        out.append((env, words[1:], int(code), error))
    return out


@pytest.mark.parametrize("environ,args,code,error", _examples(), ids=lambda v: str(v))
def test_documented_exit_codes(
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
    args: list[str],
    code: int,
    error: str | None,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    res = cli(*args)
    assert res.code == code, res.err
    assert "Traceback" not in res.err
    if error:
        op = "".join(part.title() for part in args[0].split("-"))
        assert f"An error occurred ({error}) when calling the {op} operation: " in res.err


def test_every_command_takes_the_documented_output_formats() -> None:
    """README: `--output json|text|table|yaml|yaml-stream|off` and `--query` work on every command,
    `off` not on `audit`. `audit checkpoint` used to refuse yaml-stream."""
    from kmscli.docgen.tree import root

    documented = {"json", "text", "table", "yaml", "yaml-stream", "off"}
    wrong = {}
    for cmd in root().walk():
        if cmd.children or not cmd.path or cmd.path[0].startswith("_"):
            continue
        names = {name for opt in cmd.options for name in opt.names}
        output = next((opt for opt in cmd.options if "--output" in opt.names), None)
        expected = documented - {"off"} if cmd.path[0] == "audit" else documented
        if output is None or "--query" not in names or not expected <= set(output.choices):
            wrong[cmd.name] = output.choices if output else None
    assert not wrong
