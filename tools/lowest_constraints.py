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


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def floors(pyproject: Path) -> list[tuple[str, str]]:
    """(name, lowest allowed version) of every runtime and optional dependency.

    A name required by several groups (``serve`` and ``test`` both need botocore) gets the highest
    of its floors: the groups are installed together, so that is the lowest version that can be.
    kmscli's own extras (``kmscli[serve]``) are references to groups listed here, not dependencies.
    """
    project = tomllib.loads(pyproject.read_text())["project"]
    groups = project.get("optional-dependencies", {})
    requirements = [*project["dependencies"], *(req for group in groups.values() for req in group)]
    found: dict[str, str] = {}
    for req in requirements:
        if re.match(r"^\s*kmscli\s*\[", req):
            continue
        m = _REQ.match(req)
        if m is None:
            raise SystemExit(f"{pyproject}: {req!r} has no lower bound (use >=X or ==X)")
        name, version = m.group(1).lower(), m.group(3)
        if name not in found or _version_key(version) > _version_key(found[name]):
            found[name] = version
    return list(found.items())


def main() -> None:
    pyproject = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "pyproject.toml"
    )
    for name, version in floors(pyproject):
        print(f"{name}=={version}")


if __name__ == "__main__":
    main()
