"""The AWS SDK for JavaScript v3 against a real `kmscli serve` (docs/serve.md, "Clients tested").

Every other wire test signs with botocore, whose SigV4 code is also what the server verifies with: a
mistake the two share would go unseen. The JS SDK's signer (@smithy/signature-v4), its JSON 1.1
serializer, its headers (amz-sdk-invocation-id, amz-sdk-request, x-amz-user-agent) and its retry
policy are an independent implementation. One node process (tests/serve/js/kms_wire.mjs) runs every
step against one server and prints one JSON object; each test below checks one step of it.

The SDK is installed once from tests/serve/js/package-lock.json (exact versions) with `npm ci` into
build/jsdk-<hash of the lock file>/, reused by later runs. Without node or npm the tests are skipped,
unless KMSCLI_REQUIRE_NODE=1 (.ci/run sets it): then they fail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import ACCOUNT, Server, self_signed_cert

ROOT = Path(__file__).resolve().parents[2]
JS = Path(__file__).resolve().parent / "js"
UUID_LENGTH = 36


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (the JS SDK wire test needs Node.js and npm)"
        if os.environ.get("KMSCLI_REQUIRE_NODE") == "1":
            pytest.fail(f"{message}; KMSCLI_REQUIRE_NODE=1 says it must run")
        pytest.skip(message)
    return path


def install_sdk() -> Path:
    """`npm ci` of tests/serve/js into a folder named by the lock file's hash, once; its path."""
    node, npm = _need("node"), _need("npm")
    lock = (JS / "package-lock.json").read_bytes()
    target = ROOT / "build" / f"jsdk-{hashlib.sha256(lock).hexdigest()[:16]}"
    if (target / "node_modules" / "@aws-sdk" / "client-kms" / "package.json").exists():
        return target
    staging = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(JS / name, staging / name)
    proc = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=staging,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise AssertionError(f"npm ci failed ({node}): {proc.stderr}")
    try:
        staging.rename(target)  # atomic: a concurrent run sees a whole install or none
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not target.exists():
            raise
    return target


def run_wire(server: Server, **options: Any) -> dict[str, Any]:
    """tests/serve/js/kms_wire.mjs's results against ``server``; ``options``: its optional settings
    (``ca``, ``steps``)."""
    modules = install_sdk()
    config = {
        "modules": str(modules),
        "endpoint": server.url,
        "region": "us-east-1",
        "account": ACCOUNT,
        "keys": server.keys,
        **options,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true"
    )
    proc = subprocess.run(
        [_need("node"), str(JS / "kms_wire.mjs")],
        input=json.dumps(config),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"node exited {proc.returncode}: {proc.stderr}"
    results: dict[str, Any] = json.loads(proc.stdout)
    return results


@pytest.fixture(scope="module")
def js(server: Server) -> dict[str, Any]:
    """The node script's results against the module's server (plain HTTP)."""
    return run_wire(server)


#: The steps run again over HTTPS, and the refusal of an untrusted certificate
TLS_STEPS = ["createKey", "encryptDecrypt", "signVerify", "accessDenied", "oversized", "untrustedRefused"]


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """A server with a self-signed certificate (--tls-cert/--tls-key), and the certificate."""
    install_sdk()  # skipped without node before a server starts
    folder = tmp_path_factory.mktemp("serve-tls")
    cert, key = self_signed_cert(folder)
    srv = Server(folder, args=("--tls-cert", str(cert), "--tls-key", str(key)))
    try:
        yield srv, cert
    finally:
        assert srv.stop() == 0


@pytest.fixture(scope="module")
def js_tls(tls_server: tuple[Server, Path]) -> dict[str, Any]:
    """TLS_STEPS over HTTPS, the SDK trusting the certificate through its https.Agent's ``ca``."""
    srv, cert = tls_server
    assert srv.url.startswith("https://")
    return run_wire(srv, ca=cert.read_text(), steps=TLS_STEPS)


@pytest.fixture(params=["http", "https"])
def wire(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The node script's results over plain HTTP, then over HTTPS (the steps of TLS_STEPS)."""
    results: dict[str, Any] = request.getfixturevalue("js" if request.param == "http" else "js_tls")
    return results


def ok(js: dict[str, Any], step: str) -> Any:
    """A step's observations; a step that raised fails here with the SDK's error."""
    result = js[step]
    assert "error" not in result, f"{step}: the JS SDK raised {result['error']}"
    return result["ok"]


def test_create_and_describe_key_with_tags_and_policy(js: dict[str, Any]) -> None:
    """CreateKey with Tags and a Policy; CreationDate parses as a Date, to the millisecond."""
    made = ok(js, "createKey")
    assert len(made["keyId"]) == UUID_LENGTH
    assert made["arn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{made['keyId']}"
    assert made["creationDateIsDate"] and made["keySpec"] == "SYMMETRIC_DEFAULT" and made["enabled"]
    assert abs(made["creationDateMs"] / 1000 - time.time()) < 600
    assert made["requestId"] and made["attempts"] == 1
    seen = ok(js, "describeKey")
    assert seen["keyId"] == made["keyId"] and seen["description"] == "made by the JS SDK"
    assert seen["creationDateIsDate"] and seen["creationDateMs"] == made["creationDateMs"]
    assert seen["keyUsage"] == "ENCRYPT_DECRYPT"
    assert seen["tags"] == [{"TagKey": "team", "TagValue": "js"}]
    assert seen["policy"]["Id"] == "js-sdk"


def test_encrypt_decrypt_with_context(wire: dict[str, Any]) -> None:
    """A non-ASCII encryption context survives the JS serializer and the signer."""
    got = ok(wire, "encryptDecrypt")
    arn = ok(wire, "createKey")["arn"]
    assert got == {
        "ciphertextIsBytes": True,
        "encryptKeyId": arn,
        "plaintext": "hello from node",
        "decryptKeyId": arn,
        "algorithm": "SYMMETRIC_DEFAULT",
    }


def test_wrong_context_is_a_typed_invalid_ciphertext(js: dict[str, Any]) -> None:
    """AWS's answer, surfaced by the SDK as its InvalidCiphertextException class, not retried."""
    err = ok(js, "decryptWrongContext")
    assert err["name"] == "InvalidCiphertextException" and err["typed"]
    assert err["status"] == 400 and err["fault"] == "client" and err["attempts"] == 1
    assert ok(js, "decryptWrongContextTyped") == {
        "invalidCiphertextClass": True,
        "name": "InvalidCiphertextException",
    }


def test_generate_data_key(js: dict[str, Any]) -> None:
    """GenerateDataKey's plaintext is 32 bytes, and its encrypted copy decrypts to it."""
    assert ok(js, "generateDataKey") == {"plaintextLength": 32, "decryptsToSame": True}


def test_re_encrypt(js: dict[str, Any]) -> None:
    """ReEncrypt moves a ciphertext to another key and context."""
    got = ok(js, "reEncrypt")
    assert got["sourceKeyId"] == ok(js, "createKey")["arn"]
    assert got["keyId"] == got["destinationArn"] and got["plaintext"] == "hello from node"


def test_sign_verify_checked_by_node_crypto(wire: dict[str, Any]) -> None:
    """An ECDSA P-256 signature from kmscli verifies in node's crypto with GetPublicKey's DER SPKI."""
    got = ok(wire, "signVerify")
    assert got["signatureIsBytes"] and got["signingAlgorithm"] == "ECDSA_SHA_256" and got["kmsVerified"]
    assert got["tampered"]["name"] == "KMSInvalidSignatureException" and got["tampered"]["typed"]
    assert got["publicKeySpec"] == "ECC_NIST_P256" and got["curve"] == "prime256v1"
    assert got["nodeVerified"] and got["nodeRejectsOther"]


def test_generate_and_verify_mac(js: dict[str, Any]) -> None:
    """GenerateMac / VerifyMac, and a wrong message is KMSInvalidMacException."""
    got = ok(js, "mac")
    assert got["macLength"] == 32 and got["macValid"]
    assert got["bad"]["name"] == "KMSInvalidMacException" and got["bad"]["typed"]


def test_list_keys_pages_with_limit_and_marker(js: dict[str, Any]) -> None:
    """ListKeys Limit 2 + Marker: full pages, Truncated until the last, every key once."""
    got = ok(js, "listKeysPaged")
    pages, ids = got["pages"], got["ids"]
    assert len(ids) >= 4 and len(pages) == (len(ids) + 1) // 2  # four keys made by the steps before
    assert all(p == {"count": 2, "truncated": True, "hasMarker": True} for p in pages[:-1])
    assert pages[-1]["truncated"] is False and pages[-1]["hasMarker"] is False
    assert len(ids) == len(set(ids)) and ok(js, "createKey")["keyId"] in ids
    assert got["viaPaginator"] == ids


def test_list_aliases(js: dict[str, Any]) -> None:
    """CreateAlias, ListAliases for the key, DescribeKey by alias name."""
    got = ok(js, "aliases")
    key_id = ok(js, "createKey")["keyId"]
    assert got["aliases"] == [
        {"name": "alias/js-sdk", "target": key_id, "arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/js-sdk"}
    ]
    assert got["creationDateIsDate"] and got["viaAliasKeyId"] == key_id


def test_create_and_list_grants(js: dict[str, Any]) -> None:
    """On a key only alice may use, alice's grant lets bob encrypt under the context it constrains."""
    got = ok(js, "grants")
    assert got["deniedBefore"] == "AccessDeniedException"
    assert got["grantIdIsString"] and got["bobEncrypted"]
    assert got["grants"] == [
        {
            "id": got["madeGrantId"],
            "name": "js-grant",
            "grantee": f"arn:aws:iam::{ACCOUNT}:user/bob",
            "operations": ["Encrypt", "Decrypt"],
            "constraints": {"EncryptionContextSubset": {"purpose": "js-sdk"}},
            "creationDateIsDate": True,
        }
    ]


def test_access_denied_by_key_policy(wire: dict[str, Any]) -> None:
    """A key policy that names only alice: bob gets AccessDeniedException with AWS's message."""
    got = ok(wire, "accessDenied")
    assert got["name"] == "AccessDeniedException" and got["typed"] and got["describeTyped"]
    assert got["status"] == 400 and got["attempts"] == 1
    assert got["message"].startswith(
        f"User: arn:aws:iam::{ACCOUNT}:user/bob is not authorized to perform: kms:Encrypt"
    )
    assert got["keyArn"] in got["message"]
    assert got["requestId"], "the error's x-amzn-RequestId"


def test_an_error_request_id_finds_its_audit_event(js: dict[str, Any], server: Server) -> None:
    """docs/serve.md: a client's request id finds its event; here from the JS SDK's error metadata."""
    request_id = ok(js, "accessDenied")["requestId"]
    [event] = [e for e in server.events() if e.get("requestID") == request_id]
    assert event["eventName"] == "Encrypt" and event["errorCode"] == "AccessDeniedException"
    assert event["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/bob"


def test_not_found(js: dict[str, Any]) -> None:
    """An unknown key id and an unknown alias are NotFoundException, as the SDK's class."""
    got = ok(js, "notFound")
    assert got["name"] == "NotFoundException" and got["typed"] and got["aliasTyped"]
    assert "11111111-2222-3333-4444-555555555555" in got["message"] and got["status"] == 400


def test_wrong_secret_and_unknown_access_key(js: dict[str, Any]) -> None:
    """A signature made with the wrong secret, and an access key the vault does not have."""
    wrong = ok(js, "wrongSecret")
    assert wrong["name"] == "InvalidSignatureException" and wrong["status"] == 400 and wrong["attempts"] == 1
    assert wrong["message"].startswith("The request signature we calculated does not match")
    unknown = ok(js, "unknownAccessKey")
    assert unknown["name"] == "UnrecognizedClientException" and unknown["status"] == 400
    assert unknown["message"] == "The security token included in the request is invalid."


def test_the_server_audited_the_js_callers(js: dict[str, Any], server: Server) -> None:
    """The audit log names the JS SDK's user agent and the caller of each request."""
    events = server.events()
    encrypts = [
        e for e in events if e.get("eventName") == "Encrypt" and "aws-sdk-js" in e.get("userAgent", "")
    ]
    assert encrypts, "no Encrypt event carries the JS SDK's user agent"
    assert {e["userIdentity"]["arn"] for e in encrypts} >= {
        f"arn:aws:iam::{ACCOUNT}:root",
        f"arn:aws:iam::{ACCOUNT}:user/bob",
    }
    grants = [e for e in events if e.get("eventName") == "CreateGrant"]
    assert [e["userIdentity"]["arn"] for e in grants] == [f"arn:aws:iam::{ACCOUNT}:user/alice"]


def test_a_skewed_client_clock_is_corrected_from_the_date_header(js: dict[str, Any]) -> None:
    """The JS SDK (unlike botocore) retries a "Signature expired" once with its clock offset set
    from the response's Date header: the second attempt succeeds."""
    got = ok(js, "skewedClock")
    assert got["attempts"] == 2
    assert abs(got["correctedOffsetMs"]) < 5000


def test_missing_node_skips_here_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without node a developer's run skips these tests with the reason; CI's (KMSCLI_REQUIRE_NODE=1) fails."""
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    monkeypatch.delenv("KMSCLI_REQUIRE_NODE", raising=False)
    with pytest.raises(pytest.skip.Exception, match="node is not installed"):
        install_sdk()
    monkeypatch.setenv("KMSCLI_REQUIRE_NODE", "1")
    with pytest.raises(pytest.fail.Exception, match="KMSCLI_REQUIRE_NODE=1 says it must run"):
        install_sdk()


def test_the_pinned_sdk_ran(js: dict[str, Any]) -> None:
    """The SDK that ran is the one package.json pins (Node.js 18, Debian 12's, and later run it)."""
    pinned = json.loads((JS / "package.json").read_text())["dependencies"]["@aws-sdk/client-kms"]
    assert js["versions"]["sdk"] == pinned
    assert int(js["versions"]["node"].lstrip("v").split(".")[0]) >= 18


def test_what_the_server_alone_validates(js: dict[str, Any]) -> None:
    """The JS SDK sends what botocore would refuse to send: the server's ValidationException and
    SerializationException reach it with AWS's wording, as a generic KMSServiceException."""
    got = ok(js, "serverValidation")
    missing = got["missingKeyId"]
    assert missing["name"] == "ValidationException" and missing["typed"] and missing["status"] == 400
    assert "at 'keyId' failed to satisfy constraint: Member must not be null" in missing["message"]
    assert got["outOfRange"]["name"] == "ValidationException"
    assert "'numberOfBytes'" in got["outOfRange"]["message"]
    wrong = got["wrongType"]
    assert wrong["name"] == "SerializationException"
    assert wrong["message"] == "STRING_VALUE can not be converted to an Integer"
    assert got["emptyListAndMap"] is True


def test_schedule_and_cancel_key_deletion(js: dict[str, Any]) -> None:
    """DeletionDate parses as a Date, 7 days out, and DescribeKey shows the same instant."""
    got = ok(js, "keyDeletion")
    assert got["deletionDateIsDate"] and got["days"] == 7 and got["keyState"] == "PendingDeletion"
    assert got["describedDeletionDateMs"] == got["deletionDateMs"]


def test_concurrent_requests(js: dict[str, Any]) -> None:
    """24 Encrypt/Decrypt pairs at once over the SDK's connection pool, none retried."""
    assert ok(js, "concurrent") == {"allBack": True, "maxAttemptsPerPair": 2, "count": 24}


def test_oversized_bodies_are_a_413_the_sdk_reads(wire: dict[str, Any]) -> None:
    """Whether kmscli or cheroot refuses the body, the SDK gets RequestEntityTooLargeException,
    once (no retry of a connection reset), and the next call works."""
    got = ok(wire, "oversized")
    for case in ("overLimit", "farOver"):
        err = got[case]
        assert (err["name"], err["status"], err["attempts"]) == ("RequestEntityTooLargeException", 413, 1), (
            case
        )
    assert got["nextCallWorks"] is True


def test_an_untrusted_certificate_is_refused_by_the_sdk(
    js_tls: dict[str, Any], tls_server: tuple[Server, Path]
) -> None:
    """A JS client that was not given the self-signed certificate refuses the handshake (node's
    DEPTH_ZERO_SELF_SIGNED_CERT): no HTTP answer, and no request reached the server's audit log,
    while the trusting client's requests did, over the same connection pool."""
    refused = ok(js_tls, "untrustedRefused")
    assert refused["code"] == "DEPTH_ZERO_SELF_SIGNED_CERT", refused
    assert "status" not in refused and refused["attempts"] == 1
    srv, _ = tls_server
    events = srv.events()
    assert not [e for e in events if e.get("eventName") == "ListKeys"]
    signs = [e for e in events if e.get("eventName") == "Sign" and "aws-sdk-js" in e.get("userAgent", "")]
    assert len(signs) == 1 and signs[0]["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:root"


def docs_recipe() -> str:
    """docs/serve.md's JavaScript recipe ("Clients tested"), as written."""
    text = (ROOT / "docs" / "serve.md").read_text()
    section = text.split("\n## Clients tested\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```js\n(.*?)```", section, flags=re.S)
    return block


def test_the_docs_recipe_runs_as_written(server: Server, tmp_path: Path) -> None:
    """The recipe, configured only by the environment it names (AWS_ENDPOINT_URL_KMS, AWS_REGION,
    an access key); with the AWS CLI's AWS_DEFAULT_REGION instead of AWS_REGION the SDK has no
    region, as the docs say."""
    (tmp_path / "demo.mjs").write_text(docs_recipe())
    (tmp_path / "node_modules").symlink_to(install_sdk() / "node_modules")
    key_id, secret = server.keys["alice"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(tmp_path),  # no ~/.aws of the user's
        AWS_ENDPOINT_URL_KMS=server.url,
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID=key_id,
        AWS_SECRET_ACCESS_KEY=secret,
    )

    def run(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
        node = _need("node")
        return subprocess.run(
            [node, "demo.mjs"], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60
        )

    proc = run(env)
    assert (proc.returncode, proc.stdout) == (0, "hello\n"), proc.stderr
    made = [
        e
        for e in server.events()
        if e.get("eventName") == "CreateKey" and e["userIdentity"].get("accessKeyId") == key_id
    ]
    assert len(made) == 1
    env["AWS_DEFAULT_REGION"] = env.pop("AWS_REGION")
    proc = run(env)
    assert proc.returncode != 0 and "Region is missing" in proc.stderr


#: The instant the JS signer signs at, and kmscli's verifier checks at: no wall clock in these tests.
SIGNED_AT = dt.datetime(2026, 11, 30, 23, 59, 58, tzinfo=dt.UTC)
#: Requests the JS SDK's signer signs, for kmscli's verifier to check in-process at the signing
#: instant (no server, no clock): (name, path, query as the signer takes it, the same query as the
#: SDK's HTTP handler writes it, extra headers, body).
SIGNED_CASES: list[tuple[str, str, dict[str, Any], str, dict[str, str], str]] = [
    (
        "an Encrypt as the SDK sends it",
        "/",
        {},
        "",
        {
            "content-type": "application/x-amz-json-1.1",
            "x-amz-target": "TrentService.Encrypt",
            "x-amz-user-agent": "aws-sdk-js/3.967.0  app/two   spaces",
            "amz-sdk-invocation-id": "4162edbc-28ab-41c3-85fc-35662ec467c3",
            "amz-sdk-request": "attempt=2; max=3",
        },
        '{"KeyId":"alias/a","Plaintext":"aGk="}',
    ),
    ("an empty body", "/", {}, "", {"x-amz-target": "TrentService.ListKeys"}, ""),
    ("a non-ASCII body", "/", {}, "", {"x-amz-target": "TrentService.Decrypt"}, '{"D":"\u00e9\u2603"}'),
    ("dot segments in the path", "/a/./b/../c", {}, "", {"x-amz-target": "TrentService.ListKeys"}, "{}"),
    # (a member without a value, {"flag": null}, is sent as `flag` but left out of the JS signer's
    # canonical query, where botocore and AWS read `flag=`: no KMS request has a query at all)
    (
        "a query: repeated, blank and escaped members",
        "/",
        {"b": "2", "a": ["1", "0"], "flag": "", "k": "a b/c~*+"},
        "b=2&a=1&a=0&flag=&k=a%20b%2Fc~%2A%2B",
        {"x-amz-target": "TrentService.ListKeys"},
        "{}",
    ),
    ("padded header values", "/", {}, "", {"x-amz-target": "  TrentService.ListKeys  "}, "{}"),
]


@pytest.fixture(scope="module")
def js_signed() -> dict[str, list[tuple[str, str]]]:
    """SIGNED_CASES as @smithy/signature-v4 signs them (us-east-1, and one in eu-west-1)."""
    from tests.serve.test_sigv4_verifier import KEY_ID, SECRET

    cases = [
        {"name": name, "region": "us-east-1", "path": path, "query": query, "headers": headers, "body": body}
        for name, path, query, _, headers, body in SIGNED_CASES
    ]
    cases.append({**cases[1], "name": "another region", "region": "eu-west-1"})
    config = {
        "modules": str(install_sdk()),
        "date": SIGNED_AT.isoformat(),
        "accessKeyId": KEY_ID,
        "secretAccessKey": SECRET,
        "cases": cases,
    }
    proc = subprocess.run(
        [_need("node"), str(JS / "sign_cases.mjs")],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"node exited {proc.returncode}: {proc.stderr}"
    return {case["name"]: [(k, v) for k, v in case["headers"]] for case in json.loads(proc.stdout)}


@pytest.mark.parametrize(("name", "path", "query", "sent_query", "headers", "body"), SIGNED_CASES)
@pytest.mark.parametrize("route", ["plain request", "botocore AWSRequest fallback"])
def test_js_sdk_signatures_verify_on_both_routes(
    js_signed: dict[str, list[tuple[str, str]]],
    name: str,
    path: str,
    query: dict[str, Any],
    sent_query: str,
    headers: dict[str, str],
    body: str,
    route: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kmscli's verifier (botocore's canonical request) accepts what an independent signer signed,
    on its fast route and its fallback, and still refuses the request altered."""
    from kmscli.serve import sigv4
    from tests.serve.test_sigv4_verifier import KEY_ID, _lookup

    if route != "plain request":
        monkeypatch.setattr(sigv4._Received, "__init__", lambda *a: (_ for _ in ()).throw(AttributeError()))
    received = js_signed[name]
    signed_names = dict(received)["authorization"].split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    assert {"host", "x-amz-date", "x-amz-content-sha256", "content-length"} <= set(signed_names)
    assert {h for h in headers} <= set(signed_names), "the signer left out a header it was given"
    data = body.encode()
    caller = sigv4.verify("POST", path, sent_query, received, data, SIGNED_AT, _lookup())
    assert caller == sigv4.Caller(KEY_ID, "arn:aws:iam::111122223333:root", "us-east-1")
    with pytest.raises(sigv4.AuthError, match="x-amz-content-sha256"):  # the declared hash is checked
        sigv4.verify("POST", path, sent_query, received, data + b" ", SIGNED_AT, _lookup())
    with pytest.raises(sigv4.AuthError, match="does not match"):
        sigv4.verify(
            "POST", path, sent_query + "&z=1" if sent_query else "z=1", received, data, SIGNED_AT, _lookup()
        )


def test_a_js_sdk_signature_names_its_region(js_signed: dict[str, list[tuple[str, str]]]) -> None:
    """The credential scope's region is the caller's region; the JS signature of another region verifies."""
    from kmscli.serve import sigv4
    from tests.serve.test_sigv4_verifier import _lookup

    west = sigv4.verify("POST", "/", "", js_signed["another region"], b"", SIGNED_AT, _lookup())
    assert west.region == "eu-west-1"
    with pytest.raises(sigv4.AuthError, match="does not match"):
        sigv4.verify("POST", "/", "", js_signed["another region"], b"", SIGNED_AT, _lookup("not the secret"))
