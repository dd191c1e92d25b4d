"""``kmscli serve``: the vault as an AWS KMS endpoint for any AWS SDK (docs/serve.md)."""

from __future__ import annotations

import os
from typing import Any

import click

from kmscli.cli.globals import Command, pop_globals, with_global_options
from kmscli.serve.app import DEFAULT_MAX_BODY
from kmscli.serve.server import DEFAULT_THREADS, DEFAULT_TIMEOUT


@click.command(cls=Command)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8080, show_default=True, help="TCP port (0: any free port).")
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="PEM certificate (chain) for HTTPS.")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="PEM private key for HTTPS.")
@click.option("--insecure-http", is_flag=True, help="Allow plain HTTP on a non-loopback address.")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="Worker processes sharing the port (default: one per CPU, at most 8).",
)
@click.option(
    "--threads",
    type=int,
    default=DEFAULT_THREADS,
    show_default=True,
    help="Requests each worker handles at once.",
)
@click.option(
    "--max-body-bytes",
    type=int,
    default=DEFAULT_MAX_BODY,
    show_default=True,
    help="Largest request body accepted.",
)
@click.option(
    "--timeout",
    type=int,
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds a client gets to send a whole request (and for any one read).",
)
@with_global_options
def serve(
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    insecure_http: bool,
    workers: int | None,
    threads: int,
    max_body_bytes: int,
    timeout: int,
    **kwargs: Any,
) -> None:
    """Serve the vault over the AWS KMS API (JSON 1.1, SigV4) for boto3, the AWS CLI and SDKs.

    Callers sign with an access key from `kmscli credentials create`; its principal is the caller
    for key policies and grants. The vault is unlocked once at start (passphrase sources or
    KMSCLI_SESSION). SIGTERM or SIGINT stops after in-flight requests finish. It announces its address
    on stderr and prints no result, so --output does not apply.
    """
    from kmscli.cli.prompt import tty_prompt
    from kmscli.serve import server as srv
    from kmscli.serve.app import ServeApp, preload
    from kmscli.service.features import credentials
    from kmscli.service.features.session import audit_event

    inv = pop_globals(kwargs)
    if workers is None:
        workers = srv.default_workers(os.cpu_count())
    options = srv.ServeOptions(
        host, port, tls_cert, tls_key, insecure_http, threads, max_body_bytes, timeout, workers
    )
    srv.check_options(options)
    settings, sources = inv.settings, inv.sources
    ctx = srv.unlock_for_server(settings, sources, tty_prompt())
    # test and benchmark hooks, read here at the boundary (docs/serve.md, "Benchmark")
    delay = inv.environ.get("KMSCLI_TEST_FSYNC_DELAY_MS")
    if delay:
        ctx.audit.log.fsync = srv.slow_fsync(float(delay))
    if inv.environ.get("KMSCLI_TEST_NO_GROUP_COMMIT"):
        ctx.audit = ctx.audit.unwrap()
    if workers > 1:
        ctx.audit.share_with_forks()  # the workers' memory of the audit log's tail, kept in common
    vault = ctx.vault
    cache = credentials.CredentialCache(vault)

    def lookup(access_key_id: str) -> Any:
        from kmscli.serve.sigv4 import Secret

        found = cache.lookup(access_key_id)
        return None if found is None else Secret(found.principal, found.secret)

    app = ServeApp(ctx, lookup, max_body=max_body_bytes)
    preload()  # before serving (and forking): no request depends on opening a module file

    def build(bound: int, reuse_port: bool) -> Any:
        return srv.build_server(app, options, bound, reuse_port)

    started: dict[str, Any] = {}

    def listening(url: str) -> None:
        started["url"] = url
        audit_event(vault, settings, sources, "StartServer", {"url": url, "tls": bool(tls_cert)})

    try:
        srv.serve(build, options, srv.announce_stderr, listening, srv.index_drain(ctx))
    finally:
        if started:
            audit_event(
                vault, settings, sources, "StopServer", {"url": started["url"], "tls": bool(tls_cert)}
            )
