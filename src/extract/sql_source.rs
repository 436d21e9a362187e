//! A SQL database holding the SPEC §2 tables: SQLite, PostgreSQL or MySQL/MariaDB through one code
//! path (sqlx's `Any` driver). Every column is read as text and parsed by the same parser as CSV.

use super::{Batcher, ExtractError, RawRow, Sink, Table};
use futures_util::TryStreamExt;
use sqlx::Row;

pub(super) async fn scan<S: Sink>(url: &str, table: Table, sink: &mut S) -> Result<(), ExtractError> {
    let shown = crate::domain::redact(url);
    let err = |source| ExtractError::Sql { url: shown.clone(), source };
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await.map_err(err)?;
    // MySQL casts to CHAR and quotes names with backticks (`usage` is a reserved word there).
    let mysql = url.starts_with("mysql:") || url.starts_with("mariadb:");
    let (text, q) = if mysql { ("CHAR", '`') } else { ("TEXT", '"') };
    let cols: Vec<String> = table.columns().iter().map(|c| format!("CAST({q}{c}{q} AS {text})")).collect();
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
