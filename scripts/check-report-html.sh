#!/usr/bin/env bash
# Loads the HTML reconciliation report in headless Chromium and fails on a broken page.
#
#   scripts/check-report-html.sh [REPORT.html] [--screenshot FILE.png]
#
# Without a report, it builds a demo workspace (300 accounts) in a temporary folder and renders
# `cutover reconcile --wave dc1-colocation --format html` from it. It then checks, in the DOM as
# Chromium built it (after the page's script ran): the summary tiles, both SVG charts with their
# bars, the accounts table with rows and the script's ready mark, and the drill-down with its line
# diff. Needs Debian's `chromium` (apt-get install -y chromium); never needed by `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
report="" shot=""
while [ $# -gt 0 ]; do
  case "$1" in
    --screenshot) shot="$2"; shift 2 ;;
    *) report="$1"; shift ;;
  esac
done
chromium_bin="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$chromium_bin" ] || { echo "chromium not found: apt-get install -y chromium" >&2; exit 3; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -z "$report" ]; then
  # The debug binary `cargo test` has just built (CI runs this right after it).
  cargo build --quiet --bin cutover
  bin="${CARGO_TARGET_DIR:-target}/debug/cutover"
  "$bin" demo --dir "$work/demo" --accounts 300 --seed 7 >/dev/null 2>&1
  report="$work/report.html"
  # exit 1 means "ran and found problems" (failing accounts): still a report to check.
  "$bin" -C "$work/demo" reconcile --wave dc1-colocation --format html >"$report" || [ $? -eq 1 ]
fi
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
       --disable-sync --no-first-run --user-data-dir="$work/profile")
"$chromium_bin" "${flags[@]}" --virtual-time-budget=2000 --dump-dom "file://$(realpath "$report")" >"$work/dom.html" 2>"$work/chromium.log"
fail=0
check() { # what, minimum count, pattern (extended regex)
  local n; n=$(grep -oE "$3" "$work/dom.html" | wc -l)
  if [ "$n" -lt "$2" ]; then echo "FAIL: $1 (found $n, expected at least $2)" >&2; fail=1; else echo "ok: $1 ($n)"; fi
}
check "summary tiles" 10 'class="tile'
check "two SVG charts" 2 '<svg'
check "chart bars" 2 'class="bar"'
check "accounts table" 1 'id="accounts"'
check "the table script ran" 1 'data-ready="yes"'
check "account rows" 1 '<tr class="(fail|waived|pass)"'
check "a drill-down" 1 '<details class="account"'
check "legacy and new bills side by side" 1 'class="legacy"'
check "a line diff" 1 '<pre class="diff">'
if [ -n "$shot" ]; then
  "$chromium_bin" "${flags[@]}" --hide-scrollbars --window-size=1400,1700 --screenshot="$(realpath -m "$shot")" \
    "file://$(realpath "$report")" 2>>"$work/chromium.log"
  echo "screenshot: $shot"
fi
[ "$fail" -eq 0 ] || { echo "the report is broken: $report" >&2; exit 1; }
echo "report ok: $report"
