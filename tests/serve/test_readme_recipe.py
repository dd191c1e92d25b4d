"""README's "Use kmscli from any AWS SDK" recipe, run as written."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from tests.helpers import CHEAP_KDF_ARGS
from tests.serve.conftest import base_env

README = Path(__file__).resolve().parents[2] / "README.md"


def recipe() -> str:
    text = README.read_text()
    section = text.split("## Use kmscli from any AWS SDK", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_readme_recipe_runs(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = base_env(tmp_path)
    env["PORT"] = str(port)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(
        # the documented test floor for the KDF keeps the run short; the recipe is otherwise as written
        [
            "bash",
            "-euo",
            "pipefail",
            "-c",
            recipe().replace("kmscli vault init", "kmscli vault init " + " ".join(CHEAP_KDF_ARGS), 1),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.split("\n")
    assert "True" in lines and "Enabled" in lines
    access_key = (tmp_path / "app.keys").read_text().split()[0]
    assert json.loads(proc.stdout[proc.stdout.index("[") :]) == [access_key]
    assert "kmscli serve: stopping" in proc.stderr
