"""README's `aws kms` -> `kmscli` conversion recipe, run on a sample deploy.sh as a migrating user would.

The sample is written the way the AWS CLI v2 documentation writes scripts: AWS_ variables for the
region and pager, `--cli-binary-format raw-in-base64-out`, abbreviated options as in AWS's own
examples, `--no-paginate`. README's `sed` line converts it; the converted script must run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DEPLOY_SH = """#!/usr/bin/env bash
set -euo pipefail
export AWS_DEFAULT_REGION=eu-west-1 AWS_PAGER=""
key=$(aws kms create-key --description "deploy key" --query KeyMetadata.KeyId --output text)
aws kms create-alias --alias-name alias/deploy --target-key-id "$key"
aws kms tag-resource --key-id "$key" --tags TagKey=Purpose,TagValue=deploy
blob=$(aws kms encrypt --key-id alias/deploy --plaintext "db-password" \\
    --cli-binary-format raw-in-base64-out --query CiphertextBlob --output text)
plain=$(aws kms decrypt --ciphertext-blob "$blob" --query Plaintext --output text | base64 -d)
test "$plain" = "db-password"
aws kms untag-resource --key-id "$key" --tag-key Purpose
test "$(aws kms list-resource-tags --key-id "$key" --query 'length(Tags)' --output text)" = 0
aws kms list-keys --no-paginate --limit 1 --query 'length(Keys)' --output text
aws kms describe-key --key-id alias/deploy --query KeyMetadata.Arn --output text | grep -q ':eu-west-1:'
echo deployed
"""


def readme_sed_line() -> str:
    """The conversion line README gives (the `sed` command that names deploy.sh)."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("sed ") and "deploy.sh" in line:
            return line
    raise AssertionError("README no longer gives the sed conversion line")


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("sed") is None, reason="needs bash and sed")
def test_readme_sed_recipe_converts_a_deploy_script_that_runs(vault: Path, tmp_path: Path) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text(DEPLOY_SH)
    subprocess.run(["bash", "-c", readme_sed_line()], cwd=tmp_path, check=True, timeout=30)
    converted = script.read_text()
    assert "aws kms" not in converted and converted.count("kmscli ") == 9
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for name in ("KMSCLI_REGION", "AWS_REGION", "AWS_DEFAULT_OUTPUT"):
        env.pop(name, None)
    done = subprocess.run(
        ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["1", "deployed"]
