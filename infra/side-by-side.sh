#!/usr/bin/env bash
# Runs commands side by side, each with its output kept apart, and prints each one's
# output whole when it ends (a name line, then its output). The exit status says
# whether all passed. `make test` runs the Rust suites and the client suites this way:
# both mostly wait on servers and emulators, so together they take little more than
# the longer of the two.
#   infra/side-by-side.sh "name one" "command one" "name two" "command two" ...
set -uo pipefail
dir=$(mktemp -d -t side-by-side.XXXXXX)
trap 'rm -rf "$dir"' EXIT
names=()
pids=()
i=0
while [ $# -ge 2 ]; do
  names+=("$1")
  bash -c "$2" >"$dir/$i.log" 2>&1 &
  pids+=("$!")
  i=$((i + 1))
  shift 2
done
status=0
left=${#pids[@]}
declare -A done_=()
while [ "$left" -gt 0 ]; do
  wait -n "${pids[@]}" 2>/dev/null || true
  for j in "${!pids[@]}"; do
    [ -n "${done_[$j]:-}" ] && continue
    if ! kill -0 "${pids[$j]}" 2>/dev/null; then
      wait "${pids[$j]}"
      rc=$?
      done_[$j]=1
      left=$((left - 1))
      echo "=== ${names[$j]}: exit $rc ==="
      cat "$dir/$j.log"
      [ "$rc" -eq 0 ] || status=1
    fi
  done
done
exit $status
