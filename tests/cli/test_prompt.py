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


def test_typed_bytes_that_are_not_text_are_a_clear_error_that_quotes_nothing(tmp_path: Path) -> None:
    """On a real terminal: a passphrase typed with bytes that are not UTF-8 was an internal error
    (exit 255) whose message quoted the typed byte; it is exit 253 that quotes nothing."""
    import os
    import pty
    import sys
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
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.execve(sys.executable, [sys.executable, "-m", "kmscli", "list-keys"], env)
    seen = b""
    deadline = time.monotonic() + 60
    while b"passphrase" not in seen and time.monotonic() < deadline:
        seen += os.read(fd, 4096)
    os.write(fd, b"secr\xffet\n")
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 253, text
    assert "not valid text" in text and "internal error" not in text
    assert "0xff" not in text and "secr" not in text
