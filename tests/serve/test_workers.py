"""Worker processes: one port, started and stopped together, never orphaned, failures reported."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmscli.serve import server as srv
from tests.helpers import CHEAP_KDF_ARGS
from tests.serve.conftest import Server, base_env, kmscli


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return [int(x) for x in fh.read().split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def test_default_workers_is_one_per_cpu_at_most_eight() -> None:
    assert [srv.default_workers(n) for n in (None, 0, 1, 2, 8, 64)] == [1, 1, 1, 2, 8, 8]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_workers_share_one_port_and_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    server = Server(tmp_path, args=("--workers", "3"))
    try:
        workers = _children(server.proc.pid)
        assert len(workers) == 3
        assert "(3 worker processes)" in (tmp_path / "serve.log").read_text()
        kms = server.client()
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        for _ in range(12):  # new connections each time: the kernel spreads them over the workers
            assert server.client().encrypt(KeyId=key_id, Plaintext=b"p")["KeyId"].endswith(key_id)
        server.proc.kill()  # no graceful stop: the workers notice they were orphaned
        server.proc.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(w) for w in workers)
    finally:
        server.stop()
    verify = kmscli(server.env, "audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_a_clear_error_not_a_traceback(tmp_path: Path, workers: str) -> None:
    env = base_env(tmp_path)
    kmscli(env, "vault", "init", *CHEAP_KDF_ARGS)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "kmscli", "serve", "--port", str(port), "--workers", workers],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 253, proc.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("value", ["0", "65", "x"])
def test_workers_out_of_range_is_a_usage_error(tmp_path: Path, value: str) -> None:
    proc = kmscli(base_env(tmp_path), "serve", "--workers", value, check=False)
    assert proc.returncode == 252
    assert "--workers" in proc.stderr


def test_sigint_to_the_group_stops_every_worker_gracefully(tmp_path: Path) -> None:
    """Ctrl-C in a terminal reaches the parent and every worker at once."""
    server = Server(tmp_path, args=("--workers", "2"))
    workers = _children(server.proc.pid)
    server.client().list_keys()
    for pid in [server.proc.pid, *workers]:
        os.kill(pid, signal.SIGINT)
    assert server.stop() == 0
    assert not any(_alive(w) for w in workers)
    names = [e["eventName"] for e in server.events()]
    assert names[-1] == "StopServer"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_a_worker_that_dies_stops_the_others_and_the_server_fails(tmp_path: Path) -> None:
    """A crashed worker is a failure a supervisor must see: the others stop gracefully, exit 255."""
    server = Server(tmp_path, args=("--workers", "2"))
    workers = _children(server.proc.pid)
    server.client().list_keys()
    os.kill(workers[0], signal.SIGKILL)
    code = server.proc.wait(60)
    server.stop()
    assert code == 255
    assert not any(_alive(w) for w in workers)
    log = (tmp_path / "serve.log").read_text()
    assert "a worker process exited unexpectedly" in log and "Traceback" not in log
    assert [e["eventName"] for e in server.events()][-1] == "StopServer"
    verify = kmscli(server.env, "audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_burst_of_signals_still_stops_the_server(tmp_path: Path, workers: str) -> None:
    """SIGINT then SIGTERM back to back (a terminal and a supervisor). With an Event, a server hung
    once this way (the nested handler waited on the Event's lock, held by the outer one); the race
    is rare, so this exercises the path rather than reproducing the hang every time."""
    server = Server(tmp_path, args=("--workers", workers))
    server.client().list_keys()
    for sig in (signal.SIGINT, signal.SIGTERM) * 4:
        os.kill(server.proc.pid, sig)
    assert server.proc.wait(60) == 0
    server.stop()
    assert [e["eventName"] for e in server.events()][-1] == "StopServer"


def test_the_stop_flag_is_a_plain_attribute() -> None:
    flag = srv.StopFlag()
    assert not flag.wait(0.01)
    flag.handler(signal.SIGTERM, None)
    flag.handler(signal.SIGINT, None)  # again, as from a nested signal: no lock to deadlock on
    assert flag.is_set() and flag.wait(10)


class _FakeServer:
    """What serve_until_signalled needs of a cheroot server: serves until stopped."""

    ssl_adapter = None
    bind_addr = ("127.0.0.1", 1)

    def __init__(self, calls: list[str]) -> None:
        import threading

        self.calls = calls
        self.stopped = threading.Event()

    def prepare(self) -> None:
        self.calls.append("prepare")

    def serve(self) -> None:
        self.stopped.wait(30)

    def stop(self) -> None:
        self.calls.append("stop")
        self.stopped.set()


def test_shutdown_waits_for_the_audit_index_work_after_the_requests() -> None:
    """SIGTERM: the server stops (in-flight requests finish), then the index work is drained."""
    import os
    import signal

    from kmscli.serve import server as srv

    calls: list[str] = []

    def drain(timeout: float) -> bool:
        calls.append(f"drain {timeout:g}")
        return True

    srv.serve_until_signalled(
        _FakeServer(calls),
        lambda line: None,
        lambda url: os.kill(os.getpid(), signal.SIGTERM),
        drain=drain,
    )
    assert calls == ["prepare", "stop", f"drain {srv.SHUTDOWN_TIMEOUT:g}"]


def test_index_drain_is_the_group_commit_logs() -> None:
    from kmscli.audit.group import GroupCommitLog
    from kmscli.audit.log import AuditLog
    from kmscli.serve import server as srv

    class Ctx:
        def __init__(self, audit: object) -> None:
            self.audit = audit

    log = AuditLog("/nonexistent", b"k" * 32)
    group = GroupCommitLog(log)
    assert srv.index_drain(Ctx(group)) == group.drain
    assert srv.index_drain(Ctx(log)) is None
