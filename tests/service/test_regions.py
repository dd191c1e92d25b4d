"""Regions and multi-Region keys: isolation, replication, cross-region decryption, primary changes,
and deletion (lazy waiting period, PendingReplicaDeletion, material shredded from disk)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kmscli import errors
from tests.helpers import FakeClock, assert_output_shape

Kms = Callable[..., dict[str, Any]]


@pytest.fixture
def in_region(service: Any) -> Callable[[str], Kms]:
    """``in_region("eu-west-1")("Decrypt", ...)``: the same vault, called from another region."""
    from kmscli.service.pipeline.core import invoke

    def make(region: str) -> Kms:
        ctx = service.in_region(region)
        return lambda op, **req: invoke(ctx, op, req)

    return make


def test_keys_and_aliases_live_in_one_region(kms: Kms, in_region: Callable[[str], Kms]) -> None:
    key = kms("CreateKey")["KeyMetadata"]
    kms("CreateAlias", AliasName="alias/here", TargetKeyId=key["KeyId"])
    eu = in_region("eu-west-1")
    assert eu("ListKeys")["Keys"] == []
    with pytest.raises(errors.NotFoundException):
        eu("DescribeKey", KeyId=key["KeyId"])
    with pytest.raises(errors.NotFoundException):
        eu("DescribeKey", KeyId=key["Arn"])
    with pytest.raises(errors.NotFoundException):
        eu("DescribeKey", KeyId="alias/here")
    blob = kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(errors.InvalidCiphertextException):
        eu("Decrypt", CiphertextBlob=blob)


def test_multi_region_key_replicates_and_decrypts_everywhere(
    kms: Kms, in_region: Callable[[str], Kms]
) -> None:
    created = kms(
        "CreateKey", MultiRegion=True, Description="primary", Tags=[{"TagKey": "t", "TagValue": "p"}]
    )
    key = created["KeyMetadata"]
    assert key["KeyId"].startswith("mrk-")
    assert key["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    blob_us = kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"from us", EncryptionContext={"a": "b"})[
        "CiphertextBlob"
    ]
    out = kms(
        "ReplicateKey",
        KeyId=key["Arn"],
        ReplicaRegion="eu-west-1",
        Description="replica",
        Tags=[{"TagKey": "t", "TagValue": "r"}],
    )
    replica = out["ReplicaKeyMetadata"]
    assert replica["KeyId"] == key["KeyId"]
    assert replica["Arn"] == key["Arn"].replace("us-east-1", "eu-west-1")
    assert replica["Description"] == "replica" and out["ReplicaTags"] == [{"TagKey": "t", "TagValue": "r"}]
    assert replica["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    eu = in_region("eu-west-1")
    assert eu("DescribeKey", KeyId=key["KeyId"])["KeyMetadata"]["Description"] == "replica"
    assert kms("DescribeKey", KeyId=key["KeyId"])["KeyMetadata"]["Description"] == "primary"
    primary_cfg = kms("DescribeKey", KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]
    assert primary_cfg["ReplicaKeys"] == [{"Arn": replica["Arn"], "Region": "eu-west-1"}]
    assert eu("Decrypt", CiphertextBlob=blob_us, EncryptionContext={"a": "b"})["Plaintext"] == b"from us"
    blob_eu = eu("Encrypt", KeyId=key["KeyId"], Plaintext=b"from eu")["CiphertextBlob"]
    assert kms("Decrypt", CiphertextBlob=blob_eu)["Plaintext"] == b"from eu"
    # policy, description and tags are per region
    eu("UpdateKeyDescription", KeyId=key["KeyId"], Description="changed in eu")
    assert kms("DescribeKey", KeyId=key["KeyId"])["KeyMetadata"]["Description"] == "primary"
    # rotation on the primary reaches the replica: new ciphertexts still cross regions
    kms("RotateKeyOnDemand", KeyId=key["KeyId"])
    newer = kms("Encrypt", KeyId=key["KeyId"], Plaintext=b"rotated")["CiphertextBlob"]
    assert eu("Decrypt", CiphertextBlob=newer)["Plaintext"] == b"rotated"
    with pytest.raises(errors.UnsupportedOperationException, match="replica"):
        eu("EnableKeyRotation", KeyId=key["KeyId"])
    status_eu = eu("GetKeyRotationStatus", KeyId=key["KeyId"])
    assert status_eu["KeyRotationEnabled"] is False


def test_replicate_key_failure_paths(kms: Kms, in_region: Callable[[str], Kms]) -> None:
    single = kms("CreateKey")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.UnsupportedOperationException, match="not a multi-Region"):
        kms("ReplicateKey", KeyId=single, ReplicaRegion="eu-west-1")
    mrk = kms("CreateKey", MultiRegion=True)["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.AlreadyExistsException):
        kms("ReplicateKey", KeyId=mrk, ReplicaRegion="us-east-1")
    kms("ReplicateKey", KeyId=mrk, ReplicaRegion="eu-west-1")
    with pytest.raises(errors.AlreadyExistsException):
        kms("ReplicateKey", KeyId=mrk, ReplicaRegion="eu-west-1")
    with pytest.raises(errors.UnsupportedOperationException, match="replica key"):
        in_region("eu-west-1")("ReplicateKey", KeyId=mrk, ReplicaRegion="ap-south-1")
    with pytest.raises(errors.ValidationException):
        kms("ReplicateKey", KeyId=mrk, ReplicaRegion="Mars")
    with pytest.raises(errors.TagException):
        kms(
            "ReplicateKey", KeyId=mrk, ReplicaRegion="ap-south-1", Tags=[{"TagKey": "aws:x", "TagValue": "v"}]
        )


def test_replicate_and_update_primary_region_need_enabled_keys(
    kms: Kms, in_region: Callable[[str], Kms]
) -> None:
    """AWS's key state table: ReplicateKey and UpdatePrimaryRegion on a disabled key are
    DisabledException; and both keys must be Enabled when the primary Region changes."""
    meta = kms("CreateKey", MultiRegion=True)["KeyMetadata"]
    mrk, arn = meta["KeyId"], meta["Arn"]
    kms("DisableKey", KeyId=mrk)
    with pytest.raises(errors.DisabledException) as info:
        kms("ReplicateKey", KeyId=mrk, ReplicaRegion="eu-west-1")
    assert info.value.message == f"{arn} is disabled."
    kms("EnableKey", KeyId=mrk)
    replica_arn = kms("ReplicateKey", KeyId=mrk, ReplicaRegion="eu-west-1")["ReplicaKeyMetadata"]["Arn"]
    kms("DisableKey", KeyId=mrk)
    with pytest.raises(errors.DisabledException):
        kms("UpdatePrimaryRegion", KeyId=mrk, PrimaryRegion="eu-west-1")
    kms("EnableKey", KeyId=mrk)
    in_region("eu-west-1")("DisableKey", KeyId=mrk)
    with pytest.raises(errors.DisabledException) as info:
        kms("UpdatePrimaryRegion", KeyId=mrk, PrimaryRegion="eu-west-1")
    assert info.value.message == f"{replica_arn} is disabled."
    config = kms("DescribeKey", KeyId=mrk)["KeyMetadata"]["MultiRegionConfiguration"]
    assert config["MultiRegionKeyType"] == "PRIMARY"


def test_update_primary_region(kms: Kms, in_region: Callable[[str], Kms], clock: FakeClock) -> None:
    mrk = kms("CreateKey", MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms("EnableKeyRotation", KeyId=mrk, RotationPeriodInDays=90)
    kms("ReplicateKey", KeyId=mrk, ReplicaRegion="eu-west-1")
    kms("ReplicateKey", KeyId=mrk, ReplicaRegion="ap-south-1")
    with pytest.raises(errors.NotFoundException):
        kms("UpdatePrimaryRegion", KeyId=mrk, PrimaryRegion="sa-east-1")
    eu = in_region("eu-west-1")
    with pytest.raises(errors.UnsupportedOperationException):
        eu("UpdatePrimaryRegion", KeyId=mrk, PrimaryRegion="ap-south-1")
    assert kms("UpdatePrimaryRegion", KeyId=mrk, PrimaryRegion="eu-west-1") == {}
    cfg = eu("DescribeKey", KeyId=mrk)["KeyMetadata"]["MultiRegionConfiguration"]
    assert cfg["MultiRegionKeyType"] == "PRIMARY" and cfg["PrimaryKey"]["Region"] == "eu-west-1"
    assert sorted(r["Region"] for r in cfg["ReplicaKeys"]) == ["ap-south-1", "us-east-1"]
    us_cfg = kms("DescribeKey", KeyId=mrk)["KeyMetadata"]["MultiRegionConfiguration"]
    assert us_cfg["MultiRegionKeyType"] == "REPLICA" and us_cfg["PrimaryKey"] == cfg["PrimaryKey"]
    # the rotation schedule moved with the primary and still rotates the whole set
    clock.advance(days=91)
    blob = kms("Encrypt", KeyId=mrk, Plaintext=b"x")["CiphertextBlob"]
    assert len(eu("ListKeyRotations", KeyId=mrk)["Rotations"]) == 1
    assert in_region("ap-south-1")("Decrypt", CiphertextBlob=blob)["Plaintext"] == b"x"


def test_deletion_waiting_period_is_lazy_and_material_is_shredded(
    kms: Kms, clock: FakeClock, vault: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = kms("CreateKey")["KeyMetadata"]["KeyId"]
    kms("CreateAlias", AliasName="alias/doomed", TargetKeyId=key)
    path = next((vault / "keys").rglob(f"{key}.json"))
    wrapped = json.loads(path.read_text())["data"]["Materials"][0]["Wrapped"]
    seen_before_unlink: list[bytes] = []
    original_unlink = os.unlink

    def spy(target: str | Path, *args: Any, **kwargs: Any) -> None:  # Path.unlink calls os.unlink too
        doomed = Path(target)
        if kwargs.get("dir_fd") is not None:  # a name relative to the folder's descriptor
            doomed = Path(os.readlink(f"/proc/self/fd/{kwargs['dir_fd']}")) / doomed
        if doomed == path or doomed.name.startswith(f".shred-{path.name}-"):  # shred renames first
            seen_before_unlink.append(doomed.read_bytes())
        original_unlink(target, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", spy)
    kms("ScheduleKeyDeletion", KeyId=key, PendingWindowInDays=7)
    clock.advance(days=6, hours=23)
    assert kms("DescribeKey", KeyId=key)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert path.exists()
    clock.advance(hours=1)
    with pytest.raises(errors.NotFoundException):
        kms("DescribeKey", KeyId=key)
    assert not path.exists()
    assert seen_before_unlink and set(seen_before_unlink[-1]) == {0}, "the file was not zeroed before removal"
    everything = b"".join(p.read_bytes() for p in vault.rglob("*") if p.is_file())
    assert wrapped.encode() not in everything
    assert "alias/doomed" not in [a["AliasName"] for a in kms("ListAliases")["Aliases"]]


def test_primary_with_replicas_waits_in_pending_replica_deletion(
    kms: Kms, in_region: Callable[[str], Kms], clock: FakeClock
) -> None:
    mrk = kms("CreateKey", MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms("ReplicateKey", KeyId=mrk, ReplicaRegion="eu-west-1")
    out = kms("ScheduleKeyDeletion", KeyId=mrk, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in out
    meta = kms("DescribeKey", KeyId=mrk)["KeyMetadata"]
    assert meta["KeyState"] == "PendingReplicaDeletion" and meta["PendingDeletionWindowInDays"] == 7
    with pytest.raises(errors.KMSInvalidStateException):
        kms("Encrypt", KeyId=mrk, Plaintext=b"x")
    with pytest.raises(errors.KMSInvalidStateException):
        kms("ScheduleKeyDeletion", KeyId=mrk)
    clock.advance(days=30)
    assert kms("DescribeKey", KeyId=mrk)["KeyMetadata"]["KeyState"] == "PendingReplicaDeletion"
    eu = in_region("eu-west-1")
    eu("ScheduleKeyDeletion", KeyId=mrk, PendingWindowInDays=7)
    clock.advance(days=7)
    with pytest.raises(errors.NotFoundException):
        eu("DescribeKey", KeyId=mrk)
    meta = kms("DescribeKey", KeyId=mrk)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    assert meta["MultiRegionConfiguration"]["ReplicaKeys"] == []
    assert meta["DeletionDate"] == clock.now + dt.timedelta(days=7)
    clock.advance(days=7)
    with pytest.raises(errors.NotFoundException):
        kms("DescribeKey", KeyId=mrk)


def test_cancel_pending_replica_deletion(kms: Kms) -> None:
    mrk = kms("CreateKey", MultiRegion=True)["KeyMetadata"]["KeyId"]
    kms("ReplicateKey", KeyId=mrk, ReplicaRegion="eu-west-1")
    kms("ScheduleKeyDeletion", KeyId=mrk, PendingWindowInDays=7)
    kms("CancelKeyDeletion", KeyId=mrk)
    assert kms("DescribeKey", KeyId=mrk)["KeyMetadata"]["KeyState"] == "Disabled"


def test_cli_region_option_and_env(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    created = cli("create-key", "--multi-region", "--region", "eu-central-1")
    assert created.code == 0, created.err
    meta = created.json()["KeyMetadata"]
    assert meta["Arn"].startswith("arn:aws:kms:eu-central-1:")
    assert_output_shape("CreateKey", created.json())
    rep = cli(
        "replicate-key",
        "--key-id",
        meta["KeyId"],
        "--replica-region",
        "us-west-2",
        "--region",
        "eu-central-1",
    )
    assert rep.code == 0, rep.err
    assert_output_shape("ReplicateKey", rep.json())
    enc = cli("encrypt", "--key-id", meta["KeyId"], "--plaintext", base64.b64encode(b"hi").decode(),
              "--region", "eu-central-1")  # fmt: skip
    monkeypatch.setenv("KMSCLI_REGION", "us-west-2")
    dec = cli("decrypt", "--ciphertext-blob", enc.json()["CiphertextBlob"])
    assert dec.code == 0, dec.err
    assert dec.json()["KeyId"].startswith("arn:aws:kms:us-west-2:")
    assert base64.b64decode(dec.json()["Plaintext"]) == b"hi"
    upd = cli("update-primary-region", "--key-id", meta["KeyId"], "--primary-region", "us-west-2",
              "--region", "eu-central-1")  # fmt: skip
    assert upd.code == 0 and upd.out == ""
    bad = cli("replicate-key", "--key-id", meta["KeyId"], "--replica-region", "us-west-2")
    assert bad.code == 254
    assert "(AlreadyExistsException) when calling the ReplicateKey operation" in bad.err


def test_region_from_config_and_malformed_regions(
    cli: Any, env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    Path(os.environ["KMSCLI_CONFIG"]).write_text('[default]\nregion = "ap-southeast-2"\n')
    created = cli("create-key", "--query", "KeyMetadata.Arn", "--output", "text")
    assert created.code == 0, created.err
    assert created.out.startswith("arn:aws:kms:ap-southeast-2:")
    before = sorted(p.name for p in env.rglob("*"))
    bad = cli("create-key", "--region", "../../etc")
    assert bad.code == 252 and "doesn't match a supported format" in bad.err
    monkeypatch.setenv("KMSCLI_REGION", "Mars")
    env_bad = cli("list-keys")
    assert env_bad.code == 253 and "Traceback" not in env_bad.err
    assert sorted(p.name for p in env.rglob("*")) == before
