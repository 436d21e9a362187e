//! Printed letters: each account's letter, and one print-ready file per day with that day's letters.

use super::smtp::{accounts_where, notices};
use super::support::{self, cutover};
use std::path::Path;

/// The demo's legacy system (120 accounts), where every fourth account has no billing email (a
/// letter instead) and every eighth no contact either (nothing can reach it: held),
/// scheduled as of 2017-05-01; notices go to the outbox folder.
async fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::copy_dir(&support::repo_waves(), &dir.path().join("waves"));
    let db = dir.path().join("legacy.db");
    let data = cutover::demo::generate::DemoData { accounts: 120, seed: 11, months: 12 };
    cutover::demo::generate::write_legacy_sqlite(&db, &data).await.unwrap();
    let url = format!("sqlite://{}", db.display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    for sql in [
        "UPDATE accounts SET bill_to_email = '' WHERE CAST(substr(account_number, 2) AS INTEGER) % 4 = 0",
        // A contact's work email is a billing address too (the notice and the bills go there).
        "UPDATE contacts SET work_email = '' WHERE CAST(substr(account_number, 2) AS INTEGER) % 4 = 0",
        "DELETE FROM contacts WHERE CAST(substr(account_number, 2) AS INTEGER) % 8 = 0",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    drop(conn);
    std::fs::write(
        dir.path().join("cutover.yaml"),
        "source: { kind: sql, url: \"sqlite://legacy.db\" }\n\
         sender: \"Atmosera Billing <billing@atmosera.example>\"\n",
    )
    .unwrap();
    let out = cutover(dir.path()).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    dir
}

fn notify(dir: &Path, day: &str) {
    let out = cutover(dir).args(["notify", "--wave", "dc1-colocation", "--as-of", day]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The text of `<address class="address">…</address>` in a letter.
fn address_block(html: &str) -> String {
    let start = html.find("<address class=\"address\">").expect("an address block") + 25;
    let end = start + html[start..].find("</address>").expect("the end of the address block");
    html[start..end].to_string()
}

#[tokio::test]
async fn a_days_letters_are_one_print_file_each_letter_once_and_a_rerun_writes_the_same_bytes() {
    let ws = workspace().await;
    let dir = ws.path();
    notify(dir, "2017-06-01");
    let report = notices(dir);
    let mut printed = accounts_where(&report, "channel", "print");
    printed.sort();
    assert!(printed.len() >= 2, "the demo data has accounts without a billing email: {report}");
    let print = dir.join("outbox/print");

    // Each account's letter: dated the run's day, addressed, no email-only wording.
    for a in &printed {
        let html = std::fs::read_to_string(print.join(format!("dc1-colocation-{a}-2017-07-01.html"))).unwrap();
        assert!(html.contains("<strong class=\"date\">June 1, 2017</strong>"), "{a}: the letter's date");
        assert!(html.contains("<div class=\"company\">Atmosera, Inc.</div>"), "{a}: the letterhead");
        for email_only in ["eply to this email", "sent by email by default"] {
            assert!(!html.contains(email_only), "{a}: the letter says {email_only:?}");
        }
        // Printed only with a postal address: an account with neither email nor address is held
        // before its notice (issue 10); a letter without one is rendered in the unit tests.
        let block = address_block(&html);
        assert!(
            block.ends_with("US<br>") && block.matches("<br>").count() >= 4,
            "{a}: name, street, city, country: {block}"
        );
        // Its preview is the letter, to that address, not an email.
        let out = cutover(dir).args(["notify", "--preview", a, "--as-of", "2017-06-01"]).output().unwrap();
        let shown = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{a}: {out:?}");
        assert!(shown.contains("A printed letter (no valid billing email), to:"), "{a}: {shown}");
        let street = block.split("<br>").nth(1).unwrap_or_default().trim();
        assert!(!street.is_empty() && shown.contains(street), "{a}: the address {street:?} in {shown}");
        assert!(!shown.contains("Subject:") && !shown.contains("sent by email by default"), "{a}: {shown}");
    }
    let held = cutover(dir).args(["status", "--wave", "dc1-colocation", "--format", "json"]).output().unwrap();
    let held = String::from_utf8_lossy(&held.stdout).to_string();
    assert!(held.contains("no postal address"), "an account with neither email nor address is held: {held}");

    // Amounts as people read them: thousands separated (`4,650.00`).
    let mut amounts = 0;
    for a in &printed {
        let html = std::fs::read_to_string(print.join(format!("dc1-colocation-{a}-2017-07-01.html"))).unwrap();
        for cell in html.split("<td class=\"amount\">").skip(1) {
            let cell = cell.trim_start_matches("<strong>");
            let text = cell.split(['<', ' ']).next().unwrap();
            let value: cutover::domain::Decimal = text.replace(',', "").parse().expect(text);
            assert_eq!(text, cutover::bill::money(value), "{a}");
            amounts += usize::from(value.abs() >= 1000.into());
        }
    }
    assert!(amounts >= 1, "some amount of a thousand or more was shown");

    // The day's file: every letter of the day once, in account order, under one head.
    let day_path = print.join("dc1-colocation-2017-06-01-letters.html");
    let day = std::fs::read_to_string(&day_path).expect("the day's letters file");
    assert_eq!(day.matches("<article class=\"letter\"").count(), printed.len(), "one letter per printed notice");
    let mut at = Vec::new();
    for a in &printed {
        let tag = format!("id=\"letter-{a}\"");
        assert_eq!(day.matches(&tag).count(), 1, "{a} once in the day's file");
        at.push(day.find(&tag).unwrap());
    }
    assert!(at.windows(2).all(|w| w[0] < w[1]), "in account order");
    assert_eq!(day.matches("<body").count(), 1);
    assert!(day.contains("break-after: page"), "a page break between letters");

    // A rerun sends nothing new and writes the same bytes; a lost day file is rebuilt the same.
    notify(dir, "2017-06-01");
    assert_eq!(std::fs::read_to_string(&day_path).unwrap(), day, "a rerun writes the same bytes");
    std::fs::remove_file(&day_path).unwrap();
    notify(dir, "2017-06-01");
    assert_eq!(std::fs::read_to_string(&day_path).unwrap(), day, "rebuilt from the notice rows");
    // A day file whose letters all went out on another day goes; another wave's stays.
    let stale = print.join("dc1-colocation-2017-05-20-letters.html");
    let other = print.join("dc1-colocation-east-2017-05-20-letters.html");
    std::fs::write(&stale, "old").unwrap();
    std::fs::write(&other, "other wave").unwrap();
    notify(dir, "2017-06-01");
    assert!(!stale.exists() && other.exists());
    std::fs::remove_file(&other).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(&print)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left: {leftovers:?}");
}
