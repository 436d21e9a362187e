//! Reports that read the store: the reconciliation of a wave.

use super::{Engine, EngineError};
use crate::plan::Wave;
use crate::reconcile::PeriodVerdict;
use crate::reconcile::report::{AccountRecon, Reconciliation, summarize};

impl Engine {
    /// The reconciliation report of a wave, from the stored verdicts, a page of accounts at a time.
    pub async fn reconciliation(&self, wave: &Wave) -> Result<Reconciliation, EngineError> {
        let mut out = Vec::new();
        let mut after = String::new();
        let all = crate::domain::State::ALL;
        loop {
            let rows = self.store.wave_accounts(&wave.id, &all, None, &after, super::BATCH).await?;
            let Some(last) = rows.last() else { break };
            after = last.account_number.clone();
            let numbers: Vec<String> = rows.iter().map(|r| r.account_number.clone()).collect();
            let mut current: Option<AccountRecon> = None;
            for (acct, data) in self.store.verdicts(&numbers).await? {
                let v: PeriodVerdict =
                    serde_json::from_str(&data).map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
                if current.as_ref().is_none_or(|c| c.account_number != acct) {
                    out.extend(current.take());
                    current = Some(AccountRecon {
                        account_number: acct,
                        status: crate::reconcile::AccountStatus::Pass,
                        periods: vec![],
                    });
                }
                if let Some(c) = current.as_mut() {
                    c.periods.push(v);
                }
            }
            out.extend(current.take());
        }
        Ok(summarize(&wave.id, wave.tolerance, wave.gate.min_pass_rate, out))
    }
}
