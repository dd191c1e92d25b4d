"""The compact KMS API model (generated from botocore by tools/gen_model.py)."""

from __future__ import annotations

import functools
import json
import os
from typing import Any


def _load(name: str) -> dict[str, Any]:
    # a plain path, not importlib.resources: this module is on every command's import path
    with open(os.path.join(os.path.dirname(__file__), name), "rb") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


@functools.cache
def extensions() -> dict[str, Any]:
    """kmscli-only members and operations (``extensions.json``), declared like botocore's."""
    return _load("extensions.json")


@functools.cache
def model() -> dict[str, Any]:
    """The whole model: ``operations``, ``shapes`` and ``paginators``, with the kmscli extensions.

    An extension shape that already exists gains the extension's members; a new one is added.
    """
    data = _load("kms.json")
    ext = extensions()
    for name, sh in ext.get("shapes", {}).items():
        if name in data["shapes"]:
            data["shapes"][name]["members"].update(sh.get("members", {}))
        else:
            data["shapes"][name] = sh
    data["operations"].update(ext.get("operations", {}))
    return data


def cli_extension(op_name: str) -> dict[str, Any]:
    """CLI-only behaviour of an operation (e.g. ``{"outfile": MEMBER}``: write that blob to a file)."""
    found: dict[str, Any] = extensions().get("cli", {}).get(op_name, {})
    return found


def operation(name: str) -> dict[str, Any]:
    """One operation's entry (``input``, ``output``, ``errors``, ``doc``)."""
    op: dict[str, Any] = model()["operations"][name]
    return op


def shape(name: str) -> dict[str, Any]:
    """One shape by name."""
    sh: dict[str, Any] = model()["shapes"][name]
    return sh


def input_members(op_name: str) -> dict[str, Any]:
    """Member name -> {"shape", "doc"} of an operation's request."""
    members: dict[str, Any] = shape(operation(op_name)["input"])["members"]
    return members


def paginator(op_name: str) -> dict[str, str] | None:
    """botocore's paginator entry for an operation, when it has one."""
    pag: dict[str, str] | None = model()["paginators"].get(op_name)
    return pag


def in_model_order(shape_name: str | None, value: Any) -> Any:
    """``value`` with every structure's members in the model's order, as botocore parses a response
    (so the AWS CLI prints ``Keys, NextMarker, Truncated``, whatever order the service built them in);
    members the shape does not declare follow, in their own order. Maps keep their keys' order."""
    if shape_name is None:
        return value
    sh = shape(shape_name)
    kind = sh["type"]
    if kind == "structure" and isinstance(value, dict):
        members = sh["members"]
        ordered = {
            name: in_model_order(spec["shape"], value[name])
            for name, spec in members.items()
            if name in value
        }
        ordered.update((name, item) for name, item in value.items() if name not in members)
        return ordered
    if kind == "list" and isinstance(value, list):
        return [in_model_order(sh["member"], item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: in_model_order(sh["value"], item) for key, item in value.items()}
    return value
