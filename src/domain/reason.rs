//! Why an old and a new bill differ: the reasons reconciliation gives each difference. A type of
//! the domain, because a wave file names the ones it accepts (`accept:`) and the plan checks them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    ProrationConvention,
    UnmappedProduct,
    Rounding,
    PriceDifference,
    UsageDifference,
    MissingLine,
    ExtraLine,
    ServicePeriod,
    Unexplained,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::ProrationConvention,
        Reason::UnmappedProduct,
        Reason::Rounding,
        Reason::PriceDifference,
        Reason::UsageDifference,
        Reason::MissingLine,
        Reason::ExtraLine,
        Reason::ServicePeriod,
        Reason::Unexplained,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ProrationConvention => "proration_convention",
            Reason::UnmappedProduct => "unmapped_product",
            Reason::Rounding => "rounding",
            Reason::PriceDifference => "price_difference",
            Reason::UsageDifference => "usage_difference",
            Reason::MissingLine => "missing_line",
            Reason::ExtraLine => "extra_line",
            Reason::ServicePeriod => "service_period",
            Reason::Unexplained => "unexplained",
        }
    }

    pub fn names() -> String {
        Reason::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("unknown reason `{s}`"))
    }
}
