"""Packaging: the license metadata, and man pages installed with the package where man finds them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the source (the tree stays clean), with no build warnings."""
    src = tmp_path_factory.mktemp("src")
    for name in ("kmscli", "man", "pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)]
    proc = subprocess.run([sys.executable, "-m", "pip", *build], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "license" not in proc.stderr.lower(), proc.stderr  # no setuptools license deprecation warning
    return next(out.glob("kmscli-*.whl"))


def test_wheel_carries_every_man_page_and_the_license(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    pages = {n.rsplit("/", 1)[-1] for n in names if "/data/share/man/man1/" in n}
    assert pages == {p.name for p in (ROOT / "man").glob("*.1")} and "kmscli-encrypt.1" in pages
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: Apache-2.0" in text
    assert any(n.endswith("licenses/LICENSE") for n in names)


@pytest.mark.skipif(shutil.which("man") is None, reason="man-db is not installed (.ci/run installs it)")
def test_man_finds_the_installed_pages_from_path(wheel: Path, tmp_path: Path) -> None:
    """README's claim: after a regular install, `man kmscli-encrypt` works when PREFIX/bin is on PATH,
    and `man -M PREFIX/share/man` otherwise."""
    prefix = tmp_path / "prefix"
    # --ignore-installed: pip would otherwise first uninstall the kmscli these tests run from
    install = ["install", "-q", "--no-deps", "--ignore-installed", "--prefix", str(prefix), str(wheel)]
    proc = subprocess.run([sys.executable, "-m", "pip", *install], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (prefix / "share" / "man" / "man1" / "kmscli-encrypt.1").is_file()
    env = {k: v for k, v in os.environ.items() if k not in ("MANPATH", "MANOPT")}
    env["HOME"] = str(tmp_path)
    found = subprocess.run(
        ["man", "-w", "kmscli-encrypt"],
        env={**env, "PATH": f"{prefix / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"},
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0 and found.stdout.strip().startswith(str(prefix)), found.stdout + found.stderr
    missing = subprocess.run(["man", "-w", "kmscli-encrypt"], env=env, capture_output=True, text=True)
    named = subprocess.run(
        ["man", "-M", str(prefix / "share" / "man"), "-w", "kmscli-encrypt"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and named.returncode == 0
