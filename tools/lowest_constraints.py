"""Print pip constraints that pin every dependency in pyproject.toml to its declared lower bound.

``make test-lowest`` installs kmscli with them into a second venv and runs the checks there, so
every lower bound in pyproject.toml is a version the suite passed with (a resolver's
"lowest-direct" mode: the direct dependencies at their floors, theirs as the resolver picks).
A dependency without a lower bound is an error: it would go untested.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_REQ = re.compile(
    r"^\s*([A-Za-z0-9._-]+)\s*(?:\[[^\]]*\])?\s*(>=|==)\s*([0-9][^,;\s]*)\s*(?:,[^;]*)?(?:;.*)?$"
)


def floors(pyproject: Path) -> list[tuple[str, str]]:
    """(name, lowest allowed version) of every runtime and test dependency."""
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    out = []
    for req in requirements:
        m = _REQ.match(req)
        if m is None:
            raise SystemExit(f"{pyproject}: {req!r} has no lower bound (use >=X or ==X)")
        out.append((m.group(1), m.group(3)))
    return out


def main() -> None:
    pyproject = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "pyproject.toml"
    )
    for name, version in floors(pyproject):
        print(f"{name}=={version}")


if __name__ == "__main__":
    main()
