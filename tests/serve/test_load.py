"""Concurrent clients, the CLI alongside, group commit, and SIGTERM under load."""

from __future__ import annotations

import collections
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import Server, kmscli


def _mixed(server: Server, key_id: str, rounds: int, ids: list[str], errors: list[BaseException]) -> None:
    try:
        kms = server.client()
        for i in range(rounds):
            blob = kms.encrypt(KeyId=key_id, Plaintext=b"x" * 64)
            ids.append(blob["ResponseMetadata"]["RequestId"])
            ids.append(kms.decrypt(CiphertextBlob=blob["CiphertextBlob"])["ResponseMetadata"]["RequestId"])
            ids.append(kms.describe_key(KeyId=key_id)["ResponseMetadata"]["RequestId"])
            ids.append(kms.generate_data_key(KeyId=key_id, NumberOfBytes=32)["ResponseMetadata"]["RequestId"])
            if i % 3 == 0:
                ids.append(
                    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": f"t{i}", "TagValue": "v"}])[
                        "ResponseMetadata"
                    ]["RequestId"]
                )
            try:
                kms.describe_key(KeyId="alias/missing")
            except kms.exceptions.NotFoundException as exc:
                ids.append(exc.response["ResponseMetadata"]["RequestId"])
    except BaseException as exc:  # reported by the test
        errors.append(exc)


@pytest.mark.parametrize("workers", ["1", "3"])
def test_eight_concurrent_clients_then_the_log_verifies(tmp_path: Path, workers: str) -> None:
    """One process or several (each with its own group commit): one chain, one event per response."""
    server = Server(tmp_path, args=("--workers", workers))
    try:
        key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
        ids: list[str] = []
        errors: list[BaseException] = []
        threads = [threading.Thread(target=_mixed, args=(server, key_id, 6, ids, errors)) for _ in range(8)]
        for t in threads:
            t.start()
        cli_key = kmscli(server.env, "create-key", "--description", "from the CLI meanwhile").stdout
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert len(ids) == 8 * (6 * 5 + 2)
        counts = collections.Counter(e["requestID"] for e in server.events())
        assert all(counts[rid] == 1 for rid in ids), "every response has exactly one event"
        assert "from the CLI meanwhile" in cli_key
    finally:
        assert server.stop() == 0
    verify = kmscli(server.env, "audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    starts = [e for e in server.events() if e["eventName"] == "StartServer"]
    assert starts[0]["additionalEventData"] == {"url": server.url, "tls": False}
    names = [e["eventName"] for e in server.events()]
    assert (
        names[:2] == ["InitVault", "CreateAccessKey"] and names[-1] == "StopServer" and "StartServer" in names
    )


def test_sigterm_under_load_then_the_vault_opens_and_verifies(tmp_path: Path) -> None:
    server = Server(tmp_path, args=("--workers", "3"))
    key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
    answered: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        kms = server.client()
        while not stop.is_set():
            try:
                out: Any = kms.encrypt(KeyId=key_id, Plaintext=b"y" * 1024)
            except Exception:  # the server went away: connection refused or reset
                return
            answered.append(out["ResponseMetadata"]["RequestId"])

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(answered) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    code = server.stop(signal.SIGTERM)
    stop.set()
    for t in threads:
        t.join(60)
    assert code == 0
    assert len(answered) >= 40
    recorded = {e["requestID"] for e in server.events()}
    assert set(answered) <= recorded, "an answered request has no durable event"
    verify = kmscli(server.env, "audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert key_id in kmscli(server.env, "list-keys").stdout
    log = (tmp_path / "serve.log").read_text()
    assert "stopping" in log and "Traceback" not in log


def test_a_burst_of_connections_is_queued_while_the_server_is_busy(tmp_path: Path) -> None:
    """cheroot listened with a backlog of 5: past that the kernel dropped a burst's new connections,
    and each of those clients waited for its SYN retry (a second) before it was even queued. With
    the server not accepting at all (stopped), 40 connections are made and queued; once it runs
    again it answers each of them."""
    import os
    import socket

    from kmscli.serve.server import LISTEN_BACKLOG

    burst = 40
    assert burst < LISTEN_BACKLOG
    server = Server(tmp_path, args=("--workers", "1"))
    made: list[socket.socket] = []
    try:
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            for _ in range(burst):  # a connection the kernel does not queue: TimeoutError
                made.append(socket.create_connection(("127.0.0.1", server.port), timeout=3))
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        for sock in made:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for sock in made:
            assert sock.recv(65536).startswith(b"HTTP/1.1 404 ")  # only POST / is served
    finally:
        for sock in made:
            sock.close()
        assert server.stop() == 0
