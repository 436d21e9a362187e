//! A transaction for bulk loading (the extraction's): the store's usual one through `Any` on
//! SQLite, and on PostgreSQL a typed connection's, which can `COPY` (issue 11: multi-row inserts
//! through `Any` made the PostgreSQL server parse, bind and evaluate every value of every row;
//! `COPY` streams them). The statements are the same text on both; every value a statement binds
//! is text, optional text, a 64-bit integer or optional bytes.

use super::{Dialect, Store, StoreError};
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
    /// Begins a bulk-loading transaction: a typed one on PostgreSQL, the usual one on SQLite.
    pub(crate) async fn begin_bulk(&self) -> Result<BulkTx, StoreError> {
        match (&self.pg, self.dialect) {
            (Some(pg), Dialect::Postgres) => pg.begin().await.map(BulkTx::Pg).map_err(|e| self.err(e)),
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
        })
    }

    /// Runs statements without parameters, separated by `;`.
    pub(crate) async fn script(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            BulkTx::Any(tx) => sqlx::raw_sql(sql).execute(&mut ***tx).await.map(drop),
            BulkTx::Pg(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(drop),
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
        }
    }

    /// The first column of the one row `sql` returns, as an integer (an `INSERT … RETURNING id`).
    pub(crate) async fn id(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<i64, sqlx::Error> {
        match self {
            BulkTx::Any(tx) => bound!(sqlx::query(sql), args).fetch_one(&mut ***tx).await?.try_get(0),
            BulkTx::Pg(tx) => bound!(sqlx::query(sql), args).fetch_one(&mut **tx).await?.try_get(0),
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
    use super::{copy_text, hex};

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
