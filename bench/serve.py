"""``kmscli serve`` against moto's server: boto3 Encrypt of 1 KiB at concurrency 1 and 8.

Both servers run on loopback at the same time and are driven by the same client
(bench/serve_client.py, boto3 from the peer venv, one process per concurrent client), 10 s per
measurement, taken in slices that alternate between the two servers (kmscli, moto, moto, kmscli),
each after a 2 s warm-up: this machine's speed drifts by a quarter or more within minutes, and
alternating gives both servers the same share of it. Reported: requests/s over the measured
seconds, p50 and p99 of every slice's latencies together. Then the slow-disk check:
kmscli serve with every audit fsync taking 5 ms longer (KMSCLI_TEST_FSYNC_DELAY_MS=5), with group
commit, at concurrency 8, against what one such fsync per request allows (200 req/s); the run
without group commit (KMSCLI_TEST_NO_GROUP_COMMIT=1) is printed beside it.

A third server takes its turn in the same slices: the HTTP layer alone (bench/serve_floor.py,
kmscli's server stack answering a fixed Encrypt response without doing the work). It is no target's
peer: it shows what each target leaves for the request's own work (``budget``).

Rows of the table (as bench/run_all.py's, lower ratio is better): per-request time is 1/throughput,
so "3x moto's requests/s" is a ratio of at most 0.33.

    python bench/serve.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import common
from bench.common import BenchError, Comparison

FSYNC_DELAY_MS = 5.0
#: The targets, as ratios of time per request (1/requests per second): at most half moto's at
#: concurrency 1, a third at 8, and with the slow-disk hook a quarter of one fsync per request.
TARGET_C1 = 0.5
TARGET_C8 = 1 / 3
TARGET_GROUP_COMMIT = 0.25
CLIENT = common.BENCH_DIR / "serve_client.py"
FLOOR = common.BENCH_DIR / "serve_floor.py"
#: The key id the client sends the floor server, which answers without looking at it.
FLOOR_KEY_ID = "alias/floor"
#: Slices each server's measured seconds are split into, alternating between the servers.
SLICES = 2


def _peer_python() -> str:
    from bench.moto_peer import venv_bin

    return str(venv_bin("python"))


def load(url: str, access: str, secret: str, key_id: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """One measurement: the client's JSON result."""
    proc = common.run(
        [_peer_python(), str(CLIENT), url, access, secret, key_id, str(seconds), str(concurrency)],
        common.base_env(),
        timeout=seconds + 120,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if "error" in result:
        raise BenchError(f"load against {url}: {result['error']}")
    return result


def merge(parts: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """One measurement from slices of it that took ``seconds`` in all: requests/s over those
    seconds, p50 and p99 of all their latencies together, errors summed."""
    from bench.serve_client import summary

    latencies = sorted(x for part in parts for x in part["latencies"])
    if not latencies:
        raise BenchError("no successful request in any slice")
    return summary(latencies, sum(int(part["errors"]) for part in parts), seconds)


def alternate(
    runs: dict[str, Callable[[float], dict[str, Any]]], seconds: float, slices: int = SLICES
) -> dict[str, dict[str, Any]]:
    """Measure each of ``runs`` (name -> a load of so many seconds) for ``seconds`` in all, in
    ``slices`` slices taken in turn, the order reversed every other round (A B, B A, ...)."""
    parts: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    names = list(runs)
    for i in range(slices):
        for name in names if i % 2 == 0 else names[::-1]:
            parts[name].append(runs[name](seconds / slices))
    return {name: merge(parts[name], seconds) for name in names}


@contextmanager
def kmscli_server(extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, str, str]]:
    """A fresh vault with one access key, served by the kmscli under test; yields (url, key, secret)."""
    work = common.WORK_DIR / "serve"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    env = common.base_env()
    env.update(
        KMSCLI_VAULT=str(work / "vault"),
        KMSCLI_PASSPHRASE=common.BENCH_PASSPHRASE,
        KMSCLI_CONFIG=str(work / "config.toml"),
        XDG_RUNTIME_DIR=str(work / "run"),
    )
    kmscli = common.kmscli_argv()
    common.run([*kmscli, "vault", "init", *common.FLOOR_KDF_ARGS], env)
    out = common.run(
        [
            *kmscli,
            "credentials",
            "create",
            "--principal",
            "arn:aws:iam::111122223333:root",
            "--output",
            "text",
            "--query",
            "AccessKey.[AccessKeyId,SecretAccessKey]",
        ],
        env,
    ).stdout.split()
    argv = [*kmscli, "serve", "--port", "0"]
    with _listening("kmscli serve", argv, {**env, **(extra_env or {})}, work) as url:
        yield url, out[0], out[1]


@contextmanager
def floor_server() -> Iterator[str]:
    """The HTTP layer alone (bench/serve_floor.py, kmscli's server stack answering a fixed Encrypt
    response); yields its url."""
    work = common.WORK_DIR / "serve-floor"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    with _listening("the HTTP layer alone", [sys.executable, str(FLOOR)], common.base_env(), work) as url:
        yield url


@contextmanager
def _listening(name: str, argv: list[str], env: dict[str, str], work: Path) -> Iterator[str]:
    """Start ``argv``, a server announcing "listening on URL" on stderr; yield the URL, stop it."""
    log_path = work / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while not (m := re.search(r"listening on (\S+)", log_path.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"{name} did not start: {log_path.read_text()[-400:]}")
            time.sleep(0.05)
        yield m.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _row(
    name: str, ours: str, peer: str, target: float, ours_s: float, peer_s: float, note: str
) -> Comparison:
    return Comparison(name, ours, peer, target, ours_s=ours_s, peer_s=peer_s, runs=1, note=note)


def measure(seconds: float = 10.0) -> tuple[list[Comparison], str]:
    """Every serve row, and a text block with the raw figures."""
    from bench.moto_peer import MotoServer, ensure_venv

    ensure_venv()
    figures: dict[str, dict[str, Any]] = {}
    with kmscli_server() as (url, access, secret), MotoServer() as moto, floor_server() as floor:
        for c in (1, 8):

            def ours(seconds: float, c: int = c) -> dict[str, Any]:
                return load(url, access, secret, "create", seconds, c)

            def peer(seconds: float, c: int = c) -> dict[str, Any]:
                return load(moto.endpoint, "testing", "testing", "create", seconds, c)

            def http_only(seconds: float, c: int = c) -> dict[str, Any]:
                return load(floor, "floor", "floor", FLOOR_KEY_ID, seconds, c)

            measured = alternate({"kmscli": ours, "moto": peer, "floor": http_only}, seconds)
            figures[f"kmscli c={c}"], figures[f"moto c={c}"] = measured["kmscli"], measured["moto"]
            figures[f"{FLOOR_RUN} c={c}"] = measured["floor"]
    hook = {"KMSCLI_TEST_FSYNC_DELAY_MS": str(FSYNC_DELAY_MS)}
    with kmscli_server(hook) as (url, access, secret):
        figures["kmscli c=8, fsync +5 ms, group commit"] = load(url, access, secret, "create", seconds, 8)
    with kmscli_server({**hook, "KMSCLI_TEST_NO_GROUP_COMMIT": "1"}) as (url, access, secret):
        figures["kmscli c=8, fsync +5 ms, one fsync per request"] = load(
            url, access, secret, "create", seconds, 8
        )

    def per_request(key: str) -> float:
        return 1.0 / float(figures[key]["requests_per_s"])

    rows = [
        _row(
            "serve Encrypt c=1 (1/req/s)",
            "kmscli serve",
            "moto_server",
            TARGET_C1,
            per_request("kmscli c=1"),
            per_request("moto c=1"),
            "target: >= 2x moto's requests/s",
        ),
        _row(
            "serve Encrypt c=8 (1/req/s)",
            "kmscli serve",
            "moto_server",
            TARGET_C8,
            per_request("kmscli c=8"),
            per_request("moto c=8"),
            "target: >= 3x moto's requests/s",
        ),
        _row(
            "serve Encrypt c=8 p99",
            "kmscli serve p99",
            "50 ms budget",
            1.0,
            float(figures["kmscli c=8"]["p99_s"]),
            0.050,
            "target: p99 <= 50 ms",
        ),
        _row(
            "serve group commit c=8, fsync +5 ms",
            "group commit",
            f"one fsync per request ({1000 / FSYNC_DELAY_MS:.0f} req/s)",
            TARGET_GROUP_COMMIT,
            per_request("kmscli c=8, fsync +5 ms, group commit"),
            FSYNC_DELAY_MS / 1000,
            f"target: >= 4x what one {FSYNC_DELAY_MS:.0f} ms fsync per request allows "
            f"({1000 / FSYNC_DELAY_MS:.0f} req/s, a bound above the measured run without group commit)",
        ),
    ]
    lines = [f"{'run':48s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s}"]
    for name, fig in figures.items():
        lines.append(
            f"{name:48s} {fig['requests_per_s']:8.1f} {fig['p50_s'] * 1000:8.2f} "
            f"{fig['p99_s'] * 1000:8.2f} {fig['errors']:6d}"
        )
    per_s = {name: float(fig["requests_per_s"]) for name, fig in figures.items()}
    return rows, "\n".join([*lines, "", *budget(per_s)])


#: The name of the floor's runs among the raw figures.
FLOOR_RUN = "HTTP layer alone"


def budget(per_s: dict[str, float]) -> list[str]:
    """What each throughput target leaves for the request's own work (SigV4, the operation, the
    durable audit event) once the HTTP layer alone is paid, beside what kmscli's work took; from
    the raw figures' requests/s. Times are per request, 1/(requests/s): at concurrency 8 they are
    the machine's time, shared by the client and the server, not one request's latency."""
    columns = ("target", "HTTP layer alone", "left for the work", "kmscli's work")
    lines = [f"{'time per request (1/req/s)':26s}" + "".join(f"{c:>19s}" for c in columns)]
    group = "kmscli c=8, fsync +5 ms, group commit"
    cases = [
        ("c=1", TARGET_C1 / per_s["moto c=1"], "c=1", "kmscli c=1"),
        ("c=8", TARGET_C8 / per_s["moto c=8"], "c=8", "kmscli c=8"),
        ("c=8, fsync +5 ms", TARGET_GROUP_COMMIT * FSYNC_DELAY_MS / 1000, "c=8", group),
    ]
    for label, target, c, ours in cases:
        floor = 1 / per_s[f"{FLOOR_RUN} {c}"]
        times = (target, floor, target - floor, 1 / per_s[ours] - floor)
        lines.append(f"{label:26s}" + "".join(f"{t * 1000:16.2f} ms" for t in times))
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the serve benchmark alone and print its rows and raw figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run (default 10)")
    args = parser.parse_args(argv)
    rows, raw = measure(args.seconds)
    print(common.format_table(rows))
    print()
    print(raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
