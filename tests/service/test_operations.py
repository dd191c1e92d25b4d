"""Symmetric key operations through the service: shapes, state and usage errors, deletion."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from kmscli import errors
from tests.helpers import FakeClock, assert_output_shape


def _out(op: str, resp: dict[str, Any]) -> None:
    from kmscli.cli.render import jsonable

    assert_output_shape(op, json.loads(json.dumps(jsonable(resp))))


@pytest.fixture
def key(kms: Any) -> dict[str, Any]:
    return dict(
        kms("CreateKey", Description="test", Tags=[{"TagKey": "team", "TagValue": "core"}])["KeyMetadata"]
    )


def test_every_operation_output_matches_botocore(kms: Any, key: dict[str, Any]) -> None:
    kid = key["KeyId"]
    _out("CreateKey", {"KeyMetadata": key})
    _out("DescribeKey", kms("DescribeKey", KeyId=kid))
    _out("ListKeys", kms("ListKeys"))
    _out("EnableKey", kms("EnableKey", KeyId=kid))
    _out("UpdateKeyDescription", kms("UpdateKeyDescription", KeyId=kid, Description="d2"))
    _out("CreateAlias", kms("CreateAlias", AliasName="alias/a", TargetKeyId=kid))
    _out("ListAliases", kms("ListAliases"))
    _out("UpdateAlias", kms("UpdateAlias", AliasName="alias/a", TargetKeyId=kid))
    _out("TagResource", kms("TagResource", KeyId=kid, Tags=[{"TagKey": "k", "TagValue": "v"}]))
    _out("ListResourceTags", kms("ListResourceTags", KeyId=kid))
    _out("UntagResource", kms("UntagResource", KeyId=kid, TagKeys=["k"]))
    enc = kms("Encrypt", KeyId="alias/a", Plaintext=b"x")
    _out("Encrypt", enc)
    _out("Decrypt", kms("Decrypt", CiphertextBlob=enc["CiphertextBlob"]))
    _out("ReEncrypt", kms("ReEncrypt", CiphertextBlob=enc["CiphertextBlob"], DestinationKeyId=kid))
    _out("GenerateDataKey", kms("GenerateDataKey", KeyId=kid, KeySpec="AES_256"))
    _out(
        "GenerateDataKeyWithoutPlaintext", kms("GenerateDataKeyWithoutPlaintext", KeyId=kid, NumberOfBytes=64)
    )
    _out("GenerateRandom", kms("GenerateRandom", NumberOfBytes=16))
    _out("DeleteAlias", kms("DeleteAlias", AliasName="alias/a"))
    _out("DisableKey", kms("DisableKey", KeyId=kid))
    _out("ScheduleKeyDeletion", kms("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7))
    _out("CancelKeyDeletion", kms("CancelKeyDeletion", KeyId=kid))


def test_key_references(kms: Any, key: dict[str, Any]) -> None:
    kms("CreateAlias", AliasName="alias/ref", TargetKeyId=key["KeyId"])
    for ref in (key["KeyId"], key["Arn"], "alias/ref", "arn:aws:kms:us-east-1:111122223333:alias/ref"):
        assert kms("DescribeKey", KeyId=ref)["KeyMetadata"]["KeyId"] == key["KeyId"]
    for ref in (
        "nope",
        "alias/none",
        key["Arn"].replace("us-east-1", "eu-west-1"),
        key["Arn"].replace("111122223333", "999999999999"),
    ):
        with pytest.raises(errors.NotFoundException):
            kms("DescribeKey", KeyId=ref)
    with pytest.raises(errors.ValidationException, match="Aliases must refer to keys"):
        kms("CreateAlias", AliasName="alias/two", TargetKeyId="alias/ref")


def test_disabled_and_pending_deletion_states(kms: Any, key: dict[str, Any]) -> None:
    kid = key["KeyId"]
    blob = kms("Encrypt", KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
    kms("DisableKey", KeyId=kid)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["Enabled"] is False
    with pytest.raises(errors.DisabledException, match="is disabled"):
        kms("Encrypt", KeyId=kid, Plaintext=b"x")
    with pytest.raises(errors.DisabledException):
        kms("Decrypt", CiphertextBlob=blob)
    kms("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7)
    with pytest.raises(errors.KMSInvalidStateException, match="pending deletion"):
        kms("Encrypt", KeyId=kid, Plaintext=b"x")
    with pytest.raises(errors.KMSInvalidStateException):
        kms("EnableKey", KeyId=kid)
    with pytest.raises(errors.KMSInvalidStateException):
        kms("ScheduleKeyDeletion", KeyId=kid)
    kms("CancelKeyDeletion", KeyId=kid)
    meta = kms("DescribeKey", KeyId=kid)["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and "DeletionDate" not in meta
    with pytest.raises(errors.KMSInvalidStateException, match="not pending deletion"):
        kms("CancelKeyDeletion", KeyId=kid)
    kms("EnableKey", KeyId=kid)
    assert kms("Decrypt", CiphertextBlob=blob)["Plaintext"] == b"x"


def test_deletion_window_limits(kms: Any, key: dict[str, Any]) -> None:
    for days in (6, 31):
        with pytest.raises(errors.ValidationException):
            kms("ScheduleKeyDeletion", KeyId=key["KeyId"], PendingWindowInDays=days)
    resp = kms("ScheduleKeyDeletion", KeyId=key["KeyId"])
    assert resp["PendingWindowInDays"] == 30 and resp["KeyState"] == "PendingDeletion"


def test_deletion_happens_lazily_when_due_and_is_audited(kms: Any, clock: FakeClock, service: Any) -> None:
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/doomed", TargetKeyId=kid)
    kms("ScheduleKeyDeletion", KeyId=kid, PendingWindowInDays=7)
    clock.advance(days=6, hours=23)
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    clock.advance(hours=2)
    with pytest.raises(errors.NotFoundException):
        kms("DescribeKey", KeyId=kid)
    assert [a for a in kms("ListAliases")["Aliases"] if "TargetKeyId" in a] == []  # predefined aws/ stay
    assert not list((Path(service.vault.path) / "keys").rglob(f"{kid}.json"))
    events = [
        json.loads(line)
        for p in sorted((Path(service.vault.path) / "audit").glob("*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    deletes = [e for e in events if e["eventName"] == "DeleteKey"]
    assert len(deletes) == 1 and deletes[0]["eventType"] == "AwsServiceEvent"
    assert deletes[0]["resources"][0]["ARN"].endswith(kid)


def test_incorrect_key_and_context(kms: Any, key: dict[str, Any]) -> None:
    other = kms("CreateKey")["KeyMetadata"]["KeyId"]
    blob = kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"a": "b"})["CiphertextBlob"]
    with pytest.raises(errors.IncorrectKeyException):
        kms("Decrypt", CiphertextBlob=blob, KeyId=other, EncryptionContext={"a": "b"})
    with pytest.raises(errors.InvalidCiphertextException):
        kms("Decrypt", CiphertextBlob=blob)
    assert (
        kms("Decrypt", CiphertextBlob=blob, KeyId=key["Arn"], EncryptionContext={"a": "b"})["Plaintext"]
        == b"x"
    )


def test_reencrypt_moves_between_keys_and_contexts(kms: Any, key: dict[str, Any]) -> None:
    other = kms("CreateKey")["KeyMetadata"]
    blob = kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"move", EncryptionContext={"v": "1"})[
        "CiphertextBlob"
    ]
    moved = kms(
        "ReEncrypt",
        CiphertextBlob=blob,
        SourceEncryptionContext={"v": "1"},
        DestinationKeyId=other["KeyId"],
        DestinationEncryptionContext={"v": "2"},
    )
    assert moved["SourceKeyId"] == key["Arn"] and moved["KeyId"] == other["Arn"]
    assert (
        kms("Decrypt", CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"v": "2"})["Plaintext"]
        == b"move"
    )


def test_data_keys(kms: Any, key: dict[str, Any]) -> None:
    kid = key["KeyId"]
    dk = kms("GenerateDataKey", KeyId=kid, KeySpec="AES_128", EncryptionContext={"f": "x"})
    assert len(dk["Plaintext"]) == 16
    assert (
        kms("Decrypt", CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"f": "x"})["Plaintext"]
        == dk["Plaintext"]
    )
    wp = kms("GenerateDataKeyWithoutPlaintext", KeyId=kid, NumberOfBytes=48)
    assert (
        "Plaintext" not in wp and len(kms("Decrypt", CiphertextBlob=wp["CiphertextBlob"])["Plaintext"]) == 48
    )
    with pytest.raises(errors.ValidationException, match="either number of bytes or key spec"):
        kms("GenerateDataKey", KeyId=kid)
    with pytest.raises(errors.ValidationException):
        kms("GenerateDataKey", KeyId=kid, KeySpec="AES_256", NumberOfBytes=32)
    with pytest.raises(errors.ValidationException):
        kms("GenerateDataKey", KeyId=kid, NumberOfBytes=1025)
    assert len(kms("GenerateRandom", NumberOfBytes=1024)["Plaintext"]) == 1024
    with pytest.raises(errors.ValidationException):
        kms("GenerateRandom", NumberOfBytes=0)


def test_validation_messages_are_aws_like(kms: Any) -> None:
    with pytest.raises(errors.ValidationException) as info:
        kms("Encrypt", KeyId="x" * 2049, Plaintext=b"")
    msg = info.value.message
    assert msg.startswith("2 validation errors detected: ")
    assert (
        "at 'keyId' failed to satisfy constraint: Member must have length less than or equal to 2048" in msg
    )
    assert (
        "at 'plaintext' failed to satisfy constraint: Member must have length greater than or equal to 1"
        in msg
    )
    with pytest.raises(errors.ValidationException, match="enum value set"):
        kms("CreateKey", KeyUsage="BOGUS")
    with pytest.raises(errors.ValidationException, match="Member must not be null"):
        kms("DescribeKey")
    with pytest.raises(errors.ValidationException, match="regular expression"):
        kms("CreateAlias", AliasName="alias/bad name!", TargetKeyId="x")


def test_plaintext_size_limit(kms: Any, key: dict[str, Any]) -> None:
    kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"x" * 4096)
    with pytest.raises(errors.ValidationException, match="4096"):
        kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"x" * 4097)


def test_alias_errors(kms: Any, key: dict[str, Any]) -> None:
    kms("CreateAlias", AliasName="alias/dup", TargetKeyId=key["KeyId"])
    with pytest.raises(errors.AlreadyExistsException, match="already exists"):
        kms("CreateAlias", AliasName="alias/dup", TargetKeyId=key["KeyId"])
    with pytest.raises(errors.NotAuthorizedException, match="reserved for AWS managed keys"):
        kms("CreateAlias", AliasName="alias/aws/reserved", TargetKeyId=key["KeyId"])
    with pytest.raises(errors.ValidationException):
        kms("CreateAlias", AliasName="noprefix", TargetKeyId=key["KeyId"])
    with pytest.raises(errors.NotFoundException):
        kms("DeleteAlias", AliasName="alias/missing")
    with pytest.raises(errors.NotFoundException):
        kms("UpdateAlias", AliasName="alias/missing", TargetKeyId=key["KeyId"])
    other = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/other", TargetKeyId=other)
    assert [a["AliasName"] for a in kms("ListAliases", KeyId=other)["Aliases"]] == ["alias/other"]


def test_the_reserved_alias_prefix_is_not_authorized_to_name_a_key(kms: Any, key: dict[str, Any]) -> None:
    """AWS answers CreateAlias (and UpdateAlias) naming an ``alias/aws/`` alias with
    NotAuthorizedException, for a predefined one (``alias/aws/s3``) as for any other; nothing is
    written. DeleteAlias of such a name finds no customer alias: NotFoundException."""
    for name in ("alias/aws/s3", "alias/aws/mine"):
        with pytest.raises(errors.NotAuthorizedException, match=f"{name} cannot begin with alias/aws/"):
            kms("CreateAlias", AliasName=name, TargetKeyId=key["KeyId"])
        with pytest.raises(errors.NotAuthorizedException):
            kms("UpdateAlias", AliasName=name, TargetKeyId=key["KeyId"])
        with pytest.raises(errors.NotFoundException):
            kms("DeleteAlias", AliasName=name)
    assert kms("ListAliases", KeyId=key["KeyId"])["Aliases"] == []
    # the predefined alias stays AWS's: its managed key is created on first use, not by CreateAlias
    assert "TargetKeyId" not in next(
        a for a in kms("ListAliases")["Aliases"] if a["AliasName"] == "alias/aws/s3"
    )


def test_tags(kms: Any, key: dict[str, Any]) -> None:
    kid = key["KeyId"]
    kms(
        "TagResource",
        KeyId=kid,
        Tags=[{"TagKey": "team", "TagValue": "sec"}, {"TagKey": "b", "TagValue": ""}],
    )
    assert kms("ListResourceTags", KeyId=kid)["Tags"] == [
        {"TagKey": "b", "TagValue": ""},
        {"TagKey": "team", "TagValue": "sec"},
    ]
    kms("UntagResource", KeyId=kid, TagKeys=["b", "absent"])
    assert kms("ListResourceTags", KeyId=kid)["Tags"] == [{"TagKey": "team", "TagValue": "sec"}]
    with pytest.raises(errors.TagException):
        kms("TagResource", KeyId=kid, Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])


def _tags(*keys: str) -> list[dict[str, str]]:
    return [{"TagKey": k, "TagValue": "v"} for k in keys]


def test_a_key_holds_at_most_50_tags(kms: Any) -> None:
    """AWS: each resource can have up to 50 user-created tags (LimitExceededException past that)."""
    fifty = _tags(*(f"t{i}" for i in range(50)))
    with pytest.raises(errors.LimitExceededException, match="at most 50 tags"):
        kms("CreateKey", Tags=[*fifty, *_tags("one-more")])
    kid = kms("CreateKey", Tags=fifty[:49])["KeyMetadata"]["KeyId"]
    kms("TagResource", KeyId=kid, Tags=_tags("t0", "t1", "t49"))  # two overwrite, one is new: 50
    with pytest.raises(errors.LimitExceededException):
        kms("TagResource", KeyId=kid, Tags=_tags("t50"))
    assert len(kms("ListResourceTags", KeyId=kid)["Tags"]) == 50
    kms("UntagResource", KeyId=kid, TagKeys=["t0"])
    kms("TagResource", KeyId=kid, Tags=_tags("t50"))


def test_a_key_holds_at_most_50_aliases(kms: Any) -> None:
    """AWS's "Aliases per KMS key" quota, met by CreateAlias and by UpdateAlias onto the key."""
    full, other = (kms("CreateKey")["KeyMetadata"]["KeyId"] for _ in range(2))
    for i in range(50):
        kms("CreateAlias", AliasName=f"alias/a{i}", TargetKeyId=full)
    kms("UpdateAlias", AliasName="alias/a0", TargetKeyId=full)  # already its key: no new alias
    with pytest.raises(errors.LimitExceededException):
        kms("CreateAlias", AliasName="alias/a50", TargetKeyId=full)
    kms("CreateAlias", AliasName="alias/elsewhere", TargetKeyId=other)
    with pytest.raises(errors.LimitExceededException):
        kms("UpdateAlias", AliasName="alias/elsewhere", TargetKeyId=full)


def test_update_alias_needs_the_same_key_type_and_usage_not_the_same_spec(kms: Any) -> None:
    """AWS: both symmetric, both asymmetric or both HMAC, and the same key usage."""

    def key(spec: str, usage: str) -> str:
        return str(kms("CreateKey", KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["KeyId"])

    rsa_sign, ecc_sign = key("RSA_2048", "SIGN_VERIFY"), key("ECC_NIST_P256", "SIGN_VERIFY")
    hmac_256, hmac_512 = key("HMAC_256", "GENERATE_VERIFY_MAC"), key("HMAC_512", "GENERATE_VERIFY_MAC")
    kms("CreateAlias", AliasName="alias/signer", TargetKeyId=rsa_sign)
    kms("UpdateAlias", AliasName="alias/signer", TargetKeyId=ecc_sign)
    kms("CreateAlias", AliasName="alias/mac", TargetKeyId=hmac_256)
    kms("UpdateAlias", AliasName="alias/mac", TargetKeyId=hmac_512)
    for target in (key("RSA_2048", "ENCRYPT_DECRYPT"), kms("CreateKey")["KeyMetadata"]["KeyId"], hmac_256):
        with pytest.raises(errors.ValidationException, match="same type and usage"):
            kms("UpdateAlias", AliasName="alias/signer", TargetKeyId=target)
    assert kms("DescribeKey", KeyId="alias/signer")["KeyMetadata"]["KeyId"] == ecc_sign


def test_page_sizes_are_those_aws_documents_for_each_list_operation() -> None:
    """PAGE_SIZES against the API reference's words in botocore's documentation of each Limit."""
    import re

    import botocore.session

    from kmscli.service.pipeline.paging import PAGE_SIZES

    model = botocore.session.get_session().get_service_model("kms")
    documented = {}
    for op in model.operation_names:
        shape = model.operation_model(op).input_shape
        if shape is not None and "Limit" in shape.members:
            text = re.sub(r"<[^>]+>", "", shape.members["Limit"].documentation)
            found = re.search(
                r"between 1 and ([0-9]+), inclusive\. If you do not include a value, it defaults to ([0-9]+)",
                text,
            )
            if found:
                documented[op] = (int(found[2]), int(found[1]))
    assert documented == PAGE_SIZES


def test_list_aliases_pages_50_by_default_and_at_most_100(kms: Any) -> None:
    """AWS: ListAliases' Limit "must be between 1 and 100 ... it defaults to 50"; kmscli used to
    page 100 by default and honour any Limit up to 1000."""
    keys = [kms("CreateKey")["KeyMetadata"]["KeyId"] for _ in range(3)]
    for i in range(90):
        kms("CreateAlias", AliasName=f"alias/p{i:03}", TargetKeyId=keys[i // 50])
    first = kms("ListAliases")
    assert len(first["Aliases"]) == 50 and first["Truncated"] is True
    big = kms("ListAliases", Limit=1000)
    assert len(big["Aliases"]) == 100 and big["Truncated"] is True
    rest = kms("ListAliases", Limit=1000, Marker=big["NextMarker"])
    names = [a["AliasName"] for a in big["Aliases"] + rest["Aliases"]]
    assert rest["Truncated"] is False and len(set(names)) == len(names)
    assert {f"alias/p{i:03}" for i in range(90)} <= set(names)


#: The other members each operation requires, for a request that reaches the key lookup.
_REQUIRED = {
    "CreateGrant": {"Operations": ["Decrypt"], "GranteePrincipal": "arn:aws:iam::111122223333:role/r"},
    "GetParametersForImport": {"WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"},
    "ImportKeyMaterial": {"ImportToken": b"t", "EncryptedKeyMaterial": b"m"},
    "PutKeyPolicy": {"Policy": "{}"},
    "ReplicateKey": {"ReplicaRegion": "eu-west-1"},
    "RevokeGrant": {"GrantId": "0" * 64},
    "TagResource": {"Tags": [{"TagKey": "k", "TagValue": "v"}]},
    "UntagResource": {"TagKeys": ["k"]},
    "UpdateKeyDescription": {"Description": "d"},
    "UpdatePrimaryRegion": {"PrimaryRegion": "eu-west-1"},
}


def _key_id_or_arn_only() -> list[str]:
    """Operations whose KeyId botocore documents as "the key ID or key ARN" (no alias), or whose
    documentation says "Alias names are not supported"."""
    import re

    import botocore.session

    from kmscli.model import model as kmscli_model

    model = botocore.session.get_session().get_service_model("kms")
    found = []
    for op in set(model.operation_names) & set(kmscli_model()["operations"]):
        shape = model.operation_model(op).input_shape
        if shape is None or "KeyId" not in shape.members:
            continue
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", shape.members["KeyId"].documentation))
        if (
            "key ID or key ARN" in text and "alias" not in text.lower()
        ) or "Alias names are not supported" in text:
            found.append(op)
    return sorted(found)


@pytest.mark.parametrize("op", _key_id_or_arn_only())
def test_operations_that_take_a_key_id_or_arn_refuse_an_alias(kms: Any, op: str) -> None:
    """An alias where AWS documents a key id or key ARN is NotFoundException (EnableKey, DisableKey,
    UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion, ListGrants and GetKeyLastUsage
    used to follow the alias)."""
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/named", TargetKeyId=kid)
    with pytest.raises(errors.NotFoundException, match="alias"):
        kms(op, KeyId="alias/named", **_REQUIRED.get(op, {}))
    with pytest.raises(errors.NotFoundException):
        kms(op, KeyId="arn:aws:kms:us-east-1:111122223333:alias/named", **_REQUIRED.get(op, {}))
    assert kms("DescribeKey", KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"


def test_list_grants_refuses_a_malformed_grant_id(kms: Any) -> None:
    """ListGrants declares InvalidGrantIdException: a GrantId no grant can have is refused, not an
    empty list."""
    kid = kms("CreateKey")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.InvalidGrantIdException):
        kms("ListGrants", KeyId=kid, GrantId="abc")
    assert kms("ListGrants", KeyId=kid, GrantId="0" * 64)["Grants"] == []


def test_list_paging_markers(kms: Any) -> None:
    ids = sorted(kms("CreateKey")["KeyMetadata"]["KeyId"] for _ in range(5))
    first = kms("ListKeys", Limit=2)
    assert first["Truncated"] is True and [k["KeyId"] for k in first["Keys"]] == ids[:2]
    second = kms("ListKeys", Limit=2, Marker=first["NextMarker"])
    assert [k["KeyId"] for k in second["Keys"]] == ids[2:4]
    last = kms("ListKeys", Limit=2, Marker=second["NextMarker"])
    assert last["Truncated"] is False and "NextMarker" not in last
    with pytest.raises(errors.InvalidMarkerException):
        kms("ListKeys", Marker="!!!not-a-marker")


@pytest.mark.parametrize("marker", ["AAAA", "a2V5", base64.urlsafe_b64encode(b"zzzz").decode()])
def test_a_well_formed_marker_the_service_never_issued_is_refused(kms: Any, marker: str) -> None:
    # any base64 text used to be taken as "the last key returned", so the listing silently
    # started from wherever it sorted (docs/cli.md: a marker not issued is InvalidMarkerException)
    kms("CreateKey")
    for op in ("ListKeys", "ListAliases"):
        with pytest.raises(errors.InvalidMarkerException):
            kms(op, Marker=marker)


def test_dry_run(kms: Any, key: dict[str, Any]) -> None:
    with pytest.raises(errors.DryRunOperationException):
        kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"x", DryRun=True)
    with pytest.raises(errors.DryRunOperationException):
        kms(
            "ReEncrypt",
            CiphertextBlob=kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"],
            DestinationKeyId=key["KeyId"],
            DryRun=True,
        )
    kms("DisableKey", KeyId=key["KeyId"])
    with pytest.raises(errors.DisabledException):  # a call that would fail does not say "would succeed"
        kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"x", DryRun=True)


def test_unsupported_parameters_say_why(kms: Any, key: dict[str, Any]) -> None:
    with pytest.raises(errors.UnsupportedOperationException, match="Nitro"):
        kms(
            "GenerateDataKey",
            KeyId=key["KeyId"],
            KeySpec="AES_256",
            Recipient={"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": b"x"},
        )
    with pytest.raises(errors.CustomKeyStoreNotFoundException, match=r"cks-1234567890abcdef0.*CloudHSM"):
        kms("CreateKey", CustomKeyStoreId="cks-1234567890abcdef0")


def test_every_call_is_audited_once(kms: Any, service: Any, key: dict[str, Any]) -> None:
    def count() -> int:
        return sum(
            len(p.read_text().splitlines()) for p in (Path(service.vault.path) / "audit").glob("*.jsonl")
        )

    before = count()
    kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"x")
    with pytest.raises(errors.NotFoundException):
        kms("Encrypt", KeyId="alias/none", Plaintext=b"x")
    with pytest.raises(errors.ValidationException):
        kms("Encrypt", KeyId="", Plaintext=b"x")
    assert count() == before + 3
