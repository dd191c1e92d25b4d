"""Running the endpoint: cheroot's threaded HTTP server, TLS, limits, graceful stop, unlock once.

cheroot (the CherryPy project's server) was chosen by measurement: docs/serve.md, "Server stack".
It sets TCP_NODELAY on every connection, bounds header and body sizes, times out slow clients, speaks
TLS through the standard ``ssl`` module, and ``stop()`` lets in-flight requests finish.

With ``--workers N`` (N > 1) the unlocked process forks N workers, each a cheroot server on the same
port (``SO_REUSEPORT``: the kernel spreads connections over them), so the HTTP and service work of
one request does not wait for another's on one interpreter lock. They share nothing but the vault
folder and its audit log, which every writer already locks (docs/serve.md, "Worker processes").
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from kmscli.errors import KmscliError, UsageError, VaultEnvironmentError
from kmscli.invocation import Sources
from kmscli.settings import Settings

#: Seconds a client gets to send a whole request (the default of ``--timeout``).
DEFAULT_TIMEOUT = 10
#: Requests each worker process handles at once (the default of ``--threads``).
DEFAULT_THREADS = 16
#: Seconds in-flight requests get to finish after SIGTERM/SIGINT.
SHUTDOWN_TIMEOUT = 30
#: Upper bounds of the options (a typo must not make the server exhaust the machine).
MAX_THREADS = 256
MAX_WORKERS = 64
MAX_BODY_LIMIT = 64 * 1024 * 1024
MAX_TIMEOUT = 3600
#: Header block bound (AWS SDK requests are well under 4 KiB).
MAX_HEADER_BYTES = 16 * 1024
#: Connections the kernel completes and queues for each listening worker until it accepts them
#: (cheroot's default, 5, dropped the rest of a burst: those clients waited for a SYN retry, 1 s).
LISTEN_BACKLOG = 128


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
    workers: int = 1


def default_workers(cpus: int | None) -> int:
    """One worker process per CPU (at most 8): the default of ``--workers``."""
    return max(1, min(cpus or 1, 8))


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
        ("--workers", opts.workers, MAX_WORKERS),
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


def build_server(app: Any, opts: ServeOptions, port: int | None = None, reuse_port: bool = False) -> Any:
    """A cheroot server for ``app`` with kmscli's limits (not yet listening); ``port`` overrides
    ``opts.port``, ``reuse_port`` lets several workers listen on it."""
    try:
        from kmscli.serve.http11 import Server  # cheroot's, with strict framing and JSON errors
    except ImportError:
        raise VaultEnvironmentError(
            "kmscli serve needs the 'serve' extra: pip install 'kmscli[serve]'"
        ) from None
    server = Server(
        (opts.host, opts.port if port is None else port),
        app,
        numthreads=opts.threads,
        server_name="kmscli",
        timeout=opts.timeout,
        shutdown_timeout=int(SHUTDOWN_TIMEOUT),
        request_queue_size=LISTEN_BACKLOG,
        reuse_port=reuse_port,
    )
    server.max_request_header_size = MAX_HEADER_BYTES
    # the app owns the body limit and answers an oversize body in JSON; cheroot is told it so as not
    # to invite a body the app refuses (Expect: 100-continue), and refuses far beyond it
    server.limit_body(app.max_body)
    server.nodelay = True
    if opts.tls_cert and opts.tls_key:
        from kmscli.serve.http11 import TLSAdapter

        try:
            server.ssl_adapter = TLSAdapter(opts.tls_cert, opts.tls_key)
        except (OSError, ValueError) as exc:
            raise VaultEnvironmentError(f"cannot load the TLS certificate or key: {exc}") from None
    return server


def _url(host: str, port: int, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


class StopFlag:
    """Set by the SIGTERM/SIGINT handler: a plain attribute, never a lock. A handler that called
    ``threading.Event.set`` could be re-entered by a second signal (SIGINT then SIGTERM, as a
    supervisor or a terminal sends them) while the first held the Event's non-reentrant lock, and
    the process would deadlock; an attribute store cannot be interrupted half-way."""

    __slots__ = ("requested",)

    def __init__(self) -> None:
        self.requested = False

    def handler(self, signum: int, frame: Any) -> None:
        """The signal handler."""
        self.requested = True

    def is_set(self) -> bool:
        return self.requested

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds in short steps; whether a stop was requested."""
        deadline = time.monotonic() + timeout
        while not self.requested and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requested


#: accept() errors that mean "no descriptor or memory for one more connection just now".
_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class _Listener(socket.socket):
    """The listening socket, whose ``accept`` turns running out of file descriptors into a short
    pause that cheroot takes for an accept timeout (it returns no connection).

    cheroot re-raises EMFILE out of its connection loop before the step that closes idle
    keep-alive connections, then starts the loop again: that step never ran, no descriptor was
    ever freed, and the server spun at full CPU logging tracebacks, answering nothing again even
    after the load ended. Now the loop goes on, idle connections expire after ``--timeout``
    seconds, and the connections waiting are accepted as descriptors come free; one line says so."""

    def __init__(self, *args: Any, announce: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._announce = announce
        self._short = False

    @classmethod
    def adopt(cls, sock: socket.socket, announce: Callable[[str], None]) -> _Listener:
        """Take over ``sock``'s descriptor (the same number, so cheroot's selector still watches it)."""
        timeout = sock.gettimeout()
        listener = cls(sock.family, sock.type, sock.proto, fileno=sock.detach(), announce=announce)
        listener.settimeout(timeout)
        return listener

    def accept(self) -> tuple[socket.socket, Any]:
        try:
            accepted = super().accept()
        except OSError as exc:
            if exc.errno not in _OUT_OF_DESCRIPTORS:
                raise
            if not self._short:
                self._short = True
                self._announce(
                    f"kmscli serve: cannot accept connections ({os.strerror(exc.errno)}); "
                    "they wait until open ones close or time out"
                )
            time.sleep(0.05)  # the listener stays readable: do not spin
            raise TimeoutError("no descriptor for a new connection") from None
        self._short = False
        return accepted


def serve_until_signalled(
    server: Any,
    announce: Callable[[str], None],
    listening: Callable[[str], None] | None = None,
    parent: int | None = None,
    drain: Drain | None = None,
) -> None:
    """Listen, announce the URL, serve until SIGTERM or SIGINT, then stop gracefully.

    ``stop()`` closes the listening socket and waits for the worker threads: requests already
    being handled finish (their audit events and vault writes complete) before the process exits.
    ``parent``: a worker's parent process id; the worker stops too when that process is gone.
    ``drain``: waits for the audit log's background index work (:func:`index_drain`).
    """
    stop = StopFlag()
    previous = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            server.prepare()
        except OSError as exc:
            raise VaultEnvironmentError(
                f"cannot listen on {server.bind_addr}: {exc.strerror or exc}"
            ) from None
        if isinstance(getattr(server, "socket", None), socket.socket):  # cheroot's, once prepared
            server.socket = _Listener.adopt(server.socket, announce)
        host, port = server.bind_addr[:2]
        url = _url(host, port, server.ssl_adapter is not None)
        if listening is not None:
            listening(url)  # e.g. the StartServer audit event, with the port actually bound
        announce(f"kmscli serve: listening on {url}")
        worker = threading.Thread(target=server.serve, name="kmscli-serve", daemon=True)
        worker.start()
        while not stop.wait(0.5):
            if not worker.is_alive() or (parent is not None and os.getppid() != parent):
                break
        announce("kmscli serve: stopping (in-flight requests finish)")
        server.stop()
        worker.join(SHUTDOWN_TIMEOUT)
        if drain is not None:
            drain(SHUTDOWN_TIMEOUT)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


Build = Callable[[int, bool], Any]
Drain = Callable[[float], bool]


def index_drain(ctx: Any) -> Drain | None:
    """What waits for the server's background audit index work on shutdown (None without group
    commit: the log then indexes in the appending thread)."""
    from kmscli.audit.group import GroupCommitLog

    return ctx.audit.drain if isinstance(ctx.audit, GroupCommitLog) else None


def serve(
    build: Build,
    opts: ServeOptions,
    announce: Callable[[str], None],
    listening: Callable[[str], None] | None = None,
    drain: Drain | None = None,
) -> None:
    """Serve with ``opts.workers`` processes; ``build(port, reuse_port)`` makes one cheroot server."""
    if opts.workers <= 1 or not hasattr(os, "fork"):
        _reserve(opts.host, opts.port).close()  # a busy port: the same clear error as with workers
        serve_until_signalled(build(opts.port, False), announce, listening, drain=drain)
        return
    serve_workers(build, opts, announce, listening, drain)


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to ``host:port`` with SO_REUSEPORT: it picks the port when
    ``port`` is 0 and holds it while the workers bind it too; connections go only to listeners."""
    try:
        family = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise VaultEnvironmentError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise VaultEnvironmentError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _worker(build: Build, port: int, ready: int, drain: Drain | None = None) -> int:
    """A forked worker's life: serve until signalled (or orphaned); its exit code."""
    parent = os.getppid()

    def listening(url: str) -> None:
        os.write(ready, b".")

    try:
        server = build(port, True)
        serve_until_signalled(server, lambda line: None, listening, parent, drain)
    except KmscliError as exc:
        print(f"kmscli serve: worker {os.getpid()}: {exc.message}", file=sys.stderr, flush=True)
        return 1
    except BaseException as exc:  # never a traceback from a worker; the parent reports the failure
        print(f"kmscli serve: worker {os.getpid()} failed: {type(exc).__name__}", file=sys.stderr, flush=True)
        return 1
    return 0


def serve_workers(
    build: Build,
    opts: ServeOptions,
    announce: Callable[[str], None],
    listening: Callable[[str], None] | None = None,
    drain: Drain | None = None,
) -> None:
    """Fork ``opts.workers`` workers on one port; announce once all listen; on SIGTERM or SIGINT
    stop them all gracefully (each lets its in-flight requests finish) and wait for them."""
    reserve = _reserve(opts.host, opts.port)
    port = reserve.getsockname()[1]
    build(port, True)  # TLS files and options checked here, before any worker exists
    stop = StopFlag()
    previous = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    ready_r, ready_w = os.pipe()
    pids: list[int] = []
    died = False
    try:
        for _ in range(opts.workers):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the worker's coverage is measured by its own process
                code = 1
                try:
                    os.close(ready_r)
                    reserve.close()
                    for sig, handler in previous.items():
                        signal.signal(sig, handler)
                    code = _worker(build, port, ready_w, drain)
                finally:
                    os._exit(code)
            pids.append(pid)
        os.close(ready_w)
        ready_w = -1
        if not _await_ready(ready_r, len(pids), pids, stop):
            if stop.is_set():
                return
            raise VaultEnvironmentError(
                f"kmscli serve: a worker could not listen on {opts.host}:{port} (its message is above)"
            )
        url = _url(opts.host, port, bool(opts.tls_cert))
        if listening is not None:
            listening(url)
        announce(f"kmscli serve: listening on {url} ({len(pids)} worker processes)")
        while not stop.wait(0.5):
            if any(_exited(pid) for pid in pids):
                died = True
                break
        if not died:
            announce("kmscli serve: stopping (in-flight requests finish)")
    finally:
        reserve.close()
        os.close(ready_r)
        if ready_w >= 0:
            os.close(ready_w)
        _stop_workers(pids)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if died:  # the others were stopped gracefully above; a supervisor sees a failure, not a stop
        raise KmscliError("a worker process exited unexpectedly; the other workers were stopped")


def _exited(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid


def _await_ready(fd: int, count: int, pids: list[int], stop: StopFlag) -> bool:
    """Wait until ``count`` workers report listening; False when one died first or we were stopped."""
    got = 0
    while got < count:
        if stop.is_set():
            return False
        readable, _, _ = select.select([fd], [], [], 0.2)
        if readable:
            data = os.read(fd, count)
            if not data:  # every worker closed its end: one failed before listening
                return False
            got += len(data)
        elif any(_exited(pid) for pid in pids):
            return False
    return True


def _stop_workers(pids: list[int]) -> None:
    """SIGTERM every live worker, wait up to SHUTDOWN_TIMEOUT (+ a margin), then SIGKILL stragglers."""
    live = [pid for pid in pids if not _exited(pid)]
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT + 5
    while live and time.monotonic() < deadline:
        live = [pid for pid in live if not _exited(pid)]
        if live:
            time.sleep(0.05)
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def announce_stderr(line: str) -> None:
    """Print a status line on stderr."""
    print(line, file=sys.stderr, flush=True)
