"""Generate tests/cli/table_vectors.json: golden ``--output table`` output from the AWS CLI's own formatter.

Run in the test venv (``make table-vectors``, or ``.venv/bin/python tools/gen_table_vectors.py``),
where the ``awscli`` test dependency is installed. Its ``awscli/table.py`` and the ``TableFormatter``
class of ``awscli/formatter.py`` are the AWS CLI v2's (the v2 branch differs only in comments and
string formatting), so each vector is what ``aws kms ... --output table`` prints for that response.
The terminal width is fixed per case by replacing ``awscli.table.determine_terminal_width`` (the one
place the AWS CLI reads it); ``--query`` is applied by the formatter itself, as the CLI applies it.
With colour on, the AWS CLI wraps stdout in colorama, which appends a reset after every write: the
vectors are the formatter's own writes, to a plain stream, without those.

``tests/cli/test_table.py`` renders every case with kmscli and compares, and checks that this
script, run again, still writes exactly the committed file (``--check``).
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import sys
from pathlib import Path
from typing import Any
from unittest import mock

OUT = Path(__file__).resolve().parents[1] / "tests" / "cli" / "table_vectors.json"

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
ARN = f"arn:aws:kms:us-west-2:111122223333:key/{KEY_ID}"
KEY_METADATA = {
    "AWSAccountId": "111122223333",
    "KeyId": KEY_ID,
    "Arn": ARN,
    "CreationDate": "2026-01-15T12:00:00.123000+00:00",
    "Enabled": True,
    "Description": "",
    "KeyUsage": "ENCRYPT_DECRYPT",
    "KeyState": "Enabled",
    "Origin": "AWS_KMS",
    "KeyManager": "CUSTOMER",
    "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
    "KeySpec": "SYMMETRIC_DEFAULT",
    "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
    "MultiRegion": False,
}
LIST_KEYS = {
    "Keys": [
        {"KeyId": KEY_ID, "KeyArn": ARN},
        {
            "KeyId": "0987dcba-09fe-87dc-65ba-ab0987654321",
            "KeyArn": ARN.replace(KEY_ID, "0987dcba-09fe-87dc-65ba-ab0987654321"),
        },
    ],
    "Truncated": False,
}
LIST_GRANTS = {
    "Grants": [
        {
            "KeyId": ARN,
            "GrantId": "0c237476b39f8bc44e45212e08498fbe3151305030726c0590dd8d3e9f3d6a60",
            "Name": "",
            "CreationDate": "2026-01-15T12:00:00.000000+00:00",
            "GranteePrincipal": "arn:aws:iam::111122223333:role/Worker",
            "IssuingAccount": "arn:aws:iam::111122223333:root",
            "Operations": ["Encrypt", "Decrypt", "GenerateDataKey"],
            "Constraints": {"EncryptionContextSubset": {"tenant": "a", "stage": "prod"}},
        },
        {
            "KeyId": ARN,
            "GrantId": "91ad875e4c1c3d5b4c4a0c5ec2a1f5e6d1a1a9e93f1b0a0d2b4ac0d3b4a1f2e3",
            "Name": "backup",
            "CreationDate": "2026-01-16T08:30:00.000000+00:00",
            "GranteePrincipal": "arn:aws:iam::111122223333:role/Backup",
            "RetiringPrincipal": "arn:aws:iam::111122223333:role/Admin",
            "IssuingAccount": "arn:aws:iam::111122223333:root",
            "Operations": ["ReEncryptFrom"],
        },
    ],
    "Truncated": False,
}

#: (name, title, response, --query or None, terminal width, colour)
CASES: list[tuple[str, str, Any, str | None, int, bool]] = [
    (
        "structure, not a terminal (80 columns): single rows turn",
        "DescribeKey",
        {"KeyMetadata": KEY_METADATA},
        None,
        80,
        False,
    ),
    ("structure on a wide terminal", "DescribeKey", {"KeyMetadata": KEY_METADATA}, None, 400, False),
    ("structure in colour", "DescribeKey", {"KeyMetadata": KEY_METADATA}, None, 80, True),
    ("list of structures", "ListKeys", LIST_KEYS, None, 80, False),
    ("list of structures on a narrow terminal", "ListKeys", LIST_KEYS, None, 40, False),
    ("list of structures in colour", "ListKeys", LIST_KEYS, None, 200, True),
    ("nested lists and structures in list items", "ListGrants", LIST_GRANTS, None, 120, False),
    ("nested lists and structures, narrow", "ListGrants", LIST_GRANTS, None, 60, False),
    (
        "list of structures with differing keys",
        "Test",
        {
            "Items": [
                {"A": 1, "B": "x"},
                {"B": "y", "C": {"D": 1, "E": None}},
                {"A": 2.5, "F": [1, 2], "G": True},
                {"A": {"Z": "scalar here, structure there"}},
            ]
        },
        None,
        120,
        False,
    ),
    (
        "deeply nested structures",
        "Test",
        {"A": {"B": {"C": {"D": "x", "E": "y"}, "F": "z"}}},
        None,
        80,
        False,
    ),
    ("list of scalars", "ListAliases", {"Aliases": ["alias/a", "alias/bb", "alias/ccc"]}, None, 80, False),
    ("empty list member", "ListKeys", {"Keys": [], "Truncated": False}, None, 80, False),
    ("empty list only", "ListKeys", {"Keys": []}, None, 80, False),
    ("empty response", "TagResource", {}, None, 80, False),
    (
        "unicode and wide values",
        "DescribeKey",
        {
            "KeyMetadata": {
                "Description": "鍵の説明 — für Ünïcode ±½ 🔑",
                "KeyId": KEY_ID,
                "Tags": [{"TagKey": "名前", "TagValue": "値"}, {"TagKey": "e\u0301", "TagValue": "Ｗｉｄｅ"}],
            }
        },
        None,
        200,
        False,
    ),
    ("unicode, narrow", "Test", {"X": {"名前": "値", "Ab": "ｗｉｄｅ", "C": "plain"}}, None, 20, False),
    ("--query: a list of scalars", "ListKeys", LIST_KEYS, "Keys[].KeyId", 80, False),
    ("--query: a list of lists", "ListKeys", LIST_KEYS, "Keys[].[KeyId, KeyArn]", 200, False),
    (
        "--query: a multiselect hash",
        "DescribeKey",
        {"KeyMetadata": KEY_METADATA},
        "KeyMetadata.{Id: KeyId, State: KeyState}",
        80,
        False,
    ),
    ("--query: a string", "DescribeKey", {"KeyMetadata": KEY_METADATA}, "KeyMetadata.KeyId", 80, False),
    ("--query: a number", "ListKeys", LIST_KEYS, "length(Keys)", 80, False),
    ("--query: true", "DescribeKey", {"KeyMetadata": KEY_METADATA}, "KeyMetadata.Enabled", 80, False),
    ("--query: nothing matches", "DescribeKey", {"KeyMetadata": KEY_METADATA}, "KeyMetadata.Nope", 80, False),
    ("--query: an empty list", "ListKeys", LIST_KEYS, "Keys[?KeyId=='none']", 80, False),
    (
        "--query: a list of a list of structures",
        "ListGrants",
        LIST_GRANTS,
        "[Grants[].Constraints]",
        120,
        False,
    ),
    ("a list starting with a scalar", "Test", {"L": ["a", {"x": 1}, ["y"]]}, None, 80, False),
    ("a title wider than its table", "GenerateDataKeyPairWithoutPlaintext", {"A": "b"}, None, 80, False),
    ("one scalar member", "GenerateRandom", {"Plaintext": "c2VjcmV0IGJ5dGVzIGhlcmU="}, None, 80, False),
    (
        "an error, as --cli-error-format table writes it",
        "error",
        {"Code": "NotFoundException", "Message": f"Key '{ARN}' does not exist"},
        None,
        80,
        False,
    ),
    ("zero width (a terminal that reports none)", "ListKeys", LIST_KEYS, None, 0, False),
]


def aws_table(title: str, response: Any, query: str | None, width: int, color: bool) -> str:
    """What the AWS CLI's TableFormatter writes for ``response``."""
    import jmespath
    from awscli import table
    from awscli.formatter import TableFormatter

    args = argparse.Namespace(
        query=jmespath.compile(query) if query else None, color="on" if color else "off"
    )
    buf = io.StringIO()
    with mock.patch.object(table, "determine_terminal_width", lambda default_width=80: width):
        TableFormatter(args)(title, copy.deepcopy(response), buf)
    return buf.getvalue()


def vectors() -> str:
    cases = [
        {
            "name": name,
            "title": title,
            "response": response,
            "query": query,
            "width": width,
            "color": color,
            "expected": aws_table(title, response, query, width, color),
        }
        for name, title, response, query, width, color in CASES
    ]
    return (
        json.dumps({"generator": "tools/gen_table_vectors.py", "cases": cases}, indent=1, ensure_ascii=False)
        + "\n"
    )


def main(argv: list[str]) -> int:
    text = vectors()
    if argv[1:] == ["--check"]:
        return 0 if OUT.read_text(encoding="utf-8") == text else 1
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
