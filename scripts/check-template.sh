#!/usr/bin/env bash
# Prove template.yaml deploys as written, with no AWS account and no Docker:
#   1. cfn-lint (the project's pin, .venv) on template.yaml, and checkov (.checkov-venv): no finding
#      that is neither fixed nor skipped in the template with its reason (Metadata: checkov: skip)
#   2. sam validate --lint (SAM CLI in its own venv, .sam-venv), then SAM's transform offline
#   3. sam build --cached --parallel into .aws-sam/ (real arm64 build of the layer: SAM's pip
#      builder downloads manylinux aarch64 wheels, no container), then check the artifacts.
# Usage: scripts/check-template.sh [--no-build]     (SAM=path/to/sam to use another SAM CLI)
# Timings on the reference machine: validate ~3 s; build ~22 s cold, ~2-3 s warm (cached: unchanged
# functions/layer are reused; a layer source change reuses the layer's installed deps from .aws-sam/deps
# unless requirements.txt changed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SAM="${SAM:-$ROOT/.sam-venv/bin/sam}"
CFN_LINT="${CFN_LINT:-$ROOT/.venv/bin/cfn-lint}"
CHECKOV="${CHECKOV:-$ROOT/.checkov-venv/bin/checkov}"
BUILD=1
[[ "${1:-}" == "--no-build" ]] && BUILD=0

# No AWS account is involved: pin a region, dummy credentials, no profile, no metadata service.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-west-2}" AWS_REGION="${AWS_REGION:-eu-west-2}"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
export SAM_CLI_TELEMETRY=0

step() { # step NAME CMD... : run, time, fail loudly
  local name="$1"; shift
  local start end
  start=$(date +%s.%N)
  if ! "$@" 2>&1; then
    echo "check-template: FAILED: $name" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  printf 'check-template: %-22s ok in %.1fs\n' "$name" "$(echo "$end - $start" | bc)"
}

[[ -x "$SAM" ]] || { echo "check-template: SAM CLI not found at $SAM" >&2; exit 1; }
[[ -x "$CFN_LINT" ]] || { echo "check-template: cfn-lint not found at $CFN_LINT" >&2; exit 1; }
[[ -x "$CHECKOV" ]] || { echo "check-template: checkov not found at $CHECKOV (make checkov)" >&2; exit 1; }

step "cfn-lint" "$CFN_LINT" template.yaml
# Offline (--skip-download: no guideline or policy download); prints the counts, fails on any finding.
checkov_template() {
  local out
  if ! out=$("$CHECKOV" --file template.yaml --framework cloudformation --compact --skip-download 2>&1); then
    echo "$out" | grep -vE '^(PASSED|SKIPPED) for|^\s*$' >&2
    return 1
  fi
  echo "$out" | grep -E '^Passed checks'
}
step "checkov" checkov_template
step "sam validate --lint" "$SAM" validate --lint --template-file template.yaml

# cfn-lint does not catch everything the SAM transform rejects (for example `Authorizer: NONE` on an
# HTTP API without a DefaultAuthorizer passes lint and fails at deploy). Plain `sam validate` would
# run the transform but needs real credentials, so run SAM's own translator here, offline.
translate() {
  "$(dirname "$SAM")/python" - <<'PY'
import sys
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:  # the template names no AWS managed policy; SAM's own are resolved by ARN
    def load(self):
        return {}


template = yaml_parse(open("template.yaml").read())
for resource in template["Resources"].values():  # what `sam package` does: local dirs -> S3 objects
    props = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri"):
        if isinstance(props.get(key), str):
            props[key] = "s3://bucket/key.zip"
try:
    out = transform(template, {}, NoManagedPolicies())
except InvalidDocumentException as exc:
    for cause in exc.causes:
        print(f"SAM transform: {cause.message}", file=sys.stderr)
    sys.exit(1)
print(f"SAM transform: {len(out['Resources'])} CloudFormation resources")
PY
}
step "sam transform" translate

if [[ $BUILD == 1 ]]; then
  # --cached/--parallel are also in samconfig.toml; repeated so the script does not depend on it.
  step "sam build" "$SAM" build --cached --parallel --template-file template.yaml --build-dir .aws-sam/build

  check_artifacts() {
    local bad=0 layer=.aws-sam/build/SharedLayer/python
    [[ -d "$layer/sagebridge" ]] || { echo "layer has no python/sagebridge" >&2; bad=1; }
    for pkg in pydantic pydantic_core cryptography aws_lambda_powertools httpx; do
      [[ -d "$layer/$pkg" ]] || { echo "layer is missing $pkg" >&2; bad=1; }
    done
    # Every compiled extension must be for the Lambda architecture (arm64 = aarch64).
    local wrong
    wrong=$(find "$layer" -name '*.so' -print0 | xargs -0 -r file | grep -v 'aarch64' || true)
    [[ -z "$wrong" ]] || { echo "non-aarch64 extensions in the layer:"$'\n'"$wrong" >&2; bad=1; }
    find "$layer" -name '*.so' | grep -q . || { echo "layer has no compiled extensions at all?" >&2; bad=1; }
    # Bytecode shipped (layers/shared/Makefile): Lambda cannot write .pyc files, so without them every
    # cold start compiles what it imports.
    compgen -G "$layer/sagebridge/__pycache__/composition.cpython-3*.pyc" >/dev/null || { echo "layer ships no bytecode" >&2; bad=1; }
    [[ ! -d "$layer/botocore/data/ec2" ]] || { echo "botocore's data is not pruned" >&2; bad=1; }
    for fn in ConnectFunction WebhooksFunction ExportSchedulerFunction ExportWorkerFunction \
              PaymentPollerFunction HostDeliveryFunction AdminApiFunction TokenKeepAliveFunction; do
      [[ -f ".aws-sam/build/$fn/app.py" ]] || { echo "$fn has no app.py in its artifact" >&2; bad=1; }
    done
    return $bad
  }
  step "build artifacts" check_artifacts
fi
