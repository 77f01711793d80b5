#!/usr/bin/env bash
# Runs a command with the emulators it needs on 127.0.0.1, and stops them afterwards:
#   moto server (DynamoDB), from the project's own venv (.venv, made by `make venv`).
# Exports YUNQIAO_TEST_DYNAMODB_ENDPOINT for the command.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${YUNQIAO_VENV:-$here/.venv}
log=$(mktemp -t moto.XXXXXX.log)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

port=$(free_port)
"$venv/bin/python" "$here/infra/moto_serial.py" 127.0.0.1 "$port" >"$log" 2>&1 &
moto_pid=$!
cleanup() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then echo "moto server failed to start:" >&2; cat "$log" >&2; exit 1; fi
  sleep 0.1
done
echo "moto server (DynamoDB emulator) on http://127.0.0.1:$port"

export YUNQIAO_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
"$@"
