//! The command line, run as a user runs it: the real binary, real files, real exit codes.

use super::support;
use serde_json::Value;
use std::path::Path;

use support::cutover;

/// The account numbers of a `status --format json` whose rows `keep` says.
fn numbers(status: &Value, keep: impl Fn(&Value) -> bool) -> Vec<String> {
    let rows = status["accounts"].as_array().unwrap_or_else(|| panic!("{status}"));
    rows.iter().filter(|a| keep(a)).map(|a| a["account_number"].as_str().unwrap().to_string()).collect()
}

fn json(dir: &Path, args: &[&str]) -> Value {
    let out = cutover(dir).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn plan_check_lists_every_problem_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("waves")).unwrap();
    std::fs::copy(support::repo_waves().join("catalog.yaml"), dir.path().join("waves/catalog.yaml")).unwrap();
    std::fs::write(
        dir.path().join("waves/bad.yaml"),
        "id: dc9\nname: DC9\nselect: { segment: [colocation], site: [DC9] }\nstart: 2017-02-30\nduration_days: -60\ncolour: blue\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("cutover.yaml"), "source: { kind: csv, path: legacy/ }\n").unwrap();
    let out = cutover(dir.path()).args(["plan", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<_> = stderr.lines().filter(|l| l.starts_with("waves/bad.yaml:")).collect();
    let expected = [
        "waves/bad.yaml:4:8: `start`: `2017-02-30` is no day of the calendar (YYYY-MM-DD: that month has no such day)",
        "waves/bad.yaml:5:16: `duration_days` must be positive (got -60): the window would be empty",
        "waves/bad.yaml:6:1: unknown field `colour` in the wave (known: ",
    ];
    assert_eq!(lines.len(), 3, "{stderr}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.starts_with(want), "{line:?} should start with {want:?}");
    }
    assert_eq!(stderr.lines().filter(|l| l.contains(".yaml:")).count(), 3, "{stderr}");

    let ok = support::csv_workspace();
    let out = cutover(ok.path()).args(["plan", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("waves/internet-wireless.yaml:4:8: warning: `start` is null")
    );
}

#[test]
fn bill_and_reconcile_work_on_a_fresh_workspace_without_writing_state() {
    let ws = support::csv_workspace();
    let bill = json(ws.path(), &["bill", "A001", "--period", "2017-04", "--format", "json"]);
    // 3000.00 cabinets + 280.00 cross connect + March's power in arrears (620 kWh over x 0.12)
    assert_eq!(bill["total"], "3354.40");
    assert_eq!(bill["lines"][0]["amount"], "3000.00", "money is a JSON string");
    // Lines in catalog order: Colocation Space, Power, then Connectivity's partial cross connect.
    let groups: Vec<&str> = bill["lines"].as_array().unwrap().iter().map(|l| l["group"].as_str().unwrap()).collect();
    assert_eq!(groups, ["Colocation Space", "Power", "Connectivity"]);
    assert_eq!(bill["lines"][1]["uom"], "kWh", "usage carries its unit");
    assert_eq!(bill["lines"][2]["service_start"], "2017-04-17");
    assert_eq!(bill["document"], "preview", "an account not cut over gets a preview, not an invoice");
    let legacy = cutover(ws.path()).args(["bill", "A001", "--period", "2017-04", "--legacy"]).output().unwrap();
    assert!(String::from_utf8_lossy(&legacy.stdout).contains("TOTAL      3354.40"));
    let out = cutover(ws.path()).args(["reconcile", "--wave", "dc1-colocation", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a failing account makes the report exit 1");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["summary"]["accounts"].as_u64(), r["summary"]["failed"].as_u64(), r["gate"].as_str()),
        (Some(3), Some(1), Some("pause"))
    );
    assert_eq!(r["accounts"][0]["periods"][0]["reasons"][0], "unmapped_product");
    assert!(!ws.path().join(".cutover").exists(), "a fresh-workspace report stores nothing");
    let csv = cutover(ws.path()).args(["reconcile", "--wave", "dc1-colocation", "--format", "csv"]).output().unwrap();
    assert!(String::from_utf8_lossy(&csv.stdout).starts_with("wave,account_number,account_status,period"));
    let missing = cutover(ws.path()).args(["bill", "A999", "--period", "2017-04"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn the_new_bill_has_its_header_groups_and_payment_stub() {
    let ws = support::csv_workspace();
    let run = |args: &[&str]| {
        let out = cutover(ws.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&["bill", "A001", "--period", "2017-04"]);
    for needle in [
        "Account       A001  Cascade Logistics LLC",
        "Invoice       INV-A001-201704",
        // Not cut over: a preview, which asks for nothing (the stub shows where to pay from the
        // first new bill on).
        "PREVIEW",
        "Total         USD 3,354.40",
        "Due date  May 1, 2017",
        "Subtotal Colocation Space",
        "14/30 days x 2 x 300.00",
        "(partial period)",
        "TOTAL                                                             USD 3,354.40",
        "PAYMENT STUB",
        "P.O. Box 2712",
    ] {
        assert!(text.contains(needle), "text bill lacks {needle:?}:\n{text}");
    }
    let html = run(&["bill", "A001", "--period", "2017-04", "--format", "html"]);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("id=\"payment-stub\""));
    assert!(html.contains("How to read your bill") && !html.contains("http"), "self-contained");
    let bill = json(ws.path(), &["bill", "A001", "--period", "2017-04", "--format", "json"]);
    assert_eq!(
        (bill["invoice_number"].as_str(), bill["bill_date"].as_str(), bill["due_date"].as_str()),
        (Some("INV-A001-201704"), Some("2017-04-01"), Some("2017-05-01"))
    );
    assert_eq!(bill["lines"][2]["calculation"], "14/30 days x 2 x 300.00");
    assert_eq!(bill["lines"][2]["charge_type"], "recurring");
    // A004 bills in CAD, which the repository's catalog cannot price: refused, with the reason.
    let cad = cutover(ws.path()).args(["bill", "A004", "--period", "2017-04"]).output().unwrap();
    assert_eq!(cad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&cad.stderr).contains("bills in CAD, which the catalog cannot price (it prices USD)"),
        "{}",
        String::from_utf8_lossy(&cad.stderr)
    );
}

#[test]
fn the_engine_quarantines_an_account_in_a_currency_the_catalog_cannot_price() {
    let ws = support::csv_workspace();
    let out = cutover(ws.path()).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let one = json(ws.path(), &["status", "--account", "A004", "--format", "json"]);
    assert_eq!(one["account"]["state"], "quarantined", "{one}");
    assert_eq!(
        one["account"]["state_reason"], "account A004 bills in CAD, which the catalog cannot price (it prices USD)",
        "{one}"
    );
}

#[test]
fn the_rating_benchmark_reports_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = cutover(dir.path()).args(["bench", "rate", "--lines", "1000"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for label in ["lines rated", "lines per second", "wall time", "peak memory", "machine"] {
        assert!(text.lines().any(|l| l.starts_with(label)), "no {label:?} in:\n{text}");
    }
}

#[test]
fn run_refuses_an_undated_wave_and_says_why() {
    let ws = support::csv_workspace();
    let out =
        cutover(ws.path()).args(["run", "--wave", "internet-wireless", "--as-of", "2017-05-01"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "wave `internet-wireless` is not scheduled yet (its `start` is null in waves/internet-wireless.yaml)"
        ),
        "{err}"
    );
    let out = cutover(ws.path()).args(["run", "--wave", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `demo --workers 2` rates and reconciles with two threads on one SQLite store (their writes
/// take turns): every account ends where one thread leaves it, with the same notices. 800
/// accounts, so that the first simulated day, which rates every dated wave at once, gives each
/// wave more than one page (pages of at least 100 with two workers).
#[test]
fn demo_with_two_workers_ends_like_demo_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut ends = Vec::new();
    for workers in ["1", "2"] {
        let demo = dir.path().join(format!("demo-{workers}"));
        let out = cutover(dir.path())
            .args(["demo", "--dir"])
            .arg(&demo)
            .args(["--accounts", "800", "--seed", "7", "--workers", workers])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut emails: Vec<_> = std::fs::read_dir(demo.join("outbox"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".eml"))
            .collect();
        emails.sort();
        assert!(!emails.is_empty());
        let status = json(&demo, &["status", "--format", "json"]);
        assert!(status["accounts"].as_array().is_some_and(|a| a.len() >= 800));
        // The reasons name the load files' folder, which differs by the demo's folder only.
        let status = status.to_string().replace(&demo.display().to_string(), "DEMO");
        ends.push((status, emails));
    }
    assert_eq!(ends[0], ends[1], "one worker and two end alike");
}

#[test]
fn demo_runs_every_dated_wave_and_a_second_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    // Started as the README's first command starts it (`cargo run` puts these in the
    // environment of what it runs), from a folder outside the checkout
    // (`cargo run --manifest-path ...`).
    let out = cutover(dir.path())
        .current_dir(dir.path())
        .args(["demo", "--dir"])
        .arg(&demo)
        .args(["--accounts", "150", "--seed", "7"])
        .env("CARGO", "cargo")
        .env("CARGO_PKG_NAME", "cutover")
        .env("CARGO_MANIFEST_DIR", env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    for wave in ["dc1-colocation", "dc2-colocation", "dc3-colocation", "multi-tenant-cloud"] {
        let row = summary.lines().find(|l| l.starts_with(wave)).unwrap_or_else(|| panic!("{wave} in {summary}"));
        let cut_over: u64 = row.split_whitespace().nth(6).unwrap().parse().unwrap();
        assert!(cut_over > 0, "{wave} cut over nobody: {row}");
    }
    // The summary says where the other commands work: the demo's folder (the next lines run one),
    // with the command as `cargo run` runs it, in the build it was run from, naming the checkout's
    // manifest: this folder (a temporary one) is not in the checkout, so a bare `cargo run` here
    // would find no package.
    let next = summary.lines().find(|l| l.starts_with("next: ")).unwrap_or_else(|| panic!("{summary}"));
    let d = demo.display();
    let release = assert_cmd::cargo::cargo_bin("cutover").parent().is_some_and(|p| p.ends_with("release"));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let run =
        format!("cargo run {}--manifest-path {} -- -C", if release { "--release " } else { "" }, manifest.display());
    assert!(next.starts_with(&format!("next: {run} {d} status ")), "{next}");

    let status = json(&demo, &["status", "--format", "json"]);
    let accounts = status["accounts"].as_array().unwrap();
    assert!(accounts.len() >= 150);
    let plan = support::plan();
    let mut cut = 0;
    for a in accounts {
        let state = a["state"].as_str().unwrap();
        let wave = a["wave"].as_str().and_then(|w| plan.wave(w));
        if state == "cut_over" {
            cut += 1;
            let d = |k: &str| a[k].as_str().unwrap().parse::<chrono::NaiveDate>().unwrap();
            let (c, b, n) = (d("cutover_date"), d("first_new_bill_date"), d("notice_date"));
            let w = wave.expect("a cut-over account has a wave");
            assert_eq!(c.succ_opt().unwrap(), b, "cut over the day before the first new bill");
            assert_eq!(cutover::domain::add_months(b, -1), Some(n), "notice one month before");
            assert!(w.start.unwrap() <= c && c <= w.end().unwrap(), "cut-over inside the window");
        }
    }
    assert!(cut > 0);
    let emails = std::fs::read_dir(demo.join("outbox"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml"))
        .count();
    assert!(emails > 0);

    // Run inside the demo's folder, `demo` would build a second demo nested in it: it says so
    // and writes nothing.
    let inside = assert_cmd::Command::cargo_bin("cutover")
        .unwrap()
        .current_dir(&demo)
        .env("CUTOVER_ACTOR", "test")
        .arg("demo")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&inside.stderr);
    assert_eq!(inside.status.code(), Some(2), "{err}");
    assert!(err.contains("a cutover workspace already"), "{err}");
    assert!(!demo.join("cutover-demo").exists(), "no demo nested in the demo");

    // The second run: nothing sent, nothing changed.
    // Started by name this time (`cutover` on the PATH): the next step is shown by name too.
    let bin = assert_cmd::cargo::cargo_bin("cutover");
    let path = std::env::join_paths(
        std::iter::once(bin.parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let again = std::process::Command::new("cutover")
        .env("PATH", &path)
        .current_dir(dir.path())
        .args(["demo", "--dir"])
        .arg(&demo)
        .args(["--accounts", "150", "--seed", "7"])
        .env_remove("CARGO")
        .env_remove("CARGO_PKG_NAME")
        .env_remove("CUTOVER_STORE_URL")
        .env_remove("CUTOVER_SOURCE_URL")
        .env_remove("CUTOVER_FAILPOINT")
        .env("CUTOVER_ACTOR", "test")
        .output()
        .unwrap();
    assert!(again.status.success());
    let summary = String::from_utf8_lossy(&again.stdout).to_string();
    assert!(summary.contains("nothing to do"), "{summary}");
    let next = summary.lines().find(|l| l.starts_with("next: ")).unwrap_or_else(|| panic!("{summary}"));
    assert!(
        next.contains(&format!("cd {d} && cutover status")) && next.contains(&format!("cutover -C {d} status")),
        "{next}"
    );
    // Run by its path (not on the PATH): the next step names that path.
    let by_path = cutover(dir.path())
        .args(["demo", "--dir"])
        .arg(&demo)
        .args(["--accounts", "150", "--seed", "7"])
        .env_remove("CARGO")
        .env_remove("CARGO_PKG_NAME")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&by_path.stdout).to_string();
    let next = said.lines().find(|l| l.starts_with("next: ")).unwrap_or_else(|| panic!("{said}"));
    let exe = std::fs::canonicalize(&bin).unwrap_or(bin.clone());
    assert!(
        next.contains(&format!("cd {d} && {} status", exe.display()))
            || next.contains(&format!("cd {d} && {} status", bin.display())),
        "{next}"
    );
    let emails_again = std::fs::read_dir(demo.join("outbox"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "eml"))
        .count();
    assert_eq!(emails, emails_again);
    assert_eq!(status, json(&demo, &["status", "--format", "json"]), "no state changed");

    // Roll back one cut-over account: it, and no other, moves; its journal says why.
    // (A dc1 account: the demo's legacy history, to October 2017, has bills after its cut-over.)
    let victim =
        accounts.iter().find(|a| a["state"] == "cut_over" && a["wave"] == "dc1-colocation").unwrap()["account_number"]
            .as_str()
            .unwrap()
            .to_string();
    // The legacy bill of a period it was to stop billing is flagged (stderr: the bill itself is
    // the output); after the rollback the legacy system bills it again, and nothing is flagged.
    let first = accounts.iter().find(|a| a["account_number"] == victim.as_str()).unwrap()["first_new_bill_date"]
        .as_str()
        .unwrap()[..7]
        .to_string();
    let legacy_bill = || cutover(&demo).args(["bill", &victim, "--period", &first, "--legacy"]).output().unwrap();
    let flagged = legacy_bill();
    assert!(flagged.status.success());
    let said = String::from_utf8_lossy(&flagged.stderr).to_string();
    assert!(
        said.contains("it billed this period anyway (") && said.contains("a second bill to the customer"),
        "{said}"
    );
    // A period of the suppression with no legacy bill says so, and warns of nothing.
    // (The demo's legacy history ends in October 2017.)
    let quiet = cutover(&demo).args(["bill", &victim, "--period", "2018-06", "--legacy"]).output().unwrap();
    assert!(quiet.status.success(), "{quiet:?}");
    let said = String::from_utf8_lossy(&quiet.stderr).to_string();
    assert!(said.contains("hold no second bill for it, or one credited") && !said.contains("anyway"), "{said}");
    let out =
        cutover(&demo).args(["rollback", &victim, "--reason", "customer disputes the power overage"]).output().unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&legacy_bill().stderr).contains("twice"), "legacy billing restored");
    // It says from when the legacy system bills again, and (that day being long past, in 2017)
    // that the target's bills since must be credited.
    let said = String::from_utf8_lossy(&out.stdout);
    let bill = accounts.iter().find(|a| a["account_number"] == victim.as_str()).unwrap()["first_new_bill_date"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(said.contains(&format!("legacy billing resumes from {bill}; the reversal record is in ")), "{said}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("first new bill date, {bill}, has passed")), "{err}");
    // Its status no longer shows the legacy suppression as if it were in force.
    let shown = String::from_utf8_lossy(&cutover(&demo).args(["status", &victim]).output().unwrap().stdout).to_string();
    assert!(
        shown.contains(&format!(
            "legacy suppression, withdrawn by the rollback (the legacy system bills from {bill} again)"
        )),
        "{shown}"
    );
    let after = json(&demo, &["status", "--format", "json"]);
    for (a, b) in status["accounts"].as_array().unwrap().iter().zip(after["accounts"].as_array().unwrap()) {
        if a["account_number"] == victim.as_str() {
            assert_eq!(b["state"], "rolled_back");
        } else {
            assert_eq!(a, b, "only the rolled-back account changes");
        }
    }
    let one = json(&demo, &["status", "--account", &victim, "--format", "json"]);
    assert_eq!(one["legacy_billing"], "restored");
    let last = one["journal"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["from"].as_str(), last["to"].as_str()), (Some("cut_over"), Some("rolled_back")));
    assert!(last["reason"].as_str().unwrap().contains("customer disputes the power overage"));
    let text = cutover(&demo).args(["status", "--account", &victim]).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("customer disputes the power overage"));
}

#[test]
fn accounts_without_records_are_held_and_never_get_another_accounts_notice() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    // A007 has a service but no legacy bill: nothing to compare.
    let accounts = std::fs::read_to_string(dir.join("legacy/accounts.csv")).unwrap();
    std::fs::write(
        dir.join("legacy/accounts.csv"),
        format!(
            "{accounts}A007,Kestrel Labs,colocation,DC1,USD,1,ap@kestrel.example.com,active,\n\
             A008,Gone Corp,colocation,DC1,USD,1,ap@gone.example.com,closed,\n"
        ),
    )
    .unwrap();
    let services = std::fs::read_to_string(dir.join("legacy/services.csv")).unwrap();
    std::fs::write(
        dir.join("legacy/services.csv"),
        format!("{services}A007,S70,CAB-42U,Full cabinet,1,1000.00,2016-01-01,\n"),
    )
    .unwrap();
    assert!(cutover(dir).args(["extract"]).output().unwrap().status.success());
    // A001's row turns unreadable in the legacy system: its records leave the next extraction.
    std::fs::write(
        dir.join("legacy/accounts.csv"),
        std::fs::read_to_string(dir.join("legacy/accounts.csv")).unwrap().replace(
            "A001,Cascade Logistics LLC,colocation,DC1,USD,1,",
            "A001,Cascade Logistics LLC,colocation,DC1,USD,45,",
        ),
    )
    .unwrap();
    assert!(cutover(dir).args(["extract"]).output().unwrap().status.success());
    let out = cutover(dir).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let a001 = json(dir, &["status", "--account", "A001", "--format", "json"]);
    assert_eq!(a001["account"]["state"], "held");
    assert!(a001["account"]["state_reason"].as_str().unwrap().contains("no legacy records"), "{a001}");
    let a008 = json(dir, &["status", "--account", "A008", "--format", "json"]);
    assert_eq!(a008["account"]["state"], "held");
    assert_eq!(a008["account"]["state_reason"], "closed in the legacy system: nothing to migrate");
    let a007 = json(dir, &["status", "--account", "A007", "--format", "json"]);
    assert_eq!(a007["account"]["state"], "held");
    assert!(a007["account"]["state_reason"].as_str().unwrap().starts_with("nothing to compare"), "{a007}");
    // Notices (A002 is moved to its June 15 notice): A002 gets its own, nobody gets A001's.
    for day in ["2017-06-01", "2017-06-15"] {
        let out = cutover(dir).args(["notify", "--wave", "dc1-colocation", "--as-of", day]).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let files: Vec<_> = std::fs::read_dir(dir.join("outbox")).unwrap().flatten().collect();
    let names: Vec<String> = files.iter().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    assert_eq!(names, ["dc1-colocation-A002-2017-07-15.eml"]);
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("To: billing@rainier.example.com") && text.contains("A002"), "{text}");
    assert!(!text.contains("A001") && !text.contains("Cascade"), "A002's notice carries only A002's data");
}

#[test]
fn an_account_moved_to_a_later_cycle_is_told_its_new_dates() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    let wave = dir.join("waves/dc1-colocation.yaml");
    let text = std::fs::read_to_string(&wave).unwrap();
    std::fs::write(&wave, text.replace("min_pass_rate: \"0.90\"", "min_pass_rate: \"0.50\"")).unwrap();
    let run = |as_of: &str, extra: &[&str]| {
        let out =
            cutover(dir).args(["run", "--wave", "dc1-colocation", "--as-of", as_of]).args(extra).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{as_of}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run("2017-05-01", &[]);
    run("2017-06-01", &[]); // notice: first new bill July 1
    run("2017-07-01", &[]); // nobody switched on June 30: July 1 has passed, so A001 is held
    let a001 = json(dir, &["status", "--account", "A001", "--format", "json"]);
    assert_eq!(a001["account"]["state"], "held", "{a001}");
    run("2017-07-01", &["--recheck-held"]); // a new schedule: first new bill August 1, notice today
    let a001 = json(dir, &["status", "--account", "A001", "--format", "json"]);
    assert_eq!(
        (a001["account"]["state"].as_str(), a001["account"]["first_new_bill_date"].as_str()),
        (Some("notified"), Some("2017-08-01")),
        "{a001}"
    );
    let mut notices: Vec<String> = std::fs::read_dir(dir.join("outbox"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("A001"))
        .collect();
    notices.sort();
    assert_eq!(notices, ["dc1-colocation-A001-2017-07-01.eml", "dc1-colocation-A001-2017-08-01.eml"]);
    // The first notice had nothing to replace.
    let first = std::fs::read_to_string(dir.join("outbox/dc1-colocation-A001-2017-07-01.eml")).unwrap();
    assert!(first.contains("Subject: Your Atmosera bill is changing on July 1, 2017"), "{first}");
    assert!(!first.contains("New date") && !first.contains("replaces our earlier"), "{first}");
    let second = std::fs::read_to_string(dir.join("outbox/dc1-colocation-A001-2017-08-01.eml")).unwrap();
    assert!(second.contains("Subject: New date: Your Atmosera bill is changing on August 1, 2017"), "{second}");
    // It says the first notice's date no longer holds (the HTML part, unwrapped).
    let unfolded = second.replace("=\r\n", "").replace("=\n", "");
    assert!(
        unfolded
            .contains("This notice replaces our earlier one, which gave July 1, 2017 as the date of your first bill"),
        "{second}"
    );
    // The preview (the path one notice at a time, as over SMTP and on the portal) says it too.
    let preview = cutover(dir).args(["notify", "--preview", "A001", "--as-of", "2017-07-01"]).output().unwrap();
    let shown = String::from_utf8_lossy(&preview.stdout).to_string();
    assert!(preview.status.success(), "{preview:?}");
    assert!(
        shown.contains("New date: Your Atmosera bill is changing on August 1, 2017")
            && shown.contains("This notice replaces our earlier one, which gave July 1, 2017"),
        "{shown}"
    );
}

#[test]
fn a_re_extraction_moves_a_waiting_account_to_the_wave_that_now_selects_it() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    assert!(cutover(dir).args(["extract"]).output().unwrap().status.success());
    assert_eq!(json(dir, &["status", "--account", "A001", "--format", "json"])["account"]["wave"], "dc1-colocation");
    let accounts = std::fs::read_to_string(dir.join("legacy/accounts.csv")).unwrap();
    std::fs::write(
        dir.join("legacy/accounts.csv"),
        accounts.replace("A001,Cascade Logistics LLC,colocation,DC1,", "A001,Cascade Logistics LLC,colocation,DC2,"),
    )
    .unwrap();
    let out = cutover(dir).args(["extract"]).output().unwrap();
    assert!(out.status.success());
    // The extraction says what moved, as a warning.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "warning: the plan: 1 account(s) not yet migrating moved from wave dc1-colocation to wave dc2-colocation"
        ),
        "{err}"
    );
    let a001 = json(dir, &["status", "--account", "A001", "--format", "json"]);
    assert_eq!(a001["account"]["wave"], "dc2-colocation");
    let last = a001["journal"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["reason"], "the plan now puts it in wave dc2-colocation (was wave dc1-colocation)");
    // Extracting again changes nothing more.
    let again = cutover(dir).args(["extract"]).output().unwrap();
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stderr).contains("moved from"), "nothing moved");
    assert_eq!(json(dir, &["status", "--account", "A001", "--format", "json"])["journal"].as_array().unwrap().len(), 2);

    // A mistyped selector: the wave's waiting accounts go to no wave. The extraction warns, and
    // the overview keeps a line for them (it had a line a wave only).
    let file = dir.join("waves/dc2-colocation.yaml");
    let wave = std::fs::read_to_string(&file).unwrap();
    assert!(wave.contains("[DC2]"), "{wave}");
    std::fs::write(&file, wave.replace("[DC2]", "[DC22]")).unwrap();
    let out = cutover(dir).args(["extract"]).output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("moved from wave dc2-colocation to no wave (each is journaled); check the waves' `select`"),
        "{err}"
    );
    let waiting = json(dir, &["status", "--format", "json"])["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["wave"].is_null())
        .count();
    assert!(waiting > 0);
    let text = String::from_utf8_lossy(&cutover(dir).args(["status"]).output().unwrap().stdout).to_string();
    let line = text.lines().find(|l| l.starts_with("(no wave)")).unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(&format!("extracted {waiting}")) && line.contains("the plan selects them for no wave"),
        "{line}"
    );
}

#[test]
fn the_journal_keeps_the_effective_day_and_the_real_time_and_refuses_a_nameless_change() {
    let ws = support::csv_workspace();
    // Nobody known: a state change is refused, and nothing is written.
    let out = cutover(ws.path())
        .env_remove("CUTOVER_ACTOR")
        .env_remove("USER")
        .args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--actor NAME"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cutover(ws.path())
        .env_remove("CUTOVER_ACTOR")
        .args(["--actor", "Dana", "run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"])
        .output()
        .unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));

    let today = chrono::Utc::now().date_naive().to_string();
    let rows = json(ws.path(), &["journal", "--account", "A001", "--format", "json"]);
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 2, "{rows:?}");
    for r in rows {
        assert!(r["effective"].as_str().unwrap().starts_with("2017-05-01T12:00:00"), "{r}");
        assert!(r["recorded_at"].as_str().unwrap().starts_with(&today), "the real time is kept: {r}");
        assert!(r["actor"].as_str().unwrap().starts_with("Dana ("), "{r}");
    }
    // CSV through a real CSV reader; the wave filter and --since.
    let out = cutover(ws.path()).args(["journal", "--wave", "dc1-colocation", "--format", "csv"]).output().unwrap();
    let mut rdr = csv::Reader::from_reader(out.stdout.as_slice());
    assert_eq!(rdr.headers().unwrap().iter().collect::<Vec<_>>()[..3], ["account_number", "effective", "recorded_at"]);
    let n = rdr.records().map(|r| r.unwrap()).filter(|r| &r[0] == "A001").count();
    assert_eq!(n, rows.len());
    let later = json(ws.path(), &["journal", "--since", "2017-06-01", "--format", "json"]);
    assert_eq!(later.as_array().unwrap().len(), 0);
    // The account as an argument, as `cutover bill A001` takes it: the same as `--account`.
    assert_eq!(json(ws.path(), &["journal", "A001", "--format", "json"]).as_array().unwrap(), rows);
    let status = json(ws.path(), &["status", "A001", "--format", "json"]);
    assert_eq!(status, json(ws.path(), &["status", "--account", "A001", "--format", "json"]));
    assert_eq!(status["account"]["account_number"], "A001");
    let both = cutover(ws.path()).args(["journal", "A001", "--account", "A002"]).output().unwrap();
    assert_eq!(both.status.code(), Some(2), "an account twice is refused");
}

#[tokio::test]
async fn a_closed_pipe_ends_quietly() {
    // Enough journal to overflow a pipe's buffer (64 KiB) after the reader has gone.
    let ws = tempfile::tempdir().unwrap();
    support::copy_dir(&support::repo_waves(), &ws.path().join("waves"));
    let data = cutover::demo::generate::DemoData { accounts: 1500, seed: 3, months: 2 };
    cutover::demo::generate::write_legacy_sqlite(&ws.path().join("legacy.db"), &data).await.unwrap();
    std::fs::write(ws.path().join("cutover.yaml"), "source: { kind: sql, url: \"sqlite://legacy.db\" }\n").unwrap();
    assert!(cutover(ws.path()).args(["extract"]).output().unwrap().status.success());
    let bin = assert_cmd::cargo::cargo_bin("cutover");
    let mut child = std::process::Command::new(bin)
        .arg("-C")
        .arg(ws.path())
        .env("CUTOVER_ACTOR", "test")
        .args(["journal", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then close the pipe (like `| head -c 1`).
    let mut one = [0u8; 1];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut one).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert_ne!(out.status.code(), Some(101), "no panic exit");
    assert_ne!(out.status.code(), Some(3), "no error exit either: {err}");
}

/// Issue 10 item 6: an active account with no service active on its first new bill date has
/// nothing to move. It is held with the reason, like a closed account, and gets no notice; an
/// account whose service ends after its first new bill date moves as usual.
#[test]
fn an_account_with_nothing_left_at_its_first_new_bill_is_held_and_not_told() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    let append = |file: &str, rows: &str| {
        let path = dir.join("legacy").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}{rows}")).unwrap();
    };
    // A009's cabinet ends June 20, before its first new bill (July 1); A010's ends July 20, after;
    // A011's starts August 1, after (and is not known yet in May).
    append(
        "accounts.csv",
        "A009,Ending Soon LLC,colocation,DC1,USD,1,ap@ending.example.com,active,\n\
         A010,Staying On LLC,colocation,DC1,USD,1,ap@staying.example.com,active,\n\
         A011,Starting Later LLC,colocation,DC1,USD,1,ap@later.example.com,active,\n",
    );
    append(
        "services.csv",
        "A009,S90,CAB-42U,Full cabinet,1,1200.00,2016-01-01,2017-06-20\n\
         A010,S100,CAB-42U,Full cabinet,1,1200.00,2016-01-01,2017-07-20\n\
         A011,S110,CAB-42U,Full cabinet,1,1200.00,2017-08-01,\n",
    );
    append(
        "legacy_invoice_lines.csv",
        "A009,INV-1704-A009,2017-04,CAB-42U,Full cabinet,2017-04-01,2017-04-30,1,1200.00,1200.00\n\
         A010,INV-1704-A010,2017-04,CAB-42U,Full cabinet,2017-04-01,2017-04-30,1,1200.00,1200.00\n",
    );
    let run = |args: &[&str]| {
        let out = cutover(dir).args(args).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]);
    let a009 = json(dir, &["status", "--account", "A009", "--format", "json"]);
    assert_eq!(a009["account"]["state"], "held", "{a009}");
    assert_eq!(
        a009["account"]["state_reason"],
        "nothing left to migrate: no service active on its first new bill date 2017-07-01 (the last ended \
         2017-06-20); the legacy system keeps billing what is left"
    );
    let last = a009["journal"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["from"].as_str(), last["to"].as_str()), (Some("extracted"), Some("held")), "journaled");
    // A011 has no bill and no service known by May 1 (its cabinet starts in August): on that day
    // it is not a customer yet (`LegacyAccount::as_of`), so it is left alone, not held or told.
    let a011 = json(dir, &["status", "--account", "A011", "--format", "json"]);
    assert_eq!(a011["account"]["state"], "extracted", "{a011}");
    assert_eq!(a011["journal"].as_array().unwrap().len(), 1, "only its extraction: {a011}");
    let a010 = json(dir, &["status", "--account", "A010", "--format", "json"]);
    assert_eq!(a010["account"]["state"], "reconciled", "{a010}");
    run(&["notify", "--wave", "dc1-colocation", "--as-of", "2017-06-01"]);
    let names: Vec<String> = std::fs::read_dir(dir.join("outbox"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(names.iter().any(|n| n.contains("A010")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("A009") || n.contains("A011")),
        "no notice for an account with nothing to move: {names:?}"
    );
    // Running again changes nothing for it.
    run(&["run", "--wave", "dc1-colocation", "--as-of", "2017-06-02"]);
    let again = json(dir, &["status", "--account", "A009", "--format", "json"]);
    assert_eq!(again["journal"], a009["journal"]);
}

/// Issue 10 item 3: the notice and the bill for the first new period follow the wave's
/// `usage_carryover`: the first new bill carries the last legacy period's usage (`new`, the
/// default), or a final legacy bill does (`legacy`); and a bill carries usage in arrears.
#[test]
fn the_first_new_bill_and_its_notice_follow_the_wave_usage_carryover() {
    for carryover in ["new", "legacy"] {
        let ws = support::csv_workspace();
        let dir = ws.path();
        if carryover == "legacy" {
            let wave = dir.join("waves/dc1-colocation.yaml");
            let text = std::fs::read_to_string(&wave).unwrap();
            std::fs::write(&wave, format!("{text}usage_carryover: legacy\n")).unwrap();
        }
        // Usage in arrears, on a fresh workspace: the April bill carries March's power.
        let april = json(dir, &["bill", "A001", "--period", "2017-04", "--format", "json"]);
        let power: Vec<_> =
            april["lines"].as_array().unwrap().iter().filter(|l| l["legacy_code"] == "PWR-KWH").collect();
        assert_eq!(power.len(), 1, "{april}");
        assert_eq!(
            (power[0]["service_start"].as_str(), power[0]["service_end"].as_str(), power[0]["quantity"].as_str()),
            (Some("2017-03-01"), Some("2017-03-31"), Some("3500"))
        );
        assert!(april.get("usage_handover").is_none(), "not a first new bill");
        // The reconciliation of the fixture's arrears legacy bills finds no usage difference.
        let rec = cutover(dir).args(["reconcile", "--wave", "dc1-colocation", "--format", "json"]).output().unwrap();
        let rec: Value = serde_json::from_slice(&rec.stdout).expect("json");
        let a001 = rec["accounts"].as_array().unwrap().iter().find(|a| a["account_number"] == "A001").unwrap();
        assert!(!a001.to_string().contains("PWR-KWH"), "{a001}");

        // Scheduled as of May 1: first new bill July 1, so June is the last legacy period.
        let out = cutover(dir).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
        let preview = cutover(dir).args(["notify", "--preview", "A001", "--as-of", "2017-05-01"]).output().unwrap();
        let preview = String::from_utf8_lossy(&preview.stdout).to_string();
        let said = match carryover {
            "new" => {
                "Your usage from June 1, 2017 to June 30, 2017, the last period of the old system, will be on \
                      your first new bill, dated July 1, 2017, and on no other bill."
            }
            _ => {
                "Your usage from June 1, 2017 to June 30, 2017, the last period of the old system, will be billed \
                  once, on a final bill from the old system dated July 1, 2017. Your first new bill carries no usage"
            }
        };
        assert!(preview.contains(said), "{carryover}: {preview}");
        let july = json(dir, &["bill", "A001", "--period", "2017-07", "--format", "json"]);
        assert_eq!(july["usage_handover"]["carried_by"], carryover, "{july}");
        assert_eq!(
            (july["usage_handover"]["usage_start"].as_str(), july["usage_handover"]["usage_end"].as_str()),
            (Some("2017-06-01"), Some("2017-06-30"))
        );
        let august = json(dir, &["bill", "A001", "--period", "2017-08", "--format", "json"]);
        assert!(august.get("usage_handover").is_none());
        // A002 has no metered service: its notice says nothing about usage.
        let a002 = cutover(dir).args(["notify", "--preview", "A002", "--as-of", "2017-05-01"]).output().unwrap();
        assert!(!String::from_utf8_lossy(&a002.stdout).contains("the last period of the old system"));
    }
}

/// The outbox files (emails and letters) of a workspace, by name.
fn outbox(dir: &Path) -> Vec<String> {
    let mut all = Vec::new();
    for sub in ["outbox", "outbox/print"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            all.extend(
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().is_file())
                    .map(|e| e.file_name().to_string_lossy().to_string()),
            );
        }
    }
    all.sort();
    all
}

#[tokio::test]
async fn a_dry_run_shows_what_the_real_run_then_does_and_changes_nothing() {
    let ws = super::smtp::workspace_mailing("").await;
    let dir = ws.path();
    let before_status = json(dir, &["status", "--format", "json"]);
    let before_journal = json(dir, &["journal", "--format", "json"]);
    for args in [
        vec!["notify", "--wave", "dc1-colocation", "--as-of", "2017-06-01", "--dry-run"],
        vec!["run", "--wave", "dc1-colocation", "--as-of", "2017-06-01", "--dry-run"],
        vec!["schedule", "--wave", "dc1-colocation", "--as-of", "2017-06-01", "--dry-run"],
        vec!["switch", "--wave", "dc1-colocation", "--as-of", "2017-06-30", "--dry-run"],
    ] {
        let out = cutover(dir).args(&args).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("nothing below is written or sent"), "{args:?}");
        assert_eq!(outbox(dir), Vec::<String>::new(), "{args:?}: nothing written to the outbox");
        assert_eq!(json(dir, &["status", "--format", "json"]), before_status, "{args:?}: no state changed");
        assert_eq!(json(dir, &["journal", "--format", "json"]), before_journal, "{args:?}: no journal row");
    }
    // What the dry run says is what the real run does: the same accounts notified, the same count.
    let dry = cutover(dir)
        .args(["notify", "--wave", "dc1-colocation", "--as-of", "2017-06-01", "--dry-run"])
        .output()
        .unwrap();
    let real = cutover(dir).args(["notify", "--wave", "dc1-colocation", "--as-of", "2017-06-01"]).output().unwrap();
    assert_eq!(dry.status.code(), real.status.code(), "a dry run exits as the real run");
    let dry_text = String::from_utf8_lossy(&dry.stdout);
    let mut said: Vec<String> = dry_text
        .lines()
        .filter(|l| l.contains("reconciled -> notified"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    said.sort();
    let after = json(dir, &["status", "--wave", "dc1-colocation", "--format", "json"]);
    let mut notified: Vec<String> = after["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] == "notified")
        .map(|a| a["account_number"].as_str().unwrap().to_string())
        .collect();
    notified.sort();
    assert!(!said.is_empty());
    assert_eq!(said, notified);
    let files = outbox(dir).len();
    assert!(
        dry_text.contains(&format!(
            "{} email(s) would be sent",
            outbox(dir).iter().filter(|f| f.ends_with(".eml")).count()
        )),
        "{dry_text}"
    );
    assert!(files >= said.len());
}

/// Every file under `dir` with what tells a rewritten file from the one before: its bytes and
/// its inode (files are replaced by rename).
fn file_states(dir: &Path) -> std::collections::HashMap<std::path::PathBuf, (Vec<u8>, u64)> {
    use std::os::unix::fs::MetadataExt;
    support::files_under(dir)
        .into_iter()
        .filter(|p| !p.starts_with(dir.join(".cutover")))
        .map(|p| {
            let state = (std::fs::read(&p).unwrap(), std::fs::metadata(&p).unwrap().ino());
            (p, state)
        })
        .collect()
}

/// The counts a dry run's last line gives: emails, letters, load files.
fn dry_counts(stdout: &str) -> (usize, usize, usize) {
    let line = stdout.lines().find(|l| l.contains("email(s) would be sent")).unwrap_or_else(|| panic!("{stdout}"));
    let n = |what: &str| -> usize {
        let before = &line[..line.find(what).unwrap_or_else(|| panic!("{what} in {line}"))];
        before.split_whitespace().last().unwrap().parse().unwrap()
    };
    (n(" email(s)"), n(" letter(s)"), n(" load file(s)"))
}

#[test]
fn a_dry_run_counts_the_letters_and_load_files_the_real_run_then_writes() {
    // A demo stopped part-way: letters printed and load sets written on earlier days.
    let (_dir, demo) = support::demo_until(400, 7, "2017-10-25");
    let letters_before = support::files_under(&demo.join("outbox/print")).len();
    assert!(letters_before > 0, "the demo printed letters before the day the dry runs look at");
    let mut seen = (0, 0, 0);
    // A day the demo ran already (nothing to do, nothing written), then the days after, one
    // stage or all of them.
    let mut runs = vec![["run", "dc2-colocation", "2017-10-24"], ["notify", "dc3-colocation", "2017-10-24"]];
    for day in ["2017-10-25", "2017-10-26", "2017-10-27", "2017-10-28", "2017-10-29", "2017-10-30", "2017-10-31"] {
        runs.push(["notify", "multi-tenant-cloud", day]);
        for wave in ["dc2-colocation", "dc3-colocation", "multi-tenant-cloud"] {
            runs.push(["run", wave, day]);
        }
    }
    for [stage, wave, day] in runs {
        let args = [stage, "--wave", wave, "--as-of", day];
        let before = file_states(&demo);
        let dry = cutover(&demo).args(args).arg("--dry-run").output().unwrap();
        let dry_out = String::from_utf8_lossy(&dry.stdout);
        let dry_err = String::from_utf8_lossy(&dry.stderr);
        assert!(!dry_err.contains("missing"), "{args:?}: {dry_err}");
        assert_eq!(file_states(&demo), before, "{args:?}: the dry run wrote nothing");
        let said = dry_counts(&dry_out);
        let real = cutover(&demo).args(args).output().unwrap();
        assert_eq!(dry.status.code(), real.status.code(), "{args:?}");
        let after = file_states(&demo);
        let made: Vec<&std::path::PathBuf> =
            after.iter().filter(|(p, s)| before.get(*p) != Some(*s)).map(|(p, _)| p).collect();
        let outbox = demo.join("outbox");
        let did = (
            made.iter().filter(|p| p.parent() == Some(&outbox) && p.extension().is_some_and(|x| x == "eml")).count(),
            made.iter()
                .filter(|p| p.parent() == Some(&outbox.join("print")))
                .filter(|p| !p.to_string_lossy().ends_with("-letters.html"))
                .count(),
            made.iter().filter(|p| p.starts_with(demo.join("import"))).count(),
        );
        assert_eq!(said, did, "{args:?}: the dry run said {said:?}, the real run wrote {did:?}\n{dry_out}");
        seen = (seen.0 + did.0, seen.1 + did.1, seen.2 + did.2);
    }
    // The days looked at did send, print and write load files.
    assert!(seen.0 > 0 && seen.1 > 0 && seen.2 > 0, "{seen:?}");
}

#[test]
fn a_switch_after_the_first_new_bill_holds_those_accounts_says_so_and_exits_1() {
    let (_dir, demo) = support::demo_until(400, 7, "2017-10-25");
    // On time (the first day due): nothing missed, exit 0.
    let on_time =
        cutover(&demo).args(["switch", "--wave", "dc2-colocation", "--as-of", "2017-10-25"]).output().unwrap();
    assert_eq!(on_time.status.code(), Some(0), "{}", String::from_utf8_lossy(&on_time.stderr));
    // Days skipped: the accounts whose first new bill has come are held, the note says how many
    // and why, and the exit code asks for a person.
    let late = cutover(&demo).args(["switch", "--wave", "dc2-colocation", "--as-of", "2017-10-31"]).output().unwrap();
    let err = String::from_utf8_lossy(&late.stderr);
    let held = json(&demo, &["status", "--wave", "dc2-colocation", "--state", "held", "--format", "json"]);
    let missed = held["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["reason"].as_str().is_some_and(|r| r.starts_with("missed its cut-over date")))
        .count();
    assert!(missed > 0, "{held}");
    assert!(
        err.contains(&format!("note: {missed} account(s) held: their cut-over date passed before the switch ran")),
        "{err}"
    );
    assert_eq!(late.status.code(), Some(1), "{err}");
    // The notice report names them: each was told of a first new bill that will not come.
    let notices = json(&demo, &["notices", "--wave", "dc2-colocation", "--format", "json"]);
    assert_eq!(notices["summary"]["held_after_notice"], missed, "{}", notices["summary"]);
    let listed = notices["held_after_notice"].as_array().unwrap();
    assert!(listed.iter().all(|a| a["reason"].as_str().is_some_and(|r| r.starts_with("missed its cut-over date"))));
    let text =
        String::from_utf8_lossy(&cutover(&demo).args(["notices", "--wave", "dc2-colocation"]).output().unwrap().stdout)
            .to_string();
    assert!(text.contains(&format!("{missed} held after their notice was sent")), "{text}");
}

#[test]
fn every_format_a_command_offers_is_real_and_bad_values_are_refused_with_the_choices() {
    let ws = support::csv_workspace();
    // (args, exit code, what stderr says)
    let table: [(&[&str], i32, &str); 5] = [
        (&["status", "--format", "html"], 2, "[possible values: text, json]"),
        (
            &["bill", "A001", "--period", "2017-04", "--format", "markdown"],
            2,
            "[possible values: text, html, json, csv]",
        ),
        (&["notices", "--wave", "dc1-colocation", "--format", "html"], 2, "[possible values: text, json, csv]"),
        (&["run", "--wave", "dc1-colocation", "--as-of", "2017-6-1x"], 2, "write it as YYYY-MM-DD"),
        (&["waive", "A001", "--reason", " "], 2, "must say why"),
    ];
    for (args, code, says) in table {
        let out = cutover(ws.path()).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Every format offered gives its own kind of output.
    let html = cutover(ws.path()).args(["bill", "A001", "--period", "2017-04", "--format", "html"]).output().unwrap();
    assert!(String::from_utf8_lossy(&html.stdout).trim_start().starts_with("<!DOCTYPE html>"));
    let csv_out = cutover(ws.path()).args(["bill", "A001", "--period", "2017-04", "--format", "csv"]).output().unwrap();
    let mut rdr = csv::Reader::from_reader(csv_out.stdout.as_slice());
    assert!(rdr.records().count() >= 2, "CSV with a row per line");
}

#[tokio::test]
async fn waves_upcoming_notices_and_a_revoked_waiver_through_the_binary() {
    let ws = super::smtp::workspace_mailing("").await;
    let dir = ws.path();
    // The plan's waves with their windows and accounts per state.
    let waves = json(dir, &["waves", "--format", "json"]);
    let dc1 = waves.as_array().unwrap().iter().find(|w| w["id"] == "dc1-colocation").unwrap().clone();
    assert_eq!((dc1["start"].as_str(), dc1["end"].as_str()), (Some("2017-06-05"), Some("2017-08-03")));
    let reconciled = dc1["accounts"]["reconciled"].as_i64().unwrap();
    assert!(reconciled > 0, "{dc1}");
    // The notices due in the next days, earliest first, and only those.
    let up = json(
        dir,
        &["notices", "--wave", "dc1-colocation", "--upcoming", "31", "--as-of", "2017-05-15", "--format", "json"],
    );
    let dates: Vec<&str> =
        up["upcoming"].as_array().unwrap().iter().map(|u| u["notice_date"].as_str().unwrap()).collect();
    assert!(!dates.is_empty());
    assert!(dates.windows(2).all(|p| p[0] <= p[1]), "earliest first: {dates:?}");
    // 31 days, the first counted: May 15 to June 14.
    assert!(dates.iter().all(|d| ("2017-05-15"..="2017-06-14").contains(d)), "{dates:?}");
    assert_eq!(up["to"], "2017-06-14", "{up}");
    // A waiver granted, then withdrawn: a failing account is held again, both journaled.
    let fx = support::csv_workspace();
    let dir = fx.path();
    assert!(
        cutover(dir)
            .args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"])
            .output()
            .unwrap()
            .status
            .code()
            .is_some_and(|c| c <= 1)
    );
    let failing = "A003".to_string();
    assert_eq!(json(dir, &["status", "--account", &failing, "--format", "json"])["account"]["state"], "held");
    assert!(cutover(dir).args(["waive", &failing, "--reason", "price agreed"]).output().unwrap().status.success());
    let out = cutover(dir).args(["waive", &failing, "--reason", "not agreed after all", "--revoke"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let one = json(dir, &["status", "--account", &failing, "--format", "json"]);
    assert_eq!(one["account"]["state"], "held");
    let last = one["journal"].as_array().unwrap().last().unwrap()["reason"].as_str().unwrap().to_string();
    assert!(last.starts_with("waiver revoked: not agreed after all"), "{last}");
    let again = cutover(dir).args(["waive", &failing, "--reason", "x", "--revoke"]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("has no waiver; nothing changed"));
    // A waiver covers a failure the account has: one that passed has none to waive (a waiver
    // kept for later would have covered a failure nobody looked at).
    let passing =
        json(dir, &["status", "--wave", "dc1-colocation", "--state", "reconciled", "--format", "json"])["accounts"][0]
            ["account_number"]
            .as_str()
            .expect("a reconciled account")
            .to_string();
    let out = cutover(dir).args(["waive", &passing, "--reason", "just in case"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no failed reconciliation to waive"), "{out:?}");
    assert!(
        json(dir, &["status", "--account", &passing, "--format", "json"])["journal"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| !j["reason"].as_str().unwrap().contains("waived"))
    );
    // The waiver keeps the failure it was granted for, shown with it in the report's JSON.
    assert!(cutover(dir).args(["waive", &failing, "--reason", "price agreed"]).output().unwrap().status.success());
    let rep = json(dir, &["reconcile", "--wave", "dc1-colocation", "--format", "json"]);
    let acct =
        rep["accounts"].as_array().unwrap().iter().find(|a| a["account_number"] == failing.as_str()).unwrap().clone();
    assert!(acct["waiver"]["covers"].as_str().is_some_and(|c| c.contains("2017-")), "{acct}");
    // The next run reconciles it with its waiver (the failure is the one waived), and records the run.
    let out = cutover(dir).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-02"]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    let one = json(dir, &["status", "--account", &failing, "--format", "json"]);
    assert_eq!(one["account"]["state"], "reconciled", "{one}");
    assert!(one["account"]["state_reason"].as_str().unwrap().contains("waived by test (waive): price agreed"), "{one}");
}

/// Issue 11: `bench pipeline` runs the whole demo flow in a scratch folder and reports every
/// stage, a rerun that changes nothing, and the sizes (no timing is asserted, only what was done).
#[test]
fn bench_pipeline_reports_every_stage_and_a_rerun_that_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("bench");
    let out = cutover(dir.path())
        .args(["bench", "pipeline", "--accounts", "40", "--format", "json", "--keep", "--dir"])
        .arg(&scratch)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stages: Vec<&str> = r["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    // A run reconciles each page it rates at once ("rate+reconcile"), then the rated accounts
    // left over ("reconcile").
    assert_eq!(stages, ["generate", "extract", "rate+reconcile", "reconcile", "notify", "switch"], "{r}");
    let stage = |name: &str| r["stages"].as_array().unwrap().iter().find(|s| s["stage"] == name).unwrap().clone();
    assert_eq!(stage("generate")["units"], r["legacy_rows"], "{r}");
    assert_eq!(stage("extract")["units"], r["legacy_rows"], "every legacy row is taken in or quarantined: {r}");
    let status = json(&scratch, &["status", "--format", "json"]);
    let cut_over = status.to_string().matches("\"cut_over\"").count();
    assert!(stage("switch")["units"].as_u64().unwrap() > 0, "{r}");
    assert!(cut_over > 0, "{status}");
    assert_eq!(r["rerun_changes"], 0, "a second demo on the same folder does nothing: {r}");
    assert!(r["state_bytes"].as_u64().unwrap() > 0 && r["legacy_db_bytes"].as_u64().unwrap() > 0, "{r}");
    // The kernel's share of each stage's CPU time is part of it; the filesystem was probed first,
    // with files that stay in the scratch folder.
    for s in r["stages"].as_array().unwrap() {
        assert!(s["sys_s"].as_f64().unwrap() <= s["cpu_s"].as_f64().unwrap(), "{s}");
        assert!(s["statements"].is_null() && s["in_store_s"].is_null(), "counted only when asked: {s}");
    }
    assert!(r["files_probe_us"].as_f64().unwrap() > 0.0, "{r}");
    let probed = std::fs::read_dir(scratch.join("files-probe")).unwrap().count();
    assert_eq!(probed as u64, r["files_probe_count"].as_u64().unwrap(), "{r}");
    let again = cutover(dir.path()).args(["bench", "pipeline", "--dir"]).arg(&scratch).output().unwrap();
    assert_eq!(again.status.code(), Some(2), "an existing folder is refused");
}

/// Issue 11: `bench pipeline --statements` counts the store's statements (through sqlx) of each
/// stage and of the whole flow: every wave stage that did work ran some, and the stages' (timed
/// within the flow) together are at most the flow's, in number and in time.
#[test]
fn bench_pipeline_counts_the_store_statements_of_each_stage_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = cutover(dir.path())
        .args(["bench", "pipeline", "--accounts", "40", "--format", "json", "--statements", "--dir"])
        .arg(dir.path().join("bench"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let total = r["statements"].as_u64().unwrap();
    let (mut summed, mut timed) = (0, 0.0);
    for s in r["stages"].as_array().unwrap() {
        let n = s["statements"].as_u64().unwrap();
        if ["rate+reconcile", "notify", "switch"].contains(&s["stage"].as_str().unwrap()) {
            assert!(n > 0 && s["units"].as_u64().unwrap() > 0, "{s}");
        }
        summed += n;
        timed += s["in_store_s"].as_f64().unwrap();
    }
    // The generator writes without sqlx: none of its statements are the store's.
    assert_eq!(r["stages"][0]["stage"], "generate", "{r}");
    assert_eq!(r["stages"][0]["statements"], 0, "{r}");
    assert!(summed <= total && total > 0, "{summed} of {total}: {r}");
    // Rounded to the millisecond per stage.
    assert!(timed <= r["in_store_s"].as_f64().unwrap() + 0.001 * 6.0, "{r}");
}

#[test]
fn a_stale_extraction_is_refreshed_so_an_account_closed_since_gets_no_notice() {
    // (the wave's extraction_max_age_days, A001's state after notify on June 1)
    for (limit, want) in [(Some(7), "held"), (None, "notified")] {
        let ws = support::csv_workspace();
        let dir = ws.path();
        if let Some(days) = limit {
            let wave = dir.join("waves/dc1-colocation.yaml");
            let text = std::fs::read_to_string(&wave).unwrap();
            std::fs::write(&wave, format!("{text}extraction_max_age_days: {days}\n")).unwrap();
        }
        let out = cutover(dir).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(json(dir, &["status", "--account", "A001", "--format", "json"])["account"]["state"], "reconciled");
        // The customer leaves in May: the legacy system marks the account closed.
        let accounts = dir.join("legacy/accounts.csv");
        let text = std::fs::read_to_string(&accounts).unwrap();
        let closed: Vec<String> = text
            .lines()
            .map(|l| if l.starts_with("A001,") { l.replace(",active,", ",closed,") } else { l.to_string() })
            .collect();
        std::fs::write(&accounts, closed.join("\n") + "\n").unwrap();
        let out = cutover(dir).args(["notify", "--wave", "dc1-colocation", "--as-of", "2017-06-01"]).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
        let a001 = json(dir, &["status", "--account", "A001", "--format", "json"]);
        assert_eq!(a001["account"]["state"], want, "{limit:?}: {a001}");
        if want == "held" {
            assert!(a001["account"]["state_reason"].as_str().unwrap().starts_with("closed in the legacy system since"));
            assert!(!dir.join("outbox").join("dc1-colocation-A001-2017-07-01.eml").exists(), "no notice");
        }
    }
}

#[test]
fn status_lists_the_accounts_of_a_state_with_their_reasons_and_only_the_waves_quarantine() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    let out = cutover(dir).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = cutover(dir).args(["status", "--wave", "dc1-colocation", "--state", "held"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    assert!(text.starts_with("1 account(s) held in dc1-colocation:"), "{text}");
    assert!(text.contains("A003") && text.contains("reconciliation failed"), "{text}");
    let held = json(dir, &["status", "--state", "held", "--format", "json"]);
    let accounts = held["accounts"].as_array().unwrap();
    assert!(!accounts.is_empty() && accounts.iter().all(|a| a["state"] == "held"), "{held}");
    // A wave's status shows the quarantined rows of its own accounts only.
    let all = json(dir, &["status", "--format", "json"])["quarantined"].as_array().unwrap().len();
    let dc1 = json(dir, &["status", "--wave", "dc1-colocation", "--format", "json"]);
    let mine = dc1["quarantined"].as_array().unwrap();
    assert!(mine.len() < all, "{} of {all}", mine.len());
    let members: Vec<&str> =
        dc1["accounts"].as_array().unwrap().iter().map(|a| a["account_number"].as_str().unwrap()).collect();
    assert!(mine.iter().all(|q| members.contains(&q["account_number"].as_str().unwrap_or(""))), "{mine:?}");
    let bad = cutover(dir).args(["status", "--state", "nowhere"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn a_report_never_moves_state() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    assert!(cutover(dir).args(["extract"]).output().unwrap().status.success());
    let before = json(dir, &["journal", "--format", "json"]);
    let out = cutover(dir).args(["reconcile", "--wave", "dc1-colocation", "--format", "json"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wait to be reconciled"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(dir, &["journal", "--format", "json"]), before, "no account moved");
    let states = json(dir, &["status", "--wave", "dc1-colocation", "--format", "json"]);
    assert!(
        states["accounts"].as_array().unwrap().iter().all(|a| a["state"] == "extracted" || a["state"] == "quarantined")
    );
}

#[test]
fn bench_reconcile_writes_csv_that_a_comma_cannot_break() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let legacy = "account_number,period,amount\n\"A,1\",2017-01,10.00\nA2,2017-01,5.00\n";
    let new = "account_number,period,amount\n\"A,1\",2017-01,12.00\nA3,2017-01,1.00\n";
    std::fs::write(p.join("legacy.csv"), legacy).unwrap();
    std::fs::write(p.join("new.csv"), new).unwrap();
    let (l, n, o) = (p.join("legacy.csv"), p.join("new.csv"), p.join("diff.csv"));
    let args = ["bench", "reconcile", "--legacy", l.to_str().unwrap(), "--new", n.to_str().unwrap()];
    let out = cutover(p).args(args).args(["--out", o.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records = |path: &Path| -> Vec<Vec<String>> {
        let mut r = csv::Reader::from_path(path).unwrap();
        r.records().map(|x| x.unwrap().iter().map(str::to_string).collect()).collect()
    };
    let want = [
        ["A,1", "2017-01", "10.00", "12.00", "mismatch"],
        ["A2", "2017-01", "5.00", "", "missing_new"],
        ["A3", "2017-01", "", "1.00", "missing_legacy"],
    ];
    assert_eq!(records(&o), want.map(|r| r.map(str::to_string).to_vec()).to_vec());
    // The generator's files read back as three fields a row, under their header.
    let gen_dir = p.join("gen");
    let out = cutover(p).args(["bench", "gen", "--rows", "24", "--dir", gen_dir.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["legacy.csv", "new.csv"] {
        let rows = records(&gen_dir.join(name));
        assert!(
            rows.len() >= 20 && rows.iter().all(|r| r.len() == 3 && r[2].parse::<f64>().is_ok()),
            "{name}: {rows:?}"
        );
    }
}

#[test]
fn a_preview_says_when_its_notice_is_not_going_to_be_sent() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    let out = cutover(dir).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    // (account, said not to be sent, how it goes): A003 is held (its reconciliation failed) and
    // has no billing email (a letter), A001 is on its way by email.
    for (account, held, shown) in
        [("A003", true, "A printed letter (no valid billing email)"), ("A001", false, "Subject: ")]
    {
        let out = cutover(dir)
            .env_remove("CUTOVER_ACTOR")
            .env_remove("USER")
            .args(["notify", "--preview", account, "--as-of", "2017-05-01"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "a preview needs no actor: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(text.contains("is not going to be sent"), held, "{account}: {text}");
        assert!(text.contains(shown), "{account}: {text}");
    }
}

/// A mistyped new wave file stops every stage (a stage needs the whole plan) but not what
/// concerns one account or only reads: a customer can still be rolled back, the status read and
/// the portal kept up, with the problems printed and a warning naming the file. A broken
/// catalog stops those too: load files cannot be written without it.
#[test]
fn a_broken_wave_file_stops_the_stages_but_not_a_rollback_or_a_report() {
    let (_dir, ws) = support::demo_until(80, 2017, "2017-07-15");
    let status = json(&ws, &["status", "--format", "json"]);
    let cut = numbers(&status, |a| a["state"] == "cut_over");
    assert!(cut.len() >= 2, "{status}");
    std::fs::write(ws.join("waves/zz-internet.yaml"), "id: internet-2018\nname: [High Speed Internet\n").unwrap();

    for stage in [
        vec!["switch", "--wave", "dc1-colocation", "--as-of", "2017-07-16"],
        vec!["run", "--wave", "dc1-colocation", "--as-of", "2017-07-16"],
        vec!["notify", "--wave", "dc2-colocation", "--as-of", "2017-07-16"],
    ] {
        let out = cutover(&ws).args(&stage).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{stage:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("waves/zz-internet.yaml:2:7: YAML syntax error: this `[` is not closed")
                && err.contains("the plan has errors"),
            "{stage:?}: {err}"
        );
    }
    assert_eq!(json(&ws, &["status", "--format", "json"]), status, "no stage changed anything");

    let out = cutover(&ws).args(["rollback", &cut[0], "--reason", "billed twice in July"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("waves/zz-internet.yaml:2:7: YAML syntax error: this `[` is not closed"),
        "the problem is shown: {err}"
    );
    assert!(
        err.contains(
            "warning: the plan has errors in waves/zz-internet.yaml (above): `rollback` goes on without that file"
        ),
        "{err}"
    );
    let after = json(&ws, &["status", "--format", "json"]);
    let state = |v: &Value, a: &str| {
        v["accounts"].as_array().unwrap().iter().find(|x| x["account_number"] == a).unwrap()["state"].clone()
    };
    assert_eq!(state(&after, &cut[0]), "rolled_back");
    assert_eq!(state(&after, &cut[1]), "cut_over");
    let journal = cutover(&ws).args(["journal", &cut[0]]).output().unwrap();
    assert!(journal.status.success());
    assert!(String::from_utf8_lossy(&journal.stdout).contains("billed twice in July"));

    // A wave whose own file is broken is still reported from the store; a typo is not a wave.
    let dc2 = ws.join("waves/dc2-colocation.yaml");
    let dc2_text = std::fs::read_to_string(&dc2).unwrap();
    std::fs::write(&dc2, dc2_text.replace("tolerance:", "tolerence:")).unwrap();
    for args in [
        vec!["status", "--wave", "dc2-colocation"],
        vec!["journal", "--wave", "dc2-colocation"],
        vec!["notices", "--wave", "dc2-colocation"],
        vec!["notices", "--wave", "dc2-colocation", "--upcoming", "30", "--as-of", "2017-09-20"],
    ] {
        let out = cutover(&ws).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(err.contains("errors in waves/dc2-colocation.yaml, waves/zz-internet.yaml (above)"), "{args:?}: {err}");
        assert!(err.contains("goes on without those files; no stage runs until they are fixed"), "{args:?}: {err}");
    }
    // What concerns one account goes on too: its bill, its notice's preview, a person's waiver
    // (refused here on its own terms: a cut-over account has no failure to waive).
    for (args, command, ok) in [
        (vec!["bill", cut[1].as_str(), "--period", "2017-07"], "bill", true),
        (vec!["bill", cut[1].as_str(), "--period", "2017-07", "--legacy"], "bill", true),
        (vec!["notify", "--preview", cut[1].as_str()], "notify --preview", true),
        (vec!["waive", cut[1].as_str(), "--reason", "price agreed"], "waive", false),
    ] {
        let out = cutover(&ws).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), ok, "{args:?}: {err}");
        assert!(err.contains(&format!("`{command}` goes on without those files")), "{args:?}: {err}");
        assert!(!err.contains("the plan has errors; run"), "{args:?}: {err}");
    }
    // `waves` still lists it, with its accounts, as a wave the plan does not name now.
    let waves = cutover(&ws).args(["waves"]).output().unwrap();
    assert!(waves.status.success(), "{waves:?}");
    let text = String::from_utf8_lossy(&waves.stdout);
    assert!(
        text.contains("dc2-colocation       (not in the plan now: its file has errors, or it left the plan)"),
        "{text}"
    );
    let listed = json(&ws, &["waves", "--format", "json"]);
    let dc2_row = listed.as_array().unwrap().iter().find(|w| w["id"] == "dc2-colocation").expect("dc2 listed").clone();
    assert_eq!(dc2_row["in_plan"], false, "{listed}");
    let dc2_accounts = status["accounts"].as_array().unwrap().iter().filter(|a| a["wave"] == "dc2-colocation").count();
    let counted: i64 = dc2_row["accounts"].as_object().unwrap().values().map(|n| n.as_i64().unwrap()).sum();
    assert!(dc2_accounts > 0 && counted == dc2_accounts as i64, "{dc2_row} against {dc2_accounts}");
    let dc1_row = listed.as_array().unwrap().iter().find(|w| w["id"] == "dc1-colocation").unwrap().clone();
    assert_eq!(dc1_row["in_plan"], true, "{listed}");
    let typo = cutover(&ws).args(["status", "--wave", "dc9-colocation"]).output().unwrap();
    assert_eq!(typo.status.code(), Some(2), "{typo:?}");
    std::fs::write(&dc2, dc2_text).unwrap();

    // Without a valid catalog the load files cannot be rewritten: the rollback is refused.
    let catalog = ws.join("waves/catalog.yaml");
    let text = std::fs::read_to_string(&catalog).unwrap();
    std::fs::write(&catalog, format!("{text}\nbogus: [\n")).unwrap();
    let out = cutover(&ws).args(["rollback", &cut[1], "--reason", "also"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("the plan has errors; run `cutover plan check`"), "{out:?}");
    std::fs::write(&catalog, text).unwrap();
    assert_eq!(state(&json(&ws, &["status", "--format", "json"]), &cut[1]), "cut_over");
}

/// A customer's new billing address reaches what it still can, and says what it cannot: an
/// account notified but not yet cut over is told its notice went to the earlier addresses, and
/// the target bills the new one (its load files name it, with every other address its notice
/// promised the bills to); one cut over already is told to change it in the target. Journaled.
#[test]
fn a_new_billing_address_reaches_the_load_files_and_says_what_it_cannot_reach() {
    let (_dir, ws) = support::demo_until(80, 2017, "2017-06-25");
    let status = json(&ws, &["status", "--format", "json"]);
    let notified = status["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["state"] == "notified" && a["wave"] == "dc1-colocation")
        .expect("a notified dc1 account")
        .clone();
    let number = notified["account_number"].as_str().unwrap();
    let shown =
        |n: &str| String::from_utf8_lossy(&cutover(&ws).args(["status", n]).output().unwrap().stdout).to_string();
    assert!(shown(number).contains("  notice and bills to: ") && shown(number).contains("(the legacy system's)"));
    let import = |email: &str, at: &str| {
        let form = ws.join("fix.csv");
        std::fs::write(&form, format!("account_number,email,name,submitted_at\n{number},{email},AP,{at}\n")).unwrap();
        let out = cutover(&ws).args(["contacts", "import"]).arg(&form).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 account(s) updated"), "{out:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = import("ap-new@northwind.example.com", "2017-06-24");
    assert!(err.contains(&format!("note: {number}: its notice went to the earlier addresses")), "{err}");
    // The journal names the addresses replaced: those the notice went to.
    let sent_to =
        notified["reason"].as_str().unwrap().strip_prefix("notice emailed to ").unwrap().split(" (<").next().unwrap();
    let journal = String::from_utf8_lossy(&cutover(&ws).args(["journal", number]).output().unwrap().stdout).to_string();
    assert!(journal.contains(&format!("; were the legacy billing addresses {sent_to}")), "{journal}");
    assert!(
        shown(number).contains("  notice and bills to: ap-new@northwind.example.com (the form's, submitted 2017-06-24"),
        "{}",
        shown(number)
    );
    let one = json(&ws, &["status", "--account", number, "--format", "json"]);
    assert_eq!(one["billing_emails"], serde_json::json!(["ap-new@northwind.example.com"]), "{one}");

    // Its cut-over: the target bills the new address and every other one the notice promised.
    let day = notified["cutover_date"].as_str().unwrap().to_string();
    let out = cutover(&ws).args(["switch", "--wave", "dc1-colocation", "--as-of", &day]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    // It says where the files went.
    let said = String::from_utf8_lossy(&out.stdout);
    let set = format!("import/dc1-colocation/{day} (its manifest.json lists them)");
    assert!(said.lines().any(|l| l.starts_with("load files written: ") && l.ends_with(&set)), "{said}");
    let file = ws.join(format!("import/dc1-colocation/{day}/accounts-and-contacts.csv"));
    let mut rdr = csv::Reader::from_path(&file).unwrap();
    let h = rdr.headers().unwrap().clone();
    let at = |name: &str| h.iter().position(|x| x == name).unwrap();
    let row = rdr.records().map(|r| r.unwrap()).find(|r| &r[0] == number).expect("its row");
    let mut billed: Vec<String> = std::iter::once(row[at("Bill To Contact Work Email")].to_string())
        .chain(row[at("Additional Email Addresses")].split('|').filter(|e| !e.is_empty()).map(str::to_string))
        .collect();
    assert!(billed.contains(&"ap-new@northwind.example.com".to_string()), "{billed:?}");
    let preview = cutover(&ws).args(["notify", "--preview", number]).output().unwrap();
    let said = String::from_utf8_lossy(&preview.stdout).to_string();
    let line = said.lines().find(|l| l.contains("Bills are sent by email")).unwrap_or_else(|| panic!("{said}"));
    for e in &billed {
        assert!(line.contains(e.as_str()), "the target bills {e}, which the notice names: {line}");
    }
    billed.sort();
    billed.dedup();
    assert_eq!(billed.len(), line.matches('@').count(), "each promised address once: {billed:?} / {line}");

    // Cut over: the change is kept and journaled, and the team told to make it in the target.
    let err = import("ap-newer@northwind.example.com", "2017-07-02");
    assert!(err.contains(&format!("note: {number}: cut over already: its load files keep the addresses")), "{err}");
    let journal = String::from_utf8_lossy(&cutover(&ws).args(["journal", number]).output().unwrap().stdout).to_string();
    assert!(journal.contains("change the Bill To email in the target system"), "{journal}");
    // Its status says where the target bills it (its load files) and what changed since.
    assert!(
        shown(number).contains(
            "  bills to (its load files, as of its cut-over): ap-new@northwind.example.com; the addresses on file now \
             are ap-newer@northwind.example.com: change them in the target system"
        ),
        "{}",
        shown(number)
    );
    // From inside the workspace (its import folder), the workspace is named, not a new one offered.
    let out = cutover(&ws.join("import")).args(["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("this folder is inside the workspace {}: run there", ws.display())), "{err}");
    // A mistyped account is not an empty audit trail.
    let out = cutover(&ws).args(["journal", "A999999"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("A999999"), "{out:?}");
}

/// The legacy system must stop billing a cut-over account from its first new bill date: an
/// extraction that finds a legacy bill issued since then (by its as-of day) names the account,
/// the periods and the amounts, and exits 1; the account's status says so. A rolled-back account
/// is billed by the legacy system again, as it should be: not named.
#[test]
fn a_legacy_bill_after_the_suppression_is_found_at_extraction_and_named() {
    let (_dir, ws) = support::demo_until(80, 2017, "2017-07-20");
    let status = json(&ws, &["status", "--format", "json"]);
    let cut = numbers(&status, |a| a["state"] == "cut_over" && a["first_new_bill_date"] == "2017-07-01");
    assert!(cut.len() >= 3, "cut over with a first new bill on July 1: {cut:?}");
    let rolled = &cut[0];
    let out = cutover(&ws).args(["rollback", rolled, "--reason", "customer asked to stay"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");

    // Before the first new bill: nothing issued since the suppression.
    let before = cutover(&ws).args(["extract", "--as-of", "2017-06-30"]).output().unwrap();
    assert_eq!(before.status.code(), Some(0), "{before:?}");
    assert!(!String::from_utf8_lossy(&before.stderr).contains("billed"), "{before:?}");

    // The demo's legacy database never stopped billing: its July and August bills are seconds.
    let out = cutover(&ws).args(["extract", "--as-of", "2017-08-15"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    let warning =
        err.lines().find(|l| l.starts_with("warning: the legacy system billed ")).unwrap_or_else(|| panic!("{err}"));
    assert!(warning.contains("after it was to stop (legacy-suppression.csv)"), "{warning}");
    assert!(!warning.contains(rolled.as_str()), "rolled back, billed by the legacy system again: {warning}");
    let named = &cut[1];
    assert!(warning.contains(&format!("{named} (2017-07 USD ")), "{warning}");
    // Amounts as people read them: thousands separated, two decimals.
    let rest = warning.split(&format!("{named} (2017-07 USD ")).nth(1).unwrap();
    let amount = rest.split([';', ')']).next().unwrap().split(", 20").next().unwrap();
    let digits = amount.replace(',', "");
    assert!(
        digits.parse::<cutover::domain::Decimal>().is_ok() && amount.chars().rev().nth(2) == Some('.'),
        "{amount}: {warning}"
    );
    assert_eq!(amount.contains(','), digits.len() > 6, "thousands separated: {amount}");
    let one = json(&ws, &["status", "--account", named, "--format", "json"]);
    let periods: Vec<&str> = one["suppression"]["billed_twice"]
        .as_array()
        .unwrap_or_else(|| panic!("{one}"))
        .iter()
        .map(|b| b["period"].as_str().unwrap())
        .collect();
    assert_eq!(periods, ["2017-07", "2017-08"], "September's bill was not issued by August 15: {one}");
    let text = String::from_utf8_lossy(&cutover(&ws).args(["status", named]).output().unwrap().stdout).to_string();
    assert!(text.contains("BILLED TWICE: the legacy system billed it after it was to stop: 2017-07 USD "), "{text}");
    let rolled_back = json(&ws, &["status", "--account", rolled, "--format", "json"]);
    assert!(rolled_back["suppression"]["billed_twice"].is_null(), "{rolled_back}");
    // `status` keeps the extraction's warning.
    let all = json(&ws, &["status", "--format", "json"]);
    let warnings = all["extraction_warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().starts_with("the legacy system billed ")), "{warnings:?}");

    // The legacy team credits July in full: July is no longer a second bill; August still is.
    let db = rusqlite::Connection::open(ws.join("legacy.db")).unwrap();
    let credited = db
        .execute(
            "INSERT INTO legacy_invoice_lines (account_number, invoice_number, period, legacy_code, description, \
             service_start, service_end, quantity, unit_price, amount) \
             SELECT account_number, invoice_number || '-CR', period, legacy_code, 'credit: billed twice', \
             service_start, service_end, quantity, unit_price, printf('%.2f', -CAST(amount AS REAL)) \
             FROM legacy_invoice_lines WHERE account_number = ?1 AND period = '2017-07'",
            [named.as_str()],
        )
        .unwrap();
    assert!(credited > 0);
    drop(db);
    let out = cutover(&ws).args(["extract", "--as-of", "2017-08-15"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains(&format!("{named} (2017-08 USD ")), "{err}");
    let one = json(&ws, &["status", "--account", named, "--format", "json"]);
    let periods: Vec<&str> =
        one["suppression"]["billed_twice"].as_array().unwrap().iter().map(|b| b["period"].as_str().unwrap()).collect();
    assert_eq!(periods, ["2017-08"], "July credited: {one}");
    // An extraction cannot be taken as of a day that has not come.
    let future = cutover(&ws).args(["extract", "--as-of", "2999-01-01"]).output().unwrap();
    assert_eq!(future.status.code(), Some(2), "{future:?}");
}

/// A wave file changed after its accounts were reconciled (a tolerance) does not re-judge them:
/// the report says its verdicts are the earlier ones, and how many.
#[test]
fn a_reconciliation_says_when_its_verdicts_predate_a_change_of_the_wave_file() {
    let ws = support::csv_workspace();
    let dir = ws.path();
    let out = cutover(dir).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-01"]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    let quiet = cutover(dir).args(["reconcile", "--wave", "dc1-colocation"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("judged otherwise"), "{quiet:?}");
    let wave = dir.join("waves/dc1-colocation.yaml");
    let text = std::fs::read_to_string(&wave).unwrap();
    assert!(text.contains("tolerance: \"0.01\""), "{text}");
    std::fs::write(&wave, text.replace("tolerance: \"0.01\"", "tolerance: \"50.00\"")).unwrap();
    let out = cutover(dir).args(["reconcile", "--wave", "dc1-colocation", "--format", "json"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let rep: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The accounts that failed on a difference under 50.00 would pass now; the exact matches
    // would be matches under any tolerance.
    let failing: Vec<&Value> = rep["accounts"].as_array().unwrap().iter().filter(|a| a["status"] != "pass").collect();
    assert!(!failing.is_empty() && failing.len() < rep["accounts"].as_array().unwrap().len(), "{rep}");
    assert!(
        err.contains(&format!(
            "note: {} account(s) of dc1-colocation would be judged otherwise under the wave file as it is now",
            failing.len()
        )),
        "{err}"
    );
}

/// `run --rejudge` applies a changed wave file to the accounts reconciled before the change:
/// with its accepted reasons taken out, each account that passed on one (not notified yet) goes
/// back to `rated`, journaled, and the same run holds it under the file as it is; the accounts
/// that passed without one stay reconciled, and a second run puts nothing back.
#[test]
fn rejudge_applies_a_changed_wave_file_to_accounts_already_reconciled() {
    let (_t, ws) = support::demo_until(200, 2017, "2017-05-02");
    let state = |a: &str| json(&ws, &["status", "--account", a, "--format", "json"])["account"]["state"].clone();
    let (on_accepted, plain) = reconciled_on_accepted_reasons(&ws);
    assert!(!on_accepted.is_empty() && !plain.is_empty(), "{on_accepted:?} {plain:?}");
    let wave = ws.join("waves/dc1-colocation.yaml");
    let text = std::fs::read_to_string(&wave).unwrap();
    assert!(text.contains("accept: [proration_convention, rounding]"), "{text}");
    std::fs::write(&wave, text.replace("accept: [proration_convention, rounding]", "accept: []")).unwrap();

    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--wave", "dc1-colocation", "--as-of", "2017-05-02"];
        args.extend(extra);
        let out = cutover(&ws).args(&args).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // A run without the flag keeps the verdicts, and says so.
    let out = cutover(&ws).args(["run", "--wave", "dc1-colocation", "--as-of", "2017-05-02"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains(&format!(
            "note: {} reconciled and 0 notified account(s) of dc1-colocation would be judged otherwise",
            on_accepted.len()
        )),
        "{err}"
    );
    assert!(on_accepted.iter().all(|a| state(a) == "reconciled"), "kept: {on_accepted:?}");
    let out = run(&["--rejudge"]);
    assert!(
        out.contains(&format!(
            "{} reconciled account(s) put back to be judged under the wave file as it is now",
            on_accepted.len()
        )),
        "{out}"
    );
    for a in &on_accepted {
        let one = json(&ws, &["status", "--account", a, "--format", "json"]);
        assert_eq!(one["account"]["state"], "held", "{one}");
        let journal = one["journal"].as_array().unwrap();
        let tail: Vec<(&str, &str)> = journal
            .iter()
            .rev()
            .take(2)
            .rev()
            .map(|j| (j["from"].as_str().unwrap(), j["to"].as_str().unwrap()))
            .collect();
        assert_eq!(tail, [("reconciled", "rated"), ("rated", "held")], "{one}");
        assert!(journal[journal.len() - 2]["reason"].as_str().unwrap().contains("judged again"), "{one}");
        assert!(journal[journal.len() - 1]["reason"].as_str().unwrap().starts_with("reconciliation failed"), "{one}");
    }
    for a in &plain {
        assert_eq!(state(a), "reconciled", "{a} passed without an accepted reason");
    }
    // Judged under the file as it is now: nothing left to put back, and `reconcile` has no note.
    assert!(run(&["--rejudge"]).contains("0 reconciled account(s) put back"));
    let out = cutover(&ws).args(["reconcile", "--wave", "dc1-colocation"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("judged otherwise"), "{out:?}");
}

/// dc1-colocation's reconciled accounts: (those with a difference the wave accepts, the others).
fn reconciled_on_accepted_reasons(ws: &Path) -> (Vec<String>, Vec<String>) {
    let state = |a: &str| json(ws, &["status", "--account", a, "--format", "json"])["account"]["state"].clone();
    let out = cutover(ws).args(["reconcile", "--wave", "dc1-colocation", "--format", "json"]).output().unwrap();
    let rep: Value = serde_json::from_slice(&out.stdout).unwrap();
    let accepted_only = |a: &&Value| {
        let findings = || a["periods"].as_array().unwrap().iter().flat_map(|p| p["findings"].as_array().unwrap());
        findings().any(|f| f["accepted"] == true)
    };
    let reconciled: Vec<&Value> = rep["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| state(a["account_number"].as_str().unwrap()) == "reconciled")
        .collect();
    let (a, p): (Vec<&Value>, Vec<&Value>) = reconciled.into_iter().partition(accepted_only);
    let numbers = |v: Vec<&Value>| v.iter().map(|a| a["account_number"].as_str().unwrap().to_string()).collect();
    (numbers(a), numbers(p))
}

/// A changed per-account tolerance alone is a change of judgement too: with no difference
/// accepted any more but a period tolerance large enough for them, every period keeps its status,
/// and a per-account tolerance of zero fails the accounts whose differences were accepted. `run`
/// counts them, `reconcile` notes them, and `run --rejudge` holds them; the others pass as before.
#[test]
fn rejudge_applies_a_changed_per_account_tolerance() {
    let (_t, ws) = support::demo_until(200, 2017, "2017-05-02");
    let state = |a: &str| json(&ws, &["status", "--account", a, "--format", "json"])["account"]["state"].clone();
    let (on_accepted, plain) = reconciled_on_accepted_reasons(&ws);
    assert!(!on_accepted.is_empty() && !plain.is_empty(), "{on_accepted:?} {plain:?}");
    // Accounts with a period over its tolerance: within the new one (a change `reconcile` notes
    // too, for `--recheck-held`).
    let out = cutover(&ws).args(["reconcile", "--wave", "dc1-colocation", "--format", "json"]).output().unwrap();
    let rep: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mismatched = rep["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["periods"].as_array().unwrap().iter().any(|p| p["status"] == "mismatch"))
        .count();
    let wave = ws.join("waves/dc1-colocation.yaml");
    let text = std::fs::read_to_string(&wave).unwrap();
    let changed = text
        .replace("accept: [proration_convention, rounding]", "accept: []")
        .replace("tolerance: \"0.01\"", "tolerance: \"100000\"\naccount_tolerance: \"0.00\"");
    assert!(changed.contains("account_tolerance") && changed.contains("accept: []"), "{text}");
    std::fs::write(&wave, changed).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--wave", "dc1-colocation", "--as-of", "2017-05-02"];
        args.extend(extra);
        let out = cutover(&ws).args(&args).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
        (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (_, err) = run(&[]);
    let n = on_accepted.len();
    assert!(
        err.contains(&format!(
            "note: {n} reconciled and 0 notified account(s) of dc1-colocation would be judged otherwise"
        )),
        "{err}"
    );
    let out = cutover(&ws).args(["reconcile", "--wave", "dc1-colocation"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let noted = n + mismatched;
    assert!(err.contains(&format!("note: {noted} account(s) of dc1-colocation would be judged otherwise")), "{err}");
    let (out, _) = run(&["--rejudge"]);
    assert!(out.contains(&format!("{n} reconciled account(s) put back")), "{out}");
    for a in &on_accepted {
        assert_eq!(state(a), "held", "{a}: its accepted differences are over the per-account tolerance now");
    }
    for a in &plain {
        assert_eq!(state(a), "reconciled", "{a}");
    }
}

/// `hold` keeps one account from its cut-over, a person's decision journaled with its reason: a
/// notified account is held (the note names the date its customer was told), a second hold
/// changes nothing, a cut-over account is refused towards `rollback`; `run --recheck-held` leaves
/// it held, `hold --release` puts it back, and its next notice gives the new date.
#[test]
fn hold_keeps_one_account_from_its_cut_over_until_it_is_put_back() {
    let (_t, ws) = support::demo_until(200, 2017, "2017-10-01");
    let notified = json(&ws, &["status", "--wave", "dc2-colocation", "--state", "notified", "--format", "json"]);
    let acct = notified["accounts"][0]["account_number"].as_str().unwrap().to_string();
    let told = notified["accounts"][0]["first_new_bill_date"].as_str().unwrap().to_string();
    let journal_len =
        |a: &str| json(&ws, &["status", "--account", a, "--format", "json"])["journal"].as_array().unwrap().len();
    let before = journal_len(&acct);

    let out = cutover(&ws).args(["hold", &acct, "--reason", "customer disputes the rack count"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("{acct} held (was notified): customer disputes the rack count")), "{stdout}");
    assert!(stderr.contains(&format!("was told the first new bill comes on {told}")), "{stderr}");
    assert!(stderr.contains(&format!("cutover hold {acct} --release")), "{stderr}");
    let one = json(&ws, &["status", "--account", &acct, "--format", "json"]);
    assert_eq!(one["account"]["state"], "held", "{one}");
    let last = one["journal"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["from"].as_str(), last["to"].as_str()), (Some("notified"), Some("held")), "{last}");
    assert!(last["actor"].as_str().unwrap().ends_with("(hold)"), "{last}");
    assert!(last["reason"].as_str().unwrap().contains("customer disputes the rack count"), "{last}");
    assert_eq!(journal_len(&acct), before + 1);

    // Held already: nothing changes, and the second reason is not recorded.
    let again = cutover(&ws).args(["hold", &acct, "--reason", "a second time"]).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stdout).contains("was already held"), "{again:?}");
    assert_eq!(journal_len(&acct), before + 1);

    // A mistyped number: the likely typo pointed out, by `hold` as by `bill`.
    let lower = acct.to_lowercase();
    for args in [vec!["hold", lower.as_str(), "--reason", "x"], vec!["bill", lower.as_str(), "--period", "2017-09"]] {
        let out = cutover(&ws).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{acct}?")), "{args:?}: {out:?}");
    }
    // A cut-over account is the new system's: `rollback` returns it, not `hold`.
    let cut = json(&ws, &["status", "--wave", "dc1-colocation", "--state", "cut_over", "--format", "json"]);
    let cut = cut["accounts"][0]["account_number"].as_str().unwrap().to_string();
    let refused = cutover(&ws).args(["hold", &cut, "--reason", "x"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains(&format!("cutover rollback {cut}")), "{refused:?}");
    assert_eq!(json(&ws, &["status", "--account", &cut, "--format", "json"])["account"]["state"], "cut_over");

    // `run --recheck-held` leaves an account a person held, and a waiver would too.
    let out = cutover(&ws)
        .args(["run", "--wave", "dc2-colocation", "--as-of", "2017-10-02", "--recheck-held"])
        .output()
        .unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("held by a person stay held"), "{out:?}");
    assert_eq!(json(&ws, &["status", "--account", &acct, "--format", "json"])["account"]["state"], "held");
    // Released by a person: a new schedule, and on its notice day a notice for the new date.
    let out = cutover(&ws).args(["hold", &acct, "--release", "--reason", "count agreed"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{acct} put back: count agreed")), "{out:?}");
    let out = cutover(&ws).args(["run", "--wave", "dc2-colocation", "--as-of", "2017-10-02"]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    let back = json(&ws, &["status", "--account", &acct, "--format", "json"]);
    let notice_day = back["account"]["notice_date"].as_str().unwrap().to_string();
    let first = back["account"]["first_new_bill_date"].as_str().unwrap().to_string();
    assert_ne!(first, told, "{back}");
    let out = cutover(&ws).args(["run", "--wave", "dc2-colocation", "--as-of", &notice_day]).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    let eml = std::fs::read_to_string(ws.join(format!("outbox/dc2-colocation-{acct}-{first}.eml"))).unwrap();
    assert!(eml.contains("Subject: New date: "), "{eml}");
}

/// A person's hold on an account a stage held (here its reconciliation) is recorded on top, `held
/// -> held` with both reasons: a waiver and `run --recheck-held` then leave it, as they leave any
/// account a person held, until `hold --release`, whose hint names the wave's clock (a simulated
/// one here, not today's). Before, the hold was not recorded and a waiver moved the account on.
#[test]
fn a_person_holds_an_account_a_stage_held_on_top_of_the_stage() {
    let (_t, ws) = support::demo_until(200, 2017, "2017-10-01");
    let held = json(&ws, &["status", "--state", "held", "--format", "json"]);
    let row = held["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["reason"].as_str().is_some_and(|r| r.starts_with("reconciliation failed")))
        .expect("an account its reconciliation held")
        .clone();
    let (acct, wave) = (row["account_number"].as_str().unwrap(), row["wave"].as_str().unwrap());
    let state = |a: &str| json(&ws, &["status", "--account", a, "--format", "json"])["account"]["state"].clone();

    let out = cutover(&ws).args(["hold", acct, "--reason", "legal dispute: do not migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!(
            "{acct} held by a person now: legal dispute: do not migrate; a stage had held it (reconciliation failed"
        )),
        "{said}"
    );
    let one = json(&ws, &["status", "--account", acct, "--format", "json"]);
    let last = one["journal"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["from"].as_str(), last["to"].as_str()), (Some("held"), Some("held")), "{last}");
    let reason = last["reason"].as_str().unwrap();
    assert!(reason.starts_with("held by a person from held (reconciliation failed"), "{reason}");
    assert!(reason.ends_with("legal dispute: do not migrate"), "{reason}");

    // A waiver is recorded and moves nothing, and the person's hold stays first in the account's
    // reason (a waiver used to replace it, and the next recheck moved the account on); so does
    // a revoked one. A recheck leaves it; a second hold changes nothing.
    for args in [vec!["waive", acct, "--reason", "price agreed"], vec!["waive", acct, "--reason", "no", "--revoke"]] {
        let out = cutover(&ws).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        let one = json(&ws, &["status", "--account", acct, "--format", "json"]);
        assert_eq!(one["account"]["state"], "held", "{args:?}");
        let reason = one["account"]["state_reason"].as_str().unwrap();
        assert!(reason.starts_with("held by a person from held (reconciliation failed"), "{args:?}: {reason}");
        // The journal has the note itself.
        let note = one["journal"].as_array().unwrap().last().unwrap()["reason"].as_str().unwrap().to_string();
        assert!(note.contains("waive"), "{args:?}: {note}");
    }
    let out = cutover(&ws).args(["waive", acct, "--reason", "price agreed after all"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = cutover(&ws).args(["run", "--wave", wave, "--as-of", "2017-10-01", "--recheck-held"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("held by a person stay held"), "{out:?}");
    assert_eq!(state(acct), "held");
    let again = cutover(&ws).args(["hold", acct, "--reason", "a second time"]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("was already held by a person"), "{again:?}");

    // Put back: its wave runs on the demo's clock, which the hint names.
    let out = cutover(&ws).args(["hold", acct, "--release", "--reason", "dispute settled"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("{acct} put back: dispute settled")), "{said}");
    assert!(
        said.contains(&format!(
            "the wave runs on a clock of its own (its journal's latest such row is dated 2017-10-01): `cutover run \
             --wave {wave} --as-of DAY`, DAY on or after 2017-10-01"
        )),
        "{said}"
    );
    assert_eq!(state(acct), "extracted");
}

/// Commands on one account name what they act on: `notify --resolve` finds the account's wave
/// itself and `--preview` refuses another wave's; `bill --legacy` says when the legacy system has
/// no bill for the period (not a bill of 0); a dry run's rollback names the workspace's reversal
/// record, not its scratch copy; `readmit` names a mistyped wave before the account's state, and
/// a second readmission to the same wave changes nothing (exit 0).
#[test]
fn commands_on_one_account_name_what_they_act_on() {
    let (_t, ws) = support::demo_until(200, 2017, "2017-10-01");
    let reconciled = json(&ws, &["status", "--wave", "dc3-colocation", "--state", "reconciled", "--format", "json"]);
    let r = reconciled["accounts"][0]["account_number"].as_str().unwrap().to_string();
    let out = cutover(&ws).args(["notify", "--resolve", &r, "--as", "sent", "--reason", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("no notice of {r} in wave dc3-colocation is unknown")), "{err}");
    let out = cutover(&ws).args(["notify", "--preview", &r, "--wave", "dc1-colocation"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("{r} is in wave dc3-colocation, not dc1-colocation")),
        "{out:?}"
    );
    assert!(
        cutover(&ws).args(["notify", "--preview", &r, "--wave", "dc3-colocation"]).output().unwrap().status.success()
    );

    let cut = json(&ws, &["status", "--wave", "dc1-colocation", "--state", "cut_over", "--format", "json"]);
    let c = cut["accounts"][0]["account_number"].as_str().unwrap().to_string();
    let out = cutover(&ws).args(["bill", &c, "--period", "2018-03", "--legacy"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("note: the legacy system has no bill of {c} for 2018-03 (its legacy bills")),
        "{err}"
    );
    let out = cutover(&ws).args(["bill", &c, "--period", "2017-06", "--legacy"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("has no bill"), "{out:?}");

    let out = cutover(&ws).args(["rollback", &c, "--reason", "x", "--dry-run"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("the reversal record would be in ") && said.contains("/import/dc1-colocation/"), "{said}");
    assert!(!said.contains("cutover-dry-run"), "a scratch path, gone when the command ended: {said}");
    assert_eq!(json(&ws, &["status", "--account", &c, "--format", "json"])["account"]["state"], "cut_over");

    let out = cutover(&ws).args(["rollback", &c, "--reason", "disputes the overage"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let readmit = |wave: &str| {
        cutover(&ws)
            .args(["readmit", &c, "--wave", wave, "--reason", "explained", "--as-of", "2017-11-01"])
            .output()
            .unwrap()
    };
    let out = readmit("dc3-colocatoin");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no wave `dc3-colocatoin`"), "{out:?}");
    let out = readmit("dc3-colocation");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{c} readmitted to wave dc3-colocation")),
        "{out:?}"
    );
    let journal = json(&ws, &["status", "--account", &c, "--format", "json"])["journal"].as_array().unwrap().len();
    let out = readmit("dc3-colocation");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{c} was readmitted to wave dc3-colocation already")),
        "{out:?}"
    );
    assert_eq!(
        json(&ws, &["status", "--account", &c, "--format", "json"])["journal"].as_array().unwrap().len(),
        journal
    );

    // Its trail stays with the wave each row happened in: its rollback is dc1's, its readmission
    // on is dc3's (`journal --wave` followed the account's current wave, so dc1's trail lost it).
    let moves = |wave: &str| -> Vec<String> {
        json(&ws, &["journal", &c, "--wave", wave, "--format", "json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|j| format!("{} -> {}", j["from"].as_str().unwrap(), j["to"].as_str().unwrap()))
            .collect()
    };
    let dc1 = moves("dc1-colocation");
    assert_eq!(dc1.first().map(String::as_str), Some("pending -> extracted"), "{dc1:?}");
    assert_eq!(dc1.last().map(String::as_str), Some("cut_over -> rolled_back"), "{dc1:?}");
    assert_eq!(moves("dc3-colocation"), ["rolled_back -> extracted"]);
    let whole = json(&ws, &["journal", "--wave", "dc1-colocation", "--format", "json"]);
    assert!(whole.as_array().unwrap().iter().any(|j| j["account_number"] == c.as_str() && j["to"] == "rolled_back"));
}
