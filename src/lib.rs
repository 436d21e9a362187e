//! `cutover` moves a company's billing customers from a legacy system onto a subscription-billing
//! model (modelled on Zuora), in planned waves, without a customer ever being billed twice,
//! billed wrong, or surprised.
//!
//! The modules follow the data:
//! [`plan`] (wave files and catalog) → [`extract`] (legacy records) → [`rate`] (new bills) →
//! [`reconcile`] (old vs new) → [`notify`] (customer notices) → [`switch`] (cut over, roll back).
//! [`store`] keeps the migration state; [`engine`] runs the stages over it in bounded batches;
//! [`cli`] is the command line. See ARCHITECTURE.md for the map and the invariants.

/// A table of files built into the binary, each name written once: `embedded!("templates/",
/// "a.html", "b.html")` is `[("a.html", include_str!("templates/a.html")), …]`, the folder
/// relative to the file that uses it.
macro_rules! embedded {
    ($dir:literal, $($name:literal),+ $(,)?) => {
        [$(($name, include_str!(concat!($dir, $name)))),+]
    };
}

pub mod bench;
pub mod bill;
pub mod cli;
pub mod demo;
pub mod domain;
pub mod durable;
pub mod engine;
pub mod extract;
pub mod failpoint;
pub mod hex;
pub mod notify;
pub mod output;
pub mod plan;
pub mod portal;
pub mod rate;
pub mod reconcile;
pub mod store;
pub mod switch;
pub mod workspace;
