"""Running one operation from the command line: settings, request, service, pagination, output."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kmscli.cli import render
from kmscli.cli.globalopts import use_color
from kmscli.cli.options import PAGING_OPTIONS
from kmscli.errors import KmscliError, UsageError, VaultEnvironmentError
from kmscli.invocation import Invocation
from kmscli.model import in_model_order, operation, paginator

if TYPE_CHECKING:
    from kmscli.service.pipeline.core import Caller


def emit(data: Any, inv: Invocation, fmt: str, title: str = "") -> None:
    """Apply ``--query`` and write ``data`` to stdout in the chosen format."""
    data = render.apply_query(render.jsonable(data), inv.options.get("query"))
    if render.prints_nothing(data, fmt):
        return  # the AWS CLI prints nothing for an empty response (after --query)
    try:
        terminal = bool(sys.stdout.isatty())
    except (AttributeError, ValueError):
        terminal = False
    text = render.render(data, fmt, title=title, color=use_color(inv), terminal=terminal)
    from kmscli.cli.pager import page_or_write

    page_or_write(text, inv)


def _decode_token(token: str, in_tok: str) -> tuple[dict[str, Any], int]:
    """``--starting-token``: the service's paging members to resume with (``{in_tok: marker}``)
    and how many of that page's items to skip, read as botocore reads it. A token the AWS CLI (or
    kmscli) wrote is base64 JSON, decoded leniently as Python's ``b64decode`` does (characters
    outside the alphabet, a line break included, are dropped); anything else is the old
    ``MARKER___N`` form, or the service's own marker as given (a ``NextMarker`` from
    ``--no-paginate`` output), which the service judges (``InvalidMarkerException``, exit 254)."""
    try:
        data = json.loads(base64.b64decode(token.encode()).decode())
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        data = None
    except RecursionError:  # JSON nested past the parser's limit: no token botocore can use either
        raise KmscliError("Bad starting token: its JSON is nested too deeply") from None
    if isinstance(data, str | int | float):  # botocore cannot use it and stops (exit 255)
        raise KmscliError(f"Bad starting token: {token}")
    if not isinstance(data, dict):
        old, sep, index = token.rpartition("___")
        if not sep:
            return {in_tok: token}, 0
        if "___" in old:
            raise KmscliError(f"Bad starting token: {token}")
        try:
            return {in_tok: None if old == "None" else old}, int(index)
        except ValueError:
            return {in_tok: token}, 0
    skip = data.pop("boto_truncate_amount", 0)
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise UsageError(f"Error parsing parameter '--starting-token': invalid token {token!r}")
    unknown = [name for name in data if name != in_tok]
    if unknown:  # botocore sends them along and its parameter check refuses them (exit 252)
        raise UsageError(
            f'Parameter validation failed:\nUnknown parameter in input: "{unknown[0]}", must be one of: '
            f"Limit, {in_tok}"
        )
    marker = data.get(in_tok)
    if not isinstance(marker, str | None):
        raise UsageError(f"Error parsing parameter '--starting-token': invalid token {token!r}")
    return {in_tok: marker}, skip


def _encode_token(resume: dict[str, Any], skip: int | None = None) -> str:
    """The AWS CLI's ``NextToken``, byte for byte: base64 of ``json.dumps`` of the paging members to
    resume with (``{"Marker": ...}``, null before the first page) and, when the resume point is
    inside a page, ``boto_truncate_amount``, the items of that page already printed."""
    body = dict(resume) if skip is None else {**resume, "boto_truncate_amount": skip}
    return base64.b64encode(json.dumps(body).encode()).decode()


def iter_pages(
    call: Any, op_name: str, request: dict[str, Any], extra: dict[str, Any]
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Client-side pagination as the AWS CLI (botocore's page iterator) does it: one service call
    per page, each page as the service returned it (``NextMarker``, ``Truncated``) as it arrives,
    its items cut to ``--starting-token`` and ``--max-items``. With each page, None, or on the last
    page the resume token (the AWS CLI's ``NextToken``) when items remain.

    ``--max-items`` of 0 or less is allowed with the AWS CLI's warning and gives what it gives: 0
    prints no items and a ``NextToken`` at the start; a negative N drops N items from the end of the
    page."""
    pag = paginator(op_name)
    assert pag is not None
    key, in_tok, out_tok, limit_key = (
        pag["result_key"],
        pag["input_token"],
        pag["output_token"],
        pag["limit_key"],
    )
    max_items = extra.get("max_items")
    page_size = extra.get("page_size")
    if max_items is not None and max_items <= 0:
        sys.stderr.write("warning: Non-positive values for --max-items may result in undefined behavior.\n")
    resume: dict[str, Any] = {in_tok: None}  # the paging members the current page was asked with
    skip = 0
    if extra.get("starting_token") is not None:  # even "": botocore sends it, and refuses it
        resume, skip = _decode_token(extra["starting_token"], in_tok)
        if resume[in_tok] not in (None, "None"):
            request[in_tok] = resume[in_tok]
    if page_size is not None:
        request[limit_key] = page_size
    from kmscli.cli.request import check_request

    check_request(op_name, request)  # the paging members too: --page-size 0 is botocore's 252
    taken = 0
    output_shape = operation(op_name).get("output")
    while True:
        page = in_model_order(output_shape, call(op_name, dict(request)))
        page_items = page.get(key, [])[skip:]
        over = 0 if max_items is None else taken + len(page_items) - max_items
        if over > 0:
            keep = len(page_items) - over
            yield {**page, key: page_items[:keep]}, _encode_token(resume, keep + skip)
            return
        skip = 0
        taken += len(page_items)
        marker = page.get(out_tok) if page.get(pag.get("more_results", "Truncated")) else None
        if not marker:
            yield {**page, key: page_items}, None
            return
        resume = {in_tok: marker}
        if max_items is not None and taken == max_items:  # on a page boundary
            yield {**page, key: page_items}, _encode_token(resume)
            return
        yield {**page, key: page_items}, None
        request[in_tok] = marker


def paginate(call: Any, op_name: str, request: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Every page merged into one result, as the AWS CLI prints it (``NextToken`` when cut short)."""
    pag = paginator(op_name)
    assert pag is not None
    key = pag["result_key"]
    items: list[Any] = []
    merged: dict[str, Any] = {}
    next_token: str | None = None
    for page, token in iter_pages(call, op_name, request, extra):
        items.extend(page[key])
        next_token = token
        for name, value in page.items():
            if name not in (key, pag["output_token"], pag.get("more_results")):
                merged.setdefault(name, value)
    result = {key: items, **merged}
    if next_token:
        result["NextToken"] = next_token
    return result


def stream_pages(
    call: Any, op_name: str, request: dict[str, Any], extra: dict[str, Any], inv: Invocation, fmt: str
) -> None:
    """The formats the AWS CLI prints page by page, ``--query`` applied to each page: yaml-stream
    (each page as the service returned it, one item of a YAML list) and text (each page's items;
    then, when items remain, ``NextToken`` as the line ``NEXTTOKEN<tab>TOKEN``)."""
    from kmscli.cli.pager import paged_stdout

    pag = paginator(op_name)
    assert pag is not None
    key = pag["result_key"]
    with paged_stdout(inv):  # on a terminal, one pager for the whole stream
        for page, next_token in iter_pages(call, op_name, request, extra):
            if fmt == "yaml-stream":
                emit(page, inv, fmt, title=op_name)
                continue
            emit({key: page[key]}, inv, fmt, title=op_name)
            if next_token:
                emit({"NextToken": {"NextToken": next_token}}, inv, fmt, title=op_name)


def caller_for(inv: Invocation) -> Caller:
    """Where this invocation's KMS calls go: the local vault, or with ``--endpoint-url`` a KMS
    endpoint (a ``kmscli serve`` or AWS KMS), reached through botocore as the AWS CLI reaches it."""
    url = inv.options.get("endpoint_url")
    if url:
        from kmscli.remote import remote_caller, remote_options

        return remote_caller(remote_options(inv.options, inv.settings.region, inv.environ), inv.environ)
    from kmscli.cli.prompt import tty_prompt
    from kmscli.service.features.session import open_service
    from kmscli.service.pipeline.core import local_caller

    return local_caller(open_service(inv.settings, inv.sources, tty_prompt()))


def run_operation(op_name: str, values: dict[str, Any], extra: dict[str, Any], inv: Invocation) -> None:
    """Build the request, call the service and print the result."""
    from kmscli.cli.request import build_request, skeleton

    if extra.get("generate_cli_skeleton") == "input":  # required options are not enforced
        sys.stdout.write(json.dumps(skeleton(op_name, "input"), indent=4) + "\n")
        return
    if extra.get("generate_cli_skeleton") == "yaml-input":
        from kmscli.cli.request import yaml_skeleton

        sys.stdout.write(yaml_skeleton(op_name))
        return
    raw_blobs = inv.options.get("cli_binary_format") == "raw-in-base64-out"
    request = build_request(
        op_name,
        values,
        extra.get("cli_input_json"),
        raw_blobs=raw_blobs,
        input_yaml=extra.get("cli_input_yaml"),
    )
    fmt = inv.output()
    if extra.get("generate_cli_skeleton") == "output":
        # as the AWS CLI: botocore's check (build_request ran it), then a stubbed call; the service's
        # own checks (enums, patterns, maximums) are never reached
        emit(skeleton(op_name, "output"), inv, fmt, title=op_name)
        return
    pag = paginator(op_name)
    paging = pag is not None and not inv.options.get("no_paginate") and not _manual_paging(pag, request)
    if pag is not None and not paging:
        _refuse_paging_options(extra)
    call = caller_for(inv)
    if pag is not None and paging:
        if fmt in ("yaml-stream", "text"):  # each page printed as it arrives, as the AWS CLI does
            stream_pages(call, op_name, request, extra, inv, fmt)
            return
        result = paginate(call, op_name, request, extra)
    else:
        result = in_model_order(operation(op_name).get("output"), call(op_name, request))
    _write_outfile(op_name, result, extra.get("outfile"))
    emit(result, inv, fmt, title=op_name)


def _refuse_paging_options(extra: dict[str, Any]) -> None:
    """With automatic paging off (``--no-paginate``, or the operation's own ``--limit``/``--marker``)
    the client-side paging options mean nothing: exit 252, in the AWS CLI v2's words and order."""
    by_dest = {opt.dest: opt.name for opt in PAGING_OPTIONS}
    used = [by_dest[d] for d in ("starting_token", "page_size", "max_items") if extra.get(d) is not None]
    if used:
        raise UsageError(f"Cannot specify --no-paginate along with pagination arguments: {', '.join(used)}")


def _manual_paging(pag: dict[str, Any], request: dict[str, Any]) -> bool:
    """Whether the request has the operation's own paging members (``--limit``, ``--marker``, hidden
    from help, or ``Limit`` / ``Marker`` from ``--cli-input-json`` / ``--cli-input-yaml``): the AWS
    CLI v2 then makes the one call asked for, as with ``--no-paginate``, and prints that page's
    ``NextMarker`` and ``Truncated`` (v1 ignored the input document's; v2's migration guide, "paging
    parameters in --cli-input-json turn off automatic pagination")."""
    return any(pag[name] in request for name in ("input_token", "limit_key"))


def _write_outfile(op_name: str, result: dict[str, Any], path: str | None) -> None:
    """``--outfile``: the operation's declared blob member goes to a file, not to stdout."""
    from kmscli.model import cli_extension

    member = cli_extension(op_name).get("outfile")
    if not member or not path or member not in result:
        return
    write_user_file(path, result.pop(member), "--outfile")


def write_user_file(path: str, data: bytes, what: str) -> None:
    """Write a result to a file the user named (``--outfile``, a signature, a PEM). When the file
    system refuses (a full disk, a size limit, a missing or read-only folder) the cut-short file is
    removed, since it would pass for the result, and the error is the environment's (exit 253)."""
    import os
    import stat

    try:
        with open(path, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(path).st_mode):  # never a device or a pipe named as the file
                os.unlink(path)
        raise VaultEnvironmentError(
            f"cannot write {what} {path} ({exc.strerror or exc}); no file was left there"
        ) from None
