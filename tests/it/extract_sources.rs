//! Legacy intake from a CSV folder and from SQLite, PostgreSQL and MariaDB tables: the same rows
//! give the same records and the same quarantine reasons, whatever the source.

use super::support;
use cutover::extract::{RawRow, Record, Sink, Source, Table};
use sqlx::Connection;

/// Collects what a scan produces: (table, account, parsed-or-reason) per row.
#[derive(Default)]
struct Collect(Vec<(Table, Option<String>, Result<String, String>)>);

impl Sink for Collect {
    async fn batch(&mut self, rows: Vec<(RawRow, Result<Record, String>)>) -> Result<(), cutover::extract::SinkError> {
        for (raw, parsed) in rows {
            let parsed = parsed.map(|r| serde_json::to_string(&r).unwrap());
            self.0.push((raw.table, raw.account_number().map(str::to_string), parsed));
        }
        Ok(())
    }

    async fn warn(&mut self, _source: &str, message: String) -> Result<(), cutover::extract::SinkError> {
        // The fixtures have every SPEC §2 column; only an optional table may be absent.
        assert!(message.starts_with("no such"), "{message}");
        Ok(())
    }
}

async fn scan(source: Source) -> Vec<(Table, Option<String>, Result<String, String>)> {
    let mut c = Collect::default();
    cutover::extract::scan(&source, &mut c).await.expect("scan");
    c.0
}

/// The fixture CSV files as SQL statements (all columns text); `q` quotes table names.
fn fixture_inserts(q: char) -> Vec<String> {
    let mut sql = Vec::new();
    for table in Table::ALL {
        let path = support::fixtures().join("legacy").join(format!("{}.csv", table.name()));
        let mut rdr = csv::ReaderBuilder::new().flexible(true).from_path(&path).unwrap();
        let headers: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
        let cols = table.columns();
        sql.push(format!(
            "CREATE TABLE {q}{}{q} ({})",
            table.name(),
            cols.iter().map(|c| format!("{c} TEXT")).collect::<Vec<_>>().join(", ")
        ));
        for rec in rdr.records() {
            let rec = rec.unwrap();
            let values: Vec<String> = cols
                .iter()
                .map(|c| match headers.iter().position(|h| h == c).and_then(|i| rec.get(i)) {
                    Some("") | None => "NULL".to_string(),
                    Some(v) => format!("'{}'", v.replace('\'', "''")),
                })
                .collect();
            sql.push(format!(
                "INSERT INTO {q}{}{q} ({}) VALUES ({})",
                table.name(),
                cols.join(", "),
                values.join(", ")
            ));
        }
    }
    sql
}

fn same_as_csv(
    csv: &[(Table, Option<String>, Result<String, String>)],
    sql: &[(Table, Option<String>, Result<String, String>)],
    what: &str,
) {
    assert_eq!(csv.len(), sql.len(), "{what}: row count");
    for (a, b) in csv.iter().zip(sql) {
        assert_eq!(a, b, "{what}");
    }
}

#[tokio::test]
async fn csv_rows_parse_or_carry_their_reason() {
    let rows = scan(Source::Csv(support::fixtures().join("legacy"))).await;
    let bad: Vec<_> =
        rows.iter().filter_map(|(t, a, r)| r.as_ref().err().map(|e| (*t, a.clone(), e.clone()))).collect();
    let expect = [
        (Table::Accounts, Some("A006"), "bill_cycle_day: `45` is not a day from 1 to 31"),
        (Table::Services, Some("A001"), "unit_price: `abc` is not a decimal number"),
        (Table::Services, Some("A001"), "description: contains a line break"),
        (
            Table::Usage,
            Some("A001"),
            "usage_date: `2017-02-30` is no day of the calendar (YYYY-MM-DD: that month has no such day)",
        ),
        (Table::Usage, Some("A001"), "quantity: `-5` is negative"),
        (Table::LegacyInvoiceLines, Some("A001"), "period: `2017-4` is not a period (expected YYYY-MM)"),
        (Table::Contacts, Some("A002"), "role: `billing` is not bill_to or sold_to"),
    ];
    assert_eq!(bad.len(), expect.len(), "{bad:#?}");
    for ((t, a, r), (et, ea, er)) in bad.iter().zip(expect) {
        assert_eq!((*t, a.as_deref(), r.as_str()), (et, ea, er));
    }
    // A missing column is a configuration error, not a quarantine.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("accounts.csv"), "name,segment\nAcme,cloud\n").unwrap();
    let err = cutover::extract::scan(&Source::Csv(dir.path().into()), &mut Collect::default()).await.unwrap_err();
    assert!(err.to_string().contains("missing column(s): account_number"), "{err}");
}

#[tokio::test]
async fn sqlite_tables_read_like_csv() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("legacy.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for s in fixture_inserts('"') {
        sqlx::query(&s).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let csv = scan(Source::Csv(support::fixtures().join("legacy"))).await;
    let sql = scan(Source::Sql(url)).await;
    same_as_csv(&csv, &sql, "sqlite");
}

#[tokio::test]
async fn postgres_tables_read_like_csv() {
    let Some(url) = support::postgres_db().await else { return };
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    for s in fixture_inserts('"') {
        sqlx::query(&s).execute(&mut conn).await.unwrap();
    }
    // Typed columns are read as text too.
    sqlx::raw_sql("CREATE TABLE typed (d DATE, n NUMERIC(12,4))").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let csv = scan(Source::Csv(support::fixtures().join("legacy"))).await;
    let sql = scan(Source::Sql(url)).await;
    same_as_csv(&csv, &sql, "postgres");
}

#[tokio::test]
async fn mariadb_tables_read_like_csv() {
    let Some(url) = support::mariadb_db().await else { return };
    let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
    for s in fixture_inserts('`') {
        sqlx::raw_sql(&s).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let csv = scan(Source::Csv(support::fixtures().join("legacy"))).await;
    let sql = scan(Source::Sql(url)).await;
    same_as_csv(&csv, &sql, "mariadb");
}

#[tokio::test]
async fn postgres_numeric_and_date_columns_are_read_exactly() {
    let Some(url) = support::postgres_db().await else { return };
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE accounts (account_number TEXT, name TEXT, segment TEXT, site TEXT, currency TEXT, \
         bill_cycle_day INTEGER, bill_to_email TEXT, status TEXT); \
         CREATE TABLE services (account_number TEXT, service_id TEXT, legacy_code TEXT, description TEXT, \
         quantity NUMERIC(18,6), unit_price NUMERIC(18,9), start_date DATE, end_date DATE); \
         CREATE TABLE usage (account_number TEXT, service_id TEXT, legacy_code TEXT, usage_date DATE, quantity NUMERIC, uom TEXT); \
         CREATE TABLE legacy_invoice_lines (account_number TEXT, invoice_number TEXT, period TEXT, legacy_code TEXT, \
         description TEXT, service_start DATE, service_end DATE, quantity NUMERIC, unit_price NUMERIC, amount NUMERIC(12,2)); \
         INSERT INTO accounts VALUES ('T1', 'Typed', 'cloud', NULL, 'USD', 15, 'a@t.example', 'active'); \
         INSERT INTO services VALUES ('T1', 'TS1', 'CLD-VCPU', 'vm', 2.5, 0.333333333, '2017-01-31', NULL);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let rows = scan(Source::Sql(url)).await;
    let svc = rows.iter().find(|(t, _, _)| *t == Table::Services).unwrap();
    let v: serde_json::Value = serde_json::from_str(svc.2.as_ref().unwrap()).unwrap();
    assert_eq!(
        (v["quantity"].as_str(), v["unit_price"].as_str(), v["start_date"].as_str()),
        (Some("2.500000"), Some("0.333333333"), Some("2017-01-31"))
    );
    let acct: serde_json::Value = serde_json::from_str(rows[0].2.as_ref().unwrap()).unwrap();
    assert_eq!(acct["bill_cycle_day"], 15);
}

#[tokio::test]
async fn a_source_without_the_optional_contacts_reads_as_before() {
    // SQL: a database made before the contacts table existed.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("legacy.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for s in fixture_inserts('"').iter().filter(|s| !s.contains("\"contacts\"")) {
        sqlx::query(s).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let sql = scan(Source::Sql(url)).await;
    let csv = scan(Source::Csv(support::fixtures().join("legacy"))).await;
    let without: Vec<_> = csv.iter().filter(|r| r.0 != Table::Contacts).cloned().collect();
    assert!(without.len() < csv.len(), "the fixture has contacts");
    same_as_csv(&without, &sql, "sqlite without contacts");
    // CSV: a folder without contacts.csv.
    let folder = tempfile::tempdir().unwrap();
    support::copy_dir(&support::fixtures().join("legacy"), folder.path());
    std::fs::remove_file(folder.path().join("contacts.csv")).unwrap();
    let rows = scan(Source::Csv(folder.path().to_path_buf())).await;
    same_as_csv(&without, &rows, "csv without contacts");
}
