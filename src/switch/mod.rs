//! Cut over: the new-model records an account is loaded with (an import file per account, shaped
//! like a Zuora account + subscription), and the suppression of its legacy billing from the first
//! new bill date. Pure: the engine writes the file and records the state.

use crate::domain::{Decimal, LegacyAccount};
use crate::plan::{Catalog, ChargeType, Wave, schedule::Schedule};
use chrono::NaiveDate;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct TargetRecord {
    pub account: TargetAccount,
    pub subscription: Subscription,
    /// The legacy system stops billing this account from this date.
    pub legacy_billing_suppressed_from: NaiveDate,
    pub wave: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetAccount {
    pub account_number: String,
    pub name: String,
    pub currency: String,
    pub bill_cycle_day: u32,
    pub invoice_delivery: &'static str,
    pub bill_to: Vec<String>,
    pub remit_to: Vec<String>,
    /// Silence the new system's own notifications during the load.
    pub notifications_suppressed_during_load: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    pub start_date: NaiveDate,
    pub charges: Vec<SubscriptionCharge>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionCharge {
    pub service_id: String,
    pub legacy_code: String,
    pub product: String,
    pub charge: String,
    pub charge_type: &'static str,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
}

/// The records that stand for `acct` in the new system from its first new bill on. Services that
/// ended before the first new bill, and one-time charges already billed, are left out.
pub fn target_record(
    acct: &LegacyAccount,
    catalog: &Catalog,
    wave: &Wave,
    s: &Schedule,
    remit_to: &[String],
) -> TargetRecord {
    let a = &acct.account;
    let (valid, _) = crate::notify::recipients(&a.bill_to_email);
    let charges = acct
        .services
        .iter()
        .filter(|svc| svc.end_date.is_none_or(|e| e >= s.first_new_bill_date))
        .filter_map(|svc| {
            let (product, charge) = catalog.lookup(&svc.legacy_code)?;
            if charge.charge_type == ChargeType::OneTime && svc.start_date < s.first_new_bill_date {
                return None;
            }
            Some(SubscriptionCharge {
                service_id: svc.service_id.clone(),
                legacy_code: svc.legacy_code.clone(),
                product: product.name.clone(),
                charge: charge.name.clone(),
                charge_type: charge.charge_type.as_str(),
                quantity: svc.quantity,
                unit_price: svc.unit_price,
                start_date: svc.start_date.max(s.first_new_bill_date),
                end_date: svc.end_date,
            })
        })
        .collect();
    TargetRecord {
        account: TargetAccount {
            account_number: a.account_number.clone(),
            name: a.name.clone(),
            currency: a.currency.clone(),
            bill_cycle_day: a.bill_cycle_day,
            invoice_delivery: if valid.is_empty() { "print" } else { "email" },
            bill_to: valid.iter().map(|v| v.to_string()).collect(),
            remit_to: remit_to.to_vec(),
            notifications_suppressed_during_load: true,
        },
        subscription: Subscription { start_date: s.first_new_bill_date, charges },
        legacy_billing_suppressed_from: s.first_new_bill_date,
        wave: wave.id.clone(),
    }
}
