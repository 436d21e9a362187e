//! `switch` killed at several points (failpoints abort the real binary), then run again the same
//! day, the next day and a month later: no load-file row for an account that is not cut over,
//! every cut-over account in exactly one manifest, no set left without its manifest, and a rerun
//! writes the same bytes.

use super::support::{self, cutover};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A demo workspace stopped on 2017-06-29: dc1 accounts notified, due to cut over on 2017-06-30
/// (first new bill 2017-07-01), and any cut over earlier in June.
fn base() -> (tempfile::TempDir, PathBuf) {
    support::demo_until(80, 2017, "2017-06-30")
}

fn states(ws: &Path) -> BTreeMap<String, String> {
    let out = cutover(ws).args(["status", "--format", "json"]).output().unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["account_number"].as_str().unwrap().to_string(), a["state"].as_str().unwrap().to_string()))
        .collect()
}

fn column(path: &Path, col: &str) -> Vec<String> {
    let mut rdr = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let i =
        rdr.headers().unwrap().iter().position(|h| h == col).unwrap_or_else(|| panic!("{col} in {}", path.display()));
    rdr.records().map(|r| r.unwrap()[i].to_string()).collect()
}

/// Every file under import/, with its bytes.
fn snapshot(ws: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    support::files_under(&ws.join("import")).into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

/// The invariants; returns the cut-over accounts.
fn check(ws: &Path, when: &str) -> usize {
    let states = states(ws);
    let live = |a: &str| matches!(states.get(a).map(String::as_str), Some("cut_over" | "loaded"));
    let mut in_manifests: BTreeMap<String, u32> = BTreeMap::new();
    let mut in_account_files: BTreeMap<String, u32> = BTreeMap::new();
    for (path, _) in snapshot(ws) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(!name.ends_with(".tmp"), "{when}: a temp file is left: {}", path.display());
    }
    let wave_dir = ws.join("import/dc1-colocation");
    for set in std::fs::read_dir(&wave_dir).into_iter().flatten() {
        let set = set.unwrap().path();
        let manifest = set.join("manifest.json");
        assert!(manifest.exists(), "{when}: {} has no manifest", set.display());
        let m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
        let listed: Vec<String> =
            m["accounts"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().into()).collect();
        let rows = column(&set.join("accounts-and-contacts.csv"), "Account Number");
        assert_eq!(listed, rows, "{when}: the manifest lists the accounts of its file");
        for a in &listed {
            *in_manifests.entry(a.clone()).or_default() += 1;
        }
        for a in rows {
            *in_account_files.entry(a).or_default() += 1;
        }
        for (file, col) in [
            ("accounts-and-contacts.csv", "Account Number"),
            ("subscriptions.csv", "Account Number"),
            ("usage.csv", "ACCOUNT_ID"),
            ("legacy-suppression.csv", "account_number"),
        ] {
            for a in column(&set.join(file), col) {
                assert!(
                    live(&a),
                    "{when}: {file} of {} has a row for {a}, which is {:?}",
                    set.display(),
                    states.get(&a)
                );
            }
        }
    }
    let cut: Vec<&String> = states.keys().filter(|a| live(a)).collect();
    for a in &cut {
        assert_eq!(in_manifests.get(*a), Some(&1), "{when}: {a} is cut over and must be in exactly one manifest");
        assert_eq!(in_account_files.get(*a), Some(&1), "{when}: {a} in exactly one accounts file");
    }
    cut.len()
}

fn switch(ws: &Path, day: &str, failpoint: Option<&str>) -> std::process::Output {
    let mut c = cutover(ws);
    c.args(["switch", "--wave", "dc1-colocation", "--as-of", day]);
    if let Some(f) = failpoint {
        c.env("CUTOVER_FAILPOINT", f);
    }
    c.output().unwrap()
}

#[test]
fn a_crashed_switch_rerun_later_leaves_no_file_without_its_state() {
    let (_keep, base) = base();
    let earlier = check(&base, "before");
    let notified = states(&base).values().filter(|s| *s == "notified").count();
    assert!(notified >= 5, "the workspace has accounts to switch ({notified})");
    // (failpoint, rerun day, accounts cut over after the rerun: all of them, or none when the
    // rerun comes on or after their first new bill date and their files were never written)
    let table = [
        ("switch.committed", "2017-06-30", true),
        ("switch.committed", "2017-07-01", false),
        ("switch.committed", "2017-07-30", false),
        ("switch.file_written@2", "2017-06-30", true),
        ("switch.file_written@2", "2017-07-01", false),
        ("switch.file_written@2", "2017-07-30", false),
        ("switch.published", "2017-06-30", true),
        ("switch.published", "2017-07-01", true),
        ("switch.published", "2017-07-30", true),
    ];
    for (failpoint, rerun, kept) in table {
        let when = format!("{failpoint}, rerun {rerun}");
        let trial = tempfile::tempdir().unwrap();
        super::support::copy_tree(&base, trial.path());
        let ws = trial.path();
        let crashed = switch(ws, "2017-06-30", Some(failpoint));
        assert!(!crashed.status.success(), "{when}: the failpoint aborts the run");
        assert!(String::from_utf8_lossy(&crashed.stderr).contains("failpoint"), "{when}");
        let committed = states(ws).values().filter(|s| *s == "cut_over").count() - earlier;
        assert!(committed > 0, "{when}: the crash came after accounts were committed");

        let out = switch(ws, rerun, None);
        assert!(out.status.code().is_some_and(|c| c <= 1), "{when}: {}", String::from_utf8_lossy(&out.stderr));
        let cut = check(ws, &when);
        assert_eq!(cut, earlier + if kept { committed } else { 0 }, "{when}");
        if !kept {
            let held = states(ws).values().filter(|s| *s == "held").count();
            assert!(held >= committed, "{when}: the interrupted accounts are held");
        }
        // Once more: the same bytes.
        let before = snapshot(ws);
        let again = switch(ws, rerun, None);
        assert!(again.status.code().is_some_and(|c| c <= 1));
        assert_eq!(snapshot(ws), before, "{when}: a rerun writes the same files");
        assert_eq!(check(ws, &when), cut);
    }
}

#[test]
fn a_switch_without_a_crash_writes_each_set_once_and_a_rerun_changes_no_byte() {
    let (_keep, ws) = base();
    let out = switch(&ws, "2017-06-30", None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cut = check(&ws, "switched");
    assert!(cut > 0);
    let sets: BTreeSet<_> = snapshot(&ws).keys().filter_map(|p| p.parent().map(Path::to_path_buf)).collect();
    let names: Vec<_> = sets.iter().map(|p| p.strip_prefix(&ws).unwrap().display().to_string()).collect();
    let out = cutover(&ws).args(["status", "--wave", "dc1-colocation", "--format", "json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dates: BTreeSet<String> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "cut_over")
        .map(|a| format!("import/dc1-colocation/{}", a["cutover_date"].as_str().unwrap()))
        .collect();
    assert!(dates.contains("import/dc1-colocation/2017-06-30"), "{dates:?}");
    assert_eq!(names, dates.into_iter().collect::<Vec<_>>(), "a set per cut-over date");
    let before = snapshot(&ws);
    for day in ["2017-06-30", "2017-07-01", "2017-08-15"] {
        assert!(switch(&ws, day, None).status.code().is_some_and(|c| c <= 1));
        assert_eq!(snapshot(&ws), before, "rerun on {day}");
    }
}
