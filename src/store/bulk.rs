//! A transaction for bulk loading (the extraction's), on a connection typed for its database
//! (issue 11):
//! - PostgreSQL: a typed `sqlx` connection's, which can `COPY` (multi-row inserts through `Any`
//!   made the server parse, bind and evaluate every value of every row; `COPY` streams them).
//! - A SQLite file: a connection of its own through `rusqlite` ([`LiteTx`]), called on the
//!   caller's thread. Through `Any`, each statement's values were copied into `sqlx`'s arguments,
//!   then into SQLite's, on its connection's thread, and the caller waited for that thread's
//!   answer (twenty-sixth round in docs/performance.md).
//! - An in-memory SQLite store (one connection, the pool's): the store's usual transaction.
//!
//! The statements are the same text on all three; every value a statement binds is text,
//! optional text, a 64-bit integer or optional bytes.

use super::{Dialect, SQLITE_CONNECTION_PRAGMAS, Store, StoreError};
use sqlx::{Any, Postgres, Row, Transaction};

/// A value bound to a statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Text(&'a str),
    Opt(Option<&'a str>),
    Int(i64),
    OptBytes(Option<&'a [u8]>),
}

/// One transaction, on whichever driver the store's dialect loads with.
pub(crate) enum BulkTx {
    Any(super::WriteTx),
    Pg(Transaction<'static, Postgres>),
    Lite(LiteTx),
}

/// Binds `args` to the query `q`, in order (the same code for both drivers' query types).
macro_rules! bound {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match *a {
                Arg::Text(s) => q.bind(s),
                Arg::Opt(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
                Arg::OptBytes(b) => q.bind(b),
            };
        }
        q
    }};
}

/// Every column of a row as optional text.
macro_rules! texts_of {
    ($row:expr) => {{
        let row = $row;
        (0..row.len()).map(|i| row.try_get::<Option<String>, _>(i)).collect::<Result<Vec<_>, sqlx::Error>>()
    }};
}

impl Store {
    /// Begins a bulk-loading transaction: a typed one on PostgreSQL, one on a connection of its
    /// own on a SQLite file ([`LiteTx`], once this process's turn to write has come), the usual
    /// one on an in-memory SQLite store.
    pub(crate) async fn begin_bulk(&self) -> Result<BulkTx, StoreError> {
        match (&self.pg, self.dialect, &self.sqlite_file) {
            (Some(pg), Dialect::Postgres, _) => pg.begin().await.map(BulkTx::Pg).map_err(|e| self.err(e)),
            (_, Dialect::Sqlite, Some(file)) => {
                let turn = self.turn().await?;
                LiteTx::begin(file, turn).map(BulkTx::Lite).map_err(|e| self.err(e))
            }
            _ => self.begin().await.map(BulkTx::Any),
        }
    }
}

impl BulkTx {
    /// Runs `sql` with `args`; how many rows it changed.
    pub(crate) async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        Ok(match self {
            BulkTx::Any(tx) => any_execute(tx, sql, args).await?,
            BulkTx::Pg(tx) => bound!(sqlx::query(sql), args).execute(&mut **tx).await?.rows_affected(),
            BulkTx::Lite(tx) => tx.execute(sql, args)?,
        })
    }

    /// Runs statements without parameters, separated by `;`.
    pub(crate) async fn script(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            BulkTx::Any(tx) => sqlx::raw_sql(sql).execute(&mut ***tx).await.map(drop),
            BulkTx::Pg(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(drop),
            BulkTx::Lite(tx) => tx.script(sql),
        }
    }

    /// The rows `sql` selects with `args`, every column read as optional text.
    pub(crate) async fn texts(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        match self {
            BulkTx::Any(tx) => {
                bound!(sqlx::query(sql), args).fetch_all(&mut ***tx).await?.iter().map(|r| texts_of!(r)).collect()
            }
            BulkTx::Pg(tx) => {
                bound!(sqlx::query(sql), args).fetch_all(&mut **tx).await?.iter().map(|r| texts_of!(r)).collect()
            }
            BulkTx::Lite(tx) => tx.texts(sql, args),
        }
    }

    /// The first column of the one row `sql` returns, as an integer (an `INSERT … RETURNING id`).
    pub(crate) async fn id(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<i64, sqlx::Error> {
        match self {
            BulkTx::Any(tx) => bound!(sqlx::query(sql), args).fetch_one(&mut ***tx).await?.try_get(0),
            BulkTx::Pg(tx) => bound!(sqlx::query(sql), args).fetch_one(&mut **tx).await?.try_get(0),
            BulkTx::Lite(tx) => tx.id(sql, args),
        }
    }

    /// Whether [`BulkTx::copy`] can be used.
    pub(crate) fn can_copy(&self) -> bool {
        matches!(self, BulkTx::Pg(_))
    }

    /// PostgreSQL: `COPY table (columns) FROM STDIN` of `rows` (text format, one call per batch).
    /// Each row's values are text or NULL ([`copy_text`] escapes text; bytes go as [`hex`]).
    /// Refused on SQLite.
    pub(crate) async fn copy<const N: usize>(
        &mut self,
        table: &str,
        columns: [&str; N],
        rows: impl Iterator<Item = [Option<&str>; N]>,
    ) -> Result<u64, sqlx::Error> {
        let BulkTx::Pg(tx) = self else {
            return Err(sqlx::Error::Protocol("COPY is only used on PostgreSQL".into()));
        };
        let mut data = Vec::with_capacity(64 * 1024);
        for row in rows {
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    data.push(b'\t');
                }
                match value {
                    Some(text) => copy_text(&mut data, text),
                    None => data.extend_from_slice(b"\\N"),
                }
            }
            data.push(b'\n');
        }
        let statement = format!("COPY {table} ({}) FROM STDIN", columns.join(", "));
        let mut copy = tx.copy_in_raw(&statement).await?;
        copy.send(data).await?;
        copy.finish().await
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            BulkTx::Any(tx) => tx.commit().await,
            BulkTx::Pg(tx) => tx.commit().await,
            BulkTx::Lite(tx) => tx.commit(),
        }
    }
}

/// SQLite: a bulk-loading transaction on a connection of its own to the store's file, through
/// `rusqlite`, called on the caller's thread: each value is bound straight from the caller's
/// text into SQLite, and each statement runs without a hand-off to another thread. The
/// connection is set up as the pool's are (foreign keys, busy timeout, transient files in memory)
/// and its transaction is `BEGIN IMMEDIATE`, as [`Store::begin`]'s, begun once this process's turn
/// to write has come, which it keeps until it commits or is dropped. Dropped without a commit
/// (an error, a crash), the connection closes and SQLite rolls the transaction back: the
/// previous extraction stays whole.
///
/// Its calls block the caller's thread while SQLite works: for a batch's statements, and for at
/// most the busy timeout while another process holds the store's write lock, as every writer of
/// a SQLite store waits.
///
/// It runs on the same SQLite library as the pool's connections: rusqlite and sqlx link the one
/// `libsqlite3-sys` of the build (Cargo allows one crate linking `sqlite3`). That matters: SQLite
/// tracks the POSIX locks of a process's connections to one file in the library, and two copies
/// of it in one process would release each other's locks.
pub(crate) struct LiteTx {
    // Dropped in this order: the connection (its transaction rolled back) before the turn.
    conn: rusqlite::Connection,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl LiteTx {
    fn begin(file: &std::path::Path, turn: Option<tokio::sync::OwnedMutexGuard<()>>) -> Result<LiteTx, sqlx::Error> {
        use rusqlite::OpenFlags;
        let open = || {
            let conn = rusqlite::Connection::open_with_flags(
                file,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            // The statements differ by their number of rows only in a batch's last few.
            conn.set_prepared_statement_cache_capacity(64);
            conn.execute_batch(&format!("{SQLITE_CONNECTION_PRAGMAS}; BEGIN IMMEDIATE"))?;
            Ok(conn)
        };
        open().map(|conn| LiteTx { conn, _turn: turn }).map_err(lite_err)
    }

    /// `sql`, prepared once per text, with `args` bound in order.
    fn bound(&self, sql: &str, args: &[Arg<'_>]) -> rusqlite::Result<rusqlite::CachedStatement<'_>> {
        let mut statement = self.conn.prepare_cached(&numbered(sql))?;
        statement.clear_bindings();
        for (i, arg) in args.iter().enumerate() {
            match *arg {
                Arg::Text(s) => statement.raw_bind_parameter(i + 1, s)?,
                Arg::Opt(s) => statement.raw_bind_parameter(i + 1, s)?,
                Arg::Int(n) => statement.raw_bind_parameter(i + 1, n)?,
                Arg::OptBytes(b) => statement.raw_bind_parameter(i + 1, b)?,
            }
        }
        Ok(statement)
    }

    fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, sqlx::Error> {
        let run = || self.bound(sql, args)?.raw_execute();
        run().map(|n| n as u64).map_err(lite_err)
    }

    fn script(&self, sql: &str) -> Result<(), sqlx::Error> {
        self.conn.execute_batch(sql).map_err(lite_err)
    }

    /// Every column of every row as optional text (an integer as its digits).
    fn texts(&self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
        use rusqlite::types::ValueRef;
        let read = || {
            let mut statement = self.bound(sql, args)?;
            let width = statement.column_count();
            let mut rows = statement.raw_query();
            let mut all = Vec::new();
            while let Some(row) = rows.next()? {
                let mut cells = Vec::with_capacity(width);
                for i in 0..width {
                    cells.push(match row.get_ref(i)? {
                        ValueRef::Null => None,
                        ValueRef::Integer(n) => Some(n.to_string()),
                        ValueRef::Text(t) => {
                            Some(std::str::from_utf8(t).map_err(rusqlite::Error::Utf8Error)?.to_owned())
                        }
                        other => {
                            return Err(rusqlite::Error::InvalidColumnType(
                                i,
                                format!("column {i}"),
                                other.data_type(),
                            ));
                        }
                    });
                }
                all.push(cells);
            }
            Ok(all)
        };
        read().map_err(lite_err)
    }

    /// The first column of the one row `sql` returns, as an integer.
    fn id(&self, sql: &str, args: &[Arg<'_>]) -> Result<i64, sqlx::Error> {
        let read = || {
            let mut statement = self.bound(sql, args)?;
            let mut rows = statement.raw_query();
            match rows.next()? {
                Some(row) => row.get::<_, i64>(0),
                None => Err(rusqlite::Error::QueryReturnedNoRows),
            }
        };
        read().map_err(lite_err)
    }

    fn commit(self) -> Result<(), sqlx::Error> {
        self.conn.execute_batch("COMMIT").map_err(lite_err)
    }
}

/// `sql` with each `$n` placeholder written `?n`, which SQLite binds to parameter `n` by its
/// place (a `$n` is a name there, bound by looking it up: [`Store::params`]). Text inside quotes
/// is left alone. The store's statements use `$n` or `?` throughout, never both.
fn numbered(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains('$') {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('?');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    std::borrow::Cow::Owned(out)
}

/// A `rusqlite` error as a database error of `sqlx`'s, so that the store reads it as it reads
/// its own ([`Store::err`]: a locked database is [`StoreError::Busy`]).
fn lite_err(e: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Database(Box::new(LiteError { message: e.to_string(), source: e }))
}

#[derive(Debug)]
struct LiteError {
    message: String,
    source: rusqlite::Error,
}

impl std::fmt::Display for LiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LiteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl sqlx::error::DatabaseError for LiteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        match &self.source {
            rusqlite::Error::SqliteFailure(e, _) => match e.extended_code {
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    sqlx::error::ErrorKind::UniqueViolation
                }
                rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => sqlx::error::ErrorKind::ForeignKeyViolation,
                rusqlite::ffi::SQLITE_CONSTRAINT_NOTNULL => sqlx::error::ErrorKind::NotNullViolation,
                rusqlite::ffi::SQLITE_CONSTRAINT_CHECK => sqlx::error::ErrorKind::CheckViolation,
                _ => sqlx::error::ErrorKind::Other,
            },
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

/// Runs `sql` with `args` in the store's usual transaction; how many rows it changed.
pub(crate) async fn any_execute(
    tx: &mut Transaction<'static, Any>,
    sql: &str,
    args: &[Arg<'_>],
) -> Result<u64, sqlx::Error> {
    Ok(bound!(sqlx::query(sql), args).execute(&mut **tx).await?.rows_affected())
}

/// Appends `value` as a field of PostgreSQL's `COPY` text format: a backslash, tab, line feed
/// or carriage return is written as its escape, every other byte as it is (so `\.`, the end
/// marker, cannot occur).
pub(crate) fn copy_text(out: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// Bytes as PostgreSQL's text form of a `bytea` (`\\x` and two hex digits a byte).
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("\\x");
    crate::hex::push_hex(&mut out, bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::{Arg, BulkTx, copy_text, hex, lite_err, numbered};
    use crate::store::{Store, StoreError};

    /// `$n` becomes `?n` (bound to parameter n by place), outside quotes only; `?` and text
    /// without placeholders are left as they are.
    #[test]
    fn numbered_placeholders_bind_by_their_number() {
        for (sql, written) in [
            ("SELECT 1", "SELECT 1"),
            ("VALUES (?, ?), (?, ?)", "VALUES (?, ?), (?, ?)"),
            ("UPDATE t SET a = $1, b = $12 WHERE id = $2", "UPDATE t SET a = ?1, b = ?12 WHERE id = ?2"),
            ("SELECT '$1', \"$2\", $3", "SELECT '$1', \"$2\", ?3"),
            ("SELECT 'it''s $1' || $1", "SELECT 'it''s $1' || ?1"),
            ("SELECT $ || $a", "SELECT $ || $a"),
        ] {
            assert_eq!(numbered(sql), written, "{sql}");
        }
    }

    /// On a SQLite file the extraction's transaction is a connection of its own, set up as the
    /// pool's are; it binds `$n` by number, keeps this process's turn to write while open, and
    /// what it wrote is seen by the pool once committed, never when dropped.
    #[tokio::test]
    async fn a_sqlite_files_bulk_transaction_is_a_connection_of_its_own_set_up_as_the_pools() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).await.unwrap();
        let mut tx = store.begin_bulk().await.unwrap();
        assert!(matches!(tx, BulkTx::Lite(_)), "a SQLite file's bulk transaction goes through rusqlite");
        for pragma in ["foreign_keys", "busy_timeout", "temp_store", "synchronous", "journal_mode", "page_size"] {
            let sql = format!("PRAGMA {pragma}");
            let pool: String = sqlx::query(&sql)
                .fetch_one(&store.pool)
                .await
                .map(|row| {
                    use sqlx::Row;
                    row.try_get::<String, _>(0).or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
                })
                .unwrap()
                .unwrap();
            let own = tx.texts(&sql, &[]).await.unwrap();
            assert_eq!(own, vec![vec![Some(pool.clone())]], "PRAGMA {pragma}: the pool's is {pool}");
        }
        let swapped = tx.texts("SELECT $2 || '-' || $1", &[Arg::Text("a"), Arg::Text("b")]).await.unwrap();
        assert_eq!(swapped, vec![vec![Some("b-a".to_string())]]);
        assert!(store.turn.try_lock().is_err(), "the transaction holds this process's turn to write");
        let insert = "INSERT INTO extraction (source, started_at) VALUES ($1, $2) RETURNING id";
        tx.id(insert, &[Arg::Text("dropped"), Arg::Text("t")]).await.unwrap();
        drop(tx);
        assert!(store.turn.try_lock().is_ok(), "dropped, it gives the turn back");
        assert_eq!(store.last_extraction().await.unwrap(), None, "a dropped transaction keeps nothing");
        let mut tx = store.begin_bulk().await.unwrap();
        let id = tx.id(insert, &[Arg::Text("kept"), Arg::Text("t")]).await.unwrap();
        tx.execute("UPDATE extraction SET finished_at = $1 WHERE id = $2", &[Arg::Text("t"), Arg::Int(id)])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let last = store.last_extraction().await.unwrap().expect("committed");
        assert_eq!((last.id, last.source.as_str()), (id, "kept"));
    }

    /// A locked database met through the extraction's own connection is the store's `Busy`, as
    /// through the pool.
    #[tokio::test]
    async fn a_locked_database_on_the_extractions_connection_is_busy() {
        let store = Store::scratch().await.unwrap();
        let locked = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("database is locked".to_string()),
        );
        assert!(matches!(store.err(lite_err(locked)), StoreError::Busy { .. }));
        let other = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE),
            Some("UNIQUE constraint failed: legacy_key.kind, legacy_key.record_key".to_string()),
        );
        match store.err(lite_err(other)) {
            StoreError::Db { source: sqlx::Error::Database(e), .. } => {
                assert!(e.is_unique_violation(), "{e}");
                assert!(e.message().contains("UNIQUE constraint failed"), "{e}");
            }
            e => panic!("not a database error: {e:?}"),
        }
    }

    #[test]
    fn bytes_are_written_as_bytea_hex() {
        assert_eq!(hex(&[]), "\\x");
        assert_eq!(hex(&[0, 0x1c, 0xab, 0xff]), "\\x001cabff");
    }

    #[test]
    fn copy_text_escapes_what_the_format_gives_meaning_to() {
        for (value, written) in [
            ("plain", "plain"),
            ("", ""),
            ("a\tb", "a\\tb"),
            ("line\nbreak", "line\\nbreak"),
            ("cr\r", "cr\\r"),
            ("back\\slash", "back\\\\slash"),
            ("\\.", "\\\\."),
            ("Colocation – “Full” 名 \u{1d}", "Colocation – “Full” 名 \u{1d}"),
        ] {
            let mut out = Vec::new();
            copy_text(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), written, "{value:?}");
        }
    }
}
