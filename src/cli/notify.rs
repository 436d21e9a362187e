//! `cutover notify`: send the customer notices due as of DATE.

use super::commands::{
    Cx, PlanUse, Result, actor, dry_report, mailer, open_or_scratch, stop_on_signal, today, unless_stopped,
};
use super::{non_blank, parse_date};
use crate::engine::Ctx;

/// Send the customer notices due as of DATE (cron-friendly; each notice goes once, never late).
/// Works on a fresh workspace: it extracts first.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The wave id (the `id` in its wave file, e.g. dc1-colocation). With --preview or --resolve,
    /// the account's own wave when left out.
    #[arg(long, required_unless_present_any = ["preview", "resolve"])]
    pub wave: Option<String>,
    /// The day to act as, YYYY-MM-DD (default: today): catch up, or simulate a date.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Print the notice one account would get (subject, text and HTML), and send nothing.
    #[arg(long, value_name = "ACCOUNT", conflicts_with = "resolve")]
    pub preview: Option<String>,
    /// Decide on a notice whose delivery is unknown (interrupted mid-send): `--as sent` if the
    /// mail server's log shows it went out, `--as resend` to send it again. Needs --reason.
    #[arg(long, value_name = "ACCOUNT", requires_all = ["resolution", "reason"])]
    pub resolve: Option<String>,
    /// With --resolve: `sent` (the mail log shows it went out) or `resend` (it did not).
    #[arg(long = "as", value_enum, value_name = "DECISION")]
    pub resolution: Option<Resolution>,
    /// Why (with --resolve): kept in the account's journal.
    #[arg(long, value_parser = non_blank)]
    pub reason: Option<String>,
    /// Show which notices would go out and what would change, on a copy: nothing is written
    /// and nothing sent. Exits as the real run would. Not with `--preview` (which sends nothing
    /// anyway) or `--resolve`.
    #[arg(long, conflicts_with_all = ["preview", "resolve"])]
    pub dry_run: bool,
}

impl Args {
    pub async fn run(self, cx: &Cx) -> Result<u8> {
        let Args { wave, as_of, preview, resolve, resolution, reason, dry_run } = self;
        // A preview changes nothing, so it needs no named actor.
        let who = if preview.is_some() { "preview (nothing is sent)".into() } else { actor(&cx.actor, "notify")? };
        let ctx = Ctx::new(as_of.unwrap_or_else(today), who);
        if let Some(account) = preview {
            let engine = open_or_scratch(
                &cx.root,
                crate::store::extraction::Filter::Accounts(vec![account.clone()]),
                PlanUse::ValidPart("notify --preview"),
            )
            .await?;
            // Say first when this notice would not be sent: held, quarantined, already notified…
            if let Some(row) = engine.store.account(&account).await? {
                use crate::domain::State;
                if let (Some(asked), Some(own)) = (&wave, &row.wave)
                    && asked != own
                {
                    return Err(super::Failure::input(anyhow::anyhow!(
                        "{account} is in wave {own}, not {asked}: its notice is its own wave's (leave --wave out)"
                    )));
                }
                if !matches!(row.state, State::Extracted | State::Rated | State::Reconciled) {
                    let why = row.state_reason.as_deref().unwrap_or("");
                    println!("note: {account} is {} ({why}): the notice below is not going to be sent\n", row.state);
                }
            }
            match engine.preview_notice(&account, &ctx).await? {
                crate::engine::Preview::Email(r) => {
                    println!("Subject: {}\n\n{}\n---- HTML part ----\n{}", r.subject, r.text, r.html)
                }
                crate::engine::Preview::Letter { address, mailable, html } => {
                    println!(
                        "A printed letter (no valid billing email), {}:\n  {}\n---- the letter (HTML, as printed) ----\n{html}",
                        if mailable { "to" } else { "with no postal address to mail it to (it would be held)" },
                        address.join("\n  ")
                    );
                }
            }
            return Ok(0);
        }
        let (engine, dry) = cx.open_for(dry_run, PlanUse::Whole).await?;
        if let (Some(account), Some(decision)) = (resolve, resolution) {
            let why = reason.unwrap_or_default();
            // Its notices are under the wave they were sent in: the account's own unless named.
            let wave = match wave {
                Some(w) => w,
                None => engine
                    .store
                    .account(&account)
                    .await?
                    .ok_or_else(|| crate::store::StoreError::NoAccount(account.clone()))?
                    .wave
                    .ok_or_else(|| {
                        super::Failure::input(anyhow::anyhow!(
                            "{account} is in no wave now: name the wave its notice was sent in with --wave"
                        ))
                    })?,
            };
            engine.resolve_notice(&wave, &account, decision == Resolution::Sent, &why, &ctx).await?;
            println!(
                "{account}: notice marked {}",
                if decision == Resolution::Sent { "sent" } else { "for resending" }
            );
            return Ok(0);
        }
        // Required by clap without --preview or --resolve.
        let wave = wave.unwrap_or_default();
        stop_on_signal(&engine, "notify");
        engine.ensure_fresh(engine.runnable_wave(&wave)?, &ctx).await?;
        engine.rate_and_reconcile(&wave, &ctx).await?;
        let mailer = mailer(&engine)?;
        let r = engine.notify_wave(&wave, &ctx, &mailer).await?;
        for n in &r.notes {
            eprintln!("note: {n}");
        }
        println!(
            "{wave} as of {}: {} notice(s) sent, {} rescheduled, {} held, {} waiting to retry, {} failed, {} unknown \
             (`cutover notices --wave {wave}` lists them)",
            ctx.as_of, r.done, r.rescheduled, r.held, r.retried, r.failed, r.unknown
        );
        dry_report(dry, &engine).await?;
        unless_stopped(&engine, "notify", u8::from(r.failed > 0 || r.unknown > 0 || r.retried > 0)).await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Resolution {
    Sent,
    Resend,
}
