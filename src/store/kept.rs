//! A few connections of a SQLite file kept out of sqlx's pool between the statements run outside
//! a transaction (issue 11, thirty-second round).
//!
//! sqlx gives a connection back to its pool on a task of its own that pings it first ("to flush
//! anything time-sensitive like transaction rollbacks"): on SQLite, a task and one more hand-off
//! to the connection's thread for every statement run on the pool itself. A one-row read by key
//! took 145–206 µs that way on this project's machine, 62–75 µs on a connection held between
//! reads, and 4 µs through rusqlite on the caller's thread (a scratch measurement, thirty-second
//! round in docs/performance.md). The store's reads and its writes outside a transaction
//! (claims, leases, marks) take a kept connection instead ([`Kept::get`]) and put it back when
//! done, in the same process, without a task or a ping.
//!
//! Why that is safe for a SQLite file: its connection is a file opened by this process, with
//! nothing that can break it between two statements, and the statements that run on a kept one
//! each stand alone (a transaction has a pooled connection of its own, [`super::Store::begin`]).
//! A statement dropped half done (its caller stopped) leaves its connection as clean as a
//! finished one: the connection's thread runs one command at a time and resets a statement
//! whose rows nobody reads any more.
//!
//! Only a few are kept, always fewer than the pool holds ([`Kept::new`]): a connection put back
//! while the kept ones are full goes back to the pool, so a task waiting on the pool (a
//! transaction) may wait while a kept one is idle, but never for ever. The kept ones are let go
//! before the pool is closed ([`Kept::let_go`]), which waits for every connection; from then on
//! none is kept, so one still in use elsewhere (the heartbeat's) goes back to the pool. PostgreSQL
//! keeps none (a server may drop a connection between statements, and the pool tests each one
//! before it is used), nor does SQLite in memory (its one connection is the pool's).

use std::sync::{Arc, Mutex};

use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool};

/// A pool and its kept connections (see the module's docs). Clones share them.
#[derive(Clone, Debug)]
pub(crate) struct Kept {
    pool: AnyPool,
    idle: Arc<Idle>,
    /// How many at most: 0 keeps none.
    keep: usize,
}

/// The idle kept connections; `None` once let go ([`Kept::let_go`]): none is kept again.
#[derive(Debug)]
struct Idle(Mutex<Option<Vec<PoolConnection<Any>>>>);

impl Default for Idle {
    fn default() -> Idle {
        Idle(Mutex::new(Some(Vec::new())))
    }
}

impl Idle {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<PoolConnection<Any>>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Idle {
    /// The last handle is gone without [`Kept::let_go`]: each connection leaves its pool at once
    /// (`detach`, which needs no runtime, where giving it back starts a task) and closes.
    fn drop(&mut self) {
        for conn in self.0.get_mut().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default() {
            drop(conn.detach());
        }
    }
}

impl Kept {
    /// Keeps up to `keep` connections of `pool`: never all it holds (`keep` below its most), so
    /// that a connection put back beyond them reaches the pool's own waiters.
    pub(crate) fn new(pool: AnyPool, keep: usize) -> Kept {
        let most = pool.options().get_max_connections() as usize;
        Kept { pool, idle: Arc::default(), keep: keep.min(most.saturating_sub(1)) }
    }

    /// The pool itself.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A kept connection, or one from the pool when none is idle.
    pub(crate) async fn get(&self) -> Result<Conn, sqlx::Error> {
        let kept = self.idle.lock().as_mut().and_then(Vec::pop);
        let conn = match kept {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(Conn { conn: Some(conn), kept: (self.keep > 0).then(|| self.clone()) })
    }

    /// Gives every idle kept connection back to its pool, and keeps none from now on (a
    /// connection in use goes back to the pool when done): before the pool is closed, which waits
    /// for every connection to be back.
    pub(crate) fn let_go(&self) {
        let idle = self.idle.lock().take();
        drop(idle);
    }

    /// Lets the kept connections go ([`Kept::let_go`]), then closes the pool.
    pub(crate) async fn close(&self) {
        self.let_go();
        self.pool.close().await;
    }

    #[cfg(test)]
    pub(crate) fn idle(&self) -> usize {
        self.idle.lock().as_ref().map_or(0, Vec::len)
    }
}

/// A connection taken with [`Kept::get`]: kept again when dropped while fewer than the most are
/// idle, else given back to the pool.
pub(crate) struct Conn {
    conn: Option<PoolConnection<Any>>,
    kept: Option<Kept>,
}

impl std::ops::Deref for Conn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        // Only `drop` takes it out.
        self.conn.as_deref().unwrap_or_else(|| unreachable!("a kept connection is taken only when dropped"))
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.conn.as_deref_mut().unwrap_or_else(|| unreachable!("a kept connection is taken only when dropped"))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let (Some(conn), Some(kept)) = (self.conn.take(), &self.kept) else { return };
        let back = match kept.idle.lock().as_mut() {
            Some(idle) if idle.len() < kept.keep => {
                idle.push(conn);
                None
            }
            _ => Some(conn),
        };
        // Back to the pool, as sqlx gives a connection back (outside the lock).
        drop(back);
    }
}

#[cfg(test)]
mod tests {
    use super::Kept;
    use std::time::Duration;

    /// A SQLite file's pool of `max` connections.
    async fn pool(dir: &std::path::Path, max: u32) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", dir.join("k.db").display());
        sqlx::any::AnyPoolOptions::new().max_connections(max).connect(&url).await.unwrap()
    }

    /// Never all of a pool's connections are kept: in memory (one connection) none is.
    #[tokio::test]
    async fn fewer_are_kept_than_the_pool_holds() {
        let dir = tempfile::tempdir().unwrap();
        for (keep, max, kept) in [(2, 8, 2), (1, 2, 1), (2, 2, 1), (5, 1, 0), (0, 8, 0)] {
            assert_eq!(Kept::new(pool(dir.path(), max).await, keep).keep, kept, "keep {keep} of {max}");
        }
    }

    /// A connection put back is kept and taken again (the pool lends no other meanwhile); one
    /// put back beyond those kept goes back to the pool, where a transaction finds it while the
    /// kept one is idle.
    #[tokio::test]
    async fn a_connection_is_kept_between_statements_and_the_rest_go_back_to_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(dir.path(), 2).await;
        let kept = Kept::new(pool.clone(), 1);
        let (mut a, b) = (kept.get().await.unwrap(), kept.get().await.unwrap());
        sqlx::query("CREATE TEMP TABLE mine (x)").execute(&mut *a).await.unwrap();
        assert_eq!(pool.size(), 2);
        drop(a);
        drop(b);
        assert_eq!(kept.idle(), 1, "one kept");
        // The kept one is `a`: its temporary table is its own.
        let mut again = kept.get().await.unwrap();
        sqlx::query("INSERT INTO mine VALUES (1)").execute(&mut *again).await.unwrap();
        drop(again);
        // Both pool connections are out (one kept, one given back through sqlx's task): a
        // transaction still gets the one given back.
        let tx = tokio::time::timeout(Duration::from_secs(10), pool.begin()).await;
        assert!(tx.is_ok_and(|t| t.is_ok()), "a transaction waited behind a kept connection");
    }

    /// Closing the pool after `let_go` ends (closing waits for every connection); a `Kept` whose
    /// last handle is dropped outside any runtime lets its connections go without one.
    #[test]
    fn kept_connections_never_hold_up_closing_nor_need_a_runtime_to_go() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (pool, kept) = rt.block_on(async {
            let kept = Kept::new(pool(dir.path(), 3).await, 2);
            let both = (kept.get().await.unwrap(), kept.get().await.unwrap());
            drop(both);
            assert_eq!(kept.idle(), 2);
            // One in use elsewhere while they are let go (the heartbeat's) goes back to the pool
            // when done, not to be kept: closing would wait for it for ever.
            let in_use = kept.get().await.unwrap();
            kept.let_go();
            drop(in_use);
            assert_eq!(kept.idle(), 0, "kept after being let go");
            tokio::time::timeout(Duration::from_secs(10), kept.pool().close()).await.expect("closing waited");
            let pool = pool(dir.path(), 3).await;
            let kept = Kept::new(pool.clone(), 2);
            drop(kept.get().await.unwrap());
            assert_eq!(kept.idle(), 1);
            (pool, kept)
        });
        drop(rt);
        // No runtime here: giving a connection back through sqlx would panic.
        drop(kept);
        assert_eq!(pool.size(), 0, "the kept connection left the pool");
    }
}
