"""The load generator of bench/serve.py: boto3 Encrypt of 1 KiB from N client processes.

Runs with the peer venv's Python (bench/.venv has boto3 through moto), so kmscli and moto are driven
by the same client. Each process warms up (connection, client), then calls Encrypt in a loop for the
measured window; the parent prints one JSON line: requests/s, p50 and p99 in seconds, errors, and
every latency (sorted), so that runs split into slices can be merged (bench/serve.py).

    python bench/serve_client.py URL ACCESS_KEY SECRET KEY_ID|create SECONDS CONCURRENCY
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from typing import Any


def _client(url: str, access: str, secret: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "kms",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}, max_pool_connections=2),
    )


def _worker(args: tuple[str, str, str, str, float, float]) -> tuple[list[float], int]:
    url, access, secret, key_id, start_at, stop_at = args
    kms = _client(url, access, secret)
    plaintext = os.urandom(1024)
    while time.time() < start_at:  # warm-up: connection and client caches
        kms.encrypt(KeyId=key_id, Plaintext=plaintext)
    latencies: list[float] = []
    errors = 0
    while time.time() < stop_at:
        t0 = time.perf_counter()
        try:
            kms.encrypt(KeyId=key_id, Plaintext=plaintext)
        except Exception:
            errors += 1
            continue
        latencies.append(time.perf_counter() - t0)
    return latencies, errors


def main(argv: list[str]) -> int:
    url, access, secret, key_id, seconds, concurrency = argv
    if key_id == "create":
        key_id = _client(url, access, secret).create_key()["KeyMetadata"]["KeyId"]
    n = int(concurrency)
    start_at = time.time() + 2.0
    stop_at = start_at + float(seconds)
    with multiprocessing.get_context("fork").Pool(n) as pool:
        results = pool.map(_worker, [(url, access, secret, key_id, start_at, stop_at)] * n)
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = sum(e for _, e in results)
    if not latencies:
        print(json.dumps({"error": f"no successful request ({errors} errors)"}))
        return 1
    print(json.dumps({**summary(latencies, errors, float(seconds)), "latencies": latencies}))
    return 0


def summary(latencies: list[float], errors: int, seconds: float) -> dict[str, Any]:
    """requests/s over ``seconds``, p50 and p99 of ``latencies`` (sorted, not empty), errors: the
    one place they are computed (bench/serve.py merges slices with it)."""
    return {
        "requests_per_s": len(latencies) / seconds,
        "p50_s": latencies[len(latencies) // 2],
        "p99_s": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "requests": len(latencies),
        "errors": errors,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
