//! Store: the migration state, and the only code that speaks SQL.
//!
//! One implementation over sqlx's `Any` driver serves SQLite (the default, a file in the
//! workspace) and PostgreSQL (for teams and several workers). The SQL is written once in the
//! dialect both accept (`$n` parameters, `ON CONFLICT`, text columns for money and dates); each
//! dialect has its own migration folder (`migrations/sqlite`, `migrations/postgres`) for the few
//! DDL differences. Queries are checked at run time, so building needs no database. The contract
//! both backends honour is this module's public API, tested by one suite run against each.

mod bulk;
pub mod extraction;
mod kept;
pub mod lease;
mod load;
mod notices;
mod packed;
mod portal;
pub mod runs;
pub mod statements;

pub use extraction::{Extraction, ExtractionCounts};
pub use lease::LeaseHolder;
pub use load::{CutoverRow, LoadCounts, PendingCutover, ReversalRow};
pub use notices::{NewNotice, NoticeMark, NoticeRow, NoticeState, Recipients};
pub use portal::{LinkRow, PortalQuestion, PortalSubmission};
pub use runs::{NewRun, RunRow, WaveEvent};

use crate::domain::{Period, State};
use crate::plan::schedule::Schedule;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, Row, Transaction};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {url}: {source}")]
    Db { url: String, source: sqlx::Error },
    #[error("state store: unsupported URL `{0}` (use sqlite://PATH or postgres://…)")]
    Url(String),
    #[error("state store {url}: {message}")]
    BadUrl { url: String, message: String },
    #[error("{}", no_account(.0))]
    NoAccount(String),
    #[error("account {account}: cannot go from {from} to {to}")]
    Transition { account: String, from: State, to: State },
    #[error("state store holds unreadable data: {0}")]
    Corrupt(String),
    /// A migration this store already applied is not the one this build carries: its SQL was
    /// changed after it shipped (write a new migration instead), or the store is from another build.
    #[error(
        "state store {url}: migration {version} was applied from other SQL than this build's (checksum {stored}, \
         this build {built}): migrations are never edited once applied; add a new one"
    )]
    MigrationChanged { url: String, version: i64, stored: String, built: String },
    /// The store carries a migration this build does not know: a newer cutover wrote it, and this
    /// one could misread what that one stores.
    #[error(
        "state store {url} was migrated by a newer cutover (migration {version} is unknown to this build): use \
         that version of cutover, or a newer one"
    )]
    NewerSchema { url: String, version: i64 },
    /// SQLite: another process kept the store's write lock longer than the busy timeout.
    #[error(
        "another cutover holds the store {url} (it stayed locked for {secs} s): wait for it to finish, or run \
         the team on a PostgreSQL store (README \"Running as a team\")"
    )]
    Busy { url: String, secs: u64 },
}

/// What every command says of an account number the store does not hold: one wording, with the
/// likely causes (a lowercase letter where the legacy system writes capitals is the usual typo).
fn no_account(number: &str) -> String {
    format!(
        "no account {number} in the state store (a typo, or not extracted yet: `cutover extract`){}",
        case_hint(number)
    )
}

/// The likely typo in an account number not found, when it has a lowercase letter: "; account
/// numbers are written as the legacy system writes them: A000049?" (empty otherwise). Every
/// command that looks an account up says it the same way.
pub fn case_hint(number: &str) -> String {
    if number.chars().any(|c| c.is_ascii_lowercase()) && number != number.to_ascii_uppercase() {
        format!("; account numbers are written as the legacy system writes them: {}?", number.to_ascii_uppercase())
    } else {
        String::new()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

use crate::domain::redact;

/// Runs a SQLite connection's pragmas once it is opened: [`SQLITE_CONNECTION_PRAGMAS`], then
/// `more`. Nothing on PostgreSQL.
async fn sqlite_pragmas(dialect: Dialect, conn: &mut sqlx::AnyConnection, more: &[&str]) -> Result<(), sqlx::Error> {
    if dialect == Dialect::Sqlite {
        for pragma in SQLITE_CONNECTION_PRAGMAS.split("; ").chain(more.iter().copied()) {
            sqlx::query(pragma).execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// The page size of a new SQLite store (SQLite's default: 4 KiB). An account's records of one
/// kind are one `legacy_row` of about 1 KiB (`store::extraction`), and an extraction inserts each
/// legacy table's rows between those of the tables before it, splitting pages: with 4 KiB pages
/// 44% of `legacy_row`'s pages stayed empty (`dbstat`, 20,000 accounts: 30.4 of 68.3 MiB), with
/// 16 KiB pages 11% (4.5 of 42.3 MiB), and the whole store went from 1.38x to 1.12x the legacy
/// database, the stages no slower (issue 11, fifteenth round in docs/performance.md). A store created
/// before keeps its page size: SQLite changes it only on an empty file (or by `VACUUM` outside
/// WAL mode).
pub const SQLITE_PAGE_SIZE: u32 = 16_384;

/// Whether a SQLite URL names an in-memory database (`sqlite::memory:`, or a URI with
/// `mode=memory`): one connection holds it, it has no file, and it is gone when the process ends.
fn in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// How long a SQLite connection waits for another process's write lock (`PRAGMA busy_timeout`).
pub const BUSY_TIMEOUT_SECS: u64 = 30;

/// What every SQLite connection of the store runs once opened: the pool's, and the extraction's
/// own (`store::bulk::LiteTx`). Foreign keys on (sqlx's connections have them on already). A
/// second process waits for the write lock instead of failing at once (30 000 ms:
/// [`BUSY_TIMEOUT_SECS`]). A statement's journal (what it changed, to undo it alone should it fail
/// inside a transaction) and SQLite's other transient structures in memory instead of temporary
/// files: at 20,000 accounts that journal went to a temporary file in 130,000 writes, some 900 MB
/// that is only ever read to undo a failed statement, and nothing in it outlives the statement
/// (issue 11). The database and its WAL are not affected.
pub(crate) const SQLITE_CONNECTION_PRAGMAS: &str =
    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000; PRAGMA temp_store = MEMORY";

/// What a SQLite file's connections for claims and leases ([`Store::light`]) run after
/// [`SQLITE_CONNECTION_PRAGMAS`]: their commits are not flushed to disk one by one. In WAL mode
/// such a commit survives a crash of the process (it is in the operating system's hands), and a
/// power cut can lose only those made after the last flushed commit of any connection: a flush
/// writes out the whole log, everything before it included. What a power cut can lose is a
/// claim taken, renewed or let go, a lease taken, renewed or let go, and the heartbeat's renewal
/// of a notice being sent (its lease, not its state): after one, every worker is gone, and
/// what a dead worker holds is let go when the next run finds its process gone or its lease past
/// (`reap_dead_claims`, `try_lease`), as after any crash. Every state change, journal row,
/// notice's state and file record still commits with a flush (`synchronous = FULL`, SQLite's
/// default). Only in WAL mode: on a file SQLite could not switch to it, [`Store::open`] uses the
/// pool for them too.
pub(crate) const SQLITE_LIGHT_PRAGMAS: &str = "PRAGMA synchronous = NORMAL";

/// A handle on the state store.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    url: String,
    /// PostgreSQL only: typed connections (opened when first used) for what `Any` cannot do, the
    /// extraction's `COPY` (`store::extraction`).
    pg: Option<sqlx::PgPool>,
    /// A SQLite store in a file: the file, which the extraction opens a connection of its own to
    /// (`store::bulk::LiteTx`). `None` on PostgreSQL and in memory.
    sqlite_file: Option<std::path::PathBuf>,
    /// Each wave's last run this handle recorded, whole (`runs::LastRun`), shared by its clones:
    /// recording the next run compares with it instead of reading it back.
    last_runs: runs::LastRuns,
    /// SQLite: this process's writers take turns here, shared by its clones ([`Store::turn`]).
    turn: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Where claims and leases are written: on a SQLite file, connections of their own whose
    /// commits are not flushed one by one ([`SQLITE_LIGHT_PRAGMAS`] says why that is safe); on
    /// PostgreSQL and in memory, the pool itself. At 20,000 accounts they were about three
    /// quarters of the demo's 1,900 flushes (issue 11, thirty-first round). As with `kept`, a few
    /// of a SQLite file's are kept between statements.
    light: kept::Kept,
    /// The pool again, with a few of its connections kept between the statements run outside a
    /// transaction on a SQLite file, so that none is given back through sqlx's task and ping
    /// after each ([`Store::conn`], [`Store::light_conn`]). Elsewhere none is kept.
    kept: kept::Kept,
}

/// One account's migration record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRow {
    pub account_number: String,
    pub wave: Option<String>,
    pub state: State,
    pub state_reason: Option<String>,
    pub cutover_date: Option<NaiveDate>,
    pub first_new_bill_date: Option<NaiveDate>,
    pub notice_date: Option<NaiveDate>,
}

impl AccountRow {
    /// The row with these dates (a transition that schedules sets all three, or clears them).
    pub fn scheduled(self, sched: Option<Schedule>) -> AccountRow {
        AccountRow {
            cutover_date: sched.map(|s| s.cutover_date),
            first_new_bill_date: sched.map(|s| s.first_new_bill_date),
            notice_date: sched.map(|s| s.notice_date),
            ..self
        }
    }

    pub fn schedule(&self) -> Option<Schedule> {
        Some(Schedule {
            cutover_date: self.cutover_date?,
            first_new_bill_date: self.first_new_bill_date?,
            notice_date: self.notice_date?,
        })
    }
}

/// A page of a wave's accounts, in account order (keyset pagination): those in `states` (and,
/// with `due`, whose date in that column is on or before the given day) after `after`, at most
/// `limit`. Read ([`Store::wave_accounts`]) or claimed for a worker ([`Store::claim_accounts`]).
#[derive(Debug, Clone, Copy)]
pub struct WavePage<'a> {
    pub wave: &'a str,
    pub states: &'a [State],
    pub due: Option<(Due, NaiveDate)>,
    pub after: &'a str,
    pub limit: i64,
}

impl<'a> WavePage<'a> {
    /// The first `limit` accounts of `wave` in `states`, whenever due.
    pub fn of(wave: &'a str, states: &'a [State], limit: i64) -> Self {
        WavePage { wave, states, due: None, after: "", limit }
    }

    /// The SQL selecting the page's accounts, binding the wave ($1), `after` ($2), `limit` ($3),
    /// the due day ($4) and the states from `$first` on; `and` narrows further.
    fn filter(&self, first: usize, and: &str) -> String {
        let states: Vec<String> = (0..self.states.len()).map(|i| format!("${}", i + first)).collect();
        let (col, _) = Due::bound(self.due);
        format!(
            "wave = $1 AND account_number > $2 AND {col} <= $4 AND state IN ({}){and} ORDER BY account_number LIMIT $3",
            states.join(", ")
        )
    }
}

/// A date column a stage can ask "due on or before" about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Notice,
    Cutover,
    /// An extracted account that is a customer by then (`not_before`, set by the rate stage).
    Known,
}

impl Due {
    /// The SQL comparison `column <= day` a page of accounts is filtered with: the due column
    /// and the day; with no `due`, one that every account passes.
    pub(crate) fn bound(due: Option<(Due, NaiveDate)>) -> (&'static str, String) {
        match due {
            Some((c, d)) => (c.column(), d.to_string()),
            None => ("'0000-00-00'", "9999-12-31".to_string()),
        }
    }

    fn column(self) -> &'static str {
        match self {
            Due::Notice => "notice_date",
            Due::Cutover => "cutover_date",
            Due::Known => "COALESCE(not_before, '0000-01-01')",
        }
    }
}

/// One journaled state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct JournalRow {
    /// The account (in a journal listing several).
    pub account_number: String,
    /// The effective time: the run's as-of day (noon UTC when simulated), or now.
    pub at: String,
    /// The wall clock when the row was written (`None` for rows from before it was kept).
    pub recorded_at: Option<String>,
    pub actor: String,
    #[sqlx(rename = "from_state")]
    pub from: String,
    #[sqlx(rename = "to_state")]
    pub to: String,
    pub reason: String,
}

/// Which journal rows to read (`cutover journal`).
#[derive(Debug, Clone, Default)]
pub struct JournalFilter {
    pub account: Option<String>,
    pub wave: Option<String>,
    /// Rows whose effective time is on or after this.
    pub since: Option<DateTime<Utc>>,
}

/// A store transaction, for the engine's `*_in` calls (the engine names no `sqlx` type).
pub type Tx = Transaction<'static, Any>;

/// A write transaction ([`Store::begin`]) with, on SQLite, this process's turn to write
/// ([`Store::turn`]), held until it commits, rolls back or is dropped. It is a [`Tx`] wherever
/// one is asked for (`&mut tx`). Dropped (an error path), its rollback is only queued on its
/// connection's thread, so the next writer may still meet SQLite's lock for a moment.
pub struct WriteTx {
    // Dropped in this order: the transaction (its rollback queued) before the turn.
    tx: Tx,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

impl WriteTx {
    /// Commits, then gives the turn to the next writer.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls back, then gives the turn to the next writer.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

/// One row of the journal, as written.
pub(crate) struct JournalLine<'a> {
    pub(crate) account: &'a str,
    /// The account's wave when the line is written (`journal --wave` reads a wave's trail by it,
    /// so a rolled-back account readmitted elsewhere keeps its rows in the wave they happened in).
    pub(crate) wave: Option<&'a str>,
    pub(crate) at: String,
    pub(crate) actor: &'a str,
    pub(crate) from: State,
    pub(crate) to: State,
    pub(crate) reason: &'a str,
}

/// A change of state, with who and why; optionally new schedule dates.
pub struct Transition<'a> {
    pub account: &'a str,
    pub from: State,
    pub to: State,
    pub actor: &'a str,
    /// Borrowed, or owned when a stage collects a page's transitions to apply them together.
    pub reason: std::borrow::Cow<'a, str>,
    pub at: DateTime<Utc>,
    pub schedule: Option<Option<Schedule>>,
}

impl<'a> Transition<'a> {
    /// `account` moves `from` → `to`, by `actor` at `at`, for `reason`; its schedule dates stay.
    pub fn new(
        account: &'a str,
        from: State,
        to: State,
        actor: &'a str,
        reason: impl Into<std::borrow::Cow<'a, str>>,
        at: DateTime<Utc>,
    ) -> Self {
        Transition { account, from, to, actor, reason: reason.into(), at, schedule: None }
    }

    /// The same move, recording these schedule dates (`None` clears them).
    pub fn scheduling(self, schedule: Option<Schedule>) -> Self {
        Transition { schedule: Some(schedule), ..self }
    }
}

/// An `account` row as stored: the columns of [`Store::ACCOUNT_COLS`], read by name.
#[derive(sqlx::FromRow)]
pub(crate) struct StoredAccount {
    account_number: String,
    wave: Option<String>,
    state: String,
    state_reason: Option<String>,
    cutover_date: Option<String>,
    first_new_bill_date: Option<String>,
    notice_date: Option<String>,
}

impl TryFrom<StoredAccount> for AccountRow {
    type Error = StoreError;

    /// A state or date that does not parse is [`StoreError::Corrupt`], never a default.
    fn try_from(r: StoredAccount) -> Result<AccountRow, StoreError> {
        let n = r.account_number.as_str();
        let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("{what} of {n}: {v:?}"));
        let date = |what: &str, v: Option<String>| v.map(|s| s.parse().map_err(|_| corrupt(what, &s))).transpose();
        Ok(AccountRow {
            state: r.state.parse().map_err(|_: String| corrupt("state", &r.state))?,
            cutover_date: date("cut-over date", r.cutover_date)?,
            first_new_bill_date: date("first new bill date", r.first_new_bill_date)?,
            notice_date: date("notice date", r.notice_date)?,
            wave: r.wave,
            state_reason: r.state_reason,
            account_number: r.account_number,
        })
    }
}

/// Which of an account's legacy records to load ([`Store::legacy_records`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    All,
    /// Everything but the legacy invoice lines.
    WithoutInvoiceLines,
    /// Everything, but of the legacy invoice lines only those of the last `periods` periods the
    /// account was billed for as of `as_of` ([`LegacyAccount::line_known`]), and of the usage
    /// only what a bill of those periods or a later one can carry (from the bill period before
    /// the earliest of them on): what a stage that looks at the latest bills needs (rate and
    /// reconcile the parallel run's, notify the last one and the first new bill). The lines are
    /// two thirds of an account's records and the usage about a quarter, and parsing the records two
    /// fifths of the rate stage's own work (issue 11); the others are read, not parsed.
    ///
    /// [`LegacyAccount::line_known`]: crate::domain::LegacyAccount::line_known
    Recent {
        periods: u32,
        as_of: chrono::NaiveDate,
    },
}

/// A `legacy_row` as stored, read by column name: one record's cells (before migration 0019), or
/// a group of records packed in `packed` with their `source_rows`.
#[derive(sqlx::FromRow)]
struct StoredLegacyRow {
    account_number: String,
    kind: String,
    source_row: i64,
    source_rows: Option<String>,
    cells: String,
    records: Option<String>,
    packed: Option<Vec<u8>>,
}

/// An account with its rows of one table folded into one text ([`Store::joined`], `AS joined`),
/// read by column name.
#[derive(sqlx::FromRow)]
struct StoredJoined {
    account_number: String,
    joined: String,
}

impl StoredJoined {
    /// The folded rows, `N` fields each; a row that does not split so is corrupt.
    fn rows<const N: usize>(&self) -> Result<Vec<[&str; N]>, StoreError> {
        split_joined::<N>(&self.joined).map_err(|why| StoreError::Corrupt(format!("{}: {why}", self.account_number)))
    }
}

/// Accounts in one state ([`Store::state_counts`]), read by column name.
#[derive(sqlx::FromRow)]
struct StoredStateCount {
    state: String,
    n: i64,
}

/// An `extraction` row as stored (warnings one a line), read by column name.
#[derive(sqlx::FromRow)]
struct StoredExtraction {
    id: i64,
    source: String,
    accounts: i64,
    records: i64,
    quarantined: i64,
    finished_at: Option<String>,
    warnings: Option<String>,
    started_at: String,
}

impl From<StoredExtraction> for ExtractionCounts {
    fn from(r: StoredExtraction) -> Self {
        ExtractionCounts {
            warnings: r.warnings.map(|w| w.lines().map(str::to_string).collect()).unwrap_or_default(),
            id: r.id,
            source: r.source,
            accounts: r.accounts,
            records: r.records,
            quarantined: r.quarantined,
            finished_at: r.finished_at,
            started_at: r.started_at,
            // Said by its warning; counted only by the run that extracted.
            billed_twice: 0,
        }
    }
}

/// A `quarantine` row as stored, read by column name.
#[derive(sqlx::FromRow)]
struct StoredQuarantine {
    tbl: String,
    source: String,
    source_row: i64,
    account_number: Option<String>,
    reason: String,
    raw: String,
}

impl TryFrom<StoredQuarantine> for crate::extract::Quarantined {
    type Error = StoreError;

    /// An unknown table or a negative row number is [`StoreError::Corrupt`].
    fn try_from(r: StoredQuarantine) -> Result<Self, StoreError> {
        let tbl = &r.tbl;
        let table = crate::extract::Table::ALL
            .into_iter()
            .find(|t| t.name() == tbl)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown table {tbl}")))?;
        let row = u64::try_from(r.source_row)
            .map_err(|_| StoreError::Corrupt(format!("quarantined row of {tbl} numbered {}", r.source_row)))?;
        Ok(crate::extract::Quarantined {
            table,
            row,
            source: r.source,
            account_number: r.account_number,
            reason: r.reason,
            raw: r.raw,
        })
    }
}

/// A stored bill ([`Store::bills`]), read by column name.
#[derive(sqlx::FromRow)]
struct StoredBill {
    period: String,
    data: String,
    packed: Option<Vec<u8>>,
}

/// A journal row with its id, as stored (read by column name).
#[derive(sqlx::FromRow)]
struct StoredJournal {
    id: i64,
    #[sqlx(flatten)]
    row: JournalRow,
}

impl Store {
    /// The row `sql` selects with `key` as its one parameter, if any, read by column name.
    pub(crate) async fn row_by<T>(&self, sql: &str, key: &str) -> Result<Option<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        sqlx::query_as(sql).bind(key).fetch_optional(&mut *self.conn().await?).await.map_err(|e| self.err(e))
    }

    /// Every row `sql` selects with `key` as its one parameter, read by column name.
    pub(crate) async fn rows_by<T>(&self, sql: &str, key: &str) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        sqlx::query_as(sql).bind(key).fetch_all(&mut *self.conn().await?).await.map_err(|e| self.err(e))
    }

    /// The rows of these accounts, read by column name: `select` makes the query from the list of
    /// their placeholders (`$1, $2, …`), for its `account_number IN (…)`. None for no accounts.
    pub(crate) async fn rows_for<T>(
        &self,
        numbers: &[String],
        select: impl FnOnce(&str) -> String,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        if numbers.is_empty() {
            return Ok(vec![]);
        }
        let (list, values) = self.in_list(1, numbers);
        let sql = select(&list);
        let mut q = sqlx::query_as(&sql);
        for n in values {
            q = q.bind(n);
        }
        q.fetch_all(&mut *self.conn().await?).await.map_err(|e| self.err(e))
    }

    /// These accounts' rows of `table`, one per account: `parts` of its rows folded into one text
    /// ([`Store::joined`]; split with [`split_joined`]).
    async fn folded_for(
        &self,
        numbers: &[String],
        table: &str,
        parts: &[&str],
    ) -> Result<Vec<StoredJoined>, StoreError> {
        let folded = self.joined(parts);
        self.rows_for(numbers, |list| {
            format!(
                "SELECT account_number, {folded} AS joined FROM {table} WHERE account_number IN ({list}) \
                 GROUP BY account_number"
            )
        })
        .await
    }

    /// Runs `insert`, an `INSERT … ON CONFLICT … DO NOTHING` of three text values and a time
    /// ($1 to $4), on `on` (a transaction or the pool). False when the row was there already:
    /// the caller then does nothing more (a replayed form post, a second waiver).
    pub(crate) async fn insert_once<'e, E>(
        &self,
        on: E,
        insert: &str,
        values: [&str; 3],
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let [a, b, c] = values;
        Ok(self.execute_text(on, insert, &[a, b, c, &at.to_rfc3339()]).await? == 1)
    }

    /// Runs `statement`, whose parameters ($1, $2, …) are all text, on `on` (a transaction, or a
    /// connection of [`Store::conn`]). How many rows it changed.
    pub(crate) async fn execute_text<'e, E>(&self, on: E, statement: &str, params: &[&str]) -> Result<u64, StoreError>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let mut q = sqlx::query(statement);
        for p in params {
            q = q.bind(*p);
        }
        Ok(q.execute(on).await.map_err(|e| self.err(e))?.rows_affected())
    }

    /// [`Store::execute_text`] outside a transaction, a write of its own: in this process's turn to write
    /// ([`Store::turn`]). How many rows it changed.
    pub(crate) async fn write_text(&self, statement: &str, params: &[&str]) -> Result<u64, StoreError> {
        let _turn = self.turn().await?;
        self.execute_text(&mut *self.conn().await?, statement, params).await
    }

    /// [`Store::write_text`] for a claim or a lease, on [`Store::light`]'s connections.
    pub(crate) async fn write_light(&self, statement: &str, params: &[&str]) -> Result<u64, StoreError> {
        let _turn = self.turn().await?;
        self.execute_text(&mut *self.light_conn().await?, statement, params).await
    }

    /// Stored accounts as [`AccountRow`]s: the first corrupt one is an error.
    pub(crate) fn account_rows(rows: Vec<StoredAccount>) -> Result<Vec<AccountRow>, StoreError> {
        rows.into_iter().map(AccountRow::try_from).collect()
    }

    /// Opens (creating when needed) and migrates the store at `url`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Url(redact(url)));
        };
        let shown = redact(url);
        if let Some(message) = crate::domain::unencoded_password(url) {
            return Err(StoreError::BadUrl { url: shown, message });
        }
        let mut connect_url = url.to_string();
        if dialect == Dialect::Sqlite && !url.contains("mode=") && !in_memory(url) {
            if let Some(path) = url.strip_prefix("sqlite://")
                && let Some(parent) = std::path::Path::new(path).parent()
            {
                let _ = std::fs::create_dir_all(parent);
            }
            connect_url.push_str(if url.contains('?') { "&mode=rwc" } else { "?mode=rwc" });
        }
        // An in-memory SQLite database lives in one connection.
        let max = if in_memory(url) { 1 } else { 8 };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            // A SQLite connection is a file opened in this process: pinging it before every use
            // (sqlx's default) is one more hand-off to its thread per query and can find nothing
            // wrong (issue 11). A PostgreSQL connection can have been dropped by the server, so
            // it is still tested.
            .test_before_acquire(dialect == Dialect::Postgres)
            .after_connect(move |conn, _| Box::pin(async move { sqlite_pragmas(dialect, conn, &[]).await }))
            .connect(&connect_url)
            .await
            .map_err(|source| StoreError::Db { url: shown.clone(), source })?;
        // A SQLite file: connections of their own for claims and leases.
        let own_light = dialect == Dialect::Sqlite && !in_memory(url);
        let light = if own_light {
            AnyPoolOptions::new()
                .max_connections(2)
                .test_before_acquire(false)
                .after_connect(move |conn, _| {
                    Box::pin(async move { sqlite_pragmas(dialect, conn, &[SQLITE_LIGHT_PRAGMAS]).await })
                })
                .connect_lazy(&connect_url)
                .map_err(|source| StoreError::Db { url: shown.clone(), source })?
        } else {
            pool.clone()
        };
        let pg = match dialect {
            Dialect::Postgres => {
                let opts = sqlx::postgres::PgConnectOptions::try_from(&*pool.connect_options())
                    .map_err(|source| StoreError::Db { url: shown.clone(), source })?;
                Some(sqlx::postgres::PgPoolOptions::new().max_connections(2).connect_lazy_with(opts))
            }
            Dialect::Sqlite => None,
        };
        let sqlite_file = match dialect {
            Dialect::Sqlite if !in_memory(url) => {
                let opts = sqlx::sqlite::SqliteConnectOptions::try_from(&*pool.connect_options())
                    .map_err(|source| StoreError::Db { url: shown.clone(), source })?;
                Some(opts.get_filename().to_path_buf())
            }
            _ => None,
        };
        // Kept connections: a SQLite file's two for the engine and a page read ahead, one of
        // the light pool's two (`kept`: fewer than a pool holds).
        let keep = |n| if own_light { n } else { 0 };
        let (kept, light) = (kept::Kept::new(pool.clone(), keep(2)), kept::Kept::new(light, keep(1)));
        let mut store = Store {
            pool,
            dialect,
            url: shown,
            pg,
            sqlite_file,
            last_runs: runs::LastRuns::default(),
            turn: Default::default(),
            light,
            kept,
        };
        // Two processes opening a fresh SQLite file at once: switching it to WAL needs the file to
        // itself, and SQLite refuses that at once (SQLITE_BUSY) rather than waiting, so the
        // second opener tries again until the busy timeout has passed.
        let mut tries = 0;
        let wal = loop {
            match store.prepare(url).await {
                Err(StoreError::Busy { .. }) if tries < BUSY_TIMEOUT_SECS * 10 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                done => break done?,
            }
        };
        // Commits without a flush each are safe in WAL mode only ([`SQLITE_LIGHT_PRAGMAS`]): on a
        // file SQLite could not switch to it (it keeps its mode then, without an error), claims
        // and leases are flushed as everything else.
        if own_light && !wal {
            store.light.close().await;
            store.light = kept::Kept::new(store.pool.clone(), 0);
        }
        Ok(store)
    }

    /// Gives a new SQLite file its page size ([`SQLITE_PAGE_SIZE`]; an existing one keeps its
    /// own), puts the journal in WAL mode and runs the migrations. Whether the store is a SQLite
    /// file in WAL mode now (SQLite keeps another mode, without an error, when it cannot switch).
    async fn prepare(&self, url: &str) -> Result<bool, StoreError> {
        let mut wal = false;
        if self.dialect == Dialect::Sqlite && !in_memory(url) {
            // One batch on one connection: the page size applies to the file its first write
            // creates. Switching to WAL answers with the mode the file is in now.
            let sql = format!("PRAGMA page_size = {SQLITE_PAGE_SIZE}; PRAGMA journal_mode=WAL");
            let rows = sqlx::raw_sql(&sql).fetch_all(&self.pool).await.map_err(|e| self.err(e))?;
            let mode = rows.last().and_then(|r| r.try_get::<String, _>(0).ok());
            wal = mode.is_some_and(|m| m.eq_ignore_ascii_case("wal"));
        }
        self.migrate().await?;
        Ok(wal)
    }

    /// A throw-away in-memory store, for commands that work on a fresh workspace.
    pub async fn scratch() -> Result<Store, StoreError> {
        Store::open("sqlite::memory:").await
    }

    /// Copies this store into a new SQLite file, whole and consistent (`VACUUM INTO`), for a dry
    /// run: the stages then run on the copy exactly as they would on the store. PostgreSQL stores
    /// cannot be copied this way yet.
    pub async fn copy_to(&self, path: &std::path::Path) -> Result<(), StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Err(StoreError::BadUrl {
                url: self.url.clone(),
                message: "a dry run works on a copy of the store, and copying is only done for SQLite stores yet"
                    .into(),
            });
        }
        let target = path.display().to_string().replace('\'', "''");
        sqlx::raw_sql(&format!("VACUUM INTO '{target}'")).execute(&self.pool).await.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The id of the newest journal row (0 when there is none).
    pub async fn last_journal_id(&self) -> Result<i64, StoreError> {
        sqlx::query("SELECT COALESCE(MAX(id), 0) FROM journal")
            .fetch_one(&mut *self.conn().await?)
            .await
            .and_then(|r| r.try_get::<i64, _>(0))
            .map_err(|e| self.err(e))
    }

    /// A connection for a statement outside a transaction: a kept one on a SQLite file, else
    /// the pool's (`kept`). Dropped at the end of the statement that takes it.
    pub(crate) async fn conn(&self) -> Result<kept::Conn, StoreError> {
        self.kept.get().await.map_err(|e| self.err(e))
    }

    /// [`Store::conn`] for claims and leases ([`Store::light`]'s connections).
    pub(crate) async fn light_conn(&self) -> Result<kept::Conn, StoreError> {
        self.light.get().await.map_err(|e| self.err(e))
    }

    /// Closes every connection (SQLite then checkpoints its WAL into the database file).
    pub async fn close(&self) {
        self.light.close().await;
        self.kept.close().await;
        if let Some(pg) = &self.pg {
            pg.close().await;
        }
    }

    /// The store's size in bytes: SQLite's pages (with those still in its WAL), or PostgreSQL's
    /// `pg_database_size`.
    pub async fn size_bytes(&self) -> Result<i64, StoreError> {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT p.page_count * s.page_size FROM pragma_page_count() p, pragma_page_size() s",
            Dialect::Postgres => "SELECT pg_database_size(current_database())",
        };
        sqlx::query(sql).fetch_one(&mut *self.conn().await?).await.and_then(|r| r.try_get(0)).map_err(|e| self.err(e))
    }

    /// Whether this is a scratch store (in memory, gone when the process ends).
    pub fn is_scratch(&self) -> bool {
        in_memory(&self.url)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// `n` bind placeholders for parameters `first..first + n`, in order: `$first, …` for
    /// PostgreSQL, plain `?` for SQLite. sqlx binds a SQLite `$n` by asking SQLite its name, and
    /// `sqlite3_bind_parameter_name` scans the statement's list of names: a statement with
    /// thousands of `$n` spends most of its time there (a quarter of all CPU in the issue-11
    /// profile). A `?` has no name, so it binds by position. Only for statements whose
    /// placeholders all come from here, in the order they are bound.
    pub(crate) fn params(&self, first: usize, n: usize) -> Vec<String> {
        (first..first + n).map(|i| self.param(i)).collect()
    }

    /// The placeholder of parameter `i` (from 1): `?` or `$i` ([`Store::params`] for several).
    pub(crate) fn param(&self, i: usize) -> String {
        match self.dialect {
            Dialect::Sqlite => "?".to_string(),
            Dialect::Postgres => format!("${i}"),
        }
    }

    /// An `IN (…)` list of `items`, for placeholders `first` on: its text and the values to bind,
    /// in order. The list is as long as `items` rounded up to a power of two, the last item
    /// repeated (a value listed twice selects nothing more), so that a statement's text comes in
    /// a few lengths instead of one per count ([`pieces`] says why). Empty for no items.
    pub(crate) fn in_list<'a, T>(&self, first: usize, items: &'a [T]) -> (String, impl Iterator<Item = &'a T>) {
        let n = if items.is_empty() { 0 } else { items.len().next_power_of_two() };
        let pad = items.last().into_iter().cycle().take(n - items.len());
        (self.params(first, n).join(", "), items.iter().chain(pad))
    }

    /// A SQL aggregate joining `parts` (text expressions) of each group's rows into one text:
    /// fields separated by U+001F, rows by U+001E (JSON text never holds either unescaped).
    /// Reading one row per account instead of one per record matters on SQLite, where each row
    /// fetched is a hand-off between the runtime and the SQLite worker thread (issue 11). The
    /// order of the parts is not promised: [`split_joined`] callers sort.
    pub(crate) fn joined(&self, parts: &[&str]) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("group_concat({}, char(30))", parts.join(" || char(31) || ")),
            Dialect::Postgres => format!("string_agg({}, chr(30))", parts.join(" || chr(31) || ")),
        }
    }

    pub(crate) fn err(&self, source: sqlx::Error) -> StoreError {
        if self.dialect == Dialect::Sqlite
            && let sqlx::Error::Database(e) = &source
            && (e.message().contains("database is locked") || e.message().contains("database table is locked"))
        {
            return StoreError::Busy { url: self.url.clone(), secs: BUSY_TIMEOUT_SECS };
        }
        StoreError::Db { url: self.url.clone(), source }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        const SQLITE: &[(i64, &str)] = &[
            (1, include_str!("../../migrations/sqlite/0001_init.sql")),
            (2, include_str!("../../migrations/sqlite/0002_reconcile_runs.sql")),
            (3, include_str!("../../migrations/sqlite/0003_notices.sql")),
            (4, include_str!("../../migrations/sqlite/0004_extraction_warnings.sql")),
            (5, include_str!("../../migrations/sqlite/0005_load_sets.sql")),
            (9, include_str!("../../migrations/sqlite/0009_journal_recorded_at.sql")),
            (10, include_str!("../../migrations/sqlite/0010_portal.sql")),
            (12, include_str!("../../migrations/sqlite/0012_team.sql")),
            (14, include_str!("../../migrations/sqlite/0014_daily_lookups.sql")),
            (15, include_str!("../../migrations/sqlite/0015_legacy_rows.sql")),
            (16, include_str!("../../migrations/sqlite/0016_run_tallies.sql")),
            (17, include_str!("../../migrations/sqlite/0017_packed_documents.sql")),
            (19, include_str!("../../migrations/sqlite/0019_legacy_row_groups.sql")),
            (20, include_str!("../../migrations/sqlite/0020_packed_lz4.sql")),
            (21, include_str!("../../migrations/sqlite/0021_due_indexes.sql")),
            (22, include_str!("../../migrations/sqlite/0022_page_index.sql")),
            (23, include_str!("../../migrations/sqlite/0023_notice_sending_owner.sql")),
            (24, include_str!("../../migrations/sqlite/0024_tally_line.sql")),
            (25, include_str!("../../migrations/sqlite/0025_tally_stamp.sql")),
            (26, include_str!("../../migrations/sqlite/0026_waiver_covers.sql")),
            (27, include_str!("../../migrations/sqlite/0027_notice_account.sql")),
            (28, include_str!("../../migrations/sqlite/0028_journal_wave.sql")),
        ];
        const POSTGRES: &[(i64, &str)] = &[
            (1, include_str!("../../migrations/postgres/0001_init.sql")),
            (2, include_str!("../../migrations/postgres/0002_reconcile_runs.sql")),
            (3, include_str!("../../migrations/postgres/0003_notices.sql")),
            (4, include_str!("../../migrations/postgres/0004_extraction_warnings.sql")),
            (5, include_str!("../../migrations/postgres/0005_load_sets.sql")),
            (9, include_str!("../../migrations/postgres/0009_journal_recorded_at.sql")),
            (10, include_str!("../../migrations/postgres/0010_portal.sql")),
            (12, include_str!("../../migrations/postgres/0012_team.sql")),
            (14, include_str!("../../migrations/postgres/0014_daily_lookups.sql")),
            (15, include_str!("../../migrations/postgres/0015_legacy_rows.sql")),
            (16, include_str!("../../migrations/postgres/0016_run_tallies.sql")),
            (17, include_str!("../../migrations/postgres/0017_packed_documents.sql")),
            (18, include_str!("../../migrations/postgres/0018_legacy_keys_bytewise.sql")),
            (19, include_str!("../../migrations/postgres/0019_legacy_row_groups.sql")),
            (20, include_str!("../../migrations/postgres/0020_packed_lz4.sql")),
            (21, include_str!("../../migrations/postgres/0021_due_indexes.sql")),
            (23, include_str!("../../migrations/postgres/0023_notice_sending_owner.sql")),
            (24, include_str!("../../migrations/postgres/0024_tally_line.sql")),
            (25, include_str!("../../migrations/postgres/0025_tally_stamp.sql")),
            (26, include_str!("../../migrations/postgres/0026_waiver_covers.sql")),
            (27, include_str!("../../migrations/postgres/0027_notice_account.sql")),
            (28, include_str!("../../migrations/postgres/0028_journal_wave.sql")),
        ];
        let migrations = match self.dialect {
            Dialect::Sqlite => SQLITE,
            Dialect::Postgres => POSTGRES,
        };
        let mut tx = self.begin().await?;
        if self.dialect == Dialect::Postgres {
            // Two processes opening a fresh database at once must not both migrate it.
            sqlx::query("SELECT pg_advisory_xact_lock(7201)").execute(&mut **tx).await.map_err(|e| self.err(e))?;
        }
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS cutover_schema (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        // Each migration is applied once, by its own version (not "above the highest"), so
        // migrations written on different branches all get applied.
        let applied: Vec<i64> = sqlx::query("SELECT version FROM cutover_schema")
            .fetch_all(&mut **tx)
            .await
            .and_then(|rows| rows.iter().map(|r| r.try_get::<i64, _>(0)).collect())
            .map_err(|e| self.err(e))?;
        if let Some(version) = applied.iter().find(|v| !migrations.iter().any(|(m, _)| m == *v)) {
            return Err(StoreError::NewerSchema { url: self.url.clone(), version: *version });
        }
        for (version, sql) in migrations.iter().filter(|(v, _)| !applied.contains(v)) {
            sqlx::raw_sql(sql).execute(&mut **tx).await.map_err(|e| self.err(e))?;
            sqlx::query("INSERT INTO cutover_schema (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(Utc::now().to_rfc3339())
                .execute(&mut **tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        self.check_migrations_in(&mut tx, migrations).await?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// Each applied migration's checksum (SHA-256 of its SQL) against this build's, as sqlx's
    /// `Migrator` checks them: an edited migration is refused, never half-applied. A store from
    /// before the checksums (or a migration just applied) records this build's.
    async fn check_migrations_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        migrations: &[(i64, &str)],
    ) -> Result<(), StoreError> {
        use sha2::Digest;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS cutover_schema_checksum (version BIGINT PRIMARY KEY, sha256 TEXT NOT NULL)",
        )
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        let stored: Vec<(i64, String)> = sqlx::query_as("SELECT version, sha256 FROM cutover_schema_checksum")
            .fetch_all(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        let stored: std::collections::HashMap<i64, String> = stored.into_iter().collect();
        for (version, sql) in migrations {
            let built = crate::hex::hex(&sha2::Sha256::digest(sql.as_bytes()));
            match stored.get(version) {
                Some(s) if *s == built => {}
                Some(s) => {
                    return Err(StoreError::MigrationChanged {
                        url: self.url.clone(),
                        version: *version,
                        stored: s.clone(),
                        built,
                    });
                }
                None => {
                    sqlx::query("INSERT INTO cutover_schema_checksum (version, sha256) VALUES ($1, $2)")
                        .bind(*version)
                        .bind(built)
                        .execute(&mut **tx)
                        .await
                        .map_err(|e| self.err(e))?;
                }
            }
        }
        Ok(())
    }

    /// A write transaction; on SQLite, once this process's turn has come ([`Store::turn`]).
    pub async fn begin(&self) -> Result<WriteTx, StoreError> {
        let turn = self.turn().await?;
        let tx = match self.dialect {
            // IMMEDIATE: the write lock is taken when the transaction starts, waiting out another
            // process's (busy_timeout). A deferred transaction that reads first and writes later
            // cannot wait for the lock: SQLite refuses its upgrade at once (SQLITE_BUSY), which
            // two workers on one store met under load.
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(|e| self.err(e)),
            Dialect::Postgres => self.pool.begin().await.map_err(|e| self.err(e)),
        }?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// SQLite: this process's turn to write. SQLite lets one writer in at a time, and one that
    /// finds the lock taken sleeps in its busy handler (1, 2, 5, 10 … 100 ms) and tries again:
    /// two workers of one process (`run --workers 2`) slept 208 times in a 2,000-account
    /// benchmark (issue 11). This process's writers queue here instead, each let in as soon as
    /// the one before is done. It only orders them: SQLite's lock still keeps every other process
    /// out. A writer that waits longer than the busy timeout for its turn fails as it would have
    /// failed waiting for SQLite's lock ([`StoreError::Busy`]), so the wait is bounded as before.
    /// `None` on PostgreSQL, whose writers need no turn.
    pub(crate) async fn turn(&self) -> Result<Option<tokio::sync::OwnedMutexGuard<()>>, StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Ok(None);
        }
        let wait = std::time::Duration::from_secs(BUSY_TIMEOUT_SECS);
        match tokio::time::timeout(wait, self.turn.clone().lock_owned()).await {
            Ok(turn) => Ok(Some(turn)),
            Err(_) => Err(StoreError::Busy { url: self.url.clone(), secs: BUSY_TIMEOUT_SECS }),
        }
    }

    // ------------------------------------------------------------------ accounts and journal

    /// THE way an account changes state: checks the state machine, updates the account only if it
    /// is still in `from` (so a repeated or concurrent run does nothing twice), and writes the
    /// journal row, all in one transaction. Returns false when the account was not in `from`.
    pub async fn transition(&self, t: &Transition<'_>) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let changed = self.transition_in(&mut tx, t).await?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(changed)
    }

    /// [`Store::transition`] inside a caller's transaction.
    pub async fn transition_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        t: &Transition<'_>,
    ) -> Result<bool, StoreError> {
        let changed = self.transitions_in(tx, std::slice::from_ref(t)).await?;
        Ok(changed.first().copied().unwrap_or(false))
    }

    /// Many transitions (a page's) inside a caller's transaction, with [`Store::transition`]'s
    /// guarantees for each: one `UPDATE … FROM (VALUES …) RETURNING` for up to 300 accounts and one
    /// multi-row journal insert for those that moved, instead of two statements per account
    /// (issue 11: on SQLite each statement is a hand-off to its worker thread; on PostgreSQL a
    /// round trip). Returns, in order, whether each account moved. An account named twice is
    /// applied in order, each in its own statement.
    pub async fn transitions_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        ts: &[Transition<'_>],
    ) -> Result<Vec<bool>, StoreError> {
        if let Some(t) = ts.iter().find(|t| !t.from.can_go_to(t.to)) {
            return Err(StoreError::Transition { account: t.account.to_string(), from: t.from, to: t.to });
        }
        let mut changed = vec![false; ts.len()];
        let mut start = 0;
        while start < ts.len() {
            // A chunk: consecutive transitions of distinct accounts, at most 300 (10 parameters each).
            let mut seen = std::collections::HashSet::new();
            let mut end = start;
            while end < ts.len() && end - start < 300 && seen.insert(ts[end].account) {
                end += 1;
            }
            let mut moved = std::collections::HashMap::new();
            for piece in pieces(&ts[start..end], 300) {
                moved.extend(self.move_accounts_in(tx, piece).await?);
            }
            let mut journal = Vec::new();
            for (i, t) in ts[start..end].iter().enumerate() {
                if let Some(wave) = moved.get(t.account) {
                    changed[start + i] = true;
                    let at = t.at.to_rfc3339();
                    journal.push(JournalLine {
                        account: t.account,
                        wave: wave.as_deref(),
                        at,
                        actor: t.actor,
                        from: t.from,
                        to: t.to,
                        reason: &t.reason,
                    });
                }
            }
            self.journal_many_in(tx, &journal).await?;
            start = end;
        }
        Ok(changed)
    }

    /// The account rows of `chunk` (distinct accounts) that were in their `from` state, moved; a
    /// move within one state (a reschedule) only if its dates change, so two workers computing the
    /// same new dates journal it once. Returns the accounts that moved, each with its wave.
    async fn move_accounts_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        chunk: &[Transition<'_>],
    ) -> Result<std::collections::HashMap<String, Option<String>>, StoreError> {
        const COLS: usize = 10;
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", self.params(i * COLS + 1, COLS).join(", "))).collect();
        // VALUES columns are named column1…column10 by both SQLite and PostgreSQL: account, from,
        // to, reason, at, whether dates are set (1/0), cut-over, first new bill, notice, whether
        // this is a reschedule (1/0).
        // A person's hold (its reason starts with HELD_BY_PERSON) is lifted by `hold --release`
        // alone (PUT_BACK_BY_PERSON), and a note within `held` (a waiver, a resolved notice)
        // leaves it the account's reason: here, so that no caller forgets it and no recheck or
        // waiver that read the account before the hold can move it on. The journal keeps the note.
        let (held, put_back) = (crate::domain::HELD_BY_PERSON, crate::domain::PUT_BACK_BY_PERSON);
        let sql = format!(
            "UPDATE account SET state = v.column3, \
             state_reason = CASE WHEN account.state = 'held' AND v.column3 = 'held' \
             AND COALESCE(account.state_reason, '') LIKE '{held}%' AND v.column4 NOT LIKE '{held}%' \
             THEN account.state_reason ELSE v.column4 END, \
             updated_at = v.column5, \
             cutover_date = CASE WHEN v.column6 = 1 THEN v.column7 ELSE account.cutover_date END, \
             first_new_bill_date = CASE WHEN v.column6 = 1 THEN v.column8 ELSE account.first_new_bill_date END, \
             notice_date = CASE WHEN v.column6 = 1 THEN v.column9 ELSE account.notice_date END \
             FROM (VALUES {}) AS v \
             WHERE account.account_number = v.column1 AND account.state = v.column2 \
             AND NOT (account.state = 'held' AND v.column3 <> 'held' \
             AND COALESCE(account.state_reason, '') LIKE '{held}%' AND v.column4 NOT LIKE '{put_back}%') \
             AND NOT (v.column10 = 1 AND COALESCE(account.cutover_date, '') = COALESCE(v.column7, '') \
             AND COALESCE(account.first_new_bill_date, '') = COALESCE(v.column8, '') \
             AND COALESCE(account.notice_date, '') = COALESCE(v.column9, '')) \
             RETURNING account.account_number, account.wave",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for t in chunk {
            let dates = t.schedule.flatten();
            q = q
                .bind(t.account)
                .bind(t.from.as_str())
                .bind(t.to.as_str())
                .bind(t.reason.as_ref())
                .bind(t.at.to_rfc3339())
                .bind(i64::from(t.schedule.is_some()))
                .bind(dates.map(|s| s.cutover_date.to_string()))
                .bind(dates.map(|s| s.first_new_bill_date.to_string()))
                .bind(dates.map(|s| s.notice_date.to_string()))
                .bind(i64::from(t.schedule.is_some() && t.from == t.to));
        }
        let rows = q.fetch_all(&mut **tx).await.map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<Option<String>, _>(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// One journal row, for a state change made outside [`Store::transitions_in`] (an extraction's
    /// or a notice's note within one state), of an account in `wave`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn journal_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        account: &str,
        wave: Option<&str>,
        at: &str,
        actor: &str,
        from: State,
        to: State,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.journal_many_in(tx, &[JournalLine { account, wave, at: at.to_string(), actor, from, to, reason }]).await
    }

    /// Journal rows in one multi-row insert per 300.
    async fn journal_many_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        lines: &[JournalLine<'_>],
    ) -> Result<(), StoreError> {
        // `recorded_at` is the wall clock by definition: the one place the store reads it.
        let recorded = Utc::now().to_rfc3339();
        for (sql, args) in self.journal_inserts(lines, &recorded) {
            bulk::any_execute(tx, &sql, &args).await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The journal's multi-row inserts of `lines`, 300 a statement, with their values: one SQL
    /// for the store's usual transaction and an extraction's (`store::bulk`).
    pub(crate) fn journal_inserts<'l>(
        &self,
        lines: &'l [JournalLine<'l>],
        recorded: &'l str,
    ) -> Vec<(String, Vec<bulk::Arg<'l>>)> {
        use bulk::Arg;
        pieces(lines, 300)
            .map(|chunk| {
                let args: Vec<Arg<'l>> = chunk
                    .iter()
                    .flat_map(|l| {
                        [
                            Arg::Text(l.account),
                            Arg::Text(&l.at),
                            Arg::Text(l.actor),
                            Arg::Text(l.from.as_str()),
                            Arg::Text(l.to.as_str()),
                            Arg::Text(l.reason),
                            Arg::Text(recorded),
                            Arg::Opt(l.wave),
                        ]
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO journal (account_number, at, actor, from_state, to_state, reason, recorded_at, wave) \
                     VALUES {}",
                    self.values(8, args.len())
                );
                (sql, args)
            })
            .collect()
    }

    /// The `VALUES` list of a multi-row insert of `n` values, `width` a row: `($1, $2), ($3, $4)`
    /// (PostgreSQL) or `(?, ?), (?, ?)` (SQLite, [`Store::params`]).
    pub(crate) fn values(&self, width: usize, n: usize) -> String {
        let p = self.params(1, n);
        let rows: Vec<String> = p.chunks(width).map(|row| format!("({})", row.join(", "))).collect();
        rows.join(", ")
    }

    pub async fn journal(&self, account: &str) -> Result<Vec<JournalRow>, StoreError> {
        let f = JournalFilter { account: Some(account.to_string()), ..JournalFilter::default() };
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self.journal_page(&f, after, 1000).await?;
            let Some((last, _)) = page.last() else { return Ok(all) };
            after = *last;
            all.extend(page.into_iter().map(|(_, r)| r));
        }
    }

    /// A page of journal rows in the order they were written, after row id `after`: (id, row).
    pub async fn journal_page(
        &self,
        f: &JournalFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, JournalRow)>, StoreError> {
        let rows: Vec<StoredJournal> = sqlx::query_as(
            "SELECT j.id, j.account_number, j.at, j.recorded_at, j.actor, j.from_state, j.to_state, j.reason \
             FROM journal j LEFT JOIN account a ON a.account_number = j.account_number \
             WHERE j.id > $1 AND ($2 = '' OR j.account_number = $2) AND ($3 = '' OR COALESCE(j.wave, a.wave) = $3) \
             AND ($4 = '' OR j.at >= $4) ORDER BY j.id LIMIT $5",
        )
        .bind(after)
        .bind(f.account.as_deref().unwrap_or(""))
        .bind(f.wave.as_deref().unwrap_or(""))
        .bind(f.since.map(|t| t.to_rfc3339()).unwrap_or_default())
        .bind(limit)
        .fetch_all(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows.into_iter().map(|r| (r.id, r.row)).collect())
    }

    /// The effective day of a wave's latest journal row dated another day than it was recorded
    /// on: the day of the clock the wave runs on, when it is not the real one (a demo's, or a run
    /// catching up with `--as-of`). None when every row was dated the day it was written.
    pub async fn wave_clock(&self, wave: &str) -> Result<Option<NaiveDate>, StoreError> {
        let at: Option<(String,)> = self
            .row_by(
                "SELECT at FROM journal WHERE wave = $1 AND substr(at, 1, 10) <> substr(recorded_at, 1, 10) \
                 ORDER BY id DESC LIMIT 1",
                wave,
            )
            .await?;
        Ok(at.and_then(|(a,)| a.get(..10)?.parse().ok()))
    }

    pub(crate) const ACCOUNT_COLS: &'static str =
        "account_number, wave, state, state_reason, cutover_date, first_new_bill_date, notice_date";

    pub async fn account(&self, account: &str) -> Result<Option<AccountRow>, StoreError> {
        let sql = format!("SELECT {} FROM account WHERE account_number = $1", Self::ACCOUNT_COLS);
        self.row_by::<StoredAccount>(&sql, account).await?.map(AccountRow::try_from).transpose()
    }

    /// A page of a wave's accounts ([`WavePage`]): stages and reports walk a wave in bounded
    /// batches with this.
    pub async fn wave_accounts(&self, page: &WavePage<'_>) -> Result<Vec<AccountRow>, StoreError> {
        let sql = format!("SELECT {} FROM account WHERE {}", Self::ACCOUNT_COLS, page.filter(5, ""));
        let (_, day) = Due::bound(page.due);
        let mut q = sqlx::query_as(&sql).bind(page.wave).bind(page.after).bind(page.limit).bind(day);
        for s in page.states {
            q = q.bind(s.as_str());
        }
        Self::account_rows(q.fetch_all(&mut *self.conn().await?).await.map_err(|e| self.err(e))?)
    }

    /// The next page of a walk through a wave's accounts in `states`, in account order: the 500
    /// after `after`, which moves to the page's last account. Empty at the end.
    pub async fn next_page(
        &self,
        wave: &str,
        states: &[State],
        after: &mut String,
    ) -> Result<Vec<AccountRow>, StoreError> {
        let rows = self.wave_accounts(&WavePage { after, ..WavePage::of(wave, states, 500) }).await?;
        if let Some(last) = rows.last() {
            after.clone_from(&last.account_number);
        }
        Ok(rows)
    }

    /// Whether a wave has nothing for any stage to do on `day`, in one query: no account to rate or
    /// reconcile, none whose notice or cut-over date has come, no notice in flight or waiting for
    /// a retry, no cut-over whose files are unpublished and no load set to rewrite. A run of the
    /// wave on such a day (every day of a rerun of the demo) then skips its stages (issue 11).
    pub async fn wave_idle(&self, wave: &str, day: NaiveDate) -> Result<bool, StoreError> {
        let busy: i64 = sqlx::query(
            "SELECT CAST(CASE WHEN \
             EXISTS (SELECT 1 FROM account WHERE wave = $1 AND state = 'rated') \
             OR EXISTS (SELECT 1 FROM account WHERE wave = $1 AND state = 'extracted' \
             AND COALESCE(not_before, '0000-01-01') <= $2) \
             OR EXISTS (SELECT 1 FROM account WHERE wave = $1 AND state = 'reconciled' AND notice_date <= $2) \
             OR EXISTS (SELECT 1 FROM account WHERE wave = $1 AND state = 'notified' AND cutover_date <= $2) \
             OR EXISTS (SELECT 1 FROM notice WHERE wave = $1 AND state IN ('sending', 'retry')) \
             OR EXISTS (SELECT 1 FROM cutover WHERE wave = $1 AND published = 0) \
             OR EXISTS (SELECT 1 FROM load_set WHERE wave = $1 AND dirty = 1) \
             THEN 1 ELSE 0 END AS BIGINT)",
        )
        .bind(wave)
        .bind(day.to_string())
        .fetch_one(&mut *self.conn().await?)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| self.err(e))?;
        Ok(busy == 0)
    }

    /// A wave's next notice day (on or after `day`, of the reconciled accounts: a notified one's
    /// notice went) and its earliest cut-over day waiting (of the notified accounts, one passed
    /// included: it is overdue, not gone): two `MIN`s, whatever the wave's size.
    pub async fn next_dates(
        &self,
        wave: &str,
        day: NaiveDate,
    ) -> Result<(Option<NaiveDate>, Option<NaiveDate>), StoreError> {
        #[derive(sqlx::FromRow)]
        struct Next {
            notice: Option<String>,
            cutover: Option<String>,
        }
        let next: Next = sqlx::query_as(
            "SELECT MIN(CASE WHEN state = 'reconciled' AND notice_date >= $2 THEN notice_date END) AS notice, \
             MIN(CASE WHEN state = 'notified' THEN cutover_date END) AS cutover \
             FROM account WHERE wave = $1 AND state IN ('reconciled', 'notified')",
        )
        .bind(wave)
        .bind(day.to_string())
        .fetch_one(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        let date = |v: Option<String>| -> Result<Option<NaiveDate>, StoreError> {
            v.map(|d| d.parse().map_err(|_| StoreError::Corrupt(format!("wave {wave}: a stored date {d:?}"))))
                .transpose()
        };
        Ok((date(next.notice)?, date(next.cutover)?))
    }

    /// How many of a wave's accounts are in the given states.
    pub async fn count_wave(&self, wave: &str, states: &[State]) -> Result<i64, StoreError> {
        let placeholders: Vec<String> = (0..states.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!("SELECT COUNT(*) FROM account WHERE wave = $1 AND state IN ({})", placeholders.join(", "));
        let mut q = sqlx::query(&sql).bind(wave);
        for s in states {
            q = q.bind(s.as_str());
        }
        q.fetch_one(&mut *self.conn().await?).await.and_then(|r| r.try_get(0)).map_err(|e| self.err(e))
    }

    /// How many of a wave's accounts a stage would walk: in the given states and, with `due`,
    /// due by that day (what [`Store::wave_accounts`] pages through).
    pub async fn count_due(
        &self,
        wave: &str,
        states: &[State],
        due: Option<(Due, NaiveDate)>,
    ) -> Result<i64, StoreError> {
        let placeholders: Vec<String> = (0..states.len()).map(|i| format!("${}", i + 3)).collect();
        let (col, day) = Due::bound(due);
        let sql = format!(
            "SELECT COUNT(*) FROM account WHERE wave = $1 AND {col} <= $2 AND state IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(wave).bind(day);
        for s in states {
            q = q.bind(s.as_str());
        }
        q.fetch_one(&mut *self.conn().await?).await.and_then(|r| r.try_get(0)).map_err(|e| self.err(e))
    }

    /// The day from which each of these extracted accounts is a customer (`None`: never known, so
    /// not before the end of time): one UPDATE per distinct day.
    pub async fn set_not_before_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        days: &[(String, Option<NaiveDate>)],
    ) -> Result<(), StoreError> {
        let mut by_day: std::collections::BTreeMap<String, Vec<&str>> = std::collections::BTreeMap::new();
        for (account, day) in days {
            by_day.entry(day.map_or_else(|| "9999-12-31".to_string(), |d| d.to_string())).or_default().push(account);
        }
        for (day, accounts) in &by_day {
            self.set_column_in(tx, "not_before", day, accounts, " AND state = 'extracted'").await?;
        }
        Ok(())
    }

    /// Records each account's reconciliation outcome (`pass` when true, else `fail`): two UPDATEs.
    pub async fn set_recon_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        outcomes: &[(&str, bool)],
    ) -> Result<(), StoreError> {
        for (value, pass) in [("pass", true), ("fail", false)] {
            let accounts: Vec<&str> = outcomes.iter().filter(|(_, p)| *p == pass).map(|(a, _)| *a).collect();
            self.set_column_in(tx, "recon", value, &accounts, "").await?;
        }
        Ok(())
    }

    /// Sets `column` to `value` on these accounts (`and` narrows further), 500 accounts a statement.
    async fn set_column_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        column: &'static str,
        value: &str,
        accounts: &[&str],
        and: &'static str,
    ) -> Result<(), StoreError> {
        for chunk in accounts.chunks(500) {
            let (list, values) = self.in_list(2, chunk);
            let sql = format!("UPDATE account SET {column} = {} WHERE account_number IN ({list}){and}", self.param(1));
            let mut q = sqlx::query(&sql).bind(value);
            for a in values {
                q = q.bind(*a);
            }
            q.execute(&mut **tx).await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Every account (or one wave's), for status reports, a page at a time.
    pub async fn accounts_page(
        &self,
        wave: Option<&str>,
        after: &str,
        limit: i64,
    ) -> Result<Vec<AccountRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM account WHERE account_number > $1 AND ($2 = '' OR wave = $2) ORDER BY account_number LIMIT $3",
            Self::ACCOUNT_COLS
        );
        let rows = sqlx::query_as(&sql)
            .bind(after)
            .bind(wave.unwrap_or(""))
            .bind(limit)
            .fetch_all(&mut *self.conn().await?)
            .await
            .map_err(|e| self.err(e))?;
        Self::account_rows(rows)
    }

    /// How many of a wave's held accounts are held because they are closed in the legacy system.
    pub async fn closed_held(&self, wave: &str) -> Result<i64, StoreError> {
        sqlx::query(
            "SELECT COUNT(*) FROM account WHERE wave = $1 AND state = 'held' AND state_reason LIKE 'closed in the legacy system%'",
        )
        .bind(wave)
        .fetch_one(&mut *self.conn().await?)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| self.err(e))
    }

    /// Accounts per state, for one wave or all.
    pub async fn state_counts(&self, wave: Option<&str>) -> Result<Vec<(State, i64)>, StoreError> {
        let sql = "SELECT state, COUNT(*) AS n FROM account WHERE ($1 = '' OR wave = $1) GROUP BY state ORDER BY state";
        let rows: Vec<StoredStateCount> = self.rows_by(sql, wave.unwrap_or("")).await?;
        rows.into_iter().map(|r| Ok((r.state.parse().map_err(StoreError::Corrupt)?, r.n))).collect()
    }

    /// Accounts per wave and state, every wave at once (no wave: `None`), in wave and state order.
    pub async fn wave_state_counts(&self) -> Result<Vec<(Option<String>, State, i64)>, StoreError> {
        let sql = "SELECT wave, state, COUNT(*) AS n FROM account GROUP BY wave, state ORDER BY wave, state";
        let rows: Vec<(Option<String>, String, i64)> =
            sqlx::query_as(sql).fetch_all(&mut *self.conn().await?).await.map_err(|e| self.err(e))?;
        rows.into_iter().map(|(w, s, n)| Ok((w, s.parse().map_err(StoreError::Corrupt)?, n))).collect()
    }

    // ------------------------------------------------------------------ legacy records

    /// The extracted legacy records of these accounts: each stored record parsed again (the
    /// source's cells, migration 0015, grouped by account and kind since migration 0019; or a
    /// record stored whole as JSON before 0015).
    pub async fn legacy_accounts(&self, numbers: &[String]) -> Result<Vec<crate::domain::LegacyAccount>, StoreError> {
        self.legacy_records(numbers, Records::All).await
    }

    /// [`Store::legacy_accounts`] with only the records `which` asks for: the cut-over never looks
    /// at the legacy invoice lines (its snapshot drops them), two thirds of an account's records.
    pub async fn legacy_records(
        &self,
        numbers: &[String],
        which: Records,
    ) -> Result<Vec<crate::domain::LegacyAccount>, StoreError> {
        self.stored_records(numbers, which).await?.parse(numbers)
    }

    /// The stored rows of [`Store::legacy_records`], read and not parsed yet (read on one task,
    /// parsed on another: `engine::ReadAhead`).
    pub async fn stored_records(&self, numbers: &[String], which: Records) -> Result<StoredRecords, StoreError> {
        let kinds = match which {
            Records::All | Records::Recent { .. } => "",
            Records::WithoutInvoiceLines => " AND kind <> 'line'",
        };
        if self.dialect == Dialect::Sqlite {
            return self.stored_records_folded(numbers, kinds, which).await;
        }
        // An account's records of a kind in one or a few rows (migration 0019), or one a row.
        let stored: Vec<StoredLegacyRow> = self
            .rows_for(numbers, |list| {
                format!(
                    "SELECT account_number, kind, source_row, source_rows, cells, records, packed FROM legacy_row \
                     WHERE account_number IN ({list}){kinds}"
                )
            })
            .await?;
        Ok(StoredRecords(stored, which))
    }

    /// SQLite: [`Store::stored_records`] as one value, every row of the page folded into it
    /// ([`unfold_legacy_rows`]). sqlx hands each row from its SQLite thread to the caller's, up to
    /// two thread wake-ups a row: folded, a 20,000-account benchmark made 38,000 fewer context
    /// switches (issue 11). Each value goes in as its length in bytes, `:` and its bytes (the kind,
    /// one of a few fixed words, and the row number end with `,`), so no byte inside a value can be
    /// taken for a separator and nothing is encoded: in hex, folding took SQLite half as long
    /// again and the text was twice the size, to be decoded again here.
    async fn stored_records_folded(
        &self,
        numbers: &[String],
        kinds: &str,
        which: Records,
    ) -> Result<StoredRecords, StoreError> {
        if numbers.is_empty() {
            return Ok(StoredRecords(Vec::new(), which));
        }
        // Bytes, not characters: `length` of text counts characters.
        let sized = |col: &str| format!("length(CAST({col} AS BLOB)) || ':' || {col}");
        let or_dash = |col: &str| format!("ifnull({}, '-')", sized(col));
        let (list, values) = self.in_list(1, numbers);
        // A row with a NULL where none may be would fold to NULL, and group_concat would skip it:
        // `!` makes it a corrupt row instead. The whole is cast to a blob: packed records are
        // bytes, not text.
        let sql = format!(
            "SELECT CAST(group_concat(ifnull({} || kind || ',' || source_row || ',' || {} || {} || {} || {}, '!'), '') \
             AS BLOB) FROM legacy_row WHERE account_number IN ({list}){kinds}",
            sized("account_number"),
            or_dash("source_rows"),
            sized("cells"),
            or_dash("records"),
            or_dash("packed"),
        );
        let mut q = sqlx::query(&sql);
        for n in values {
            q = q.bind(n);
        }
        let row = q.fetch_one(&mut *self.conn().await?).await.map_err(|e| self.err(e))?;
        let folded: Option<Vec<u8>> = row.try_get(0).map_err(|e| self.err(e))?;
        Ok(StoredRecords(unfold_legacy_rows(folded.as_deref().unwrap_or_default())?, which))
    }
}

/// `items` in the row counts a multi-row statement is sent with: `max` rows a statement while
/// that many are left, then the rest by its binary digits (256, 128, …, 1 rows). A statement's
/// text depends on its row count, and SQLite compiles each distinct text anew and keeps the
/// program in the connection's statement cache (sqlx: 100 a connection, least recently used out
/// first). In `sqlite3`, compiling an insert of 500 rows of six values took 1.8 ms, nearly four
/// times as long as running it, and each such program held about 240 KiB. With the counts a
/// page's tail and a batch's groups happen to have, the 20,000-account demo compiled 449 distinct
/// texts of 500 values or more, each one room in the cache. With these counts a statement comes
/// in at most ten texts (issue 11, fourteenth round: peak memory at 100,000 accounts stayed within
/// 220–231 MiB in five runs, where it had ranged from 214 to 305 MiB).
pub(crate) fn pieces<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let max = max.max(1);
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = if rest.len() >= max { max } else { 1 << rest.len().ilog2() };
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        Some(piece)
    })
}

/// Stored legacy records as read ([`Store::stored_records`]), to parse, and which were asked for.
pub struct StoredRecords(Vec<StoredLegacyRow>, Records);

impl StoredRecords {
    /// The accounts among `numbers` that have records, in that order, their records parsed.
    pub fn parse(self, numbers: &[String]) -> Result<Vec<crate::domain::LegacyAccount>, StoreError> {
        use crate::domain::LegacyAccount;
        use crate::extract::Record;
        let StoredRecords(stored, which) = self;
        let bad = |r: &StoredLegacyRow, why: String| {
            StoreError::Corrupt(format!("stored {} records of {}: {why}", r.kind, r.account_number))
        };
        // A group's records as text: as stored, or unpacked (`None`: one record, in `cells`).
        let mut texts: Vec<Option<std::borrow::Cow<'_, str>>> = Vec::with_capacity(stored.len());
        for r in &stored {
            texts.push(match (&r.source_rows, &r.records, &r.packed) {
                (None, None, None) => None,
                (Some(_), Some(text), None) => Some(text.as_str().into()),
                (Some(_), None, Some(p)) => {
                    Some(packed::unpack(p, || format!("{} records of {}", r.kind, r.account_number))?.into())
                }
                _ => {
                    return Err(bad(
                        r,
                        "a group needs its source rows and either its records or their packed form".into(),
                    ));
                }
            });
        }
        // Each group's source rows, to size the list of records once.
        let mut rows = Vec::with_capacity(stored.len());
        for r in &stored {
            rows.push(r.source_rows.as_deref().map(packed::rows_from).transpose().map_err(|why| bad(r, why))?);
        }
        let total = rows.iter().map(|at| at.as_ref().map_or(1, Vec::len)).sum();
        let mut records: Vec<(&str, &str, i64, &str)> = Vec::with_capacity(total);
        for ((r, text), at) in stored.iter().zip(&texts).zip(rows) {
            let (number, kind) = (r.account_number.as_str(), r.kind.as_str());
            let (Some(at), Some(text)) = (at, text) else {
                records.push((number, kind, r.source_row, &r.cells));
                continue;
            };
            let cells: Vec<&str> = packed::split_byte(text, packed::RECORD).collect();
            if at.len() != cells.len() {
                return Err(bad(r, format!("{} records for {} source rows", cells.len(), at.len())));
            }
            records.extend(at.into_iter().zip(cells).map(|(row, c)| (number, kind, row, c)));
        }
        // The order the records were stored in (the rows come in no promised order): by account,
        // then kind, whose names sort the account record first, then row.
        records.sort_unstable_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        // One account at a time, each list sized before it is filled (growing them record by
        // record, and a list of all the page's records between, was a fifth of this; issue 11).
        // Each account with the number it is stored under (what the groups are sorted by).
        let mut accounts: Vec<(&str, LegacyAccount)> = Vec::new();
        for group in records.chunk_by(|a, b| a.0 == b.0) {
            let count = |kind: &str| group.iter().filter(|r| r.1 == kind).count();
            let mut acct: Option<LegacyAccount> = None;
            // Which of the group's records to parse (`Records::Recent`), known from the account
            // record (its cycle day), which sorts first.
            let keep_of = |cycle_day: u32| match which {
                Records::Recent { periods, as_of } => Some(recent_records(group, cycle_day, as_of, periods)),
                Records::All | Records::WithoutInvoiceLines => None,
            };
            let mut keep: Option<Vec<bool>> = None;
            for (i, &(number, kind, row, cells)) in group.iter().enumerate() {
                if keep.as_ref().is_some_and(|k| !k[i]) {
                    continue;
                }
                match (stored_record(number, kind, row, cells)?, acct.as_mut()) {
                    (Record::Account(a), None) => {
                        keep = keep_of(a.bill_cycle_day);
                        let kept = |kind: &str| match &keep {
                            Some(k) => group.iter().zip(k).filter(|(r, k)| r.1 == kind && **k).count(),
                            None => count(kind),
                        };
                        let mut la = LegacyAccount::new(a);
                        la.services.reserve_exact(count("service"));
                        la.usage.reserve_exact(kept("usage"));
                        la.invoice_lines.reserve_exact(kept("line"));
                        la.contacts.reserve_exact(count("contact"));
                        acct = Some(la);
                    }
                    // A second account record of one number (no extraction writes one): the
                    // later stands, with every other record (they all sort after it).
                    (Record::Account(a), Some(la)) => {
                        keep = keep_of(a.bill_cycle_day);
                        *la = LegacyAccount::new(a);
                    }
                    // Records whose account record is missing belong to no account read here.
                    (_, None) => {}
                    (Record::Service(s), Some(la)) => la.services.push(s),
                    (Record::Usage(u), Some(la)) => la.usage.push(u),
                    (Record::Line(l), Some(la)) => la.invoice_lines.push(l),
                    (Record::Contact(c), Some(la)) => la.contacts.push(c),
                }
            }
            accounts.extend(acct.map(|a| (group[0].0, a)));
        }
        // In the order asked for: the accounts are in stored-number order, each once.
        let keys: Vec<&str> = accounts.iter().map(|(number, _)| *number).collect();
        let mut found: Vec<Option<LegacyAccount>> = accounts.into_iter().map(|(_, a)| Some(a)).collect();
        Ok(numbers.iter().filter_map(|n| keys.binary_search(&n.as_str()).ok().and_then(|i| found[i].take())).collect())
    }
}

impl Store {
    /// Whether a complete extraction exists.
    pub async fn last_extraction(&self) -> Result<Option<ExtractionCounts>, StoreError> {
        let row: Option<StoredExtraction> = sqlx::query_as(
            "SELECT id, source, accounts, records, quarantined, finished_at, warnings, started_at FROM extraction \
             WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&mut *self.conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        Ok(row.map(ExtractionCounts::from))
    }

    /// Quarantined rows of the last extraction (all, or one account's).
    pub async fn quarantine(&self, account: Option<&str>) -> Result<Vec<crate::extract::Quarantined>, StoreError> {
        let sql = "SELECT tbl, source, source_row, account_number, reason, raw FROM quarantine \
                   WHERE extraction_id = (SELECT MAX(id) FROM extraction WHERE finished_at IS NOT NULL) \
                   AND ($1 = '' OR account_number = $1) ORDER BY id";
        let rows: Vec<StoredQuarantine> = self.rows_by(sql, account.unwrap_or("")).await?;
        rows.into_iter().map(crate::extract::Quarantined::try_from).collect()
    }

    // ------------------------------------------------------------------ bills and verdicts

    /// Stores a page's new bills, replacing an account's bill of the same period.
    pub async fn put_bills_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        bills: &[NewBillRow],
    ) -> Result<(), StoreError> {
        // Kept packed (`packed`, migration 0017); `data` is the text of bills stored before.
        let packed: Vec<Vec<u8>> = bills.iter().map(|b| packed::pack(&b.data)).collect();
        let rows: Vec<Vec<Cell<'_>>> = bills
            .iter()
            .zip(&packed)
            .map(|(b, p)| {
                vec![
                    Cell::Text(&b.account),
                    Cell::Text(&b.period),
                    Cell::Text(&b.total),
                    Cell::Text(""),
                    Cell::Bytes(p),
                ]
            })
            .collect();
        self.upsert_in(tx, "bill", &["account_number", "period", "total", "data", "packed"], 2, rows).await
    }

    /// Stored bills (JSON) of an account, by period.
    pub async fn bills(&self, account: &str) -> Result<Vec<(String, String)>, StoreError> {
        let sql = "SELECT period, data, packed FROM bill WHERE account_number = $1 ORDER BY period";
        let rows: Vec<StoredBill> = self.rows_by(sql, account).await?;
        rows.into_iter()
            .map(|b| {
                let data = packed::document(b.data, b.packed, || format!("the bill of {account} for {}", b.period))?;
                Ok((b.period, data))
            })
            .collect()
    }

    /// Replaces the stored verdicts of the accounts `compared` with `verdicts` (no stale period
    /// stays), in the caller's transaction. Their tallies, made from the verdicts, go too: the
    /// caller writes the new ones (`Store::put_tallies_in`).
    pub async fn replace_verdicts_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        compared: &[String],
        verdicts: &[VerdictRow],
    ) -> Result<(), StoreError> {
        for chunk in compared.chunks(500) {
            for table in ["verdict", "recon_tally"] {
                let (list, values) = self.in_list(1, chunk);
                let sql = format!("DELETE FROM {table} WHERE account_number IN ({list})");
                let mut q = sqlx::query(&sql);
                for n in values {
                    q = q.bind(n);
                }
                q.execute(&mut **tx).await.map_err(|e| self.err(e))?;
            }
        }
        let rows: Vec<Vec<Cell<'_>>> = verdicts
            .iter()
            .map(|v| {
                [&v.account, &v.period, &v.status, &v.legacy_total, &v.new_total, &v.difference, &v.data]
                    .into_iter()
                    .map(|t| Cell::Text(t))
                    .collect()
            })
            .collect();
        let cols = ["account_number", "period", "status", "legacy_total", "new_total", "difference", "data"];
        self.upsert_in(tx, "verdict", &cols, 2, rows).await
    }

    /// Inserts `rows` into `table` in multi-row statements (one hand-off to the SQLite worker for
    /// many rows, issue 11), replacing a stored row with the same key: the first `key` of `cols`.
    /// A key given twice keeps its last row (PostgreSQL refuses to update a row twice in one
    /// statement).
    pub(crate) async fn upsert_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        table: &'static str,
        cols: &[&str],
        key: usize,
        mut rows: Vec<Vec<Cell<'_>>>,
    ) -> Result<(), StoreError> {
        let mut seen = std::collections::HashSet::new();
        rows.reverse();
        rows.retain(|r| seen.insert(r[..key].iter().map(Cell::key).collect::<Vec<_>>()));
        rows.reverse();
        let set: Vec<String> = cols[key..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
        let per = (30_000 / cols.len()).min(500);
        for chunk in pieces(&rows, per) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("({})", self.params(i * cols.len() + 1, cols.len()).join(", ")))
                .collect();
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES {} ON CONFLICT ({}) DO UPDATE SET {}",
                cols.join(", "),
                values.join(", "),
                cols[..key].join(", "),
                set.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for row in chunk {
                for cell in row {
                    q = match cell {
                        Cell::Text(t) => q.bind(*t),
                        Cell::Int(i) => q.bind(*i),
                        Cell::Null => q.bind(None::<&str>),
                        Cell::Bytes(b) => q.bind(*b),
                    };
                }
            }
            q.execute(&mut **tx).await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Stored period verdicts (JSON) of these accounts, as (account, data), by account and period.
    pub async fn verdicts(&self, numbers: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self.folded_for(numbers, "verdict", &["period", "data"]).await?;
        let mut out: Vec<(String, String, String)> = Vec::new();
        for r in &rows {
            for [period, data] in r.rows::<2>()? {
                out.push((r.account_number.clone(), period.to_string(), data.to_string()));
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(out.into_iter().map(|(n, _, d)| (n, d)).collect())
    }

    // ------------------------------------------------------------------ cut-over

    /// The legacy billing state of a cut-over account: `suppressed` or `restored`.
    pub async fn legacy_billing(&self, account: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            self.row_by("SELECT legacy_billing FROM cutover WHERE account_number = $1", account).await?;
        Ok(row.map(|(v,)| v))
    }

    pub async fn set_legacy_billing_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        account: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE cutover SET legacy_billing = $1 WHERE account_number = $2")
            .bind(value)
            .bind(account)
            .execute(&mut **tx)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// Between the fields of a row in a [`Store::joined`] aggregate (SQL `char(31)`).
const FIELD: char = '\u{1f}';
/// Between the rows of a [`Store::joined`] aggregate (SQL `char(30)`).
const ROW: char = '\u{1e}';

/// Fields joined in Rust as [`Store::joined`] joins a row's parts in SQL: what a column holds
/// ready joined (`recon_tally.line`, migration 0024) reads back through [`split_joined`].
pub(crate) fn join_fields(fields: &[&str]) -> String {
    fields.join(FIELD.encode_utf8(&mut [0; 4]))
}

/// The rows of a [`Store::joined`] aggregate, each as its `N` fields.
/// An empty text (no rows, or SQL NULL read as empty) has none.
pub(crate) fn split_joined<const N: usize>(joined: &str) -> Result<Vec<[&str; N]>, String> {
    if joined.is_empty() {
        return Ok(vec![]);
    }
    joined
        .split(ROW)
        .map(|row| {
            let mut it = row.splitn(N, FIELD);
            let mut fields = [""; N];
            for f in &mut fields {
                *f = it.next().ok_or_else(|| format!("a stored row has fewer than {N} fields"))?;
            }
            Ok(fields)
        })
        .collect()
}

/// A value of a row for [`Store::upsert_in`].
pub(crate) enum Cell<'a> {
    Text(&'a str),
    Int(i64),
    Null,
    Bytes(&'a [u8]),
}

impl Cell<'_> {
    fn key(&self) -> String {
        match self {
            Cell::Text(t) => (*t).to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Null => String::new(),
            Cell::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        }
    }
}

/// A new bill to store (`Store::put_bills_in`).
pub struct NewBillRow {
    pub account: String,
    pub period: String,
    pub total: String,
    /// The bill as JSON.
    pub data: String,
}

/// A period verdict to store (`Store::replace_verdicts_in`).
pub struct VerdictRow {
    pub account: String,
    pub period: String,
    pub status: String,
    pub legacy_total: String,
    pub new_total: String,
    pub difference: String,
    /// The verdict as JSON.
    pub data: String,
}

/// The rows [`Store::stored_records_folded`] folded, one after another: the account number, the
/// source rows, the cells, the records and the packed bytes each as its length in bytes, `:` and
/// the bytes, or `-` for NULL where NULL may be; the kind and the row number each ended by `,`.
/// Anything else is [`StoreError::Corrupt`].
fn unfold_legacy_rows(folded: &[u8]) -> Result<Vec<StoredLegacyRow>, StoreError> {
    let bad = |why: &str| StoreError::Corrupt(format!("stored legacy rows read back folded: {why}"));
    let utf8 = |b: Vec<u8>| String::from_utf8(b).map_err(|_| bad("a text is not UTF-8"));
    let mut rest = folded;
    // A value of the length before `:`, or with `or_none`, NULL for `-`.
    let sized = |rest: &mut &[u8], or_none: bool| -> Result<Option<Vec<u8>>, StoreError> {
        if or_none && rest.first() == Some(&b'-') {
            *rest = &rest[1..];
            return Ok(None);
        }
        // A length has at most 20 digits (`usize::MAX`), then the colon.
        let colon = rest.iter().take(21).position(|&b| b == b':').ok_or_else(|| bad("a value without its length"))?;
        let len = std::str::from_utf8(&rest[..colon])
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<usize>().ok())
            .ok_or_else(|| bad("a value's length is not a number"))?;
        let end =
            (colon + 1).checked_add(len).filter(|&end| end <= rest.len()).ok_or_else(|| bad("a value is cut short"))?;
        let value = rest[colon + 1..end].to_vec();
        *rest = &rest[end..];
        Ok(Some(value))
    };
    let until_comma = |rest: &mut &[u8]| -> Result<String, StoreError> {
        let at = rest.iter().position(|&b| b == b',').ok_or_else(|| bad("a row is cut short"))?;
        let field = utf8(rest[..at].to_vec())?;
        *rest = &rest[at + 1..];
        Ok(field)
    };
    let as_text = |v: Option<Vec<u8>>| v.map(utf8).transpose();
    let mut rows = Vec::new();
    while !rest.is_empty() {
        let account_number = as_text(sized(&mut rest, false)?)?.unwrap_or_default();
        let kind = until_comma(&mut rest)?;
        let source_row = until_comma(&mut rest)?.parse().map_err(|_| bad("a source row is not a number"))?;
        rows.push(StoredLegacyRow {
            account_number,
            kind,
            source_row,
            source_rows: as_text(sized(&mut rest, true)?)?,
            cells: as_text(sized(&mut rest, false)?)?.unwrap_or_default(),
            records: as_text(sized(&mut rest, true)?)?,
            packed: sized(&mut rest, true)?,
        });
    }
    Ok(rows)
}

/// The period of a stored invoice line, read from its cells without parsing the rest (`None`
/// when they are not in the joined form or the period does not read).
fn line_period(cells: &str) -> Option<Period> {
    const AT: usize = 1;
    debug_assert_eq!(crate::extract::Table::LegacyInvoiceLines.columns().get(AT + 1), Some(&"period"));
    stored_cell(cells, AT)?.parse().ok()
}

/// Cell `at` of a record's stored cells (which start after the account number, the table's
/// first column), trimmed, without parsing the rest: `None` when they are not in the joined form
/// or it is empty.
fn stored_cell(cells: &str, at: usize) -> Option<&str> {
    Some(packed::joined_cells(cells)?.nth(at)??.trim())
}

/// Which of an account's stored records (`group`) [`Records::Recent`] parses: all but
/// - the lines of periods not billed as of `as_of` or older than the last `periods` billed by
///   then (the earliest of those is the cut);
/// - the usage of days before the bill period that the cut's bill carries in arrears
///   (`rate::usage_period` of the cut: a bill of the cut's period or of any later one carries
///   nothing older). With no period billed by then, every usage record is kept.
///
/// A line or usage record whose period or date cannot be read is kept, to fail as corrupt when
/// parsed.
fn recent_records(
    group: &[(&str, &str, i64, &str)],
    cycle_day: u32,
    as_of: chrono::NaiveDate,
    periods: u32,
) -> Vec<bool> {
    let known = |p: Period| crate::domain::LegacyAccount::line_known(p, cycle_day, as_of);
    let peeked: Vec<Option<Period>> =
        group.iter().map(|r| if r.1 == "line" { line_period(r.3) } else { None }).collect();
    let mut billed: Vec<Period> = peeked.iter().flatten().copied().filter(|p| known(*p)).collect();
    billed.sort_unstable();
    billed.dedup();
    let cut = billed.get(billed.len().saturating_sub(periods as usize)).copied();
    let used_from = cut.and_then(|c| crate::rate::usage_period(c, cycle_day, None)).map(|b| b.start);
    group
        .iter()
        .zip(&peeked)
        .map(|(r, p)| match r.1 {
            "line" => p.is_none_or(|p| known(p) && cut.is_some_and(|c| p >= c)),
            "usage" => used_from.is_none_or(|from| usage_date(r.3).is_none_or(|d| d >= from)),
            _ => true,
        })
        .collect()
}

/// The date of a usage record's stored cells, if it reads (as the parser reads it).
fn usage_date(cells: &str) -> Option<chrono::NaiveDate> {
    const AT: usize = 2;
    debug_assert_eq!(crate::extract::Table::Usage.columns().get(AT + 1), Some(&"usage_date"));
    crate::extract::date_cell(stored_cell(cells, AT)?)
}

/// One stored record of an account: the source's cells (parsed again by the parser that took
/// them in), or a whole JSON record stored before migration 0015.
fn stored_record(number: &str, kind: &str, row: i64, cells: &str) -> Result<crate::extract::Record, StoreError> {
    use crate::extract::{Record, Table};
    let bad = |why: String| StoreError::Corrupt(format!("{kind} record of {number} (row {row}): {why}"));
    let table = match kind {
        "account" => Table::Accounts,
        "service" => Table::Services,
        "usage" => Table::Usage,
        "line" => Table::LegacyInvoiceLines,
        "contact" => Table::Contacts,
        other => return Err(StoreError::Corrupt(format!("unknown record kind {other}"))),
    };
    // The usual form, read borrowed: the cells joined.
    let mut fields: Vec<Option<&str>> = Vec::with_capacity(table.columns().len());
    fields.push(Some(number));
    if let Some(joined) = packed::joined_cells(cells) {
        fields.extend(joined);
        return crate::extract::parse_cells(table, &fields).map_err(bad);
    }
    // The other forms (`packed::cells_from`): cells as a JSON array, or a record stored whole.
    let Some(rest) = packed::cells_from(cells).map_err(&bad)? else {
        // Stored whole as JSON, before migration 0015.
        let json = |e: serde_json::Error| bad(e.to_string());
        return Ok(match table {
            Table::Accounts => Record::Account(serde_json::from_str(cells).map_err(json)?),
            Table::Services => Record::Service(serde_json::from_str(cells).map_err(json)?),
            Table::Usage => Record::Usage(serde_json::from_str(cells).map_err(json)?),
            Table::LegacyInvoiceLines => Record::Line(serde_json::from_str(cells).map_err(json)?),
            Table::Contacts => Record::Contact(serde_json::from_str(cells).map_err(json)?),
        });
    };
    fields.extend(rest.iter().map(Option::as_deref));
    crate::extract::parse_cells(table, &fields).map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::{BUSY_TIMEOUT_SECS, Store, StoreError, packed, pieces};

    /// (number asked for, what the message ends with)
    #[test]
    fn an_unknown_account_is_said_one_way_with_the_likely_typo() {
        for (number, ends) in [
            ("ZZ404", "(a typo, or not extracted yet: `cutover extract`)"),
            ("a000012", "written as the legacy system writes them: A000012?"),
        ] {
            let said = StoreError::NoAccount(number.into()).to_string();
            assert!(said.starts_with(&format!("no account {number} in the state store")), "{said}");
            assert!(said.ends_with(ends), "{said}");
        }
    }

    /// A new SQLite store gets [`super::SQLITE_PAGE_SIZE`]; a file already written with SQLite's
    /// default 4 KiB pages (as every store was before) opens, is migrated, keeps its pages, and
    /// takes writes.
    #[tokio::test]
    async fn a_new_sqlite_store_gets_large_pages_and_an_old_one_keeps_its_own() {
        let page_size = async |store: &Store| -> i64 {
            sqlx::query_scalar("PRAGMA page_size").fetch_one(&store.pool).await.unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let new = Store::open(&format!("sqlite://{}", dir.path().join("new.db").display())).await.unwrap();
        assert_eq!(page_size(&new).await, i64::from(super::SQLITE_PAGE_SIZE));
        let old_path = dir.path().join("old.db");
        let url = format!("sqlite://{}", old_path.display());
        {
            let mut conn =
                <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("{url}?mode=rwc")).await.unwrap();
            sqlx::raw_sql("PRAGMA page_size = 4096; PRAGMA journal_mode=WAL; CREATE TABLE before_ (x)")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let old = Store::open(&url).await.unwrap();
        assert_eq!(page_size(&old).await, 4096, "an existing file keeps its pages");
        sqlx::query("INSERT INTO recipient (account_number, emails, name, submitted_at, imported_at, source) VALUES ('A1', 'x@y.z', 'N', 't', 't', 'test')")
            .execute(&old.pool)
            .await
            .unwrap();
        let got = old.recipients_of(&["A1".to_string()]).await.unwrap();
        assert_eq!(got.len(), 1, "the old store takes writes and reads them back");
    }

    /// Every connection of a SQLite store keeps SQLite's transient files in memory (`PRAGMA
    /// temp_store`: 2 is MEMORY), the first and those opened while it is busy alike.
    #[tokio::test]
    async fn every_sqlite_connection_keeps_its_statement_journals_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = store.pool.acquire().await.unwrap();
            let mode: i64 = sqlx::query_scalar("PRAGMA temp_store").fetch_one(&mut *conn).await.unwrap();
            assert_eq!(mode, 2, "connection {} of those held at once", held.len() + 1);
            // SQLITE_CONNECTION_PRAGMAS says the busy timeout in milliseconds.
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await.unwrap();
            assert_eq!(busy, i64::try_from(BUSY_TIMEOUT_SECS * 1000).unwrap());
            held.push(conn);
        }
    }

    /// Rows go in `max` at a time, then the rest by its binary digits, in order, none lost; and
    /// whatever the count, a statement comes in at most ten row counts (max 500).
    #[test]
    fn rows_are_sent_in_a_few_fixed_counts() {
        let sizes = |n: usize, max: usize| {
            let items: Vec<usize> = (0..n).collect();
            let parts: Vec<&[usize]> = pieces(&items, max).collect();
            assert_eq!(parts.concat(), items, "{n} items, {max} a piece: all of them, in order");
            parts.iter().map(|p| p.len()).collect::<Vec<_>>()
        };
        let table: &[(usize, usize, &[usize])] = &[
            (0, 500, &[]),
            (1, 500, &[1]),
            (2, 500, &[2]),
            (3, 500, &[2, 1]),
            (300, 300, &[300]),
            (337, 500, &[256, 64, 16, 1]),
            (499, 500, &[256, 128, 64, 32, 16, 2, 1]),
            (500, 500, &[500]),
            (1_003, 500, &[500, 500, 2, 1]),
            (650, 300, &[300, 300, 32, 16, 2]),
            (5, 0, &[1, 1, 1, 1, 1]),
        ];
        for &(n, max, expected) in table {
            assert_eq!(sizes(n, max), expected, "{n} items, {max} a piece");
        }
        let counts: std::collections::BTreeSet<usize> = (0..=2_000).flat_map(|n| sizes(n, 500)).collect();
        assert_eq!(counts.into_iter().collect::<Vec<_>>(), [1, 2, 4, 8, 16, 32, 64, 128, 256, 500]);
    }

    /// An `IN` list is padded to a power of two with its last value, selects exactly the rows
    /// listed, and comes in at most ten texts from 1 to 500 values. On a real SQLite file.
    #[tokio::test]
    async fn an_in_list_is_padded_with_its_last_value_and_selects_only_what_it_lists() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("state.db").display())).await.unwrap();
        let (list, values) = store.in_list(3, &["a", "b", "c"]);
        assert_eq!(list, "?, ?, ?, ?");
        assert_eq!(values.copied().collect::<Vec<_>>(), ["a", "b", "c", "c"]);
        let (list, values) = store.in_list(1, &[] as &[&str]);
        assert_eq!((list.as_str(), values.count()), ("", 0));
        let texts: std::collections::BTreeSet<String> = (1..=500)
            .map(|n| {
                let items = vec![0; n];
                let (list, values) = store.in_list(1, &items);
                assert_eq!(values.count(), list.split(", ").count(), "as many values as placeholders");
                list
            })
            .collect();
        assert_eq!(texts.len(), 10, "1 to 500 values: lists of 1, 2, 4, … 512");
        for n in ["A1", "A2", "A3", "A4", "A5"] {
            sqlx::query(
                "INSERT INTO recipient (account_number, emails, name, submitted_at, imported_at, source) \
                 VALUES ($1, 'x@y.z', 'N', 't', 't', 'test')",
            )
            .bind(n)
            .execute(&store.pool)
            .await
            .unwrap();
        }
        let wanted: Vec<String> = ["A5", "A2", "A4"].map(String::from).to_vec();
        let mut got: Vec<String> = store.recipients_of(&wanted).await.unwrap().into_keys().collect();
        got.sort();
        assert_eq!(got, ["A2", "A4", "A5"], "three listed (the last one twice), three read");
    }

    /// On SQLite a write transaction holds this process's turn to write until it ends, however
    /// it ends (commit, rollback, dropped on an error path), and a clone's writer waits for it
    /// and goes in once it is given back. On a real SQLite file, as the stages use it.
    #[tokio::test]
    async fn a_write_transaction_holds_the_processs_turn_until_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("state.db").display())).await.unwrap();
        let other = store.clone();
        let free = || other.turn.try_lock().is_ok();
        assert!(free());
        let tx = store.begin().await.unwrap();
        assert!(!free(), "taken by the transaction");
        tx.commit().await.unwrap();
        assert!(free(), "given back on commit");
        store.begin().await.unwrap().rollback().await.unwrap();
        assert!(free(), "given back on rollback");
        drop(store.begin().await.unwrap());
        assert!(free(), "given back when dropped");
        // A writer of a clone waits for the turn, and goes in once it is given back.
        let tx = store.begin().await.unwrap();
        let waiting = tokio::spawn({
            let other = other.clone();
            async move { other.begin().await.map(|_| ()) }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the clone's writer waits for the turn");
        tx.commit().await.unwrap();
        waiting.await.unwrap().unwrap();
        assert!(free());
        // A read needs no turn.
        let tx = store.begin().await.unwrap();
        assert!(other.account("A1").await.unwrap().is_none());
        tx.commit().await.unwrap();
    }

    /// A stored row of account Z001: kind, source row, source rows, cells, records, packed.
    type Stored<'a> = (&'a str, i64, Option<&'a str>, &'a str, Option<&'a str>, Option<Vec<u8>>);

    /// Account Z001's own record, as stored: billed on the 1st.
    const ACCOUNT: &str = "Old Co\u{1d}colocation\u{1d}DC1\u{1d}USD\u{1d}1\u{1d}ap@old.example\u{1d}active";

    /// Stores rows of account Z001 as they are.
    async fn stored(store: &Store, rows: &[Stored<'_>]) {
        for (kind, row, runs, cells, records, packed) in rows {
            sqlx::query(
                "INSERT INTO legacy_row (account_number, kind, source_row, source_rows, cells, records, packed) \
                 VALUES ('Z001', $1, $2, $3, $4, $5, $6)",
            )
            .bind(*kind)
            .bind(*row)
            .bind(*runs)
            .bind(*cells)
            .bind(*records)
            .bind(packed.clone())
            .execute(&store.pool)
            .await
            .unwrap();
        }
    }

    /// What SQLite folds a page's legacy rows into reads back, or is refused as corrupt: no rows,
    /// NULL (`-`) against empty text, bytes that look like separators inside a value, a row
    /// SQLite folded to NULL (`!`), a value cut short, a length or row number that is not one, a
    /// text that is not UTF-8.
    #[test]
    fn folded_legacy_rows_read_back_or_are_corrupt() {
        let rows = super::unfold_legacy_rows(b"").unwrap();
        assert!(rows.is_empty());
        // Z001, a group of rows 4-5 as text, no cells, nothing packed; then its packed line,
        // whose bytes hold a colon, a comma, a dash and a NUL.
        let rows = super::unfold_legacy_rows(b"4:Z001usage,4,3:4-50:2:hi-4:Z001line,7,1:70:-5::,-\x00\xff").unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.account_number.as_str(),
                    r.kind.as_str(),
                    r.source_row,
                    r.source_rows.as_deref(),
                    r.cells.as_str(),
                    r.records.as_deref(),
                    r.packed.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("Z001", "usage", 4, Some("4-5"), "", Some("hi"), None),
                ("Z001", "line", 7, Some("7"), "", None, Some(&b":,-\x00\xff"[..])),
            ]
        );
        let bad: [&[u8]; 8] = [
            b"!",
            b"4:Z001usage,4,-0:-",
            b"4:Z001usage,x,-0:--",
            b"40:Z001usage,4,-0:--",
            b"x:Z001usage,4,-0:--",
            b"4:Z001usage,4,-0:--!",
            // A length as long as the address space: refused, not an overflow.
            b"18446744073709551615:Z001usage,4,-0:--",
            b"2:\xff\xfeusage,4,-0:--",
        ];
        for bad in bad {
            assert!(matches!(super::unfold_legacy_rows(bad), Err(StoreError::Corrupt(_))), "{bad:?}");
        }
    }

    /// `Records::Recent` parses the lines of the last periods billed as of a day, and only those:
    /// the same lines as every record read, viewed as of that day and cut to those periods.
    #[tokio::test]
    async fn recent_records_keep_the_last_periods_billed_as_of_the_day() {
        let store = Store::scratch().await.unwrap();
        let line = |period: &str| {
            format!(
                "INV\u{1d}{period}\u{1d}CAB-42U\u{1d}Cabinet\u{1d}{period}-01\u{1d}{period}-28\u{1d}1\u{1d}10.00\u{1d}10.00"
            )
        };
        let periods = ["2017-01", "2017-02", "2017-03", "2017-04", "2017-05", "2017-06"];
        let lines: Vec<String> = periods.iter().map(|p| line(p)).collect();
        let used = [
            "2016-11-15",
            "2016-12-31",
            "2017-01-01",
            "2017-02-15",
            "2017-03-15",
            "2017-04-15",
            "2017-05-15",
            "2017-06-15",
        ];
        let usage = packed::group_text(
            used.iter()
                .map(|d| format!("S9\u{1d}PWR-KWH\u{1d}{d}\u{1d}3500\u{1d}kWh"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        );
        // Two stored groups of three lines each, the later months first: one packed, one as text.
        let (late, early) = (
            packed::group_text(lines[3..].iter().map(String::as_str)),
            packed::group_text(lines[..3].iter().map(String::as_str)),
        );
        stored(
            &store,
            &[
                ("account", 1, None, ACCOUNT, None, None),
                ("line", 20, Some("20-22"), "", None, Some(packed::pack(&late))),
                ("line", 10, Some("10-12"), "", Some(&early), None),
                ("usage", 40, Some("40-47"), "", Some(&usage), None),
            ],
        )
        .await;
        let numbers = ["Z001".to_string()];
        let day = |d: &str| d.parse::<chrono::NaiveDate>().unwrap();
        // (as of, periods, the periods of the lines read, the usage read from: the account is
        // billed on the 1st, so the bill of the earliest period read carries the month before it)
        let cases: [(&str, u32, &[&str], &str); 6] = [
            ("2017-04-15", 3, &["2017-02", "2017-03", "2017-04"], "2017-01-01"),
            ("2017-04-15", 24, &["2017-01", "2017-02", "2017-03", "2017-04"], "2016-12-01"),
            ("2017-04-30", 1, &["2017-04"], "2017-03-01"),
            ("2017-05-01", 1, &["2017-05"], "2017-04-01"),
            ("2017-12-01", 2, &["2017-05", "2017-06"], "2017-04-01"),
            // Nothing billed by then: every usage record.
            ("2016-12-31", 3, &[], "2016-01-01"),
        ];
        for (as_of, n, want, used_from) in cases {
            let which = super::Records::Recent { periods: n, as_of: day(as_of) };
            let read = store.stored_records(&numbers, which).await.unwrap().parse(&numbers).unwrap();
            let [a] = &read[..] else { panic!("{read:?}") };
            let got: Vec<String> = a.invoice_lines.iter().map(|l| l.period.to_string()).collect();
            assert_eq!(got, want, "as of {as_of}, {n} period(s)");
            // Usage of the days after `used_from`, those after the day too (viewing the account as
            // of the day is the stage's to do).
            let got: Vec<String> = a.usage.iter().map(|u| u.usage_date.to_string()).collect();
            let want_used: Vec<&str> = used.iter().copied().filter(|d| *d >= used_from).collect();
            assert_eq!(got, want_used, "usage as of {as_of}, {n} period(s)");
            // The same lines as all records viewed as of the day, cut to those periods.
            let all = store.stored_records(&numbers, super::Records::All).await.unwrap().parse(&numbers).unwrap();
            let [whole] = &all[..] else { panic!("{all:?}") };
            let whole = whole.clone().as_of(day(as_of));
            let cut: Vec<_> =
                whole.invoice_lines.iter().filter(|l| want.contains(&l.period.to_string().as_str())).collect();
            assert_eq!(a.invoice_lines.iter().collect::<Vec<_>>(), cut, "as of {as_of}");
        }
        // A line whose period does not read is not left out: it fails as corrupt.
        stored(
            &store,
            &[(
                "line",
                30,
                Some("30"),
                "",
                Some("INV\u{1d}2017-13\u{1d}CAB-42U\u{1d}x\u{1d}2017-06-01\u{1d}2017-06-28\u{1d}1\u{1d}1\u{1d}1"),
                None,
            )],
        )
        .await;
        let which = super::Records::Recent { periods: 1, as_of: day("2017-12-01") };
        let read = store.stored_records(&numbers, which).await.unwrap().parse(&numbers);
        assert!(matches!(read, Err(StoreError::Corrupt(_))), "{read:?}");
        // Nor is a usage record whose date does not read, however old the periods read.
        let store = Store::scratch().await.unwrap();
        stored(
            &store,
            &[
                ("account", 1, None, ACCOUNT, None, None),
                ("line", 10, Some("10-12"), "", Some(&early), None),
                ("usage", 40, Some("40"), "", Some("S9\u{1d}PWR-KWH\u{1d}2016-02-30\u{1d}3500\u{1d}kWh"), None),
            ],
        )
        .await;
        let read = store.stored_records(&numbers, which).await.unwrap().parse(&numbers);
        assert!(matches!(read, Err(StoreError::Corrupt(_))), "{read:?}");
    }

    /// Every stored form of a legacy record reads back, side by side: one record a row (its cells
    /// joined, or a JSON array: before migration 0019), a group as text, a group packed (LZ4)
    /// and a group deflated (before migration 0020).
    #[tokio::test]
    async fn legacy_rows_of_every_stored_form_read_back_together() {
        let store = Store::scratch().await.unwrap();
        let usage = [
            "S9\u{1d}PWR-KWH\u{1d}2017-03-31\u{1d}3500\u{1d}kWh",
            "S9\u{1d}PWR-KWH\u{1d}2017-04-30\u{1d}2500\u{1d}kWh",
        ];
        let line = "INV-1\u{1d}2017-03\u{1d}CAB-42U\u{1d}Full cabinet\u{1d}2017-03-01\u{1d}2017-03-31\u{1d}1\u{1d}1500.00\u{1d}1500.00";
        stored(
            &store,
            &[
                ("account", 2, None, ACCOUNT, None, None),
                ("service", 3, None, r#"["S9","CAB-42U","Full cabinet","2","1500.00","2016-01-01",null]"#, None, None),
                // Stored in the opposite order of their rows: read back in source order.
                ("usage", 8, Some("8"), "", Some(usage[1]), None),
                ("usage", 4, Some("4-5"), "", Some(&packed::group_text([usage[0], usage[0]])), None),
                ("line", 7, Some("7"), "", None, Some(packed::pack(line))),
                ("line", 9, Some("9"), "", None, Some(miniz_oxide::deflate::compress_to_vec(line.as_bytes(), 1))),
            ],
        )
        .await;
        let read = store.legacy_accounts(&["Z001".into()]).await.unwrap();
        let [a] = &read[..] else { panic!("{read:?}") };
        assert_eq!((a.account.name.as_str(), a.services[0].service_id.as_str()), ("Old Co", "S9"));
        let quantities: Vec<String> = a.usage.iter().map(|u| u.quantity.to_string()).collect();
        assert_eq!(quantities, ["3500", "3500", "2500"]);
        assert_eq!(a.invoice_lines.len(), 2);
        assert!(a.invoice_lines.iter().all(|l| l.amount.to_string() == "1500.00"), "{:?}", a.invoice_lines);

        // A group whose rows and records disagree is corrupt, and says which.
        stored(&store, &[("usage", 20, Some("20-22"), "", Some(&packed::group_text(usage)), None)]).await;
        let e = store.legacy_accounts(&["Z001".into()]).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Corrupt(m) if m.contains("usage records of Z001: 2 records for 3 source rows")),
            "{e}"
        );
        // A group with neither its records nor their packed form.
        sqlx::query("DELETE FROM legacy_row WHERE source_row = 20").execute(&store.pool).await.unwrap();
        stored(&store, &[("usage", 30, Some("30"), "", None, None)]).await;
        let e = store.legacy_accounts(&["Z001".into()]).await.unwrap_err();
        assert!(matches!(&e, StoreError::Corrupt(m) if m.contains("either its records or their packed form")), "{e}");
    }

    /// A stage's walk through a wave (`WavePage::filter`, in the claim and the read) follows the
    /// index that also holds the due dates (migration 0022), in account order and without a sort,
    /// so an account not yet due is passed over without reading its row. With 0001's narrower
    /// index (wave, state, account number) each one's row was read to test its date.
    #[tokio::test]
    async fn a_walk_through_a_wave_follows_the_index_with_its_due_dates() {
        use super::{Due, State, WavePage};
        use sqlx::Row;
        let store = Store::scratch().await.unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2017, 10, 1).unwrap();
        for due in [None, Some(Due::Notice), Some(Due::Cutover), Some(Due::Known)] {
            let page = WavePage { due: due.map(|d| (d, day)), ..WavePage::of("w", &[State::Reconciled], 500) };
            let sql =
                format!("EXPLAIN QUERY PLAN SELECT {} FROM account WHERE {}", Store::ACCOUNT_COLS, page.filter(5, ""));
            let (_, day) = Due::bound(page.due);
            let rows = sqlx::query(&sql)
                .bind("w")
                .bind("")
                .bind(500_i64)
                .bind(day)
                .bind("reconciled")
                .fetch_all(&store.pool)
                .await
                .unwrap();
            let plan: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>(3).unwrap()).collect();
            assert_eq!(
                plan,
                ["SEARCH account USING INDEX account_wave_page (wave=? AND state=? AND account_number>?)"],
                "{due:?}"
            );
        }
    }

    /// A store that a newer cutover migrated is refused, not misread.
    #[tokio::test]
    async fn a_store_migrated_by_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let store = Store::open(&url).await.unwrap();
        sqlx::query("INSERT INTO cutover_schema (version, applied_at) VALUES (9999, 'later')")
            .execute(&store.pool)
            .await
            .unwrap();
        store.close().await;
        let e = Store::open(&url).await.err().expect("refused");
        assert!(matches!(e, StoreError::NewerSchema { version: 9999, .. }), "{e}");
        assert!(e.to_string().contains("migrated by a newer cutover"), "{e}");
    }
}
