#!/usr/bin/env bash
# Runs a command with the emulators it needs on 127.0.0.1, and stops them afterwards:
#   moto servers (DynamoDB), from the project's own venv (.venv, made by `make venv`).
# Exports YUNQIAO_TEST_DYNAMODB_ENDPOINT (one) and YUNQIAO_TEST_DYNAMODB_ENDPOINTS (all)
# for the command.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${YUNQIAO_VENV:-$here/.venv}
log=$(mktemp -t moto.XXXXXX.log)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Several moto servers: each answers one request at a time (see moto_serial.py), so the
# tests spread over them (YUNQIAO_TEST_DYNAMODB_ENDPOINTS) instead of queueing on one.
count=${YUNQIAO_MOTO_SERVERS:-4}
pids=()
endpoints=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -f "$log".*
}
trap cleanup EXIT INT TERM
for i in $(seq 1 "$count"); do
  port=$(free_port)
  "$venv/bin/python" "$here/infra/moto_serial.py" 127.0.0.1 "$port" >"$log.$i" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "moto server failed to start:" >&2; cat "$log.$i" >&2; exit 1; fi
    sleep 0.1
  done
  endpoints+=("http://127.0.0.1:$port")
done
echo "moto servers (DynamoDB emulator): ${endpoints[*]}"

export YUNQIAO_TEST_DYNAMODB_ENDPOINT="${endpoints[0]}"
YUNQIAO_TEST_DYNAMODB_ENDPOINTS=$(IFS=,; echo "${endpoints[*]}")
export YUNQIAO_TEST_DYNAMODB_ENDPOINTS
# The stand-in checks what the functions answer, not API Gateway's 30 s deadline: on a
# busy machine over single-threaded emulators a slow answer is not a wrong one.
export YUNQIAO_STANDIN_FUNCTION_TIMEOUT_SECS="${YUNQIAO_STANDIN_FUNCTION_TIMEOUT_SECS:-180}"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
"$@"
