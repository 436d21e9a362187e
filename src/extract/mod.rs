//! Extract: reads the legacy source (a CSV folder or a SQL database, SPEC §2) row by row, turns
//! each raw row into a typed record, and hands them in bounded batches to a [`Sink`] (the store).
//!
//! CSV and SQL rows go through the same parser ([`parse_row`]), so a bad date or amount gets the
//! same reason wherever it came from. A row that cannot be read is quarantined with its source, row
//! and reason; the scan goes on. Cross-row checks (duplicate ids, unknown accounts) are the sink's,
//! because only it sees every row.

mod csv_source;
mod row;
mod sql_source;

pub(crate) use row::date_cell;
pub use row::{Fields, RawRow, Record, Table, parse_cells, parse_row};

use std::path::PathBuf;

/// Rows handed to a sink at once: memory stays bounded whatever the source's size.
pub const BATCH_ROWS: usize = 2_000;

#[derive(Debug, Clone)]
pub enum Source {
    Csv(PathBuf),
    /// `sqlite://…`, `postgres://…` or `mysql://…`
    Sql(String),
}

impl Source {
    /// A description safe to print (no password).
    pub fn describe(&self) -> String {
        match self {
            Source::Csv(p) => format!("csv:{}", p.display()),
            Source::Sql(url) => format!("sql:{}", crate::domain::redact(url)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("cannot read {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{path}: {message}")]
    Csv { path: String, message: String },
    /// The header lacks SPEC §2 columns: the whole file (or table) is refused.
    #[error("{path}: {message}")]
    Header { path: String, message: String },
    #[error("legacy database {url}: {source}")]
    Sql { url: String, source: sqlx::Error },
    /// A SQLite legacy file, read directly (`sql_source::scan_sqlite_file`).
    #[error("legacy database {url}: {source}")]
    SqliteFile { url: String, source: rusqlite::Error },
    #[error("{0}")]
    Sink(SinkError),
}

/// Why a sink could not take rows (for the state store, its error), kept whole for the message.
/// The sink's own error type stays with the sink, so `extract` depends on nothing downstream.
#[derive(Debug)]
pub struct SinkError(pub Box<dyn std::error::Error + Send + Sync>);

impl<E: std::error::Error + Send + Sync + 'static> From<E> for SinkError {
    fn from(e: E) -> SinkError {
        SinkError(Box::new(e))
    }
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<SinkError> for ExtractError {
    fn from(e: SinkError) -> ExtractError {
        ExtractError::Sink(e)
    }
}

/// A row that could not be taken in, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Quarantined {
    pub table: Table,
    pub source: String,
    pub row: u64,
    pub account_number: Option<String>,
    pub reason: String,
    pub raw: String,
}

/// Where extracted rows go. A parsed row is offered with its raw form so the sink can quarantine it
/// for a cross-row reason (duplicate id, unknown account).
#[allow(async_fn_in_trait)]
pub trait Sink {
    async fn batch(&mut self, rows: Vec<(RawRow, Result<Record, String>)>) -> Result<(), SinkError>;
    /// Something about a whole file or table worth repeating to the team (a column left out that
    /// may be, an empty file). Kept with the extraction; `status` shows it.
    async fn warn(&mut self, source: &str, message: String) -> Result<(), SinkError>;
}

/// Reads every table of the source in dependency order (accounts first) into `sink`.
pub async fn scan<S: Sink>(source: &Source, sink: &mut S) -> Result<(), ExtractError> {
    for table in Table::ALL {
        match source {
            Source::Csv(dir) => csv_source::scan(dir, table, sink).await?,
            Source::Sql(url) => sql_source::scan(url, table, sink).await?,
        }
    }
    Ok(())
}

/// [`scan`] on a task of its own, up to three batches ahead of `sink`: the source is read and its
/// rows parsed while the sink stores the batch before (issue 11; on PostgreSQL the server then
/// works on one CPU while the source is read on the other). Same rows, order and errors as
/// [`scan`]; memory stays bounded by the batches in flight.
pub async fn scan_ahead<S: Sink>(source: &Source, sink: &mut S) -> Result<(), ExtractError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let source = source.clone();
    // Aborted when this returns early (the sink failed): the reader stops with the extraction.
    let mut reader = AbortOnDrop(tokio::spawn(async move { scan(&source, &mut Handover(tx)).await }));
    while let Some(item) = rx.recv().await {
        match item {
            Handed::Rows(rows) => sink.batch(rows).await?,
            Handed::Warn(source, message) => sink.warn(&source, message).await?,
        }
    }
    match (&mut reader.0).await {
        Ok(done) => done,
        Err(e) => Err(ExtractError::Sink(SinkError::from(e))),
    }
}

/// What the reading task hands over.
enum Handed {
    Rows(Vec<(RawRow, Result<Record, String>)>),
    Warn(String, String),
}

/// The reading task's sink: the channel to the one that stores.
struct Handover(tokio::sync::mpsc::Sender<Handed>);

/// The storing side has stopped (it failed, and says why itself).
#[derive(Debug, thiserror::Error)]
#[error("the extraction stopped taking rows")]
struct Stopped;

impl Sink for Handover {
    async fn batch(&mut self, rows: Vec<(RawRow, Result<Record, String>)>) -> Result<(), SinkError> {
        self.0.send(Handed::Rows(rows)).await.map_err(|_| SinkError::from(Stopped))
    }

    async fn warn(&mut self, source: &str, message: String) -> Result<(), SinkError> {
        self.0.send(Handed::Warn(source.to_string(), message)).await.map_err(|_| SinkError::from(Stopped))
    }
}

/// A task aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Parses and forwards rows in batches of [`BATCH_ROWS`].
pub(crate) struct Batcher<'s, S: Sink> {
    sink: &'s mut S,
    rows: Vec<(RawRow, Result<Record, String>)>,
}

impl<'s, S: Sink> Batcher<'s, S> {
    pub fn new(sink: &'s mut S) -> Self {
        Batcher { sink, rows: Vec::with_capacity(BATCH_ROWS) }
    }

    pub async fn push(&mut self, raw: RawRow) -> Result<(), ExtractError> {
        let parsed = parse_row(&raw);
        self.rows.push((raw, parsed));
        if self.rows.len() >= BATCH_ROWS {
            self.flush().await?;
        }
        Ok(())
    }

    /// A row the source could not even split into fields.
    pub async fn push_bad(&mut self, raw: RawRow, reason: String) -> Result<(), ExtractError> {
        self.rows.push((raw, Err(reason)));
        if self.rows.len() >= BATCH_ROWS {
            self.flush().await?;
        }
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<(), ExtractError> {
        if !self.rows.is_empty() {
            let rows = std::mem::replace(&mut self.rows, Vec::with_capacity(BATCH_ROWS));
            self.sink.batch(rows).await?;
        }
        Ok(())
    }
}
