"""Running the endpoint: cheroot's threaded HTTP server, TLS, limits, graceful stop, unlock once.

cheroot (the CherryPy project's server) was chosen by measurement: docs/serve.md, "Server stack".
It sets TCP_NODELAY on every connection, bounds header and body sizes, times out slow clients, speaks
TLS through the standard ``ssl`` module, and ``stop()`` lets in-flight requests finish.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from kmscli.errors import UsageError, VaultEnvironmentError
from kmscli.invocation import Sources
from kmscli.settings import Settings

#: Seconds a client may take to send its headers or the next part of its body.
DEFAULT_TIMEOUT = 10
#: Seconds in-flight requests get to finish after SIGTERM/SIGINT.
SHUTDOWN_TIMEOUT = 30
#: Upper bounds of the options (a typo must not make the server exhaust the machine).
MAX_THREADS = 256
MAX_BODY_LIMIT = 64 * 1024 * 1024
MAX_TIMEOUT = 3600
#: Header block bound (AWS SDK requests are well under 4 KiB).
MAX_HEADER_BYTES = 16 * 1024


class ServeOptions(NamedTuple):
    """What `kmscli serve` was asked to do."""

    host: str
    port: int
    tls_cert: str | None
    tls_key: str | None
    insecure_http: bool
    threads: int
    max_body: int
    timeout: int


def check_options(opts: ServeOptions) -> None:
    """Safe defaults: TLS needs both files; a non-loopback address needs TLS or --insecure-http."""
    if bool(opts.tls_cert) != bool(opts.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if not opts.tls_cert and not opts.insecure_http and not is_loopback(opts.host):
        raise UsageError(
            f"refusing to serve plain HTTP on {opts.host}, which is not a loopback address: give "
            "--tls-cert and --tls-key, or --insecure-http if the network is trusted"
        )
    if not 0 <= opts.port <= 65535:
        raise UsageError(f"argument --port: {opts.port} is not a TCP port")
    for name, value, top in (
        ("--threads", opts.threads, MAX_THREADS),
        ("--max-body-bytes", opts.max_body, MAX_BODY_LIMIT),
        ("--timeout", opts.timeout, MAX_TIMEOUT),
    ):
        if not 1 <= value <= top:
            raise UsageError(f"argument {name}: {value} is outside 1..{top}")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unlock_for_server(settings: Settings, sources: Sources, prompt: Any) -> Any:
    """Unlock the vault once for the server's lifetime (passphrase sources or KMSCLI_SESSION).

    The one place the server opens the vault; the returned service context keeps the vault key
    in memory only. Its audit log is wrapped for group commit.
    """
    from kmscli.audit.group import GroupCommitLog
    from kmscli.service.features.session import open_service

    ctx = open_service(settings, sources, prompt)
    if getattr(ctx.vault, "read_only", False):
        raise VaultEnvironmentError("kmscli serve needs a vault folder, not a backup or bundle file")
    ctx.audit = GroupCommitLog(ctx.audit)  # type: ignore[assignment]
    return ctx


def slow_fsync(delay_ms: float) -> Callable[[int], None]:
    """The benchmark's slow-disk hook: every fsync takes ``delay_ms`` longer."""

    def fsync(fd: int) -> None:
        os.fsync(fd)
        time.sleep(delay_ms / 1000.0)

    return fsync


def build_server(app: Any, opts: ServeOptions) -> Any:
    """A cheroot server for ``app`` with kmscli's limits (not yet listening)."""
    try:
        from cheroot import wsgi
    except ImportError:
        raise VaultEnvironmentError(
            "kmscli serve needs the 'serve' extra: pip install 'kmscli[serve]'"
        ) from None
    server = wsgi.Server(
        (opts.host, opts.port),
        app,
        numthreads=opts.threads,
        server_name="kmscli",
        timeout=opts.timeout,
        shutdown_timeout=int(SHUTDOWN_TIMEOUT),
    )
    server.max_request_header_size = MAX_HEADER_BYTES
    # the app answers a declared oversize body in JSON; far beyond it cheroot refuses before reading
    server.max_request_body_size = 4 * opts.max_body
    server.nodelay = True
    if opts.tls_cert and opts.tls_key:
        from cheroot.ssl.builtin import BuiltinSSLAdapter

        try:
            server.ssl_adapter = BuiltinSSLAdapter(opts.tls_cert, opts.tls_key)
        except (OSError, ValueError) as exc:
            raise VaultEnvironmentError(f"cannot load the TLS certificate or key: {exc}") from None
    return server


def serve_until_signalled(
    server: Any, announce: Callable[[str], None], listening: Callable[[str], None] | None = None
) -> None:
    """Listen, announce the URL, serve until SIGTERM or SIGINT, then stop gracefully.

    ``stop()`` closes the listening socket and waits for the worker threads: requests already
    being handled finish (their audit events and vault writes complete) before the process exits.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            server.prepare()
        except OSError as exc:
            raise VaultEnvironmentError(
                f"cannot listen on {server.bind_addr}: {exc.strerror or exc}"
            ) from None
        host, port = server.bind_addr[:2]
        scheme = "https" if server.ssl_adapter is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        url = f"{scheme}://{shown}:{port}"
        if listening is not None:
            listening(url)  # e.g. the StartServer audit event, with the port actually bound
        announce(f"kmscli serve: listening on {url}")
        worker = threading.Thread(target=server.serve, name="kmscli-serve", daemon=True)
        worker.start()
        while not stop.wait(0.5):
            if not worker.is_alive():
                break
        announce("kmscli serve: stopping (in-flight requests finish)")
        server.stop()
        worker.join(SHUTDOWN_TIMEOUT)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def announce_stderr(line: str) -> None:
    """Print a status line on stderr."""
    print(line, file=sys.stderr, flush=True)
