"""Shared benchmark machinery: subprocess timing, medians, ratios, the results table, machine info.

Every figure is a median of wall-clock times (``time.perf_counter`` around ``subprocess.run``) after
warm-up runs. A comparison times kmscli and its peer *interleaved* in the same run, so load from other
processes on a shared machine falls on both sides alike; the ratio is ``kmscli / peer``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
#: Scratch space for vaults and payloads (git-ignored).
WORK_DIR = BENCH_DIR / ".work"
#: The separate venv holding the peers (awscli v1 and moto[server]); git-ignored.
BENCH_VENV = BENCH_DIR / ".venv"
README = BENCH_DIR / "README.md"
#: Where `make bench` writes its figures: git-ignored, so a run never dirties the tracked README.
LATEST = BENCH_DIR / "latest.md"
FIGURES_START = "<!-- latest-figures:start -->"
FIGURES_END = "<!-- latest-figures:end -->"
#: A throwaway passphrase for bench vaults (never a real one).
BENCH_PASSPHRASE = "kmscli-bench-passphrase"
#: The documented test floor of the KDF, for benchmarks whose subject is not the KDF.
FLOOR_KDF_ARGS = ["--kdf-memory-kib", "8", "--kdf-iterations", "1", "--kdf-parallelism", "1"]
#: Environment variables of kmscli that must not leak from the caller's shell into a benchmark.
KMSCLI_ENV_VARS = (
    "KMSCLI_VAULT",
    "KMSCLI_PASSPHRASE",
    "KMSCLI_PASSPHRASE_FILE",
    "KMSCLI_SESSION",
    "KMSCLI_PROFILE",
    "KMSCLI_PRINCIPAL",
    "KMSCLI_REGION",
    "KMSCLI_CONFIG",
    "KMSCLI_AUDIT_LOG",
)


class BenchError(RuntimeError):
    """A benchmark could not run (a command failed, a peer is missing)."""


@dataclass
class Comparison:
    """One row of the results table: kmscli's median against its peer's, and the target ratio."""

    name: str
    ours: str
    peer: str
    target: float
    ours_s: float | None = None
    peer_s: float | None = None
    runs: int = 0
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    #: Why the benchmark could not run (a command failed): the row reads ERROR.
    error: str | None = None
    #: A ratio reported by a script that does not expose its medians (bench/audit_query.py).
    reported_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        """kmscli's median over the peer's median, or None when either is missing."""
        if self.ours_s is None or self.peer_s is None or self.peer_s <= 0:
            return self.reported_ratio
        return self.ours_s / self.peer_s

    @property
    def status(self) -> str:
        """``PASS`` when the ratio meets the target (<=), ``FAIL`` when not, ``n/a`` when unmeasured,
        ``ERROR`` when the benchmark broke."""
        if self.error is not None:
            return "ERROR"
        ratio = self.ratio
        if ratio is None:
            return "n/a"
        return "PASS" if ratio <= self.target else "FAIL"


def not_available(name: str, ours: str, peer: str, target: float, why: str) -> Comparison:
    """A row for a benchmark that cannot run yet (the feature does not exist on this branch)."""
    return Comparison(name, ours, peer, target, note=f"n/a ({why})")


def median(samples: Sequence[float]) -> float:
    """The median of a non-empty list of timings."""
    if not samples:
        raise BenchError("no samples")
    return statistics.median(samples)


def format_seconds(seconds: float | None) -> str:
    """A timing for the table: milliseconds below 10 s, seconds above; ``-`` when missing."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def format_ratio(ratio: float | None) -> str:
    """A ratio for the table, three decimals; ``-`` when missing."""
    return "-" if ratio is None else f"{ratio:.3f}"


def format_table(rows: Sequence[Comparison]) -> str:
    """The results as one Markdown table (readable on a terminal, pasteable into README.md)."""
    header = ["benchmark", "kmscli", "peer", "kmscli median", "peer median", "ratio", "target", "result"]
    body: list[list[str]] = []
    for row in rows:
        result = row.note if row.note and row.status == "n/a" else row.status
        if row.error is not None:
            result = f"ERROR: {row.error}"
        body.append(
            [
                row.name,
                row.ours,
                row.peer,
                format_seconds(row.ours_s),
                format_seconds(row.peer_s),
                format_ratio(row.ratio),
                f"<= {row.target:g}",
                result,
            ]
        )
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


# -- running commands ---------------------------------------------------------------------------------


def run(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    timeout: float = 120.0,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output; BenchError (with stderr) when it fails."""
    try:
        proc = subprocess.run(
            list(argv),
            env=dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"{argv[0]}: {exc}") from None
    if check and proc.returncode != 0:
        raise BenchError(f"{' '.join(argv[:3])} ... exited {proc.returncode}: {proc.stderr.strip()[-600:]}")
    return proc


def time_once(argv: Sequence[str], env: Mapping[str, str], *, timeout: float = 120.0) -> float:
    """Wall-clock seconds of one successful run of ``argv``."""
    start = time.perf_counter()
    run(argv, env, timeout=timeout)
    return time.perf_counter() - start


def interleave(
    commands: Sequence[tuple[Sequence[str], Mapping[str, str]]],
    *,
    runs: int,
    warmup: int = 2,
    timeout: float = 120.0,
) -> list[list[float]]:
    """Time each ``(argv, env)`` ``runs`` times, round-robin, after ``warmup`` untimed rounds.

    The order within a round rotates, so no command always follows the same other one.
    """
    if runs < 1:
        raise BenchError("runs must be at least 1")
    for _ in range(warmup):
        for argv, env in commands:
            run(argv, env, timeout=timeout)
    samples: list[list[float]] = [[] for _ in commands]
    for i in range(runs):
        for j in range(len(commands)):
            k = (i + j) % len(commands)
            argv, env = commands[k]
            samples[k].append(time_once(argv, env, timeout=timeout))
    return samples


def compare(
    ours: Sequence[str],
    ours_env: Mapping[str, str],
    peer: Sequence[str],
    peer_env: Mapping[str, str],
    *,
    runs: int,
    warmup: int = 2,
    timeout: float = 120.0,
) -> tuple[list[float], list[float]]:
    """Time ``ours`` and ``peer`` alternately ``runs`` times each, after ``warmup`` untimed runs of each."""
    ours_t, peer_t = interleave(
        [(ours, ours_env), (peer, peer_env)], runs=runs, warmup=warmup, timeout=timeout
    )
    return ours_t, peer_t


def measured(row: Comparison, ours_t: list[float], peer_t: list[float]) -> Comparison:
    """Fill a row with the medians of its samples."""
    row.ours_s, row.peer_s, row.runs = median(ours_t), median(peer_t), len(ours_t)
    row.samples = {"ours": ours_t, "peer": peer_t}
    return row


# -- kmscli under test --------------------------------------------------------------------------------


def kmscli_argv() -> list[str]:
    """How to start the kmscli under test: the console script next to this interpreter."""
    script = Path(sys.executable).parent / "kmscli"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "kmscli"]


def base_env() -> dict[str, str]:
    """The caller's environment without any kmscli or AWS settings that could change the result."""
    env = {k: v for k, v in os.environ.items() if k not in KMSCLI_ENV_VARS and not k.startswith("AWS_")}
    # a user's machine caches bytecode; without it every run would recompile kmscli from source
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["NO_COLOR"] = "1"
    return env


def precompile() -> None:
    """Byte-compile the kmscli package under test, as an installed package on a user's machine is."""
    import kmscli

    run(
        [sys.executable, "-m", "compileall", "-q", str(Path(kmscli.__file__).parent)], base_env(), timeout=300
    )


def kmscli_env(vault: Path, *, passphrase: str | None = BENCH_PASSPHRASE) -> dict[str, str]:
    """Environment for kmscli on a bench vault: no user config, no session, the bench passphrase."""
    env = base_env()
    env["KMSCLI_VAULT"] = str(vault)
    env["KMSCLI_CONFIG"] = str(vault.parent / "config.toml")
    env["XDG_RUNTIME_DIR"] = str(vault.parent / "run")
    (vault.parent / "run").mkdir(parents=True, exist_ok=True, mode=0o700)
    if passphrase is not None:
        env["KMSCLI_PASSPHRASE"] = passphrase
    return env


def fresh_dir(name: str) -> Path:
    """An empty scratch folder ``bench/.work/NAME`` (removed first if it exists)."""
    path = WORK_DIR / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def init_vault(vault: Path, *, floor_kdf: bool) -> None:
    """``kmscli vault init`` a bench vault, with the default KDF or the documented test floor."""
    args = [*kmscli_argv(), "vault", "init", *(FLOOR_KDF_ARGS if floor_kdf else [])]
    run(args, kmscli_env(vault))


def create_key(vault: Path, env: Mapping[str, str], *extra: str) -> str:
    """Create a key through the CLI and return its KeyId."""
    out = run([*kmscli_argv(), "create-key", *extra, "--query", "KeyMetadata.KeyId", "--output", "text"], env)
    return out.stdout.strip()


# -- machine info and README ----------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's idea of it)."""
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.lower().startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the figures were measured on: CPU, cores, load, Python, OS, date (UTC)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "?"
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} ({usable} usable)",
        "load average at start": load,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
    }
    info.update(extra or {})
    return info


def figures_block(table: str, info: Mapping[str, str], notes: Sequence[str] = ()) -> str:
    """The Markdown block that goes between the README's latest-figures markers."""
    lines = [FIGURES_START, "", *(f"- {k}: {v}" for k, v in info.items()), "", table, ""]
    if notes:
        lines += [*notes, ""]
    lines.append(FIGURES_END)
    return "\n".join(lines)


def replace_figures(readme_text: str, block: str) -> str:
    """``readme_text`` with its latest-figures section replaced by ``block`` (appended if absent)."""
    pattern = re.compile(re.escape(FIGURES_START) + r".*?" + re.escape(FIGURES_END), re.DOTALL)
    if pattern.search(readme_text):
        return pattern.sub(lambda _m: block, readme_text, count=1)
    return readme_text.rstrip("\n") + "\n\n## Latest figures\n\n" + block + "\n"


def check_json_output(argv: Sequence[str], env: Mapping[str, str], member: str) -> None:
    """Run a command once and make sure it printed JSON holding ``member`` (a real result, not an error)."""
    import json

    out = run(argv, env).stdout
    try:
        data = json.loads(out)
    except ValueError:
        raise BenchError(f"{argv[0]} printed no JSON: {out[:200]!r}") from None
    if not isinstance(data, dict) or not data.get(member):
        raise BenchError(f"{argv[0]} output has no {member}")


def write_payload(folder: Path, name: str, size: int) -> Path:
    """A random payload file for ``fileb://`` (same bytes for kmscli and its peer)."""
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


def unlock_session(env: Mapping[str, str]) -> dict[str, str] | None:
    """The environment with a session (``kmscli unlock --raw``) instead of the passphrase.

    None when this kmscli has no ``unlock`` command yet; BenchError when unlocking fails otherwise.
    """
    proc = run([*kmscli_argv(), "unlock", "--raw"], env, check=False)
    if proc.returncode != 0:
        if "No such command" in proc.stderr:
            return None
        raise BenchError(f"kmscli unlock --raw exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    token = proc.stdout.strip()
    if not token or "\n" in token or token.startswith("export "):
        raise BenchError("kmscli unlock --raw did not print a bare token")
    session = {k: v for k, v in env.items() if k not in ("KMSCLI_PASSPHRASE", "KMSCLI_PASSPHRASE_FILE")}
    session["KMSCLI_SESSION"] = token
    return session


def lock_session(env: Mapping[str, str]) -> None:
    """End a bench session (``kmscli lock``), ignoring a kmscli that has no such command."""
    run([*kmscli_argv(), "lock"], env, check=False)
