//! Domain types shared by every stage: accounts and their legacy records, bill periods, money.
//!
//! Nothing here does I/O. Money, prices and quantities are [`rust_decimal::Decimal`]; no float ever
//! holds an amount. Rounding is not done here: it happens in one named step of [`crate::rate`].

/// An enum spelled as text (in files, the store and reports), said once: `ALL` (every variant, in
/// order), `as_str` (its text), `Display` (the same) and `FromStr` (the text back; an unknown one is
/// the error `unknown` words, followed by every known spelling).
macro_rules! spelled {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? } unknown: $unknown:expr) => {
        impl $ty {
            /// Every variant, in order.
            pub const ALL: [$ty; [$($text),+].len()] = [$($ty::$variant),+];

            /// How files, the store and reports spell it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                let unknown: fn(&str) -> String = $unknown;
                $ty::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| {
                    let known: Vec<&str> = $ty::ALL.iter().map(|x| x.as_str()).collect();
                    format!("{} (one of: {})", unknown(s), known.join(", "))
                })
            }
        }
    };
}
pub(crate) use spelled;

mod period;
mod reason;
mod records;
mod redact;
mod state;

pub use period::{BillPeriod, Period, add_months, clamp_day, iso_date};
pub use reason::Reason;
pub use records::{Account, AccountStatus, Contact, ContactRole, LegacyAccount, LegacyLine, Segment, Service, Usage};
pub use redact::{redact, unencoded_password};
pub use state::{HELD_BY_PERSON, PUT_BACK_BY_PERSON, State};

/// An exact decimal amount of money, price or quantity.
pub type Decimal = rust_decimal::Decimal;
