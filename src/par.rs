//! A page's pure per-account work spread over the machine's cores (issue 11).
//!
//! A stage's page goes back and forth between the engine's thread (parsing the stored records,
//! rating, comparing, rendering notices, building load-file rows) and the store's (SQLite's
//! connection thread): one of the two is busy at a time, so a two-core machine ran the stages on
//! one core's worth. The engine's part is pure and per account, so [`map`] cuts a page's
//! accounts over rayon's pool (one thread a core, kept for the life of the process) while the
//! caller waits. Results come back in the input's order; [`try_map`] fails with the first failure
//! in that order, as the loop it replaces did. Nothing here touches the store, a file or the
//! clock: what runs in parallel is computed, and what is written stays written in order by the
//! caller.
//!
//! `RAYON_NUM_THREADS=1` (rayon's own setting) runs everything on the caller's thread, as before
//! this module: the way to compare the two on one binary.

use rayon::prelude::*;

/// Fewer items than this are mapped on the caller's thread: handing them to the pool would cost
/// more than it saves. Also the least a pool thread is given at once.
pub const MIN_PARALLEL: usize = 8;

/// Items an async step hands to the pool at once: a page's work done in a few such steps lets
/// the futures it runs beside (a transaction, the page before finishing) take their turn
/// between them, as the loops it replaces yielded every eighth item.
pub const CHUNK: usize = 64;

/// Whether `n` items are worth the pool.
fn parallel(n: usize) -> bool {
    n >= MIN_PARALLEL && rayon::current_num_threads() > 1
}

/// `f` over `items`, on every core when there are enough of them, in the items' order.
pub fn map<'a, T: Sync, R: Send>(items: &'a [T], f: impl Fn(&'a T) -> R + Sync + Send) -> Vec<R> {
    if !parallel(items.len()) {
        return items.iter().map(f).collect();
    }
    items.par_iter().with_min_len(MIN_PARALLEL).map(f).collect()
}

/// `f` over owned `items` (each moved into its call), on every core, in the items' order.
pub fn map_owned<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    if !parallel(items.len()) {
        return items.into_iter().map(f).collect();
    }
    items.into_par_iter().with_min_len(MIN_PARALLEL).map(f).collect()
}

/// [`map`] of a fallible `f`: every result, or the first failure in the items' order (the items
/// after it may have been computed, and are dropped).
pub fn try_map<'a, T: Sync, R: Send, E: Send>(
    items: &'a [T],
    f: impl Fn(&'a T) -> Result<R, E> + Sync + Send,
) -> Result<Vec<R>, E> {
    map(items, f).into_iter().collect()
}

/// [`map_owned`] of a fallible `f`, failing as [`try_map`] does.
pub fn try_map_owned<T: Send, R: Send, E: Send>(
    items: Vec<T>,
    f: impl Fn(T) -> Result<R, E> + Sync + Send,
) -> Result<Vec<R>, E> {
    map_owned(items, f).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_the_order_of_the_items_whatever_their_number() {
        for n in [0, 1, MIN_PARALLEL - 1, MIN_PARALLEL, 100, 10_007] {
            let items: Vec<u64> = (0..n as u64).collect();
            let want: Vec<u64> = items.iter().map(|i| i * 3 + 1).collect();
            assert_eq!(map(&items, |i| i * 3 + 1), want, "{n} items");
            assert_eq!(map_owned(items.clone(), |i| i * 3 + 1), want, "{n} owned items");
        }
    }

    #[test]
    fn a_failure_is_the_first_in_the_order_of_the_items() {
        let items: Vec<u32> = (0..1_000).collect();
        // Items 300 and 700 fail; whichever thread meets which first, the first in order is told.
        let f = |i: &u32| if *i == 300 || *i == 700 { Err(*i) } else { Ok(*i) };
        assert_eq!(try_map(&items, f), Err(300));
        assert_eq!(try_map_owned(items.clone(), |i| f(&i)), Err(300));
        assert_eq!(try_map(&items[..300], f).map(|v| v.len()), Ok(300));
    }

    #[test]
    fn enough_items_are_shared_between_threads() {
        // A pool of two whatever the machine has (inside `install`, `map` uses it).
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a pool of two threads");
        // Each item waits a little, so that one thread cannot take them all before another starts.
        let items: Vec<u32> = (0..64).collect();
        let threads = pool.install(|| {
            map(&items, |_| {
                std::thread::sleep(std::time::Duration::from_millis(2));
                std::thread::current().id()
            })
        });
        let distinct: std::collections::HashSet<_> = threads.into_iter().collect();
        assert_eq!(distinct.len(), 2, "64 items on a pool of two");
    }
}
