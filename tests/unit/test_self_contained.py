"""The repository stands on its own: nothing in it cites a file outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"\.\./shared/|DESIGN(\.md| section \d)")


def test_no_reference_to_files_outside_the_repository() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if listed.returncode == 0:
        files = listed.stdout.split()
    else:  # not a git checkout (an unpacked sdist): every file but the virtual environments
        files = [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if not any(part.startswith(".") or part == "build" for part in p.relative_to(ROOT).parts)
        ]
    hits = []
    for name in files:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".toml", ".txt", ".sh", ""} or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line) and path != Path(__file__).resolve():
                hits.append(f"{name}:{number}: {line.strip()}")
    assert hits == []
