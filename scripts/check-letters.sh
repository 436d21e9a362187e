#!/usr/bin/env bash
# Builds a small demo workspace and checks a day's printed letters in headless Chromium (Debian's
# `chromium`), as scripts/check-bill-html.sh does for the bill:
#   - the day's file (outbox/print/<wave>-<date>-letters.html) holds each letter once, and the DOM
#     Chromium builds holds the date, the letterhead, the address block and no email-only wording;
#   - printed to PDF on A4 and on Letter, each letter takes 1 or 2 pages (pdfinfo, poppler-utils);
#   - a screenshot of one letter goes to docs/letter.png (or $LETTER_PNG).
# Exits non-zero on any failure. Needs: cargo, chromium, pdfinfo.
# Usage: scripts/check-letters.sh      (builds the debug binary; a demo of 600 accounts, about a minute)
#        LETTER_PNG=/tmp/x.png scripts/check-letters.sh   (screenshot elsewhere, e.g. in CI)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
out=${LETTER_PNG:-$root/docs/letter.png}
accounts=${LETTER_ACCOUNTS:-600}

for tool in chromium pdfinfo; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (apt-get install -y chromium poppler-utils)" >&2; exit 2; }
done

cargo build --quiet --bin cutover
bin=$target/debug/cutover

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check-letters: FAIL: $*" >&2; exit 1; }

# The demo runs every dated wave: accounts without a billing email get letters.
CUTOVER_ACTOR=check-letters "$bin" demo --dir "$work/ws" --accounts "$accounts" >"$work/demo.log" 2>&1 ||
  fail "the demo failed (see $work/demo.log)"
print=$work/ws/outbox/print
# The day with the most letters.
day=
most=0
for f in "$print"/*-letters.html; do
  [ -e "$f" ] || fail "the demo printed no letters"
  n=$(grep -c '<article class="letter"' "$f" || true)
  if [ "$n" -gt "$most" ]; then most=$n; day=$f; fi
done
[ -n "$day" ] || fail "no day's letters file holds a letter"
echo "check-letters: $(basename "$day"): $most letter(s)"

# Each letter of the day once: the accounts in the day file are the per-account files of that
# wave's letters sent on that day.
ids=$(grep -o 'id="letter-[A-Z0-9]*"' "$day" | sort)
[ "$(echo "$ids" | wc -l)" -eq "$most" ] || fail "letters and ids disagree"
dups=$(echo "$ids" | uniq -d)
[ -z "$dups" ] || fail "a letter twice: $dups"

chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --disable-dev-shm-usage --user-data-dir="$work/profile" "$@" 2>>"$work/chromium.log"
}

# 1. The DOM as Chromium parsed it.
chrome --dump-dom "file://$day" >"$work/dom.html" || fail "chromium could not load the letters (see $work/chromium.log)"
[ "$(grep -c 'class="letter"' "$work/dom.html")" -ge "$most" ] || fail "chromium sees fewer letters than the file holds"
for needle in 'class="date"' 'class="company"' 'class="return"' '<address class="address">' 'Your bill is changing on' \
  'billing email submission form' 'Yours sincerely'; do
  grep -qF -- "$needle" "$work/dom.html" || fail "the rendered letters lack: $needle"
done
for banned in 'eply to this email' 'sent by email by default'; do
  grep -qF -- "$banned" "$work/dom.html" && fail "a letter says: $banned"
done
grep -qE '(src|href)="https?:' "$work/dom.html" && fail "the letters load an external asset"

# 2. Print on A4 and on Letter: each letter 1 or 2 pages (a page break between letters).
for paper in A4 letter; do
  sed "s|</style>|@page { size: $paper; }</style>|" "$day" >"$work/letters-$paper.html"
  chrome --no-pdf-header-footer --print-to-pdf="$work/letters-$paper.pdf" "file://$work/letters-$paper.html" ||
    fail "chromium could not print the letters on $paper"
  pages=$(pdfinfo "$work/letters-$paper.pdf" | awk '/^Pages:/ {print $2}')
  size=$(pdfinfo "$work/letters-$paper.pdf" | awk -F': *' '/^Page size:/ {print $2}')
  [[ "$pages" =~ ^[0-9]+$ ]] || fail "no page count on $paper"
  { [ "$pages" -ge "$most" ] && [ "$pages" -le $((2 * most)) ]; } ||
    fail "printed on $paper, $most letter(s) take $pages pages (expected $most to $((2 * most)))"
  # One letter alone: 1 or 2 pages.
  one=$(ls "$print"/*-A*.html | head -n 1)
  sed "s|</style>|@page { size: $paper; }</style>|" "$one" >"$work/one-$paper.html"
  chrome --no-pdf-header-footer --print-to-pdf="$work/one-$paper.pdf" "file://$work/one-$paper.html" ||
    fail "chromium could not print one letter on $paper"
  one_pages=$(pdfinfo "$work/one-$paper.pdf" | awk '/^Pages:/ {print $2}')
  [[ "$one_pages" =~ ^[12]$ ]] || fail "printed on $paper one letter takes ${one_pages:-?} pages (expected 1 or 2)"
  echo "check-letters: $paper: $most letter(s) on $pages page(s), one letter on $one_pages; $size"
done

# 3. A screenshot of the first letter for the docs (the page as the screen style shows it).
chrome --hide-scrollbars --window-size=860,1180 --screenshot="$out" "file://$work/letters-A4.html" || fail "no screenshot"
[ -s "$out" ] || fail "empty screenshot"
echo "check-letters: ok; screenshot in ${out#$root/}"
