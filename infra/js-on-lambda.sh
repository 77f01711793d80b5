#!/usr/bin/env bash
# Runs JavaScript suites (Node's test runner) on the AWS face: each group gets its own face
# (infra/with-lambda-face.sh) over its own moto server, and the groups run side by side,
# because one moto server answers one request at a time (and slows as its tables grow).
# A group is a package directory, optional NAME=value settings for its tests, and test
# files in it; groups are separated by `--`:
#   infra/with-emulators.sh infra/js-on-lambda.sh <target dir> sdk/js A=1 test/a.mjs -- examples/x test/b.mjs
# A group's settings reach its face as well (e.g. YUNQIAO_FACE_ENV="K=V,K=V": settings of
# the face's functions, such as the pay tables).
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
    current="${current:+$current }$arg"
  fi
done
[ -n "$current" ] && groups+=("$current")

logs=()
pids=()
for i in "${!groups[@]}"; do
  read -r dir rest <<<"${groups[$i]}"
  settings=""
  files=""
  for w in $rest; do
    case $w in
      [A-Z]*=*) settings="$settings $w" ;;
      *) files="$files $w" ;;
    esac
  done
  log=$(mktemp -t js-lambda.XXXXXX)
  logs+=("$log")
  endpoint=${endpoints[$((i % ${#endpoints[@]}))]}
  env $settings YUNQIAO_TEST_DYNAMODB_ENDPOINT=$endpoint "$here/infra/with-lambda-face.sh" "$bin_dir" \
    sh -c "cd '$here/$dir' && exec env $settings node --test --test-concurrency=1 $files" >"$log" 2>&1 &
  pids+=("$!")
done

status=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then result=passed; else result=FAILED; status=1; fi
  echo "== on the Lambda face: ${groups[$i]} — $result"
  cat "${logs[$i]}"
  rm -f "${logs[$i]}"
done
exit $status
