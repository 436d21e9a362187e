//! The notice report of a wave: sent, failed with the reason, printed, unknown, not schedulable.

use crate::engine::NoticeReport;
use crate::output::{Format, OutputError, esc, json};
use crate::store::{NoticeRow, NoticeState};
use std::fmt::Write;

/// `unknown` is how a notice left in `sending` by a crash is shown: nobody knows if it went out.
/// One a live worker is sending now stays `sending`.
fn shown_state(n: &NoticeRow, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    if n.delivery_unknown(now) { "unknown" } else { n.state.as_str() }
}

// Long: one arm per output format (JSON, CSV, text/Markdown/HTML) over the same counts.
pub fn render(r: &NoticeReport, format: Format) -> Result<String, OutputError> {
    // Real clock: whether a worker's claim is live is a matter of wall-clock leases.
    let now = chrono::Utc::now();
    let shown_state = |n: &NoticeRow| shown_state(n, now);
    let count = |pred: &dyn Fn(&NoticeRow) -> bool| r.notices.iter().filter(|n| pred(n)).count();
    let sent = count(&|n| n.state == NoticeState::Sent && n.channel == "email");
    let printed = count(&|n| n.state == NoticeState::Sent && n.channel == "print");
    let failed = count(&|n| n.state == NoticeState::Failed);
    let unknown = count(&|n| n.delivery_unknown(now));
    let sending = count(&|n| n.in_flight_live(now));
    let waiting = count(&|n| matches!(n.state, NoticeState::Queued | NoticeState::Retry));
    match format {
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Out<'a> {
                wave: &'a str,
                summary: serde_json::Value,
                notices: Vec<serde_json::Value>,
                not_schedulable: Vec<serde_json::Value>,
                held_after_notice: Vec<serde_json::Value>,
            }
            let notices = r
                .notices
                .iter()
                .map(|n| {
                    serde_json::json!({
                        "account_number": n.account_number, "kind": n.kind, "channel": n.channel,
                        "state": shown_state(n), "recipients": n.recipients, "message_id": n.message_id,
                        "attempts": n.attempts, "last_error": n.last_error, "sent_at": n.sent_at, "retry_at": n.retry_at,
                    })
                })
                .collect();
            let not_schedulable = r
                .not_schedulable
                .iter()
                .map(|(a, why)| serde_json::json!({ "account_number": a, "reason": why }))
                .collect();
            let held_after_notice = r
                .held_after_notice
                .iter()
                .map(|(a, why)| serde_json::json!({ "account_number": a, "reason": why }))
                .collect();
            json(&Out {
                wave: &r.wave,
                summary: serde_json::json!({ "sent": sent, "printed": printed, "failed": failed, "unknown": unknown, "sending": sending,
                    "waiting": waiting, "not_schedulable": r.not_schedulable.len(),
                    "held_after_notice": r.held_after_notice.len() }),
                notices,
                not_schedulable,
                held_after_notice,
            })
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(vec![]);
            w.write_record([
                "wave",
                "account_number",
                "channel",
                "state",
                "recipients",
                "attempts",
                "last_error",
                "sent_at",
            ])?;
            for n in &r.notices {
                w.write_record([
                    r.wave.as_str(),
                    &n.account_number,
                    &n.channel,
                    shown_state(n),
                    &n.recipients,
                    &n.attempts.to_string(),
                    n.last_error.as_deref().unwrap_or(""),
                    n.sent_at.as_deref().unwrap_or(""),
                ])?;
            }
            for (a, why) in &r.not_schedulable {
                w.write_record([r.wave.as_str(), a, "", "not_schedulable", "", "0", why, ""])?;
            }
            for (a, why) in &r.held_after_notice {
                w.write_record([r.wave.as_str(), a, "", "held_after_notice", "", "", why, ""])?;
            }
            Ok(String::from_utf8(w.into_inner()?)?)
        }
        Format::Text | Format::Markdown | Format::Html => {
            let mut o = String::new();
            writeln!(
                o,
                "notices of wave {}: {sent} emailed, {printed} printed, {failed} failed, {unknown} unknown, \
                 {waiting} waiting, {} not schedulable",
                r.wave,
                r.not_schedulable.len()
            )?;
            if sending > 0 {
                writeln!(o, "  {sending} being sent by a live worker now (not unknown: nothing to resolve)")?;
            }
            for n in r.notices.iter().filter(|n| n.state != NoticeState::Sent) {
                if n.in_flight_live(now) {
                    writeln!(
                        o,
                        "  {:<10} being sent by {} (lease until {})",
                        n.account_number,
                        n.owner.as_deref().unwrap_or("?"),
                        n.lease_until.as_deref().unwrap_or("?")
                    )?;
                    continue;
                }
                writeln!(
                    o,
                    "  {:<10} {:<8} {:<7} attempts {} {}",
                    n.account_number,
                    shown_state(n),
                    n.channel,
                    n.attempts,
                    n.last_error.as_deref().unwrap_or("")
                )?;
            }
            for n in r.notices.iter().filter(|n| n.state == NoticeState::Sent && n.channel == "print") {
                writeln!(o, "  {:<10} printed  (no valid billing email: mail the letter)", n.account_number)?;
            }
            for (a, why) in &r.not_schedulable {
                // The reason says "not schedulable: …" itself (`plan::schedule`).
                let why = why.strip_prefix("not schedulable: ").unwrap_or(why);
                writeln!(o, "  {a:<10} not schedulable: {why}")?;
            }
            if !r.held_after_notice.is_empty() {
                writeln!(
                    o,
                    "  {} held after their notice was sent: each was told of a first new bill that will not come; \
                     tell them (the legacy system bills them on)",
                    r.held_after_notice.len()
                )?;
            }
            for (a, why) in &r.held_after_notice {
                writeln!(o, "  {a:<10} held after its notice: {why}")?;
            }
            if format == Format::Html {
                return Ok(format!("<!DOCTYPE html><html><body><pre>{}</pre></body></html>\n", esc(&o)));
            }
            Ok(o)
        }
    }
}
