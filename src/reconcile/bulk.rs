//! Bulk comparison of period totals: two streams of `(key, amount)` sorted by key (a key is an
//! account and period), merged in one pass with constant memory. This is the first, cheap pass of
//! a large parallel run (which account-periods differ at all, which are missing on one side); the
//! line-level explanation ([`super::compare`]) then runs on the few that differ. Pure; money stays
//! `Decimal`. `scripts/bench-reconcile.sh` measures it against DuckDB and datacompy.

use crate::domain::Decimal;
use serde::Serialize;

/// One account-period that does not simply match.
#[derive(Debug, Clone, PartialEq)]
pub enum Diff<K> {
    /// Both sides have it and the amounts differ by more than the tolerance.
    Mismatch { key: K, legacy: Decimal, new: Decimal },
    /// Both sides have it, within the tolerance.
    WithinTolerance { key: K, legacy: Decimal, new: Decimal },
    /// Only the legacy side has it.
    MissingNew { key: K, legacy: Decimal },
    /// Only the new side has it.
    MissingLegacy { key: K, new: Decimal },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BulkSummary {
    pub legacy_rows: u64,
    pub new_rows: u64,
    pub matched: u64,
    pub within_tolerance: u64,
    pub mismatched: u64,
    pub missing_new: u64,
    pub missing_legacy: u64,
    /// Sum of |new − legacy| over both-sided keys, plus the amounts of one-sided keys.
    pub absolute_variance: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BulkError {
    #[error("the {side} input is not sorted by key at row {row} (or has a duplicate key)")]
    Unsorted { side: &'static str, row: u64 },
}

/// Merges two key-sorted streams, calling `on_diff` for every key that does not match exactly.
/// Keys must be strictly increasing on each side (sorted, no duplicates); otherwise an error names
/// the side and row.
pub fn merge<K: Ord, E>(
    legacy: impl IntoIterator<Item = Result<(K, Decimal), E>>,
    new: impl IntoIterator<Item = Result<(K, Decimal), E>>,
    tolerance: Decimal,
    mut on_diff: impl FnMut(Diff<K>) -> Result<(), E>,
) -> Result<Result<BulkSummary, BulkError>, E> {
    let mut s = BulkSummary::default();
    let mut li = legacy.into_iter();
    let mut ni = new.into_iter();
    let mut l = li.next().transpose()?;
    let mut n = ni.next().transpose()?;
    s.legacy_rows += u64::from(l.is_some());
    s.new_rows += u64::from(n.is_some());
    // Reads the next row of one side, checking that its key is above `prev`.
    macro_rules! next {
        ($it:ident, $prev:expr, $count:ident, $side:literal) => {{
            let next = $it.next().transpose()?;
            if let Some(nx) = &next {
                if nx.0 <= *$prev {
                    return Ok(Err(BulkError::Unsorted { side: $side, row: s.$count + 1 }));
                }
                s.$count += 1;
            }
            next
        }};
    }
    loop {
        match (l.take(), n.take()) {
            (None, None) => break,
            (Some((lk, la)), Some((nk, na))) => match lk.cmp(&nk) {
                std::cmp::Ordering::Equal => {
                    l = next!(li, &lk, legacy_rows, "legacy");
                    n = next!(ni, &nk, new_rows, "new");
                    let d = (na - la).abs();
                    s.absolute_variance += d;
                    if d.is_zero() {
                        s.matched += 1;
                    } else if d <= tolerance {
                        s.within_tolerance += 1;
                        on_diff(Diff::WithinTolerance { key: lk, legacy: la, new: na })?;
                    } else {
                        s.mismatched += 1;
                        on_diff(Diff::Mismatch { key: lk, legacy: la, new: na })?;
                    }
                }
                std::cmp::Ordering::Less => {
                    n = Some((nk, na));
                    l = next!(li, &lk, legacy_rows, "legacy");
                    s.missing_new += 1;
                    s.absolute_variance += la.abs();
                    on_diff(Diff::MissingNew { key: lk, legacy: la })?;
                }
                std::cmp::Ordering::Greater => {
                    l = Some((lk, la));
                    n = next!(ni, &nk, new_rows, "new");
                    s.missing_legacy += 1;
                    s.absolute_variance += na.abs();
                    on_diff(Diff::MissingLegacy { key: nk, new: na })?;
                }
            },
            (Some((lk, la)), None) => {
                l = next!(li, &lk, legacy_rows, "legacy");
                s.missing_new += 1;
                s.absolute_variance += la.abs();
                on_diff(Diff::MissingNew { key: lk, legacy: la })?;
            }
            (None, Some((nk, na))) => {
                n = next!(ni, &nk, new_rows, "new");
                s.missing_legacy += 1;
                s.absolute_variance += na.abs();
                on_diff(Diff::MissingLegacy { key: nk, new: na })?;
            }
        }
    }
    Ok(Ok(s))
}
