#!/usr/bin/env bash
# Renders a demo bill to HTML and checks it in headless Chromium (Debian's `chromium`):
#   - the DOM Chromium builds holds the header, the totals and the payment stub;
#   - printed to PDF on A4 and on Letter, the bill takes 1 or 2 pages (pdfinfo, poppler-utils);
#   - a screenshot goes to docs/bill.png (or $BILL_PNG).
# Exits non-zero on any failure. Needs: cargo, chromium, pdfinfo.
# Usage: scripts/check-bill-html.sh      (builds the debug binary, as `cargo test` does; seconds after it)
#        BILL_PNG=/tmp/x.png scripts/check-bill-html.sh   (screenshot elsewhere, e.g. in CI)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
out=${BILL_PNG:-$root/docs/bill.png}

for tool in chromium pdfinfo; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed (apt-get install -y chromium poppler-utils)" >&2; exit 2; }
done

cargo build --quiet --bin cutover
bin=$target/debug/cutover

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A fresh workspace on the fixture legacy CSV files: `bill` works on it without extracting.
"$bin" init "$work/ws" >/dev/null
cp tests/fixtures/legacy/*.csv "$work/ws/legacy/"
"$bin" -C "$work/ws" bill A001 --period 2017-04 --format html >"$work/bill.html"

fail() { echo "check-bill-html: FAIL: $*" >&2; exit 1; }

chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --disable-dev-shm-usage --user-data-dir="$work/profile" "$@" 2>>"$work/chromium.log"
}

# 1. The DOM as Chromium parsed it: header, amounts, stub.
chrome --dump-dom "file://$work/bill.html" >"$work/dom.html" || fail "chromium could not load the bill (see $work/chromium.log)"
for needle in 'id="payment-stub"' 'id="amount-due">USD 3,354.40' 'id="total">USD 3,354.40' 'INV-A001-201704' \
  'Cascade Logistics LLC' 'P.O. Box 2712' 'Portland, OR 97208-2712' 'How to read your bill' 'Partial period' \
  '14/30 days x 2 x 300.00' 'Subtotal Colocation Space' 'id="preview"' '<h1>PREVIEW</h1>'; do
  grep -qF -- "$needle" "$work/dom.html" || fail "the rendered bill lacks: $needle"
done
grep -qE '(src|href)="https?:' "$work/dom.html" && fail "the bill loads an external asset"

# 2. Print on A4 and on Letter: one or two pages each.
for paper in A4 letter; do
  sed "s|</style>|@page { size: $paper; }</style>|" "$work/bill.html" >"$work/bill-$paper.html"
  chrome --no-pdf-header-footer --print-to-pdf="$work/bill-$paper.pdf" "file://$work/bill-$paper.html" ||
    fail "chromium could not print the bill on $paper"
  pages=$(pdfinfo "$work/bill-$paper.pdf" | awk '/^Pages:/ {print $2}')
  size=$(pdfinfo "$work/bill-$paper.pdf" | awk -F': *' '/^Page size:/ {print $2}')
  [[ "$pages" =~ ^[12]$ ]] || fail "printed on $paper the bill takes ${pages:-?} pages (expected 1 or 2)"
  echo "check-bill-html: $paper: $pages page(s), $size"
done

# 3. A screenshot for the docs.
chrome --hide-scrollbars --window-size=1024,1400 --screenshot="$out" "file://$work/bill.html" || fail "no screenshot"
[ -s "$out" ] || fail "empty screenshot"
echo "check-bill-html: ok; screenshot in ${out#$root/}"
