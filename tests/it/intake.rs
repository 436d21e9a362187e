//! Legacy intake at its edges, through the real binary: headers that lack a SPEC §2 column, quotes
//! and field counts that would silently lose or shift rows, empty files, and secrets in URLs.

use super::support;
use serde_json::Value;
use sqlx::Connection;
use std::path::Path;

use support::cutover;

/// Drops a column from a fixture CSV file of the workspace.
fn drop_column(ws: &Path, file: &str, column: &str) {
    let path = ws.join("legacy").join(file);
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_path(&path).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let gone = headers.iter().position(|h| h == column).unwrap();
    let mut w = csv::Writer::from_writer(vec![]);
    let keep = |r: &csv::StringRecord| -> Vec<String> {
        r.iter().enumerate().filter(|(i, _)| *i != gone).map(|(_, v)| v.to_string()).collect()
    };
    w.write_record(keep(&headers)).unwrap();
    for r in rdr.records() {
        w.write_record(keep(&r.unwrap())).unwrap();
    }
    std::fs::write(&path, w.into_inner().unwrap()).unwrap();
}

fn status(ws: &Path) -> Value {
    let out = cutover(ws).args(["status", "--format", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_header_without_a_column_bills_depend_on_refuses_the_file_naming_it() {
    // (file, column)
    let table = [
        ("accounts.csv", "bill_cycle_day"),
        ("accounts.csv", "status"),
        ("accounts.csv", "currency"),
        ("services.csv", "end_date"),
        ("legacy_invoice_lines.csv", "amount"),
        ("usage.csv", "usage_date"),
    ];
    for (file, column) in table {
        let ws = support::csv_workspace();
        drop_column(ws.path(), file, column);
        let out = cutover(ws.path()).arg("extract").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file} without {column}: {err}");
        assert!(err.contains(file) && err.contains(&format!("missing column(s): {column}")), "{err}");
        // Nothing was taken in: no account got a default it does not have.
        assert_eq!(status(ws.path())["accounts"].as_array().unwrap().len(), 0, "{file} without {column}");
    }
}

#[test]
fn a_text_column_left_out_is_a_warning_that_status_repeats() {
    let ws = support::csv_workspace();
    drop_column(ws.path(), "services.csv", "description");
    let out = cutover(ws.path()).arg("extract").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("services.csv: no `description` column"));
    let text = cutover(ws.path()).arg("status").output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("no `description` column"));
    let warnings = status(ws.path())["extraction_warnings"].clone();
    assert_eq!(warnings.as_array().unwrap().len(), 1, "{warnings}");
}

/// The same rows quarantined under the same line numbers whether the file ends its lines with
/// LF or CRLF (a spreadsheet's export: its rows were numbered one low, naming the row before).
#[test]
fn a_stray_quote_loses_no_row_and_extra_or_missing_fields_are_quarantined() {
    for ending in ["\n", "\r\n"] {
        a_stray_quote_with_lines_ending(ending);
    }
}

fn a_stray_quote_with_lines_ending(ending: &str) {
    let ws = support::csv_workspace();
    let text = "account_number,service_id,legacy_code,description,quantity,unit_price,start_date,end_date\n\
         A001,S1,CAB-42U,Full cabinet,2,1500.00,2016-01-01,\n\
         A001,S2,PWR-KWH,\"Metered power,1,0.12,2016-01-01,\n\
         A001,S3,XC-FIBER,Fiber cross connect,2,300.00,2017-04-17,\n\
         A002,S4,CAB-21U,Half cabinet,1,900.00,2016-06-01,\n\
         A003,S5,CAB-42U,\"Full cabinet\",1,1200.00,2016-01-01,\n\
         A004,S7,CAB-42U,Full cabinet,1,1400.00,2016-01-01,,surplus\n\
         A005,S8,CLD-VCPU,Virtual machine,8,25.00\n\
         A005,S9,CLD-STOR,\"Cloud\tstorage\",1,0,2016-01-01,\n";
    // The line break inside the last quoted value stays a bare `\n` (as spreadsheets write it).
    let text = text.replace('\n', ending).replace('\t', "\n");
    std::fs::write(ws.path().join("legacy/services.csv"), text).unwrap();
    std::fs::write(ws.path().join("legacy/usage.csv"), "").unwrap();
    let out = cutover(ws.path()).arg("extract").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("usage.csv: the file is empty (0 bytes, no header)"), "an empty file is said: {err}");
    let q: Vec<(String, u64, String)> = status(ws.path())["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["source"].as_str().unwrap().ends_with("services.csv"))
        .map(|q| {
            (
                q["account_number"].as_str().unwrap_or("").into(),
                q["row"].as_u64().unwrap(),
                q["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    let rows: Vec<u64> = q.iter().map(|(_, r, _)| *r).collect();
    assert_eq!(rows, vec![3, 7, 8, 9], "{q:#?}");
    assert!(q[0].2.starts_with("a quote opened on line 3 is not closed on it and swallows lines 4–6"), "{}", q[0].2);
    assert_eq!(q[0].0, "A001", "filed under its own account");
    assert!(q[1].2.contains("9 fields, more than the header's 8"), "{}", q[1].2);
    assert!(q[2].2.contains("6 fields, fewer than the header's 8"), "{}", q[2].2);
    assert!(q[3].2.contains("line break"), "a value over a line break stays one quarantined row: {}", q[3].2);
    // The rows the quote swallowed were taken in: their services are on the bills.
    for (account, code) in [("A001", "XC-FIBER"), ("A002", "CAB-21U"), ("A003", "CAB-42U")] {
        let out =
            cutover(ws.path()).args(["bill", account, "--period", "2017-05", "--format", "json"]).output().unwrap();
        let bill: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(bill["lines"].as_array().unwrap().iter().any(|l| l["legacy_code"] == code), "{account} {code}: {bill}");
    }
}

#[test]
fn a_missing_optional_file_and_an_empty_one_are_taken_alike() {
    for write in [None, Some("")] {
        let ws = support::csv_workspace();
        match write {
            None => std::fs::remove_file(ws.path().join("legacy/usage.csv")).unwrap(),
            Some(text) => std::fs::write(ws.path().join("legacy/usage.csv"), text).unwrap(),
        }
        let out = cutover(ws.path()).arg("extract").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{write:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage.csv: "), "said either way");
        assert!(!status(ws.path())["accounts"].as_array().unwrap().is_empty());
    }
    let ws = support::csv_workspace();
    std::fs::write(ws.path().join("legacy/accounts.csv"), "").unwrap();
    let out = cutover(ws.path()).arg("extract").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no accounts is not a legitimate empty table");
}

/// A SQLite legacy database holding the fixture tables, with `drop` left out of `accounts`.
async fn sqlite_legacy(path: &Path, drop: Option<&str>) {
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for table in cutover::extract::Table::ALL {
        let csv_path = support::fixtures().join("legacy").join(format!("{}.csv", table.name()));
        let mut rdr = csv::ReaderBuilder::new().flexible(true).from_path(&csv_path).unwrap();
        let headers: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
        let cols: Vec<&str> = table
            .columns()
            .iter()
            .copied()
            .filter(|c| table != cutover::extract::Table::Accounts || Some(*c) != drop)
            .collect();
        let ddl = cols.iter().map(|c| format!("{c} TEXT")).collect::<Vec<_>>().join(", ");
        sqlx::query(&format!("CREATE TABLE {} ({ddl})", table.name())).execute(&mut conn).await.unwrap();
        for r in rdr.records() {
            let r = r.unwrap();
            let values: Vec<String> = cols
                .iter()
                .map(|c| headers.iter().position(|h| h == c).and_then(|i| r.get(i)).unwrap_or(""))
                .map(|v| format!("'{}'", v.replace('\'', "''")))
                .collect();
            sqlx::query(&format!("INSERT INTO {} ({}) VALUES ({})", table.name(), cols.join(", "), values.join(", ")))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn a_sql_table_without_a_column_is_refused_like_a_csv_file() {
    let ws = support::csv_workspace();
    std::fs::write(ws.path().join("cutover.yaml"), "source: { kind: sql, url: \"sqlite://legacy.db\" }\n").unwrap();
    sqlite_legacy(&ws.path().join("legacy.db"), Some("bill_cycle_day")).await;
    let out = cutover(ws.path()).arg("extract").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("table accounts") && err.contains("missing column(s): bill_cycle_day"), "{err}");

    let ok = support::csv_workspace();
    std::fs::write(ok.path().join("cutover.yaml"), "source: { kind: sql, url: \"sqlite://legacy.db\" }\n").unwrap();
    sqlite_legacy(&ok.path().join("legacy.db"), None).await;
    let out = cutover(ok.path()).arg("extract").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_sqlite_cell_that_is_not_utf8_quarantines_its_row_and_the_rest_is_read() {
    // A cell that is not UTF-8 makes only its row bad: it is quarantined, with its place in the
    // table, and every other row is read.
    let ws = support::csv_workspace();
    std::fs::write(ws.path().join("cutover.yaml"), "source: { kind: sql, url: \"sqlite://legacy.db\" }\n").unwrap();
    let db = ws.path().join("legacy.db");
    sqlite_legacy(&db, None).await;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query("UPDATE services SET description = CAST(x'ff41' AS TEXT) WHERE rowid = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM services").fetch_one(&mut conn).await.unwrap();
    drop(conn);
    let out = cutover(ws.path()).arg("extract").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // "extracted N accounts and M records from …"
    let records = |out: &std::process::Output| -> u64 {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let m = text.split(" records").next().and_then(|t| t.rsplit(' ').next()).and_then(|n| n.parse().ok());
        m.unwrap_or_else(|| panic!("no record count in {text:?}"))
    };
    let read = records(&out);
    let services = |st: &Value, suffix: &str| -> std::collections::BTreeSet<(u64, String)> {
        st["quarantined"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["source"].as_str().unwrap().ends_with(suffix))
            .map(|q| (q["row"].as_u64().unwrap(), q["reason"].as_str().unwrap().to_string()))
            .collect()
    };
    let st = status(ws.path());
    let csv = support::csv_workspace();
    let csv_out = cutover(csv.path()).arg("extract").output().unwrap();
    assert!(csv_out.status.success());
    let from_csv = status(csv.path());
    // The same rows quarantined as from the CSV files (whose row numbers count the header line),
    // and the one that is not UTF-8.
    let mut expected: std::collections::BTreeSet<_> =
        services(&from_csv, "services.csv").into_iter().map(|(row, why)| (row - 1, why)).collect();
    assert!(!expected.is_empty());
    expected.insert((2, "description: not valid UTF-8".to_string()));
    assert_eq!(services(&st, ":services"), expected, "{st}");
    assert_eq!(read + 1, records(&csv_out), "one record fewer of {total} services");
}

#[tokio::test]
async fn a_sqlite_view_is_read_like_the_table_it_shows() {
    // A legacy schema may offer its tables as views (which have no rowid): the same rows, in the
    // same order, quarantined at the same places.
    let extract = async |as_view: bool| -> (Value, String) {
        let ws = support::csv_workspace();
        std::fs::write(ws.path().join("cutover.yaml"), "source: { kind: sql, url: \"sqlite://legacy.db\" }\n").unwrap();
        let db = ws.path().join("legacy.db");
        sqlite_legacy(&db, None).await;
        if as_view {
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
            sqlx::raw_sql(
                "ALTER TABLE services RENAME TO services_base; CREATE VIEW services AS SELECT * FROM services_base",
            )
            .execute(&mut conn)
            .await
            .unwrap();
        }
        let out = cutover(ws.path()).arg("extract").output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        // Each quarantined row without its source (the folder's name), and what extract said.
        let mut st = status(ws.path());
        for q in st["quarantined"].as_array_mut().unwrap() {
            q.as_object_mut().unwrap().remove("source");
        }
        let said = String::from_utf8_lossy(&out.stdout).replace(&ws.path().display().to_string(), "WS");
        (st["quarantined"].clone(), said)
    };
    let (table, view) = (extract(false).await, extract(true).await);
    assert!(table.0.as_array().is_some_and(|q| q.iter().any(|q| q["table"] == "services")), "{table:?}");
    assert_eq!(table, view);
}

#[test]
fn a_password_never_shows_in_an_error_whatever_it_holds() {
    let secrets = ["S3c?retPW", "pa#ss", "p/ss@x", "p%40ss"];
    for secret in secrets {
        // The legacy database (no such database: the error names the URL).
        let ws = support::csv_workspace();
        std::fs::write(ws.path().join("cutover.yaml"), "source: { kind: sql }\n").unwrap();
        let out = cutover(ws.path())
            .env("CUTOVER_SOURCE_URL", format!("postgres://postgres:{secret}@127.0.0.1:5432/cutover_no_such_legacy"))
            .arg("extract")
            .output()
            .unwrap();
        let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_ne!(out.status.code(), Some(0), "{shown}");
        assert!(!shown.contains(secret) && !shown.contains("retPW"), "source {secret}: {shown}");
        // The state store.
        let ws = support::csv_workspace();
        let out = cutover(ws.path())
            .env("CUTOVER_STORE_URL", format!("postgres://postgres:{secret}@127.0.0.1:5432/cutover_no_such_state"))
            .arg("status")
            .output()
            .unwrap();
        let shown = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_ne!(out.status.code(), Some(0), "{shown}");
        assert!(!shown.contains(secret) && !shown.contains("retPW"), "store {secret}: {shown}");
        assert!(shown.contains("postgres://postgres:***@"), "the URL is still recognisable: {shown}");
        if secret != "p%40ss" {
            assert!(shown.contains("percent-encoded"), "says what is wrong with it: {shown}");
        }
    }
}

#[test]
fn the_email_form_refuses_what_no_server_delivers_and_names_each_rows_line() {
    let ws = support::csv_workspace();
    assert!(cutover(ws.path()).arg("extract").output().unwrap().status.success());
    let form = ws.path().join("form.csv");
    std::fs::write(
        &form,
        "account_number,email,name,submitted_at\n\
         A001,root@[127.0.0.1],Ann,2017-05-20\n\
         A002,billing@localhost,Bob,2017-05-20\n\
         A777,ap@nobody.example,Nobody,2017-05-20\n\
         A003,ap@ok.example,Cy,2017-05-20\n",
    )
    .unwrap();
    let out = cutover(ws.path()).args(["contacts", "import"]).arg(&form).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("form.csv:")).collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines.iter().any(|l| l.contains("form.csv:2: A001") && l.contains("no deliverable domain")), "{err}");
    assert!(lines.iter().any(|l| l.contains("form.csv:3: A002") && l.contains("no deliverable domain")), "{err}");
    assert!(
        lines.iter().any(|l| l.contains("form.csv:4: A777") && l.contains("unknown account")),
        "the real line: {err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 account(s) updated"));
}
