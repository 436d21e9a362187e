//! The portal (issue 13) through the real binary: `cutover serve` on a free loopback port, spoken
//! to over HTTP. The link comes from a notice in the outbox; the store is read back through the
//! binary's own commands.

use super::support::{self, cutover};
use cutover::portal::client::{self, Response};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const SECRET: &str = "portal-test-secret-0123456789abcdef";
const MEMBER: &str = "Dana Reviewer";
const PASSWORD: &str = "correct horse battery";
const SCRIPT_NAME: &str = "<script>alert(1)</script>";

/// `cutover serve` running on a free port; killed when dropped.
pub struct Served {
    child: Child,
    pub addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real binary's portal on `dir`, acting as of `as_of`.
pub fn serve(dir: &Path, as_of: &str) -> Served {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("cutover"))
        .arg("-C")
        .arg(dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--as-of", as_of])
        .env_remove("CUTOVER_STORE_URL")
        .env("CUTOVER_PORTAL_SECRET", SECRET)
        .env("CUTOVER_ACTOR", "test")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start cutover serve");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("the listening line");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Served { child, addr }
}

/// A team member's argon2 hash, made by `cutover serve hash-password` from standard input.
fn hash_password(dir: &Path) -> String {
    let out = cutover(dir).args(["serve", "hash-password"]).write_stdin(format!("{PASSWORD}\n")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$") && !hash.contains(PASSWORD), "{hash}");
    hash
}

/// A workspace with the portal configured whose dc1 notices of 2017-06-01 are in the outbox;
/// every customer's name ends with a `<script>` tag.
pub async fn workspace_with_links() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::copy_dir(&support::repo_waves(), &dir.path().join("waves"));
    let data = cutover::demo::generate::DemoData { accounts: 120, seed: 11, months: 12 };
    let db = dir.path().join("legacy.db");
    cutover::demo::generate::write_legacy_sqlite(&db, &data).await.unwrap();
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        sqlx::query("UPDATE accounts SET name = name || ' ' || $1").bind(SCRIPT_NAME).execute(&mut conn).await.unwrap();
        // One dc1 account the legacy system billed 100.00 more in April: its reconciliation
        // fails, for the team to waive.
        sqlx::query(
            "UPDATE legacy_invoice_lines SET amount = printf('%.2f', CAST(amount AS REAL) + 100) WHERE rowid = \
             (SELECT l.rowid FROM legacy_invoice_lines l JOIN accounts a ON a.account_number = l.account_number \
              WHERE a.site = 'DC1' AND a.segment = 'colocation' AND a.status = 'active' AND l.period = '2017-04' \
              ORDER BY l.account_number DESC LIMIT 1)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
    }
    std::fs::write(dir.path().join("cutover.yaml"), "source: { kind: sql, url: \"sqlite://legacy.db\" }\n").unwrap();
    let hash = hash_password(dir.path());
    std::fs::write(
        dir.path().join("cutover.yaml"),
        format!(
            "source: {{ kind: sql, url: \"sqlite://legacy.db\" }}\n\
             sender: \"Atmosera Billing <billing@atmosera.example>\"\n\
             portal:\n  base_url: \"https://portal.example\"\n  link_grace_days: 30\n\
             \x20 team:\n    - name: \"{MEMBER}\"\n      password_hash: \"{hash}\"\n"
        ),
    )
    .unwrap();
    for (cmd, date) in [("run", "2017-05-01"), ("notify", "2017-06-01")] {
        let out = cutover(dir.path()).args([cmd, "--wave", "dc1-colocation", "--as-of", date]).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    }
    dir
}

/// The personal links in the outbox's messages: (account from the file name, token).
pub fn outbox_links(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("outbox")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.ends_with(".eml") {
            continue;
        }
        // Quoted-printable soft line breaks may split a long line: join them first.
        let text = std::fs::read_to_string(e.path()).unwrap().replace("=\r\n", "").replace("=\n", "");
        let Some(at) = text.find("https://portal.example/c/") else { continue };
        let token: String =
            text[at + 25..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        let account = name.trim_start_matches("dc1-colocation-").split('-').next().unwrap().to_string();
        out.push((account, token));
    }
    out.sort();
    out
}

fn journal(dir: &Path, account: &str) -> Vec<Value> {
    let out = cutover(dir).args(["journal", "--account", account, "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array().cloned().unwrap_or_else(|| v["journal"].as_array().cloned().unwrap_or_default())
}

async fn get(addr: &str, path: &str, cookies: &[String]) -> Response {
    client::request(addr, "GET", path, cookies, None).await.unwrap()
}

async fn post(addr: &str, path: &str, cookies: &[String], form: &[(&str, &str)]) -> Response {
    client::request(addr, "POST", path, cookies, Some(&client::form(form))).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_follows_the_link_of_a_notice_and_the_team_acts_under_its_name() {
    let ws = workspace_with_links().await;
    let links = outbox_links(ws.path());
    assert!(links.len() >= 3, "notices in the outbox carry links: {links:?}");
    let (account, token) = links[0].clone();
    assert_eq!(token.len(), 43, "256 bits, base64url: {token}");
    let server = serve(ws.path(), "2017-06-02");
    let a = server.addr.as_str();

    // The customer's page: their change, their name as text, the page's own policy.
    let page = get(a, &format!("/c/{token}"), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&account), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the name is escaped: {}", page.body);
    assert!(!page.body.contains(SCRIPT_NAME));
    let csp = page.header("content-security-policy").unwrap_or_default().to_string();
    assert!(csp.starts_with("default-src 'none'") && !csp.contains("unsafe") && !csp.contains("script-src"), "{csp}");
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    for extra in ["bill", "how-to-read"] {
        let r = get(a, &format!("/c/{token}/{extra}"), &[]).await;
        assert_eq!(r.status, 200, "{extra}: {}", r.body);
        assert!(r.body.contains("Preview") || r.body.contains("How to read"), "{extra}");
        assert!(!r.body.contains(SCRIPT_NAME), "{extra} escapes the name");
    }
    let csrf = page.input("csrf").expect("csrf field");
    let nonce = page.input("nonce").expect("nonce field");

    // Without its CSRF token (or with another link's) a form is refused and nothing is stored.
    let emails = "ap@new-billing.example\nit@new-billing.example, IT@new-billing.example";
    let refused = post(a, &format!("/c/{token}/emails"), &[], &[("nonce", &nonce), ("emails", emails)]).await;
    assert_eq!(refused.status, 403);
    let (_, other) = &links[1];
    let other_page = get(a, &format!("/c/{other}"), &[]).await;
    let other_csrf = other_page.input("csrf").unwrap();
    let crossed =
        post(a, &format!("/c/{token}/emails"), &[], &[("csrf", &other_csrf), ("nonce", &nonce), ("emails", emails)])
            .await;
    assert_eq!(crossed.status, 403);
    // An address that is not one is refused with why, nothing stored.
    let bad = post(
        a,
        &format!("/c/{token}/emails"),
        &[],
        &[("csrf", &csrf), ("nonce", &nonce), ("emails", "not an address")],
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("`not` is not an email address"), "{}", bad.body);

    // Two addresses: the confirmation shows both; posting the same form again stores nothing more.
    let form = [("csrf", csrf.as_str()), ("nonce", nonce.as_str()), ("emails", emails)];
    let ok = post(a, &format!("/c/{token}/emails"), &[], &form).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.contains("ap@new-billing.example") && ok.body.contains("it@new-billing.example"), "{}", ok.body);
    let again = post(a, &format!("/c/{token}/emails"), &[], &form).await;
    assert_eq!(again.status, 200);
    assert!(again.body.contains("already had this form"), "{}", again.body);
    let q = post(
        a,
        &format!("/c/{token}/question"),
        &[],
        &[("csrf", &csrf), ("nonce", &format!("{nonce}q")), ("message", "Why is <b>power</b> billed apart?")],
    )
    .await;
    assert_eq!(q.status, 200, "{}", q.body);

    // Forged and malformed tokens: one page, one status.
    let forged = get(a, &format!("/c/{}", "A".repeat(43)), &[]).await;
    let junk = get(a, "/c/not-a-token", &[]).await;
    assert_eq!((forged.status, junk.status), (404, 404));
    assert_eq!(forged.body, junk.body);
    let forged_post = post(a, &format!("/c/{}/emails", "A".repeat(43)), &[], &form).await;
    assert_eq!((forged_post.status, &forged_post.body), (404, &forged.body));

    // The team's pages refuse an anonymous visitor.
    for path in ["/team", "/team/waves/dc1-colocation", &format!("/team/accounts/{account}")] {
        let r = get(a, path, &[]).await;
        assert_eq!(r.status, 401, "{path}");
        assert!(!r.body.contains(&account) && !r.body.contains("dc1-colocation"), "{path}: {}", r.body);
    }
    let anon = post(a, &format!("/team/accounts/{account}/waive"), &[], &[("reason", "x"), ("csrf", "x")]).await;
    assert_eq!(anon.status, 401);

    // Sign in: a wrong password is refused; the right one opens a session.
    let login = get(a, "/team/login", &[]).await;
    let pre = login.cookies();
    let lcsrf = login.input("csrf").unwrap();
    let wrong = post(a, "/team/login", &pre, &[("csrf", &lcsrf), ("name", MEMBER), ("password", "wrong")]).await;
    assert_eq!(wrong.status, 401);
    let signed = post(a, "/team/login", &pre, &[("csrf", &lcsrf), ("name", MEMBER), ("password", PASSWORD)]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let set = signed.headers.iter().find(|(n, v)| n == "set-cookie" && v.starts_with("cutover_session=")).unwrap();
    assert!(set.1.contains("HttpOnly") && set.1.contains("SameSite=Strict") && set.1.contains("Secure"), "{}", set.1);
    let session = signed.cookies();
    let waves = get(a, "/team", &session).await;
    assert_eq!(waves.status, 200);
    assert!(waves.body.contains("dc1-colocation") && waves.body.contains("Why is &lt;b&gt;power"), "{}", waves.body);
    let wave = get(a, "/team/waves/dc1-colocation", &session).await;
    assert_eq!(wave.status, 200);
    let report = get(a, "/team/waves/dc1-colocation/report", &session).await;
    assert_eq!(report.status, 200);
    assert!(report.header("content-security-policy").unwrap_or_default().contains("script-src 'sha256-"));
    let page = get(a, &format!("/team/accounts/{account}"), &session).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("ap@new-billing.example"), "the submission shows: {}", page.body);
    // It passed: no waiver is offered (the button only led to a refusal).
    assert!(!page.body.contains("id=\"waive\""), "{}", page.body);
    // What does not exist is said plainly to a signed-in member (not the customers' bad-link page).
    for (path, said) in [
        ("/team/accounts/NOPE1", "No account `NOPE1` in the store"),
        ("/team/waves/nope", "No wave `nope` in the plan"),
    ] {
        let missing = get(a, path, &session).await;
        assert_eq!(missing.status, 404, "{path}");
        assert!(missing.body.contains(said) && !missing.body.contains("This link is not valid"), "{}", missing.body);
    }
    // Each reconciled period opens the legacy and the new bill side by side.
    let period = page.body.split(&format!("/team/accounts/{account}/bills/")).nth(1).and_then(|r| r.get(..7));
    let period = period.expect("a period links to its bills").to_string();
    let bills = get(a, &format!("/team/accounts/{account}/bills/{period}"), &session).await;
    assert_eq!(bills.status, 200);
    assert!(bills.body.contains("id=\"legacy-bill\"") && bills.body.contains("id=\"new-bill\""), "{}", bills.body);
    assert!(bills.body.contains("PREVIEW"), "not cut over yet: the new bill is a preview: {}", bills.body);
    assert_eq!(get(a, &format!("/team/accounts/{account}/bills/{period}"), &[]).await.status, 401);
    let tcsrf = page.input("csrf").unwrap();
    // An action needs its token and a reason.
    let no_token = post(a, &format!("/team/accounts/{account}/waive"), &session, &[("reason", "checked")]).await;
    assert_eq!(no_token.status, 403);
    let no_reason = post(a, &format!("/team/accounts/{account}/waive"), &session, &[("csrf", &tcsrf)]).await;
    assert_eq!(no_reason.status, 422);
    // This account passed: there is no failure to waive, and the page says so.
    let refused =
        post(a, &format!("/team/accounts/{account}/waive"), &session, &[("csrf", &tcsrf), ("reason", "just in case")])
            .await;
    assert_ne!(refused.status, 200, "{}", refused.body);
    assert!(refused.body.contains("has no failed reconciliation to waive"), "{}", refused.body);
    // One whose reconciliation failed is waived, under the signed-in name.
    let held = String::from_utf8_lossy(
        &cutover(ws.path())
            .args(["status", "--wave", "dc1-colocation", "--state", "held", "--format", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    let held: serde_json::Value = serde_json::from_str(&held).unwrap();
    let failing = held["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["reason"].as_str().is_some_and(|w| w.starts_with("reconciliation failed")))
        .unwrap_or_else(|| panic!("a dc1 account whose reconciliation failed: {held}"))["account_number"]
        .as_str()
        .unwrap()
        .to_string();
    let waived = post(
        a,
        &format!("/team/accounts/{failing}/waive"),
        &session,
        &[("csrf", &tcsrf), ("reason", "credit agreed with the customer")],
    )
    .await;
    assert_eq!(waived.status, 200, "{}", waived.body);
    drop(server);

    // The store: the submission, journaled on the account; the waiver under the signed-in name.
    let rows = journal(ws.path(), &account);
    let by = |needle: &str| rows.iter().find(|r| r["reason"].as_str().unwrap_or("").contains(needle)).cloned();
    let sub = by("from the portal's email form").unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(sub["actor"], "customer (portal link)");
    assert!(sub["reason"].as_str().unwrap().contains("ap@new-billing.example, it@new-billing.example"));
    assert_eq!(sub["from"], sub["to"], "a journal row without a state change");
    let waiver_rows = journal(ws.path(), &failing);
    let w = waiver_rows
        .iter()
        .find(|r| r["reason"].as_str().unwrap_or("").contains("credit agreed with the customer"))
        .unwrap_or_else(|| panic!("{waiver_rows:?}"));
    assert_eq!(w["actor"], MEMBER);
    assert_eq!(rows.iter().filter(|r| r["reason"].as_str().unwrap_or("").contains("portal's email form")).count(), 1);

    // After the first new bill plus the grace days the link gets the same page as a forged one.
    let later = serve(ws.path(), "2019-01-01");
    let expired = get(&later.addr, &format!("/c/{token}"), &[]).await;
    assert_eq!((expired.status, &expired.body), (404, &forged.body));
}

#[test]
fn without_a_portal_the_notices_carry_no_link_and_serve_says_what_is_missing() {
    let ws = support::csv_workspace();
    let out = cutover(ws.path()).args(["serve", "--listen", "127.0.0.1:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no `portal:` section"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A team member holds a notified account from its page (`hold`, under the signed-in name);
/// its customer then follows the notice's link: the page says the change is postponed and names
/// the date the notice gave, not that date as the change; another customer's page still
/// announces the change.
#[tokio::test(flavor = "multi_thread")]
async fn a_customer_held_after_the_notice_finds_the_change_postponed() {
    let ws = workspace_with_links().await;
    let links = outbox_links(ws.path());
    assert!(links.len() >= 2, "{links:?}");
    let (held, token) = links[0].clone();
    let (_, other) = links[1].clone();
    let status = cutover(ws.path()).args(["status", "--account", &held, "--format", "json"]).output().unwrap();
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["account"]["state"], "notified", "{status}");
    let told: chrono::NaiveDate = status["account"]["first_new_bill_date"].as_str().unwrap().parse().unwrap();
    let told = told.format("%B %-d, %Y").to_string();
    let server = serve(ws.path(), "2017-06-02");
    let a = server.addr.as_str();
    let before = get(a, &format!("/c/{token}"), &[]).await;
    assert!(before.body.contains(&format!("Your bill is changing on {told}")), "{}", before.body);

    let login = get(a, "/team/login", &[]).await;
    let pre = login.cookies();
    let lcsrf = login.input("csrf").unwrap();
    let signed = post(a, "/team/login", &pre, &[("csrf", &lcsrf), ("name", MEMBER), ("password", PASSWORD)]).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let session = signed.cookies();
    let page = get(a, &format!("/team/accounts/{held}"), &session).await;
    assert!(page.body.contains("id=\"hold\""), "a notified account can be held: {}", page.body);
    let tcsrf = page.input("csrf").unwrap();
    let done = post(
        a,
        &format!("/team/accounts/{held}/hold"),
        &session,
        &[("csrf", &tcsrf), ("reason", "customer disputes the rack count")],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let page = get(a, &format!("/team/accounts/{held}"), &session).await;
    assert!(!page.body.contains("id=\"hold\""), "held already: {}", page.body);

    let page = get(a, &format!("/c/{token}"), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("The change to your bill is postponed"), "{}", page.body);
    assert!(page.body.contains(&format!("Our notice gave <strong>{told}</strong>")), "{}", page.body);
    assert!(!page.body.contains("Your bill is changing on"), "{}", page.body);
    assert!(!page.body.contains("before you pay it"), "held, not rolled back: {}", page.body);
    // The form for billing addresses stays.
    assert!(page.body.contains(&format!("action=\"/c/{token}/emails\"")), "{}", page.body);

    let page = get(a, &format!("/c/{other}"), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Your bill is changing on"), "{}", page.body);
    assert!(!page.body.contains("postponed"), "{}", page.body);

    // Put back from its page, then run: its new dates are not the ones its notice gave, and no
    // notice gave them yet; the page still says postponed.
    let page = get(a, &format!("/team/accounts/{held}"), &session).await;
    assert!(page.body.contains("id=\"release\""), "a held account can be put back: {}", page.body);
    let back =
        post(a, &format!("/team/accounts/{held}/release"), &session, &[("csrf", &tcsrf), ("reason", "count agreed")])
            .await;
    assert_eq!(back.status, 200, "{}", back.body);
    let out = cutover(ws.path()).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-06-02"]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    let now = cutover(ws.path()).args(["status", "--account", &held, "--format", "json"]).output().unwrap();
    let now: Value = serde_json::from_slice(&now.stdout).unwrap();
    assert_ne!(now["account"]["state"], "notified", "{now}");
    let page = get(a, &format!("/c/{token}"), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("The change to your bill is postponed"), "{now}: {}", page.body);
    drop(server);

    let rows = journal(ws.path(), &held);
    let hold_row = rows.iter().rev().find(|r| r["to"] == "held" && r["from"] == "notified").cloned();
    let last = hold_row.unwrap_or_else(|| panic!("{rows:?}"));
    let last = &last;
    assert_eq!((last["from"].as_str(), last["to"].as_str()), (Some("notified"), Some("held")), "{rows:?}");
    assert_eq!(last["actor"], MEMBER);
    assert!(last["reason"].as_str().unwrap().contains("customer disputes the rack count"), "{last}");
}
