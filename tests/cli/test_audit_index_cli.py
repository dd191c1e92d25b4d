"""`kmscli audit` with sidecar indexes: used when the vault unlocks without asking, never for
--log-file; `audit verify` reports a bad index; `audit reindex` rebuilds them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from kmscli.audit import index
from kmscli.audit.log import segments
from tests.helpers import count_index_reads


@pytest.fixture
def sealed(env: Path, vault: Path, tmp_path: Path, cli: Any) -> list[str]:
    (tmp_path / "config.toml").write_text("[default]\naudit_segment_bytes = 4096\n")
    key = cli("create-key", "--query", "KeyMetadata.KeyId", "--output", "text").out.strip()
    for i in range(10):
        ctx = f"object=o{i % 3}"
        assert cli("encrypt", "--key-id", key, "--plaintext", "aGk=", "--encryption-context", ctx).code == 0
    segs = segments(vault / "audit")
    assert len(segs) >= 3 and all(os.path.exists(index.index_path(s)) for s in segs[:-1])
    return segs


def test_queries_use_the_index_and_answer_as_a_scan(
    sealed: list[str], vault: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KMSCLI_SESSION", cli("unlock", "--raw").out.strip())
    used = count_index_reads(monkeypatch)
    indexed = cli("audit", "--encryption-context", "object=o1", "--output", "jsonl")
    assert indexed.code == 0 and used == sealed[:-1]
    scanned = cli("audit", "--encryption-context", "object=o1", "--log-file", str(vault / "audit"))
    assert used == sealed[:-1]  # --log-file: no key, no index
    assert indexed.out == scanned.out and len(indexed.out.splitlines()) == 3
    stats = cli("audit", "stats", "--event-name", "Encrypt", "--output", "json")
    assert stats.json()["Total"] == 10


def test_without_a_session_only_a_large_log_is_worth_the_kdf(
    sealed: list[str], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kmscli.cli import auditquery

    used = count_index_reads(monkeypatch)
    res = cli("audit", "--event-name", "Encrypt", "--output", "jsonl")  # KMSCLI_PASSPHRASE, small log
    assert res.code == 0 and len(res.out.splitlines()) == 10 and used == []
    monkeypatch.setattr(auditquery, "INDEX_WORTH_KDF", 1000)
    assert cli("audit", "--event-name", "Encrypt", "--output", "jsonl").out == res.out
    assert used == sealed[:-1]
    used.clear()
    monkeypatch.delenv("KMSCLI_PASSPHRASE")  # no way to unlock without asking: scan
    assert cli("audit", "--event-name", "Encrypt", "--output", "jsonl").out == res.out
    assert used == []


def test_verify_reports_a_tampered_index_and_reindex_rebuilds_it(sealed: list[str], cli: Any) -> None:
    idx = Path(index.index_path(sealed[0]))
    data = bytearray(idx.read_bytes())
    data[len(index.MAGIC) + 10] ^= 1
    idx.write_bytes(bytes(data))
    res = cli("audit", "verify", "--output", "json")
    assert res.code == 1
    report = json.loads(res.out)
    assert report["IndexProblems"] == [
        {
            "Segment": os.path.basename(sealed[0]),
            "Kind": "tampered",
            "Detail": report["IndexProblems"][0]["Detail"],
        }
    ]
    text = cli("audit", "verify")
    assert text.code == 1 and "index tampered" in text.out and "kmscli audit reindex" in text.out
    # the query does not believe it: same answer as a scan
    assert (
        cli("audit", "--event-name", "Encrypt").out
        == cli("audit", "--event-name", "Encrypt", "--log-file", str(Path(sealed[0]).parent)).out
    )
    rebuilt = cli("audit", "reindex", "--output", "json")
    assert rebuilt.code == 0 and os.path.basename(idx) in rebuilt.json()["Indexes"]
    assert cli("audit", "verify").code == 0
    assert cli("audit", "--event-name", "ReindexAuditLog").code == 0


def test_a_missing_index_is_not_a_verification_failure(sealed: list[str], cli: Any) -> None:
    os.unlink(index.index_path(sealed[0]))
    assert cli("audit", "verify").code == 0
    assert cli("audit", "reindex").out == f"indexed {len(sealed)} segment(s)\n"
    assert os.path.exists(index.index_path(sealed[0]))


def test_tail_reads_sealed_segments_through_their_index(
    sealed: list[str], vault: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`audit tail` with a filter and a session reads sealed segments' candidates only; its answer
    is the one it gives without the index (--log-file) and the query's last events."""
    monkeypatch.setenv("KMSCLI_SESSION", cli("unlock", "--raw").out.strip())
    used = count_index_reads(monkeypatch)
    args = ["audit", "tail", "--encryption-context", "object=o1", "-n", "2", "--output", "jsonl"]
    indexed = cli(*args)
    assert indexed.code == 0 and used  # older segments were needed for two events, and indexed
    scanned = cli(*args, "--log-file", str(vault / "audit"))
    everything = cli("audit", "--encryption-context", "object=o1", "--output", "jsonl").out.splitlines()
    assert indexed.out == scanned.out and indexed.out.splitlines() == everything[-2:]


def test_a_session_that_does_not_unlock_is_said_on_stderr_and_the_answer_is_a_scan(
    sealed: list[str], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: an expired or locked KMSCLI_SESSION made every query silently scan (slow on a large
    log, with nothing to say why); a query still never fails for it."""
    token = cli("unlock", "--raw").out.strip()
    monkeypatch.setenv("KMSCLI_SESSION", token)
    good = cli("audit", "--event-name", "Encrypt", "--output", "jsonl")
    assert good.code == 0 and good.err == ""
    assert cli("lock").code == 0  # the session is gone; the variable still names it
    used = count_index_reads(monkeypatch)
    res = cli("audit", "--event-name", "Encrypt", "--output", "jsonl")
    assert res.code == 0 and res.out == good.out and used == []
    assert "kmscli: warning: the audit index is not used (" in res.err and "scanning every line" in res.err
    assert token not in res.err
    monkeypatch.delenv("KMSCLI_SESSION")
    monkeypatch.setenv("KMSCLI_PASSPHRASE", "not the passphrase")
    from kmscli.cli import auditquery

    monkeypatch.setattr(auditquery, "INDEX_WORTH_KDF", 1000)
    wrong = cli("audit", "--event-name", "Encrypt", "--output", "jsonl")
    assert wrong.code == 0 and wrong.out == good.out
    assert "the audit index is not used" in wrong.err and "not the passphrase" not in wrong.err
