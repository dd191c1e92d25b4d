"""Benchmark: ``kmscli audit --log-file F --event-name Decrypt --output json`` against jq.

Generates a realistic log of N events (default 500,000) in the writer's exact line format (the
chain values are random hex of the right length: the query never checks them), then times, in the
same run and alternately:

    kmscli audit --log-file F --event-name Decrypt --output json > /dev/null
    jq -c 'select(.eventName=="Decrypt")' F > /dev/null

and prints the median wall times, the ratio (target <= 0.25) and kmscli's peak RSS (target < 200 MiB),
measured with wait4() on the child. It also checks that both select the same number of events.

    python bench/audit_query.py [--events 500000] [--runs 3] [--file PATH] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/audit_query.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ACCOUNT = "111122223333"
REGION = "us-east-1"
MIX = [  # (eventName, weight, readOnly, carries an encryption context)
    ("Decrypt", 40, True, True),
    ("GenerateDataKey", 22, True, True),
    ("Encrypt", 15, True, True),
    ("DescribeKey", 8, True, False),
    ("ReEncrypt", 3, True, True),
    ("GenerateDataKeyWithoutPlaintext", 3, True, True),
    ("ListAliases", 3, True, False),
    ("ListKeys", 2, True, False),
    ("GenerateRandom", 2, True, False),
    ("TagResource", 1, False, False),
    ("EnableKey", 1, False, False),
]
ERRORS = [
    ("AccessDeniedException", "User is not authorized to perform: kms:Decrypt"),
    ("InvalidCiphertextException", "The ciphertext is invalid, damaged, or was not produced for this key."),
    ("DisabledException", "The key is disabled."),
]


def _identity(principal: str) -> dict[str, Any]:
    name = principal.rsplit("/", 1)[-1]
    if ":user/" in principal:
        return {
            "type": "IAMUser",
            "principalId": "AIDA" + name.upper()[:17].ljust(17, "X"),
            "arn": principal,
            "accountId": ACCOUNT,
            "userName": name,
        }
    return {
        "type": "AssumedRole",
        "principalId": "AROA" + name.upper()[:17].ljust(17, "X"),
        "arn": principal,
        "accountId": ACCOUNT,
    }


def generate(path: Path, count: int, seed: int = 7) -> None:
    """Write ``count`` events in the audit writer's line format."""
    rng = random.Random(seed)
    keys = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(50)]
    principals = [f"arn:aws:iam::{ACCOUNT}:role/service-{i}" for i in range(12)] + [
        f"arn:aws:iam::{ACCOUNT}:user/user{i}" for i in range(8)
    ]
    identities = [_identity(p) for p in principals]
    names = [m[0] for m in MIX]
    weights = [m[1] for m in MIX]
    info = {m[0]: m for m in MIX}
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    step = dt.timedelta(days=30) / count
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    with open(path, "w", encoding="utf-8") as fh:
        batch = []
        for seq in range(1, count + 1):
            name = rng.choices(names, weights)[0]
            _, _, read_only, has_ctx = info[name]
            key = keys[int(rng.paretovariate(1.2)) % len(keys)]
            arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}"
            req: dict[str, Any] | None = None
            resp: dict[str, Any] | None = None
            if has_ctx:
                ctx = {"object": f"s3://bucket-{rng.randrange(5)}/data/{rng.randrange(10000)}.csv"}
                req = {"encryptionContext": ctx, "keyId": arn}
                if name == "Decrypt":
                    req = {"encryptionContext": ctx}
                resp = {"keyId": arn, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
                if name in ("GenerateDataKey", "GenerateDataKeyWithoutPlaintext"):
                    req["keySpec"] = "AES_256"
            elif name in ("DescribeKey", "TagResource", "EnableKey"):
                req = {"keyId": key}
            elif name == "GenerateRandom":
                req = {"numberOfBytes": 32}
            event: dict[str, Any] = {
                "eventVersion": "1.08",
                "userIdentity": rng.choice(identities),
                "eventTime": (start + step * seq).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": "kms.amazonaws.com",
                "eventName": name,
                "awsRegion": REGION,
                "sourceIPAddress": "127.0.0.1",
                "userAgent": "kmscli/0.1.0",
            }
            if rng.random() < 0.03:
                event["errorCode"], event["errorMessage"] = rng.choice(ERRORS)
                resp = None
            event["requestParameters"] = req
            event["responseElements"] = resp
            event.update(
                {
                    "requestID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "eventID": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "readOnly": read_only,
                    "resources": []
                    if name in ("ListKeys", "ListAliases", "GenerateRandom")
                    else [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": arn}],
                    "eventType": "AwsApiCall",
                    "managementEvent": True,
                    "recipientAccountId": ACCOUNT,
                    "eventCategory": "Management",
                    "sequence": seq,
                    "chain": f"{rng.getrandbits(256):064x}",
                }
            )
            batch.append(dumps(event))
            if len(batch) >= 10000:
                fh.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            fh.write("\n".join(batch) + "\n")


#: A fresh, small interpreter runs each command and reports its wait4() figures: a child forked
#: from this (larger) process would inherit our peak RSS into its own ru_maxrss.
_LAUNCHER = """
import os, subprocess, sys, time
out = sys.argv[1]
cmd = sys.argv[2:]
with open(out, "wb") as fh:
    begin = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - begin
code = os.waitstatus_to_exitcode(status)
if code:
    sys.stderr.write(err.decode(errors="replace"))
    sys.exit(code)
print(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
"""


def run(cmd: list[str], out: str = os.devnull) -> tuple[float, float, int]:
    """Wall time (s), CPU time (s) and peak RSS (KiB) of one run of ``cmd`` with stdout to ``out``."""
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, out, *cmd], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({done.returncode}): {done.stderr}")
    elapsed, cpu, rss = done.stdout.split()
    return float(elapsed), float(cpu), int(rss)


@dataclass
class Result:
    """What one benchmark run measured."""

    events: int
    selected: int
    ours_wall: list[float] = field(default_factory=list)
    jq_wall: list[float] = field(default_factory=list)
    ours_cpu: list[float] = field(default_factory=list)
    jq_cpu: list[float] = field(default_factory=list)
    peak_kib: int = 0

    @property
    def ratio(self) -> float:
        """Median wall time of kmscli over jq's."""
        return statistics.median(self.ours_wall) / statistics.median(self.jq_wall)

    @property
    def cpu_ratio(self) -> float:
        """Median CPU time of kmscli over jq's (steadier on a busy machine)."""
        return statistics.median(self.ours_cpu) / statistics.median(self.jq_cpu)


class BenchFailure(RuntimeError):
    """The benchmark could not run, or kmscli and jq disagreed."""


def benchmark(events: int = 500_000, runs: int = 3, log: Path | None = None, keep: bool = False) -> Result:
    """Generate (unless ``log`` exists), check both tools select the same events, time them."""
    from bench import common

    jq = shutil.which("jq")
    if jq is None:
        raise BenchFailure("jq is not installed: cannot compare")
    tmp = Path(tempfile.mkdtemp(prefix="kmscli-bench-"))
    log = log or tmp / "audit.jsonl"
    try:
        if not log.exists():
            t = time.perf_counter()
            generate(log, events)
            print(
                f"generated {events} events, {log.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t:.1f}s"
            )
        with open(log, "rb") as fh:
            count = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
        ours_cmd = [
            *common.kmscli_argv(),
            "audit",
            "--log-file",
            str(log),
            "--event-name",
            "Decrypt",
            "--output",
            "json",
        ]
        jq_cmd = [jq, "-c", 'select(.eventName=="Decrypt")', str(log)]
        # correctness first: both select the same events, in the same order
        run(ours_cmd, str(tmp / "ours.json"))
        run(jq_cmd, str(tmp / "jq.jsonl"))
        ours_ids = [e["eventID"] for e in json.loads((tmp / "ours.json").read_bytes())]
        jq_ids = [json.loads(line)["eventID"] for line in (tmp / "jq.jsonl").read_bytes().splitlines()]
        if ours_ids != jq_ids:
            raise BenchFailure(f"kmscli selected {len(ours_ids)} events, jq {len(jq_ids)}: not the same")
        result = Result(events=count, selected=len(ours_ids))
        del ours_ids, jq_ids
        (tmp / "ours.json").unlink()
        (tmp / "jq.jsonl").unlink()
        for _ in range(runs):  # alternate, so both see the same machine load
            wall, cpu, rss = run(ours_cmd)
            result.ours_wall.append(wall)
            result.ours_cpu.append(cpu)
            result.peak_kib = max(result.peak_kib, rss)
            wall, cpu, _rss = run(jq_cmd)
            result.jq_wall.append(wall)
            result.jq_cpu.append(cpu)
        return result
    finally:
        if keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def measure() -> Any:
    """The row for ``make bench`` (bench/run_all.py): a ``bench.common.Comparison``."""
    from bench.common import BenchError, Comparison

    row = Comparison("audit query vs jq", "kmscli audit --event-name", "jq -c select(...)", TARGET)
    try:
        result = benchmark()
    except (BenchFailure, SystemExit) as exc:
        raise BenchError(str(exc)) from None
    row.ours_s = statistics.median(result.ours_wall)
    row.peer_s = statistics.median(result.jq_wall)
    row.runs = len(result.ours_wall)
    row.samples = {"ours": result.ours_wall, "peer": result.jq_wall}
    row.note = (
        f"{result.events} events, {result.selected} selected; CPU ratio {result.cpu_ratio:.3f}; "
        f"peak RSS {result.peak_kib / 1024:.0f} MiB (target < {PEAK_MIB} MiB)"
    )
    return row


TARGET = 0.25
PEAK_MIB = 200


def events_parser(doc: str | None) -> argparse.ArgumentParser:
    """The command line the audit benchmarks share: ``--events N --runs R``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=3)
    return parser


def main() -> int:
    """Generate, time, compare, print."""
    parser = events_parser(__doc__)
    parser.add_argument("--file", type=Path, help="reuse (or create) this log file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    try:
        r = benchmark(args.events, args.runs, args.file, args.keep)
    except BenchFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    ok_ratio, ok_peak = r.ratio <= TARGET, r.peak_kib < PEAK_MIB * 1024
    print(f"events                 : {r.events}, selected {r.selected} (same as jq)")
    print(
        f"kmscli audit (median)  : {statistics.median(r.ours_wall):.3f}s wall, "
        f"{statistics.median(r.ours_cpu):.3f}s CPU  runs={' '.join(f'{x:.3f}' for x in r.ours_wall)}"
    )
    print(
        f"jq -c select (median)  : {statistics.median(r.jq_wall):.3f}s wall, "
        f"{statistics.median(r.jq_cpu):.3f}s CPU  runs={' '.join(f'{x:.3f}' for x in r.jq_wall)}"
    )
    print(
        f"kmscli peak RSS        : {r.peak_kib / 1024:.1f} MiB  (target < {PEAK_MIB} MiB: "
        f"{'PASS' if ok_peak else 'FAIL'})"
    )
    print(f"load average           : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"CPU-time ratio         : {r.cpu_ratio:.3f}")
    print(f"ratio kmscli/jq (wall) : {r.ratio:.3f}  (target <= {TARGET}: {'PASS' if ok_ratio else 'FAIL'})")
    return 0 if ok_ratio and ok_peak else 1


if __name__ == "__main__":
    sys.exit(main())
