"""bench/serve.py's load generator against a real server (a short run): it measures what it says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_the_http_layer_alone_answers_as_kmscli_does_without_the_work(server: Server) -> None:
    """bench/serve_floor.py: kmscli's server stack with a fixed Encrypt answer, the size of the real
    one for 1 KiB, parsed by boto3 as kmscli's; the body is still read and bounded as kmscli's."""
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    from bench import serve, serve_floor

    real = server.client().encrypt(
        KeyId=server.client().create_key()["KeyMetadata"]["KeyId"], Plaintext=bytes(1024)
    )
    assert len(real["CiphertextBlob"]) == serve_floor.CIPHERTEXT_BYTES
    with serve.floor_server() as url:
        floor = boto3.session.Session().client(
            "kms",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="floor",
            aws_secret_access_key="floor",
            config=Config(retries={"max_attempts": 0}),
        )
        answer = floor.encrypt(KeyId=serve.FLOOR_KEY_ID, Plaintext=bytes(1024))
        assert len(answer["CiphertextBlob"]) == serve_floor.CIPHERTEXT_BYTES
        assert answer["KeyId"] == serve_floor.KEY_ARN and answer["ResponseMetadata"]["RequestId"]
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            floor.encrypt(KeyId=serve.FLOOR_KEY_ID, Plaintext=bytes(300 * 1024))
        assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
