"""The shapes of the documents a vault stores: key records, their material versions, the schedule.

They are ``TypedDict``s, so mypy checks every access while the records stay the plain JSON objects
the key files hold (docs/format.md, section 1.3). Building the classes costs about 2 ms, so kmscli's
modules import this one only under ``TYPE_CHECKING`` (tests/cli/test_startup.py checks that a
session Encrypt never loads it); annotations and ``cast("KeyRecord", ...)`` need no more. Members marked ``Required`` are present in every record; the rest appear when they apply.
``kmscli/service/operations/materials.py`` is the only writer of ``Materials`` and
``CurrentKeyMaterialId``.
"""

from __future__ import annotations

from typing import Any, Literal, Required, TypedDict


class MaterialEntry(TypedDict, total=False):
    """One version of a key's material (``KeyRecord.Materials``, oldest first)."""

    KeyMaterialId: Required[str]  # 64 hex; for imported material its keyed fingerprint
    CreationDate: Required[str]  # ISO 8601
    #: base64 AES-GCM blob bound to the key ARN and material id; absent once imported material was
    #: deleted or expired (the entry stays so that a re-import of the same bytes is recognised)
    Wrapped: str
    Origin: str  # AWS_KMS | EXTERNAL
    RotationDate: str  # versions made by rotation
    RotationType: str  # AUTOMATIC | ON_DEMAND
    Pending: bool  # imported with NEW_KEY_MATERIAL, waiting for RotateKeyOnDemand
    Fingerprint: str  # HMAC of the material under the vault's material-fingerprint subkey
    ValidTo: str
    ExpirationModel: str
    KeyMaterialDescription: str


class RotationSettings(TypedDict):
    """Automatic rotation of a key (``KeyRecord.Rotation``; absent while rotation is off)."""

    Enabled: bool
    PeriodInDays: int
    NextRotationDate: str
    Since: str


class ImportParameters(TypedDict):
    """One GetParametersForImport wrapping key pair, its private half wrapped under the vault."""

    TokenId: str
    WrappingAlgorithm: str
    WrappingKeySpec: str
    ValidTo: str
    Wrapped: str


class RegionalKey(TypedDict):
    """One key of a multi-Region set."""

    Arn: str
    Region: str


class MultiRegionConfiguration(TypedDict):
    """DescribeKey's MultiRegionConfiguration, stored as returned (every key of a set has one)."""

    MultiRegionKeyType: str  # PRIMARY | REPLICA
    PrimaryKey: RegionalKey
    ReplicaKeys: list[RegionalKey]


class Tag(TypedDict):
    """A resource tag."""

    TagKey: str
    TagValue: str


class KeyRecord(TypedDict, total=False):
    """One KMS key: ``keys/REGION/KEYID.json``'s ``data``."""

    KeyId: Required[str]
    Arn: Required[str]
    AWSAccountId: Required[str]
    Region: Required[str]
    CreationDate: Required[str]
    KeyUsage: Required[str]
    KeySpec: Required[str]
    KeyState: Required[str]
    Origin: Required[str]
    Description: str
    MultiRegion: bool
    Policy: str
    Tags: list[Tag]
    Grants: list[dict[str, Any]]
    Materials: list[MaterialEntry]
    CurrentKeyMaterialId: str
    Exportable: bool  # kmscli only (create-key --exportable), irreversible
    KeyManager: str  # "AWS" for an AWS managed key (service/operations/managed.py); absent: CUSTOMER
    MultiRegionConfiguration: MultiRegionConfiguration
    Rotation: RotationSettings
    ImportParameters: list[ImportParameters]
    DeletionDate: str
    PendingDeletionWindowInDays: int
    ValidTo: str  # follows the current imported material version
    ExpirationModel: str
    OnDemandRotationStartDate: str


class AliasEntry(TypedDict):
    """One alias (``aliases/REGION.json``'s ``data["alias/NAME"]``)."""

    TargetKeyId: str
    CreationDate: str
    LastUpdatedDate: str


#: An alias index: ``alias/NAME`` -> its entry.
AliasIndex = dict[str, AliasEntry]

#: Members every key of a multi-Region set shares (the rest belong to one region's key).
SharedMember = Literal["KeySpec", "KeyUsage", "Origin", "MultiRegion", "Rotation", "Exportable"]


class ScheduleEntry(TypedDict, total=False):
    """Due work of one key (``schedule.json``'s ``data["REGION/KEYID"]``): ISO 8601 due times."""

    delete_at: str
    rotate_at: str
    expire_at: str


#: ``schedule.json``'s ``data``: ``"REGION/KEYID"`` -> the key's due work.
Schedule = dict[str, ScheduleEntry]
