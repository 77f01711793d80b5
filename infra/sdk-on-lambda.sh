#!/usr/bin/env bash
# Runs the JS SDK's suites on the AWS face: each group of test files gets its own face
# (infra/with-lambda-face.sh) over its own moto server, and the groups run side by side,
# because one moto server answers one request at a time. Groups are separated by `--`:
#   infra/with-emulators.sh infra/sdk-on-lambda.sh <target dir> a.mjs b.mjs -- c.mjs
# Each group's output is printed whole when it ends; the exit status says whether all passed.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=$1
shift
IFS=, read -r -a endpoints <<<"${YUNQIAO_TEST_DYNAMODB_ENDPOINTS:-${YUNQIAO_TEST_DYNAMODB_ENDPOINT:?run under infra/with-emulators.sh}}"

groups=()
current=""
for arg in "$@"; do
  if [ "$arg" = "--" ]; then
    [ -n "$current" ] && groups+=("$current")
    current=""
  else
    current="$current $arg"
  fi
done
[ -n "$current" ] && groups+=("$current")

logs=()
pids=()
for i in "${!groups[@]}"; do
  log=$(mktemp -t sdk-lambda.XXXXXX)
  logs+=("$log")
  endpoint=${endpoints[$((i % ${#endpoints[@]}))]}
  # shellcheck disable=SC2086 # a group is a list of file names
  YUNQIAO_TEST_DYNAMODB_ENDPOINT=$endpoint "$here/infra/with-lambda-face.sh" "$bin_dir" \
    sh -c "cd '$here/sdk/js' && exec node --test --test-concurrency=1 ${groups[$i]}" >"$log" 2>&1 &
  pids+=("$!")
done

status=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then result=passed; else result=FAILED; status=1; fi
  echo "== SDK on the Lambda face:${groups[$i]} — $result"
  cat "${logs[$i]}"
  rm -f "${logs[$i]}"
done
exit $status
