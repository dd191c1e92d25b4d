"""AWS managed keys: the key behind a predefined ``alias/aws/<service>`` alias, created on first use.

AWS (DescribeKey, ListAliases, "AWS managed keys"): an account has predefined aliases that ListAliases
shows without a ``TargetKeyId`` until their key exists; the first call that names one creates the
AWS managed key and associates the alias with it. Such a key has ``KeyManager`` ``AWS``, rotates
every year, and carries the key policy AWS gives it: principals of the account may use it only
through the service (``kms:ViaService`` and ``kms:CallerAccount``), and the account may view it
(``Describe*``, ``Get*``, ``List*``) and revoke its grants. Nothing else is allowed, so changing its
policy, disabling, deleting or rotating it gets AWS's AccessDeniedException from that policy.

``core.invoke`` does the creating (an exclusive lock, its own audited ``CreateKey`` service event,
then the call runs again): a read such as DescribeKey never writes under the shared lock.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kmscli.service.operations import materials
from kmscli.service.pipeline.core import Call, iso
from kmscli.service.pipeline.registry import generator

if TYPE_CHECKING:
    from kmscli.vault.records import AliasIndex, KeyRecord

#: The predefined aliases, and the service endpoint name ``kms:ViaService`` names for each.
PREDEFINED: dict[str, str] = {
    "alias/aws/acm": "acm",
    "alias/aws/dynamodb": "dynamodb",
    "alias/aws/ebs": "ec2",
    "alias/aws/elasticfilesystem": "elasticfilesystem",
    "alias/aws/es": "es",
    "alias/aws/glue": "glue",
    "alias/aws/kinesisvideo": "kinesisvideo",
    "alias/aws/lambda": "lambda",
    "alias/aws/rds": "rds",
    "alias/aws/redshift": "redshift",
    "alias/aws/s3": "s3",
    "alias/aws/secretsmanager": "secretsmanager",
    "alias/aws/ssm": "ssm",
    "alias/aws/xray": "xray",
}
#: AWS managed keys rotate every year (approximately 365 days); nobody can change that.
ROTATION_DAYS = 365
KEY_MANAGER = "AWS"


def is_predefined(alias_name: str) -> bool:
    """Whether ``alias_name`` is one of the predefined ``alias/aws/<service>`` aliases."""
    return alias_name in PREDEFINED


def key_policy(account_id: str, region: str, alias_name: str) -> str:
    """The key policy of an AWS managed key, in the shape AWS documents for them."""
    short = alias_name.removeprefix("alias/aws/")
    service = PREDEFINED[alias_name]
    statements: list[dict[str, Any]] = [
        {
            "Sid": f"Allow access through {short} for all principals in the account that are authorized "
            f"to use {short}",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:CreateGrant",
                "kms:DescribeKey",
            ],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:CallerAccount": account_id,
                    "kms:ViaService": f"{service}.{region}.amazonaws.com",
                }
            },
        },
        {
            "Sid": "Allow direct access to key metadata to the account",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
            "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
            "Resource": "*",
        },
    ]
    doc = {"Version": "2012-10-17", "Id": f"auto-{short}-1", "Statement": statements}
    return json.dumps(doc, indent=2)


def create(call: Call, alias_name: str) -> KeyRecord:
    """Stage the AWS managed key of a predefined alias and the alias itself (call holds the write lock)."""
    from kmscli.service.operations.keys import new_record
    from kmscli.service.operations.rotation import start_automatic

    short = alias_name.removeprefix("alias/aws/")
    record = new_record(
        call,
        call.ctx.new_uuid(),
        spec="SYMMETRIC_DEFAULT",
        usage="ENCRYPT_DECRYPT",
        origin="AWS_KMS",
        policy=key_policy(call.account_id, call.region, alias_name),
        description=f"Default key that protects my {short} data when no other key is defined",
    )
    record["KeyManager"] = KEY_MANAGER
    materials.put(call, record, generator("SYMMETRIC_DEFAULT")(call, "SYMMETRIC_DEFAULT"), Origin="AWS_KMS")
    call.save(record)
    start_automatic(call, record, ROTATION_DAYS)
    now = iso(call.now)
    call.aliases()[alias_name] = {"TargetKeyId": record["KeyId"], "CreationDate": now, "LastUpdatedDate": now}
    call.touch_aliases()
    call.resources.append(record["Arn"])
    return record


def unassociated(aliases: AliasIndex) -> list[str]:
    """The predefined aliases that have no key yet (ListAliases shows them without TargetKeyId)."""
    return sorted(name for name in PREDEFINED if name not in aliases)
