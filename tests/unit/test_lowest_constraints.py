"""tools/lowest_constraints.py: every dependency has a lower bound, pinned for the lowest-versions run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> Any:
    spec = importlib.util.spec_from_file_location(
        "lowest_constraints", ROOT / "tools" / "lowest_constraints.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["lowest_constraints"] = module
    spec.loader.exec_module(module)
    return module


def test_every_dependency_is_pinned_at_its_floor() -> None:
    floors = dict(_tool().floors(ROOT / "pyproject.toml"))
    assert floors["cryptography"] == "50"  # mldsa.MLDSAMuHasher first ships in cryptography 50.0.0
    assert floors["hypothesis"] == "6.85"  # characters(codec=..., exclude_categories=...)
    assert {"click", "rich", "platformdirs", "tomli-w", "jmespath", "pytest", "botocore"} <= set(floors)


def test_a_dependency_without_a_floor_is_refused(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["click"]\n[project.optional-dependencies]\ntest = []\n')
    with pytest.raises(SystemExit, match="no lower bound"):
        _tool().floors(pyproject)


def test_make_test_runs_the_lowest_versions_too() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "\ntest: lint typecheck pytest test-lowest\n" in makefile
