//! The notify stage: the customer notice, one month before the first new bill, exactly once.
//!
//! Order of work on a run as of day D:
//! 1. Notices a crash left in `sending`: an outbox file or a printed letter is simply finished
//!    (written again under the same name, then marked); over SMTP the server may have taken the
//!    message, so the notice is reported `unknown` for a person to decide (`notify --resolve`).
//! 2. Accounts whose notice date has passed unsent are never notified late: they move to a later
//!    cycle in the window, or are held with the reason. An account whose notice is `unknown` is
//!    not moved: nobody knows yet whether it was notified, and a second notice with other dates
//!    is worse than a late decision. It waits for the person's decision.
//! 3. How many to send today: all that are due, or, when the wave has sending limits, the fewest
//!    that still let every later notice go out on time (earliest notice date first). If even the
//!    full daily capacity cannot keep every notice on time, the report says so before sending.
//! 4. Each notice: recorded (`queued`) before sending, `sending` while in flight, `sent` the moment
//!    the server accepts it, then the account moves to `notified`. Transient failures are retried
//!    with exponential backoff; permanent ones (5xx) are recorded with the server's reply.

use super::{Ctx, Engine, EngineError, ReadAhead, StageReport};
use crate::bill::money;
use crate::domain::{Decimal, LegacyAccount, Period, State};
use crate::durable::write_atomically;
use crate::notify::render::{LetterData, NoticeData, PreviewLine, Renderer};
use crate::notify::transport::{Email, FileBatch, Mailer, SendError};
use crate::notify::{self, letter, notice_kind};
use crate::plan::Wave;
use crate::plan::schedule::{Schedule, schedule};
use crate::store::{AccountRow, Due, NewNotice, NoticeMark, NoticeRow, NoticeState, Records, Transition};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// What happened to one account's notice on this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Retry,
    Failed,
    Skipped,
    Held,
}

impl Outcome {
    /// This outcome when this worker's transition moved the account, else nothing to count:
    /// another worker moved it, and counts it (team mode).
    fn if_moved(self, moved: bool) -> Outcome {
        if moved { self } else { Outcome::Skipped }
    }
}

/// One notice, prepared before anything is written: what it says and where it goes.
struct Prepared<'p> {
    /// Borrowed for one notice sent alone; owned by a page's notices, so that a page can still be
    /// finishing while the next one is prepared ([`Notifier::deliver_due`]).
    acct: std::borrow::Cow<'p, LegacyAccount>,
    sched: Schedule,
    to: Vec<notify::EmailAddress>,
    rejected: Vec<String>,
    data: NoticeData,
    rendered: crate::notify::render::Rendered,
    kind: String,
    message_id: String,
    channel: &'static str,
    recipients: String,
    /// The portal link the notice carries, stored with the page's claim (a page's notices only).
    link: Option<crate::engine::portal::NewLink>,
}

impl Prepared<'_> {
    /// The notice row to record before sending.
    fn claim<'c>(&'c self, wave: &'c str, at: DateTime<Utc>) -> NewNotice<'c> {
        NewNotice {
            wave,
            account: &self.acct.account.account_number,
            kind: &self.kind,
            message_id: &self.message_id,
            channel: self.channel,
            recipients: &self.recipients,
            at,
        }
    }
}

/// A page's notices after their claim ([`Notifier::claim_page`]), by their place in the page:
/// taken for writing now, or found sent already (by another worker, or a run interrupted before
/// the account moved: only the account is left to move), with its channel.
#[derive(Default)]
struct ClaimedPage {
    taken: Vec<(usize, NoticeRow)>,
    already_sent: Vec<(usize, String)>,
}

/// A prepared email's outbox file, built and handed to the page's [`FileBatch`] before its claim
/// committed ([`Notifier::build_emails`]): its place in the batch and its name, or why it could
/// not be built.
type Built = Result<(usize, PathBuf), SendError>;

/// A taken notice once its file is written (or not): the channel it went by, and why an email
/// address was not used.
struct WrittenNotice<'p> {
    p: Prepared<'p>,
    notice: NoticeRow,
    channel: String,
    rejected: Vec<String>,
    result: Result<(), SendError>,
}

/// A page's notices once taken ([`Notifier::start_page`]), for [`Notifier::finish_page`]: the
/// batch of their files (written, not yet published), the notices taken with their emails as
/// built, those found sent already, and the page's time.
struct StartedPage {
    files: FileBatch,
    taken: Vec<(Prepared<'static>, NoticeRow, Option<Built>)>,
    already_sent: Vec<(Prepared<'static>, String)>,
    now: DateTime<Utc>,
}

/// The journal's reason for holding an account closed since it was reconciled.
const CLOSED: &str = "closed in the legacy system since it was reconciled: no notice, nothing to migrate";

/// What to do with a notice, given the row its claim returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Sent before (a run interrupted before the account moved): only move the account.
    AlreadySent,
    /// Failed for good: a person fixes the address or resolves it.
    Failed,
    /// A retry whose backoff has not passed.
    RetryLater,
    /// Not this process's to send: a live worker holds it, or (`sending` over SMTP after a
    /// crash) its delivery is unknown and a person decides.
    Skip,
    /// Try to take it for sending (the conditional UPDATE decides who wins).
    Take,
}

/// The decision after a claim (pure). `resend_safe`: writing it again reaches nobody twice (an
/// outbox file or a printed letter). `now` is the real clock: retries and leases run on it.
fn next_step(n: &NoticeRow, resend_safe: bool, now: DateTime<Utc>) -> Next {
    match n.state {
        NoticeState::Sent => Next::AlreadySent,
        NoticeState::Failed => Next::Failed,
        NoticeState::Sending if !resend_safe || n.in_flight_live(now) => Next::Skip,
        NoticeState::Retry if n.retry_waiting(now) => Next::RetryLater,
        // A superseded notice is never taken: the conditional UPDATE refuses it.
        NoticeState::Queued | NoticeState::Sending | NoticeState::Retry | NoticeState::Superseded => Next::Take,
    }
}

/// Everything one wave's notices share on one run.
struct Notifier<'a> {
    engine: &'a Engine,
    wave: &'a Wave,
    ctx: &'a Ctx,
    mailer: &'a Mailer,
    renderer: Renderer,
    from: lettre::message::Mailbox,
    domain: String,
    company: String,
}

use crate::notify::long_date;

impl Engine {
    /// Sends the notices due as of `ctx.as_of` (see the module docs for the order of work).
    pub async fn notify_wave(&self, id: &str, ctx: &Ctx, mailer: &Mailer) -> Result<StageReport, EngineError> {
        let wave = self.runnable_wave(id)?;
        let n = Notifier::new(self, wave, ctx, mailer)?;
        let mut r = StageReport::default();
        // An aborted wave tells no customer of a change that is not going to happen. (A paused
        // wave still notifies its passing accounts: only switching waits for a person.)
        let gate = self.gate(id).await?;
        if gate.verdict == crate::reconcile::GateVerdict::Abort {
            r.notes.push(format!("the gate of wave {id} says abort: no notices are sent until it is fixed"));
            return Ok(r);
        }
        n.sweep_stale_temporaries(&mut r);
        let unknown = n.in_flight(&mut r).await?;
        n.reschedule_late(&unknown, &mut r).await?;
        let limited = n.limited_candidates(&mut r).await?;
        if !n.anything_due(&limited).await? {
            n.letters_of_the_days(&mut r).await?;
            return Ok(r);
        }
        if let Mailer::Smtp(t) = mailer {
            // Nothing is marked or sent when the server cannot be reached at all.
            match t.test_connection().await {
                Ok(true) => {}
                Ok(false) => return Err(EngineError::Mail("the SMTP server did not answer".into())),
                // A 5xx while connecting is a refusal (most often of the login), not an outage.
                Err(e) if e.is_permanent() => {
                    return Err(EngineError::Mail(format!(
                        "the SMTP server refused us ({e}); check CUTOVER_SMTP_USERNAME and CUTOVER_SMTP_PASSWORD"
                    )));
                }
                Err(e) => return Err(EngineError::Mail(format!("cannot reach the SMTP server: {e}"))),
            }
        }
        let due = match &limited {
            Some(rows) => rows.len() as i64,
            None => self.store.count_due(id, &[State::Reconciled], Some((Due::Notice, ctx.as_of))).await?,
        };
        if due > 0 {
            self.progress.start(&format!("notify {id} {}", ctx.as_of), due as u64);
        }
        let delivered = match limited {
            Some(rows) => n.deliver_all(rows, &mut r).await,
            None => n.deliver_due(&mut r).await,
        };
        if due > 0 {
            self.progress.finish();
        }
        delivered?;
        n.retry_pending(&mut r).await?;
        n.letters_of_the_days(&mut r).await?;
        Ok(r)
    }
}

impl<'a> Notifier<'a> {
    fn new(engine: &'a Engine, wave: &'a Wave, ctx: &'a Ctx, mailer: &'a Mailer) -> Result<Self, EngineError> {
        let renderer = Renderer::new(Some(&engine.ws.path(&engine.ws.config.templates)))?;
        let from: lettre::message::Mailbox =
            engine.ws.config.sender.parse().map_err(|e| {
                EngineError::Refused(format!("cutover.yaml: sender `{}`: {e}", engine.ws.config.sender))
            })?;
        let domain = from.email.domain().to_string();
        let company = engine
            .ws
            .config
            .remit_to
            .first()
            .map_or("our", |c| c.trim_end_matches(", Inc.").trim_end_matches(" Inc."))
            .to_string();
        Ok(Notifier { engine, wave, ctx, mailer, renderer, from, domain, company })
    }

    fn store(&self) -> &crate::store::Store {
        &self.engine.store
    }

    /// The first `limit` of the wave's reconciled accounts whose notice date has come.
    fn due_notices(&self, limit: i64) -> crate::store::WavePage<'a> {
        let page = crate::store::WavePage::of(&self.wave.id, &[State::Reconciled], limit);
        crate::store::WavePage { due: Some((Due::Notice, self.ctx.as_of)), ..page }
    }

    /// The records a notice is made from: the last legacy bill's lines are all it shows of them
    /// (`notice_data_from`).
    fn records(&self) -> Records {
        Records::Recent { periods: 1, as_of: self.ctx.as_of }
    }

    fn stopping(&self) -> bool {
        self.engine.stop.load(Ordering::SeqCst)
    }

    /// Step 2: a notice date that passed unsent moves to a later cycle, or holds the account.
    /// Accounts in `unknown` (a notice in flight when a process died) stay where they are.
    async fn reschedule_late(
        &self,
        unknown: &std::collections::BTreeSet<String>,
        r: &mut StageReport,
    ) -> Result<(), EngineError> {
        let id = &self.wave.id;
        let yesterday = self.ctx.as_of.pred_opt().unwrap_or(self.ctx.as_of);
        let mut after = String::new();
        loop {
            let rows = self
                .store()
                .wave_accounts(&crate::store::WavePage {
                    due: Some((Due::Notice, yesterday)),
                    after: &after,
                    ..crate::store::WavePage::of(id, &[State::Reconciled], 500)
                })
                .await?;
            let Some(last) = rows.last() else { return Ok(()) };
            after = last.account_number.clone();
            for (row, acct) in &self.engine.load(&rows, self.ctx).await? {
                let number = &row.account_number;
                if unknown.contains(number) {
                    continue;
                }
                // Sent, its account not moved yet (a run interrupted in between, or another worker
                // just now): finish that, don't move it to a later cycle.
                if let Some(s) = row.schedule()
                    && let Some(n) = self.store().notice(id, number, &notice_kind(s.first_new_bill_date)).await?
                    && n.state == NoticeState::Sent
                {
                    self.notified(number, &n.channel, &n.message_id, &n.recipients, &[]).await?;
                    continue;
                }
                let old = row.notice_date.map_or("-".into(), |d| d.to_string());
                // Held, or moved to a later cycle whose notice is a new one.
                let (to, why, keep) = match schedule(self.wave, acct.account.bill_cycle_day, self.ctx.as_of) {
                    // The later cycle must still have something to move (as when first scheduled).
                    Ok(s) if let Some(why) = super::stages::nothing_left(acct, s.first_new_bill_date) => {
                        (State::Held, why, None)
                    }
                    Ok(s) => {
                        let why = format!(
                            "notice date {old} passed unsent; moved to first new bill {} (notice {})",
                            s.first_new_bill_date, s.notice_date
                        );
                        (State::Reconciled, why, Some(s))
                    }
                    Err(why) => (State::Held, why, None),
                };
                let t = Transition { to, ..self.transition(number, State::Reconciled, &why, keep.map(Some)) };
                if self.store().transition(&t).await? {
                    match keep {
                        Some(_) => r.rescheduled += 1,
                        None => r.held += 1,
                    }
                    // The old dates' notice was never sent: it must never go out now.
                    let keep = keep.map(|s| notice_kind(s.first_new_bill_date)).unwrap_or_default();
                    self.store().notice_supersede(id, number, &keep).await?;
                }
            }
        }
    }

    /// Step 1: notices left `sending` by a crash. Outbox files and printed letters are finished
    /// (rewriting a file under its name is idempotent); over SMTP they are `unknown`. Returns the
    /// accounts whose notice stays unknown: nothing else happens to them until a person decides.
    async fn in_flight(&self, r: &mut StageReport) -> Result<std::collections::BTreeSet<String>, EngineError> {
        let mut unknown = std::collections::BTreeSet::new();
        for n in self.store().notices(&self.wave.id, Some(NoticeState::Sending)).await? {
            // Another live worker is sending it right now: neither unknown nor this worker's.
            // Real clock: a worker's lease runs on the wall clock, not the run's day.
            if n.in_flight_live(Utc::now()) {
                r.notes.push(format!(
                    "{}: being sent by {} (lease until {})",
                    n.account_number,
                    n.owner.as_deref().unwrap_or("another worker"),
                    n.lease_until.as_deref().unwrap_or("?")
                ));
                unknown.insert(n.account_number);
                continue;
            }
            if self.resend_safe(&n.channel) && self.finish(&n, r).await? {
                continue;
            }
            r.unknown += 1;
            r.notes.push(format!(
                "{}: delivery unknown (interrupted while sending {}); it is neither resent nor rescheduled until \
                 a person decides: check the mail server's log, then \
                 `cutover notify --wave {} --resolve {} --as sent|resend --reason …`",
                n.account_number, n.message_id, self.wave.id, n.account_number
            ));
            unknown.insert(n.account_number);
        }
        Ok(unknown)
    }

    /// Finishes a file notice a crash interrupted, when it is still for the account's current
    /// dates. False when it cannot be finished (then it is reported unknown).
    async fn finish(&self, n: &NoticeRow, r: &mut StageReport) -> Result<bool, EngineError> {
        let Some(row) = self.store().account(&n.account_number).await? else { return Ok(false) };
        let current = row.schedule().map(|s| notice_kind(s.first_new_bill_date));
        if row.state != State::Reconciled || current.as_deref() != Some(n.kind.as_str()) {
            return Ok(false);
        }
        let rows = [row];
        for (row, acct) in &self.engine.load(&rows, self.ctx).await? {
            let o = self.deliver(row, acct).await?;
            self.count(o, r);
        }
        Ok(true)
    }

    /// A notice that can be written again without a duplicate reaching anyone: a printed letter,
    /// or an email written to the outbox folder (same file name).
    fn resend_safe(&self, channel: &str) -> bool {
        channel == "print" || matches!(self.mailer, Mailer::Outbox(_))
    }

    /// Step 3: the accounts to notify now, when the wave has sending limits (`None`: no limits,
    /// every due account, delivered a page at a time by [`Notifier::deliver_due`]).
    async fn limited_candidates(&self, r: &mut StageReport) -> Result<Option<Vec<AccountRow>>, EngineError> {
        let id = &self.wave.id;
        let Some(cap) = self.wave.notices.daily_capacity() else { return Ok(None) };
        let cap = i64::from(cap);
        // Earliest-deadline-first: today must take at least max over d of (notices due by d) − cap × (days after today).
        let mut need = 0i64;
        let mut cumulative = 0i64;
        for (date, count) in self.store().notice_demand(id).await? {
            cumulative += count;
            let days_after = (date - self.ctx.as_of).num_days().max(0);
            need = need.max(cumulative - cap * days_after);
        }
        if need > cap {
            r.notes.push(format!(
                "sending limits too low: {need} notice(s) must go out today to keep every notice on time, \
                 but the wave allows {cap} a day; the rest would be late and will be rescheduled"
            ));
        }
        let now = self.ctx.now();
        let day_start = self.ctx.as_of.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now);
        let sent_today = self.store().sent_between(id, day_start, day_start + chrono::Days::new(1)).await?;
        let mut left = i64::from(self.wave.notices.per_day.unwrap_or(u32::MAX)) - sent_today;
        if let Some(per_hour) = self.wave.notices.per_hour {
            let hour = now - chrono::Duration::seconds(now.timestamp().rem_euclid(3600));
            let sent_hour = self.store().sent_between(id, hour, hour + chrono::Duration::hours(1)).await?;
            left = left.min(i64::from(per_hour) - sent_hour);
        }
        let take = need.min(left).max(0);
        if take < need {
            r.notes.push(format!("{} notice(s) wait for the next sending window", need - take));
        }
        Ok(Some(self.store().notice_candidates(id, take).await?))
    }

    /// Without limits: every account due today, a page at a time (delivered accounts leave the
    /// `reconciled` state, so each page is the next one), the next page's records read while
    /// this one is delivered ([`Engine::read_ahead`]).
    ///
    /// Into the outbox folder, a page is prepared and claimed while the page before is still
    /// being finished (its files made durable and its notices marked): that half of a page waits
    /// on the disk and the store, and the next page's reading, rendering and claiming go on
    /// meanwhile (issue 11). Each page keeps its own order (claimed, files, marked); two pages
    /// are in hand at most. A stop finishes what is claimed and claims nothing more; a failure
    /// of one page still finishes the other.
    async fn deliver_due(&self, r: &mut StageReport) -> Result<(), EngineError> {
        let due_after = async |after: &str| -> Result<(Vec<AccountRow>, Option<ReadAhead>), EngineError> {
            let rows =
                self.store().wave_accounts(&crate::store::WavePage { after, ..self.due_notices(super::BATCH) }).await?;
            let ahead = (!rows.is_empty()).then(|| self.engine.read_ahead(&rows, self.records()));
            Ok((rows, ahead))
        };
        let (mut rows, mut ahead) = due_after("").await?;
        if !matches!(self.mailer, Mailer::Outbox(_)) {
            while !self.stopping() {
                let (Some(last), Some(this)) = (rows.last(), ahead.take()) else { break };
                let (next, next_ahead) = due_after(&last.account_number.clone()).await?;
                self.deliver_read(&rows, this, r).await?;
                (rows, ahead) = (next, next_ahead);
            }
            return Ok(());
        }
        // The page being finished, and how many accounts it had.
        let mut finishing: Option<(StartedPage, usize)> = None;
        let outcome = async {
            while !self.stopping() {
                let (Some(last), Some(this)) = (rows.last(), ahead.take()) else { break };
                let (next, next_ahead) = due_after(&last.account_number.clone()).await?;
                let mut claimed = StageReport::default();
                let start = async {
                    let pairs = self.engine.pair(&rows, this.records().await?, self.ctx).await?;
                    self.start_page(pairs, &mut claimed).await
                };
                let (finished, started) = match finishing.take() {
                    Some((before, n)) => tokio::join!(self.finish_page(before, n, r), start),
                    None => (Ok(()), start.await),
                };
                r.add(&claimed);
                if let Err(e) = finished {
                    // The page started meanwhile is still finished below: its notices are taken,
                    // and left unfinished they would wait in `sending` for this worker's lease.
                    finishing = started.ok().flatten().map(|s| (s, rows.len()));
                    return Err(e);
                }
                finishing = started?.map(|s| (s, rows.len()));
                (rows, ahead) = (next, next_ahead);
            }
            Ok::<(), EngineError>(())
        }
        .await;
        // The page in hand is finished whatever stopped the walk: its notices are claimed and its
        // files written, so it is the quickest way to a settled state (a crash before this would
        // leave them `sending`, for the next run to finish). The walk's own error, if any, is the
        // one to report.
        let finished = match finishing {
            Some((last, n)) => self.finish_page(last, n, r).await,
            None => Ok(()),
        };
        outcome.and(finished)
    }

    /// Whether anything is due (so the mail server is only contacted when there is work).
    async fn anything_due(&self, limited: &Option<Vec<AccountRow>>) -> Result<bool, EngineError> {
        let due_now = match limited {
            Some(rows) => !rows.is_empty(),
            None => !self.store().wave_accounts(&self.due_notices(1)).await?.is_empty(),
        };
        Ok(due_now || !self.store().notices(&self.wave.id, Some(NoticeState::Retry)).await?.is_empty())
    }

    /// Step 4: delivers to these accounts, a page at a time, the next page's records read while
    /// this one is delivered.
    async fn deliver_all(&self, rows: Vec<AccountRow>, r: &mut StageReport) -> Result<(), EngineError> {
        let mut pages = rows.chunks(super::BATCH as usize);
        let mut page = pages.next();
        let mut ahead = page.map(|p| self.engine.read_ahead(p, self.records()));
        while let (Some(rows), Some(this)) = (page, ahead.take()) {
            if self.stopping() {
                break;
            }
            page = pages.next();
            ahead = page.map(|p| self.engine.read_ahead(p, self.records()));
            self.deliver_read(rows, this, r).await?;
        }
        Ok(())
    }

    /// Delivers to a page of accounts whose records are being read.
    async fn deliver_read(&self, rows: &[AccountRow], read: ReadAhead, r: &mut StageReport) -> Result<(), EngineError> {
        let pairs = self.engine.pair(rows, read.records().await?, self.ctx).await?;
        if matches!(self.mailer, Mailer::Outbox(_)) {
            self.deliver_page(pairs, r).await?;
        } else {
            let concurrency = self.engine.ws.config.delivery.concurrency.max(1);
            let jobs = pairs.iter().map(|(row, acct)| self.deliver(row, acct));
            let outcomes: Vec<Result<Outcome, EngineError>> =
                futures_util::stream::iter(jobs).buffer_unordered(concurrency).collect().await;
            for o in outcomes {
                self.count(o?, r);
            }
        }
        // The bar moves for an outbox page too (it stood still at 0 until the stage ended).
        self.engine.progress.advance(rows.len() as u64);
        Ok(())
    }

    /// Step 4 into the outbox folder, a page at a time. Every notice there is safe to write again
    /// (an email file or a letter, under a name of its own), so a page shares its durability:
    /// its notices are recorded and taken (`sending`) in one transaction, committed before any file
    /// is published under its name; the files are made durable and published together
    /// ([`FileBatch`]: one filesystem sync, then each folder once); then one transaction marks them
    /// `sent` and moves their accounts to `notified`. The rules of [`Notifier::deliver`] hold: a
    /// row before its file, the mark after it. A crash in between leaves the page's notices
    /// `sending`, and the next run finishes them (step 1), writing the same files again. About 3
    /// syncs a page instead of 6 a notice (issue 11). The emails are built, and written under
    /// temporary names of this process's, while the claim commits: the claim's transaction and the
    /// file writing overlap, and a file whose notice was not taken is discarded, never published.
    async fn deliver_page(
        &self,
        pairs: Vec<(AccountRow, LegacyAccount)>,
        r: &mut StageReport,
    ) -> Result<(), EngineError> {
        match self.start_page(pairs, r).await? {
            Some(started) => self.finish_page(started, 0, r).await,
            None => Ok(()),
        }
    }

    /// A page's first half ([`Notifier::deliver_page`]): its notices prepared, recorded and
    /// taken, their emails built and written under temporary names. Nothing is published yet.
    /// `None` when a stop was asked before its claim: nothing of it is taken then.
    async fn start_page(
        &self,
        pairs: Vec<(AccountRow, LegacyAccount)>,
        r: &mut StageReport,
    ) -> Result<Option<StartedPage>, EngineError> {
        let now = self.ctx.now();
        let (page, closed) = self.prepare_page(pairs).await?;
        // Asked to stop while it was prepared (the page before was finishing meanwhile): it is
        // not claimed, so nothing new is started after the stop.
        if self.stopping() {
            return Ok(None);
        }
        // The page's emails are built and written to temporary names while its claim's
        // transaction runs on the store's thread (issue 11); those taken are published (renamed)
        // only once it has committed, the others discarded.
        let mut files = FileBatch::default();
        let closed: Vec<&str> = closed.iter().map(String::as_str).collect();
        let (claimed, mut built) =
            tokio::join!(self.claim_page(&page, &closed, now, r), self.build_emails(&mut files, &page, now));
        let claimed = claimed?;
        let mut page: Vec<Option<Prepared<'static>>> = page.into_iter().map(Some).collect();
        let already_sent: Vec<(Prepared<'static>, String)> =
            claimed.already_sent.into_iter().filter_map(|(i, channel)| Some((page[i].take()?, channel))).collect();
        let taken: Vec<(Prepared<'static>, NoticeRow, Option<Built>)> = claimed
            .taken
            .into_iter()
            .filter_map(|(i, notice)| Some((page[i].take()?, notice, built.get_mut(i).and_then(Option::take))))
            .collect();
        // The files of the notices not taken are not published.
        for (i, _) in built.into_iter().flatten().flatten() {
            files.discard(i);
        }
        Ok(Some(StartedPage { files, taken, already_sent, now }))
    }

    /// A page's second half: the taken notices' files made durable and published, then every
    /// notice marked and its account moved. The progress bar moves by `accounts` once it is done.
    async fn finish_page(&self, page: StartedPage, accounts: usize, r: &mut StageReport) -> Result<(), EngineError> {
        let StartedPage { files, taken, already_sent, now } = page;
        let written = self.write_page(files, taken, now).await?;
        self.mark_page(&already_sent, &written, r).await?;
        if accounts > 0 {
            self.engine.progress.advance(accounts as u64);
        }
        Ok(())
    }

    /// Page step 1: what each notice says, nothing written yet (its portal link, made here, is
    /// stored with the page's claim). Also the accounts closed since they were reconciled.
    async fn prepare_page(
        &self,
        pairs: Vec<(AccountRow, LegacyAccount)>,
    ) -> Result<(Vec<Prepared<'static>>, Vec<String>), EngineError> {
        use std::collections::HashMap;
        let id = self.wave.id.as_str();
        let numbers: Vec<String> = pairs.iter().map(|(row, _)| row.account_number.clone()).collect();
        // Read before the transaction (a scratch store has one connection).
        let submitted = self.store().recipients_of(&numbers).await?;
        let stored = self.store().verdicts(&numbers).await?;
        let sent_before = self.store().sent_notice_kinds(&numbers).await?;
        let mut verdicts: HashMap<&str, Vec<&str>> = HashMap::new();
        for (account, data) in &stored {
            verdicts.entry(account.as_str()).or_default().push(data.as_str());
        }
        let mut closed = Vec::new();
        let mut page = Vec::new();
        for (i, (row, acct)) in pairs.into_iter().enumerate() {
            // The page before may be finishing meanwhile (`deliver_due`): it gets its turns.
            if i % 8 == 7 {
                tokio::task::yield_now().await;
            }
            let number = row.account_number.as_str();
            let Some(sched) = row.schedule() else { continue };
            if acct.account.status == crate::domain::AccountStatus::Closed && row.state == State::Reconciled {
                closed.push(row.account_number);
                continue;
            }
            let raw = acct.billing_emails(submitted.get(number).map(|s| &s.emails[..]));
            let (to, rejected) = notify::recipients(&raw);
            let mut data =
                self.notice_data_from(&acct, &sched, &to, verdicts.get(number).map_or(&[][..], |v| &v[..]))?;
            data.earlier_first_new_bill_date =
                earlier_date(sent_before.get(number).map_or(&[][..], |k| &k[..]), sched.first_new_bill_date);
            let kind = notice_kind(sched.first_new_bill_date);
            let link = self.engine.new_link(number, id, &kind, sched.first_new_bill_date)?;
            data.portal_url = link.as_ref().map(|l| l.url.clone());
            let message_id = notify::message_id(id, number, &kind, &self.domain);
            let channel = if to.is_empty() { "print" } else { "email" };
            let recipients = data.recipients.join(";");
            let rendered = self.renderer.render(&data)?;
            page.push(Prepared {
                acct: std::borrow::Cow::Owned(acct),
                sched,
                to,
                rejected,
                data,
                rendered,
                kind,
                message_id,
                channel,
                recipients,
                link,
            });
        }
        Ok((page, closed))
    }

    /// Page step 2: the closed accounts held, and every notice recorded and taken, in one
    /// transaction committed before any file is published under its name.
    async fn claim_page(
        &self,
        page: &[Prepared<'_>],
        closed: &[&str],
        now: DateTime<Utc>,
        r: &mut StageReport,
    ) -> Result<ClaimedPage, EngineError> {
        let id = self.wave.id.as_str();
        let mut claimed = ClaimedPage::default();
        let mut tx = self.store().begin().await?;
        let held: Vec<Transition<'_>> = closed
            .iter()
            .map(|number| Transition { to: State::Held, ..self.transition(number, State::Reconciled, CLOSED, None) })
            .collect();
        // Counted when it happened here: another worker that read the same page moved (and
        // counted) the others.
        for moved in self.store().transitions_in(&mut tx, &held).await? {
            self.count(Outcome::Held.if_moved(moved), r);
        }
        // The links the page's notices carry, stored before any of them can be published.
        let links: Vec<(&str, &crate::store::LinkRow)> =
            page.iter().filter_map(|p| p.link.as_ref()).map(|l| (l.token_hash.as_str(), &l.row)).collect();
        self.store().portal_links_put_in(&mut tx, &links, now).await?;
        let claims: Vec<_> = page.iter().map(|p| p.claim(id, now)).collect();
        let notices = self.store().notice_claims_in(&mut tx, &claims).await?;
        let mut to_take = Vec::new();
        for (i, notice) in notices.into_iter().enumerate() {
            // Real clock: a retry's due time and a worker's lease run on the wall clock.
            match next_step(&notice, true, Utc::now()) {
                Next::AlreadySent => claimed.already_sent.push((i, notice.channel)),
                Next::Failed => self.count(Outcome::Failed, r),
                Next::RetryLater => self.count(Outcome::Retry, r),
                Next::Skip => {}
                Next::Take => to_take.push((i, notice)),
            }
        }
        // Taken together, for this worker; one another worker took meanwhile is not taken here.
        let keys: Vec<(&str, &str)> = to_take
            .iter()
            .map(|&(i, _)| (page[i].acct.account.account_number.as_str(), page[i].kind.as_str()))
            .collect();
        let owner = Some((self.engine.worker.as_str(), crate::store::lease::lease_secs()));
        // Real clock: the take compares it with a retry's real due time.
        let taken = self.store().notice_starts_in(&mut tx, id, &keys, Some(None), Utc::now(), owner).await?;
        claimed.taken.extend(to_take.into_iter().zip(taken).filter(|(_, t)| *t).map(|(pn, _)| pn));
        tx.commit().await.map_err(|e| self.store().err(e))?;
        for _ in &claimed.taken {
            crate::failpoint::hit("notify.claimed");
        }
        Ok(claimed)
    }

    /// Page step 3: the taken notices' files (an email refused for good becomes a letter), made
    /// durable together. A file that could not be written, or whose batch could not be made
    /// durable, counts as a transient failure.
    async fn write_page<'p>(
        &self,
        mut files: FileBatch,
        taken: Vec<(Prepared<'p>, NoticeRow, Option<Built>)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<WrittenNotice<'p>>, EngineError> {
        let mut written = Vec::with_capacity(taken.len());
        // Each notice's file, when one was handed over: its place in the batch, and its name.
        let mut handed = Vec::with_capacity(taken.len());
        for (p, notice, built) in taken {
            let (w, file) = self.write_page_notice(&mut files, p, notice, built, now).await?;
            written.push(w);
            handed.push(file);
        }
        // Off the runtime's thread: it waits for the writer, then syncs (the next page is read
        // meanwhile, on this runtime).
        let (results, durable) = tokio::task::spawn_blocking(move || files.commit())
            .await
            .unwrap_or_else(|e| (Vec::new(), Err(std::io::Error::other(format!("writing the files stopped: {e}")))));
        let unsure = durable.err().map(|e| format!("{}: {e}", self.print_dir().display()));
        for (w, file) in written.iter_mut().zip(handed) {
            let Some((i, path)) = file else { continue };
            w.result = match (results.get(i), &unsure) {
                (Some(Ok(())), None) => Ok(()),
                (Some(Ok(())), Some(why)) => Err(SendError::Transient(why.clone())),
                (Some(Err(e)), _) => Err(SendError::Transient(format!("{}: {e}", path.display()))),
                (None, _) => Err(SendError::Transient(format!("{}: not written", path.display()))),
            };
        }
        for w in &written {
            if w.result.is_ok() {
                crate::failpoint::hit("notify.sent_unmarked");
            }
        }
        Ok(written)
    }

    /// One taken notice's file handed to the page's batch: the email (as built beforehand, if it
    /// was), or the printed letter. Returns the notice (its result `Ok` until the batch says
    /// otherwise) and its file's place in the batch and name, if it has one.
    async fn write_page_notice<'p>(
        &self,
        files: &mut FileBatch,
        p: Prepared<'p>,
        notice: NoticeRow,
        built: Option<Built>,
        now: DateTime<Utc>,
    ) -> Result<(WrittenNotice<'p>, Option<(usize, PathBuf)>), EngineError> {
        let mut channel = notice.channel.clone();
        let mut rejected = p.rejected.clone();
        let mut file = None;
        let mut result = if channel == "print" {
            // Recorded as a letter before (its email was refused): the email built is not sent.
            if let Some(Ok((i, _))) = built {
                files.discard(i);
            }
            file = Some(self.page_letter(files, &p)?);
            Ok(())
        } else {
            built.unwrap_or_else(|| self.email_file(files, &p, now)).map(|handed| file = Some(handed))
        };
        // The message cannot be built: the customer still hears from us, by letter.
        if let Err(e) = &result
            && channel == "email"
            && !e.is_transient()
        {
            self.reroute_to_print(&p, e, &mut channel, &mut rejected).await?;
            file = Some(self.page_letter(files, &p)?);
            result = Ok(());
        }
        Ok((WrittenNotice { p, notice, channel, rejected, result }, file))
    }

    /// Page step 4: every notice marked (`sent`, or `retry`/`failed` with the error) and the
    /// accounts sent to moved to `notified`, in one transaction.
    async fn mark_page(
        &self,
        already_sent: &[(Prepared<'_>, String)],
        written: &[WrittenNotice<'_>],
        r: &mut StageReport,
    ) -> Result<(), EngineError> {
        let mut tx = self.store().begin().await?;
        // The accounts sent to, moved to `notified` together after their notices are marked.
        let mut notified = Vec::new();
        for (p, channel) in already_sent {
            let number = p.acct.account.account_number.as_str();
            let why = Self::notified_reason(channel, &p.message_id, &p.recipients, &p.rejected);
            notified.push(Transition { to: State::Notified, ..self.transition(number, State::Reconciled, why, None) });
        }
        // Each written notice's mark: sent, or what its failure makes of it (with the error).
        let errors: Vec<Option<String>> =
            written.iter().map(|w| w.result.as_ref().err().map(ToString::to_string)).collect();
        let mut marks = Vec::with_capacity(written.len());
        for (WrittenNotice { p, notice, channel, rejected, result }, error) in written.iter().zip(&errors) {
            let number = p.acct.account.account_number.as_str();
            match result {
                // Counted below, where its account moves.
                Ok(()) => {
                    marks.push(self.mark(p, NoticeState::Sent, None, None));
                    let why = Self::notified_reason(channel, &p.message_id, &p.recipients, rejected);
                    notified.push(Transition {
                        to: State::Notified,
                        ..self.transition(number, State::Reconciled, why, None)
                    });
                }
                Err(e) => {
                    let (state, retry_at, outcome) = self.after_failure(notice.attempts, e);
                    marks.push(self.mark(p, state, error.as_deref(), retry_at));
                    self.count(outcome, r);
                }
            }
        }
        self.store().notice_marks_in(&mut tx, &marks).await?;
        let moved = self.store().transitions_in(&mut tx, &notified).await?;
        tx.commit().await.map_err(|e| self.store().err(e))?;
        // A sent notice counts once, where its account moves: one found sent that another
        // worker reading the same page moved is that worker's (issue 12's team mode).
        for moved in moved {
            self.count(Outcome::Sent.if_moved(moved), r);
        }
        Ok(())
    }

    /// Each prepared email's outbox file (`None` for a letter), built a few at a time: between
    /// them, the claim that runs beside this in the same task (`tokio::join!`) sends its next
    /// statement to the store's thread.
    async fn build_emails(
        &self,
        files: &mut FileBatch,
        page: &[Prepared<'_>],
        now: DateTime<Utc>,
    ) -> Vec<Option<Built>> {
        let mut built = Vec::with_capacity(page.len());
        for (i, p) in page.iter().enumerate() {
            built.push((p.channel == "email").then(|| self.email_file(files, p, now)));
            if i % 8 == 7 {
                tokio::task::yield_now().await;
            }
        }
        built
    }

    /// A notice's email built into an outbox file and handed to the page's files: its place
    /// there and its name.
    fn email_file(&self, files: &mut FileBatch, p: &Prepared<'_>, now: DateTime<Utc>) -> Built {
        let email = self.email(p, now);
        match self.mailer.outbox_path(&email)? {
            Some(path) => Ok((files.write_email(path.clone(), email), path)),
            None => Err(SendError::Permanent("not an outbox".into())),
        }
    }

    /// A page notice's printed letter, handed to the page's files: its place there, and its name.
    fn page_letter(&self, files: &mut FileBatch, p: &Prepared<'_>) -> Result<(usize, PathBuf), EngineError> {
        let number = p.acct.account.account_number.as_str();
        let html = self.renderer.render_letter(&self.letter_data(&p.acct, p.data.clone()))?;
        let path = self.print_dir().join(letter::letter_file_name(&self.wave.id, number, p.sched.first_new_bill_date));
        Ok((files.write(path.clone(), html.into_bytes()), path))
    }

    fn count(&self, o: Outcome, r: &mut StageReport) {
        match o {
            Outcome::Sent => r.done += 1,
            Outcome::Retry => r.retried += 1,
            Outcome::Failed => r.failed += 1,
            Outcome::Held => r.held += 1,
            Outcome::Skipped => {}
        }
    }

    /// Retries transient failures inside this run, sleeping until each is due, until they are
    /// delivered or out of attempts (or the process is asked to stop).
    async fn retry_pending(&self, r: &mut StageReport) -> Result<(), EngineError> {
        loop {
            if self.stopping() {
                return Ok(());
            }
            let pending = self.store().notices(&self.wave.id, Some(NoticeState::Retry)).await?;
            let Some(next) = pending.iter().filter_map(|n| n.retry_at.as_deref()?.parse::<DateTime<Utc>>().ok()).min()
            else {
                return Ok(());
            };
            // Sleep in short steps, so a stop request is honoured promptly. Real clock: a retry is
            // due after a real wait (the backoff), not at the run's simulated time.
            while Utc::now() < next && !self.stopping() {
                let left = (next - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(left.min(std::time::Duration::from_millis(200))).await;
            }
            if self.stopping() {
                return Ok(());
            }
            let mut rows = Vec::new();
            for n in &pending {
                if let Some(row) = self.store().account(&n.account_number).await?
                    && row.state == State::Reconciled
                {
                    rows.push(row);
                }
            }
            if rows.is_empty() {
                return Ok(());
            }
            r.retried = r.retried.saturating_sub(rows.len() as u64);
            self.deliver_all(rows, r).await?;
        }
    }

    fn transition<'t>(
        &'t self,
        account: &'t str,
        from: State,
        reason: impl Into<std::borrow::Cow<'t, str>>,
        schedule: Option<Option<Schedule>>,
    ) -> Transition<'t> {
        Transition { account, from, to: from, actor: &self.ctx.actor, reason: reason.into(), at: self.ctx.at, schedule }
    }

    /// The temporary files a stopped run left in the outbox and print folders, removed once per
    /// process and folder (older than a lease: no live worker's), and said in the report.
    fn sweep_stale_temporaries(&self, r: &mut StageReport) {
        static SWEPT: std::sync::Mutex<std::collections::BTreeSet<PathBuf>> =
            std::sync::Mutex::new(std::collections::BTreeSet::new());
        let mut dirs = vec![self.print_dir()];
        if let Mailer::Outbox(d) = self.mailer {
            dirs.push(d.clone());
        }
        let age = std::time::Duration::from_secs(crate::store::lease::lease_secs().unsigned_abs());
        for dir in dirs {
            if !SWEPT.lock().map(|mut swept| swept.insert(dir.clone())).unwrap_or(false) {
                continue;
            }
            match crate::durable::remove_stale_temporaries(&dir, age) {
                Ok(0) => {}
                Ok(n) => r.notes.push(format!("removed {n} temporary file(s) a stopped run left in {}", dir.display())),
                Err(e) => r.notes.push(format!("could not clear the temporary files in {}: {e}", dir.display())),
            }
        }
    }

    /// Where printed letters go: `print/` in the outbox folder, or in the workspace over SMTP.
    fn print_dir(&self) -> std::path::PathBuf {
        match self.mailer {
            Mailer::Outbox(d) => d.join("print"),
            Mailer::Smtp(_) => self.engine.ws.root.join("print"),
        }
    }

    /// What the printed letter says: the notice, dated the run's day, on the workspace's
    /// letterhead, to the account's postal address (none yet: the name alone).
    fn letter_data(&self, acct: &LegacyAccount, notice: NoticeData) -> LetterData {
        let remit_to = &self.engine.ws.config.remit_to;
        let contact = letter::postal_contact(acct);
        LetterData {
            letter_date: long_date(self.ctx.as_of),
            letterhead: remit_to.clone(),
            return_address: remit_to.join(", "),
            address: letter::address_lines(&acct.account.name, contact),
            mailable: contact.is_some(),
            contact_email: Some(self.from.email.to_string()),
            notice,
        }
    }

    /// Every day's letters of the wave in one print-ready file (`<wave>-<day>-letters.html`,
    /// beside the per-account letters), built from the notice rows printed and sent that day and
    /// their letter files, in account order. Rewritten (to a temporary name, then renamed) only
    /// when its bytes change, so a rerun leaves it as it is; a run on the same day after a crash
    /// between a letter and its day file makes them agree again, and a missing day file is
    /// rebuilt on any later run.
    async fn letters_of_the_days(&self, r: &mut StageReport) -> Result<(), EngineError> {
        let id = &self.wave.id;
        let mut days: std::collections::BTreeMap<chrono::NaiveDate, Vec<String>> = Default::default();
        for (account, kind, sent_at) in self.store().printed_notices(id).await? {
            let day = sent_at.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.date_naive());
            let first = kind.strip_prefix(notify::NOTICE_KIND).and_then(|k| k.strip_prefix('-'));
            let first = first.and_then(|d| d.parse::<chrono::NaiveDate>().ok());
            let (Some(day), Some(first)) = (day, first) else { continue };
            days.entry(day).or_default().push(letter::letter_file_name(id, &account, first));
        }
        let dir = self.print_dir();
        // A day file whose letters all moved to another day (a notice resent by a person's
        // decision is dated the day it went out) holds no letter of that day any more.
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let day = name.strip_prefix(&format!("{id}-")).and_then(|n| n.strip_suffix("-letters.html"));
            if day.and_then(|d| d.parse::<chrono::NaiveDate>().ok()).is_some_and(|d| !days.contains_key(&d)) {
                std::fs::remove_file(e.path())
                    .map_err(|cause| EngineError::Io { path: e.path().display().to_string(), cause })?;
            }
        }
        for (day, mut names) in days {
            let path = dir.join(letter::day_file_name(id, day));
            // Only the run's own day is rebuilt (its letters may have changed) and a day whose file
            // is missing; an earlier day's file stands as written (rereading every letter of every
            // day on each run made a simulated year of daily runs slow).
            if day != self.ctx.as_of && path.exists() {
                continue;
            }
            names.sort();
            names.dedup();
            let mut letters = Vec::with_capacity(names.len());
            for name in &names {
                match std::fs::read_to_string(dir.join(name)) {
                    Ok(text) => letters.push(text),
                    Err(e) => r.notes.push(format!(
                        "{}: a letter printed on {day} is missing from the day's letters ({e})",
                        dir.join(name).display()
                    )),
                }
            }
            let doc = letter::day_document(&letters);
            if std::fs::read(&path).is_ok_and(|old| old == doc.as_bytes()) {
                continue;
            }
            write_atomically(&path, doc.as_bytes())
                .map_err(|cause| EngineError::Io { path: path.display().to_string(), cause })?;
        }
        Ok(())
    }

    /// One account's notice, from claim to `notified`.
    async fn deliver(&self, row: &AccountRow, acct: &LegacyAccount) -> Result<Outcome, EngineError> {
        // Asked to stop: the messages in hand are finished, no other is started (the account
        // stays due, for the next worker).
        if self.stopping() {
            return Ok(Outcome::Skipped);
        }
        let number = row.account_number.as_str();
        let Some(sched) = row.schedule() else { return Ok(Outcome::Skipped) };
        // Closed since it was reconciled (seen by a fresher extraction): nobody to tell.
        if acct.account.status == crate::domain::AccountStatus::Closed && row.state == State::Reconciled {
            let t = Transition { to: State::Held, ..self.transition(number, State::Reconciled, CLOSED, None) };
            return Ok(Outcome::Held.if_moved(self.store().transition(&t).await?));
        }
        let now = self.ctx.now();
        let mut p = self.prepare_one(acct, sched).await?;
        let notice = self.store().notice_claim(&p.claim(&self.wave.id, now)).await?;
        let resend_safe = self.resend_safe(&notice.channel);
        // In flight when a process died (over SMTP): step 1 (`in_flight`) reports it; a person
        // decides. Real clock: a retry is due once its real wait has passed (see `retry_pending`),
        // and a worker's lease runs on the wall clock.
        match next_step(&notice, resend_safe, Utc::now()) {
            Next::AlreadySent => {
                // Sent by another worker (or before a crash): counted here only if this moves
                // the account.
                return self.notified(number, &notice.channel, &p.message_id, &p.recipients, &p.rejected).await;
            }
            Next::Failed => return Ok(Outcome::Failed),
            Next::RetryLater => return Ok(Outcome::Retry),
            Next::Skip => return Ok(Outcome::Skipped),
            Next::Take => {}
        }
        self.with_portal_link(&mut p, now).await?;
        if !self.take(&p, &notice, resend_safe).await? {
            return Ok(Outcome::Skipped);
        }
        crate::failpoint::hit("notify.claimed");
        let sent = self.send_one(p, notice, now).await?;
        self.mark_one(sent).await
    }

    /// What one account's notice says and where it goes, before anything is written.
    async fn prepare_one<'p>(&self, acct: &'p LegacyAccount, sched: Schedule) -> Result<Prepared<'p>, EngineError> {
        let (id, number) = (self.wave.id.as_str(), acct.account.account_number.as_str());
        let submitted = self.store().recipients(number).await?;
        let raw = acct.billing_emails(submitted.as_ref().map(|s| &s.emails[..]));
        let (to, rejected) = notify::recipients(&raw);
        let data = self.notice_data(acct, &sched, &to).await?;
        let rendered = self.renderer.render(&data)?;
        let kind = notice_kind(sched.first_new_bill_date);
        let message_id = notify::message_id(id, number, &kind, &self.domain);
        let channel = if to.is_empty() { "print" } else { "email" };
        let recipients = data.recipients.join(";");
        let acct = std::borrow::Cow::Borrowed(acct);
        Ok(Prepared { acct, sched, to, rejected, data, rendered, kind, message_id, channel, recipients, link: None })
    }

    /// The portal's personal link, when the workspace runs the portal: a new token each time
    /// the notice is about to be sent or written again (an earlier link stays valid; issue 13).
    /// Made before the notice is taken, so a template error leaves no notice in `sending`.
    async fn with_portal_link(&self, p: &mut Prepared<'_>, now: DateTime<Utc>) -> Result<(), EngineError> {
        let (id, number) = (self.wave.id.as_str(), p.acct.account.account_number.as_str());
        if let Some(url) = self.engine.issue_link(number, id, &p.kind, p.sched.first_new_bill_date, now).await? {
            p.data.portal_url = Some(url);
            p.rendered = self.renderer.render(&p.data)?;
        }
        Ok(())
    }

    /// Takes the notice for sending, atomically: false when another process took it first (then
    /// this one does not send it). A notice left `sending` is taken over only from a dead worker
    /// (`next_step` skipped a live one), and by one worker only.
    async fn take(&self, p: &Prepared<'_>, notice: &NoticeRow, resend_safe: bool) -> Result<bool, EngineError> {
        let (id, number) = (self.wave.id.as_str(), p.acct.account.account_number.as_str());
        let take_over = resend_safe.then_some(Some(notice.owner.as_deref().unwrap_or("")));
        let (worker, secs) = (&self.engine.worker, crate::store::lease::lease_secs());
        // Real clock: the claim compares it with a retry's real due time; leases run on it too.
        Ok(self.store().notice_start_as(id, number, &p.kind, take_over, worker, secs, Utc::now()).await?)
    }

    /// Sends a taken notice by email (SMTP or outbox file) or writes its printed letter; an
    /// email refused for good (5xx) becomes a letter.
    async fn send_one<'p>(
        &self,
        p: Prepared<'p>,
        notice: NoticeRow,
        now: DateTime<Utc>,
    ) -> Result<WrittenNotice<'p>, EngineError> {
        let (id, number) = (self.wave.id.as_str(), p.acct.account.account_number.as_str());
        // The printed letter: its own template (dated, addressed for a window envelope).
        let letter_html = self.renderer.render_letter(&self.letter_data(&p.acct, p.data.clone()))?;
        let letter = || {
            let path = self.print_dir().join(letter::letter_file_name(id, number, p.sched.first_new_bill_date));
            write_atomically(&path, letter_html.as_bytes())
                .map_err(|e| SendError::Transient(format!("{}: {e}", path.display())))
        };
        let mut channel = notice.channel.clone();
        let mut rejected = p.rejected.clone();
        let mut result = if channel == "print" { letter() } else { self.mailer.send(&self.email(&p, now)).await };
        // Refused for good (5xx): the customer still hears from us, by letter.
        if let Err(e) = &result
            && channel == "email"
            && !e.is_transient()
        {
            self.reroute_to_print(&p, e, &mut channel, &mut rejected).await?;
            result = letter();
        }
        Ok(WrittenNotice { p, notice, channel, rejected, result })
    }

    /// An email refused for good becomes a printed letter: the row says `print` (keeping the
    /// refusal) before the letter is written, so a crash in between is finished like a letter.
    async fn reroute_to_print(
        &self,
        p: &Prepared<'_>,
        e: &SendError,
        channel: &mut String,
        rejected: &mut Vec<String>,
    ) -> Result<(), EngineError> {
        let why = format!("email refused for good ({e}); a letter is printed instead");
        let (id, number) = (self.wave.id.as_str(), p.acct.account.account_number.as_str());
        self.store().notice_reroute_to_print(id, number, &p.kind, &why).await?;
        *channel = "print".into();
        rejected.push(why);
        Ok(())
    }

    /// Records what became of a sent notice: `sent` the moment the server took it (the only
    /// window for a duplicate is just before), then the account `notified`; or `retry`/`failed`.
    async fn mark_one(&self, w: WrittenNotice<'_>) -> Result<Outcome, EngineError> {
        let WrittenNotice { p, notice, channel, rejected, result } = w;
        let number = p.acct.account.account_number.as_str();
        match result {
            Ok(()) => {
                crate::failpoint::hit("notify.sent_unmarked");
                // `sent` committed on its own, at once: the account's move may wait for a lock
                // (a PostgreSQL extraction holds every account row), and the mark must not.
                self.store().notice_mark(&self.mark(&p, NoticeState::Sent, None, None)).await?;
                // Counted where the account moves: another worker that found it sent meanwhile
                // moved it, and counted it, instead.
                self.notified(number, &channel, &p.message_id, &p.recipients, &rejected).await
            }
            Err(e) => {
                let (state, retry_at, outcome) = self.after_failure(notice.attempts, &e);
                let error = e.to_string();
                self.store().notice_mark(&self.mark(&p, state, Some(&error), retry_at)).await?;
                Ok(outcome)
            }
        }
    }

    /// The email of a prepared notice (sent over SMTP or written to the outbox folder).
    fn email(&self, p: &Prepared<'_>, now: DateTime<Utc>) -> Email {
        let (id, number) = (self.wave.id.as_str(), p.acct.account.account_number.as_str());
        Email {
            from: self.from.clone(),
            to: p.to.clone(),
            subject: p.rendered.subject.clone(),
            text: p.rendered.text.clone(),
            html: p.rendered.html.clone(),
            message_id: p.message_id.clone(),
            date: now.into(),
            file_stem: format!("{id}-{number}-{}", p.sched.first_new_bill_date),
        }
    }

    /// A change of a prepared notice's delivery state, stamped with the run's time.
    fn mark<'m>(
        &'m self,
        p: &'m Prepared<'_>,
        state: NoticeState,
        error: Option<&'m str>,
        retry_at: Option<DateTime<Utc>>,
    ) -> NoticeMark<'m> {
        NoticeMark {
            wave: &self.wave.id,
            account: &p.acct.account.account_number,
            kind: &p.kind,
            state,
            error,
            retry_at,
            at: self.ctx.now(),
        }
    }

    /// What a failed attempt makes of a notice that had `attempts` before it: a retry after the
    /// backoff (a transient failure with attempts left), or failed for good.
    fn after_failure(&self, attempts: i64, e: &SendError) -> (NoticeState, Option<DateTime<Utc>>, Outcome) {
        let attempts = u32::try_from(attempts + 1).unwrap_or(u32::MAX);
        let delivery = &self.engine.ws.config.delivery;
        if e.is_transient() && attempts < delivery.max_attempts {
            // Real clock: the retry is due after the backoff in real time.
            let wait = chrono::Duration::from_std(delivery.backoff(attempts)).unwrap_or_default();
            (NoticeState::Retry, Some(Utc::now() + wait), Outcome::Retry)
        } else {
            (NoticeState::Failed, None, Outcome::Failed)
        }
    }

    /// Moves the account of a sent notice to `notified`: `Sent` when this moved it, `Skipped`
    /// when it was not in `reconciled` any more (another worker moved it, and counted the
    /// notice). A sent notice counts once, where its account moves.
    async fn notified(
        &self,
        number: &str,
        channel: &str,
        message_id: &str,
        recipients: &str,
        rejected: &[String],
    ) -> Result<Outcome, EngineError> {
        let why = Self::notified_reason(channel, message_id, recipients, rejected);
        let t = Transition { to: State::Notified, ..self.transition(number, State::Reconciled, &why, None) };
        Ok(Outcome::Sent.if_moved(self.store().transition(&t).await?))
    }

    /// The journal's reason for `reconciled → notified`.
    fn notified_reason(channel: &str, message_id: &str, recipients: &str, rejected: &[String]) -> String {
        let mut why = if channel == "print" && rejected.iter().any(|r| r.starts_with("email refused")) {
            "notice printed for mailing".to_string()
        } else if channel == "print" {
            "notice printed for mailing (no valid billing email)".to_string()
        } else {
            format!("notice emailed to {} ({message_id})", recipients.replace(';', ", "))
        };
        if !rejected.is_empty() {
            why.push_str(&format!("; rejected: {}", rejected.join("; ")));
        }
        why
    }

    /// What the notice says: dates, addresses, and a preview of the customer's first new bill.
    async fn notice_data(
        &self,
        acct: &LegacyAccount,
        s: &Schedule,
        to: &[notify::EmailAddress],
    ) -> Result<NoticeData, EngineError> {
        let verdicts = self.store().verdicts(std::slice::from_ref(&acct.account.account_number)).await?;
        let verdicts: Vec<&str> = verdicts.iter().map(|(_, data)| data.as_str()).collect();
        let mut data = self.notice_data_from(acct, s, to, &verdicts)?;
        let sent_before = self.store().sent_notice_kinds(std::slice::from_ref(&acct.account.account_number)).await?;
        data.earlier_first_new_bill_date = earlier_date(
            sent_before.get(&acct.account.account_number).map_or(&[][..], |k| &k[..]),
            s.first_new_bill_date,
        );
        Ok(data)
    }

    /// [`Notifier::notice_data`] from the account's stored period verdicts (JSON), read beforehand.
    // Long: the notice's fields gathered into one `NoticeData` (preview, usage note, change note), mostly a struct literal.
    fn notice_data_from(
        &self,
        acct: &LegacyAccount,
        s: &Schedule,
        to: &[notify::EmailAddress],
        verdicts: &[&str],
    ) -> Result<NoticeData, EngineError> {
        let catalog = &self.engine.plan.catalog;
        let period = Period::of(s.first_new_bill_date);
        // Usage is billed in arrears and is not known a month ahead: the preview shows the
        // recurring and one-time lines only, and says which usage period the first new bill (or a
        // final legacy bill) carries.
        let terms = Engine::terms(self.wave, Some(s));
        let preview = crate::rate::rate_on(acct, catalog, period, terms).ok().map(|r| {
            let mut b = r.bill;
            b.lines.retain(|l| l.charge_type != crate::rate::LineType::Usage);
            b.total = b.lines.iter().map(|l| l.amount).sum();
            b
        });
        // Compared like with like: the last legacy bill's non-usage lines.
        let is_usage =
            |code: &str| catalog.lookup(code).is_some_and(|(_, c)| c.charge_type == crate::plan::ChargeType::Usage);
        let last_legacy = acct.legacy_periods().last().map(|p| {
            acct.invoice_lines
                .iter()
                .filter(|l| l.period == *p && !is_usage(&l.legacy_code))
                .map(|l| l.amount)
                .sum::<Decimal>()
        });
        let has_usage = acct.services.iter().any(|svc| {
            catalog.lookup(&svc.legacy_code).is_some_and(|(_, c)| c.charge_type == crate::plan::ChargeType::Usage)
        });
        let usage_note = has_usage.then(|| {
            let last = crate::rate::Handover::at(s.first_new_bill_date, self.wave.usage_carryover)
                .last_legacy_period(acct.account.bill_cycle_day);
            let (from, to, bill) = (long_date(last.start), long_date(last.end), long_date(s.first_new_bill_date));
            match self.wave.usage_carryover {
                crate::plan::UsageCarryover::New => format!(
                    "Usage is billed after the period it is used in. Your usage from {from} to {to}, the last \
                     period of the old system, will be on your first new bill, dated {bill}, and on no other bill. \
                     After that, each new bill carries the usage of the period before it."
                ),
                crate::plan::UsageCarryover::Legacy => format!(
                    "Usage is billed after the period it is used in. Your usage from {from} to {to}, the last \
                     period of the old system, will be billed once, on a final bill from the old system dated \
                     {bill}. Your first new bill carries no usage; the next one carries your usage from {bill} on."
                ),
            }
        });
        let mut reasons = Vec::new();
        for data in verdicts {
            let v: crate::reconcile::PeriodVerdict = serde_json::from_str(data).map_err(|e| {
                crate::store::StoreError::Corrupt(format!("verdict of {}: {e}", acct.account.account_number))
            })?;
            reasons.extend(v.reasons);
        }
        let (prices_unchanged, why) = crate::notify::render::change_explained(&reasons);
        let preview_total = preview.as_ref().map(|b| b.total);
        let mut change_note = None;
        if let (Some(new), Some(old)) = (preview_total, last_legacy)
            && new != old
        {
            let currency = &acct.account.currency;
            let because = if why.is_empty() {
                "The difference comes from the services active in each period.".to_string()
            } else {
                format!("The difference: {}.", why.join("; "))
            };
            let mut note = format!(
                "Your recurring and one-time charges come to {} {currency} on your first new bill, against \
                 {} {currency} on your last bill. {because}",
                money(new),
                money(old)
            );
            if has_usage {
                note.push_str(" Usage charges follow your actual usage each month, as before.");
            }
            change_note = Some(note);
        }
        Ok(NoticeData {
            company: self.company.clone(),
            account_number: acct.account.account_number.clone(),
            account_name: acct.account.name.clone(),
            wave_name: self.wave.name.clone(),
            first_new_bill_date: long_date(s.first_new_bill_date),
            cutover_date: long_date(s.cutover_date),
            recipients: to.iter().map(|a| a.to_string()).collect(),
            remit_to: self.engine.ws.config.remit_to.clone(),
            preview: preview
                .as_ref()
                .map(|b| {
                    b.lines
                        .iter()
                        .map(|l| PreviewLine {
                            group: l.group.to_string(),
                            product: l.product.to_string(),
                            charge: l.charge.to_string(),
                            service_period: if l.service_start == l.service_end {
                                long_date(l.service_start)
                            } else {
                                format!("{} - {}", long_date(l.service_start), long_date(l.service_end))
                            },
                            amount: money(l.amount),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            preview_total: preview_total.map(money),
            currency: acct.account.currency.clone(),
            has_usage,
            usage_note,
            change_note,
            prices_unchanged,
            portal_url: None,
            earlier_first_new_bill_date: None,
        })
    }
}

/// The first new bill date the latest earlier notice sent (of `kinds`) gave, in words, when it
/// is not `first_new_bill`'s: this notice replaces it (pure).
fn earlier_date(kinds: &[String], first_new_bill: chrono::NaiveDate) -> Option<String> {
    kinds.iter().filter_map(|k| notify::notice_kind_date(k)).filter(|d| *d != first_new_bill).max().map(long_date)
}

/// What `contacts import` did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ContactsReport {
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: Vec<notify::contacts::Rejected>,
    /// Updated accounts the change reaches only in part, and what the team must do.
    pub notes: Vec<String>,
}

/// What a change of billing addresses does not reach for an account in `state`, and what to do.
fn late_change(state: State) -> Option<&'static str> {
    match state {
        State::Notified => Some(
            "its notice went to the earlier addresses; its bills go to the new ones (the load files take them at \
             cut-over)",
        ),
        State::CutOver | State::Loaded => Some(
            "cut over already: its load files keep the addresses of its cut-over and are not rewritten; change the \
             Bill To email in the target system",
        ),
        _ => None,
    }
}

/// A notice as it would go out.
pub enum Preview {
    Email(crate::notify::render::Rendered),
    /// A printed letter (no valid billing email): to the address lines, mailable or not.
    Letter {
        address: Vec<String>,
        mailable: bool,
        html: String,
    },
}

/// What became of one submission of the billing-email form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The account's recipients changed (journaled); the account is in this state.
    Updated(State),
    /// Same addresses as now, or older than the account's latest submission.
    Unchanged,
    /// A portal post whose nonce was already taken: nothing done again.
    Repeated,
    UnknownAccount,
}

/// A wave's notices for the report: every notice row, and the accounts that cannot be scheduled.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoticeReport {
    pub wave: String,
    pub notices: Vec<crate::store::NoticeRow>,
    pub not_schedulable: Vec<(String, String)>,
    /// Held accounts whose notice was sent: told of a first new bill that will not come. With
    /// the reason each is held.
    pub held_after_notice: Vec<(String, String)>,
}

impl Engine {
    /// Imports the email submission form's results: latest submission wins, each change journaled.
    pub async fn import_contacts(&self, path: &std::path::Path, ctx: &Ctx) -> Result<ContactsReport, EngineError> {
        let shown = path.display().to_string();
        let bad = |m: String| EngineError::Refused(format!("{shown}: {m}"));
        let mut rdr = csv::ReaderBuilder::new().flexible(true).from_path(path).map_err(|e| bad(e.to_string()))?;
        let headers: Vec<String> =
            rdr.headers().map_err(|e| bad(e.to_string()))?.iter().map(|h| h.trim().to_string()).collect();
        let col = |name: &str| headers.iter().position(|h| h == name);
        let (Some(a), Some(e), Some(t)) = (col("account_number"), col("email"), col("submitted_at")) else {
            return Err(bad("needs the columns account_number, email, submitted_at (and optionally name)".into()));
        };
        let n = col("name");
        let mut rows = Vec::new();
        let mut rejected = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let line = i as u64 + 2;
            match rec {
                Ok(r) => rows.push(notify::contacts::FormRow {
                    line,
                    account_number: r.get(a).unwrap_or("").to_string(),
                    email: r.get(e).unwrap_or("").to_string(),
                    name: n.and_then(|n| r.get(n)).unwrap_or("").to_string(),
                    submitted_at: r.get(t).unwrap_or("").to_string(),
                }),
                Err(err) => rejected.push(notify::contacts::Rejected {
                    line,
                    account_number: String::new(),
                    reason: format!("unreadable row: {err}"),
                }),
            }
        }
        let (subs, more) = notify::contacts::latest(&rows);
        rejected.extend(more);
        let mut report = ContactsReport { rejected, ..ContactsReport::default() };
        for sub in subs {
            match self.apply_submission(&sub, &shown, None, ctx).await? {
                Applied::Updated(state) => {
                    report.updated += 1;
                    if let Some(why) = late_change(state) {
                        report.notes.push(format!("{}: {why}", sub.account_number));
                    }
                }
                Applied::Unchanged | Applied::Repeated => report.unchanged += 1,
                Applied::UnknownAccount => report.rejected.push(notify::contacts::Rejected {
                    line: sub.line,
                    account_number: sub.account_number.clone(),
                    reason: format!("unknown account {} (extract first)", sub.account_number),
                }),
            }
        }
        Ok(report)
    }

    /// Applies one submission of the billing-email form, from a file (`contacts import`) or the
    /// portal (`source` = `portal`, with the form's `nonce`: a post is taken once). The latest
    /// submission wins; a change of recipients is journaled on the account (no state change), in
    /// the same transaction as the recipients and the portal's record of the post.
    pub async fn apply_submission(
        &self,
        sub: &notify::contacts::Submission,
        source: &str,
        nonce: Option<&str>,
        ctx: &Ctx,
    ) -> Result<Applied, EngineError> {
        let Some(row) = self.store.account(&sub.account_number).await? else {
            return Ok(Applied::UnknownAccount);
        };
        let emails: Vec<String> = sub.emails.iter().map(|e| e.to_string()).collect();
        // Read before the transaction: a transaction waiting for a second connection of the pool
        // starves it under load (the portal's benchmark found it).
        let current = self.store.recipients(&sub.account_number).await?;
        // The addresses it replaces, named in the journal: the form's earlier ones, else the
        // legacy system's (its billing emails and its contacts').
        let legacy = match &current {
            Some(_) => Vec::new(),
            None => {
                let accts = self.store.legacy_accounts(std::slice::from_ref(&sub.account_number)).await?;
                let raw = accts.first().map(|a| a.billing_emails(None)).unwrap_or_default();
                notify::recipients(&raw).0.iter().map(|e| e.to_string()).collect()
            }
        };
        let mut tx = self.store.begin().await?;
        if let Some(nonce) = nonce
            && !self.store.portal_submission_in(&mut tx, nonce, &sub.account_number, &emails, ctx.at).await?
        {
            return Ok(Applied::Repeated);
        }
        let newer = current.as_ref().is_none_or(|c| {
            notify::contacts::parse_time(&c.submitted_at).is_none_or(|at| at.to_rfc3339() < sub.submitted_at)
        });
        if !newer || current.as_ref().is_some_and(|c| c.emails == emails) {
            tx.commit().await.map_err(|e| self.store.err(e))?;
            return Ok(Applied::Unchanged);
        }
        let was = match &current {
            Some(c) => c.emails.join(", "),
            None if legacy.is_empty() => "no valid legacy billing address".to_string(),
            None => format!("the legacy billing addresses {}", legacy.join(", ")),
        };
        let form = if source == "portal" { "the portal's email form" } else { "the email form" };
        let reason = format!(
            "billing recipients set to {} from {form} (submitted {}); were {was}{}",
            emails.join(", "),
            sub.submitted_at,
            late_change(row.state).map(|w| format!("; {w}")).unwrap_or_default()
        );
        let rec = crate::store::Recipients {
            account_number: sub.account_number.clone(),
            emails,
            name: sub.name.clone(),
            submitted_at: sub.submitted_at.clone(),
        };
        self.store.put_recipients_in(&mut tx, &rec, source, ctx.at).await?;
        self.store
            .journal_in(
                &mut tx,
                &sub.account_number,
                row.wave.as_deref(),
                &ctx.at.to_rfc3339(),
                &ctx.actor,
                row.state,
                row.state,
                &reason,
            )
            .await?;
        tx.commit().await.map_err(|e| self.store.err(e))?;
        Ok(Applied::Updated(row.state))
    }

    /// What one account's notice says as of `ctx` (its wave, its dates, its recipients), without
    /// a portal link: `notify --preview` and the portal's customer page show it.
    pub async fn notice_data_of(&self, account: &str, ctx: &Ctx) -> Result<NoticeData, EngineError> {
        Ok(self.notice_of(account, ctx).await?.0)
    }

    /// [`Engine::notice_data_of`], with the printed letter it is sent as when it has no
    /// recipient.
    async fn notice_of(&self, account: &str, ctx: &Ctx) -> Result<(NoticeData, Option<LetterData>), EngineError> {
        let row =
            self.store.account(account).await?.ok_or_else(|| crate::store::StoreError::NoAccount(account.into()))?;
        let wave_id =
            row.wave.clone().ok_or_else(|| EngineError::Refused(format!("no wave selects account {account}")))?;
        let wave = self.runnable_wave(&wave_id)?;
        let accts = self.store.legacy_accounts(std::slice::from_ref(&row.account_number)).await?;
        let acct = accts
            .into_iter()
            .next()
            .map(|a| a.as_of(ctx.as_of))
            .ok_or_else(|| crate::store::StoreError::NoAccount(account.into()))?;
        let acct = &acct;
        let sched = match row.schedule() {
            Some(s) => s,
            None => schedule(wave, acct.account.bill_cycle_day, ctx.as_of).map_err(EngineError::Refused)?,
        };
        let mailer = Mailer::Outbox(self.ws.root.clone());
        let n = Notifier::new(self, wave, ctx, &mailer)?;
        let submitted = self.store.recipients(account).await?;
        let (to, _) = notify::recipients(&acct.billing_emails(submitted.as_ref().map(|s| &s.emails[..])));
        let data = n.notice_data(acct, &sched, &to).await?;
        let letter = to.is_empty().then(|| n.letter_data(acct, data.clone()));
        Ok((data, letter))
    }

    /// Renders the notice one account would get (its wave, its dates, its recipients): the
    /// email, or the printed letter when it has no valid billing email.
    pub async fn preview_notice(&self, account: &str, ctx: &Ctx) -> Result<Preview, EngineError> {
        let (data, letter) = self.notice_of(account, ctx).await?;
        let renderer = Renderer::new(Some(&self.ws.path(&self.ws.config.templates)))?;
        Ok(match letter {
            Some(l) => {
                Preview::Letter { address: l.address.clone(), mailable: l.mailable, html: renderer.render_letter(&l)? }
            }
            None => Preview::Email(renderer.render(&data)?),
        })
    }

    /// A person's decision on a notice whose delivery is unknown: it was `sent` (the mail log
    /// shows it), or it should be sent again (`resend`, also for a notice that failed for good).
    /// The account moves on only when the notice is for its current dates. Journaled with the
    /// reason.
    pub async fn resolve_notice(
        &self,
        wave: &str,
        account: &str,
        sent: bool,
        reason: &str,
        ctx: &Ctx,
    ) -> Result<String, EngineError> {
        let allowed: &[NoticeState] =
            if sent { &[NoticeState::Sending] } else { &[NoticeState::Sending, NoticeState::Failed] };
        let notices = self.store.notices(wave, None).await?;
        let n = notices.iter().rev().find(|n| n.account_number == account && allowed.contains(&n.state)).ok_or_else(
            || {
                EngineError::Refused(format!(
                    "no notice of {account} in wave {wave} is {}; nothing to resolve",
                    if sent { "unknown" } else { "unknown or failed" }
                ))
            },
        )?;
        let row =
            self.store.account(account).await?.ok_or_else(|| crate::store::StoreError::NoAccount(account.into()))?;
        let current = row.schedule().map(|s| notice_kind(s.first_new_bill_date));
        let state = if sent { NoticeState::Sent } else { NoticeState::Queued };
        let m = NoticeMark { wave, account, kind: &n.kind, state, error: None, retry_at: None, at: ctx.now() };
        self.store.notice_mark(&m).await?;
        let why = if sent {
            format!("notice {} confirmed delivered by a person: {reason}", n.message_id)
        } else {
            format!("notice {} to be sent again, by a person's decision: {reason}", n.message_id)
        };
        let moves = sent && row.state == State::Reconciled && current.as_deref() == Some(n.kind.as_str());
        let to = if moves { State::Notified } else { row.state };
        let t = Transition {
            account,
            from: row.state,
            to,
            actor: &ctx.actor,
            reason: (&why).into(),
            at: ctx.at,
            schedule: None,
        };
        if !self.store.transition(&t).await? {
            return Err(EngineError::Refused(format!("{account} changed state meanwhile; run the command again")));
        }
        Ok(match (sent, moves) {
            (true, true) => format!("{account}: notice marked sent; the account is notified"),
            (true, false) => format!(
                "{account}: notice marked sent; the account is {} (that notice is not for its current dates)",
                row.state
            ),
            (false, _) => format!(
                "{account}: notice queued to be sent again on the next run (if its notice date has passed by \
                 then, the account moves to a later cycle and is notified of its new dates instead)"
            ),
        })
    }

    /// Every notice of a wave, the accounts that could not be scheduled and those held after
    /// their notice, from the store (the caller checks the wave is one: `Cx::open_on`).
    pub async fn notice_report(&self, wave: &str) -> Result<NoticeReport, EngineError> {
        let notices = self.store.notices(wave, None).await?;
        let told: std::collections::HashSet<&str> = notices
            .iter()
            .filter(|n| n.state == crate::store::NoticeState::Sent)
            .map(|n| n.account_number.as_str())
            .collect();
        let mut held_after_notice = Vec::new();
        let mut not_schedulable = Vec::new();
        let mut after = String::new();
        loop {
            let rows = self.store.next_page(wave, &[State::Held], &mut after).await?;
            if rows.is_empty() {
                break;
            }
            for r in rows {
                if told.contains(r.account_number.as_str()) {
                    held_after_notice.push((r.account_number.clone(), r.state_reason.clone().unwrap_or_default()));
                }
                if let Some(why) = r.state_reason.filter(|w| w.contains("not schedulable")) {
                    not_schedulable.push((r.account_number, why));
                }
            }
        }
        drop(told);
        Ok(NoticeReport { wave: wave.to_string(), notices, not_schedulable, held_after_notice })
    }
}

#[cfg(test)]
mod tests {
    use super::{Next, NoticeRow, NoticeState, next_step};
    use chrono::{DateTime, Duration, Utc};

    fn row(state: NoticeState, retry_at: Option<DateTime<Utc>>, lease_until: Option<DateTime<Utc>>) -> NoticeRow {
        NoticeRow {
            wave: "w".into(),
            account_number: "A1".into(),
            kind: "k".into(),
            message_id: "<m@x>".into(),
            channel: "email".into(),
            recipients: "a@x.example".into(),
            state,
            attempts: 1,
            last_error: None,
            sent_at: None,
            retry_at: retry_at.map(|t| t.to_rfc3339()),
            owner: lease_until.map(|_| "another-host.example:1:n".into()),
            lease_until: lease_until.map(crate::store::lease::stamp),
        }
    }

    #[test]
    fn what_a_claim_leads_to() {
        use NoticeState::*;
        let now: DateTime<Utc> = "2017-06-01T12:00:00Z".parse().unwrap();
        let (later, earlier) = (Some(now + Duration::minutes(5)), Some(now - Duration::minutes(5)));
        // (state, retry_at, lease_until, resend_safe) → next
        let table = [
            (Queued, None, None, false, Next::Take),
            (Queued, None, None, true, Next::Take),
            (Sent, None, None, false, Next::AlreadySent),
            (Failed, None, None, true, Next::Failed),
            (Retry, later, None, false, Next::RetryLater),
            (Retry, earlier, None, false, Next::Take),
            (Retry, None, None, false, Next::Take),
            // Left `sending` by a crash: over SMTP a person decides; a file is written again.
            (Sending, None, None, false, Next::Skip),
            (Sending, None, None, true, Next::Take),
            (Sending, None, earlier, true, Next::Take),
            // A live worker holds it: never this process's.
            (Sending, None, later, true, Next::Skip),
            (Superseded, None, None, true, Next::Take),
        ];
        for (state, retry_at, lease, safe, want) in table {
            let n = row(state, retry_at, lease);
            assert_eq!(next_step(&n, safe, now), want, "{state} retry_at {retry_at:?} lease {lease:?} safe {safe}");
        }
    }

    /// (kinds of the notices sent before, this notice's first new bill date, the date it says
    /// no longer holds)
    #[test]
    fn a_notice_names_the_latest_other_date_sent_before() {
        let kind = |d: &str| crate::notify::notice_kind(d.parse().unwrap());
        let table: [(&[&str], &str, Option<&str>); 5] = [
            (&[], "2017-08-01", None),
            (&["2017-08-01"], "2017-08-01", None), // its own, sent before a crash: a resend
            (&["2017-07-01"], "2017-08-01", Some("July 1, 2017")),
            (&["2017-06-15", "2017-07-01", "2017-08-01"], "2017-08-01", Some("July 1, 2017")),
            (&["2017-07-01"], "2017-07-01", None),
        ];
        for (sent, this, want) in table {
            let kinds: Vec<String> = sent.iter().map(|d| kind(d)).chain(["portal-welcome".to_string()]).collect();
            let got = super::earlier_date(&kinds, this.parse().unwrap());
            assert_eq!(got.as_deref(), want, "{sent:?} then {this}");
        }
    }

    #[test]
    fn notice_states_round_trip_as_their_stored_text() {
        for s in NoticeState::ALL {
            assert_eq!(s.as_str().parse::<NoticeState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::Value::String(s.as_str().into()));
        }
        for bad in ["", "Sent", "unknown", "snet"] {
            assert!(bad.parse::<NoticeState>().is_err(), "{bad}");
        }
    }
}
