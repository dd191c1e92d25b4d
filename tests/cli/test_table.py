"""``--output table``: the AWS CLI's ASCII tables, checked against its own formatter's output.

The golden outputs in ``tests/cli/table_vectors.json`` were generated once by
``tools/gen_table_vectors.py`` (``make table-vectors``), which runs the AWS CLI's ``TableFormatter``
(``awscli/formatter.py`` over ``awscli/table.py``, installed as the ``awscli`` test dependency; that
code is the same in the AWS CLI v2) on each case's response, ``--query``, terminal width and colour
choice. Cases: structures (one row, and turned into name/value rows when too wide), nesting, lists of
scalars, lists of structures with differing keys, empty results, unicode and wide characters,
``--query`` results that are scalars, lists and lists of lists, narrow and zero-width terminals,
colour. kmscli's renderer (``kmscli/cli/render.py``) is its own code; these tests hold it to the
same output byte for byte, and ``test_vectors_are_what_the_aws_cli_writes`` re-runs the generator
to show the committed file is still the AWS CLI's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kmscli.cli import render

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((Path(__file__).parent / "table_vectors.json").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_tables_match_the_aws_cli_formatter(case: dict[str, Any]) -> None:
    data = render.apply_query(case["response"], case["query"])
    shown = (
        ""
        if render.prints_nothing(data, "table")
        else render.to_table(data, case["title"], case["color"], case["width"])
    )
    assert shown == case["expected"]


def test_vectors_are_what_the_aws_cli_writes() -> None:
    import importlib.util

    # looked up, not imported: importing awscli adds its data folder to AWS_DATA_PATH in os.environ,
    # which would hide botocore's own models from every later test
    if importlib.util.find_spec("awscli") is None:
        pytest.skip("the awscli test dependency is not installed")
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_table_vectors.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (
        done.stderr or "tools/gen_table_vectors.py no longer writes the committed vectors"
    )


def test_the_vectors_cover_what_matters() -> None:
    """Each behaviour the AWS CLI's formatter has is in at least one vector (so none can go untested)."""
    text = "".join(c["expected"] for c in VECTORS)
    assert "||" in text and "|||" in text  # nesting
    assert any(c["expected"] == "" for c in VECTORS)  # empty results print nothing
    assert any(c["color"] and "\x1b[1m\x1b[34m" in c["expected"] for c in VECTORS)
    assert any(c["width"] < 60 for c in VECTORS) and any(c["width"] >= 200 for c in VECTORS)
    assert any("名前" in c["expected"] for c in VECTORS)
    assert {type(render.apply_query(c["response"], c["query"])).__name__ for c in VECTORS if c["query"]} >= {
        "str",
        "int",
        "bool",
        "list",
        "dict",
        "NoneType",
    }


def test_every_line_is_as_wide_as_the_first() -> None:
    """Wide characters count two columns, so bars line up on a terminal."""
    data = {"Tags": [{"TagKey": "名前", "TagValue": "値 🔑"}, {"TagKey": "plain", "TagValue": "ｗｉｄｅ ±"}]}
    for width in (20, 80, 200):
        lines = render.to_table(data, "ListResourceTags", False, width).splitlines()
        assert {render.text_width(line) for line in lines} == {render.text_width(lines[0])}


def test_values_with_control_characters_are_shown_escaped_and_aligned() -> None:
    """Unlike the AWS CLI, a table never writes a caller's control characters raw (a description
    could otherwise retitle the terminal or clear it): they are shown as escapes, counted as shown."""
    hostile = "x\x1b]0;pwned\x07\x1b[2J\u202eevil"
    data = {"KeyMetadata": {"Description": hostile, "KeyId": "k", "T\x1b[2J": {"a\x07": "b"}}}
    out = render.to_table(data, "DescribeKey", False, 200)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out and "\\x1b]0;pwned\\x07" in out
    assert "T\\x1b[2J" in out and "a\\x07" in out  # a nested member's name, as a title and a header
    lines = out.splitlines()
    assert {len(line) for line in lines} == {len(lines[0])}


def test_ragged_query_rows_are_padded_not_an_error() -> None:
    """``--query '[[`1`, `2`], [`3`]]'``: the AWS CLI stops with "Row should have 2 elements"; kmscli
    draws the short row with an empty cell."""
    out = render.to_table([[1, 2], [3]], "Test", False, 80)
    assert out.splitlines()[3:5] == ["|  1 |  2  |", "|  3 |     |"]


def test_terminal_width_is_the_terminals_and_80_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the AWS CLI asks the terminal (``TIOCGWINSZ`` on stdout): ``COLUMNS`` plays no part, and a
    stdout that is not a terminal counts as 80 columns."""
    import fcntl
    import io
    import struct
    import termios

    monkeypatch.setenv("COLUMNS", "33")
    assert render.terminal_width(io.StringIO()) == 80
    leader, follower = os.openpty()
    try:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 123, 0, 0))
        with open(follower, "w", closefd=False) as tty:
            assert render.terminal_width(tty) == 123
    finally:
        os.close(leader)
        os.close(follower)


def test_cli_tables_when_piped(cli: Any) -> None:
    """Not a terminal: 80 columns (so DescribeKey's one wide row turns into name/value rows), no colour."""
    key = cli("create-key", "--description", "alpha").json()["KeyMetadata"]["KeyId"]
    for args, title in ((["list-keys"], "ListKeys"), (["describe-key", "--key-id", key], "DescribeKey")):
        data = cli(*args).json()
        res = cli(*args, "--output", "table")
        assert res.code == 0, res.err
        assert res.out == render.to_table(data, title, False, 80)
        assert "\x1b[" not in res.out
    described = cli("describe-key", "--key-id", key, "--output", "table").out
    assert "||  Description          |  alpha" in described
    coloured = cli("describe-key", "--key-id", key, "--output", "table", "--color", "on").out
    assert "\x1b[1m\x1b[34malpha\x1b[0m" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == described
    queried = cli("list-keys", "--output", "table", "--query", "Keys[].KeyId")
    assert queried.out.splitlines()[3] == f"|  {key}  |"
    nothing = cli("list-keys", "--output", "table", "--query", "Keys[?KeyId=='none']")
    assert nothing.code == 0 and nothing.out == ""


def test_cli_error_format_table(cli: Any) -> None:
    res = cli("describe-key", "--key-id", "alias/none", "--cli-error-format", "table")
    assert res.code == 254 and res.out == ""
    lines = res.err.splitlines()
    assert set(lines[0]) == {"-"} and lines[1].strip("| ") == "error"
    assert any(line.startswith("|  Code") and "NotFoundException" in line for line in lines)
