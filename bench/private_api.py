"""What each use of a dependency's private API saves, in milliseconds (docs/architecture.md).

    python bench/private_api.py

Start-up costs are measured in fresh interpreters (``python -I``, the median CPU time of RUNS): the time to
import what kmscli imports anyway plus the object taken privately, against the same with the public
import. Nothing here is part of kmscli; it only measures the shortcuts kmscli/crypto takes.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time

RUNS = 21
BASE = "import cryptography.hazmat.primitives.hashes, cryptography.hazmat.primitives.hmac\n"

CASES = {
    "AESGCM from the Rust binding (crypto/primitives.py:aesgcm_class)": (
        "from cryptography.hazmat.bindings._rust import openssl as o\nx = o.aead.AESGCM\n",
        "from cryptography.hazmat.primitives.ciphers.aead import AESGCM as x\n",
    ),
    "DER key loader from the Rust binding (crypto/asymmetric.py:der_private_key_loader)": (
        "from cryptography.hazmat.bindings._rust import openssl as o\nx = o.keys.load_der_private_key\n",
        "from cryptography.hazmat.primitives.serialization import load_der_private_key as x\n",
    ),
    "ECDSA built with object.__new__ (crypto/asymmetric.py)": (
        "from cryptography.hazmat.primitives.asymmetric import ec\n"
        "from cryptography.hazmat.primitives import hashes\n"
        "x = object.__new__(ec.ECDSA); x._algorithm = hashes.SHA256(); x._deterministic_signing = False\n",
        "from cryptography.hazmat.primitives.asymmetric import ec\n"
        "from cryptography.hazmat.primitives import hashes\n"
        "x = ec.ECDSA(hashes.SHA256())\n",
    ),
}


def _cpu(code: str) -> float:
    """CPU time (user + system) of a fresh interpreter running ``code``: less disturbed by other load."""
    times = []
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-I", "-c", BASE + code], check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times) * 1000


def _scan_once() -> tuple[float, float, int]:
    """Decoding audit lines: ``JSONDecoder().scan_once`` against the public ``raw_decode``."""
    import json

    line = json.dumps(
        {
            "eventVersion": "1.08",
            "eventTime": "2026-01-15T12:00:00Z",
            "eventName": "Decrypt",
            "requestParameters": {"encryptionContext": {"app": "web"}, "keyId": "k" * 36},
            "resources": [{"ARN": "arn:aws:kms:us-east-1:111122223333:key/" + "k" * 36}],
            "sequence": 1,
            "chain": "ab" * 32,
        }
    )
    lines = [line] * 100_000
    decoder = json.JSONDecoder()
    scan_once = getattr(decoder, "scan_once")  # noqa: B009 (set in __init__, untyped)
    raw_decode = decoder.raw_decode
    private, public = [], []
    for _ in range(5):
        start = time.process_time()
        for text in lines:
            scan_once(text, 0)
        private.append(time.process_time() - start)
        start = time.process_time()
        for text in lines:
            raw_decode(text)
        public.append(time.process_time() - start)
    return min(private) * 1000, min(public) * 1000, len(lines)


def main() -> None:
    for name, (private, public) in CASES.items():
        a, b = _cpu(private), _cpu(public)
        print(f"{name}: {a:.1f} ms vs public {b:.1f} ms: saves {b - a:.1f} ms per start-up")
    a, b, n = _scan_once()
    print(
        f"JSONDecoder().scan_once (formerly audit/query.py) over {n} lines: {a:.0f} ms vs raw_decode {b:.0f} ms: "
        f"saves {b - a:.0f} ms ({(b - a) / n * 1e6:.0f} ns per line)"
    )


if __name__ == "__main__":
    main()
