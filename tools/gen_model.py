"""Generate kmscli/model/kms.json from botocore's KMS service model.

The compact model is the one declaration of every operation's members, limits and help text:
the CLI builds its commands from it and the service layer validates requests against it.
Run with the test extra installed: ``python tools/gen_model.py`` (``make model``).
A test regenerates it and fails when the committed copy is stale.
"""

from __future__ import annotations

import gzip
import html
import json
import os
import re
import sys
from typing import Any

KEEP = ("type", "min", "max", "pattern", "enum", "sensitive", "required")


def _first_sentence(doc: str) -> str:
    text = re.sub(r"<[^>]+>", "", doc or "")
    text = html.unescape(re.sub(r"\s+", " ", text)).strip()
    match = re.match(r"(.+?\.)(\s|$)", text)
    return (match.group(1) if match else text)[:300]


def build() -> dict[str, Any]:
    """Return the compact model as a JSON-able dict."""
    import botocore

    base = os.path.join(os.path.dirname(botocore.__file__), "data", "kms", "2014-11-01")
    with gzip.open(os.path.join(base, "service-2.json.gz")) as fh:
        service = json.load(fh)
    with open(os.path.join(base, "paginators-1.json")) as fh:
        paginators = json.load(fh)["pagination"]
    shapes: dict[str, Any] = {}
    for name, shape in service["shapes"].items():
        out: dict[str, Any] = {k: shape[k] for k in KEEP if k in shape}
        if shape.get("exception"):
            continue
        if shape["type"] == "structure":
            out["members"] = {
                m: {"shape": spec["shape"], "doc": _first_sentence(spec.get("documentation", ""))}
                for m, spec in shape["members"].items()
            }
        elif shape["type"] == "list":
            out["member"] = shape["member"]["shape"]
        elif shape["type"] == "map":
            out["key"] = shape["key"]["shape"]
            out["value"] = shape["value"]["shape"]
        shapes[name] = out
    operations = {
        name: {
            "input": op["input"]["shape"],
            "output": op.get("output", {}).get("shape"),
            "errors": [e["shape"] for e in op.get("errors", [])],
            "doc": _first_sentence(op.get("documentation", "")),
        }
        for name, op in service["operations"].items()
    }
    return {
        "source": f"botocore {botocore.__version__}",
        "operations": operations,
        "shapes": shapes,
        "paginators": paginators,
    }


def render() -> str:
    """Serialise the model the way it is committed (stable, one shape per line)."""
    model = build()
    model.pop("source")
    return json.dumps(model, separators=(",", ":"), ensure_ascii=True) + "\n"  # model order, as AWS prints


if __name__ == "__main__":
    target = os.path.join(os.path.dirname(__file__), "..", "kmscli", "model", "kms.json")
    with open(target, "w") as fh:
        fh.write(render())
    sys.stdout.write(f"wrote {os.path.normpath(target)}\n")
