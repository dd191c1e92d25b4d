"""Benchmark: `kmscli artifact sign` on a large file, next to `sha256sum` on the same file.

Usage: python bench/artifact_sign.py [--mib 256] [--kmscli PATH]

Creates a throwaway vault (cheap KDF: this measures hashing, not key derivation) and an ECC_NIST_P256
signing key, writes a random file of the given size, then times `sha256sum FILE` and
`openssl dgst -sha256 FILE` (same hash code as Python's hashlib) and `kmscli artifact sign FILE` (ECDSA_SHA_256: streamed SHA-256 + one DIGEST Sign). Prints MB/s of both
and their ratio. Each tool runs three times after a warm-up read; the best time counts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _best(cmd: list[str], env: dict[str, str], runs: int = 3) -> float:
    """Best wall time of ``cmd`` over ``runs`` runs."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def find_kmscli(given: str | None) -> str | None:
    """The kmscli to run: --kmscli, else the one on PATH, else this checkout's .venv, else next to
    this Python; None when none exists (never a traceback)."""
    candidates = (
        [given]
        if given
        else [
            shutil.which("kmscli"),
            str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "kmscli"),
            str(Path(sys.executable).parent / "kmscli"),
        ]
    )
    return next((c for c in candidates if c and os.access(c, os.X_OK) and not os.path.isdir(c)), None)


def main() -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="file size in MiB (default 256)")
    parser.add_argument(
        "--kmscli", help="the kmscli to measure (default: on PATH, else this checkout's .venv)"
    )
    args = parser.parse_args()
    args.kmscli = find_kmscli(args.kmscli)
    if args.kmscli is None:
        print(
            "kmscli not found: put it on PATH (export PATH=$PWD/.venv/bin:$PATH after `make demo`), "
            "or pass --kmscli PATH",
            file=sys.stderr,
        )
        return 2
    sha256sum = shutil.which("sha256sum")
    if sha256sum is None:
        print("sha256sum not found", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="kmscli-bench-") as tmp:
        env = {
            **os.environ,
            "KMSCLI_VAULT": f"{tmp}/vault",
            "KMSCLI_PASSPHRASE": "bench",
            "KMSCLI_CONFIG": f"{tmp}/config.toml",
        }
        kms = args.kmscli
        cheap = ["--kdf-memory-kib", "8", "--kdf-iterations", "1", "--kdf-parallelism", "1"]
        subprocess.run([kms, "vault", "init", *cheap], env=env, check=True, stdout=subprocess.DEVNULL)
        key = subprocess.run(
            [
                kms,
                "create-key",
                "--key-spec",
                "ECC_NIST_P256",
                "--key-usage",
                "SIGN_VERIFY",
                "--query",
                "KeyMetadata.KeyId",
                "--output",
                "text",
            ],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        path = Path(tmp) / "artifact.bin"
        chunk = os.urandom(1 << 20)
        with path.open("wb") as out:
            for _ in range(args.mib):
                out.write(chunk)
        size_mb = args.mib * (1 << 20) / 1e6
        subprocess.run([sha256sum, str(path)], check=True, stdout=subprocess.DEVNULL)  # warm the page cache
        t_sum = _best([sha256sum, str(path)], env)
        t_kms = _best(
            [kms, "artifact", "sign", str(path), "--key-id", key, "--signature-file", f"{tmp}/sig"], env
        )
        openssl = shutil.which("openssl")
        t_ossl = _best([openssl, "dgst", "-sha256", str(path)], env) if openssl else None
        t_start = _best([kms, "--version"], env)
        print(f"file: {args.mib} MiB random data")
        print(f"{'tool':<34}{'seconds':>10}{'MB/s':>10}")
        print(f"{'sha256sum':<34}{t_sum:>10.3f}{size_mb / t_sum:>10.0f}")
        if t_ossl is not None:
            print(f"{'openssl dgst -sha256':<34}{t_ossl:>10.3f}{size_mb / t_ossl:>10.0f}")
        print(f"{'kmscli artifact sign (ECDSA P-256)':<34}{t_kms:>10.3f}{size_mb / t_kms:>10.0f}")
        print(
            f"ratio kmscli/sha256sum throughput: {t_sum / t_kms:.2f} (process start alone: {t_start:.3f} s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
