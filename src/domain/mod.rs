//! Domain types shared by every stage: accounts and their legacy records, bill periods, money.
//!
//! Nothing here does I/O. Money, prices and quantities are [`rust_decimal::Decimal`]; no float ever
//! holds an amount. Rounding is not done here: it happens in one named step of [`crate::rate`].

mod period;
mod reason;
mod records;
mod redact;
mod state;

pub use period::{BillPeriod, Period, add_months, clamp_day};
pub use reason::Reason;
pub use records::{Account, AccountStatus, Contact, ContactRole, LegacyAccount, LegacyLine, Segment, Service, Usage};
pub use redact::{redact, unencoded_password};
pub use state::State;

/// An exact decimal amount of money, price or quantity.
pub type Decimal = rust_decimal::Decimal;
