//! The per-account migration state machine. Every change goes through the store's one
//! `transition` function, which writes the new state and a journal row in one transaction.
//!
//! ```text
//! extracted ──► rated ──► reconciled ──► notified ──► cut_over ──► loaded (the target confirmed the load)
//!     │           │  ╲         │             │           │  ╲          │
//!     ▼           ▼   ╲        ▼             ▼           │   ╲         ▼
//! quarantined    held ◄┴── (fail / not schedulable) ◄────┘    └──► rolled_back ──► extracted
//!                      (a failed load, or no suppression           (readmitted to a later wave)
//!                       record before the first new bill)
//! ```
//! `held` accounts go back to `extracted` with `run --recheck-held` (those a person held with
//! `hold`: with `hold --release` only) and are rated and reconciled again. A `reconciled` account
//! goes back to `rated` with `run --rejudge`, when the wave file's tolerance or accepted reasons
//! changed and its customer was not told yet. Only an account that was cut over (`cut_over` or
//! `loaded`) can be rolled back; a rolled-back account goes on only when a person readmits it to
//! a later wave.

use serde::{Deserialize, Serialize};

/// How the reason of a hold by a person starts (`cutover hold`). Only [`PUT_BACK_BY_PERSON`]
/// moves such an account out of `held`; a stage, a recheck or a waiver cannot, and a note of
/// theirs within `held` leaves the hold as the account's reason (the store's one transition
/// enforces both, so that no caller can forget it and no race can slip past it).
pub const HELD_BY_PERSON: &str = "held by a person";

/// How the reason of `hold --release` starts: the one move out of a person's hold.
pub const PUT_BACK_BY_PERSON: &str = "put back by a person";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Selected by a wave, not extracted yet (never stored: the journal's first `from`).
    Pending,
    Extracted,
    Rated,
    Reconciled,
    Notified,
    CutOver,
    /// The target confirmed the load (`switch --confirm`).
    Loaded,
    RolledBack,
    Quarantined,
    Held,
}

impl State {
    /// Whether the state machine allows `self → to`. A same-state "transition" records an event
    /// (a reschedule) without changing the state.
    pub fn can_go_to(self, to: State) -> bool {
        use State::*;
        if self == to {
            return true;
        }
        matches!(
            (self, to),
            (Pending, Extracted)
                | (Extracted, Rated | Quarantined | Held)
                | (Held, Extracted | Rated | Quarantined | Held)
                | (Rated, Reconciled | Held)
                | (Reconciled, Rated | Notified | Held)
                | (Notified, CutOver | Held)
                | (CutOver, Loaded | Held)
                | (CutOver | Loaded, RolledBack)
                | (RolledBack, Extracted)
        )
    }
}

super::spelled! {
    State {
        Pending => "pending",
        Extracted => "extracted",
        Rated => "rated",
        Reconciled => "reconciled",
        Notified => "notified",
        CutOver => "cut_over",
        Loaded => "loaded",
        RolledBack => "rolled_back",
        Quarantined => "quarantined",
        Held => "held",
    } unknown: |s| format!("unknown state `{s}`")
}

#[cfg(test)]
mod tests {
    use super::State;

    #[test]
    fn an_unknown_state_is_refused_with_every_known_spelling() {
        assert_eq!("cut_over".parse::<State>(), Ok(State::CutOver));
        let err = "hold".parse::<State>().unwrap_err();
        assert_eq!(
            err,
            "unknown state `hold` (one of: pending, extracted, rated, reconciled, notified, cut_over, loaded, \
             rolled_back, quarantined, held)"
        );
    }
}
