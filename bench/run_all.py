"""``make bench``: every benchmark against its peer, in one run, as one table.

Prints the medians, the ratio of each to its peer measured in the same run, the target and
PASS/FAIL, then where ``kmscli encrypt`` spends its time, and writes it all with machine info to
``bench/latest.md`` (git-ignored). ``--update-readme`` writes it into bench/README.md's "latest figures"
section instead, to be committed deliberately; ``--no-readme`` only prints the block.

Exit status: 0 when every benchmark ran (whatever PASS/FAIL says; ``--strict`` makes a FAIL exit 1
too), 1 when one broke.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

if __package__ in (None, ""):  # run as `python bench/run_all.py`: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    audit_scale,
    common,
    encrypt_passphrase,
    encrypt_session,
    scale,
    serve,
    sign_session,
    startup,
)
from bench.common import BenchError, Comparison

AUDIT_NAME = "audit query vs jq"
AUDIT_TARGET = 0.25


def _guarded(name: str, ours: str, peer: str, target: float, func: Callable[[], Comparison]) -> Comparison:
    """Run one benchmark; a failure becomes an ERROR row (the others still run)."""
    print(f"running: {name} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        row = func()
    except BenchError as exc:
        row = Comparison(name, ours, peer, target, error=str(exc).splitlines()[0][:200])
    print(f"  done in {time.perf_counter() - start:.0f} s: {row.status}", file=sys.stderr, flush=True)
    return row


def audit_query_row(timeout: float = 1800.0) -> tuple[Comparison, str]:
    """bench/audit_query.py's result (written by the audit query work), or n/a while it is absent.

    Preferred: the module exposes ``measure() -> Comparison``. Otherwise it is run as a script and the
    last ``ratio`` figure it prints is taken; its output is kept for the README.
    """
    path = common.BENCH_DIR / "audit_query.py"
    row = Comparison(AUDIT_NAME, "kmscli audit --event-name", "jq -c select(...)", AUDIT_TARGET)
    if not path.exists():
        row.note = "n/a (bench/audit_query.py not written yet)"
        return row, ""
    import importlib

    module = importlib.import_module("bench.audit_query")
    measure = getattr(module, "measure", None)
    if callable(measure):
        result = measure()
        if isinstance(result, Comparison):
            return result, ""
    proc = common.run(
        [sys.executable, "-m", "bench.audit_query"], common.base_env(), cwd=common.REPO, timeout=timeout
    )
    row.reported_ratio = parse_reported_ratio(proc.stdout)
    if row.reported_ratio is None:
        row.error = "bench/audit_query.py printed no ratio"
    return row, proc.stdout.strip()


def parse_reported_ratio(text: str) -> float | None:
    """The last number following the word ``ratio`` in a script's output."""
    import re

    found = re.findall(r"ratio\D{0,40}?(\d+(?:\.\d+)?)", text, flags=re.IGNORECASE)
    return float(found[-1]) if found else None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through `with moto_peer()`, which stops the server


def write_figures(block: str, *, update_readme: bool) -> Path:
    """Write the figures block: into bench/README.md's section when asked (tracked: commit it
    deliberately), else to bench/latest.md (git-ignored, so a run leaves the tree clean)."""
    if update_readme:
        common.README.write_text(common.replace_figures(common.README.read_text(), block))
        return common.README
    common.LATEST.write_text(f"# kmscli benchmarks: latest run\n\n{block}\n")
    return common.LATEST


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark, print the table, write the figures (bench/latest.md, or README.md)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke run, not for figures)")
    parser.add_argument("--no-readme", action="store_true", help="print the figures block only")
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="write the figures into bench/README.md (tracked) instead of bench/latest.md",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    n = 5 if args.quick else 15
    slow = 3 if args.quick else 11

    from bench import encrypt_profile
    from bench.moto_peer import ensure_venv, moto_peer, package_versions

    common.precompile()
    rows = [
        _guarded(
            startup.NAME,
            "kmscli --version",
            "python -c pass",
            startup.TARGET,
            lambda: startup.measure(runs=3 * n - 4),
        )
    ]
    extra_info: dict[str, str] = {}
    try:
        ensure_venv()
        extra_info["peer"] = package_versions() + " (AWS CLI v1 from PyPI; v2 is not published there)"
        with moto_peer() as aws:
            extra_info["peer"] = aws.version() + "; " + extra_info["peer"]
            rows.append(
                _guarded(
                    encrypt_passphrase.NAME,
                    "kmscli encrypt",
                    "aws kms encrypt (moto)",
                    encrypt_passphrase.TARGET,
                    lambda: encrypt_passphrase.measure(aws, runs=slow),
                )
            )
            rows.append(
                _guarded(
                    encrypt_session.NAME,
                    encrypt_session.OURS,
                    encrypt_session.PEER,
                    encrypt_session.TARGET,
                    lambda: encrypt_session.measure(aws, runs=n),
                )
            )
            rows.append(
                _guarded(
                    sign_session.NAME,
                    sign_session.OURS,
                    sign_session.PEER,
                    sign_session.TARGET,
                    lambda: sign_session.measure(aws, runs=n),
                )
            )
    except BenchError as exc:  # no peer at all: the peer rows cannot run
        for mod in (encrypt_passphrase, encrypt_session, sign_session):
            rows.append(Comparison(mod.NAME, "kmscli", "aws kms (moto)", mod.TARGET, error=str(exc)[:200]))
    rows.append(
        _guarded(
            scale.NAME,
            "encrypt, 10,000 keys",
            "encrypt, 10 keys",
            scale.TARGET,
            lambda: scale.measure(runs=n),
        )
    )
    serve_raw = ""
    print(
        "running: serve (boto3 Encrypt against kmscli serve and moto_server) ...", file=sys.stderr, flush=True
    )
    try:
        serve_rows, serve_raw = serve.measure(seconds=3.0 if args.quick else 10.0)
        rows.extend(serve_rows)
    except BenchError as exc:
        rows.append(
            Comparison(
                "serve Encrypt c=8 (1/req/s)", "kmscli serve", "moto_server", 1 / 3, error=str(exc)[:200]
            )
        )
    audit_output = ""
    try:
        audit_row, audit_output = audit_query_row()
    except BenchError as exc:
        audit_row = Comparison(AUDIT_NAME, "kmscli audit", "jq", AUDIT_TARGET, error=str(exc)[:200])
    rows.append(audit_row)
    print(f"running: {audit_scale.NAME} ...", file=sys.stderr, flush=True)
    try:
        rows.extend(audit_scale.measure())
    except BenchError as exc:
        rows.append(
            Comparison(
                audit_scale.NAME, "kmscli audit", "DuckDB", audit_scale.TARGET_INDEX, error=str(exc)[:200]
            )
        )
    try:
        breakdown = encrypt_profile.report(runs=slow)
    except BenchError as exc:
        breakdown = f"(encrypt time breakdown failed: {exc})"

    from kmscli import __version__

    table = common.format_table(rows)
    info = common.machine_info(
        {
            "kmscli": __version__,
            **extra_info,
            "runs": f"{n} per side ({3 * n - 4} for start-up, {slow} for the passphrase and the breakdown)",
        }
    )
    notes = [breakdown]
    if serve_raw:
        notes.append(
            "bench/serve.py raw figures (10 s per run, in slices alternating between kmscli, moto and "
            "the HTTP layer alone, each after a 2 s warm-up), and what each target leaves for the "
            "request's work:\n\n```\n" + serve_raw + "\n```"
        )
    if audit_output:
        notes.append("bench/audit_query.py output:\n\n```\n" + audit_output + "\n```")
    block = common.figures_block(table, info, notes)
    print(table)
    print()
    print(breakdown)
    if args.no_readme or args.quick:
        print("\n" + block)
    else:
        print(f"\nfigures written to {write_figures(block, update_readme=args.update_readme)}")
    if any(row.status == "ERROR" for row in rows):
        return 1
    if args.strict and any(row.status == "FAIL" for row in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
