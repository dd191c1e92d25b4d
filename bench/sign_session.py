"""Benchmark 4: ECDSA ``kmscli sign`` (ECC_NIST_P256, session) vs ``aws kms sign`` on moto.

Target ratio <= 0.15. Reads "n/a" until both sessions (``kmscli unlock``) and ECC keys exist.
"""

from __future__ import annotations

from bench.common import (
    BenchError,
    Comparison,
    check_json_output,
    compare,
    fresh_dir,
    init_vault,
    kmscli_argv,
    kmscli_env,
    lock_session,
    measured,
    not_available,
    run,
    unlock_session,
    write_payload,
)
from bench.moto_peer import AwsCli

NAME = "ECDSA sign (session)"
TARGET = 0.15
OURS = "kmscli sign ECC_NIST_P256"
PEER = "aws kms sign (moto)"
KEY_ARGS = ("--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY")


def measure(aws: AwsCli, runs: int = 15, warmup: int = 3) -> Comparison:
    """Median of ``kmscli sign`` (ECDSA_SHA_256, session) vs ``aws kms sign`` against moto."""
    work = fresh_dir("sign-session")
    vault = work / "vault"
    init_vault(vault, floor_kdf=False)
    env = kmscli_env(vault)
    session = unlock_session(env)
    if session is None:
        return not_available(NAME, OURS, PEER, TARGET, "no sessions yet")
    try:
        created = run(
            [*kmscli_argv(), "create-key", *KEY_ARGS, "--query", "KeyMetadata.KeyId", "--output", "text"],
            session,
            check=False,
        )
        if created.returncode in (252, 254):  # the spec (or the option) is refused: not built yet
            return not_available(NAME, OURS, PEER, TARGET, "no ECC_NIST_P256 keys yet")
        if created.returncode != 0:
            raise BenchError(
                f"kmscli create-key exited {created.returncode}: {created.stderr.strip()[-400:]}"
            )
        message = write_payload(work, "message.bin", 64)
        common = [
            "--message",
            f"fileb://{message}",
            "--message-type",
            "RAW",
            "--signing-algorithm",
            "ECDSA_SHA_256",
        ]
        ours = [*kmscli_argv(), "sign", "--key-id", created.stdout.strip(), *common]
        peer = aws.argv("sign", "--key-id", aws.create_key(*KEY_ARGS), *common)
        check_json_output(ours, session, "Signature")
        check_json_output(peer, aws.env, "Signature")
        ours_t, peer_t = compare(ours, session, peer, aws.env, runs=runs, warmup=warmup)
    finally:
        lock_session(session)
    return measured(Comparison(NAME, OURS, PEER, TARGET), ours_t, peer_t)
