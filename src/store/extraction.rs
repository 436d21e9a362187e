//! One extraction: a full refresh of the legacy records, committed as a unit.
//!
//! All of it runs in one transaction: a crash leaves the previous extraction in place, and running
//! again redoes it. Accounts seen for the first time get their migration record (state
//! `extracted`, their wave) and a journal row; accounts already known keep their state.

use super::{Store, StoreError};
use crate::domain::State;
use crate::extract::{Quarantined, RawRow, Record, Sink, Table};
use crate::plan::Plan;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Any, Row, Transaction};
use std::collections::{HashMap, HashSet};

/// Which accounts to take in; the rest are skipped (not quarantined).
#[derive(Debug, Clone)]
pub enum Filter {
    All,
    Accounts(Vec<String>),
    Wave(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtractionCounts {
    pub id: i64,
    pub source: String,
    pub accounts: i64,
    pub records: i64,
    pub quarantined: i64,
    pub finished_at: Option<String>,
}

pub struct Extraction<'a> {
    store: &'a Store,
    plan: &'a Plan,
    tx: Transaction<'static, Any>,
    counts: ExtractionCounts,
    at: DateTime<Utc>,
    actor: String,
    filter: Filter,
    /// With a filter: the account numbers taken in.
    kept: HashSet<String>,
    /// Account numbers whose own row was quarantined (their records say so).
    bad_accounts: HashMap<String, String>,
}

impl<'a> Extraction<'a> {
    pub async fn begin(
        store: &'a Store,
        plan: &'a Plan,
        source: &str,
        actor: &str,
        at: DateTime<Utc>,
        filter: Filter,
    ) -> Result<Extraction<'a>, StoreError> {
        let mut tx = store.begin().await?;
        let id: i64 = sqlx::query("INSERT INTO extraction (source, started_at) VALUES ($1, $2) RETURNING id")
            .bind(source)
            .bind(at.to_rfc3339())
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get(0))
            .map_err(|e| store.err(e))?;
        sqlx::query("DELETE FROM legacy_record").execute(&mut *tx).await.map_err(|e| store.err(e))?;
        Ok(Extraction {
            store,
            plan,
            tx,
            counts: ExtractionCounts {
                id,
                source: source.to_string(),
                accounts: 0,
                records: 0,
                quarantined: 0,
                finished_at: None,
            },
            at,
            actor: actor.to_string(),
            filter,
            kept: HashSet::new(),
            bad_accounts: HashMap::new(),
        })
    }

    pub async fn finish(mut self) -> Result<ExtractionCounts, StoreError> {
        let at = Utc::now().to_rfc3339();
        sqlx::query(
            "UPDATE extraction SET finished_at = $1, accounts = $2, records = $3, quarantined = $4 WHERE id = $5",
        )
        .bind(&at)
        .bind(self.counts.accounts)
        .bind(self.counts.records)
        .bind(self.counts.quarantined)
        .bind(self.counts.id)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.store.err(e))?;
        self.tx.commit().await.map_err(|e| self.store.err(e))?;
        self.counts.finished_at = Some(at);
        Ok(self.counts)
    }

    async fn quarantine(&mut self, q: Quarantined) -> Result<(), StoreError> {
        self.counts.quarantined += 1;
        sqlx::query(
            "INSERT INTO quarantine (extraction_id, tbl, source, source_row, account_number, reason, raw) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(self.counts.id)
        .bind(q.table.name())
        .bind(&q.source)
        .bind(q.row as i64)
        .bind(&q.account_number)
        .bind(&q.reason)
        .bind(&q.raw)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.store.err(e))?;
        Ok(())
    }

    fn wanted(&self, raw: &RawRow, record: &Record) -> bool {
        match (&self.filter, record) {
            (Filter::All, _) => true,
            (Filter::Accounts(list), Record::Account(a)) => list.contains(&a.account_number),
            (Filter::Wave(w), Record::Account(a)) => {
                self.plan.wave_for(a.segment, a.site.as_deref()).is_some_and(|x| &x.id == w)
            }
            (_, _) => raw.account_number().is_some_and(|n| self.kept.contains(n)),
        }
    }

    async fn put_account(
        &mut self,
        raw: &RawRow,
        a: &crate::domain::Account,
        data: &str,
    ) -> Result<Option<String>, StoreError> {
        let res = sqlx::query(
            "INSERT INTO legacy_record (kind, record_key, account_number, data, source, source_row) \
             VALUES ('account', $1, $1, $2, $3, $4) ON CONFLICT (kind, record_key) DO NOTHING",
        )
        .bind(&a.account_number)
        .bind(data)
        .bind(&raw.source)
        .bind(raw.row as i64)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.store.err(e))?;
        if res.rows_affected() == 0 {
            return Ok(Some(format!("duplicate account_number {} (the first row is kept)", a.account_number)));
        }
        let wave = self.plan.wave_for(a.segment, a.site.as_deref()).map(|w| w.id.clone());
        let at = self.at.to_rfc3339();
        let inserted = sqlx::query(
            "INSERT INTO account (account_number, wave, state, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_number) DO NOTHING",
        )
        .bind(&a.account_number)
        .bind(&wave)
        .bind(State::Extracted.as_str())
        .bind(&at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.store.err(e))?
        .rows_affected();
        if inserted == 1 {
            let reason = format!(
                "extracted from {} row {}; {}",
                raw.source,
                raw.row,
                wave.as_deref().map_or("no wave selects it".to_string(), |w| format!("wave {w}"))
            );
            let actor = self.actor.clone();
            self.store
                .journal_in(&mut self.tx, &a.account_number, &at, &actor, State::Pending, State::Extracted, &reason)
                .await?;
        }
        self.counts.accounts += 1;
        if !matches!(self.filter, Filter::All) {
            self.kept.insert(a.account_number.clone());
        }
        Ok(None)
    }

    async fn put_child(
        &mut self,
        raw: &RawRow,
        kind: &str,
        key: &str,
        account: &str,
        data: &str,
    ) -> Result<Option<String>, StoreError> {
        let res = sqlx::query(
            "INSERT INTO legacy_record (kind, record_key, account_number, data, source, source_row) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS \
             (SELECT 1 FROM legacy_record WHERE kind = 'account' AND record_key = $3) \
             ON CONFLICT (kind, record_key) DO NOTHING",
        )
        .bind(kind)
        .bind(key)
        .bind(account)
        .bind(data)
        .bind(&raw.source)
        .bind(raw.row as i64)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.store.err(e))?;
        if res.rows_affected() == 1 {
            self.counts.records += 1;
            return Ok(None);
        }
        if let Some(why) = self.bad_accounts.get(account) {
            return Ok(Some(format!("account {account} was quarantined ({why})")));
        }
        let exists = sqlx::query("SELECT 1 FROM legacy_record WHERE kind = 'account' AND record_key = $1")
            .bind(account)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(|e| self.store.err(e))?
            .is_some();
        Ok(Some(if exists {
            format!("duplicate {} {key} (the first row is kept)", if kind == "service" { "service_id" } else { kind })
        } else {
            format!("unknown account {account}")
        }))
    }
}

impl Sink for Extraction<'_> {
    async fn batch(&mut self, rows: Vec<(RawRow, Result<Record, String>)>) -> Result<(), StoreError> {
        for (raw, parsed) in rows {
            let problem = match &parsed {
                Err(reason) => {
                    if raw.table == Table::Accounts
                        && let Some(n) = raw.account_number()
                    {
                        self.bad_accounts.insert(n.to_string(), reason.clone());
                    }
                    // Rows of accounts the filter leaves out are not this run's business.
                    let skip = match &self.filter {
                        Filter::All => false,
                        Filter::Accounts(list) => raw.account_number().is_none_or(|n| !list.iter().any(|x| x == n)),
                        Filter::Wave(_) => raw.account_number().is_none_or(|n| !self.kept.contains(n)),
                    };
                    if skip {
                        continue;
                    }
                    Some(reason.clone())
                }
                Ok(record) => {
                    if !self.wanted(&raw, record) {
                        continue;
                    }
                    let json = serde_json::to_string(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    match record {
                        Record::Account(a) => self.put_account(&raw, a, &json).await?,
                        Record::Service(s) => {
                            self.put_child(&raw, "service", &s.service_id.clone(), &s.account_number.clone(), &json)
                                .await?
                        }
                        Record::Usage(u) => {
                            let key = format!("{}#{}", raw.source, raw.row);
                            self.put_child(&raw, "usage", &key, &u.account_number.clone(), &json).await?
                        }
                        Record::Line(l) => {
                            let key = format!("{}#{}", raw.source, raw.row);
                            self.put_child(&raw, "line", &key, &l.account_number.clone(), &json).await?
                        }
                    }
                }
            };
            if let Some(reason) = problem {
                let q = Quarantined {
                    table: raw.table,
                    source: raw.source.clone(),
                    row: raw.row,
                    account_number: raw.account_number().map(str::to_string),
                    reason,
                    raw: raw.display(),
                };
                self.quarantine(q).await?;
            }
        }
        Ok(())
    }
}
