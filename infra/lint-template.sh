#!/usr/bin/env bash
# Lints the AWS SAM template offline (no AWS account, no network): cfn-lint, then
# `sam validate` and `sam validate --lint`. Usage: infra/lint-template.sh [template]
# Uses the project's venv ($YUNQIAO_VENV, default .venv; `make venv` installs both tools).
# Exits non-zero on any error or warning.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${YUNQIAO_VENV:-$here/.venv}
template=${1:-$here/template.yaml}

for tool in cfn-lint sam; do
  if [ ! -x "$venv/bin/$tool" ]; then
    echo "lint-template: $venv/bin/$tool is missing; run \`make venv\`" >&2
    exit 1
  fi
done

# Offline and anonymous: a region (the templates' pseudo parameters need one), dummy
# credentials so nothing looks for real ones, no instance-metadata lookups, no
# telemetry. SAM keeps its settings (~/.aws-sam) in a throw-away directory instead,
# seeded with a fresh "last version check" so it does not ask PyPI for a newer CLI.
samdir=$(mktemp -d -t yunqiao-sam.XXXXXX)
trap 'rm -rf "$samdir"' EXIT
printf '{"telemetryEnabled": false, "lastVersionCheck": %s}\n' "$(date +%s)" >"$samdir/metadata.json"
export __SAM_CLI_APP_DIR="$samdir"
export SAM_CLI_TELEMETRY=0
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true

echo "cfn-lint $("$venv/bin/cfn-lint" --version | awk '{print $2}'): $template"
"$venv/bin/cfn-lint" --regions us-east-1 -- "$template"

# An empty config file: samconfig.toml (the user's region, stack, overrides) stays out of it.
: >"$samdir/samconfig.toml"
sam_validate() {
  "$venv/bin/sam" validate --template-file "$template" --region us-east-1 \
    --config-file "$samdir/samconfig.toml" "$@"
}
echo "$("$venv/bin/sam" --version): sam validate (SAM translation; offline while no"
echo "  policy is named by its managed-policy name instead of an ARN)"
sam_validate
echo "sam validate --lint"
sam_validate --lint
