"""Running one operation from the command line: settings, request, service, pagination, output."""

from __future__ import annotations

import base64
import binascii
import json
import sys
from collections.abc import Iterator
from typing import Any

from kmscli.cli import render
from kmscli.cli.globalopts import use_color
from kmscli.errors import KmscliError, UsageError
from kmscli.invocation import Invocation
from kmscli.model import paginator


def emit(data: Any, inv: Invocation, fmt: str, title: str = "") -> None:
    """Apply ``--query`` and write ``data`` to stdout in the chosen format."""
    query = inv.options.get("query")
    if data == {} and not query:
        return  # the AWS CLI prints nothing for an empty response
    data = render.apply_query(render.jsonable(data), query)
    try:
        terminal = bool(sys.stdout.isatty())
    except (AttributeError, ValueError):
        terminal = False
    text = render.render(data, fmt, title=title, color=use_color(inv), terminal=terminal)
    from kmscli.cli.pager import page_or_write

    page_or_write(text, inv)


def _decode_token(token: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.b64decode(token.encode(), validate=True))
        if not isinstance(data, dict):
            raise ValueError
        skip = data.get("boto_truncate_amount", 0)
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            raise ValueError
        if not isinstance(data.get("Marker", ""), str):
            raise ValueError
        return data
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise UsageError(f"Error parsing parameter '--starting-token': invalid token {token!r}") from None


def _encode_token(marker: str | None, skip: int) -> str:
    body: dict[str, Any] = {"boto_truncate_amount": skip}
    if marker:
        body["Marker"] = marker
    return base64.b64encode(json.dumps(body).encode()).decode()


def iter_pages(
    call: Any, op_name: str, request: dict[str, Any], extra: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Client-side pagination as the AWS CLI does it: one service call per page, each page as it
    arrives, cut to ``--max-items``; the last page carries ``NextToken`` when items remain."""
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
    if max_items is not None and max_items < 1:
        raise UsageError("--max-items must be a positive integer")
    skip = 0
    if extra.get("starting_token"):
        token = _decode_token(extra["starting_token"])
        if token.get("Marker"):
            request[in_tok] = token["Marker"]
        skip = int(token.get("boto_truncate_amount", 0))
    if page_size is not None:
        request[limit_key] = page_size
    taken = 0
    while True:
        page = call(op_name, dict(request))
        page_items = page.get(key, [])[skip:]
        consumed = skip
        skip = 0
        out = {name: value for name, value in page.items() if name not in (out_tok, pag.get("more_results"))}
        room = None if max_items is None else max_items - taken
        if room is not None and len(page_items) > room:
            yield {
                **out,
                key: page_items[:room],
                "NextToken": _encode_token(request.get(in_tok), consumed + room),
            }
            return
        taken += len(page_items)
        more = page.get(pag.get("more_results", "Truncated")) and page.get(out_tok)
        if more and max_items is not None and taken >= max_items:
            yield {**out, key: page_items, "NextToken": _encode_token(page[out_tok], 0)}
            return
        yield {**out, key: page_items}
        if not more:
            return
        request[in_tok] = page[out_tok]


def paginate(call: Any, op_name: str, request: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Every page merged into one result, as the AWS CLI prints it (``NextToken`` when cut short)."""
    pag = paginator(op_name)
    assert pag is not None
    key = pag["result_key"]
    items: list[Any] = []
    merged: dict[str, Any] = {}
    next_token: str | None = None
    for page in iter_pages(call, op_name, request, extra):
        items.extend(page[key])
        next_token = page.get("NextToken")
        for name, value in page.items():
            if name not in (key, "NextToken"):
                merged.setdefault(name, value)
    result = {key: items, **merged}
    if next_token:
        result["NextToken"] = next_token
    return result


def run_operation(op_name: str, values: dict[str, Any], extra: dict[str, Any], inv: Invocation) -> None:
    """Build the request, call the service and print the result."""
    from kmscli.cli.request import build_request, skeleton

    if extra.get("generate_cli_skeleton") == "input":  # required options are not enforced
        sys.stdout.write(json.dumps(skeleton(op_name, "input"), indent=4) + "\n")
        return
    raw_blobs = inv.options.get("cli_binary_format") == "raw-in-base64-out"
    request = build_request(op_name, values, extra.get("cli_input_json"), raw_blobs=raw_blobs)
    settings = inv.settings
    fmt = inv.output()
    if extra.get("generate_cli_skeleton") == "output":  # as the AWS CLI: validate, then a stubbed call
        from kmscli.errors import KMSError
        from kmscli.model import operation
        from kmscli.service.pipeline.validate import validate_request

        try:
            validate_request(operation(op_name)["input"], request)
        except KMSError as exc:
            exc.for_operation(op_name)
            raise
        emit(skeleton(op_name, "output"), inv, fmt, title=op_name)
        return
    from kmscli.cli.prompt import tty_prompt
    from kmscli.service.features.session import open_service

    ctx = open_service(settings, inv.sources, tty_prompt())
    from kmscli.service.pipeline.core import invoke

    def call(name: str, req: dict[str, Any]) -> dict[str, Any]:
        return invoke(ctx, name, req)

    pag = paginator(op_name)
    if pag and not inv.options.get("no_paginate"):
        if fmt == "yaml-stream":  # each page printed as it arrives, as the AWS CLI streams it
            from kmscli.cli.pager import paged_stdout

            with paged_stdout(inv):  # on a terminal, one pager for the whole stream
                for page in iter_pages(call, op_name, request, extra):
                    emit(page, inv, fmt, title=op_name)
            return
        result = paginate(call, op_name, request, extra)
    else:
        if pag and extra.get("page_size") is not None:  # one call, of that size (the AWS CLI's Limit)
            request[pag["limit_key"]] = extra["page_size"]
        result = call(op_name, request)
    _write_outfile(op_name, result, extra.get("outfile"))
    emit(result, inv, fmt, title=op_name)


def _write_outfile(op_name: str, result: dict[str, Any], path: str | None) -> None:
    """``--outfile``: the operation's declared blob member goes to a file, not to stdout."""
    from kmscli.model import cli_extension

    member = cli_extension(op_name).get("outfile")
    if not member or not path or member not in result:
        return
    try:
        with open(path, "wb") as fh:
            fh.write(result.pop(member))
    except OSError as exc:
        raise KmscliError(f"cannot write --outfile {path}: {exc.strerror}") from None
