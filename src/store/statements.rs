//! How many statements the store runs through `sqlx`, and how long they take where they run:
//! for `cutover bench pipeline --statements` (issue 11), which says per stage how much of its
//! time is the database's own work.

use std::time::Duration;

/// The statements counted so far ([`count`]): how many, and the nanoseconds they took where
/// they ran.
static STATEMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static STATEMENT_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts the statements the store runs through `sqlx` from now on, with the time each took
/// where it ran, as `sqlx` itself measures it (its `sqlx::query` event, which it builds only
/// when someone listens): from the moment the database's connection starts a statement until it
/// has handed over its last row. On SQLite that is the connection's own thread: the time
/// inside SQLite, plus any wait for the engine to take rows off a full channel. A statement
/// outside a transaction commits itself, so its time holds its commit's flush to disk. Not
/// counted on SQLite: a transaction's `BEGIN` and `COMMIT` (sqlx does not log them, so a
/// transaction's flush is not in the time; on PostgreSQL its `COMMIT` is logged and counted);
/// and what is written without `sqlx` (the extraction's `rusqlite` transaction and PostgreSQL
/// `COPY`, the generator). For `bench pipeline --statements` only: listening makes `sqlx` copy
/// and summarise every statement's text, which costs a little. Returns false when another
/// listener was installed first (then nothing is counted).
pub fn count() -> bool {
    tracing::subscriber::set_global_default(StatementCounter).is_ok()
}

/// Statements counted so far and their time ([`count`]).
pub fn so_far() -> (u64, Duration) {
    use std::sync::atomic::Ordering::Relaxed;
    (STATEMENTS.load(Relaxed), Duration::from_nanos(STATEMENT_NANOS.load(Relaxed)))
}

/// The listener of [`count`]: `sqlx::query` events only, every other one is
/// never built.
struct StatementCounter;

const STATEMENT_TARGET: &str = "sqlx::query";

impl tracing::Subscriber for StatementCounter {
    fn register_callsite(&self, meta: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        if self.enabled(meta) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        // sqlx asks first (`tracing::enabled!`, a callsite of its own kind), then sends the event.
        !meta.is_span() && meta.target() == STATEMENT_TARGET
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        // Never called for a span this listener does not enable; an id all the same.
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        /// The statement's `elapsed_secs` field.
        struct Elapsed(Option<f64>);
        impl tracing::field::Visit for Elapsed {
            fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
                if field.name() == "elapsed_secs" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut elapsed = Elapsed(None);
        event.record(&mut elapsed);
        use std::sync::atomic::Ordering::Relaxed;
        STATEMENTS.fetch_add(1, Relaxed);
        // A time measurement, not money: seconds as sqlx gives them, kept in nanoseconds.
        let nanos = elapsed.0.map_or(0, |s| Duration::try_from_secs_f64(s).map_or(0, |d| d.as_nanos() as u64));
        STATEMENT_NANOS.fetch_add(nanos, Relaxed);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
