#!/usr/bin/env bash
# The portal in a real browser: Debian's `chromium` driven through its WebDriver (`chromium-driver`)
# by the Python standard library (no pip package), against the real `cutover serve`.
#
#   scripts/check-portal.sh            (PORTAL_SHOTS=DIR: where the screenshots go; default docs/)
#
# It builds a demo workspace (120 accounts, before its first day), gives every customer a name
# ending in `<script>` and one dc1 account a legacy April bill 100.00 too high (its reconciliation
# fails), configures the portal with one team member, reconciles dc1 and sends the notices of
# 2017-06-01 to the outbox and then, in Chromium: opens the link of a notice, sees the name as text
# (no script ran), submits two billing addresses and sees them confirmed; opens a forged link and,
# on a server acting a year and a half later, the expired link, and sees the same page for both;
# posts the form with its CSRF token removed and is refused; is refused the team pages until
# signing in; waives the failing account from its page. Then the journal (through `cutover
# journal`) must hold the submission and the waiver under the signed-in name. Screenshots: portal-customer.png,
# portal-how-to-read.png, portal-wave.png. Needs `chromium` and `chromium-driver` (apt-get install -y chromium
# chromium-driver); never needed by `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
chromium_bin="$(command -v chromium || command -v chromium-browser || true)"
driver_bin="$(command -v chromedriver || true)"
[ -n "$chromium_bin" ] || { echo "chromium not found: apt-get install -y chromium" >&2; exit 3; }
[ -n "$driver_bin" ] || { echo "chromedriver not found: apt-get install -y chromium-driver" >&2; exit 3; }
shots="${PORTAL_SHOTS:-docs}"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --quiet --bin cutover
bin="$(realpath "${CARGO_TARGET_DIR:-target}/debug/cutover")"
ws="$work/ws"
export CUTOVER_ACTOR="check-portal" CUTOVER_PORTAL_SECRET="check-portal-secret-0123456789abcdef"
"$bin" demo --dir "$ws" --accounts 120 --seed 11 --until 2017-04-05 >/dev/null
python3 - "$ws/legacy.db" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE accounts SET name = name || ' <script>alert(1)</script>'")
c.execute("""UPDATE legacy_invoice_lines SET amount = printf('%.2f', CAST(amount AS REAL) + 100) WHERE rowid =
  (SELECT l.rowid FROM legacy_invoice_lines l JOIN accounts a ON a.account_number = l.account_number
   WHERE a.site = 'DC1' AND a.segment = 'colocation' AND a.status = 'active' AND l.period = '2017-04'
   ORDER BY l.account_number DESC LIMIT 1)""")
c.commit()
EOF
"$bin" -C "$ws" extract >/dev/null
hash="$(printf 'correct horse battery\n' | "$bin" serve hash-password)"
cat >>"$ws/cutover.yaml" <<EOF
portal:
  base_url: "http://127.0.0.1:PORT"
  link_grace_days: 30
  team:
    - name: "Dana Reviewer"
      password_hash: "$hash"
EOF
"$bin" -C "$ws" run --wave dc1-colocation --as-of 2017-05-01 >/dev/null || [ $? -eq 1 ]
"$bin" -C "$ws" notify --wave dc1-colocation --as-of 2017-06-01 >/dev/null || [ $? -eq 1 ]

start_server() { # as-of, output file: starts `cutover serve` and prints its address
  "$bin" -C "$ws" serve --listen 127.0.0.1:0 --as-of "$1" >"$2" 2>"$2.err" &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q 'listening on' "$2" 2>/dev/null && break; sleep 0.1; done
  grep -o 'http://[0-9.:]*' "$2" | head -n 1
}
now_url="$(start_server 2017-06-02 "$work/serve1.out")"
later_url="$(start_server 2019-01-01 "$work/serve2.out")"
driver_port=$((20000 + RANDOM % 20000))
"$driver_bin" --port="$driver_port" >"$work/driver.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$driver_port/status" >/dev/null 2>&1 && break; sleep 0.1; done

mkdir -p "$shots"
python3 - "$ws" "$now_url" "$later_url" "$driver_port" "$chromium_bin" "$shots" "$bin" <<'EOF'
import base64, glob, json, quopri, re, subprocess, sys, urllib.request
ws, now, later, port, chromium, shots, binary = sys.argv[1:8]
W = f"http://127.0.0.1:{port}"
failures = []

def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(W + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"{}").get("value")
    except urllib.error.HTTPError as e:
        return {"error": json.loads(e.read() or b"{}").get("value", {})}

def check(what, ok):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)

caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
    "binary": chromium, "args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1100,1400"]}}}}
session = call("POST", "/session", caps)["sessionId"]
S = f"/session/{session}"
go = lambda url: call("POST", S + "/url", {"url": url})
find = lambda css: call("POST", S + "/element", {"using": "css selector", "value": css})
def text(css):
    e = find(css)
    return call("GET", S + f"/element/{list(e.values())[0]}/text") if isinstance(e, dict) and "error" not in e else None
def typ(css, value):
    e = list(find(css).values())[0]
    call("POST", S + f"/element/{e}/clear", {})
    call("POST", S + f"/element/{e}/value", {"text": value})
def click(css):
    call("POST", S + f"/element/{list(find(css).values())[0]}/click", {})
def shot(name):
    png = base64.b64decode(call("GET", S + "/screenshot"))
    open(f"{shots}/{name}", "wb").write(png)
def wait_text(css, needle, seconds=10):
    # After a click the next page may still be loading: poll (bounded) for what it should say.
    import time
    end = time.time() + seconds
    while True:
        t = text(css) or ""
        if needle in t or time.time() > end:
            return t
        time.sleep(0.2)
def no_alert():
    r = call("GET", S + "/alert/text")
    return isinstance(r, dict) and "error" in r

try:
    # The link of a notice in the outbox (quoted-printable joined back first).
    links = []
    for f in sorted(glob.glob(f"{ws}/outbox/*.eml")):
        raw = quopri.decodestring(open(f, "rb").read()).decode("utf-8", "replace")
        m = re.search(r"http://127\.0\.0\.1:PORT/c/([A-Za-z0-9_-]{43})", raw)
        if m:
            links.append((f.split("/")[-1].split("-")[2], m.group(1)))
    check(f"notices in the outbox carry a personal link ({len(links)})", len(links) >= 3)
    account, token = links[0]
    go(f"{now}/c/{token}")
    check("the customer page opens from the notice's link", account in (text("#account") or ""))
    check("a name holding <script> is shown as text", "<script>alert(1)</script>" in (text("#name") or ""))
    check("and no script ran", no_alert())
    shot("portal-customer.png")
    go(f"{now}/c/{token}/how-to-read")
    marks = call("POST", S + "/elements", {"using": "css selector", "value": ".callout"})
    check(f"how to read the new bill: the customer's bill with numbered callouts ({len(marks)})", len(marks) >= 5)
    shot("portal-how-to-read.png")
    go(f"{now}/c/{token}/bill")
    check("the bill preview is marked as one", "Preview" in (text(".preview-banner") or ""))
    go(f"{now}/c/{token}")
    # The CSRF token removed: refused.
    removed = call("POST", S + "/execute/sync", {"script": "document.querySelector('#emails input[name=csrf]').remove(); return 'removed';", "args": []})
    print("csrf field:", removed)
    typ("#emails-field", "ap@browser.example")
    click("#emails-submit")
    refused = wait_text("h1", "could not be accepted")
    check(f"a form posted without its CSRF token is refused ({refused})", "could not be accepted" in refused)
    # Two addresses: confirmed.
    go(f"{now}/c/{token}")
    typ("#emails-field", "ap@browser.example\nit@browser.example")
    click("#emails-submit")
    confirmed = wait_text("#confirmed-emails", "it@browser.example")
    check("two addresses submitted and confirmed", "ap@browser.example" in confirmed and "it@browser.example" in confirmed)
    # A forged link and the expired one: the same page.
    go(f"{now}/c/{'A' * 43}")
    forged = text("main")
    go(f"{later}/c/{token}")
    expired = text("main")
    check("a forged and an expired link get the same page", forged and forged == expired and "not valid" in forged)
    # The team pages refuse an anonymous visitor; a member signs in and waives an account.
    go(f"{now}/team")
    check("the team pages refuse an anonymous visitor", "Sign in" in (text("main") or "") and find("#waves").get("error") is not None)
    typ("#name", "Dana Reviewer")
    typ("#password", "correct horse battery")
    click("#login")
    check("signed in", "Dana Reviewer" in wait_text("#who", "Dana Reviewer"))
    go(f"{now}/team/waves/dc1-colocation")
    check("the wave page shows its accounts", account in (text("#accounts") or ""))
    shot("portal-wave.png")
    held = json.loads(subprocess.run([binary, "-C", ws, "status", "--wave", "dc1-colocation", "--state", "held",
                                      "--format", "json"], capture_output=True, text=True).stdout)
    failing = next(r["account_number"] for r in held["accounts"] if r["reason"].startswith("reconciliation failed"))
    go(f"{now}/team/accounts/{failing}")
    typ("#waive-reason", "credit agreed in the browser")
    click("#waive")
    check("the waiver is done", "waived by Dana Reviewer" in wait_text("#message", "waived by Dana Reviewer"))
finally:
    call("DELETE", S)

out = subprocess.run([binary, "-C", ws, "journal", "--account", account, "--format", "json"], capture_output=True, text=True)
rows = json.loads(out.stdout)
rows = rows if isinstance(rows, list) else rows.get("journal", [])
sub = [r for r in rows if "portal's email form" in r["reason"] and "it@browser.example" in r["reason"]]
check("the store has the submission, journaled on the account", len(sub) == 1 and sub[0]["actor"] == "customer (portal link)")
out = subprocess.run([binary, "-C", ws, "journal", "--account", failing, "--format", "json"], capture_output=True, text=True)
w = json.loads(out.stdout)
w = [r for r in (w if isinstance(w, list) else w.get("journal", [])) if "credit agreed in the browser" in r["reason"]]
check("the waiver is journaled under the signed-in name", len(w) == 1 and w[0]["actor"] == "Dana Reviewer")
print(f"screenshots: {shots}/portal-customer.png, {shots}/portal-how-to-read.png, {shots}/portal-wave.png")
sys.exit(1 if failures else 0)
EOF
