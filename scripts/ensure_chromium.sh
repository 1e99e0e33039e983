#!/usr/bin/env bash
# Make sure the browser tests (tests/browser) have a Chromium to drive.
#
#   scripts/ensure_chromium.sh
#
# The tests use the system Chromium ($DHMAD_CHROMIUM, default /usr/bin/chromium); Playwright
# never downloads a browser. When it is missing and we may (root, or password-less sudo, and
# apt-get), install Debian's `chromium` package, quietly. When we cannot, say so loudly and
# carry on: the browser tests then fail (they are never skipped). See docs/testing.md.
set -uo pipefail

target=${DHMAD_CHROMIUM:-/usr/bin/chromium}
[ -x "$target" ] && exit 0

if [ -n "${DHMAD_CHROMIUM:-}" ]; then
  echo "ensure_chromium: DHMAD_CHROMIUM=$target is not an executable; the browser tests will FAIL" >&2
  exit 0
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else sudo=(none); fi
fi

if [ "${sudo[0]:-}" != none ] && command -v apt-get >/dev/null; then
  echo "ensure_chromium: Chromium is missing; installing Debian's chromium package (apt-get)"
  log=$(mktemp)
  apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -qq)
  # The package lists may be missing or stale on a fresh machine: update once, then retry.
  if ! "${apt[@]}" install chromium >"$log" 2>&1; then
    "${apt[@]}" update >>"$log" 2>&1
    "${apt[@]}" install chromium >>"$log" 2>&1 || tail -n 20 "$log" >&2
  fi
  rm -f "$log"
fi

if [ -x "$target" ]; then
  echo "ensure_chromium: installed $("$target" --version 2>/dev/null | head -n 1)"
else
  echo "ensure_chromium: no Chromium at $target and it could not be installed (needs root or" \
    "password-less sudo, and apt-get). The browser tests will FAIL: see docs/testing.md." >&2
fi
exit 0
