"""Benchmark 3: ``kmscli encrypt`` with a session (``KMSCLI_SESSION``, no KDF) vs ``aws kms encrypt``.

The vault has the default KDF, but a session unlocks it without deriving the root key. Target ratio
<= 0.15. Until ``kmscli unlock`` exists the row reads "n/a (no sessions yet)".
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
    lock_session,
    measured,
    not_available,
    unlock_session,
    write_payload,
)
from bench.moto_peer import AwsCli

NAME = "encrypt (session)"
TARGET = 0.15
OURS = "kmscli encrypt"
PEER = "aws kms encrypt (moto)"
NO_SESSIONS = "no sessions yet"


def measure(aws: AwsCli, runs: int = 15, warmup: int = 3) -> Comparison:
    """Median of ``kmscli encrypt`` under a session vs ``aws kms encrypt`` against moto."""
    work = fresh_dir("encrypt-session")
    vault = work / "vault"
    init_vault(vault, floor_kdf=False)
    env = kmscli_env(vault)
    key_id = create_key(vault, env)
    session = unlock_session(env)
    if session is None:
        return not_available(NAME, OURS, PEER, TARGET, NO_SESSIONS)
    try:
        payload = write_payload(work, "payload.bin", 256)
        common = ["--plaintext", f"fileb://{payload}", "--encryption-context", "purpose=bench"]
        ours = [*kmscli_argv(), "encrypt", "--key-id", key_id, *common]
        peer = aws.argv("encrypt", "--key-id", aws.create_key(), *common)
        check_json_output(ours, session, "CiphertextBlob")
        check_json_output(peer, aws.env, "CiphertextBlob")
        ours_t, peer_t = compare(ours, session, peer, aws.env, runs=runs, warmup=warmup)
    finally:
        lock_session(session)
    return measured(Comparison(NAME, OURS, PEER, TARGET), ours_t, peer_t)
