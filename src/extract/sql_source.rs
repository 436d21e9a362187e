//! A SQL database holding the SPEC §2 tables: SQLite, PostgreSQL or MySQL/MariaDB through one code
//! path (sqlx's `Any` driver). Every column is read as text and parsed by the same parser as CSV.
//! The table must have every SPEC §2 column ([`Table::check_header`], as for a CSV header).

use super::{Batcher, ExtractError, Fields, RawRow, Sink, Table};
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
    let source: std::sync::Arc<str> = format!("{}:{}", shown, table.name()).into();
    let mut batch = Batcher::new(sink);
    // An optional table (contacts) the database does not have is an empty table.
    if table.may_be_absent() {
        let probe = format!("SELECT 1 FROM {q}{}{q} WHERE 1 = 0", table.name());
        if sqlx::query(&probe).fetch_optional(&pool).await.is_err() {
            pool.close().await;
            return Ok(());
        }
    }
    if let Some(path) = sqlite_file(url) {
        pool.close().await;
        scan_sqlite_file(path, &sql, &shown, table, &source, &mut batch).await?;
        return batch.flush().await;
    }
    let mut rows = sqlx::query(&sql).fetch(&pool);
    let mut n = 0u64;
    while let Some(row) = rows.try_next().await.map_err(err)? {
        n += 1;
        let (fields, bad) = decode(&row, table).map_err(err)?;
        push(&mut batch, RawRow { table, source: source.clone(), row: n, fields }, bad).await?;
    }
    drop(rows);
    batch.flush().await?;
    pool.close().await;
    Ok(())
}

/// A row's cells as text (empty is none), and why the row is bad, if a cell is not text: MySQL
/// may hand text back as bytes, and a value that is neither is an error, never a silent NULL.
fn decode(row: &sqlx::any::AnyRow, table: Table) -> Result<(Fields, Option<String>), sqlx::Error> {
    let mut fields = Fields::with_capacity(table.columns().len(), 64);
    let mut bad = None;
    for (i, name) in table.columns().iter().enumerate() {
        match row.try_get::<Option<String>, _>(i) {
            Ok(v) => fields.push(v.as_deref()),
            Err(_) => fields
                .push(row.try_get::<Option<Vec<u8>>, _>(i)?.as_deref().map(|b| text_of(name, b, &mut bad)).as_deref()),
        };
    }
    Ok((fields, bad))
}

/// A cell's bytes as text; one that is not UTF-8 makes its row bad (`bad` says why) and is kept
/// as far as it reads, for the quarantine.
fn text_of<'b>(name: &str, bytes: &'b [u8], bad: &mut Option<String>) -> std::borrow::Cow<'b, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.into(),
        Err(_) => {
            *bad = Some(format!("{name}: not valid UTF-8"));
            String::from_utf8_lossy(bytes)
        }
    }
}

async fn push<S: Sink>(batch: &mut Batcher<'_, S>, raw: RawRow, bad: Option<String>) -> Result<(), ExtractError> {
    match bad {
        None => batch.push(raw).await,
        Some(reason) => batch.push_bad(raw, reason).await,
    }
}

/// Rows per hand-over from the thread reading a SQLite legacy file.
const SQLITE_CHUNK: usize = 2000;

/// The file a `sqlite:` URL names, as sqlx reads the URL (`None`: not SQLite, or in memory).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    if !url.starts_with("sqlite:") || url.contains(":memory:") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// A row as read from a SQLite file: its number, its cells (empty is none), and why it is bad,
/// if a cell is not UTF-8.
type FileRow = (u64, Fields, Option<String>);

/// Reads a SQLite table with `sql` (its SPEC §2 columns cast to text, in the order a plain
/// `SELECT` gives) through rusqlite on a thread of its own, read-only and in one read
/// transaction, handing the rows over [`SQLITE_CHUNK`] at a time. sqlx hands each fetched row
/// from its SQLite worker thread to the runtime, which cost more than reading the rows (issue 11);
/// an earlier way round that had SQLite fold each chunk into one JSON text for serde to take
/// apart again. A cell that is not UTF-8 makes its row bad (quarantined), not the read.
async fn scan_sqlite_file<S: Sink>(
    path: std::path::PathBuf,
    sql: &str,
    shown: &str,
    table: Table,
    source: &std::sync::Arc<str>,
    batch: &mut Batcher<'_, S>,
) -> Result<(), ExtractError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<FileRow>, rusqlite::Error>>(4);
    let (sql, names) = (sql.to_string(), table.columns());
    let reading = std::thread::Builder::new().name("cutover-legacy".into()).spawn(move || {
        if let Err(e) = read_sqlite_file(&path, &sql, names, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let reading = reading.map_err(|cause| ExtractError::Io { path: shown.to_string(), cause })?;
    let mut failed = None;
    while let Some(chunk) = rx.recv().await {
        match chunk {
            Ok(rows) => {
                for (row, fields, bad) in rows {
                    push(batch, RawRow { table, source: source.clone(), row, fields }, bad).await?;
                }
            }
            Err(e) => failed = Some(e),
        }
    }
    // Every chunk was received: the thread has ended (or panicked, which leaves rows out).
    if reading.join().is_err() {
        let cause = std::io::Error::other("the thread reading it panicked");
        return Err(ExtractError::Io { path: format!("{shown}: table {}", table.name()), cause });
    }
    match failed {
        Some(e) => Err(ExtractError::SqliteFile { url: shown.to_string(), source: e }),
        None => Ok(()),
    }
}

/// [`scan_sqlite_file`]'s thread: reads and sends until done, or until the receiver is gone.
fn read_sqlite_file(
    path: &std::path::Path,
    sql: &str,
    names: &[&str],
    tx: &tokio::sync::mpsc::Sender<Result<Vec<FileRow>, rusqlite::Error>>,
) -> Result<(), rusqlite::Error> {
    use rusqlite::OpenFlags;
    use rusqlite::types::ValueRef;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut statement = conn.prepare(sql)?;
    let mut rows = statement.query([])?;
    let mut chunk = Vec::with_capacity(SQLITE_CHUNK);
    let mut n = 0u64;
    while let Some(row) = rows.next()? {
        n += 1;
        let mut fields = Fields::with_capacity(names.len(), 64);
        let mut bad = None;
        for (i, name) in names.iter().enumerate() {
            match row.get_ref(i)? {
                ValueRef::Null => fields.push(None),
                ValueRef::Text(b) | ValueRef::Blob(b) => fields.push(Some(&text_of(name, b, &mut bad))),
                // Not reached (every column is cast to text); never a silent NULL if it were.
                ValueRef::Integer(v) => fields.push(Some(&v.to_string())),
                ValueRef::Real(_) => {
                    bad = Some(format!("{name}: a number SQLite did not cast to text"));
                    fields.push(None)
                }
            }
        }
        chunk.push((n, fields, bad));
        if chunk.len() == SQLITE_CHUNK && tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_err() {
            // The extraction stopped: its own error is the one to report.
            return Ok(());
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(Ok(chunk));
    }
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
