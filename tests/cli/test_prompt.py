"""The no-echo passphrase prompt: an empty answer is explained, a short new passphrase warned about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kmscli.cli import prompt as prompt_mod
from kmscli.errors import VaultEnvironmentError


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    import click

    queue: list[str] = []
    monkeypatch.setattr(prompt_mod.sys.stdin, "isatty", lambda: True, raising=False)

    def fake(text: str, **kwargs: Any) -> str:
        assert kwargs.get("hide_input") is True  # never echoed
        return queue.pop(0)

    monkeypatch.setattr(click, "prompt", fake)
    return queue


def _ask() -> Any:
    ask = prompt_mod.tty_prompt()
    assert ask is not None
    return ask


def test_empty_answer_is_explained_then_asked_again(
    answers: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    answers.extend(["", "", "the real passphrase"])
    assert _ask()("Vault passphrase", False) == "the real passphrase"
    assert capsys.readouterr().err.count("the passphrase is empty") == 2


def test_short_new_passphrase_is_taken_with_a_warning(
    answers: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    answers.extend(["x", "x"])
    assert _ask()("New vault passphrase", True) == "x"
    assert "1-character passphrase is weak" in capsys.readouterr().err
    answers.extend(["correct horse battery staple"] * 2)
    assert _ask()("New vault passphrase", True) == "correct horse battery staple"
    assert "weak" not in capsys.readouterr().err
    answers.extend(["a long enough phrase", "a different phrase"])
    with pytest.raises(VaultEnvironmentError):
        _ask()("New vault passphrase", True)


def _read_until(fd: int, seen: bytes, marker: bytes, deadline: float) -> bytes:
    """``seen`` plus what ``fd`` gives until ``marker`` is in it (an assertion past ``deadline``)."""
    import os
    import select
    import time

    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} from the terminal in time; it showed: {seen!r}"
        if select.select([fd], [], [], left)[0]:
            seen += os.read(fd, 4096)
    return seen


def test_typed_bytes_that_are_not_text_are_a_clear_error_that_quotes_nothing(tmp_path: Path) -> None:
    """On a real terminal: a passphrase typed with bytes that are not UTF-8 was an internal error
    (exit 255) whose message quoted the typed byte; it is exit 253 that quotes nothing.

    Deterministic under load. The race was at the end: the child wrote its error and exited, the
    terminal hung up with the last close of its side, and the error could be gone before it was
    read. The test now holds that side open itself (no hang-up), waits for the child's exit while
    reading, then writes a marker there and reads up to it: the terminal keeps order, so everything
    the child wrote has been read. The bytes are typed once the whole prompt (its trailing space
    included) is out, which getpass writes after turning echo off and flushing pending input."""
    import fcntl
    import os
    import pty
    import select
    import sys
    import termios
    import time

    from kmscli.service.pipeline.core import system_random
    from kmscli.vault.store import Vault
    from tests.helpers import CHEAP_KDF

    Vault.create(tmp_path / "v", b"pw", CHEAP_KDF, system_random, "2026-01-15T12:00:00+00:00")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "KMSCLI_VAULT": str(tmp_path / "v"),
        "KMSCLI_CONFIG": str(tmp_path / "config.toml"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    master, slave = pty.openpty()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child: the terminal is its controlling terminal and stdio)
        try:
            os.close(master)
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for target in (0, 1, 2):
                os.dup2(slave, target)
            os.close(slave)
            os.execve(sys.executable, [sys.executable, "-m", "kmscli", "list-keys"], env)
        finally:
            os._exit(127)  # never back into pytest
    deadline = time.monotonic() + 120
    done = 0
    try:
        seen = _read_until(master, b"", b"passphrase: ", deadline)
        assert not termios.tcgetattr(master)[3] & termios.ECHO  # what is typed now is not echoed
        os.write(master, b"secr\xffet\n")
        done, status = os.waitpid(pid, os.WNOHANG)
        while done == 0:  # read meanwhile, so the child never blocks on a full terminal
            left = deadline - time.monotonic()
            assert left > 0, f"kmscli did not exit in time; the terminal showed: {seen!r}"
            if select.select([master], [], [], min(left, 1.0))[0]:
                seen += os.read(master, 4096)
            done, status = os.waitpid(pid, os.WNOHANG)
        end = b"<end of the child's output>"
        os.write(slave, end)  # behind everything the child wrote, in the terminal's order
        text = _read_until(master, seen, end, deadline).decode(errors="replace")
    finally:
        if done == 0:  # a failed wait: do not leave the child behind
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(master)
        os.close(slave)
    assert os.waitstatus_to_exitcode(status) == 253, text
    assert "not valid text" in text and "internal error" not in text
    assert "0xff" not in text and "secr" not in text
