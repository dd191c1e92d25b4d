"""Benchmark: audit queries at scale, kmscli (scan and index) against DuckDB and jq, in one run.

Generates a realistic log in a real vault: N events (default 500,000) built with kmscli's own event
builder (``kmscli.audit.events.build``) in the shapes kmscli writes for Encrypt, Decrypt,
GenerateDataKey, ReEncrypt, DescribeKey, ... with 50 principals (IAM users and roles, each with an
access key id and a source address), 200 keys, 1000 objects as encryption contexts, 2% refused
calls, over 30 days, chained with the vault's real audit key into 64 MiB segments. Then
``kmscli audit reindex`` builds the sidecar indexes, and three queries run, alternately:

    Q1  --event-name Decrypt --encryption-context object=V
    Q2  --key-id ARN --start-time T1 --end-time T2          (7 days)
    Q3  --errors-only --principal arn:aws:iam::111122223333:user/bob

each as ``kmscli audit --log-file VAULT/audit`` (a scan: no key, no index), as ``kmscli audit`` with
``KMSCLI_SESSION`` (the index), as DuckDB over the same files with explicit columns, and as jq.
Every side's answer is checked against the others (same event ids, same order) before timing.
Peak RSS is measured with wait4() on each kmscli child.

    python bench/audit_scale.py [--events 500000] [--runs 3] [--keep DIR] [--selective-only]

``--events 5000000 --selective-only`` is the 5M run (``make bench-audit-5m``): it generates the log,
times Q1 and Q3 with the index, and deletes the log.
"""

from __future__ import annotations

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python bench/audit_scale.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.audit_query import events_parser, run

ACCOUNT = "111122223333"
REGION = "us-east-1"
NAME = "audit at scale"
#: kmscli without the index against DuckDB; with the index against DuckDB.
TARGET_SCAN = 1.0
TARGET_INDEX = 0.1
PEAK_MIB = 200
BOB = f"arn:aws:iam::{ACCOUNT}:user/bob"
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
DAYS = 30
MIX = [  # (eventName, weight, carries an encryption context)
    ("Decrypt", 40, True),
    ("GenerateDataKey", 22, True),
    ("Encrypt", 15, True),
    ("DescribeKey", 8, False),
    ("ReEncrypt", 3, True),
    ("GenerateDataKeyWithoutPlaintext", 3, True),
    ("ListAliases", 3, False),
    ("ListKeys", 2, False),
    ("GenerateRandom", 2, False),
    ("TagResource", 1, False),
    ("EnableKey", 1, False),
]
ERRORS = [
    ("AccessDeniedException", "User: {p} is not authorized to perform: kms:{op} on resource: {arn}"),
    ("InvalidCiphertextException", "The ciphertext is invalid, damaged, or was not produced for this key."),
    ("DisabledException", "arn:aws:kms:us-east-1:111122223333:key/{k} is disabled."),
    (
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.",
    ),
]


def _zipf(rng: random.Random, n: int, s: float) -> Callable[[], int]:
    weights = [1 / (i + 1) ** s for i in range(n)]
    total = sum(weights)
    cum = []
    acc = 0.0
    for w in weights:
        acc += w / total
        cum.append(acc)
    import bisect

    return lambda: min(bisect.bisect_left(cum, rng.random()), n - 1)


def generate(
    folder: Path, count: int, audit_key: bytes, seed: int = 7, segment_bytes: int = 64 << 20
) -> dict[str, Any]:
    """Write ``count`` chained events as the writer's segments in ``folder``; returns query values."""
    from kmscli.audit import chain, events
    from kmscli.audit.log import segment_name

    rng = random.Random(seed)
    keys = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(200)]
    arns = [f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{k}" for k in keys]
    material = [rng.getrandbits(256).to_bytes(32, "big").hex() for _ in keys]
    principals = [f"arn:aws:iam::{ACCOUNT}:user/{n}" for n in ("alice", "bob", "carol", "dave", "erin")]
    principals += [f"arn:aws:iam::{ACCOUNT}:user/user{i:02d}" for i in range(15)]
    principals += [f"arn:aws:iam::{ACCOUNT}:role/service-{i:02d}" for i in range(30)]
    akids = [
        "AKIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        for _ in principals
    ]
    ips = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in principals]
    objects = [f"s3://bucket-{i % 7}/tenant-{i % 37}/object-{i:04d}.parquet" for i in range(1000)]
    pick_key = _zipf(rng, len(keys), 0.9)
    pick_principal = _zipf(rng, len(principals), 0.7)
    pick_object = _zipf(rng, len(objects), 0.6)
    names = [m[0] for m in MIX]
    weights = [m[1] for m in MIX]
    has_ctx = {m[0]: m[2] for m in MIX}
    step = dt.timedelta(days=DAYS) / count
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    prev = chain.genesis(audit_key)
    number = 1
    out = open(folder / segment_name(number), "wb")  # noqa: SIM115 (rotated below)
    size = 0
    batch: list[bytes] = []
    try:
        for seq in range(1, count + 1):
            name = rng.choices(names, weights)[0]
            ki = pick_key()
            pi = pick_principal()
            key, arn = keys[ki], arns[ki]
            ctx = {"object": objects[pick_object()]} if has_ctx[name] else None
            req: dict[str, Any] | None
            resp: dict[str, Any] | None = {"keyId": arn, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
            resources = [arn]
            if name == "Decrypt":
                req = {"encryptionContext": ctx}
                resp = {
                    "keyId": arn,
                    "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
                    "keyMaterialId": material[ki],
                }
            elif name in ("Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext"):
                req = {"keyId": key, "encryptionContext": ctx}
                if name != "Encrypt":
                    req["keySpec"] = "AES_256"
                    resp = {"keyId": arn, "keyMaterialId": material[ki]}
            elif name == "ReEncrypt":
                req = {
                    "destinationKeyId": key,
                    "sourceEncryptionContext": ctx,
                    "destinationEncryptionContext": ctx,
                }
                resp = {"keyId": arn, "sourceKeyId": arn, "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT"}
            elif name in ("DescribeKey", "TagResource", "EnableKey"):
                req = {"keyId": key}
                resp = (
                    None
                    if name != "DescribeKey"
                    else {"keyMetadata": {"keyId": key, "arn": arn, "keyState": "Enabled"}}
                )
            elif name == "GenerateRandom":
                req, resp, resources = {"numberOfBytes": 32}, None, []
            else:
                req, resp, resources = None, None, []
            error = None
            if rng.random() < 0.02:
                code, text = rng.choice(ERRORS)
                error = (code, text.format(p=principals[pi], op=name, arn=arn, k=key))
                resp = None
            event = events.build(
                name=name,
                when=START + step * seq,
                principal=principals[pi],
                account_id=ACCOUNT,
                region=REGION,
                request=req,
                response=resp,
                resources=resources,
                read_only=name not in ("TagResource", "EnableKey"),
                request_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                error=error,
            )
            # what `kmscli serve` records: the caller's access key id and address
            event["userIdentity"]["accessKeyId"] = akids[pi]
            event["sourceIPAddress"] = ips[pi]
            event["userAgent"] = "aws-cli/2.17.0 Python/3.11 kmscli-serve/0.1.0"
            event["sequence"] = seq
            event["chain"] = prev = chain.link(audit_key, prev, event)
            line = dumps(event).encode() + b"\n"
            if size + len(line) > segment_bytes:
                out.write(b"".join(batch))
                batch = []
                out.close()
                number += 1
                out = open(folder / segment_name(number), "wb")  # noqa: SIM115
                size = 0
            batch.append(line)
            size += len(line)
            if len(batch) >= 5000:
                out.write(b"".join(batch))
                batch = []
        out.write(b"".join(batch))
    finally:
        out.close()
    for path in folder.iterdir():
        path.chmod(0o600)
    return {
        "object": objects[40],
        "key": arns[25],
        "start": (START + dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": (START + dt.timedelta(days=17)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def queries(v: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The three queries: kmscli arguments, DuckDB WHERE clause, jq filter."""
    q = "'"
    return {
        "Q1 Decrypt + context": {
            "args": ["--event-name", "Decrypt", "--encryption-context", f"object={v['object']}"],
            "sql": f"eventName = 'Decrypt' AND requestParameters.encryptionContext.object = {q}{v['object']}{q}",
            "jq": f'select(.eventName=="Decrypt" and .requestParameters.encryptionContext.object=="{v["object"]}")',
        },
        "Q2 key + 7 days": {
            "args": ["--key-id", v["key"], "--start-time", v["start"], "--end-time", v["end"]],
            "sql": f"list_contains(list_transform(resources, lambda r: r.ARN), '{v['key']}') "
            f"AND eventTime BETWEEN TIMESTAMP '{v['start'][:-1]}' AND TIMESTAMP '{v['end'][:-1]}'",
            "jq": f'select((.resources // [] | map(.ARN) | index("{v["key"]}")) != null '
            f'and .eventTime >= "{v["start"]}" and .eventTime <= "{v["end"]}")',
        },
        "Q3 errors + principal": {
            "args": ["--errors-only", "--principal", BOB],
            "sql": f"errorCode IS NOT NULL AND userIdentity.arn = '{BOB}'",
            "jq": f'select(.errorCode != null and .userIdentity.arn == "{BOB}")',
        },
    }


#: DuckDB reads the segments with the columns it needs declared (no schema inference).
DUCKDB_SCRIPT = """
import sys, time
import duckdb
glob, where, out = sys.argv[1], sys.argv[2], sys.argv[3]
cols = ("{'eventTime': 'TIMESTAMP', 'eventName': 'VARCHAR', 'eventID': 'VARCHAR', 'errorCode': 'VARCHAR', "
        "'userIdentity': 'STRUCT(arn VARCHAR)', 'resources': 'STRUCT(\\"ARN\\" VARCHAR)[]', "
        "'requestParameters': 'STRUCT(\\"encryptionContext\\" STRUCT(object VARCHAR))'}")
rows = duckdb.sql(
    f"SELECT eventID FROM read_json('{glob}', format='newline_delimited', columns={cols}) "
    f"WHERE {where}"
).fetchall()
with open(out, "w") as fh:
    fh.write("\\n".join(r[0] for r in rows))
"""


def _ids_jsonl(path: Path) -> list[str]:
    return [json.loads(line)["eventID"] for line in path.read_bytes().splitlines() if line.strip()]


def _duckdb_python() -> str:
    """An interpreter that has duckdb: this one, or the repo's test venv."""
    for candidate in (sys.executable, str(Path(__file__).resolve().parents[1] / ".venv/bin/python")):
        if subprocess.run([candidate, "-c", "import duckdb"], capture_output=True).returncode == 0:
            return candidate
    raise SystemExit("duckdb is not installed (pip install duckdb, or `make test` for .venv)")


def _kmscli(*args: str) -> list[str]:
    """The kmscli under test as a user starts it (its console script), as every other bench does."""
    from bench import common

    return [*common.kmscli_argv(), *args]


def _setup(work: Path, events: int) -> tuple[dict[str, str], dict[str, Any]]:
    """A vault (default KDF) with a generated log, indexed; (environment with a session, values).
    A folder that already holds a log of ``events`` events (``--keep DIR`` run before) is reused."""
    from bench import common

    common.precompile()  # an installed kmscli has its .pyc files
    env = {k: v for k, v in common.base_env().items() if not k.startswith(("KMSCLI_", "AWS_"))}
    env.update(
        {
            "KMSCLI_VAULT": str(work / "vault"),
            "KMSCLI_CONFIG": str(work / "config.toml"),
            "KMSCLI_PASSPHRASE": "kmscli-bench-passphrase",
            "XDG_RUNTIME_DIR": str(work / "run"),
        }
    )
    (work / "run").mkdir(mode=0o700, exist_ok=True)
    folder = work / "vault" / "audit"
    done = work / "generated.json"
    if done.exists() and json.loads(done.read_text()).get("events") == events:
        values = json.loads(done.read_text())["values"]
        size = sum(p.stat().st_size for p in folder.glob("audit-*.jsonl"))
        print(f"reusing {events} events, {size / 2**20:.0f} MiB, in {folder}", flush=True)
    else:
        if not (work / "vault").exists():
            subprocess.run(_kmscli("vault", "init"), env=env, check=True, capture_output=True)
        from kmscli.vault.store import Vault

        audit_key = Vault.open(work / "vault").unlock(b"kmscli-bench-passphrase").audit_key
        folder.mkdir(mode=0o700, exist_ok=True)
        for old in folder.glob("audit-*"):
            old.unlink()
        t = time.perf_counter()
        values = generate(folder, events, audit_key)
        size = sum(p.stat().st_size for p in folder.glob("audit-*.jsonl"))
        print(
            f"generated {events} events, {size / 2**20:.0f} MiB, in {time.perf_counter() - t:.1f} s",
            flush=True,
        )
        t = time.perf_counter()
        subprocess.run(_kmscli("audit", "reindex"), env=env, check=True, capture_output=True)
        idx = sum(p.stat().st_size for p in folder.glob("*.idx"))
        print(f"reindex: {time.perf_counter() - t:.1f} s, indexes {idx / 2**20:.1f} MiB", flush=True)
        done.write_text(json.dumps({"events": events, "values": values}))
    token = subprocess.run(
        _kmscli("unlock", "--raw"), env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    env.pop("KMSCLI_PASSPHRASE")
    env["KMSCLI_SESSION"] = token
    values["size_mib"] = size / 2**20
    return env, values


def benchmark(
    events: int = 500_000, runs: int = 3, keep: Path | None = None, selective_only: bool = False
) -> dict[str, Any]:
    """Generate, check every side agrees, time them; the figures per query."""
    work = keep or Path(tempfile.mkdtemp(prefix="kmscli-audit-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    jq = shutil.which("jq")
    duck = _duckdb_python()
    results: dict[str, Any] = {"events": events}
    try:
        env, values = _setup(work, events)
        results["size_mib"] = values["size_mib"]
        folder = work / "vault" / "audit"
        glob = str(folder / "audit-*.jsonl")
        out = str(work / "out")
        all_queries = queries(values)
        if selective_only:
            all_queries = {k: q for k, q in all_queries.items() if not k.startswith("Q2")}
        for title, q in all_queries.items():
            sides: dict[str, list[str]] = {
                "index": _kmscli("audit", *q["args"], "--output", "jsonl"),
            }
            if not selective_only:
                sides["scan"] = _kmscli("audit", *q["args"], "--output", "jsonl", "--log-file", str(folder))
                sides["duckdb"] = [duck, "-c", DUCKDB_SCRIPT, glob, q["sql"], out + ".duck"]
                if jq:
                    sides["jq"] = ["sh", "-c", f"cat {glob} | {jq} -c '{q['jq']}'"]
            # correctness first: every side selects the same events in the same order
            answers = {}
            for side, cmd in sides.items():
                _run_env(cmd, env, out)
                answers[side] = (
                    Path(out + ".duck").read_text().split() if side == "duckdb" else _ids_jsonl(Path(out))
                )
            first = answers["index"]
            for side, ids in answers.items():
                if ids != first and sorted(ids) != sorted(first):
                    raise SystemExit(f"{title}: {side} selected {len(ids)} events, index {len(first)}")
            row: dict[str, Any] = {
                "selected": len(first),
                "wall": {s: [] for s in sides},
                "cpu": {s: [] for s in sides},
                "peak_kib": {},
            }
            for i in range(runs):  # interleaved, so load from other processes falls on every side
                for side, cmd in sides.items():
                    if side == "jq" and i:  # 30x slower than the rest: once is enough to place it
                        continue
                    wall, cpu, rss = _run_env(cmd, env, os.devnull)
                    row["wall"][side].append(wall)
                    row["cpu"][side].append(cpu)
                    row["peak_kib"][side] = max(row["peak_kib"].get(side, 0), rss)
            row["median"] = {s: statistics.median(w) for s, w in row["wall"].items()}
            row["median_cpu"] = {s: statistics.median(w) for s, w in row["cpu"].items()}
            results[title] = row
            print(_line(title, row), flush=True)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return results


def _run_env(cmd: list[str], env: dict[str, str], out: str) -> tuple[float, float, int]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return run(cmd, out)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _line(title: str, row: dict[str, Any]) -> str:
    med = row["median"]
    parts = [f"{title}: {row['selected']} events;"]
    for side in ("index", "scan", "duckdb", "jq"):
        if side in med:
            parts.append(f"{side} {med[side]:.3f} s")
    cpu = row["median_cpu"]
    if "duckdb" in med:
        parts.append(f"| wall: scan/duckdb {med['scan'] / med['duckdb']:.3f} (<= {TARGET_SCAN})")
        parts.append(f"index/duckdb {med['index'] / med['duckdb']:.3f} (<= {TARGET_INDEX})")
        parts.append(
            f"| CPU: index {cpu['index']:.3f} s, scan {cpu['scan']:.3f} s, duckdb {cpu['duckdb']:.3f} s, "
            f"scan/duckdb {cpu['scan'] / cpu['duckdb']:.3f}, index/duckdb {cpu['index'] / cpu['duckdb']:.3f}"
        )
    else:
        parts.append(f"| CPU: index {cpu['index']:.3f} s")
    peak = max(row["peak_kib"].get(s, 0) for s in ("index", "scan")) / 1024
    parts.append(f"| kmscli peak RSS {peak:.0f} MiB (<= {PEAK_MIB})")
    return " ".join(parts)


def measure() -> list[Any]:
    """The rows for ``make bench`` (bench/run_all.py): per query, scan vs DuckDB and index vs DuckDB."""
    from bench.common import BenchError, Comparison

    try:
        results = benchmark()
    except (SystemExit, subprocess.CalledProcessError) as exc:
        raise BenchError(str(exc)) from None
    rows = []
    for title, row in results.items():
        if not isinstance(row, dict):
            continue
        med = row["median"]
        peak = max(row["peak_kib"].get(s, 0) for s in ("index", "scan")) / 1024
        note = (
            f"{results['events']} events ({results['size_mib']:.0f} MiB), {row['selected']} selected; "
            f"jq {med.get('jq', float('nan')):.2f} s; kmscli peak RSS {peak:.0f} MiB (<= {PEAK_MIB})"
        )
        for side, target in (("scan", TARGET_SCAN), ("index", TARGET_INDEX)):
            c = Comparison(f"{NAME}: {title} ({side})", f"kmscli audit ({side})", "DuckDB", target)
            c.ours_s, c.peer_s, c.runs = med[side], med["duckdb"], len(row["wall"][side])
            c.samples = {"ours": row["wall"][side], "peer": row["wall"]["duckdb"]}
            cpu = row["median_cpu"]
            c.note = f"{note}; CPU ratio {cpu[side] / cpu['duckdb']:.3f}"
            rows.append(c)
    return rows


def main() -> int:
    """Generate, time, compare, print."""
    parser = events_parser(__doc__)
    parser.add_argument("--keep", type=Path, help="work in (and keep) this folder")
    parser.add_argument(
        "--selective-only", action="store_true", help="only Q1 and Q3 with the index (5M run)"
    )
    args = parser.parse_args()
    results = benchmark(args.events, args.runs, args.keep, args.selective_only)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ok = True
    for row in results.values():
        if not isinstance(row, dict):
            continue
        med = row["median"]
        if "duckdb" in med:
            ok &= med["scan"] <= TARGET_SCAN * med["duckdb"] and med["index"] <= TARGET_INDEX * med["duckdb"]
        else:
            ok &= med["index"] < 1.0
        ok &= max(row["peak_kib"].values()) / 1024 <= PEAK_MIB or "duckdb" in row["peak_kib"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
