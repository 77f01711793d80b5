#!/usr/bin/env bash
# Runs a command against the AWS face on this machine: the Lambda functions behind the
# API Gateway stand-in (the `lambda-face` binary), on the DynamoDB emulator that
# infra/with-emulators.sh started. Exports YUNQIAO_TEST_BASE_URL, YUNQIAO_TEST_WS_URL,
# YUNQIAO_TEST_ADMIN_KEY and YUNQIAO_TEST_WECHAT_MOCK for the command, and stops the face afterwards.
#   infra/with-emulators.sh infra/with-lambda-face.sh <target dir> <command...>
set -euo pipefail
bin_dir=$1
shift
out=$(mktemp -t lambda-face.XXXXXX)
fifo=$(mktemp -u -t lambda-face-in.XXXXXX)
mkfifo "$fifo"
# The face serves until its standard input closes: hold the fifo open, close it to stop.
"$bin_dir/lambda-face" <"$fifo" >"$out" &
pid=$!
exec 9>"$fifo"
cleanup() {
  exec 9>&- || true
  wait "$pid" 2>/dev/null || true
  rm -f "$out" "$fifo"
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 300); do
  if [ -s "$out" ]; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then echo "lambda-face failed to start" >&2; exit 1; fi
  sleep 0.1
done
line=$(head -n 1 "$out")
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$line" "$1"; }
YUNQIAO_TEST_BASE_URL=$(field http_url)
YUNQIAO_TEST_WS_URL=$(field ws_url)
YUNQIAO_TEST_ADMIN_KEY=$(field admin_key)
YUNQIAO_TEST_WECHAT_MOCK=$(field wechat_mock)
export YUNQIAO_TEST_BASE_URL YUNQIAO_TEST_WS_URL YUNQIAO_TEST_ADMIN_KEY YUNQIAO_TEST_WECHAT_MOCK
echo "Lambda face on $YUNQIAO_TEST_BASE_URL ($YUNQIAO_TEST_WS_URL)"
"$@"
