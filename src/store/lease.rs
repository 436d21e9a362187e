//! Team mode (issue 12): several workers on one store.
//!
//! - A **lease** is a named whole-wave step (an extraction, the rebuild of one load set) held by
//!   one worker until it releases it, or until `expires_at` passes (the worker died). Taking one
//!   is one conditional upsert, so two workers can never both hold it.
//! - A **claim** is a stage's hold on a page of accounts (`account.claim_owner`,
//!   `claim_until`): a worker takes only accounts no other live worker holds (on PostgreSQL with
//!   `FOR UPDATE SKIP LOCKED`, so two claimers never wait on each other), works them, and lets them
//!   go. A dead worker's claims lapse after the lease length.
//! - A live worker's claims, leases and the notices it is sending never lapse: its process's
//!   [`Heartbeat`] renews them every third of the lease length, however slow the step.
//!
//! Times are the wall clock (never the run's simulated `--as-of` day), stored as fixed-width
//! RFC 3339 UTC text so that they compare as strings in both dialects. The lease length is
//! `CUTOVER_LEASE_SECS` (default [`DEFAULT_LEASE_SECS`]).

use super::{AccountRow, Dialect, Due, Store, StoreError, WavePage};
use chrono::{DateTime, Utc};

/// How long a lease or a claim holds without its worker, unless `CUTOVER_LEASE_SECS` says otherwise.
pub const DEFAULT_LEASE_SECS: i64 = 300;

/// The lease length: `CUTOVER_LEASE_SECS`, else [`DEFAULT_LEASE_SECS`].
pub fn lease_secs() -> i64 {
    std::env::var("CUTOVER_LEASE_SECS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_LEASE_SECS)
}

/// A wall-clock time as stored: fixed width, so text order is time order.
pub fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// This process's worker name: `host:pid:nonce` (the nonce tells a restarted pid apart); the
/// same all its life.
pub fn worker_name() -> String {
    own_base().to_string()
}

fn worker_name_fresh() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let nanos = Utc::now().timestamp_subsec_nanos();
    format!("{host}:{}:{:08x}", std::process::id(), nanos ^ std::process::id().rotate_left(16))
}

/// Who holds a lease, since when, until when (read by column name).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LeaseHolder {
    pub owner: String,
    pub since: String,
    pub expires_at: String,
}

impl Store {
    /// Takes the lease `name` for `owner` for `secs` seconds, when it is free, expired or already
    /// this owner's (then it is renewed). `Ok(None)`: taken; `Ok(Some(holder))`: another live
    /// worker holds it.
    pub async fn try_lease(&self, name: &str, owner: &str, secs: i64) -> Result<Option<LeaseHolder>, StoreError> {
        let _turn = self.turn().await?;
        let now = Utc::now();
        let until = now + chrono::Duration::seconds(secs);
        let res = sqlx::query(
            "INSERT INTO lease (name, owner, since, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, \
             since = CASE WHEN lease.owner = excluded.owner THEN lease.since ELSE excluded.since END, \
             expires_at = excluded.expires_at WHERE lease.owner = excluded.owner OR lease.expires_at < $3",
        )
        .bind(name)
        .bind(owner)
        .bind(stamp(now))
        .bind(stamp(until))
        .execute(&mut *self.light_conn().await?)
        .await
        .map_err(|e| self.err(e))?;
        if res.rows_affected() == 1 {
            return Ok(None);
        }
        // Held by a worker of this host whose process is gone (a crash): taken over at once,
        // by one taker only (the update names the dead owner).
        if let Some(h) = self.lease_holder(name).await?
            && !owner_alive(Some(&h.owner), Some(&h.expires_at), now)
        {
            let res =
                sqlx::query("UPDATE lease SET owner = $1, since = $2, expires_at = $3 WHERE name = $4 AND owner = $5")
                    .bind(owner)
                    .bind(stamp(now))
                    .bind(stamp(until))
                    .bind(name)
                    .bind(&h.owner)
                    .execute(&mut *self.light_conn().await?)
                    .await
                    .map_err(|e| self.err(e))?;
            if res.rows_affected() == 1 {
                return Ok(None);
            }
        }
        Ok(Some(self.lease_holder(name).await?.unwrap_or(LeaseHolder {
            owner: "another worker".into(),
            since: "a moment ago".into(),
            expires_at: stamp(until),
        })))
    }

    /// Who holds the lease `name`, if anyone (an expired holder included).
    pub async fn lease_holder(&self, name: &str) -> Result<Option<LeaseHolder>, StoreError> {
        self.row_by("SELECT owner, since, expires_at FROM lease WHERE name = $1", name).await
    }

    /// Lets the lease `name` go, if `owner` holds it.
    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.write_light("DELETE FROM lease WHERE name = $1 AND owner = $2", &[name, owner]).await?;
        Ok(())
    }

    /// Waits until `owner` holds the lease `name` (polling; a dead holder's lease lapses).
    pub async fn wait_lease(&self, name: &str, owner: &str, secs: i64) -> Result<(), StoreError> {
        while self.try_lease(name, owner, secs).await?.is_some() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Claims a page of a wave's accounts ([`WavePage`]) that no live worker holds (this one's
    /// own claims included), for
    /// `owner` for `secs` seconds. Returns them in account order.
    pub async fn claim_accounts(
        &self,
        page: &WavePage<'_>,
        owner: &str,
        secs: i64,
    ) -> Result<Vec<AccountRow>, StoreError> {
        let now = Utc::now();
        let until = now + chrono::Duration::seconds(secs);
        let skip = if self.dialect == Dialect::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        // Not this worker's own claims either: it claims its next page while it still holds the
        // one it works on (`Engine::pages`), and on PostgreSQL the cursor compares in the
        // database's collation, where the page's last account (sorted here, byte by byte) need
        // not be its greatest: an account of the page in hand would be claimed again.
        let free = " AND (claim_until IS NULL OR claim_until < $7)";
        let sql = format!(
            "UPDATE account SET claim_owner = $5, claim_until = $6 WHERE account_number IN (\
             SELECT account_number FROM account WHERE {}{skip}) RETURNING {}",
            page.filter(8, free),
            Self::ACCOUNT_COLS
        );
        let (_, day) = Due::bound(page.due);
        let mut q = sqlx::query_as(&sql)
            .bind(page.wave)
            .bind(page.after)
            .bind(page.limit)
            .bind(day)
            .bind(owner)
            .bind(stamp(until))
            .bind(stamp(now));
        for s in page.states {
            q = q.bind(s.as_str());
        }
        let turn = self.turn().await?;
        let rows = q.fetch_all(&mut *self.light_conn().await?).await.map_err(|e| self.err(e))?;
        drop(turn);
        let mut out = Self::account_rows(rows)?;
        out.sort_by(|a, b| a.account_number.cmp(&b.account_number));
        Ok(out)
    }

    /// Lets go the live-looking claims of workers of this host whose process is gone (a crash):
    /// their accounts need not wait for the lease. Returns how many accounts were freed.
    pub async fn reap_dead_claims(&self) -> Result<u64, StoreError> {
        let now = Utc::now();
        let rows: Vec<(String, String)> = self
            .rows_by(
                "SELECT DISTINCT claim_owner, claim_until FROM account WHERE claim_owner IS NOT NULL AND claim_until >= $1",
                &stamp(now),
            )
            .await?;
        let mut freed = 0;
        for (owner, until) in rows {
            if owner_alive(Some(&owner), Some(&until), now) {
                continue;
            }
            freed += self.release_claims_counted(&owner).await?;
        }
        Ok(freed)
    }

    async fn release_claims_counted(&self, owner: &str) -> Result<u64, StoreError> {
        let _turn = self.turn().await?;
        let res = sqlx::query("UPDATE account SET claim_owner = NULL, claim_until = NULL WHERE claim_owner = $1")
            .bind(owner)
            .execute(&mut *self.light_conn().await?)
            .await
            .map_err(|e| self.err(e))?;
        Ok(res.rows_affected())
    }

    /// Lets go the claims of `owner` on accounts up to `last` (a page walked in account order;
    /// the next page, claimed ahead, stays claimed).
    pub async fn release_claims_through(&self, owner: &str, last: &str) -> Result<(), StoreError> {
        let sql =
            "UPDATE account SET claim_owner = NULL, claim_until = NULL WHERE claim_owner = $1 AND account_number <= $2";
        self.write_light(sql, &[owner, last]).await.map(|_| ())
    }

    /// Lets go `owner`'s claims on `accounts` inside a write transaction: a page stage does it in
    /// the transaction that records the page's last changes to them, so the claim goes with those
    /// changes and rewrites rows that transaction has already rewritten (issue 11: a release of
    /// its own rewrote every account of the page once more, in a commit of its own). Another
    /// worker's claim is left alone.
    pub async fn release_claims_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        owner: &str,
        accounts: &[&str],
    ) -> Result<(), StoreError> {
        for chunk in accounts.chunks(500) {
            let (list, values) = self.in_list(2, chunk);
            let sql = format!(
                "UPDATE account SET claim_owner = NULL, claim_until = NULL WHERE claim_owner = {} \
                 AND account_number IN ({list})",
                self.param(1)
            );
            let mut q = sqlx::query(&sql).bind(owner);
            for a in values {
                q = q.bind(*a);
            }
            q.execute(&mut **tx).await.map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Lets every claim of `owner` go.
    pub async fn release_claims(&self, owner: &str) -> Result<(), StoreError> {
        self.release_claims_counted(owner).await.map(|_| ())
    }
}

/// This worker's heartbeat: while the process works, a background task renews every claim and
/// lease its workers hold (this process's name and its `#N` threads), a third of the lease length
/// apart, so a slow step (an SMTP server that takes longer than the lease per message, a long
/// page, a long extraction) never looks dead to another worker. It stops when dropped, or when
/// the process ends: a dead worker's claims then lapse after the lease.
pub struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How many rows one heartbeat renewed, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Renewed {
    pub accounts: u64,
    pub notices: u64,
    pub leases: u64,
}

impl Store {
    /// Starts this process's heartbeat (see [`Heartbeat`]) on the current Tokio runtime; `None`
    /// outside one.
    pub fn heartbeat(&self) -> Option<Heartbeat> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let (store, owner, secs) = (self.clone(), own_base().to_string(), lease_secs());
        let every = std::time::Duration::from_millis(u64::try_from(secs.max(1) * 1000 / 3).unwrap_or(1000));
        Some(Heartbeat(handle.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                // A failed beat (the store away for a moment) is tried again at the next one;
                // the lease is three beats long.
                let _ = store.renew_held(&owner, secs).await;
            }
        })))
    }

    /// Renews, for `secs` seconds from now, everything the workers of `base` (`host:pid:nonce`
    /// and its `#N` threads) hold: account claims, notices they are sending, leases. One UPDATE
    /// per table. On PostgreSQL a row that a transaction holds locked is skipped (`SKIP
    /// LOCKED`): it is this worker's own page being written (a wait there could deadlock with
    /// it), and no other worker can take a locked row meanwhile.
    pub async fn renew_held(&self, base: &str, secs: i64) -> Result<Renewed, StoreError> {
        let _turn = self.turn().await?;
        let until = stamp(Utc::now() + chrono::Duration::seconds(secs));
        let threads = threads_of(base);
        let mut n = [0; 3];
        for (sql, n) in renewals(self.dialect).iter().zip(&mut n) {
            let res = sqlx::query(sql)
                .bind(&until)
                .bind(base)
                .bind(&threads)
                .execute(&mut *self.light_conn().await?)
                .await
                .map_err(|e| self.err(e))?;
            *n = res.rows_affected();
        }
        Ok(Renewed { accounts: n[0], notices: n[1], leases: n[2] })
    }

    /// Lets go every account claim and lease the workers of `base` hold (a worker stopping on
    /// request; its notices are never left `sending`, the message in hand is finished first).
    pub async fn release_held(&self, base: &str) -> Result<(), StoreError> {
        let _turn = self.turn().await?;
        let threads = threads_of(base);
        for sql in &releases() {
            sqlx::query(sql)
                .bind(base)
                .bind(&threads)
                .execute(&mut *self.light_conn().await?)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}

impl Store {
    /// Serialises a transaction with every other one taking the same `key` (until it ends):
    /// PostgreSQL's transaction-scoped advisory lock; on SQLite, taking the write lock first
    /// (a read-then-write transaction could otherwise not wait for another writer).
    pub async fn lock_in(&self, tx: &mut sqlx::Transaction<'static, sqlx::Any>, key: &str) -> Result<(), StoreError> {
        let q = match self.dialect {
            Dialect::Postgres => sqlx::query("SELECT pg_advisory_xact_lock(7202, hashtext($1))").bind(key),
            Dialect::Sqlite => sqlx::query("UPDATE lease SET name = name WHERE name = $1 AND 1 = 0").bind(key),
        };
        q.execute(&mut **tx).await.map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// [`Store::renew_held`]'s statements: account claims, notices being sent, leases, each renewed
/// until `$1` for the worker `$2` and its threads (`$3`).
fn renewals(dialect: Dialect) -> [String; 3] {
    let mine = |col: &str| held_by(col, 2);
    let skip = if dialect == Dialect::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    [
        format!(
            "UPDATE account SET claim_until = $1 WHERE account_number IN (SELECT account_number FROM account \
             WHERE {} AND claim_until IS NOT NULL{skip})",
            mine("claim_owner")
        ),
        format!(
            "UPDATE notice SET lease_until = $1 WHERE message_id IN (SELECT message_id FROM notice \
             WHERE state = 'sending' AND {}{skip})",
            mine("owner")
        ),
        format!(
            "UPDATE lease SET expires_at = $1 WHERE name IN (SELECT name FROM lease WHERE {}{skip})",
            mine("owner")
        ),
    ]
}

/// [`Store::release_held`]'s statements: the account claims and leases of the worker `$1` and its
/// threads (`$2`) let go.
fn releases() -> [String; 2] {
    let mine = |col: &str| held_by(col, 1);
    [
        format!("UPDATE account SET claim_owner = NULL, claim_until = NULL WHERE {}", mine("claim_owner")),
        format!("DELETE FROM lease WHERE {}", mine("owner")),
    ]
}

/// Rows whose `col` names the worker bound at `$first` or one of its threads (the pattern of
/// [`threads_of`] bound at the next parameter). It says `col IS NOT NULL` first: then SQLite
/// reads the claimed accounts only (the partial index `account_claim_owner`, migration 0022),
/// where the `OR … LIKE` alone read every account.
fn held_by(col: &str, first: usize) -> String {
    format!("({col} IS NOT NULL AND ({col} = ${first} OR {col} LIKE ${} ESCAPE '\\'))", first + 1)
}

/// A `LIKE … ESCAPE '\\'` pattern for the `#N` threads of the worker `base`.
fn threads_of(base: &str) -> String {
    format!("{}#%", base.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

/// Whether the worker `owner` (`host:pid:nonce[#n]`) may still be working under a claim that
/// holds until `until`: not once the claim expired; on this host, only while its process lives
/// (a crashed process's claim is dead at once); on another host, until the claim expires.
pub fn owner_alive(owner: Option<&str>, until: Option<&str>, now: DateTime<Utc>) -> bool {
    let (Some(owner), Some(until)) = (owner, until) else { return false };
    if until < stamp(now).as_str() {
        return false;
    }
    let base = owner.split('#').next().unwrap_or(owner);
    let mut parts = base.rsplitn(3, ':');
    let (Some(_nonce), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else { return true };
    let me = worker_name();
    let my_host = me.rsplitn(3, ':').nth(2).unwrap_or_default().to_string();
    if host != my_host {
        return true;
    }
    let Ok(pid) = pid.parse::<i32>() else { return true };
    if pid == i32::try_from(std::process::id()).unwrap_or(-1) {
        // This process: its own workers are alive; another nonce was an earlier process.
        return base == own_base();
    }
    process_alive(pid)
}

/// This process's worker name, fixed for its lifetime.
pub fn own_base() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(worker_name_fresh)
}

#[cfg(unix)]
fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 checks for the process's existence and sends nothing.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_alive(_pid: i32) -> bool {
    true
}

#[cfg(test)]
mod tests {
    /// A heartbeat's renewal and a stopping worker's release find its claims through the partial
    /// index of claimed accounts, and the renewal its notices through the partial index of
    /// notices being sent (migration 0023), not by reading every account or notice (a
    /// 100,000-account store): the statements themselves, as SQLite plans them.
    #[tokio::test]
    async fn a_workers_claims_and_notices_are_found_through_their_partial_indexes() {
        use sqlx::Row;
        let store = super::Store::scratch().await.unwrap();
        let [renew, renew_notices, _] = &super::renewals(super::Dialect::Sqlite);
        let release = &super::releases()[0];
        for (sql, binds, index, table) in [
            (renew, &["t", "w", "w#%"][..], "account_claim_owner", "account"),
            (renew_notices, &["t", "w", "w#%"][..], "notice_sending_owner", "notice"),
            (release, &["w", "w#%"][..], "account_claim_owner", "account"),
        ] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut q = sqlx::query(&explain);
            for b in binds {
                q = q.bind(*b);
            }
            let rows = q.fetch_all(&store.pool).await.unwrap();
            let plan: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>(3).unwrap()).collect();
            assert!(plan.iter().any(|l| l.contains(&format!("USING INDEX {index}"))), "{sql}: {plan:?}");
            assert!(!plan.iter().any(|l| l.starts_with(&format!("SCAN {table}"))), "{sql}: {plan:?}");
        }
    }

    /// On a SQLite file, claims and leases go through connections of their own that do not flush
    /// each commit (`SQLITE_LIGHT_PRAGMAS`), set up as the pool's otherwise; every other write
    /// keeps SQLite's flush on each commit. What they write is seen by the pool at once. In
    /// memory they go through the pool itself.
    #[tokio::test]
    async fn claims_and_leases_are_committed_without_a_flush_each_and_every_other_write_with_one() {
        use super::Store;
        use sqlx::Row;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("s.db").display())).await.unwrap();
        let pragma = |pool: &sqlx::AnyPool, name: &str| {
            let (pool, sql) = (pool.clone(), format!("PRAGMA {name}"));
            async move {
                let row = sqlx::query(&sql).fetch_one(&pool).await.unwrap();
                row.try_get::<String, _>(0).or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string())).unwrap()
            }
        };
        // 2 is FULL, SQLite's default; 1 is NORMAL.
        assert_eq!(pragma(&store.pool, "synchronous").await, "2");
        assert_eq!(pragma(store.light.pool(), "synchronous").await, "1");
        for name in ["foreign_keys", "busy_timeout", "temp_store", "journal_mode"] {
            assert_eq!(pragma(store.light.pool(), name).await, pragma(&store.pool, name).await, "PRAGMA {name}");
        }
        assert!(store.try_lease("wave:w1", "me", 60).await.unwrap().is_none());
        let held = store.lease_holder("wave:w1").await.unwrap().map(|h| h.owner);
        assert_eq!(held.as_deref(), Some("me"), "read through the pool");
        let memory = Store::scratch().await.unwrap();
        assert_eq!(pragma(memory.light.pool(), "synchronous").await, "2", "in memory: the pool itself");
    }
}
