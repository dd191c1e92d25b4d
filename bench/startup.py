"""Benchmark 1, start-up: ``kmscli --version`` against the same venv's ``python -c pass``.

The ratio measures what kmscli adds to bare interpreter start-up on its fastest path; target <= 3.
"""

from __future__ import annotations

import sys

from bench.common import Comparison, base_env, compare, kmscli_argv, measured

NAME = "start-up"
TARGET = 3.0


def measure(runs: int = 21, warmup: int = 3) -> Comparison:
    """Median wall time of ``kmscli --version`` vs ``python -c pass`` (same interpreter)."""
    env = base_env()
    row = Comparison(NAME, "kmscli --version", "python -c pass", TARGET)
    ours, peer = compare(
        [*kmscli_argv(), "--version"], env, [sys.executable, "-c", "pass"], env, runs=runs, warmup=warmup
    )
    return measured(row, ours, peer)


if __name__ == "__main__":
    from bench.common import format_table

    print(format_table([measure()]))
