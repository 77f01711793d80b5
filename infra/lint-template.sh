#!/usr/bin/env bash
# Lints the AWS SAM template offline (no AWS account, no network): cfn-lint, then
# `sam validate` and `sam validate --lint`. Usage: infra/lint-template.sh [template]
# Uses the project's venv ($YUNQIAO_VENV, default .venv; `make venv` installs both tools).
# Exits non-zero on any error or warning.
#
# The template is linted as deployed three ways: as it is (no custom domains, arm64), in
# the global and the China regions; with the custom-domain parameters set (HTTP and
# WebSocket domains, one certificate); and as a China-partition stack with domains, its
# own WebSocket certificate and x86_64 functions. The variants are copies whose
# parameter defaults are those values (infra/template_variant.py): cfn-lint checks
# conditional resources only for the defaults it sees.
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

# An empty config file: samconfig.toml (the user's region, stack, overrides) stays out of it.
: >"$samdir/samconfig.toml"

# lint <label> <template> <sam region> <cfn-lint regions...>
lint() {
  local label=$1 file=$2 region=$3
  shift 3
  echo "== $label"
  echo "cfn-lint $("$venv/bin/cfn-lint" --version | awk '{print $2}') (regions $*): $file"
  "$venv/bin/cfn-lint" --regions "$@" -- "$file"
  echo "$("$venv/bin/sam" --version): sam validate, then --lint (region $region; SAM translation,"
  echo "  offline while no policy is named by its managed-policy name instead of an ARN)"
  AWS_REGION=$region AWS_DEFAULT_REGION=$region "$venv/bin/sam" validate --template-file "$file" \
    --region "$region" --config-file "$samdir/samconfig.toml"
  AWS_REGION=$region AWS_DEFAULT_REGION=$region "$venv/bin/sam" validate --template-file "$file" \
    --region "$region" --config-file "$samdir/samconfig.toml" --lint
}

lint "as it is: no custom domains, arm64" "$template" us-east-1 \
  us-east-1 ap-east-1 ap-northeast-1 ap-southeast-1 cn-north-1 cn-northwest-1

domains="$samdir/template-domains.yaml"
"$here/infra/template_variant.py" "$template" "$domains" \
  HttpApiDomainName=api.example.com WebSocketDomainName=ws.example.com \
  CertificateArn=arn:aws:acm:ap-east-1:123456789012:certificate/0b1c2d3e-1111-2222-3333-444455556666
lint "custom domains (one certificate for both)" "$domains" ap-east-1 \
  us-east-1 ap-east-1 ap-northeast-1 ap-southeast-1

china="$samdir/template-china.yaml"
"$here/infra/template_variant.py" "$template" "$china" \
  HttpApiDomainName=api.example.cn WebSocketDomainName=ws.example.cn \
  CertificateArn=arn:aws-cn:acm:cn-north-1:123456789012:certificate/0b1c2d3e-1111-2222-3333-444455556666 \
  WebSocketCertificateArn=arn:aws-cn:acm:cn-north-1:123456789012:certificate/9f8e7d6c-1111-2222-3333-444455556666 \
  Architecture=x86_64
lint "China partition: custom domains, two certificates, x86_64" "$china" cn-north-1 \
  cn-north-1 cn-northwest-1
