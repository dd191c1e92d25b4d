"""Test helpers: a deterministic service context, an in-process CLI runner, botocore shape checks."""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import random
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

#: The documented test floor for the KDF (README, docs/format.md): never use in production.
CHEAP_KDF = {"memory_cost": 8, "iterations": 1, "lanes": 1}
CHEAP_KDF_ARGS = ["--kdf-memory-kib", "8", "--kdf-iterations", "1", "--kdf-parallelism", "1"]


class FakeClock:
    """An injectable clock that only moves when told to."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class FakeRandom:
    """Deterministic randomness for the service layer (seeded)."""

    def __init__(self, seed: int = 1234) -> None:
        self.rng = random.Random(seed)

    def __call__(self, n: int) -> bytes:
        return self.rng.randbytes(n)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(args: list[str], stdin: bytes | None = None) -> CliResult:
    """Run kmscli in-process; returns exit code, stdout and stderr."""
    from kmscli.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(args)
    finally:
        sys.stdin = old_stdin
    return CliResult(code, out.getvalue(), err.getvalue())


# -- botocore output shape validation -------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _botocore_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("kms")


def _extension_members(shape_name: str) -> set[str]:
    from kmscli.model import extensions

    return set(extensions().get("shapes", {}).get(shape_name, {}).get("members", {}))


def _check(shape: Any, value: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: expected object, got {value!r}"
        for name in value:
            if name in _extension_members(shape.name):
                continue  # a kmscli-only member declared in kmscli/model/extensions.json
            assert name in shape.members, f"{path}.{name}: not a member of {shape.name}"
            _check(shape.members[name], value[name], f"{path}.{name}")
        for name in shape.required_members:
            assert name in value, f"{path}: required member {name} missing"
    elif kind == "list":
        assert isinstance(value, list), f"{path}: expected list"
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]")
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: expected map"
        for k, v in value.items():
            _check(shape.value, v, f"{path}[{k}]")
    elif kind == "string":
        assert isinstance(value, str), f"{path}: expected string, got {value!r}"
        if shape.enum:
            assert value in shape.enum, f"{path}: {value} not in enum"
    elif kind == "blob":
        import base64

        assert isinstance(value, str), f"{path}: blob must be base64 text"
        base64.b64decode(value, validate=True)
    elif kind == "timestamp":
        assert isinstance(value, str), f"{path}: timestamp must be ISO 8601 text"
        dt.datetime.fromisoformat(value)
    elif kind == "integer" or kind == "long":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: expected integer"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{path}: expected boolean"


def assert_output_shape(op_name: str, output: Any, paginated: bool = False) -> None:
    """Assert that CLI JSON output matches botocore's output shape of ``op_name``.

    With ``paginated`` the CLI's NextToken is allowed and the server's paging members may be absent.
    """
    shape = _botocore_model().operation_model(op_name).output_shape
    if shape is None:
        assert output in ({}, None), f"{op_name} has no output, got {output!r}"
        return
    if paginated and isinstance(output, dict):
        output = {k: v for k, v in output.items() if k != "NextToken"}
    _check(shape, output, op_name)


KmsCall = Callable[..., dict[str, Any]]


# -- the fast path against Click (tests/cli/test_fastpath.py, tests/cli/test_fastpath_audit.py) ---------


def subst(argv: list[str], names: dict[str, str]) -> list[str]:
    """``argv`` with each placeholder of ``names`` (KEY, LOG, ...) replaced by its value."""
    out = []
    for arg in argv:
        for name, value in names.items():  # placeholders that do not overlap
            arg = arg.replace(name, value)
        out.append(arg)
    return out


def click_only(args: list[str], monkeypatch: Any) -> CliResult:
    """Run kmscli in-process with the fast path turned off (Click parses everything)."""
    from kmscli.cli import fastpath

    with monkeypatch.context() as m:
        m.setattr(fastpath, "parse", lambda _args: None)
        return run_cli(args)


def assert_both_paths_hand_over_alike(
    table: list[tuple[list[str], bool]], names: dict[str, str], seen: list[Any]
) -> None:
    """Every command line of ``table`` (argv, taken by the fast path?) that the fast path takes makes
    the same call through Click and through ``fastpath.execute``: ``seen`` is what the patched callee
    (run_operation, run_query) appends on each call. An error raised before the call (a bad
    ``--query``) must be the same on both paths, with no call made."""
    import pytest

    from kmscli.cli import fastpath
    from kmscli.cli.main import cli
    from kmscli.errors import KmscliError

    checked = 0
    for argv, _fast in table:
        args = subst(argv, names)
        parsed = fastpath.parse(args)
        if parsed is None:
            continue
        seen.clear()
        try:
            cli.main(args=args, prog_name="kmscli", standalone_mode=False)
        except KmscliError as exc:
            with pytest.raises(KmscliError) as fast_exc:
                fastpath.execute(parsed)
            assert (fast_exc.value.message, seen) == (exc.message, []), args
        else:
            assert len(seen) == 1, args
            fastpath.execute(parsed)
            assert seen[1:] == seen[:1], args
        checked += 1
    assert checked == sum(fast for _, fast in table)


def count_index_reads(monkeypatch: Any) -> list[str]:
    """The segments whose audit index is read for candidates, in order (a spy on ``SegmentIndex``)."""
    from kmscli.audit import index

    used: list[str] = []
    original = index.SegmentIndex.candidate_batches

    def spy(self: index.SegmentIndex, filters: Any) -> Any:
        used.append(self.segment)
        return original(self, filters)

    monkeypatch.setattr(index.SegmentIndex, "candidate_batches", spy)
    return used
