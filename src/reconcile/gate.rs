//! The wave's gate: go / no-go from its reconciliation, Argo-style. Each metric is checked against
//! the wave's limits; a breached `abort` limit aborts, any other breached limit pauses, and a
//! person may promote a paused wave (never an aborted one). Pure.

use crate::domain::Decimal;
use crate::plan::Gate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateVerdict {
    Proceed,
    Pause,
    Abort,
}

crate::domain::spelled! {
    GateVerdict {
        Proceed => "proceed",
        Pause => "pause",
        Abort => "abort",
    } unknown: |s| format!("unknown gate verdict `{s}`")
}

/// The numbers a gate looks at.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GateMetrics {
    pub accounts: u64,
    /// Accounts that pass, plus failing accounts a person waived.
    pub passing: u64,
    pub absolute_variance: Decimal,
    pub unexplained: u64,
}

impl GateMetrics {
    pub fn pass_rate(&self) -> Decimal {
        if self.accounts == 0 {
            Decimal::ZERO
        } else {
            (Decimal::from(self.passing) / Decimal::from(self.accounts)).round_dp(4)
        }
    }
}

/// One check of the analysis: a metric, its value, the limit and what breaching it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateCheck {
    pub metric: String,
    pub value: String,
    /// e.g. `>= 0.95`, `<= 500.00`
    pub limit: String,
    /// What breaching the limit does: `pause` or `abort`.
    pub on_breach: GateVerdict,
    pub ok: bool,
}

/// A recorded promotion of a paused wave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    pub at: String,
    pub actor: String,
    pub reason: String,
    /// The reconciliation the person looked at (see [`super::report::fingerprint`]).
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    pub verdict: GateVerdict,
    /// The verdict of the checks alone, before any promotion.
    pub analysis: GateVerdict,
    pub checks: Vec<GateCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted: Option<Promotion>,
}

/// Evaluates a gate. A wave with no reconciled account pauses (nothing to judge). A promotion
/// turns `pause` into `proceed` only when it was given for exactly this reconciliation
/// (`fingerprint`); it never lifts an `abort`.
pub fn evaluate(rule: &Gate, m: &GateMetrics, fingerprint: &str, promotion: Option<&Promotion>) -> GateResult {
    let rate = m.pass_rate();
    let mut checks = Vec::new();
    let mut check = |metric: &str, value: String, limit: String, on_breach, ok| {
        checks.push(GateCheck { metric: metric.into(), value, limit, on_breach, ok });
    };
    check("accounts", m.accounts.to_string(), "> 0".into(), GateVerdict::Pause, m.accounts > 0);
    if m.accounts == 0 {
        // Nothing reconciled yet: nothing to judge, so the wave waits.
        return GateResult { verdict: GateVerdict::Pause, analysis: GateVerdict::Pause, checks, promoted: None };
    }
    if let Some(a) = rule.abort.min_pass_rate {
        check("pass_rate", rate.to_string(), format!(">= {a}"), GateVerdict::Abort, rate >= a);
    }
    check(
        "pass_rate",
        rate.to_string(),
        format!(">= {}", rule.min_pass_rate),
        GateVerdict::Pause,
        rate >= rule.min_pass_rate,
    );
    let var = m.absolute_variance;
    if let Some(a) = rule.abort.max_absolute_variance {
        check("absolute_variance", var.to_string(), format!("<= {a}"), GateVerdict::Abort, var <= a);
    }
    if let Some(l) = rule.max_absolute_variance {
        check("absolute_variance", var.to_string(), format!("<= {l}"), GateVerdict::Pause, var <= l);
    }
    if let Some(a) = rule.abort.max_unexplained {
        check("unexplained", m.unexplained.to_string(), format!("<= {a}"), GateVerdict::Abort, m.unexplained <= a);
    }
    if let Some(l) = rule.max_unexplained {
        check("unexplained", m.unexplained.to_string(), format!("<= {l}"), GateVerdict::Pause, m.unexplained <= l);
    }
    let analysis = if checks.iter().any(|c| !c.ok && c.on_breach == GateVerdict::Abort) {
        GateVerdict::Abort
    } else if checks.iter().any(|c| !c.ok) {
        GateVerdict::Pause
    } else {
        GateVerdict::Proceed
    };
    let promoted = promotion.filter(|p| analysis == GateVerdict::Pause && p.fingerprint == fingerprint).cloned();
    let verdict = if promoted.is_some() { GateVerdict::Proceed } else { analysis };
    GateResult { verdict, analysis, checks, promoted }
}
