"""Who may retire a grant, over the wire: each caller signs with its own access key."""

from __future__ import annotations

import json

import pytest

from tests.serve.conftest import ACCOUNT, PRINCIPALS, Server


def test_retire_grant_is_decided_by_the_grant_per_signed_caller(server: Server) -> None:
    from botocore.exceptions import ClientError

    # the key policy names alice only: the account root (admin) is not in it
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": PRINCIPALS["alice"]}, "Action": "kms:*", "Resource": "*"}
        ],
    }
    admin, alice, bob = (server.client(who) for who in ("admin", "alice", "bob"))
    key = admin.create_key(Policy=json.dumps(policy), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"][
        "KeyId"
    ]
    own = alice.create_grant(
        KeyId=key, GranteePrincipal=PRINCIPALS["bob"], Operations=["Encrypt", "RetireGrant"]
    )
    other = alice.create_grant(KeyId=key, GranteePrincipal=PRINCIPALS["alice"], Operations=["Decrypt"])
    with pytest.raises(ClientError) as denied:  # bob's grant lets him retire that grant only
        bob.retire_grant(KeyId=key, GrantId=other["GrantId"])
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    bob.retire_grant(GrantToken=own["GrantToken"])
    admin.retire_grant(KeyId=key, GrantId=other["GrantId"])  # the issuing account's root, not in the policy
    retired = [e for e in server.events() if e["eventName"] == "RetireGrant" and "errorCode" not in e]
    assert [e["additionalEventData"]["retiredBy"] for e in retired] == ["GranteePrincipal", "IssuingAccount"]
    assert [e["userIdentity"]["arn"] for e in retired] == [PRINCIPALS["bob"], f"arn:aws:iam::{ACCOUNT}:root"]
    assert alice.list_grants(KeyId=key)["Grants"] == []
