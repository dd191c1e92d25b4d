"""The peer for encrypt and sign: the real AWS CLI against a local moto server on loopback.

The AWS CLI here is v1 (``awscli`` from PyPI; v2 is not published there). It lives with
``moto[server]`` in a separate venv, ``bench/.venv``, so that neither touches kmscli's dependencies.
``MotoServer`` starts ``moto_server`` on 127.0.0.1 on a free port and always stops it on exit.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from bench.common import BENCH_VENV, WORK_DIR, BenchError, base_env, run

#: What bench/.venv holds; pinned loosely (the newest installable versions are what we compare with).
PEER_PACKAGES = ("awscli", "moto[server]")
LOOPBACK = "127.0.0.1"
REGION = "us-east-1"


def venv_bin(name: str, venv: Path = BENCH_VENV) -> Path:
    """A program in the bench venv."""
    return venv / "bin" / name


def ensure_venv(venv: Path = BENCH_VENV) -> None:
    """Create bench/.venv with awscli and moto[server] unless both are already there."""
    if venv_bin("aws", venv).exists() and venv_bin("moto_server", venv).exists():
        return
    print(f"creating {venv} with {' '.join(PEER_PACKAGES)} (once) ...", file=sys.stderr, flush=True)
    env = base_env()
    run([sys.executable, "-m", "venv", str(venv)], env, timeout=300)
    run([str(venv_bin("python", venv)), "-m", "pip", "install", "-q", *PEER_PACKAGES], env, timeout=1800)


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(
    host: str, port: int, deadline_s: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll until something accepts connections on ``host:port``; BenchError on timeout or exit."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"moto_server exited early with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise BenchError(f"nothing listens on {host}:{port} after {deadline_s:.0f} s")


class MotoServer:
    """``moto_server`` on loopback for the duration of a ``with`` block (stopped even on failure)."""

    def __init__(self, venv: Path = BENCH_VENV, host: str = LOOPBACK, startup_timeout: float = 60.0) -> None:
        if host != LOOPBACK:
            raise BenchError("the moto peer only ever listens on loopback")
        self.venv = venv
        self.host = host
        self.port = 0
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = WORK_DIR / "moto_server.log"

    @property
    def endpoint(self) -> str:
        """The URL for ``aws --endpoint-url``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.port = free_port(self.host)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(venv_bin("moto_server", self.venv)), "-H", self.host, "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=base_env(),
            )
        try:
            wait_for_port(self.host, self.port, self.startup_timeout, self.proc)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 10 s)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> MotoServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class AwsCli:
    """``aws kms ...`` pointed at a moto endpoint with dummy credentials and no user configuration."""

    def __init__(self, endpoint: str, venv: Path = BENCH_VENV) -> None:
        self.endpoint = endpoint
        self.aws = str(venv_bin("aws", venv))
        env = base_env()
        scratch = WORK_DIR / "aws"
        scratch.mkdir(parents=True, exist_ok=True)
        env.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_CONFIG_FILE": str(scratch / "config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "credentials"),
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_PAGER": "",
            }
        )
        self.env = env

    def argv(self, *args: str) -> list[str]:
        """The full command line of ``aws kms ARGS`` against the endpoint."""
        return [self.aws, "--endpoint-url", self.endpoint, "--output", "json", "kms", *args]

    def call(self, *args: str) -> dict[str, object]:
        """Run ``aws kms ARGS`` and return its JSON output."""
        out = run(self.argv(*args), self.env).stdout
        data: dict[str, object] = json.loads(out) if out.strip() else {}
        return data

    def create_key(self, *args: str) -> str:
        """Create a key on moto and return its KeyId."""
        meta = self.call("create-key", *args)["KeyMetadata"]
        if not isinstance(meta, dict):
            raise BenchError("moto returned no KeyMetadata")
        return str(meta["KeyId"])

    def version(self) -> str:
        """``aws --version`` (first line)."""
        proc = run([self.aws, "--version"], self.env)
        return (proc.stdout or proc.stderr).strip().splitlines()[0]


@contextlib.contextmanager
def moto_peer(venv: Path = BENCH_VENV) -> Iterator[AwsCli]:
    """A running moto server and an AWS CLI pointed at it; the server stops when the block ends."""
    with MotoServer(venv) as server:
        yield AwsCli(server.endpoint, venv)


def package_versions(venv: Path = BENCH_VENV, names: Sequence[str] = ("awscli", "moto", "botocore")) -> str:
    """``name version`` of the peer packages, for the machine-info block."""
    code = (
        "import importlib.metadata as m, sys\nprint(', '.join(f'{n} {m.version(n)}' for n in sys.argv[1:]))"
    )
    return run([str(venv_bin("python", venv)), "-c", code, *names], base_env()).stdout.strip()
