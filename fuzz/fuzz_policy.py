"""Fuzz the key policy parser and evaluator with arbitrary JSON documents and request contexts.

Parsing may only raise MalformedPolicyDocumentException. Evaluating a parsed policy may raise
nothing, and a Deny statement that applies must decide, whatever else the policy holds.
"""

from __future__ import annotations

import json

from _common import run

ACCOUNT = "111122223333"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PRINCIPALS = [
    f"arn:aws:iam::{ACCOUNT}:user/Bob",
    f"arn:aws:iam::{ACCOUNT}:root",
    "arn:aws:iam::444455556666:user/Eve",
]
ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:CreateGrant", "kms:PutKeyPolicy", "kms:Sign"]


def test_one_input(data: bytes) -> None:
    from kmscli.errors import MalformedPolicyDocumentException
    from kmscli.policy.document import parse
    from kmscli.policy.evaluate import EXPLICIT_DENY, Request, decide, evaluate_statement

    if len(data) < 2:
        return
    principal = PRINCIPALS[data[0] % len(PRINCIPALS)]
    action = ACTIONS[data[1] % len(ACTIONS)]
    text = data[2:].decode("utf-8", "replace")
    try:
        policy = parse(text)
    except MalformedPolicyDocumentException:
        return
    # the condition context comes from the same document's "Context" member, when it has one
    raw = json.loads(text).get("Context") if text.lstrip().startswith("{") else None
    context = raw if isinstance(raw, dict) else {}
    encryption_context = {k: v for k, v in context.items() if isinstance(v, str)}
    req = Request(principal, action, KEY_ARN, {k.lower(): v for k, v in context.items()}, encryption_context)
    decision = decide(policy, [], req)
    if any(s.effect == "Deny" and evaluate_statement(s, req)[0] for s in policy.statements):
        assert decision.decision == EXPLICIT_DENY, "a Deny that applies did not decide"


if __name__ == "__main__":
    run(test_one_input)
