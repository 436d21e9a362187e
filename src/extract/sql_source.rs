//! A SQL database holding the SPEC §2 tables: SQLite, PostgreSQL or MySQL/MariaDB through one code
//! path (sqlx's `Any` driver). Every column is read as text and parsed by the same parser as CSV.
//! The table must have every SPEC §2 column ([`Table::check_header`], as for a CSV header).

use super::{Batcher, ExtractError, RawRow, Sink, Table};
use futures_util::TryStreamExt;
use sqlx::Row;

pub(super) async fn scan<S: Sink>(url: &str, table: Table, sink: &mut S) -> Result<(), ExtractError> {
    let shown = crate::domain::redact(url);
    if let Some(message) = crate::domain::unencoded_password(url) {
        return Err(ExtractError::Header { path: format!("legacy database {shown}"), message });
    }
    let err = |source| ExtractError::Sql { url: shown.clone(), source };
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await.map_err(err)?;
    // MySQL casts to CHAR and quotes names with backticks (`usage` is a reserved word there).
    let mysql = url.starts_with("mysql:") || url.starts_with("mariadb:");
    let (text, q) = if mysql { ("CHAR", '`') } else { ("TEXT", '"') };
    let present = columns_of(&pool, url, table).await.map_err(err)?;
    if present.is_empty() {
        if table == Table::Accounts {
            return Err(ExtractError::Header { path: shown, message: "there is no table `accounts`".into() });
        }
        // Like a missing CSV file: no usage (or no invoices) yet.
        sink.warn(&format!("{shown}:{}", table.name()), "no such table: taken as no rows".into()).await?;
        pool.close().await;
        return Ok(());
    }
    let warnings = table
        .check_header(&present)
        .map_err(|message| ExtractError::Header { path: format!("{shown}: table {}", table.name()), message })?;
    for w in warnings {
        sink.warn(&format!("{shown}:{}", table.name()), w).await?;
    }
    // A column the table may leave out, and does, is read as NULL.
    let cols: Vec<String> = table
        .columns()
        .iter()
        .map(|c| if present.iter().any(|p| p == c) { format!("CAST({q}{c}{q} AS {text})") } else { "NULL".into() })
        .collect();
    let sql = format!("SELECT {} FROM {q}{}{q}", cols.join(", "), table.name());
    let source = format!("{}:{}", shown, table.name());
    let mut batch = Batcher::new(sink);
    // An optional table (contacts) the database does not have is an empty table.
    if table.may_be_absent() {
        let probe = format!("SELECT 1 FROM {q}{}{q} WHERE 1 = 0", table.name());
        if sqlx::query(&probe).fetch_optional(&pool).await.is_err() {
            pool.close().await;
            return Ok(());
        }
    }
    let mut rows = sqlx::query(&sql).fetch(&pool);
    let mut n = 0u64;
    while let Some(row) = rows.try_next().await.map_err(err)? {
        n += 1;
        let mut fields = Vec::with_capacity(table.columns().len());
        let mut bad = None;
        for i in 0..table.columns().len() {
            // Text normally; MySQL may hand text back as bytes. A value that is neither is an
            // error, never a silent NULL.
            let v = match row.try_get::<Option<String>, _>(i) {
                Ok(v) => v,
                Err(_) => match row.try_get::<Option<Vec<u8>>, _>(i).map_err(err)? {
                    None => None,
                    Some(b) => match String::from_utf8(b) {
                        Ok(s) => Some(s),
                        Err(e) => {
                            bad = Some(format!("{}: not valid UTF-8", table.columns()[i]));
                            Some(String::from_utf8_lossy(e.as_bytes()).into_owned())
                        }
                    },
                },
            };
            fields.push(v.filter(|s| !s.is_empty()));
        }
        let raw = RawRow { table, source: source.clone(), row: n, fields };
        match bad {
            None => batch.push(raw).await?,
            Some(reason) => batch.push_bad(raw, reason).await?,
        }
    }
    drop(rows);
    batch.flush().await?;
    pool.close().await;
    Ok(())
}

/// The column names of a table, from the database's catalog (empty: no such table). Asked of the
/// catalog rather than described from a `SELECT *`, because the `Any` driver cannot describe every
/// column type (PostgreSQL's NUMERIC).
async fn columns_of(pool: &sqlx::AnyPool, url: &str, table: Table) -> Result<Vec<String>, sqlx::Error> {
    let t = table.name(); // one of four fixed names: safe to put in the statement
    let sql = if url.starts_with("sqlite:") {
        format!("SELECT name FROM pragma_table_info('{t}')")
    } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        format!(
            "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{t}'"
        )
    } else {
        format!(
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{t}'"
        )
    };
    let rows = sqlx::query(&sql).fetch_all(pool).await?;
    rows.iter()
        .map(|r| match r.try_get::<String, _>(0) {
            Ok(s) => Ok(s),
            Err(_) => r.try_get::<Vec<u8>, _>(0).map(|b| String::from_utf8_lossy(&b).into_owned()),
        })
        .collect()
}
