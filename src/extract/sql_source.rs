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
    let cast = |ty: &str| -> Vec<String> {
        table
            .columns()
            .iter()
            .map(|c| if present.iter().any(|p| p == c) { format!("CAST({q}{c}{q} AS {ty})") } else { "NULL".into() })
            .collect()
    };
    let cols = cast(text);
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
    if url.starts_with("sqlite:")
        && scan_sqlite_chunks(&pool, &shown, [&cols, &cast("BLOB")], table, &source, &mut batch).await?
    {
        batch.flush().await?;
        pool.close().await;
        return Ok(());
    }
    let mut rows = sqlx::query(&sql).fetch(&pool);
    let mut n = 0u64;
    while let Some(row) = rows.try_next().await.map_err(err)? {
        n += 1;
        let (fields, bad) = decode(&row, 0, table).map_err(err)?;
        push(&mut batch, RawRow { table, source: source.clone(), row: n, fields }, bad).await?;
    }
    drop(rows);
    batch.flush().await?;
    pool.close().await;
    Ok(())
}

/// A row's cells from column `first` on, as text (empty is none), and why the row is bad, if a
/// cell is not text: MySQL may hand text back as bytes, and a value that is neither is an error,
/// never a silent NULL.
fn decode(
    row: &sqlx::any::AnyRow,
    first: usize,
    table: Table,
) -> Result<(Vec<Option<String>>, Option<String>), sqlx::Error> {
    let mut fields = Vec::with_capacity(table.columns().len());
    let mut bad = None;
    for (i, name) in table.columns().iter().enumerate() {
        let v = match row.try_get::<Option<String>, _>(first + i) {
            Ok(v) => v,
            Err(_) => match row.try_get::<Option<Vec<u8>>, _>(first + i)? {
                None => None,
                Some(b) => match String::from_utf8(b) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        bad = Some(format!("{name}: not valid UTF-8"));
                        Some(String::from_utf8_lossy(e.as_bytes()).into_owned())
                    }
                },
            },
        };
        fields.push(v.filter(|s| !s.is_empty()));
    }
    Ok((fields, bad))
}

async fn push<S: Sink>(batch: &mut Batcher<'_, S>, raw: RawRow, bad: Option<String>) -> Result<(), ExtractError> {
    match bad {
        None => batch.push(raw).await,
        Some(reason) => batch.push_bad(raw, reason).await,
    }
}

/// Source rows per aggregated read of a SQLite legacy database.
const SQLITE_CHUNK: usize = 2000;

/// Reads a SQLite table [`SQLITE_CHUNK`] rows at a time, each chunk as one JSON text (an array
/// of `[rowid, cell, …]`), in rowid order: the order a plain `SELECT` gives, so row numbers are
/// the same. sqlx hands each fetched row from its SQLite worker thread to the runtime, which cost
/// more than reading the rows (issue 11); a chunk is one hand-off. False when the table has no
/// rowid (a view or a `WITHOUT ROWID` table): the caller then reads it row by row. `cols` are the
/// table's columns cast to text, `bytes` the same cast to bytes.
async fn scan_sqlite_chunks<S: Sink>(
    pool: &sqlx::AnyPool,
    shown: &str,
    [cols, bytes]: [&[String]; 2],
    table: Table,
    source: &str,
    batch: &mut Batcher<'_, S>,
) -> Result<bool, ExtractError> {
    let t = table.name();
    if sqlx::query(&format!("SELECT rowid FROM \"{t}\" LIMIT 0")).fetch_optional(pool).await.is_err() {
        return Ok(false);
    }
    // A cell is text or NULL, as in the row-by-row read; `CAST(rowid AS TEXT)` keeps the array one type.
    let sql = format!(
        "SELECT '[' || group_concat(j, ',') || ']' FROM (SELECT json_array(CAST(rowid AS TEXT), {}) AS j \
         FROM \"{t}\" WHERE rowid > $1 ORDER BY rowid LIMIT {SQLITE_CHUNK})",
        cols.join(", ")
    );
    // The same rows one by one, as bytes: for a chunk the aggregate cannot carry (a cell that is
    // not UTF-8, which as text would fail the whole read), so that only its row is quarantined.
    let one_by_one = format!(
        "SELECT CAST(rowid AS TEXT), {} FROM \"{t}\" WHERE rowid > $1 ORDER BY rowid LIMIT {SQLITE_CHUNK}",
        bytes.join(", ")
    );
    let sql_err = |e| ExtractError::Sql { url: shown.to_string(), source: e };
    let mut after = i64::MIN;
    let mut n = 0u64;
    loop {
        let read: Result<Option<String>, sqlx::Error> =
            sqlx::query(&sql).bind(after).fetch_one(pool).await.and_then(|r| r.try_get(0));
        let rows: Option<Vec<Vec<Option<String>>>> = read.ok().and_then(|c| match c {
            Some(c) => serde_json::from_str(&c).ok(),
            None => Some(vec![]),
        });
        let rowid = |r: &str| r.parse::<i64>().ok();
        let (mut last, before) = (None, n);
        match rows {
            Some(mut rows) => {
                // SQLite promises no order inside group_concat: put the chunk in rowid order.
                rows.sort_by_key(|r| r.first().and_then(|v| v.as_deref()).and_then(rowid));
                for mut cells in rows {
                    last = cells.first().and_then(|v| v.as_deref()).and_then(rowid);
                    n += 1;
                    let fields: Vec<Option<String>> = cells.drain(1..).map(|v| v.filter(|s| !s.is_empty())).collect();
                    batch.push(RawRow { table, source: source.to_string(), row: n, fields }).await?;
                }
            }
            None => {
                for row in sqlx::query(&one_by_one).bind(after).fetch_all(pool).await.map_err(sql_err)? {
                    last = row.try_get::<String, _>(0).ok().as_deref().and_then(rowid);
                    n += 1;
                    let (fields, bad) = decode(&row, 1, table).map_err(sql_err)?;
                    push(batch, RawRow { table, source: source.to_string(), row: n, fields }, bad).await?;
                }
            }
        }
        match last {
            Some(id) => after = id,
            None if n == before => break,
            // Never reached (a rowid is an integer); stopping here would lose the rest silently.
            None => {
                return Err(ExtractError::Header { path: source.to_string(), message: "a row without a rowid".into() });
            }
        }
    }
    Ok(true)
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
