"""Benchmark 2: ``kmscli encrypt`` unlocking with the passphrase vs ``aws kms encrypt`` on moto.

The vault uses the *default* KDF (Argon2id, 64 MiB, t=3, p=4): every call derives the root key, which
is the real cost of a passphrase-unlocked call. Target ratio <= 0.7.
"""

from __future__ import annotations

from bench.common import (
    Comparison,
    check_json_output,
    compare,
    create_key,
    fresh_dir,
    init_vault,
    kmscli_argv,
    kmscli_env,
    measured,
    write_payload,
)
from bench.moto_peer import AwsCli

NAME = "encrypt (passphrase, default KDF)"
TARGET = 0.7
PAYLOAD_BYTES = 256


def measure(aws: AwsCli, runs: int = 11, warmup: int = 2) -> Comparison:
    """Median of ``kmscli encrypt`` (passphrase, default KDF) vs ``aws kms encrypt`` against moto."""
    work = fresh_dir("encrypt-passphrase")
    vault = work / "vault"
    init_vault(vault, floor_kdf=False)
    env = kmscli_env(vault)
    payload = write_payload(work, "payload.bin", PAYLOAD_BYTES)
    common = ["--plaintext", f"fileb://{payload}", "--encryption-context", "purpose=bench"]
    ours = [*kmscli_argv(), "encrypt", "--key-id", create_key(vault, env), *common]
    peer = aws.argv("encrypt", "--key-id", aws.create_key(), *common)
    check_json_output(ours, env, "CiphertextBlob")
    check_json_output(peer, aws.env, "CiphertextBlob")
    ours_t, peer_t = compare(ours, env, peer, aws.env, runs=runs, warmup=warmup)
    row = Comparison(NAME, "kmscli encrypt", "aws kms encrypt (moto)", TARGET)
    return measured(row, ours_t, peer_t)
