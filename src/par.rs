//! A large page's pure per-account work spread over the machine's cores (issue 11).
//!
//! A stage's page goes back and forth between the engine's thread (parsing the stored records,
//! rating, comparing, rendering notices, building load-file rows) and the store's (SQLite's
//! connection thread): one of the two is busy at a time, so a two-core machine ran the stages on
//! one core's worth. The engine's part is pure and per account, so a [`Pool`] cuts a page's
//! accounts over rayon's pool (one thread a core, kept for the life of the process) while the
//! caller waits. Results come back in the input's order; the fallible maps fail with the first
//! failure in that order, as the loops they replace did. Nothing here touches the store, a file or
//! the clock: what runs in parallel is computed, and what is written stays written in order by
//! the caller.
//!
//! Only a page of [`MIN_PAGE`] accounts or more goes to the pool: on smaller ones the hand-offs
//! cost more than they save (ARCHITECTURE.md, "Twenty-first round"). `RAYON_NUM_THREADS=1`
//! (rayon's own setting) keeps every page on the caller's thread, as before this module: the way
//! to compare the two on one binary.

use rayon::prelude::*;

/// A page of fewer items than this is worked on the caller's thread. Measured on the demo: its
/// pages have about 80 accounts due a day a wave at 20,000 accounts (where the pool made it
/// slower) and about 340 at 100,000 (where it made it faster).
pub const MIN_PAGE: usize = 200;

/// The least a pool thread is given at once.
const MIN_LEN: usize = 8;

/// How a page's work is run: on the pool (a page of [`MIN_PAGE`] items or more, and more than
/// one thread in it) or on the caller's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    parallel: bool,
}

impl Pool {
    /// The way for a page of `items` items.
    pub fn for_page(items: usize) -> Pool {
        Pool { parallel: items >= MIN_PAGE && rayon::current_num_threads() > 1 }
    }

    /// Items an async step of the page takes at once: the futures the page's work runs beside
    /// (a transaction, the page before finishing) take their turn between steps, as every eighth
    /// item in the loops this replaced; on the pool eight a thread on two cores (64 a step was no
    /// faster, with more peak memory).
    pub fn step(self) -> usize {
        if self.parallel { 16 } else { 8 }
    }

    /// `f` over `items`, in the items' order.
    pub fn map<'a, T: Sync, R: Send>(self, items: &'a [T], f: impl Fn(&'a T) -> R + Sync + Send) -> Vec<R> {
        if !self.parallel {
            return items.iter().map(f).collect();
        }
        items.par_iter().with_min_len(MIN_LEN).map(f).collect()
    }

    /// `f` over owned `items` (each moved into its call), in the items' order.
    pub fn map_owned<T: Send, R: Send>(self, items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
        if !self.parallel {
            return items.into_iter().map(f).collect();
        }
        items.into_par_iter().with_min_len(MIN_LEN).map(f).collect()
    }

    /// [`Pool::map`] of a fallible `f`: every result, or the first failure in the items' order
    /// (the items after it may have been computed, and are dropped).
    pub fn try_map<'a, T: Sync, R: Send, E: Send>(
        self,
        items: &'a [T],
        f: impl Fn(&'a T) -> Result<R, E> + Sync + Send,
    ) -> Result<Vec<R>, E> {
        self.map(items, f).into_iter().collect()
    }

    /// [`Pool::map_owned`] of a fallible `f`, failing as [`Pool::try_map`] does.
    pub fn try_map_owned<T: Send, R: Send, E: Send>(
        self,
        items: Vec<T>,
        f: impl Fn(T) -> Result<R, E> + Sync + Send,
    ) -> Result<Vec<R>, E> {
        self.map_owned(items, f).into_iter().collect()
    }
}

/// [`Pool::try_map`] of a whole page.
pub fn try_map<'a, T: Sync, R: Send, E: Send>(
    items: &'a [T],
    f: impl Fn(&'a T) -> Result<R, E> + Sync + Send,
) -> Result<Vec<R>, E> {
    Pool::for_page(items.len()).try_map(items, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool of two threads whatever the machine has (inside `install`, the page's way uses it).
    fn two() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a pool of two threads")
    }

    #[test]
    fn results_come_back_in_the_order_of_the_items_whatever_their_number() {
        two().install(|| {
            for n in [0, 1, MIN_LEN, MIN_PAGE - 1, MIN_PAGE, 10_007] {
                let items: Vec<u64> = (0..n as u64).collect();
                let want: Vec<u64> = items.iter().map(|i| i * 3 + 1).collect();
                let pool = Pool::for_page(n);
                assert_eq!(pool.parallel, n >= MIN_PAGE, "{n} items");
                assert_eq!(pool.map(&items, |i| i * 3 + 1), want, "{n} items");
                assert_eq!(pool.map_owned(items.clone(), |i| i * 3 + 1), want, "{n} owned items");
            }
        });
    }

    #[test]
    fn a_failure_is_the_first_in_the_order_of_the_items() {
        two().install(|| {
            let items: Vec<u32> = (0..1_000).collect();
            // Items 300 and 700 fail; whichever thread meets which first, the first in order is told.
            let f = |i: &u32| if *i == 300 || *i == 700 { Err(*i) } else { Ok(*i) };
            assert_eq!(try_map(&items, f), Err(300));
            assert_eq!(Pool::for_page(items.len()).try_map_owned(items.clone(), |i| f(&i)), Err(300));
            assert_eq!(try_map(&items[..300], f).map(|v| v.len()), Ok(300));
        });
    }

    #[test]
    fn a_large_page_is_shared_between_threads_and_a_small_one_stays_on_the_caller() {
        let items: Vec<u32> = (0..MIN_PAGE as u32).collect();
        // Each item waits a little, so that one thread cannot take them all before another starts.
        let threads = |n: usize| {
            two().install(|| {
                let caller = std::thread::current().id();
                let ran = Pool::for_page(n).map(&items[..n], |_| {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    std::thread::current().id()
                });
                let distinct: std::collections::HashSet<_> = ran.iter().collect();
                (distinct.len(), ran.iter().all(|t| *t == caller))
            })
        };
        assert_eq!(threads(MIN_PAGE), (2, false), "a page of {MIN_PAGE} on a pool of two");
        assert_eq!(threads(MIN_PAGE - 1), (1, true), "a page of {} stays on the caller", MIN_PAGE - 1);
        two().install(|| {
            assert_eq!(Pool::for_page(MIN_PAGE).step(), 16);
            assert_eq!(Pool::for_page(MIN_PAGE - 1).step(), 8);
        });
    }
}
