"""The README check: every shell recipe in README.md and docs/*.md runs, in order, on a throwaway vault.

Each fenced block whose language is ``sh``, ``bash`` or ``shell`` is a recipe. The blocks of one
document run one after another in a fresh workspace (its own HOME, XDG folders, vault and config), each
as its own ``bash -euo pipefail`` script, so a failing command, a failing stage of a pipe or an unset
variable fails the test, naming the file and line of the block. Files and keys carry over from one block
to the next, as they would for a reader working through the document; shell variables do not, so every
recipe sets what it uses.

A block is governed by HTML comments (invisible when the Markdown is rendered) on the lines just
above its fence:

``<!-- recipe-skip: REASON -->``
    The block is not run. REASON must be a key of ``SKIP_REASONS`` below: that table is the reviewed
    list of why a recipe may go untested (a real AWS account, GitHub Actions, the project's own build).
``<!-- recipe-setup: SHELL -->``
    Runs before the block: it makes what the reader already has (their own files). Never kmscli state.
``<!-- recipe-stdin: TEXT -->``
    The block's standard input (``\\n`` for a new line); empty otherwise.
``<!-- recipe-expect: REGEX -->``
    The block's combined output must match REGEX (for recipes whose point is a refusal or a message).
``<!-- recipe-exit-codes: WHY -->``
    For a block of examples that fail on purpose: each line runs on its own and must exit with the
    number its trailing comment starts with (``# 254 NotFoundException``), or 0 without one.

A new section needs nothing: its sh/bash blocks are picked up and run. A document that never runs
``kmscli vault init`` starts with a vault already made, as its reader has one. ``kmscli`` is the one under test;
``vault init`` and ``vault export-key`` are given the test KDF floor so that the whole check stays fast
(a shim on PATH adds the three ``--kdf-*`` options; the recipes' text is run as written).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"sh", "bash", "shell"}

#: The reviewed skip list: why a recipe may be left out. Adding a key here needs a review.
SKIP_REASONS = {
    "aws-account": "calls real AWS KMS (`aws kms ...`), which needs an AWS account and credentials",
    "github-actions": "runs only inside a GitHub Actions job (secrets, $RUNNER_TEMP); "
    "tests/cli/test_recipes.py::test_ci_signing_step runs its shell as a script instead",
    "own-test": "starts a long-running server: a test of its own runs the block as written, on a free "
    "loopback port, and checks the server stops (tests/serve/test_readme_recipe.py)",
    "project-build": "builds the project itself (make, pip install): the check runs the kmscli under "
    "test, and CI runs `make test` and `make demo` directly",
}

MARKER = re.compile(r"^<!--\s*recipe-(skip|setup|stdin|expect|exit-codes):\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
PASSPHRASE = "readme check passphrase, throwaway vault"


class Block(NamedTuple):
    """One fenced code block of a document, with the markers above it."""

    path: str
    line: int
    language: str
    text: str
    markers: dict[str, str]


def blocks(path: str, text: str | None = None) -> list[Block]:
    """Every fenced block of a Markdown file (any language), in order."""
    found: list[Block] = []
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines() if text is None else text.splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        markers: dict[str, str] = {}
        j = i - 1
        while j >= 0 and (m := MARKER.match(lines[j])):
            markers[m.group(1)] = m.group(2)
            j -= 1
        end = i + 1
        while end < len(lines) and not lines[end].startswith(fence.group(1)):
            end += 1
        found.append(
            Block(path, i + 1, fence.group(2).lower(), "\n".join(lines[i + 1 : end]) + "\n", markers)
        )
        i = end + 1
    return found


def recipes(path: str) -> list[Block]:
    return [b for b in blocks(path) if b.language in SHELL_LANGUAGES]


KMSCLI_SHIM = """#!/bin/sh
# the kmscli under test; the commands that make a vault or bundle get the test KDF floor (fast)
if [ "$1" = vault ] && {{ [ "$2" = init ] || [ "$2" = export-key ]; }}; then
    sub=$2
    shift 2
    exec {python} -m kmscli vault "$sub" --kdf-memory-kib 8 --kdf-iterations 1 --kdf-parallelism 1 "$@"
fi
exec {python} -m kmscli "$@"
"""

#: Stand-ins for tools a recipe mentions that are not what is being checked.
AWS_STUB = """#!/bin/sh
echo "aws: a real AWS account is needed for this step" >&2
exit 1
"""


def workspace(tmp: Path) -> dict[str, str]:
    """A fresh HOME and XDG folders; the kmscli under test first on PATH, in ``.venv/bin`` with the man
    pages in ``.venv/share/man`` (as README's install leaves them); the repo's completions/ and man/
    visible as in a checkout. Returns the environment."""
    home = tmp / "home"
    for sub in ("home", "data", "config", "cache", "state", "run", "bin"):
        (tmp / sub).mkdir(mode=0o700)
    for name in ("completions", "man", "bench", "tools"):
        (tmp / name).symlink_to(ROOT / name)
    venv_bin = tmp / ".venv" / "bin"  # as README's quick start leaves it: .venv/bin/kmscli
    venv_bin.mkdir(parents=True)
    man1 = tmp / ".venv" / "share" / "man" / "man1"  # where a regular install puts the man pages
    man1.mkdir(parents=True)
    for page in (ROOT / "man").glob("*.1"):
        (man1 / page.name).symlink_to(page)
    shim = venv_bin / "kmscli"
    shim.write_text(KMSCLI_SHIM.format(python=sys.executable))
    shim.chmod(0o755)
    (venv_bin / "python").symlink_to(sys.executable)
    aws = tmp / "bin" / "aws"
    aws.write_text(AWS_STUB)
    aws.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KMSCLI_", "AWS_", "XDG_"))}
    env.update(
        HOME=str(home),
        PATH=f"{venv_bin}:{tmp / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        XDG_DATA_HOME=str(tmp / "data"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        XDG_STATE_HOME=str(tmp / "state"),
        XDG_RUNTIME_DIR=str(tmp / "run"),
        KMSCLI_PASSPHRASE=PASSPHRASE,
        PYTHONPATH=str(ROOT),
        NO_COLOR="1",
        COLUMNS="120",
        PAGER="cat",
        MANPAGER="cat",
        LC_ALL="C.UTF-8",
    )
    env.pop("PYTHONSTARTUP", None)
    return env


def run_lines(block: Block, cwd: Path, env: dict[str, str]) -> None:
    """A block of one-line examples, each with its exit status in its trailing comment."""
    for offset, line in enumerate(block.text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        code = re.search(r"#\s*(\d+)", line)
        expected = int(code.group(1)) if code else 0
        proc = subprocess.run(
            ["bash", "-uo", "pipefail", "-c", line],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == expected, (
            f"{block.path}:{block.line + offset}: exit {proc.returncode}, the comment says {expected}:\n"
            f"{line}\n{proc.stdout}{proc.stderr}"
        )
        assert "Traceback" not in proc.stderr, f"{block.path}:{block.line + offset}: {proc.stderr}"


def run_block(block: Block, cwd: Path, env: dict[str, str]) -> None:
    where = f"{block.path}:{block.line}"
    if "exit-codes" in block.markers:
        run_lines(block, cwd, env)
        return
    if "setup" in block.markers:
        setup = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.markers["setup"]],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert setup.returncode == 0, f"{where}: recipe-setup failed:\n{setup.stdout}{setup.stderr}"
    stdin = block.markers.get("stdin", "").replace("\\n", "\n")
    script = cwd / ".recipe.sh"
    script.write_text(block.text)
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", str(script)],
        cwd=cwd,
        env=env,
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, (
        f"{where}: recipe failed with exit {proc.returncode}:\n{block.text}\n--- output ---\n{proc.stdout}"
    )
    if "expect" in block.markers:
        assert re.search(block.markers["expect"], proc.stdout), (
            f"{where}: output does not match {block.markers['expect']!r}:\n{proc.stdout}"
        )


@pytest.mark.parametrize("path", DOCUMENTS)
def test_every_recipe_runs(path: str, tmp_path: Path) -> None:
    """Every sh/bash block of the document runs, in order, on one throwaway vault."""
    for tool in ("jq", "openssl", "xxd", "base64"):
        if shutil.which(tool) is None:
            pytest.fail(f"the README check needs {tool} (installed by .ci/run)")
    env = workspace(tmp_path)
    runnable = [b for b in recipes(path) if "skip" not in b.markers]
    if not any("kmscli vault init" in b.text for b in runnable):  # the reader's vault exists already
        init = subprocess.run(
            [str(tmp_path / ".venv" / "bin" / "kmscli"), "vault", "init"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert init.returncode == 0, init.stderr
    for block in runnable:
        run_block(block, tmp_path, env)


@pytest.mark.parametrize("path", DOCUMENTS)
def test_markers_are_reviewed(path: str) -> None:
    """A skip names a reviewed reason; markers sit only above shell blocks; no shell block hides
    under another language name."""
    for block in blocks(path):
        where = f"{block.path}:{block.line}"
        if block.markers:
            assert block.language in SHELL_LANGUAGES, (
                f"{where}: recipe markers above a {block.language!r} block"
            )
        if "skip" in block.markers:
            assert block.markers["skip"] in SKIP_REASONS, (
                f"{where}: skip reason {block.markers['skip']!r} is not in the reviewed SKIP_REASONS"
            )
        if block.language == "" and re.search(r"^\s*kmscli ", block.text, re.M):
            pytest.fail(f"{where}: a block of kmscli commands without a language: mark it sh")


def test_harness_catches_a_failing_recipe(tmp_path: Path) -> None:
    """The check can fail: a failing stage of a pipe, an unset variable, a wrong expectation."""
    env = workspace(tmp_path)
    for text, markers in (
        ("kmscli describe-key --key-id alias/none --output json | cat\n", {}),
        ('echo "$KEY"\n', {}),
        ("echo fine\n", {"expect": "refused"}),
        ("kmscli list-keys --limit many   # 0\n", {"exit-codes": "examples"}),
        ("kmscli --version   # 252\n", {"exit-codes": "examples"}),
    ):
        with pytest.raises(AssertionError):
            run_block(Block("t.md", 1, "sh", text, markers), tmp_path, env)


def test_marker_parsing() -> None:
    text = "intro\n<!-- recipe-skip: aws-account -->\n```bash\naws kms list-keys\n```\n\n```sh\nkmscli list-keys\n```\n"
    found = blocks("t.md", text)
    assert [(b.language, b.markers) for b in found] == [("bash", {"skip": "aws-account"}), ("sh", {})]


def _workflow_step() -> tuple[str, list[str]]:
    """README's GitHub Actions step: its `run:` script and the names of its `env:`."""
    import yaml

    for block in blocks("README.md"):
        if block.language == "yaml" and "KMSCLI_BUNDLE_B64" in block.text:
            steps = yaml.safe_load(block.text)
            step = next(s for s in steps if "run" in s)
            return str(step["run"]), list(step.get("env", {}))
    raise AssertionError("README has no CI signing step")


def test_ci_signing_step(tmp_path: Path) -> None:
    """README's CI signing step, run as GitHub runs a `run:` block without `shell:` (`bash -e`): it
    signs with a real bundle, and with a wrong passphrase or a damaged secret it fails loudly, leaves no
    signature, and removes the decoded bundle either way. The verification recipe then checks it."""
    script, env_names = _workflow_step()
    assert set(env_names) == {"KMSCLI_BUNDLE_B64", "KMSCLI_PASSPHRASE"}
    env = workspace(tmp_path)
    kmscli = str(tmp_path / ".venv" / "bin" / "kmscli")

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=tmp_path, env={**env, **extra}, capture_output=True, text=True)

    assert run(kmscli, "vault", "init").returncode == 0
    signing = (
        "create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY --query KeyMetadata.KeyId --output text"
    )
    key = run(kmscli, *signing.split()).stdout.strip()
    alias = run(kmscli, "create-alias", "--alias-name", "alias/release-signing", "--target-key-id", key)
    assert alias.returncode == 0, alias.stderr
    cheap = ("--kdf-memory-kib", "8", "--kdf-iterations", "1", "--kdf-parallelism", "1")
    made = run(
        kmscli,
        "vault",
        "export-key",
        "--key-id",
        "alias/release-signing",
        "--outfile",
        "b.kmsv",
        *cheap,
        KMSCLI_NEW_PASSPHRASE="bundle passphrase",
    )
    assert made.returncode == 0, made.stderr
    import base64

    bundle_b64 = base64.b64encode((tmp_path / "b.kmsv").read_bytes()).decode()
    job = tmp_path / "job"
    (job / "dist").mkdir(parents=True)
    (job / "dist" / "app.tar.gz").write_bytes(os.urandom(50_000))
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    (job / "step.sh").write_text(script)

    def step(b64: str, passphrase: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-e", "step.sh"],
            cwd=job,
            env={
                **env,
                "KMSCLI_BUNDLE_B64": b64,
                "KMSCLI_PASSPHRASE": passphrase,
                "RUNNER_TEMP": str(runner_temp),
            },
            capture_output=True,
            text=True,
        )

    sig = job / "dist" / "app.tar.gz.sig"
    for b64, passphrase in (
        (bundle_b64, "wrong passphrase"),
        (bundle_b64[:-40] + "AAAA", "bundle passphrase"),
        ("", "x"),
    ):
        failed = step(b64, passphrase)
        assert failed.returncode != 0, failed.stdout + failed.stderr
        assert not sig.exists()
        assert not (runner_temp / "release-signing.kmsv").exists()
    ok = step(bundle_b64, "bundle passphrase")
    assert ok.returncode == 0, ok.stderr
    assert sig.stat().st_size > 0 and not (runner_temp / "release-signing.kmsv").exists()
    assert (runner_temp / "kms-audit").is_dir()  # the bundle's audit went to a durable folder
    verify = next(b for b in recipes("README.md") if "openssl dgst -sha256 -verify dist/" in b.text)
    run_block(verify, job, env)
    (job / "dist" / "app.tar.gz").write_bytes(b"tampered")
    with pytest.raises(AssertionError):
        run_block(verify, job, env)
