#!/usr/bin/env bash
# Send one event to Sage Bridge, signed with the tenant's webhook secret (Sage-Bridge-Signature).
#   send_webhook.sh <api base url> <tenant id> <event.json>     (secret in SAGEBRIDGE_WEBHOOK_SECRET)
# Prints Sage Bridge's reply and its HTTP status on the last line; exits 1 when the answer is not 2xx
# (a refused webhook: 401 another secret, 404 unknown or disabled tenant, 422 a bad body), 2 when curl
# gets no answer. The file is sent byte for byte (--data-binary), so the signature covers exactly what arrives.
set -euo pipefail
base_url=${1:?api base url}; tenant=${2:?tenant id}; file=${3:?event json file}
secret=${SAGEBRIDGE_WEBHOOK_SECRET:?set SAGEBRIDGE_WEBHOOK_SECRET}
ts=$(date +%s)
digest=$({ printf '%s.' "$ts"; cat "$file"; } | openssl dgst -sha256 -hmac "$secret" -hex | sed 's/^.* //')
answer=$(curl -sS -X POST "$base_url/webhooks/$tenant" \
  -H 'Content-Type: application/json' \
  -H "Sage-Bridge-Signature: t=$ts,v1=$digest" \
  --data-binary @"$file" \
  -w '\n%{http_code}') || exit 2
printf '%s\n' "$answer"
status=${answer##*$'\n'}
case $status in
  2??) ;;
  *) echo "send_webhook.sh: Sage Bridge refused the webhook (HTTP $status): see its reply above" >&2; exit 1 ;;
esac
