"""A model-driven sweep of bad input over the wire, for every operation, with the CLI alongside.

For each operation a request valid by the model is built, then one member at a time is replaced by
an edge value derived from its shape: the wrong JSON type (a number for a string, a string for a
list, an object for a scalar, a bool for an integer), a string one below its minimum or one above
its maximum length, a pattern broken, an enum wrong or in lower case, a lone surrogate, an integer
out of range, a blob empty, over its maximum or not base64, a list over its maximum or holding a
null, a map with a null or non-string value or a non-Unicode key, a nested member broken the same
way, a required member left out. Each case has one right answer, known from the model alone:
``SerializationException`` for a type the JSON decoder cannot take, ``ValidationException`` naming
the member for a broken constraint (AWS's two codes for them), HTTP 400, an AWS-worded message.

The CLI is asked the same thing (``--cli-input-json`` with the same document, in process): it gives
the server's code (exit 254), unless botocore's client-side check refuses the document first
(exit 252, as the AWS CLI does). Afterwards: the server is still serving, its log holds no fault
and no secret, no answer quoted a secret, the vault's files are as they were, the audit log
verifies. The table is fixed (no randomness) and built from ``kmscli/model``, so an operation or a
member added to the model is swept without a change here.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from tests.serve.conftest import Server

SER = "SerializationException"
VAL = "ValidationException"
#: Planted in every value of a sensitive shape (and in blobs): no answer, log or event may hold it.
SECRET = "SWEEPSECRET"

#: Valid values of the shapes whose pattern a run of "a" does not satisfy.
PATTERNED = {
    "AccountIdType": "111122223333",
    "CloudHsmClusterIdType": "cluster-234abcdefgh",
    "GrantConstraintSourceArnType": "arn:aws:s3:us-east-1:111122223333:bucket",
    "PrincipalIdType": "arn:aws:iam::111122223333:user/bob",
    "RegionType": "us-west-2",
    "ServicePrincipalType": "ec2.amazonaws.com",
    "XksProxyAuthenticationAccessKeyIdType": SECRET + "A" * 9,
    "XksProxyAuthenticationRawSecretAccessKeyType": SECRET + "a" * 32,
    "XksProxyUriEndpointType": "https://xks.example.com",
    "XksProxyUriPathType": "/kms/xks/v1",
    "XksProxyVpcEndpointServiceNameType": "com.amazonaws.vpce.us-east-1.vpce-svc-0123",
}
#: Blob maximums above this are not swept past their maximum: the base64 body would be over the
#: server's body limit, which answers 413 first (test_auth.py covers that).
MAX_SWEPT_BLOB = 16 * 1024


def _shape(name: str) -> dict[str, Any]:
    from kmscli.model import shape

    return shape(name)


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def valid(shape_name: str) -> Any:
    """A JSON value of ``shape_name`` that breaks none of its constraints."""
    sh = _shape(shape_name)
    kind = sh["type"]
    if kind == "string":
        if "enum" in sh:
            return sh["enum"][0]
        if shape_name in PATTERNED:
            return PATTERNED[shape_name]
        size = max(sh.get("min", 1), 1)
        return (SECRET + "a" * size)[:size] if sh.get("sensitive") else "a" * size
    if kind == "blob":
        return base64.b64encode((SECRET * 4)[: max(sh.get("min", 1), 1)].encode()).decode()
    if kind in ("integer", "long"):
        return sh.get("min", 1)
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return 1_800_000_000
    if kind == "list":
        return [valid(sh["member"])] * max(sh.get("min", 1), 1)
    if kind == "map":
        return {"k": valid(sh["value"])}
    assert kind == "structure", shape_name
    return {name: valid(sh["members"][name]["shape"]) for name in sh.get("required", [])}


class Edge(NamedTuple):
    label: str
    value: Any
    code: str
    cli: bool = True  # False: the CLI reads this differently on purpose (it decodes base64 leniently)


def _text(size: int, sensitive: bool) -> str:
    return ((SECRET if sensitive else "") + "a" * size)[:size]


def edges(shape_name: str, depth: int = 0) -> list[Edge]:
    """The edge values of ``shape_name``, each with the code a request holding it must get."""
    sh = _shape(shape_name)
    kind = sh["type"]
    out: list[Edge] = []
    if kind == "string":
        sensitive = bool(sh.get("sensitive"))
        out += [
            Edge("number", 7, SER),
            Edge("bool", True, SER),
            Edge("list", [], SER),
            Edge("object", {}, SER),
        ]
        out.append(Edge("lone-surrogate", "\ud800", VAL, cli=False))  # argv cannot carry one
        if sh.get("min", 0) > 0:
            out.append(Edge("below-min", _text(sh["min"] - 1, sensitive), VAL))
        if "max" in sh:
            out.append(Edge("above-max", _text(sh["max"] + 1, sensitive), VAL))
        if "enum" in sh:
            out += [Edge("enum-lower", sh["enum"][0].lower(), VAL), Edge("enum-unknown", "NOT_A_VALUE", VAL)]
        if "pattern" in sh:
            good = valid(shape_name)
            out.append(Edge("pattern", "\u20ac" + good[1:], VAL))  # one character no KMS pattern takes
    elif kind == "blob":
        out += [Edge("number", 7, SER), Edge("list", [], SER), Edge("not-base64", "!!!!", SER, cli=False)]
        if sh.get("min", 0) > 0:
            out.append(Edge("empty", "", VAL))
        if "max" in sh and sh["max"] <= MAX_SWEPT_BLOB:
            out.append(
                Edge(
                    "above-max",
                    base64.b64encode((SECRET * sh["max"])[: sh["max"] + 1].encode()).decode(),
                    VAL,
                )
            )
    elif kind in ("integer", "long"):
        out += [Edge("string", "5", SER), Edge("bool", True, SER), Edge("object", {}, SER)]
        if "min" in sh:
            out.append(Edge("below-min", sh["min"] - 1, VAL))
        if "max" in sh:
            out += [Edge("above-max", sh["max"] + 1, VAL), Edge("huge", 2**64, VAL)]
    elif kind == "boolean":
        out += [Edge("string", "true", SER), Edge("number", 1, SER), Edge("list", [True], SER)]
    elif kind == "timestamp":
        out += [Edge("string", "2030-01-01T00:00:00Z", SER, cli=False), Edge("bool", True, SER)]
    elif kind == "list":
        member = valid(sh["member"])
        out += [Edge("string", "x", SER), Edge("object", {}, SER), Edge("null-member", [None], SER)]
        if sh.get("min", 0) > 0:
            out.append(Edge("below-min", [], VAL))
        if "max" in sh:
            out.append(Edge("above-max", [member] * (sh["max"] + 1), VAL))
        if depth < 2:
            out += [
                Edge(f"member.{e.label}", [e.value], e.code, e.cli) for e in edges(sh["member"], depth + 1)
            ]
    elif kind == "map":
        out += [
            Edge("string", "x", SER),
            Edge("list", [], SER),
            Edge("null-value", {"k": None}, SER),
            Edge("number-value", {"k": 1}, SER),
            Edge("surrogate-key", {"\udc80": "v"}, VAL, cli=False),
        ]
        if depth < 2:
            out += [
                Edge(f"value.{e.label}", {"k": e.value}, e.code, e.cli) for e in edges(sh["value"], depth + 1)
            ]
    elif kind == "structure":
        base = valid(shape_name)
        out += [Edge("string", "x", SER), Edge("list", [], SER)]
        for name in sh.get("required", []):
            out.append(Edge(f"without.{name}", {k: v for k, v in base.items() if k != name}, VAL))
        if depth < 2:
            for name, spec in sh["members"].items():
                out += [
                    Edge(f"{name}.{e.label}", {**base, name: e.value}, e.code, e.cli)
                    for e in edges(spec["shape"], depth + 1)
                ]
    return out


class Case(NamedTuple):
    op: str
    member: str
    label: str
    request: dict[str, Any]
    code: str
    cli: bool


def _operations() -> list[str]:
    from kmscli.model import model

    return sorted(model()["operations"])


def cases(op: str) -> list[Case]:
    """Every one-member edge of ``op``'s request (and every required member left out)."""
    from kmscli.model import operation

    input_shape = operation(op)["input"]
    base = valid(input_shape)
    out: list[Case] = []
    sh = _shape(input_shape)
    for name in sh.get("required", []):
        out.append(Case(op, name, "missing", {k: v for k, v in base.items() if k != name}, VAL, True))
    for name, spec in sh["members"].items():
        for edge in edges(spec["shape"]):
            out.append(Case(op, name, edge.label, {**base, name: edge.value}, edge.code, edge.cli))
    return out


def test_every_baseline_is_valid_so_each_case_breaks_one_thing() -> None:
    """The table's own check: each operation's base request decodes and validates cleanly."""
    from kmscli.model import operation
    from kmscli.service.pipeline.validate import validate_request
    from kmscli.wire import json11

    for op in _operations():
        body = json.dumps(valid(operation(op)["input"])).encode()
        validate_request(operation(op)["input"], json11.decode_request(op, body))


def test_the_table_covers_every_operation_and_kind_of_edge() -> None:
    every = [c for op in _operations() for c in cases(op)]
    assert len(_operations()) >= 57 and {c.op for c in every} == set(_operations())
    labels = {c.label.rsplit(".", 1)[-1] for c in every}
    assert {
        "below-min",
        "above-max",
        "pattern",
        "enum-lower",
        "lone-surrogate",
        "not-base64",
        "huge",
    } <= labels
    assert {"null-member", "null-value", "surrogate-key", "missing", "bool", "object", "list"} <= labels
    assert 1500 < len(every) < 6000  # the whole sweep stays a few seconds


# -- the server side ------------------------------------------------------------------------------


class Wire:
    """Signed raw requests on one keep-alive connection (botocore's signer; the body sent as is)."""

    def __init__(self, server: Server) -> None:
        from botocore.credentials import Credentials

        self.server = server
        self.credentials = Credentials(*server.keys["admin"])
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def send(self, op: str, body: bytes) -> tuple[int, dict[str, Any]]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method="POST", url=self.server.url + "/", data=body)
        request.headers["Content-Type"] = "application/x-amz-json-1.1"
        request.headers["X-Amz-Target"] = "TrentService." + op
        SigV4Auth(self.credentials, "kms", "us-east-1").add_auth(request)
        self.conn.request("POST", "/", body=body, headers=dict(request.headers.items()))
        response = self.conn.getresponse()
        data = response.read()
        assert response.getheader("Content-Type") == "application/x-amz-json-1.1"
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
        doc: dict[str, Any] = json.loads(data)
        return response.status, doc


@pytest.fixture(scope="module")
def wire(server: Server) -> Iterator[Wire]:
    client = Wire(server)
    try:
        yield client
    finally:
        client.conn.close()


def _vault_files(server: Server) -> dict[str, bytes]:
    """Every vault file but the audit log's (refused requests are audited, as in AWS)."""
    root = server.folder / "vault"
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != "audit" and not p.name.endswith(".lock")
    }


@pytest.fixture(scope="module")
def key(server: Server) -> str:
    """A key and an alias for it, made before the sweep."""
    client = server.client()
    key_id: str = client.create_key(Description="sweep")["KeyMetadata"]["KeyId"]
    client.create_alias(AliasName="alias/sweep", TargetKeyId=key_id)
    return key_id


@pytest.fixture(scope="module")
def before(server: Server, key: str) -> dict[str, bytes]:
    """The vault's files before the sweep (its tests all ask for it, so it is taken first)."""
    return _vault_files(server)


@pytest.fixture(scope="module")
def cli_env(server: Server) -> Iterator[None]:
    """The in-process CLI pointed at the server's vault (the CLI and the server share it)."""
    import os

    mp = pytest.MonkeyPatch()
    for name in list(os.environ):
        if name.startswith(("KMSCLI_", "AWS_")):
            mp.delenv(name)
    for name, value in server.env.items():
        mp.setenv(name, value)
    try:
        yield
    finally:
        mp.undo()


def _cli(op: str, document: str) -> tuple[int, str | None, str]:
    """(exit code, AWS error code or None, stderr) of ``kmscli <op> --cli-input-json DOCUMENT``."""
    from kmscli.cli.opcommand import command_name
    from tests.helpers import run_cli

    res = run_cli([command_name(op), "--cli-input-json", document])
    found = re.search(r"An error occurred \((\w+)\)", res.err)
    return res.code, found.group(1) if found else None, res.err


def _problem(case: Case, status: int, doc: dict[str, Any]) -> str | None:
    """What is wrong with the server's answer to ``case``, or None."""
    message = doc.get("message")
    if status != 400 or doc.get("__type") != case.code or not isinstance(message, str):
        return f"{status} {doc}"
    if SECRET in message or "Traceback" in message or 'File "' in message:
        return f"leaks: {message[:200]}"
    if case.code == VAL:
        if not re.match(r"[0-9]+ validation errors? detected: ", message):
            return f"not AWS-worded: {message[:200]}"
        where = _lower_first(case.member)
        if f"at '{where}" not in message:
            return f"does not name {where}: {message[:200]}"
    return None


@pytest.mark.parametrize("op", _operations())
def test_every_edge_of_every_member_is_refused_alike_by_the_server_and_the_cli(
    op: str, server: Server, wire: Wire, before: dict[str, bytes], cli_env: None
) -> None:
    wrong: list[str] = []
    for case in cases(op):
        body = json.dumps(case.request).encode()
        status, doc = wire.send(op, body)
        if problem := _problem(case, status, doc):
            wrong.append(f"{case.member}[{case.label}]: server: {problem}")
            continue
        if not case.cli:
            continue
        code, aws_code, err = _cli(op, body.decode())
        if SECRET in err or "Traceback" in err:
            wrong.append(f"{case.member}[{case.label}]: CLI leaks: {err[:200]}")
        elif code == 252:  # botocore's own check, before any call: the AWS CLI's answer too
            from kmscli.cli.request import check_request
            from kmscli.errors import UsageError

            try:
                check_request(op, case.request)
                wrong.append(f"{case.member}[{case.label}]: CLI 252 but botocore takes it: {err[:200]}")
            except UsageError:  # refused client-side, as expected
                pass
        elif (code, aws_code) != (254, case.code):
            wrong.append(
                f"{case.member}[{case.label}]: server {case.code}, CLI {code} {aws_code}: {err[:200]}"
            )
    assert not wrong, f"{op}: {len(wrong)} wrong:\n" + "\n".join(wrong[:30])


# -- raw bodies the SDKs would not send ------------------------------------------------------------

KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
PLAIN = base64.b64encode(SECRET.encode()).decode()
#: A grant token whose body is nested past the JSON parser's recursion limit (it was a 500).
DEEP_TOKEN = "kmscli-grant-token:" + base64.urlsafe_b64encode(b"[" * 5000).decode()
RAW = [
    (
        "RetireGrant",
        json.dumps({"GrantToken": DEEP_TOKEN}).encode(),
        "InvalidGrantTokenException",
        "not valid",
    ),
    (
        "Encrypt",
        json.dumps({"KeyId": "alias/sweep", "Plaintext": PLAIN, "GrantTokens": [DEEP_TOKEN]}).encode(),
        "InvalidGrantTokenException",
        "not valid",
    ),
    # (operation, body, code, a piece of the message)
    ("ListKeys", b'{"Limit": NaN}', SER, "not valid JSON"),
    ("ListKeys", b'{"Future": {"x": [Infinity]}, "Limit": 5}', SER, "not valid JSON"),
    ("ListKeys", b'{"Limit": ' + b"9" * 5000 + b"}", SER, "not valid JSON"),
    ("ListKeys", b'{"Limit": 1e999}', SER, "NUMBER_VALUE can not be converted to an Integer"),
    ("ListKeys", b'{"Marker": "\xff\xfe"}', SER, "not valid JSON"),
    ("ListKeys", b'{"Marker": "\xc0\xaf"}', SER, "not valid JSON"),
    ("ListKeys", b'{"Limit": 5} {}', SER, "not valid JSON"),
    ("ListKeys", b'{"Limit": 5,}', SER, "not valid JSON"),
    ("ListKeys", b"null", SER, "not a JSON object"),
    ("ListKeys", b'"ListKeys"', SER, "not a JSON object"),
    ("ListKeys", b'{"Future": ' + b"[" * 2000 + b"]" * 2000 + b"}", SER, "not valid JSON"),
    ("ListKeys", b'{"Limit": 1, "Limit": 1}', SER, "'Limit' appears twice"),
    (
        "Encrypt",
        f'{{"KeyId": "{KEY}", "Plaintext": "{PLAIN}", "EncryptionContext": {{"a": "1", "a": "2"}}}}'.encode(),
        SER,
        "'a' appears twice",
    ),
    (
        "CreateGrant",
        (
            f'{{"KeyId": "{KEY}", "Operations": ["Decrypt"], "GranteePrincipal": "arn:aws:iam::111122223333:root",'
            ' "Constraints": {"EncryptionContextSubset": {"t": "1"}, "EncryptionContextSubset": {}}}'
        ).encode(),
        SER,
        "'EncryptionContextSubset' appears twice",
    ),
    (
        "Encrypt",
        f'{{"KeyId": "{KEY}", "Plaintext": "{PLAIN}", "EncryptionContext": {{"a": null}}}}'.encode(),
        SER,
        "'EncryptionContext.a' is null",
    ),
    (
        "Encrypt",
        f'{{"KeyId": "{KEY}", "Plaintext": "{PLAIN}", "GrantTokens": [null]}}'.encode(),
        SER,
        "'GrantTokens[0]' is null",
    ),
    (  # the map key is in the message: a lone surrogate there made the answer unencodable (a 500)
        "Encrypt",
        f'{{"KeyId": "{KEY}", "Plaintext": "{PLAIN}", "EncryptionContext": {{"\\ud800": null}}}}'.encode(),
        SER,
        "'EncryptionContext.\\ud800' is null",
    ),
    (
        "Encrypt",
        f'{{"KeyId": "{KEY}", "Plaintext": "{PLAIN}", "EncryptionContext": {{"\\udbff": "x"}}}}'.encode(),
        VAL,
        "valid Unicode",
    ),
    ("Encrypt", f'{{"KeyId": "{KEY}\\ud800", "Plaintext": "{PLAIN}"}}'.encode(), VAL, "valid Unicode"),
    (
        "Encrypt",
        f'{{"KeyId": "{KEY}", "Plaintext": "{PLAIN}="}}'.encode(),
        SER,
        "'Plaintext' is not valid base64",
    ),
    (
        "Encrypt",
        f'{{"KeyId": "{KEY}", "Plaintext": "{PLAIN[:-2]}"}}'.encode(),
        SER,
        "'Plaintext' is not valid base64",
    ),
]


@pytest.mark.parametrize(
    ("op", "body", "code", "needle"), RAW, ids=[f"{i}-{r[0]}" for i, r in enumerate(RAW)]
)
def test_raw_bodies_get_the_json_protocols_errors(
    wire: Wire, before: dict[str, bytes], op: str, body: bytes, code: str, needle: str
) -> None:
    status, doc = wire.send(op, body)
    assert (status, doc["__type"]) == (400, code), doc
    assert needle in doc["message"] and SECRET not in doc["message"], doc


# -- key ids in every form -------------------------------------------------------------------------


def _key_forms(key_id: str) -> dict[str, str]:
    arn = f"arn:aws:kms:us-east-1:111122223333:key/{key_id}"
    alias_arn = "arn:aws:kms:us-east-1:111122223333:alias/sweep"
    return {
        "upper-case id": key_id.upper(),
        "id with a newline": key_id + "\n",
        "key/ without an ARN": f"key/{key_id}",
        "ARN of another region": arn.replace("us-east-1", "us-west-2"),
        "ARN of another account": arn.replace("111122223333", "444455556666"),
        "ARN of another service": arn.replace(":kms:", ":iam:"),
        "ARN of another partition": arn.replace("arn:aws:", "arn:aws-cn:"),
        "ARN with a short account": arn.replace("111122223333", "1111"),
        "ARN with no key id": arn[: -len(key_id)],
        "alias ARN of another region": alias_arn.replace("us-east-1", "us-west-2"),
        "alias ARN of another account": alias_arn.replace("111122223333", "444455556666"),
        "alias ARN of another partition": alias_arn.replace("arn:aws:", "arn:aws-us-gov:"),
        "alias that does not exist": "alias/no-such-alias",
        "alias in another case": "alias/SWEEP",
        "ALIAS/ prefix": "ALIAS/sweep",
    }


#: What an operation needs beyond its model-required members before it looks a key up.
KEY_LOOKUP_NEEDS: dict[str, dict[str, Any]] = {
    "Decrypt": {"CiphertextBlob": base64.b64encode(b"\x01" * 64).decode()},
    "GenerateDataKey": {"KeySpec": "AES_256"},
    "GenerateDataKeyWithoutPlaintext": {"KeySpec": "AES_256"},
    "RetireGrant": {"GrantId": "a" * 64},
}


def _key_operations() -> list[str]:
    from kmscli.model import operation

    return [op for op in _operations() if "KeyId" in _shape(operation(op)["input"])["members"]]


@pytest.mark.parametrize("op", _key_operations())
def test_a_key_id_in_a_form_that_names_no_key_is_not_found_on_both_front_ends(
    op: str, server: Server, wire: Wire, key: str, before: dict[str, bytes], cli_env: None
) -> None:
    from kmscli.model import operation

    base = {**valid(operation(op)["input"]), **KEY_LOOKUP_NEEDS.get(op, {})}
    wrong = []
    for form, key_id in _key_forms(key).items():
        document = json.dumps({**base, "KeyId": key_id})
        status, doc = wire.send(op, document.encode())
        code, aws_code, err = _cli(op, document)
        if (status, doc["__type"]) != (400, "NotFoundException") or (code, aws_code) != (
            254,
            "NotFoundException",
        ):
            wrong.append(f"{form}: server {status} {doc}, CLI {code} {aws_code} {err[:150]}")
    assert not wrong, f"{op}:\n" + "\n".join(wrong)


# -- afterwards ------------------------------------------------------------------------------------


def test_after_the_sweep_the_server_serves_the_vault_is_unchanged_and_the_log_verifies(
    server: Server, wire: Wire, before: dict[str, bytes], key: str, cli_env: None
) -> None:
    from tests.helpers import run_cli

    assert server.proc.poll() is None
    status, doc = wire.send("DescribeKey", json.dumps({"KeyId": "alias/sweep"}).encode())
    assert status == 200 and doc["KeyMetadata"]["KeyId"] == key
    assert _vault_files(server) == before
    log = (server.folder / "serve.log").read_text()
    assert "internal error" not in log and "Traceback" not in log and SECRET not in log, log[-2000:]
    audit = "".join(p.read_text() for p in sorted((server.folder / "vault" / "audit").glob("audit-*.jsonl")))
    assert SECRET not in audit and base64.b64encode(SECRET.encode()).decode()[:12] not in audit
    res = run_cli(["audit", "verify"])
    assert res.code == 0 and res.out.startswith("OK"), res.err
