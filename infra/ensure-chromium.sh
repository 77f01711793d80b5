#!/usr/bin/env bash
# The console's browser tests drive Debian's Chromium (/usr/bin/chromium, with
# playwright-core). A fresh machine does not have it: install it from Debian's
# packages, with a CJK font so the Chinese pages' screenshots show text.
set -euo pipefail
if [ -x "${CHROMIUM:-/usr/bin/chromium}" ] && fc-list 2>/dev/null | grep -qi "wenquanyi\|noto.*cjk"; then
  exit 0
fi
packages=(chromium fonts-wqy-microhei)
run=()
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then
    run=(sudo -n)
  else
    echo "ensure-chromium: the console's browser tests need ${packages[*]} (Debian packages);" >&2
    echo "  install them as root: apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
fi
echo "ensure-chromium: installing ${packages[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
"${run[@]}" apt-get update -qq
"${run[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
"${CHROMIUM:-/usr/bin/chromium}" --version
