"""bench/serve.py's load generator against a real server (a short run): it measures what it says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.serve.conftest import Server

CLIENT = Path(__file__).resolve().parents[2] / "bench" / "serve_client.py"


def test_load_generator_reports_throughput_and_latency(server: Server) -> None:
    access, secret = server.keys["admin"]
    before = len(server.events())
    proc = subprocess.run(
        [sys.executable, str(CLIENT), server.url, access, secret, "create", "0.5", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        env=server.env,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == 0 and result["requests"] > 0
    assert result["requests_per_s"] == result["requests"] / 0.5
    assert 0 < result["p50_s"] <= result["p99_s"]
    assert (
        result["latencies"] == sorted(result["latencies"]) and len(result["latencies"]) == result["requests"]
    )
    encrypts = [e for e in server.events()[before:] if e["eventName"] == "Encrypt"]
    assert len(encrypts) >= result["requests"]  # warm-up calls are audited too, just not counted
