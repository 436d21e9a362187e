//! Why an old and a new bill differ: the reasons reconciliation gives each difference. A type of
//! the domain, because a wave file names the ones it accepts (`accept:`) and the plan checks them.

use serde::{Deserialize, Serialize};

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
    pub fn names() -> String {
        Reason::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
    }
}

super::spelled! {
    Reason {
        ProrationConvention => "proration_convention",
        UnmappedProduct => "unmapped_product",
        Rounding => "rounding",
        PriceDifference => "price_difference",
        UsageDifference => "usage_difference",
        MissingLine => "missing_line",
        ExtraLine => "extra_line",
        ServicePeriod => "service_period",
        Unexplained => "unexplained",
    } unknown: |s| format!("unknown reason `{s}`")
}
