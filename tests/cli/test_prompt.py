"""The no-echo passphrase prompt: an empty answer is explained, a short new passphrase warned about."""

from __future__ import annotations

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
