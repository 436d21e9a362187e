//! The load files through the real binary: the demo's sets pass the repository's checker, a load
//! is confirmed from its result file (successes and failures), a rollback writes its reversal
//! and leaves the files, a rollback of an account that never cut over is refused, and a
//! rolled-back account is readmitted to a later wave and cut over there.

use super::support::{self, cutover};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn demo(accounts: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("demo");
    let out = cutover(dir.path())
        .args(["demo", "--dir"])
        .arg(&ws)
        .args(["--accounts", accounts, "--seed", "7"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir, ws)
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let out = cutover(dir).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn account(ws: &Path, number: &str) -> Value {
    json(ws, &["status", "--account", number, "--format", "json"])
}

fn column(path: &Path, col: &str) -> Vec<String> {
    let mut rdr = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let i = rdr.headers().unwrap().iter().position(|h| h == col).unwrap();
    rdr.records().map(|r| r.unwrap()[i].to_string()).collect()
}

fn manifest(set: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(set.join("manifest.json")).unwrap()).unwrap()
}

/// The set folders of a wave, with their manifests' accounts.
fn sets(ws: &Path, wave: &str) -> Vec<(PathBuf, Vec<String>)> {
    let mut out: Vec<_> = std::fs::read_dir(ws.join("import").join(wave))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let accounts =
                manifest(&p)["accounts"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
            (p, accounts)
        })
        .collect();
    out.sort();
    out
}

/// Runs the repository's checker of load files on a workspace.
fn checker(ws: &Path) -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check-load-files.py");
    let out = match std::process::Command::new("python3").arg(script).arg(ws).output() {
        Ok(o) => o,
        Err(_) => return support::missing_service("python3"),
    };
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "check-load-files.py: {text}");
    Some(text)
}

#[test]
fn the_demo_writes_load_files_that_check_and_a_load_is_confirmed_from_its_results() {
    let (_keep, ws) = demo("120");
    if let Some(out) = checker(&ws) {
        assert!(out.contains(", 0 problem(s)"), "{out}");
    }
    let status = cutover(&ws).args(["status", "--wave", "dc1-colocation"]).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(text.contains("load: 0 loaded, 0 failed, "), "{text}");
    // Multi-Tenant and Cloud cuts over after the demo's legacy history ends (October 2017): its
    // metered accounts have no usage of their last legacy period to load, and each set says so
    // in its README.txt as in its manifest.
    let late: Vec<(PathBuf, Value)> = sets(&ws, "multi-tenant-cloud")
        .into_iter()
        .map(|(set, _)| {
            let m = manifest(&set);
            (set, m)
        })
        .filter(|(_, m)| m["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("has no usage of")))
        .collect();
    assert!(!late.is_empty(), "a multi-tenant set without usage of its last legacy period");
    for (set, m) in &late {
        let readme = std::fs::read_to_string(set.join("README.txt")).unwrap();
        let notes = m["notes"].as_array().unwrap();
        assert!(readme.contains(&format!("Notes ({}; manifest.json has them too):", notes.len())), "{readme}");
        for n in notes {
            assert!(readme.contains(&format!("  - {}", n.as_str().unwrap())), "{readme}");
        }
    }

    // A set with at least two accounts: one loads, one is rejected, one row names a stranger.
    let (set, accounts) = sets(&ws, "dc1-colocation").into_iter().find(|(_, a)| a.len() >= 2).expect("a set of two");
    let (ok, bad) = (accounts[0].clone(), accounts[1].clone());
    let results = ws.join("results.csv");
    // No results file yet: the operator's input, said once, exit 2 (was exit 3, "cannot write",
    // with the cause twice).
    let out = cutover(&ws).args(["switch", "--confirm"]).arg(&results).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("results.csv: No such file or directory"), "{stderr}");
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
    std::fs::write(
        &results,
        format!("Account Number,Success,Id,Errors\n{ok},true,2c92a0fd5e,\n{bad},false,,\"Invalid value for BillCycleDay, 45\"\nZZ404,true,2c9,\n"),
    )
    .unwrap();
    let out = cutover(&ws).args(["switch", "--confirm"]).arg(&results).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "a failure and a stranger: {stdout}{stderr}");
    assert!(stdout.contains("1 loaded, 1 failed (back to held"), "{stdout}");
    assert!(stdout.contains(&format!("failed to load (held; the legacy system bills them): {bad}\n")), "{stdout}");
    assert!(stderr.contains("results.csv:4: no account ZZ404 in the state store (a typo?)"), "{stderr}");

    let a = account(&ws, &ok);
    assert_eq!(a["account"]["state"], "loaded");
    let first = a["account"]["first_new_bill_date"].clone();
    assert_eq!(a["suppression"]["suppress_billing_from"], first);
    assert_eq!(a["suppression"]["stop_payment_retries_from"], first);
    assert_eq!(a["suppression"]["last_legacy_service_through"], a["account"]["cutover_date"]);
    assert_eq!(
        (a["suppression"]["written"].as_bool(), a["suppression"]["final_usage_bill"].as_str()),
        (Some(true), Some("no"))
    );
    assert_eq!(a["suppression"]["in_force"], true, "loaded: the legacy system stops billing it");
    let text =
        String::from_utf8_lossy(&cutover(&ws).args(["status", "--account", &ok]).output().unwrap().stdout).to_string();
    assert!(text.contains(&format!("suppress billing from {}", first.as_str().unwrap())), "{text}");
    assert_eq!(a["suppression"]["target_id"], "2c92a0fd5e");
    assert_eq!(a["legacy_billing"], "suppressed");
    let b = account(&ws, &bad);
    assert_eq!(b["account"]["state"], "held");
    assert!(b["account"]["state_reason"].as_str().unwrap().contains("Invalid value for BillCycleDay, 45"), "{b}");
    assert_eq!(b["legacy_billing"], "restored");
    // Its status says the suppression was withdrawn, and why (not a rollback: the failed load).
    let text =
        String::from_utf8_lossy(&cutover(&ws).args(["status", "--account", &bad]).output().unwrap().stdout).to_string();
    assert!(text.contains("legacy suppression, withdrawn as its load failed (the legacy system bills from "), "{text}");

    // The rejected account left the set's files; rollback.csv says there is nothing to cancel.
    let rows = column(&set.join("accounts-and-contacts.csv"), "Account Number");
    assert!(rows.contains(&ok) && !rows.contains(&bad), "{rows:?}");
    assert!(!column(&set.join("legacy-suppression.csv"), "account_number").contains(&bad));
    let reversal = column(&set.join("rollback.csv"), "cancel_in_target");
    assert_eq!(column(&set.join("rollback.csv"), "account_number"), [bad.as_str()]);
    assert!(reversal[0].starts_with("nothing to cancel: the target rejected the load"), "{reversal:?}");
    assert_eq!(manifest(&set)["rolled_back"], serde_json::json!([bad]));
    let text =
        String::from_utf8_lossy(&cutover(&ws).args(["status", "--wave", "dc1-colocation"]).output().unwrap().stdout)
            .to_string();
    assert!(text.contains("load: 1 loaded, 1 failed, "), "{text}");
    if let Some(out) = checker(&ws) {
        assert!(out.contains(", 0 problem(s)"), "{out}");
    }

    // The same results again: nothing changes.
    let before = std::fs::read(set.join("manifest.json")).unwrap();
    let journal = account(&ws, &ok)["journal"].as_array().unwrap().len();
    let again = cutover(&ws).args(["switch", "--confirm"]).arg(&results).output().unwrap();
    let again_out = String::from_utf8_lossy(&again.stdout).to_string() + &String::from_utf8_lossy(&again.stderr);
    assert!(again_out.contains("0 loaded, 0 failed, 2 unchanged"), "{again_out}");
    // Its failed row still needs a person: named again, and exit 1 as the first time.
    assert!(again_out.contains(&format!("failed to load (held; the legacy system bills them): {bad}")), "{again_out}");
    assert_eq!(again.status.code(), Some(1), "{again_out}");
    assert_eq!(std::fs::read(set.join("manifest.json")).unwrap(), before);
    assert_eq!(account(&ws, &ok)["journal"].as_array().unwrap().len(), journal);

    // One account listed twice in a file (results are applied a page at a time): the first row
    // applies, the second finds it loaded and does not apply.
    let third = sets(&ws, "dc1-colocation")
        .into_iter()
        .flat_map(|(_, a)| a)
        .find(|a| *a != ok && *a != bad)
        .expect("a third cut-over account");
    std::fs::write(&results, format!("Account Number,Success,Id,Errors\n{third},true,2c93,\n{third},false,,late\n"))
        .unwrap();
    let out = cutover(&ws).args(["switch", "--confirm"]).arg(&results).output().unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
    assert!(stdout.contains("1 loaded, 0 failed"), "{stdout}{stderr}");
    assert!(stderr.contains(&format!("results.csv:3: account {third} is loaded")), "{stderr}");
    let t = account(&ws, &third);
    assert_eq!(
        (t["account"]["state"].as_str(), t["suppression"]["target_id"].as_str()),
        (Some("loaded"), Some("2c93"))
    );

    // A file without the columns is refused whole.
    std::fs::write(&results, "who,what\nA1,ok\n").unwrap();
    let out = cutover(&ws).args(["switch", "--confirm"]).arg(&results).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("account number column"));
}

#[test]
fn a_rollback_writes_its_reversal_and_a_readmitted_account_cuts_over_in_a_later_wave() {
    let (_keep, ws) = demo("120");
    let status = json(&ws, &["status", "--format", "json"]);
    let all = status["accounts"].as_array().unwrap();
    let pick = |state: &str, wave: &str| -> String {
        all.iter().find(|a| a["state"] == state && a["wave"] == wave).unwrap()["account_number"]
            .as_str()
            .unwrap()
            .into()
    };

    // Refused: an account that never cut over (held, or not even rated).
    for state in ["held", "extracted"] {
        let never = all.iter().find(|a| a["state"] == state).unwrap()["account_number"].as_str().unwrap();
        let out = cutover(&ws).args(["rollback", never, "--reason", "try"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("account {never} is {state}, not cut over: there is nothing to roll back")),
            "{err}"
        );
        assert_eq!(account(&ws, never)["account"]["state"], state);
    }

    // Confirm one dc1 account's load, then roll it back.
    let victim = pick("cut_over", "dc1-colocation");
    let cut_before = account(&ws, &victim)["account"]["cutover_date"].as_str().unwrap().to_string();
    let results = ws.join("results.csv");
    std::fs::write(&results, format!("account_number,status,target_id,error\n{victim},success,2c9Z,\n")).unwrap();
    assert!(cutover(&ws).args(["switch", "--confirm"]).arg(&results).output().unwrap().status.success());
    let set = sets(&ws, "dc1-colocation").into_iter().find(|(_, a)| a.contains(&victim)).unwrap().0;
    let out =
        cutover(&ws).args(["rollback", &victim, "--reason", "customer disputes the power overage"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first_bill = account(&ws, &victim)["account"]["first_new_bill_date"].as_str().unwrap().to_string();
    assert!(!manifest(&set)["accounts"].as_array().unwrap().iter().any(|a| a == victim.as_str()));
    assert!(!column(&set.join("accounts-and-contacts.csv"), "Account Number").contains(&victim));
    let rb = set.join("rollback.csv");
    assert_eq!(column(&rb, "account_number"), [victim.as_str()]);
    assert_eq!(column(&rb, "target_id"), ["2c9Z"]);
    assert_eq!(column(&rb, "resume_legacy_billing_from"), [first_bill.as_str()]);
    assert!(column(&rb, "cancel_in_target")[0].starts_with(&format!("cancel subscription S-{victim}")));
    assert_eq!(column(&rb, "reason"), ["customer disputes the power overage"]);
    let one = account(&ws, &victim);
    assert_eq!(
        (one["account"]["state"].as_str(), one["legacy_billing"].as_str()),
        (Some("rolled_back"), Some("restored"))
    );
    assert_eq!(
        (one["suppression"]["written"].as_bool(), one["suppression"]["in_force"].as_bool()),
        (Some(true), Some(false)),
        "written, then withdrawn by the rollback: {one}"
    );
    let again = cutover(&ws).args(["rollback", &victim, "--reason", "twice"]).output().unwrap();
    let said = String::from_utf8_lossy(&again.stdout).to_string();
    assert!(
        said.contains("already rolled back (")
            && said.contains("customer disputes the power overage")
            && said.contains("nothing changed, and this reason was not recorded"),
        "the earlier rollback, and that this one's reason is not kept: {said}"
    );
    assert_eq!(column(&rb, "account_number").len(), 1, "a second rollback adds no reversal");

    // Readmit: not to a wave that is over, nor one that is not dated; then to dc3.
    let over = cutover(&ws)
        .args(["readmit", &victim, "--wave", "dc1-colocation", "--reason", "fixed", "--as-of", "2017-09-01"])
        .output()
        .unwrap();
    assert_eq!(over.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&over.stderr).contains("ended on 2017-08-03"));
    // Nor dated before the cut-over it comes back from, nor to a wave that cannot schedule it
    // (its notice would be late for every bill cycle left in the window): it would only be held.
    let early = cutover(&ws)
        .args(["readmit", &victim, "--wave", "dc3-colocation", "--reason", "fixed", "--as-of", "2017-06-01"])
        .output()
        .unwrap();
    assert_eq!(early.status.code(), Some(2), "{early:?}");
    let err = String::from_utf8_lossy(&early.stderr);
    assert!(err.contains(&format!("2017-06-01 is before {victim}'s cut-over on {cut_before}")), "{err}");
    let late_day = std::cmp::max(cut_before.clone(), "2017-07-20".to_string());
    let late = cutover(&ws)
        .args(["readmit", &victim, "--wave", "dc1-colocation", "--reason", "fixed", "--as-of", &late_day])
        .output()
        .unwrap();
    assert_eq!(late.status.code(), Some(2), "{late:?}");
    let err = String::from_utf8_lossy(&late.stderr);
    assert!(
        err.contains(&format!("wave `dc1-colocation` cannot take {victim} as of {late_day}: not schedulable")),
        "{err}"
    );
    assert_eq!(account(&ws, &victim)["account"]["state"], "rolled_back", "nothing changed");
    let out = cutover(&ws)
        .args([
            "readmit",
            &victim,
            "--wave",
            "dc3-colocation",
            "--reason",
            "overage explained",
            "--as-of",
            "2017-09-01",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let one = account(&ws, &victim);
    assert_eq!(
        (one["account"]["state"].as_str(), one["account"]["wave"].as_str()),
        (Some("extracted"), Some("dc3-colocation"))
    );
    let last = one["journal"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["from"].as_str(), last["to"].as_str()), (Some("rolled_back"), Some("extracted")));
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("readmitted to wave dc3-colocation (was dc1-colocation): overage explained")
    );
    // Readmitted (`extracted` again), its earlier suppression is still said to be withdrawn by the
    // rollback, not by a failed load it never had.
    let text = String::from_utf8_lossy(&cutover(&ws).args(["status", "--account", &victim]).output().unwrap().stdout)
        .to_string();
    assert!(text.contains("legacy suppression, withdrawn by the rollback"), "{text}");
    assert!(text.contains("suppression record withdrawn: see its rollback.csv"), "{text}");

    // The later wave takes it through again: rated and scheduled, notified, cut over.
    let run = |day: &str| {
        let out = cutover(&ws).args(["run", "--wave", "dc3-colocation", "--as-of", day]).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    };
    run("2017-09-01");
    let one = account(&ws, &victim);
    let notice = one["account"]["notice_date"].as_str().expect("scheduled in dc3").to_string();
    let cut = one["account"]["cutover_date"].as_str().unwrap().to_string();
    assert!(cut.as_str() >= "2017-11-01", "inside dc3's window: {cut}");
    run(&notice);
    assert_eq!(account(&ws, &victim)["account"]["state"], "notified");
    // Its second notice says the first one's date no longer holds (email or letter).
    let stem = format!("dc3-colocation-{victim}-");
    let second: Vec<String> = ["outbox", "outbox/print"]
        .iter()
        .flat_map(|d| std::fs::read_dir(ws.join(d)).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&stem)))
        .map(|p| std::fs::read_to_string(p).unwrap().replace("=\r\n", "").replace("=\n", ""))
        .collect();
    let earlier = chrono::NaiveDate::parse_from_str(&first_bill, "%Y-%m-%d").unwrap().format("%B %-d, %Y").to_string();
    assert_eq!(second.len(), 1, "one notice in dc3");
    assert!(
        second[0].contains(&format!("This notice replaces our earlier one, which gave {earlier} as the date")),
        "{}",
        second[0]
    );
    run(&cut);
    assert_eq!(account(&ws, &victim)["account"]["state"], "cut_over");
    let new_set = ws.join("import/dc3-colocation").join(&cut);
    assert!(manifest(&new_set)["accounts"].as_array().unwrap().iter().any(|a| a == victim.as_str()));
    // The new set creates the same ids again: its notes point to the reversal to do first.
    let notes = manifest(&new_set)["notes"].clone();
    let pointer = notes
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .find(|n| n.starts_with(&format!("{victim}: cut over before and rolled back; ")))
        .unwrap_or_else(|| panic!("{notes}"))
        .to_string();
    assert!(
        pointer.contains(&format!("import/dc1-colocation/{}/rollback.csv", set.file_name().unwrap().to_string_lossy()))
            && !pointer.contains(&ws.display().to_string())
            && pointer.contains(&format!("cancel subscription S-{victim}"))
            && pointer.contains("2c9Z"),
        "{pointer}"
    );
    assert!(std::fs::read_to_string(new_set.join("README.txt")).unwrap().contains(&pointer));
    assert_eq!(column(&rb, "account_number"), [victim.as_str()], "the old set keeps its reversal");
    if let Some(out) = checker(&ws) {
        assert!(out.contains(", 0 problem(s)"), "{out}");
    }
}

#[test]
fn an_account_no_email_or_letter_can_reach_is_held_before_its_notice() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    // A002 loses its billing email; its only contact row has an unknown role (quarantined).
    let accounts = std::fs::read_to_string(dir.join("legacy/accounts.csv")).unwrap();
    std::fs::write(dir.join("legacy/accounts.csv"), accounts.replace("billing@rainier.example.com", "")).unwrap();
    let out = cutover(dir).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let a = account(dir, "A002");
    assert_eq!(a["account"]["state"], "held");
    let why = a["account"]["state_reason"].as_str().unwrap();
    assert!(why.contains("no valid billing email and no postal address"), "{why}");
    // A003 has no email either, but a postal address: it goes on.
    let a3 = account(dir, "A003");
    assert!(!a3["account"]["state_reason"].as_str().unwrap_or("").contains("no postal address"), "{a3}");
    // A contact with an address, a recheck: it goes on.
    let contacts = std::fs::read_to_string(dir.join("legacy/contacts.csv")).unwrap();
    std::fs::write(
        dir.join("legacy/contacts.csv"),
        contacts.replace("A002,billing,Robin,Rossi,,,,,,,,", "A002,bill_to,Robin,Rossi,,,9 Elm St,,Salem,OR,97301,US"),
    )
    .unwrap();
    assert!(cutover(dir).arg("extract").output().unwrap().status.success());
    let out = cutover(dir)
        .args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-02", "--recheck-held"])
        .output()
        .unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1));
    assert_eq!(account(dir, "A002")["account"]["state"], "reconciled");
}

#[test]
fn plan_check_requires_the_target_ids_with_their_position() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    let catalog = dir.join("waves/catalog.yaml");
    let text = std::fs::read_to_string(&catalog).unwrap();
    let line = text.lines().find(|l| l.contains("product_rate_plan_charge_id")).unwrap().to_string();
    std::fs::write(&catalog, text.replacen(&format!("{line}\n"), "", 1)).unwrap();
    let out = cutover(dir).args(["plan", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "waves/catalog.yaml:14:9: charge `cabinet-space` of product `colo-cabinet` has no `product_rate_plan_charge_id`"
        ),
        "{err}"
    );
    let out = cutover(dir).args(["switch", "--wave", "dc1-colocation", "--as-of", "2017-06-30"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no switch without the ids");
}
