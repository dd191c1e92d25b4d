"""Concurrency: 4 processes x 250 mixed operations on one vault. Nothing fails, no update is lost,
the audit log holds exactly one event per operation, and its chain verifies.

Workers call the service in-process (one unlocked context per process, as the CLI builds it), so
the test exercises the real locks and atomic writes without paying for 1,000 interpreter starts
(fsync is skipped in the workers: durability is what test_crash.py checks).
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import random
import traceback
from pathlib import Path
from typing import Any

from kmscli.invocation import Sources
from tests.hardening import PASSPHRASE, verify_chain

WORKERS = 4
OPS_PER_WORKER = 250
SHARED_KEYS = 3


def _context(vault: Path) -> Any:
    from kmscli.service.features.session import context_for
    from kmscli.settings import load_settings
    from kmscli.vault.store import Vault

    settings = load_settings({"vault": str(vault)}, os.environ)
    return context_for(Vault.open(vault).unlock(PASSPHRASE.encode()), settings, Sources())


GRANTEE = "arn:aws:iam::111122223333:role/concurrent"


def worker(
    vault: Path,
    number: int,
    shared: list[str],
    out: Any,
    count: int = OPS_PER_WORKER,
    signer: str | None = None,
    policy: str | None = None,
) -> None:
    """Run ``count`` random operations; report what was acknowledged (or the first failure)."""
    import os

    from kmscli.service.pipeline.core import invoke

    # Durability is the crash test's subject; here fsync only costs time (the locks and the
    # rename-based atomic writes are what keep concurrent updates apart, and they are real).
    os.fsync = lambda fd: None
    rng = random.Random(number)
    ctx = _context(vault)
    own: list[str] = []
    blobs: list[tuple[bytes, bytes, dict[str, str]]] = []
    aliases: set[str] = set()
    tags: list[tuple[str, str, str]] = []
    grants: list[tuple[str, str]] = []
    rotations: dict[str, int] = {}
    policies: dict[str, str] = {}
    ops: list[str] = []
    merged = ["sign", "grant", "rotate", "policy"] if signer and policy else []
    try:
        for i in range(count):
            choice = rng.choice(["create", "encrypt", "decrypt", "alias", "unalias", "tag", "tag", *merged])
            if choice == "sign" and signer:
                invoke(ctx, "Sign", {"KeyId": signer, "Message": b"m", "SigningAlgorithm": "ECDSA_SHA_256"})
                ops.append("Sign")
                continue
            if choice == "grant":  # shared keys: concurrent read-modify-writes of the grant list
                key = rng.choice(shared)
                res = invoke(
                    ctx, "CreateGrant", {"KeyId": key, "GranteePrincipal": GRANTEE, "Operations": ["Decrypt"]}
                )
                grants.append((key, res["GrantId"]))
                ops.append("CreateGrant")
                continue
            if choice == "rotate" and own and rotations.get(own[-1], 0) < 20:  # AWS allows 25 per key
                rotations[own[-1]] = rotations.get(own[-1], 0) + 1
                invoke(ctx, "RotateKeyOnDemand", {"KeyId": own[-1]})
                ops.append("RotateKeyOnDemand")
                continue
            if choice == "policy" and own and policy:
                doc = json.loads(policy)
                doc["Statement"].append({**doc["Statement"][0], "Sid": f"w{number}x{i}"})
                invoke(
                    ctx,
                    "PutKeyPolicy",
                    {"KeyId": own[-1], "PolicyName": "default", "Policy": json.dumps(doc)},
                )
                policies[own[-1]] = f"w{number}x{i}"
                ops.append("PutKeyPolicy")
                continue
            if choice == "create" or not own or choice in ("rotate", "policy"):
                own.append(
                    invoke(ctx, "CreateKey", {"Description": f"w{number}-{i}"})["KeyMetadata"]["KeyId"]
                )
                ops.append("CreateKey")
            elif choice == "encrypt" or (choice == "decrypt" and not blobs):
                plain = rng.randbytes(rng.randint(1, 64))
                context = {"worker": str(number), "op": str(i)}
                res = invoke(
                    ctx,
                    "Encrypt",
                    {"KeyId": rng.choice(own + shared), "Plaintext": plain, "EncryptionContext": context},
                )
                blobs.append((res["CiphertextBlob"], plain, context))
                ops.append("Encrypt")
            elif choice == "decrypt":
                blob, plain, context = rng.choice(blobs)
                res = invoke(ctx, "Decrypt", {"CiphertextBlob": blob, "EncryptionContext": context})
                assert res["Plaintext"] == plain
                ops.append("Decrypt")
            elif choice == "alias" or (choice == "unalias" and not aliases):
                name = f"alias/w{number}-{i}"
                invoke(ctx, "CreateAlias", {"AliasName": name, "TargetKeyId": rng.choice(own + shared)})
                aliases.add(name)
                ops.append("CreateAlias")
            elif choice == "unalias":
                name = rng.choice(sorted(aliases))
                invoke(ctx, "DeleteAlias", {"AliasName": name})
                aliases.discard(name)
                ops.append("DeleteAlias")
            else:  # tag: shared keys get concurrent read-modify-writes from every worker
                key = rng.choice(shared + own[-1:])
                tag_key, value = f"w{number}-{i}", base64.b16encode(rng.randbytes(4)).decode()
                invoke(ctx, "TagResource", {"KeyId": key, "Tags": [{"TagKey": tag_key, "TagValue": value}]})
                tags.append((key, tag_key, value))
                ops.append("TagResource")
        out.put(
            {
                "worker": number,
                "ops": ops,
                "own": own,
                "aliases": sorted(aliases),
                "tags": tags,
                "grants": grants,
                "rotations": rotations,
                "policies": policies,
            }
        )
    except BaseException:
        out.put({"worker": number, "error": traceback.format_exc()})


def test_four_processes_mixed_operations(vault: Path) -> None:
    from kmscli.service.pipeline.core import invoke

    ctx = _context(vault)
    shared = [
        invoke(ctx, "CreateKey", {"Description": "shared"})["KeyMetadata"]["KeyId"]
        for _ in range(SHARED_KEYS)
    ]
    signer = invoke(ctx, "CreateKey", {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"})["KeyMetadata"]
    policy = invoke(ctx, "GetKeyPolicy", {"KeyId": shared[0], "PolicyName": "default"})["Policy"]
    setup_events = len(verify_chain(vault).events)

    mp = multiprocessing.get_context("fork")
    queue = mp.Queue()
    procs = [
        mp.Process(target=worker, args=(vault, n, shared, queue, OPS_PER_WORKER, signer["KeyId"], policy))
        for n in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    errors = [r["error"] for r in results if "error" in r]
    assert not errors, errors[0]

    total = sum(len(r["ops"]) for r in results)
    assert total == WORKERS * OPS_PER_WORKER

    # the audit log: one event per operation, all successful, chain intact
    report = verify_chain(vault, allow_torn_tail=False)
    events = report.events[setup_events:]
    assert len(events) == total
    assert not [e for e in events if "errorCode" in e]
    names = ["CreateKey", "Encrypt", "Decrypt", "CreateAlias", "DeleteAlias", "TagResource"]
    for name in [*names, "Sign", "CreateGrant", "RotateKeyOnDemand", "PutKeyPolicy"]:
        assert any(name in r["ops"] for r in results), f"no worker ran {name}"
        assert sum(e["eventName"] == name for e in events) == sum(r["ops"].count(name) for r in results)

    # no lost update: every key, alias and tag acknowledged is there
    fresh = _context(vault)
    listed = {k["KeyId"] for k in invoke(fresh, "ListKeys", {"Limit": 1000})["Keys"]}
    assert listed == set(shared) | {k for r in results for k in r["own"]} | {signer["KeyId"]}
    aliases = {
        a["AliasName"] for a in invoke(fresh, "ListAliases", {"Limit": 1000})["Aliases"] if "TargetKeyId" in a
    }
    assert aliases == {a for r in results for a in r["aliases"]}
    expected_tags: dict[str, dict[str, str]] = {}
    for r in results:
        for key, tag_key, value in r["tags"]:
            expected_tags.setdefault(key, {})[tag_key] = value
    for key, tagmap in expected_tags.items():
        got = invoke(fresh, "ListResourceTags", {"KeyId": key, "Limit": 50})
        found = {t["TagKey"]: t["TagValue"] for t in got["Tags"]}
        marker = got.get("NextMarker")
        while marker:
            got = invoke(fresh, "ListResourceTags", {"KeyId": key, "Limit": 50, "Marker": marker})
            found.update({t["TagKey"]: t["TagValue"] for t in got["Tags"]})
            marker = got.get("NextMarker")
        assert found == tagmap
    for key in shared:  # no grant lost to a concurrent read-modify-write of the same key file
        got = invoke(fresh, "ListGrants", {"KeyId": key, "Limit": 1000})
        assert {g["GrantId"] for g in got["Grants"]} == {
            g for r in results for k, g in r["grants"] if k == key
        }
    for r in results:
        for key, count in r["rotations"].items():
            rotations = invoke(fresh, "ListKeyRotations", {"KeyId": key, "Limit": 1000})["Rotations"]
            assert len(rotations) == count, key
        for key, sid in r["policies"].items():
            text = invoke(fresh, "GetKeyPolicy", {"KeyId": key, "PolicyName": "default"})["Policy"]
            assert [s["Sid"] for s in json.loads(text)["Statement"]][-1] == sid, key
    assert not list(vault.rglob(".tmp-*"))  # no temp file left behind by a finished write


def test_concurrent_appends_across_audit_segments(vault: Path) -> None:
    """With 4 KiB segments the log rolls over many times while processes race: still one chain."""
    import os

    Path(os.environ["KMSCLI_CONFIG"]).write_text("[default]\naudit_segment_bytes = 4096\n")
    from kmscli.service.pipeline.core import invoke

    shared = [invoke(_context(vault), "CreateKey", {})["KeyMetadata"]["KeyId"]]
    mp = multiprocessing.get_context("fork")
    queue = mp.Queue()
    procs = [mp.Process(target=worker, args=(vault, 10 + n, shared, queue, 40)) for n in range(3)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert not [r["error"] for r in results if "error" in r]
    report = verify_chain(vault, allow_torn_tail=False)
    assert len(report.events) == 1 + 3 * 40
    segments = sorted((vault / "audit").glob("audit-*.jsonl"))
    assert len(segments) > 5
    assert all(p.stat().st_size <= 4096 for p in segments)
