"""Where ``kmscli encrypt`` spends its time: interpreter start, imports, the KDF, and the rest.

Not a pass/fail benchmark: it explains the encrypt figures. Imports come from ``python -X importtime``
(whose own instrumentation inflates them somewhat), grouped by top-level package; the KDF is timed
in-process with the vault's default parameters; "the rest" is what remains of the median wall time of
an encrypt on a floor-KDF vault (vault reads, crypto, audit append, output).
"""

from __future__ import annotations

import re
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from bench.common import (
    BenchError,
    create_key,
    fresh_dir,
    init_vault,
    interleave,
    kmscli_argv,
    kmscli_env,
    median,
    run,
    write_payload,
)

_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)\s*$")


@dataclass(frozen=True)
class ImportRecord:
    """One line of ``-X importtime``: self and cumulative microseconds, nesting depth, module name."""

    self_us: int
    cumulative_us: int
    depth: int
    module: str


def parse_importtime(stderr: str) -> list[ImportRecord]:
    """The import records in ``python -X importtime`` output (other lines are ignored)."""
    records = []
    for text in stderr.splitlines():
        m = _LINE.match(text)
        if m:
            depth = (len(m.group(3)) - 1) // 2
            records.append(ImportRecord(int(m.group(1)), int(m.group(2)), depth, m.group(4)))
    return records


def group_of(module: str) -> str:
    """The group a module's import time is charged to: its top-level package (site hooks together)."""
    top = module.split(".", 1)[0]
    if top.startswith("__editable__") or top in ("site", "sitecustomize", "_distutils_hack"):
        return "site (venv start-up hooks)"
    if top in sys.stdlib_module_names or top.startswith("_"):
        return "stdlib"
    return top


def by_group(records: Iterable[ImportRecord]) -> list[tuple[str, float]]:
    """Self import time in milliseconds per group, largest first."""
    totals: dict[str, float] = defaultdict(float)
    for rec in records:
        totals[group_of(rec.module)] += rec.self_us / 1000
    return sorted(totals.items(), key=lambda item: -item[1])


def top_modules(records: Iterable[ImportRecord], count: int = 12) -> list[tuple[str, float]]:
    """The ``count`` modules with the largest self import time (ms)."""
    ranked = sorted(records, key=lambda rec: -rec.self_us)[:count]
    return [(rec.module, rec.self_us / 1000) for rec in ranked]


def top_level(records: Iterable[ImportRecord], count: int = 10) -> list[tuple[str, float]]:
    """The ``count`` costliest imports made directly by the program (depth 0), cumulative ms."""
    roots = [rec for rec in records if rec.depth == 0]
    ranked = sorted(roots, key=lambda rec: -rec.cumulative_us)[:count]
    return [(rec.module, rec.cumulative_us / 1000) for rec in ranked]


def import_statement(records: Iterable[ImportRecord]) -> str:
    """Python code importing, in order, every module the traced program imported at depth 0."""
    names = [rec.module for rec in records if rec.depth == 0 and not rec.module.startswith("__main__")]
    return "; ".join(f"import {name}" for name in dict.fromkeys(names))


CALL_TIME = "kmscli-bench-call-seconds"


def call_after_imports(records: Iterable[ImportRecord], args: list[str]) -> str:
    """A program that imports what the traced run imported, then times one ``main(args)`` call.

    It writes the call's seconds to stderr as ``CALL_TIME SECONDS`` (see :func:`parse_call_time`).
    """
    return (
        import_statement(records)
        + "\nimport sys, time\nfrom kmscli.__main__ import main\n"
        + f"start = time.perf_counter()\ncode = main({args!r})\n"
        + f"sys.stderr.write('\\n{CALL_TIME} %r\\n' % (time.perf_counter() - start))\n"
        + "sys.exit(code)\n"
    )


def parse_call_time(stderr: str) -> float:
    """The seconds a :func:`call_after_imports` program reported."""
    for text in reversed(stderr.splitlines()):
        if text.startswith(CALL_TIME + " "):
            return float(text.split()[1])
    raise BenchError("the timed call reported no time")


def kdf_seconds(runs: int = 3) -> float:
    """Median in-process time of one root-key derivation with the default KDF parameters."""
    from kmscli.vault.store import DEFAULT_KDF, derive_root_key

    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        derive_root_key(b"kmscli-bench", b"\0" * 16, DEFAULT_KDF)
        samples.append(time.perf_counter() - start)
    return median(samples)


def report(runs: int = 11) -> str:
    """The breakdown as Markdown text."""
    work = fresh_dir("encrypt-profile")
    vault = work / "vault"
    init_vault(vault, floor_kdf=True)
    env = kmscli_env(vault)
    payload = write_payload(work, "payload.bin", 256)
    args = ["encrypt", "--key-id", create_key(vault, env), "--plaintext", f"fileb://{payload}"]
    traces = [
        parse_importtime(run([sys.executable, "-X", "importtime", "-m", "kmscli", *args], env).stderr)
        for _ in range(3)
    ]
    best = min(traces, key=lambda recs: sum(r.self_us for r in recs))  # the least disturbed trace
    # the work after the imports, timed inside a process that has already imported every module
    after_imports = [sys.executable, "-c", call_after_imports(best, args)]
    encrypt_t, python_t = interleave(
        [([*kmscli_argv(), *args], env), ([sys.executable, "-c", "pass"], env)], runs=runs
    )
    rest_t = [parse_call_time(run(after_imports, env).stderr) for _ in range(runs)]
    wall_ms, python_ms, rest_ms = median(encrypt_t) * 1000, median(python_t) * 1000, median(rest_t) * 1000
    import_ms = wall_ms - python_ms - rest_ms
    kdf_ms = kdf_seconds() * 1000
    groups = by_group(best)
    traced_ms = sum(ms for _, ms in groups) or 1.0
    lines = [
        "Where `kmscli encrypt` spends its time (floor-KDF vault; the default KDF's cost added separately):",
        "",
        "| part | ms |",
        "|---|---|",
        f"| whole `kmscli encrypt`, floor KDF (median of {runs}) | {wall_ms:.1f} |",
        f"| interpreter start (`python -c pass`) | {python_ms:.1f} |",
        f"| imports (the difference: whole - start - the rest) | {import_ms:.1f} |",
        f"| the rest: parsing, vault reads, crypto, audit append, output (timed in-process) | {rest_ms:.1f} |",
        f"| + default KDF (Argon2id 64 MiB, t=3, p=4), per passphrase call | {kdf_ms:.1f} |",
        "",
        "Import time by package, share of `-X importtime` self times: "
        + ", ".join(f"{name} {100 * ms / traced_ms:.0f}%" for name, ms in groups if ms >= traced_ms / 100),
        "",
        "Costliest imports made by kmscli's entry point (cumulative, instrumented ms): "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in top_level(best)),
        "",
        "Largest single modules (self, instrumented ms): "
        + ", ".join(f"{name} {ms:.1f}" for name, ms in top_modules(best)),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
