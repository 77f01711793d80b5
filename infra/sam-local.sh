#!/usr/bin/env bash
# `make sam-local`: the HTTP API's functions under `sam local start-api` (each in the
# Lambda provided.al2023 Docker image), over a local DynamoDB (a moto server from the
# project's venv, with the stack's table created in it) and a WeChat mock
# (infra/wechat_mock.py), with the environment of infra/sam-local-env.json.
#
#   infra/sam-local.sh check                       Docker present and running? (else exit 1)
#   infra/sam-local.sh run <build dir> <arch>      serve, after `sam build --build-dir <dir>`
#
# Settings (environment): SAM_LOCAL_PORT (3000, the API), SAM_LOCAL_DYNAMODB_PORT (8000),
# SAM_LOCAL_WECHAT_PORT (8789). What sam local cannot do (the WebSocket API, the
# schedule) and what runs all of it instead: docs/deploy-aws.md, "Local testing".
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${YUNQIAO_VENV:-$here/.venv}
mode=${1:-}

need_docker() {
  if ! command -v docker >/dev/null 2>&1; then
    cat >&2 <<'MSG'
sam-local: docker is not installed. `sam local` runs every function in a Docker container
  (the Lambda provided.al2023 image), so it needs Docker: Docker Desktop, or Docker Engine
  on Linux. Without Docker, the project's own Lambda face runs the same functions (and the
  WebSocket API, and the schedule) as processes behind an API Gateway stand-in:
  see docs/deploy-aws.md, "Local testing".
MSG
    exit 1
  fi
  if ! docker info >/dev/null 2>&1; then
    cat >&2 <<'MSG'
sam-local: docker is installed but its daemon does not answer (`docker info` failed):
  start Docker (Docker Desktop, or `sudo systemctl start docker`), check that this user may
  use it (the docker group), and run `make sam-local` again. Without Docker: see
  docs/deploy-aws.md, "Local testing" (the Lambda face).
MSG
    exit 1
  fi
}

case "$mode" in
  check) need_docker; exit 0 ;;
  run) need_docker ;;
  *) echo "usage: infra/sam-local.sh check | run <build dir> <arm64|x86_64>" >&2; exit 2 ;;
esac

build_dir=${2:?build dir}
arch=${3:?architecture}
built="$build_dir/template.yaml"
[ -f "$built" ] || { echo "sam-local: $built is missing: run \`sam build --build-dir $build_dir\` (make sam-local does)" >&2; exit 1; }
for tool in sam python; do
  [ -x "$venv/bin/$tool" ] || { echo "sam-local: $venv/bin/$tool is missing; run \`make venv\`" >&2; exit 1; }
done

api_port=${SAM_LOCAL_PORT:-3000}
dynamo_port=${SAM_LOCAL_DYNAMODB_PORT:-8000}
wechat_port=${SAM_LOCAL_WECHAT_PORT:-8789}

# Where the containers find this machine: host.docker.internal. Docker Desktop (macOS,
# Windows) defines it and forwards it to this machine's loopback; Docker Engine on Linux
# gets it from --add-host …:host-gateway, the bridge's gateway address, where the
# emulators then listen (not on every interface: the mock lets anyone log in as anyone).
add_host=()
bind=127.0.0.1
if [ "$(uname -s)" = Linux ]; then
  bind=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)
  bind=${bind:-172.17.0.1}
  add_host=(--add-host host.docker.internal:host-gateway)
fi
from_containers=host.docker.internal

env_value() { "$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["Parameters"][sys.argv[2]])' "$here/infra/sam-local-env.json" "$1"; }
table=$(env_value YUNQIAO_DYNAMODB_TABLE)
admin_key=$(env_value YUNQIAO_ADMIN_KEY)
appid=$(env_value YUNQIAO_WECHAT_APPID)
secret=$(env_value YUNQIAO_WECHAT_SECRET)

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=${SAM_CLI_TELEMETRY:-0}

"$venv/bin/python" "$here/infra/moto_serial.py" "$bind" "$dynamo_port" >"$build_dir/moto.log" 2>&1 &
pids+=($!)
"$venv/bin/python" "$here/infra/wechat_mock.py" "$bind" "$wechat_port" "$appid" "$secret" >"$build_dir/wechat-mock.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "http://$bind:$dynamo_port/moto-api/" 2>/dev/null; then break; fi
  sleep 0.1
done
curl -fsS -o /dev/null "http://$bind:$dynamo_port/moto-api/" || { echo "sam-local: the DynamoDB emulator did not start:" >&2; cat "$build_dir/moto.log" >&2; exit 1; }

# The stack's table, as template.yaml makes it (pk/sk, TTL on ttl).
"$venv/bin/python" - "http://$bind:$dynamo_port" "$table" <<'PY'
import sys, boto3
db = boto3.client("dynamodb", endpoint_url=sys.argv[1])
if sys.argv[2] not in db.list_tables()["TableNames"]:
    db.create_table(TableName=sys.argv[2], BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                          {"AttributeName": "sk", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                               {"AttributeName": "sk", "KeyType": "RANGE"}])
    db.update_time_to_live(TableName=sys.argv[2],
                           TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
PY

# sam local sets only the variables the template declares for a function: declare the
# env file's others (the emulator endpoints, tuning knobs) in the built template's Globals,
# and fill in where the containers find the emulators.
"$venv/bin/python" - "$built" "$here/infra/sam-local-env.json" "$build_dir/env.json" \
  "http://$from_containers:$dynamo_port" "http://$from_containers:$wechat_port" <<'PY'
import json, sys
from samcli.yamlhelper import yaml_dump, yaml_parse
built, env_file, env_out, dynamo, wechat = sys.argv[1:]
with open(built) as f:
    tpl = yaml_parse(f.read())
env = json.load(open(env_file))
variables = (tpl.setdefault("Globals", {}).setdefault("Function", {})
             .setdefault("Environment", {}).setdefault("Variables", {}))
for name in env["Parameters"]:
    variables.setdefault(name, "")
with open(built, "w") as f:
    f.write(yaml_dump(tpl))
fill = {"{{dynamodb}}": dynamo, "{{wechat}}": wechat}
for section in env.values():
    for k, v in section.items():
        section[k] = fill.get(v, v)
json.dump(env, open(env_out, "w"), indent=2)
PY

cat <<MSG
sam local: http://127.0.0.1:$api_port (HTTP API only; functions for $arch, in Docker)
  DynamoDB (moto): http://$bind:$dynamo_port, table $table
  WeChat mock:     http://$bind:$wechat_port (log in with codes like mock:alice:1, each once)
  admin key:       $admin_key
  e.g. curl -s http://127.0.0.1:$api_port/v1/health
       YUNQIAO_ADMIN_KEY=$admin_key yunqiao apply yunqiao.json --url http://127.0.0.1:$api_port
MSG
"$venv/bin/sam" local start-api --template-file "$built" --env-vars "$build_dir/env.json" \
  --parameter-overrides "Architecture=$arch AdminKey=$admin_key WeChatAppId=wx0000000000000000 WeChatSecret=$secret" \
  --host 127.0.0.1 --port "$api_port" "${add_host[@]}"
