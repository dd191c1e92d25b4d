#!/usr/bin/env bash
# `make demo`: the main job end to end on a throwaway vault.
set -euo pipefail
KMSCLI=${1:-kmscli}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export KMSCLI_VAULT="$work/vault" KMSCLI_CONFIG="$work/config.toml"
export KMSCLI_PASSPHRASE="demo passphrase, throwaway vault"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say kmscli vault init
"$KMSCLI" vault init --output table
say kmscli create-key --description "demo key"
key_id=$("$KMSCLI" create-key --description "demo key" --query KeyMetadata.KeyId --output text)
echo "$key_id"
say kmscli create-alias --alias-name alias/demo --target-key-id "$key_id"
"$KMSCLI" create-alias --alias-name alias/demo --target-key-id "$key_id"
say "kmscli encrypt --key-id alias/demo --plaintext fileb://secret.txt --encryption-context app=demo,stage=test"
printf 'the launch code is 0000' > "$work/secret.txt"
"$KMSCLI" encrypt --key-id alias/demo --plaintext "fileb://$work/secret.txt" \
  --encryption-context app=demo,stage=test --query CiphertextBlob --output text | base64 -d > "$work/secret.enc"
echo "ciphertext: $(wc -c < "$work/secret.enc") bytes in secret.enc"
say "kmscli decrypt --ciphertext-blob fileb://secret.enc --encryption-context app=demo,stage=test --query Plaintext --output text | base64 -d"
"$KMSCLI" decrypt --ciphertext-blob "fileb://$work/secret.enc" --encryption-context app=demo,stage=test \
  --query Plaintext --output text | base64 -d
echo
say "kmscli decrypt ... --encryption-context app=demo,stage=prod   # wrong context: refused"
"$KMSCLI" decrypt --ciphertext-blob "fileb://$work/secret.enc" --encryption-context app=demo,stage=prod \
  || echo "(exit $?: as expected)"
say "the audit log's last events"
if "$KMSCLI" audit --help >/dev/null 2>&1; then
  "$KMSCLI" audit --max-items 6 --output table
else
  tail -n 6 "$KMSCLI_VAULT"/audit/*.jsonl | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    ctx = (e.get("requestParameters") or {}).get("encryptionContext", "")
    print(e["eventTime"], e["eventName"], e.get("errorCode", "OK"), ctx)'
fi
