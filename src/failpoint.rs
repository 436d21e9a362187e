//! Crash points for the crash tests. `CUTOVER_FAILPOINT=NAME` (or `NAME@N`) makes the process
//! abort, like a `kill -9` (no destructor runs, nothing is flushed or rolled back by us), the first
//! (or the N-th) time it reaches the point called `NAME`. Without the variable a point costs one
//! cached environment read. The points are named where they sit: `notify.sent_unmarked` (the
//! transport took the message; the store does not know yet), `extract.batch_stored` (a batch
//! written in the extraction's open transaction), `switch.files_uncommitted`, … The
//! crash tests (`tests/it/crash.rs`) set them on the real binary and rerun it on later days.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
static HITS: AtomicU64 = AtomicU64::new(0);

fn armed() -> &'static Option<(String, u64)> {
    ARMED.get_or_init(|| {
        let v = std::env::var("CUTOVER_FAILPOINT").ok()?;
        let (name, nth) = match v.split_once('@') {
            Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
            None => (v, 1),
        };
        Some((name, nth.max(1)))
    })
}

/// Aborts the process here when this point is armed and reached for the armed time.
pub fn hit(name: &str) {
    if let Some((armed, nth)) = armed()
        && armed == name
        && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *nth
    {
        eprintln!("cutover: failpoint {name} reached; aborting");
        std::process::abort();
    }
}
