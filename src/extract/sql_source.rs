//! A SQL database holding the SPEC §2 tables: SQLite, PostgreSQL or MySQL/MariaDB through one code
//! path (sqlx's `Any` driver). Every column is read as text and parsed by the same parser as CSV.

use super::{Batcher, ExtractError, RawRow, Sink, Table};
use futures_util::TryStreamExt;
use sqlx::Row;

pub(super) async fn scan<S: Sink>(url: &str, table: Table, sink: &mut S) -> Result<(), ExtractError> {
    let shown = crate::store::redact(url);
    let err = |source| ExtractError::Sql { url: shown.clone(), source };
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(url).await.map_err(err)?;
    let text = if url.starts_with("mysql:") || url.starts_with("mariadb:") { "CHAR" } else { "TEXT" };
    let cols: Vec<String> = table.columns().iter().map(|c| format!("CAST({c} AS {text})")).collect();
    let sql = format!("SELECT {} FROM {}", cols.join(", "), table.name());
    let source = format!("{}:{}", shown, table.name());
    let mut batch = Batcher::new(sink);
    let mut rows = sqlx::query(&sql).fetch(&pool);
    let mut n = 0u64;
    while let Some(row) = rows.try_next().await.map_err(err)? {
        n += 1;
        let fields = (0..table.columns().len())
            .map(|i| row.try_get::<Option<String>, _>(i).ok().flatten().filter(|s| !s.is_empty()))
            .collect();
        batch.push(RawRow { table, source: source.clone(), row: n, fields }).await?;
    }
    drop(rows);
    batch.flush().await?;
    pool.close().await;
    Ok(())
}
