"""boto3, the AWS CLI and the AWS Encryption SDK against `kmscli serve`: one test per family."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.serve.conftest import ACCOUNT, Server


def test_keys_and_aliases(server: Server) -> None:
    kms = server.client()
    meta = kms.create_key(Description="served", Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]
    key_id = meta["KeyId"]
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    assert isinstance(meta["CreationDate"], dt.datetime)  # epoch seconds on the wire, parsed by botocore
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "served"
    kms.update_key_description(KeyId=key_id, Description="renamed")
    kms.create_alias(AliasName="alias/served", TargetKeyId=key_id)
    names = [a["AliasName"] for a in kms.list_aliases(KeyId=key_id)["Aliases"]]
    assert names == ["alias/served"]
    assert key_id in [k["KeyId"] for k in kms.list_keys()["Keys"]]
    kms.disable_key(KeyId=key_id)
    assert kms.describe_key(KeyId="alias/served")["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=key_id)
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "a"}]
    kms.untag_resource(KeyId=key_id, TagKeys=["team"])
    deletion = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert isinstance(deletion["DeletionDate"], dt.datetime)
    kms.cancel_key_deletion(KeyId=key_id)
    kms.delete_alias(AliasName="alias/served")
    with pytest.raises(kms.exceptions.ClientError) as caught:  # not in the model, so no modeled class
        kms.create_alias(AliasName="alias/aws/served", TargetKeyId=key_id)
    assert caught.value.response["Error"]["Code"] == "NotAuthorizedException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_symmetric_family(server: Server) -> None:
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    context = {"purpose": "test"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"\x00\xffsecret", EncryptionContext=context)["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert out["Plaintext"] == b"\x00\xffsecret" and out["KeyId"].endswith(key_id)
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    moved = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=context, DestinationKeyId=other)[
        "CiphertextBlob"
    ]
    assert kms.decrypt(CiphertextBlob=moved)["Plaintext"] == b"\x00\xffsecret"
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    assert len(data_key["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    assert "Plaintext" not in kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=16)
    assert len(kms.generate_random(NumberOfBytes=48)["Plaintext"]) == 48
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob[:-1] + bytes([blob[-1] ^ 1]), EncryptionContext=context)


def test_asymmetric_and_hmac_family(server: Server) -> None:
    kms = server.client()
    sign_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    sig = kms.sign(KeyId=sign_key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert kms.verify(KeyId=sign_key, Message=b"m", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")[
        "SignatureValid"
    ]
    with pytest.raises(kms.exceptions.KMSInvalidSignatureException):
        kms.verify(KeyId=sign_key, Message=b"x", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")
    assert kms.get_public_key(KeyId=sign_key)["PublicKey"].startswith(b"0")
    pair = kms.generate_data_key_pair(
        KeyId=kms.create_key()["KeyMetadata"]["KeyId"], KeyPairSpec="ECC_NIST_P256"
    )
    assert pair["PrivateKeyPlaintext"] and pair["PublicKey"]
    mac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac = kms.generate_mac(KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert kms.verify_mac(KeyId=mac_key, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]


def test_grants_policies_rotation(server: Server) -> None:
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    grant = kms.create_grant(
        KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/bob", Operations=["Encrypt"]
    )
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id)["Grants"]] == [grant["GrantId"]]
    kms.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert policy["Statement"]
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]
    kms.enable_key_rotation(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    kms.rotate_key_on_demand(KeyId=key_id)
    assert len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 1


def test_region_comes_from_the_credential_scope(server: Server) -> None:
    west = server.client(region="eu-west-1")
    arn = west.create_key()["KeyMetadata"]["Arn"]
    assert arn.startswith(f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/")
    east_ids = [k["KeyId"] for k in server.client().list_keys()["Keys"]]
    assert arn.rsplit("/", 1)[1] not in east_ids


def test_the_request_id_recipe_finds_its_event(server: Server) -> None:
    """docs/serve.md's recipe, as written: `kmscli audit --output jsonl | jq 'select(.requestID == ...)'`."""
    import shutil

    if shutil.which("jq") is None:  # .ci/run installs it
        pytest.skip("jq is not installed")
    request_id = server.client().generate_random(NumberOfBytes=8)["ResponseMetadata"]["RequestId"]
    out = subprocess.run(
        f"{sys.executable} -m kmscli audit --output jsonl | jq -c 'select(.requestID == \"{request_id}\")'",
        shell=True,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    assert [json.loads(line)["eventName"] for line in out] == ["GenerateRandom"]


def test_errors_are_aws_shaped_and_request_ids_match_events(server: Server) -> None:
    kms = server.client()
    with pytest.raises(kms.exceptions.NotFoundException) as caught:
        kms.describe_key(KeyId="alias/does-not-exist")
    err: Any = caught.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    request_id = err["ResponseMetadata"]["RequestId"]
    ok = kms.generate_random(NumberOfBytes=8)["ResponseMetadata"]["RequestId"]
    by_id = {e["requestID"]: e for e in server.events()}
    assert by_id[request_id]["errorCode"] == "NotFoundException"
    event = by_id[ok]
    assert event["eventName"] == "GenerateRandom"
    assert event["userIdentity"]["accessKeyId"] == server.keys["admin"][0]
    assert event["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert event["userIdentity"]["type"] == "Root"
    assert event["sourceIPAddress"] == "127.0.0.1"
    assert event["userAgent"].startswith("Boto3/")
    with pytest.raises(kms.exceptions.ClientError) as caught:
        kms.encrypt(KeyId="alias/x", Plaintext=b"")  # empty plaintext: validation
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_key_policy_lets_one_access_key_in_and_keeps_another_out(server: Server) -> None:
    alice, bob = server.client("alice"), server.client("bob")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "alice only",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    key_id = alice.create_key(Policy=json.dumps(policy), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"][
        "KeyId"
    ]
    blob = alice.encrypt(KeyId=key_id, Plaintext=b"for alice")["CiphertextBlob"]
    assert alice.decrypt(CiphertextBlob=blob)["Plaintext"] == b"for alice"
    with pytest.raises(bob.exceptions.ClientError) as caught:
        bob.decrypt(CiphertextBlob=blob)
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    denied = [e for e in server.events() if e.get("errorCode") == "AccessDeniedException"]
    assert denied[-1]["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/bob"
    assert denied[-1]["userIdentity"]["accessKeyId"] == server.keys["bob"][0]


TLS_ONLY_FROM_LOOPBACK = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "loopback users",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}},
        },
        {
            "Sid": "TLS only",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ],
}


def test_a_policy_sees_the_callers_address_and_transport(server: Server) -> None:
    # docs/policy.md: over the wire a request carries aws:SourceIp and aws:SecureTransport; this
    # server speaks plain HTTP, so the common "TLS only" Deny refuses Encrypt but not DescribeKey
    admin = server.client("admin")
    key_id = admin.create_key(Policy=json.dumps(TLS_ONLY_FROM_LOOPBACK), BypassPolicyLockoutSafetyCheck=True)[
        "KeyMetadata"
    ]["KeyId"]
    assert admin.describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id  # from 127.0.0.1
    with pytest.raises(admin.exceptions.ClientError) as caught:
        admin.encrypt(KeyId=key_id, Plaintext=b"over plain http")
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "with an explicit deny" in caught.value.response["Error"]["Message"]


def test_a_callers_identity_is_its_own_accounts(server: Server) -> None:
    # CloudTrail: userIdentity.accountId (and a root's principalId) is the caller's account, the
    # key's owner is recipientAccountId; kmscli also lets a policy match it as ${aws:userid}
    out = server.add_access_key("other", "arn:aws:iam::444455556666:root")
    other = server.client("other")
    with pytest.raises(other.exceptions.ClientError):
        other.describe_key(KeyId="alias/none-such")
    event = [e for e in server.events() if e.get("userIdentity", {}).get("accessKeyId") == out[0]][-1]
    assert event["userIdentity"]["accountId"] == "444455556666"
    assert event["userIdentity"]["principalId"] == "444455556666"
    assert event["recipientAccountId"] == ACCOUNT


def test_aws_cli_encrypt_and_decrypt_with_fileb(server: Server, tmp_path: Path) -> None:
    key_id = server.client().create_key()["KeyMetadata"]["KeyId"]
    access, secret = server.keys["admin"]
    env = {
        **server.env,
        "AWS_ACCESS_KEY_ID": access,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"\x00\x01 binary \xff")
    aws = [sys.executable, "-m", "awscli", "--endpoint-url", server.url, "kms"]
    enc = subprocess.run(
        [
            *aws,
            "encrypt",
            "--key-id",
            key_id,
            "--plaintext",
            f"fileb://{plain}",
            "--output",
            "text",
            "--query",
            "CiphertextBlob",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    import base64

    (tmp_path / "ct.bin").write_bytes(base64.b64decode(enc.stdout.strip()))
    dec = subprocess.run(
        [
            *aws,
            "decrypt",
            "--ciphertext-blob",
            f"fileb://{tmp_path / 'ct.bin'}",
            "--output",
            "text",
            "--query",
            "Plaintext",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert base64.b64decode(dec.stdout.strip()) == plain.read_bytes()


def test_aws_encryption_sdk_through_a_kms_keyring(server: Server) -> None:
    import aws_encryption_sdk
    from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
    from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
    from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsKeyringInput
    from aws_encryption_sdk import CommitmentPolicy

    kms = server.client()
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    providers = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    keyring = providers.create_aws_kms_keyring(
        input=CreateAwsKmsKeyringInput(kms_key_id=key_arn, kms_client=kms)
    )
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )
    ciphertext, header = client.encrypt(source=b"envelope", keyring=keyring, encryption_context={"a": "b"})
    plaintext, _ = client.decrypt(source=ciphertext, keyring=keyring)
    assert plaintext == b"envelope" and header.encryption_context["a"] == "b"
    names = [e["eventName"] for e in server.events()[-2:]]
    assert names == ["GenerateDataKey", "Decrypt"]


def test_import_and_multi_region_families(server: Server) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    kms = server.client()
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    assert isinstance(params["ParametersValidTo"], dt.datetime)
    public = serialization.load_der_public_key(params["PublicKey"])
    material = bytes(range(32))
    wrapped = public.encrypt(  # type: ignore[union-attr]
        material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
    kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapped,
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"imported")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"
    primary = kms.create_key(MultiRegion=True)["KeyMetadata"]
    replica = kms.replicate_key(KeyId=primary["KeyId"], ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]
    assert replica["Arn"].startswith(f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/mrk-")
    west = server.client(region="eu-west-1")
    other = kms.encrypt(KeyId=primary["KeyId"], Plaintext=b"mr")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=other)["Plaintext"] == b"mr"


def _rewrite_body(kms: Any, event: str, edit: Any) -> None:
    """Edit the JSON body botocore built, before it is signed: what a newer or a careless SDK sends."""

    def hook(request: Any, **_: Any) -> None:
        doc = json.loads(request.body)
        edit(doc)
        request.data = json.dumps(doc).encode()

    kms.meta.events.register(f"before-sign.kms.{event}", hook)


def test_wrong_json_types_are_serialization_exceptions_and_the_server_keeps_serving(server: Server) -> None:
    from botocore.config import Config

    kms = server.client(config=Config(parameter_validation=False))  # send what botocore would refuse
    cases = [
        ({"KeyId": 5}, "describe_key", "NUMBER_VALUE can not be converted to a String"),
        ({"NumberOfBytes": "32"}, "generate_random", "STRING_VALUE can not be converted to an Integer"),
        ({"KeyId": "alias/x", "Plaintext": b"p"}, "encrypt", "Start of list found where not expected"),
    ]
    _rewrite_body(kms, "Encrypt", lambda doc: doc.update(EncryptionContext=[]))  # botocore cannot write it
    for params, method, message in cases:
        with pytest.raises(kms.exceptions.ClientError) as caught:
            getattr(kms, method)(**params)
        err: Any = caught.value.response
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert err["Error"] == {"Code": "SerializationException", "Message": message}
    # a null inside a list is refused, not dropped: the grant would silently allow less than asked
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    _rewrite_body(kms, "CreateGrant", lambda doc: doc.update(Operations=["Decrypt", None]))
    with pytest.raises(kms.exceptions.ClientError) as caught:
        kms.create_grant(
            KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root", Operations=["Decrypt"]
        )
    assert caught.value.response["Error"] == {
        "Code": "SerializationException",
        "Message": "'Operations[1]' is null: a list member cannot be null",
    }
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    # a constraint is still validation, in AWS's words
    with pytest.raises(kms.exceptions.ClientError) as caught:
        kms.generate_random(NumberOfBytes=0)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    message = caught.value.response["Error"]["Message"]
    assert (
        message.startswith("1 validation error detected: Value ")
        and "at 'numberOfBytes' failed to" in message
    )
    assert len(kms.generate_random(NumberOfBytes=8)["Plaintext"]) == 8


def test_members_a_newer_sdk_sends_are_ignored(server: Server) -> None:
    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    _rewrite_body(kms, "DescribeKey", lambda doc: doc.update(FutureMember={"Nested": [1]}, KeyId=key_id))
    _rewrite_body(kms, "CreateGrant", lambda doc: doc["Constraints"].update(FutureConstraint="x"))
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyId"] == key_id
    grant = kms.create_grant(
        KeyId=key_id,
        GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root",
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"a": "b"}},
    )
    listed = kms.list_grants(KeyId=key_id, GrantId=grant["GrantId"])["Grants"][0]
    assert listed["Constraints"] == {"EncryptionContextSubset": {"a": "b"}}
    events = [e for e in server.events() if e["eventName"] in ("DescribeKey", "CreateGrant")]
    assert events and not any("Future" in json.dumps(e) for e in events)


def test_cli_and_wire_show_the_same_millisecond_timestamps(server: Server) -> None:
    from tests.serve.conftest import kmscli

    kms = server.client()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    served = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CreationDate"]
    assert served.microsecond % 1000 == 0  # AWS KMS sends milliseconds
    printed = kmscli(
        server.env,
        "describe-key",
        "--key-id",
        key_id,
        "--query",
        "KeyMetadata.CreationDate",
        "--output",
        "text",
    ).stdout.strip()
    assert printed == served.isoformat()
