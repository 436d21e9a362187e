//! The store's contract, one test per behaviour, each run against SQLite (a real file) and
//! PostgreSQL.

use super::support;
use chrono::{TimeZone, Utc};
use cutover::domain::State;
use cutover::extract::Source;
use cutover::reconcile::report::RunResult;
use cutover::store::extraction::Filter;
use cutover::store::{Due, Extraction, NewRun, NoticeState, Store, StoreError, Transition, WavePage};

async fn extract(store: &Store, plan: &cutover::plan::Plan) -> cutover::store::ExtractionCounts {
    let at = Utc.with_ymd_and_hms(2017, 5, 1, 12, 0, 0).unwrap();
    let mut ex = Extraction::begin(store, plan, "fixture", "test", at, Filter::All).await.expect("begin");
    cutover::extract::scan(&Source::Csv(support::fixtures().join("legacy")), &mut ex).await.expect("scan");
    ex.finish().await.expect("finish")
}

fn notice<'a>(message_id: &'a str, recipients: &'a str, at: chrono::DateTime<Utc>) -> cutover::store::NewNotice<'a> {
    cutover::store::NewNotice {
        wave: "dc1-colocation",
        account: "A001",
        kind: "first_new_bill",
        message_id,
        channel: "email",
        recipients,
        at,
    }
}

fn sched() -> cutover::plan::schedule::Schedule {
    cutover::plan::schedule::Schedule {
        cutover_date: "2017-06-30".parse().unwrap(),
        first_new_bill_date: "2017-07-01".parse().unwrap(),
        notice_date: "2017-06-01".parse().unwrap(),
    }
}

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2017, 5, 1, 12, 0, 0).unwrap()
}

/// A store with the fixture extracted once.
async fn extracted(store: &Store) -> cutover::store::ExtractionCounts {
    extract(store, &support::plan()).await
}

/// Extraction: good rows in, bad rows quarantined with their reason, accounts journaled once; a rerun is a full refresh; a crashed one leaves the last in place.
async fn extraction_quarantines_refreshes_and_survives_a_crash(store: Store) {
    let plan = support::plan();
    let at = at();

    // Extraction: good rows in, bad rows quarantined with their reason, accounts journaled once.
    let first = extract(&store, &plan).await;
    // 10 bad rows of SPEC §2's tables, and 2 of the contacts: an unknown role, a second bill_to.
    assert_eq!((first.accounts, first.quarantined), (5, 12), "{first:?}");
    let q = store.quarantine(None).await.unwrap();
    let reasons: Vec<_> = q.iter().map(|q| (q.row, q.reason.as_str())).collect();
    assert!(reasons.contains(&(7, "bill_cycle_day: `45` is not a day from 1 to 31")), "{reasons:?}");
    assert!(reasons.contains(&(8, "duplicate account_number A002 (the first row is kept)")), "{reasons:?}");
    assert!(reasons.contains(&(11, "duplicate service_id S1 (the first row is kept)")), "{reasons:?}");
    assert!(reasons.contains(&(13, "unknown account A999")), "{reasons:?}");
    assert!(reasons.contains(&(14, "description: contains a line break")), "{reasons:?}");
    assert!(reasons.contains(&(7, "quantity: `-5` is negative")), "{reasons:?}");
    assert!(reasons.contains(&(4, "role: `billing` is not bill_to or sold_to")), "{reasons:?}");
    assert!(reasons.contains(&(6, "a second bill_to contact for account A001 (the first row is kept)")), "{reasons:?}");
    assert!(
        reasons.contains(&(8, "usage recorded for CAB-42U, which is not metered (a recurring charge in the catalog)")),
        "{reasons:?}"
    );
    let a001 = store.account("A001").await.unwrap().expect("A001 extracted");
    assert_eq!((a001.state, a001.wave.as_deref()), (State::Extracted, Some("dc1-colocation")));
    assert_eq!(store.journal("A001").await.unwrap().len(), 1);
    let legacy = store.legacy_accounts(&["A001".into(), "A005".into(), "NOPE".into()]).await.unwrap();
    assert_eq!(legacy.len(), 2);
    assert_eq!((legacy[0].services.len(), legacy[0].usage.len(), legacy[0].invoice_lines.len()), (3, 2, 5));

    // Extracting again is a full refresh that changes no state and journals nothing.
    let second = extract(&store, &plan).await;
    assert_eq!(
        (second.accounts, second.records, second.quarantined),
        (first.accounts, first.records, first.quarantined)
    );
    assert_eq!(store.journal("A001").await.unwrap().len(), 1);
    assert_eq!(store.quarantine(None).await.unwrap().len(), 12, "only the last extraction's quarantine is shown");

    // An extraction that never finishes (a crash) leaves the previous one in place.
    {
        let ex = Extraction::begin(&store, &plan, "crashing", "test", at, Filter::All).await.unwrap();
        drop(ex);
    }
    assert_eq!(store.last_extraction().await.unwrap().unwrap().id, second.id);
    assert_eq!(store.legacy_accounts(&["A001".into()]).await.unwrap().len(), 1);
}

/// Transitions: one function, state and journal together, never twice; paging and the due filter.
async fn transitions_are_journaled_once_and_pages_see_what_is_due(store: Store) {
    extracted(&store).await;
    let at = at();
    // Transitions: one function, state and journal together, never twice.
    let sched = sched();
    let t = Transition {
        account: "A001",
        from: State::Extracted,
        to: State::Rated,
        actor: "tester",
        reason: "rated".into(),
        at,
        schedule: Some(Some(sched)),
    };
    assert!(store.transition(&t).await.unwrap());
    assert!(!store.transition(&t).await.unwrap(), "a repeated transition does nothing");
    let bad = Transition { from: State::Rated, to: State::CutOver, ..t };
    assert!(store.transition(&bad).await.is_err(), "the state machine refuses rated -> cut_over");
    let j = store.journal("A001").await.unwrap();
    assert_eq!(j.len(), 2);
    assert_eq!(
        (j[1].from.as_str(), j[1].to.as_str(), j[1].actor.as_str(), j[1].reason.as_str()),
        ("extracted", "rated", "tester", "rated")
    );
    let row = store.account("A001").await.unwrap().unwrap();
    assert_eq!(row.schedule(), Some(sched));

    // Paging through a wave, and the due filter.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = store
            .wave_accounts(&WavePage { after: &after, ..WavePage::of("dc1-colocation", &State::ALL, 2) })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last.account_number.clone();
        seen.extend(page.into_iter().map(|r| r.account_number));
    }
    assert_eq!(seen, ["A001", "A002", "A003", "A004"]);
    let due = |d: &str| {
        let store = store.clone();
        let d = d.parse().unwrap();
        async move {
            store
                .wave_accounts(&WavePage {
                    due: Some((Due::Notice, d)),
                    ..WavePage::of("dc1-colocation", &[State::Rated], 10)
                })
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(due("2017-05-31").await, 0);
    assert_eq!(due("2017-06-01").await, 1);
    assert_eq!(store.count_wave("dc1-colocation", &[State::Extracted]).await.unwrap(), 3);
    // What a stage's progress counts: the accounts due, not every account in the state.
    for (day, want) in [("2017-05-31", 0), ("2017-06-01", 1)] {
        let due = Some((Due::Notice, day.parse().unwrap()));
        assert_eq!(store.count_due("dc1-colocation", &[State::Rated], due).await.unwrap(), want, "{day}");
    }
    // The wave's next notice day (of the reconciled accounts, from a day on or before it) and
    // its earliest cut-over waiting (of the notified ones, overdue too): none while A001 is only
    // rated; reconciled, its notice day; notified, its cut-over day, still after it has passed.
    let next = |d: &str| {
        let store = store.clone();
        let d = d.parse().unwrap();
        async move { store.next_dates("dc1-colocation", d).await.unwrap() }
    };
    assert_eq!(next("2017-05-01").await, (None, None));
    let reconciled =
        Transition { from: State::Rated, to: State::Reconciled, reason: "passed".into(), schedule: None, ..t };
    assert!(store.transition(&reconciled).await.unwrap());
    assert_eq!(next("2017-05-01").await, (Some(sched.notice_date), None));
    assert_eq!(next(&sched.notice_date.succ_opt().unwrap().to_string()).await, (None, None));
    let notified =
        Transition { from: State::Reconciled, to: State::Notified, reason: "notice sent".into(), schedule: None, ..t };
    assert!(store.transition(&notified).await.unwrap());
    assert_eq!(next("2017-05-01").await, (None, Some(sched.cutover_date)));
    assert_eq!(next(&sched.cutover_date.succ_opt().unwrap().to_string()).await, (None, Some(sched.cutover_date)));
}

/// A page's notices recorded together: new ones queued, in the page's order; recorded again, the
/// same rows, their recipients refreshed while they wait, a sent one untouched and a failed one
/// queued again when its recipients change; taken and marked together.
async fn a_pages_notices_are_recorded_together_once(store: Store) {
    extracted(&store).await;
    let at = at();
    let n = |account, kind, message_id, recipients| cutover::store::NewNotice {
        wave: "dc1-colocation",
        account,
        kind,
        message_id,
        channel: "email",
        recipients,
        at,
    };
    let page = [n("A002", "k1", "<m2@x>", "b@x.example"), n("A001", "k1", "<m1@x>", "a@x.example")];
    let mut tx = store.begin().await.unwrap();
    let rows = store.notice_claims_in(&mut tx, &page).await.unwrap();
    tx.commit().await.unwrap();
    let seen: Vec<_> = rows.iter().map(|r| (r.account_number.as_str(), r.message_id.as_str(), r.state)).collect();
    assert_eq!(seen, [("A002", "<m2@x>", NoticeState::Queued), ("A001", "<m1@x>", NoticeState::Queued)]);
    // A001's is sent, A002's failed for good; then both are recorded again with new recipients.
    let mark = |account, state| cutover::store::NoticeMark {
        wave: "dc1-colocation",
        account,
        kind: "k1",
        state,
        error: None,
        retry_at: None,
        at,
    };
    store.notice_mark(&mark("A001", NoticeState::Sent)).await.unwrap();
    store.notice_mark(&mark("A002", NoticeState::Failed)).await.unwrap();
    let again = [n("A002", "k1", "<other@x>", "fixed@x.example"), n("A001", "k1", "<other@x>", "new@x.example")];
    let mut tx = store.begin().await.unwrap();
    let rows = store.notice_claims_in(&mut tx, &again).await.unwrap();
    tx.commit().await.unwrap();
    let seen: Vec<_> = rows.iter().map(|r| (r.message_id.as_str(), r.recipients.as_str(), r.state)).collect();
    assert_eq!(
        seen,
        [("<m2@x>", "fixed@x.example", NoticeState::Queued), ("<m1@x>", "a@x.example", NoticeState::Sent)]
    );
    assert_eq!(store.notices("dc1-colocation", None).await.unwrap().len(), 2, "recorded once each");
    // Taken together for a worker: only the one waiting (A002's, queued again), not the sent one;
    // then marked together.
    let mut tx = store.begin().await.unwrap();
    let keys = [("A002", "k1"), ("A001", "k1")];
    let taken = store.notice_starts_in(&mut tx, "dc1-colocation", &keys, None, at, Some(("w1", 60))).await.unwrap();
    assert_eq!(taken, [true, false]);
    store.notice_marks_in(&mut tx, &[mark("A002", NoticeState::Sent)]).await.unwrap();
    tx.commit().await.unwrap();
    let n2 = store.notice("dc1-colocation", "A002", "k1").await.unwrap().unwrap();
    assert_eq!((n2.state, n2.attempts, n2.owner.as_deref()), (NoticeState::Sent, 1, Some("w1")));
    assert!(n2.sent_at.is_some());
}

/// A page's transitions applied together: each account moves only from its state, in order, with
/// its dates when given and its own dates kept when not; a reschedule to the same dates and a
/// repeat do nothing; one journal row per move; a move the state machine refuses fails them all.
async fn a_pages_transitions_apply_together_each_once(store: Store) {
    extracted(&store).await;
    let (at, sched) = (at(), sched());
    let later = cutover::plan::schedule::Schedule {
        cutover_date: "2017-07-31".parse().unwrap(),
        first_new_bill_date: "2017-08-01".parse().unwrap(),
        notice_date: "2017-07-01".parse().unwrap(),
    };
    let t = |account, from, to, reason: &str| Transition::new(account, from, to, "tester", reason.to_string(), at);
    let page = [
        t("A001", State::Extracted, State::Rated, "rated A001").scheduling(Some(sched)),
        t("A002", State::Extracted, State::Held, "closed"),
        t("A003", State::Rated, State::Reconciled, "not rated yet"),
        t("A001", State::Rated, State::Reconciled, "passed A001"),
        t("A001", State::Reconciled, State::Reconciled, "same dates").scheduling(Some(sched)),
        t("A001", State::Reconciled, State::Reconciled, "moved a cycle").scheduling(Some(later)),
    ];
    let mut tx = store.begin().await.unwrap();
    let moved = store.transitions_in(&mut tx, &page).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(moved, [true, true, false, true, false, true]);
    let a1 = store.account("A001").await.unwrap().unwrap();
    assert_eq!(
        (a1.state, a1.schedule(), a1.state_reason.as_deref()),
        (State::Reconciled, Some(later), Some("moved a cycle"))
    );
    let a2 = store.account("A002").await.unwrap().unwrap();
    assert_eq!((a2.state, a2.schedule()), (State::Held, None));
    assert_eq!(store.account("A003").await.unwrap().unwrap().state, State::Extracted);
    let moves = |j: Vec<cutover::store::JournalRow>| -> Vec<(String, String, String)> {
        j.into_iter().skip(1).map(|r| (r.from.to_string(), r.to.to_string(), r.reason)).collect()
    };
    let j1 = moves(store.journal("A001").await.unwrap());
    assert_eq!(
        j1,
        [
            ("extracted".into(), "rated".into(), "rated A001".into()),
            ("rated".into(), "reconciled".into(), "passed A001".into()),
            ("reconciled".into(), "reconciled".into(), "moved a cycle".into()),
        ]
    );
    assert_eq!(moves(store.journal("A003").await.unwrap()), []);
    // Again (but the reschedule back to the first dates, which would be a real change): nothing
    // moves, nothing is journaled.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(store.transitions_in(&mut tx, &page[..4]).await.unwrap(), [false; 4]);
    assert_eq!(store.transitions_in(&mut tx, &page[5..]).await.unwrap(), [false]);
    tx.commit().await.unwrap();
    assert_eq!(store.journal("A001").await.unwrap().len(), 4);
    // A refused move refuses the page before anything is written.
    let bad = [t("A003", State::Extracted, State::Rated, "ok"), t("A004", State::Extracted, State::CutOver, "no")];
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(store.transitions_in(&mut tx, &bad).await, Err(StoreError::Transition { .. })));
    drop(tx);
    assert_eq!(store.account("A003").await.unwrap().unwrap().state, State::Extracted);
}

/// A person's hold is lifted only by `hold --release`: a move out of it with any other reason
/// (a recheck, a waiver that read the account before the hold) does not apply, and a note within
/// `held` is journaled while the hold stays the account's reason.
async fn a_persons_hold_is_lifted_by_its_release_alone(store: Store) {
    extracted(&store).await;
    let at = at();
    let t = |from, to, reason: &str| Transition::new("A001", from, to, "tester", reason.to_string(), at);
    let apply = async |t: Transition<'_>| {
        let mut tx = store.begin().await.unwrap();
        let moved = store.transitions_in(&mut tx, &[t]).await.unwrap();
        tx.commit().await.unwrap();
        moved[0]
    };
    let reason = async || store.account("A001").await.unwrap().unwrap().state_reason.unwrap_or_default();
    assert!(apply(t(State::Extracted, State::Held, "reconciliation failed: 2017-07 -50.00")).await);
    // A stage's hold: a recheck or a waiver moves it on.
    assert!(apply(t(State::Held, State::Extracted, "held account put back for another check")).await);
    assert!(apply(t(State::Extracted, State::Held, "reconciliation failed: 2017-07 -50.00")).await);
    let hold = "held by a person from held (reconciliation failed): legal dispute";
    assert!(apply(t(State::Held, State::Held, hold)).await);
    assert_eq!(reason().await, hold);
    let journaled = store.journal("A001").await.unwrap().len();
    // A note within `held`: journaled, the hold stays the reason.
    assert!(apply(t(State::Held, State::Held, "waiver revoked: wrong account")).await);
    assert_eq!(reason().await, hold);
    assert_eq!(store.journal("A001").await.unwrap().last().unwrap().reason, "waiver revoked: wrong account");
    // Moves out with another reason: not applied, not journaled.
    for why in ["held account put back for another check", "reconciliation failure waived: ok; back to be reconciled"] {
        let to = if why.starts_with("held account") { State::Extracted } else { State::Rated };
        assert!(!apply(t(State::Held, to, why)).await, "{why}");
        assert_eq!(store.account("A001").await.unwrap().unwrap().state, State::Held, "{why}");
    }
    assert_eq!(store.journal("A001").await.unwrap().len(), journaled + 1);
    // Its release lifts it.
    assert!(apply(t(State::Held, State::Extracted, "put back by a person: settled")).await);
    assert_eq!(reason().await, "put back by a person: settled");
}

/// Notices: the row exists before sending, once per (wave, account, kind); taking one is atomic.
async fn notices_are_claimed_once_and_retried_when_due(store: Store) {
    extracted(&store).await;
    let at = at();
    // Notices: the row exists before sending, once per (wave, account, kind).
    let mark = |state: NoticeState, error: Option<&'static str>, retry_at| cutover::store::NoticeMark {
        wave: "dc1-colocation",
        account: "A001",
        kind: "first_new_bill",
        state,
        error,
        retry_at,
        at,
    };
    let n1 = store.notice_claim(&notice("<m1@x>", "a@x.example", at)).await.unwrap();
    assert_eq!(n1.state, NoticeState::Queued);
    // Recipients may change while nothing was attempted.
    let n1b = store.notice_claim(&notice("<m1@x>", "b@x.example", at)).await.unwrap();
    assert_eq!(n1b.recipients, "b@x.example");
    // Taking a notice for sending is atomic: a second taker (another process) gets false.
    assert!(store.notice_start("dc1-colocation", "A001", "first_new_bill", false, at).await.unwrap());
    assert!(!store.notice_start("dc1-colocation", "A001", "first_new_bill", false, at).await.unwrap());
    // ... except an outbox file or letter left in flight, which is safe to write again.
    assert!(store.notice_start("dc1-colocation", "A001", "first_new_bill", true, at).await.unwrap());
    let later = at + chrono::Duration::minutes(5);
    store.notice_mark(&mark(NoticeState::Retry, Some("421 try later"), Some(later))).await.unwrap();
    let r = store.notice("dc1-colocation", "A001", "first_new_bill").await.unwrap().unwrap();
    assert_eq!((r.state, r.attempts, r.last_error.as_deref()), (NoticeState::Retry, 2, Some("421 try later")));
    // A retry is not taken before it is due.
    assert!(!store.notice_start("dc1-colocation", "A001", "first_new_bill", false, at).await.unwrap());
    assert_eq!(r.retry_at.as_deref().map(|t| t.parse::<chrono::DateTime<Utc>>().unwrap()), Some(later));
    assert_eq!(store.notices("dc1-colocation", Some(NoticeState::Retry)).await.unwrap().len(), 1);
    assert!(store.notice_start("dc1-colocation", "A001", "first_new_bill", false, later).await.unwrap());
    store.notice_mark(&mark(NoticeState::Sent, None, None)).await.unwrap();
    let n2 = store.notice_claim(&notice("<m2@x>", "c@x.example", at)).await.unwrap();
    assert_eq!(
        (n2.state, n2.message_id.as_str(), n2.recipients.as_str(), n2.attempts),
        (NoticeState::Sent, "<m1@x>", "b@x.example", 3),
        "the first claim stands, and a sent notice keeps its recipients"
    );
    let day = Utc.with_ymd_and_hms(2017, 5, 1, 0, 0, 0).unwrap();
    assert_eq!(store.sent_between("dc1-colocation", day, day + chrono::Days::new(1)).await.unwrap(), 1);
    assert_eq!(
        store.sent_between("dc1-colocation", day + chrono::Days::new(1), day + chrono::Days::new(2)).await.unwrap(),
        0
    );
    assert_eq!(store.notice_demand("dc1-colocation").await.unwrap(), vec![]);
}

/// Team mode: a worker's heartbeat renews its claims, the notices it sends and its leases (its
/// `#N` threads' too), and nobody else's, even a name that `LIKE` would match with an unescaped
/// `_`; a worker stopping lets go of its claims and leases, and only its own.
async fn a_workers_heartbeat_renews_and_its_stop_releases_only_its_own(store: Store) {
    use cutover::store::lease::Renewed;
    extracted(&store).await;
    let (me, other, third) = ("host_a:11:0000ffff", "hostXa:11:0000ffff", "elsewhere:1:00000001");
    let wave = "dc1-colocation";
    let claim = |after: &'static str, limit, owner: String, secs| {
        let store = store.clone();
        async move {
            let rows = store
                .claim_accounts(&WavePage { after, ..WavePage::of(wave, &[State::Extracted], limit) }, &owner, secs)
                .await
                .unwrap();
            rows.into_iter().map(|r| r.account_number).collect::<Vec<_>>()
        }
    };
    assert_eq!(claim("", 2, format!("{me}#1"), 1).await, ["A001", "A002"]);
    assert_eq!(claim("A002", 1, format!("{other}#1"), 1).await, ["A003"]);
    assert!(store.try_lease("x", me, 1).await.unwrap().is_none());
    assert!(store.try_lease("y", other, 1).await.unwrap().is_none());
    assert!(store.try_lease("w", &format!("{other}#2"), 600).await.unwrap().is_none());
    store.notice_claim(&notice("<m1@x>", "a@x.example", at())).await.unwrap();
    assert!(store.notice_start_as(wave, "A001", "first_new_bill", None, me, 1, at()).await.unwrap());
    let renewed = store.renew_held(me, 600).await.unwrap();
    assert_eq!(renewed, Renewed { accounts: 2, notices: 1, leases: 1 }, "mine only");
    // Past the unrenewed claims' second, a third worker gets what was not renewed.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(claim("", 10, third.to_string(), 600).await, ["A003", "A004"], "A001 and A002 are still held");
    assert_eq!(store.try_lease("x", third, 600).await.unwrap().map(|h| h.owner), Some(me.to_string()));
    assert!(store.try_lease("y", third, 600).await.unwrap().is_none(), "the other's lapsed");
    let n = store.notice(wave, "A001", "first_new_bill").await.unwrap().unwrap();
    let soon = cutover::store::lease::stamp(Utc::now() + chrono::Duration::seconds(60));
    assert!(n.lease_until.as_deref().is_some_and(|u| u > soon.as_str()), "{:?}", n.lease_until);
    // Stopping: my claims and leases go at once; the other's lease stays. The third worker's own
    // claims are not claimed again (a worker claims its next page while it holds the one in hand,
    // `Engine::pages`).
    store.release_held(me).await.unwrap();
    assert_eq!(claim("", 10, third.to_string(), 600).await, ["A001", "A002"]);
    assert!(store.try_lease("x", third, 600).await.unwrap().is_none());
    assert!(store.try_lease("w", third, 600).await.unwrap().is_some(), "not mine: still held");
    assert_eq!(store.renew_held(me, 600).await.unwrap(), Renewed { accounts: 0, notices: 1, leases: 0 });
}

/// A worker walking a wave claims its next page while it works on one (`Engine::pages`): the
/// pages are disjoint, letting the first go keeps the second claimed, and letting go of all
/// frees the rest.
async fn a_page_claimed_ahead_stays_claimed_when_the_page_before_goes(store: Store) {
    extracted(&store).await;
    let (me, other) = ("host:1:00000001#1", "host:2:00000002#1");
    let wave = "dc1-colocation";
    let claim = |after: &'static str, owner: &'static str| {
        let store = store.clone();
        async move {
            let page = WavePage { after, ..WavePage::of(wave, &[State::Extracted], 2) };
            let rows = store.claim_accounts(&page, owner, 600).await.unwrap();
            rows.into_iter().map(|r| r.account_number).collect::<Vec<_>>()
        }
    };
    assert_eq!(claim("", me).await, ["A001", "A002"]);
    assert_eq!(claim("A002", me).await, ["A003", "A004"], "the next page, the first still held");
    assert_eq!(claim("", me).await, Vec::<String>::new(), "its own pages are not claimed again");
    store.release_claims_through(me, "A002").await.unwrap();
    assert_eq!(claim("", other).await, ["A001", "A002"], "the first page went");
    assert_eq!(claim("A002", other).await, Vec::<String>::new(), "the pages after stay mine");
    store.release_claims(me).await.unwrap();
    assert_eq!(claim("A002", other).await, ["A003", "A004"]);
}

/// A page stage lets its claims go in the transaction that records the page
/// (`Store::release_claims_in`): with that transaction, not before it commits and not if it rolls
/// back; only the accounts listed, and only the claims of the worker that asks.
async fn claims_let_go_in_a_transaction_go_with_it(store: Store) {
    extracted(&store).await;
    let (me, other) = ("host:1:00000001#1", "host:2:00000002#1");
    let wave = "dc1-colocation";
    let claim = |after: &'static str, limit, owner: &'static str| {
        let store = store.clone();
        async move {
            let page = WavePage { after, ..WavePage::of(wave, &[State::Extracted], limit) };
            let rows = store.claim_accounts(&page, owner, 600).await.unwrap();
            rows.into_iter().map(|r| r.account_number).collect::<Vec<_>>()
        }
    };
    assert_eq!(claim("", 3, me).await, ["A001", "A002", "A003"]);
    assert_eq!(claim("A003", 1, other).await, ["A004"]);
    // Rolled back: nothing goes.
    let mut tx = store.begin().await.unwrap();
    store.release_claims_in(&mut tx, me, &["A001", "A002"]).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(claim("", 10, other).await, Vec::<String>::new(), "still mine after a rollback");
    // Committed: A001 and A002 go, A003 (not listed) stays mine, A004 (the other's) stays its.
    let mut tx = store.begin().await.unwrap();
    store.release_claims_in(&mut tx, me, &["A001", "A002", "A004"]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(claim("", 10, "host:3:00000003#1").await, ["A001", "A002"]);
}

/// Recipients from the form, in the caller's transaction.
async fn recipients_are_stored_with_their_journal_row(store: Store) {
    extracted(&store).await;
    let at = at();
    // Recipients from the form: stored with their journal row in one transaction.
    let rec = cutover::store::Recipients {
        account_number: "A001".into(),
        emails: vec!["ap@cascade.example.com".into(), "it@cascade.example.com".into()],
        name: Some("Ann".into()),
        submitted_at: "2017-05-03T10:00:00+00:00".into(),
    };
    let mut tx = store.begin().await.unwrap();
    store.put_recipients_in(&mut tx, &rec, "form.csv", at).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.recipients("A001").await.unwrap(), Some(rec));
    assert_eq!(store.recipients("A002").await.unwrap(), None);
}

/// Reconciliation runs: numbered per wave, kept with their results.
async fn runs_are_numbered_per_wave_and_never_recorded_twice(store: Store) {
    let at = at();
    // Reconciliation runs: numbered per wave, kept with their results, never recorded twice.
    let result = |a: &str, o: &str| RunResult {
        account_number: a.into(),
        outcome: o.parse().unwrap(),
        stake: "0".into(),
        reasons: String::new(),
    };
    let new_run = |fingerprint: &'static str| NewRun {
        wave: "dc1-colocation",
        at,
        actor: "tester",
        via: "run",
        fingerprint,
        accounts: 2,
        passed: 1,
        failed: 1,
        waived: 0,
        unexplained: 0,
        pass_rate: "0.5".into(),
        legacy_total: "10.00".into(),
        new_total: "12.50".into(),
        absolute_variance: "2.50".into(),
        gate: "pause",
    };
    let many: Vec<RunResult> = (0..450).map(|i| result(&format!("B{i:04}"), "pass")).collect();
    let (r1, recorded) = store.record_run(&new_run("f1"), many.clone()).await.unwrap();
    assert_eq!(
        (r1.number, recorded, r1.absolute_variance.to_string().as_str(), r1.gate.as_str()),
        (1, true, "2.50", "pause")
    );
    let (again, recorded) = store.record_run(&new_run("f1"), many.clone()).await.unwrap();
    assert_eq!((again.id, recorded), (r1.id, false), "the same outcome is not recorded twice");
    let (r2, recorded) =
        store.record_run(&new_run("f2"), vec![result("A001", "fail"), result("A002", "waived")]).await.unwrap();
    assert_eq!((r2.number, recorded), (2, true));
    let other = NewRun { wave: "dc2-colocation", ..new_run("f2") };
    assert_eq!(store.record_run(&other, Vec::new()).await.unwrap().0.number, 1, "numbers count per wave");
    let runs = store.runs("dc1-colocation").await.unwrap();
    assert_eq!(runs.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(store.run_results(r1.id).await.unwrap(), many, "results kept in account order, in full");
    assert_eq!(store.run_results(r2.id).await.unwrap().len(), 2);
}

/// A wave's tallies read back exactly as written (migration 0024: each with its fields joined
/// when written), the wave's accounts only, and a tally written again replaces the one before.
async fn a_waves_tallies_read_back_as_written(store: Store) {
    use cutover::reconcile::AccountStatus;
    use cutover::reconcile::report::Tally;
    extracted(&store).await;
    let tally = |account: &str, status, stake: &str, reasons: &str| Tally {
        account_number: account.into(),
        status,
        stake: stake.parse().unwrap(),
        reasons: reasons.into(),
        legacy_total: "3000.00".parse().unwrap(),
        new_total: "-12.5".parse().unwrap(),
        unexplained: 2,
        periods: 3,
        mismatched: 1,
    };
    let a001 = tally("A001", AccountStatus::Fail, "12.50", "price change; unmapped code LEGACY-MISC");
    let a002 = tally("A002", AccountStatus::Pass, "0", "");
    let mut tx = store.begin().await.unwrap();
    store.put_tallies_in(&mut tx, &[a002.clone(), a001.clone()]).await.unwrap();
    tx.commit().await.unwrap();
    for a in ["A001", "A002"] {
        assert_eq!(store.account(a).await.unwrap().unwrap().wave.as_deref(), Some("dc1-colocation"));
    }
    assert_eq!(store.wave_tallies("dc1-colocation").await.unwrap(), [a001.clone(), a002.clone()]);
    assert_eq!(store.wave_tallies("dc2-colocation").await.unwrap(), [], "another wave's accounts only");
    let fixed = Tally { status: AccountStatus::Pass, reasons: String::new(), ..a001 };
    let mut tx = store.begin().await.unwrap();
    store.put_tallies_in(&mut tx, std::slice::from_ref(&fixed)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.wave_tallies("dc1-colocation").await.unwrap(), [fixed, a002]);
}

/// A run's results are stored as what changed since the run before (a whole copy now and then)
/// and always read back whole: accounts changing outcome, leaving and joining.
async fn run_results_read_back_whole_whatever_changed(store: Store) {
    let line = |a: String, o: &str, stake: &str| RunResult {
        account_number: a,
        outcome: o.parse().unwrap(),
        stake: stake.into(),
        reasons: if o == "pass" { String::new() } else { "rate_change;unexplained".into() },
    };
    let mut current: Vec<RunResult> = (0..10).map(|a| line(format!("C{a:02}"), "pass", "0")).collect();
    let mut recorded = Vec::new();
    for n in 1..=8usize {
        if n > 1 {
            // Three lines change, one account leaves, another joins (given out of order).
            for k in 0..3 {
                let i = (n * 3 + k) % current.len();
                let account = current[i].account_number.clone();
                current[i] = line(account, ["fail", "waived", "pass"][k], &format!("{n}.{k}5"));
            }
            current.remove(n % current.len());
            current.insert(0, line(format!("J{n:02}"), "fail", "1"));
        }
        let run = NewRun {
            wave: "dc3-colocation",
            at: at(),
            actor: "tester",
            via: "run",
            fingerprint: &format!("f{n}"),
            accounts: current.len() as u64,
            passed: 0,
            failed: 0,
            waived: 0,
            unexplained: 0,
            pass_rate: "0".into(),
            legacy_total: "0".into(),
            new_total: "0".into(),
            absolute_variance: "0".into(),
            gate: "pause",
        };
        let (row, fresh) = store.record_run(&run, current.clone()).await.unwrap();
        assert!(fresh);
        let mut whole = current.clone();
        whole.sort_by(|a, b| a.account_number.cmp(&b.account_number));
        recorded.push((row.id, whole));
    }
    for (n, (id, whole)) in recorded.iter().enumerate() {
        assert_eq!(&store.run_results(*id).await.unwrap(), whole, "run {}", n + 1);
    }
}

/// Waivers: once per account and failure, in the caller's transaction; a waiver for another
/// failure is replaced.
async fn waivers_are_once_per_account_in_the_callers_transaction(store: Store) {
    extracted(&store).await;
    let at = at();
    let (july, august) = ("2017-07 +5.00 (price_difference)", "2017-08 +9.00 (extra_line)");
    // Waivers: once per account, in the caller's transaction.
    let mut tx = store.begin().await.unwrap();
    assert!(store.put_waiver_in(&mut tx, "A002", "customer agreed", "ann", at, july).await.unwrap());
    assert!(!store.put_waiver_in(&mut tx, "A002", "again", "bob", at, july).await.unwrap());
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert!(store.put_waiver_in(&mut tx, "A003", "rolled back with its transaction", "ann", at, july).await.unwrap());
    drop(tx);
    let w = store.waivers(&["A002".into(), "A003".into()]).await.unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].0.as_str(), w[0].1.reason.as_str(), w[0].1.actor.as_str()), ("A002", "customer agreed", "ann"));
    assert_eq!(w[0].1.covers.as_deref(), Some(july));
    // Another failure: the new waiver replaces the old one.
    let mut tx = store.begin().await.unwrap();
    assert!(store.put_waiver_in(&mut tx, "A002", "that too", "bob", at, august).await.unwrap());
    tx.commit().await.unwrap();
    let w = store.waivers(&["A002".into()]).await.unwrap();
    assert_eq!((w[0].1.reason.as_str(), w[0].1.covers.as_deref()), ("that too", Some(august)));
    assert_eq!(store.recon("A001").await.unwrap(), None);
}

/// The wave journal.
async fn the_wave_journal_keeps_promotions(store: Store) {
    let at = at();
    // The wave journal.
    store.wave_event("dc1-colocation", at, "ann", "gate_promote", "looked at it", "f2", "[]").await.unwrap();
    store.wave_event("dc1-colocation", at, "ann", "note", "other", "", "").await.unwrap();
    let promotions = store.wave_journal("dc1-colocation", Some("gate_promote")).await.unwrap();
    assert_eq!(promotions.len(), 1);
    assert_eq!((promotions[0].reason.as_str(), promotions[0].fingerprint.as_str()), ("looked at it", "f2"));
    assert_eq!(store.wave_journal("dc1-colocation", None).await.unwrap().len(), 2);
    assert!(store.wave_journal("dc2-colocation", None).await.unwrap().is_empty());
}

/// Cut-overs and load sets: pending until published, a set dirty until its files are written, reversals per set, load outcomes counted per wave.
async fn cutovers_and_load_sets_follow_their_files(store: Store) {
    extracted(&store).await;
    let at = at();
    let sched = sched();
    // Cut-overs and load sets: pending until published, a set dirty until its files are written,
    // reversals per set, load outcomes counted per wave.
    let a4 = store.legacy_accounts(&["A004".into()]).await.unwrap();
    assert_eq!(a4.len(), 1);
    for (from, to) in [
        (State::Extracted, State::Rated),
        (State::Rated, State::Reconciled),
        (State::Reconciled, State::Notified),
        (State::Notified, State::CutOver),
    ] {
        let t = Transition {
            account: "A004",
            from,
            to,
            actor: "tester",
            reason: "on".into(),
            at,
            schedule: Some(Some(sched)),
        };
        assert!(store.transition(&t).await.unwrap());
    }
    let day = sched.cutover_date;
    let mut tx = store.begin().await.unwrap();
    store.put_cutover_pending_in(&mut tx, "A004", "dc1-colocation", &sched, "import/x", "{}", at).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.dirty_sets(None).await.unwrap(), [("dc1-colocation".to_string(), day)]);
    assert_eq!(store.dirty_sets(Some("dc2-colocation")).await.unwrap(), []);
    // Only those whose first new bill date has come: the legacy system has billed them since.
    let first_bill = sched.first_new_bill_date;
    assert!(store.unpublished("dc1-colocation", first_bill.pred_opt().unwrap()).await.unwrap().is_empty());
    let pending = store.unpublished("dc1-colocation", first_bill).await.unwrap();
    assert_eq!(pending.iter().map(|c| c.account_number.as_str()).collect::<Vec<_>>(), ["A004"]);
    let members = store.set_members("dc1-colocation", day, "", 500).await.unwrap();
    assert_eq!((members.len(), members[0].state, members[0].published), (1, State::CutOver, false));
    store.publish_set("dc1-colocation", day).await.unwrap();
    assert!(store.unpublished("dc1-colocation", first_bill).await.unwrap().is_empty());
    // A clean mark from a rebuild that read the set before a later change is refused.
    let seen = store.set_dirty("dc1-colocation", day).await.unwrap();
    assert_eq!(seen, 1);
    assert!(!store.set_clean("dc1-colocation", day, seen - 1, at).await.unwrap());
    assert!(store.set_clean("dc1-colocation", day, seen, at).await.unwrap());
    assert!(store.dirty_sets(None).await.unwrap().is_empty());
    assert!(store.set_written_at("dc1-colocation", day).await.unwrap().is_some());
    let counts = store.load_counts("dc1-colocation").await.unwrap();
    assert_eq!((counts.loaded, counts.failed, counts.unconfirmed), (0, 0, 1));
    let mut tx = store.begin().await.unwrap();
    let t = Transition {
        account: "A004",
        from: State::CutOver,
        to: State::Loaded,
        actor: "t",
        reason: "ok".into(),
        at,
        schedule: None,
    };
    assert!(store.transition_in(&mut tx, &t).await.unwrap());
    store.set_load_result_in(&mut tx, "A004", "success", Some("2c9"), None).await.unwrap();
    let rev = cutover::store::ReversalRow {
        account_number: "A004".into(),
        wave: "dc1-colocation".into(),
        cutover_date: day,
        first_new_bill_date: sched.first_new_bill_date,
        target_id: Some("2c9".into()),
        action: "cancel".into(),
        resume_legacy_from: sched.first_new_bill_date,
        reason: "test".into(),
        at: at.to_rfc3339(),
    };
    store.add_reversal_in(&mut tx, &rev).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.reversals("dc1-colocation", day).await.unwrap(), [rev]);
    assert_eq!(store.dirty_sets(None).await.unwrap().len(), 1, "a reversal makes its set dirty");
    let c = store.cutover("A004").await.unwrap().unwrap();
    assert_eq!(
        (c.state, c.load_status.as_deref(), c.target_id.as_deref()),
        (State::Loaded, Some("success"), Some("2c9"))
    );
    let counts = store.load_counts("dc1-colocation").await.unwrap();
    assert_eq!((counts.loaded, counts.failed, counts.unconfirmed), (1, 0, 0));
}

/// Bills and cut-over snapshots are stored packed (migration 0017) and a legacy row's cells joined
/// (issue 11, the store's size): each reads back exactly as written, whatever it holds.
async fn bulky_documents_and_cells_read_back_exactly(store: Store) {
    extracted(&store).await;
    // What the fixture's records read back as is what the CSV says (cells joined, not JSON).
    let a1 = store.legacy_accounts(&["A001".into()]).await.unwrap();
    assert_eq!(a1.len(), 1);
    assert_eq!(a1[0].account.account_number, "A001");
    assert!(!a1[0].services.is_empty() && !a1[0].invoice_lines.is_empty(), "{:?}", a1[0]);
    // A bill with text that JSON escapes, non-ASCII and the separators of the store's aggregates.
    let data = serde_json::json!({
        "account_number": "A001",
        "lines": [{"product": "Colocation – “Full” Cabinet (42U) 名", "note": "a\u{1d}b\u{1e}c\u{1f}\n\"", "amount": "1475.00"}],
        "total": "1475.00"
    })
    .to_string()
    .repeat(40);
    let bill = |period: &str, data: &str| cutover::store::NewBillRow {
        account: "A001".into(),
        period: period.into(),
        total: "1475.00".into(),
        data: data.into(),
    };
    let mut tx = store.begin().await.unwrap();
    store.put_bills_in(&mut tx, &[bill("2017-05", &data), bill("2017-04", "{}")]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.bills("A001").await.unwrap(), [("2017-04".into(), "{}".into()), ("2017-05".into(), data.clone())]);
    // Replaced, not added.
    let mut tx = store.begin().await.unwrap();
    store.put_bills_in(&mut tx, &[bill("2017-05", "{\"again\":1}")]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.bills("A001").await.unwrap()[1], ("2017-05".into(), "{\"again\":1}".into()));
    // A cut-over's snapshot.
    let mut tx = store.begin().await.unwrap();
    store.put_cutover_pending_in(&mut tx, "A001", "dc1-colocation", &sched(), "import/x", &data, at()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.cutover("A001").await.unwrap().map(|c| c.snapshot), Some(data));
}

/// Records read back exactly whatever their cells hold (PostgreSQL's `COPY` escapes, the
/// separators of a group), long groups (packed) and short ones alike, in source order.
async fn extracted_records_read_back_exactly_with_any_characters(store: Store) {
    let dir = support::csv_workspace();
    let legacy = dir.path().join("legacy");
    let odd = "Tab\there \\ back\\slash \\N \\. \u{1c}\u{1d} é 名";
    let accounts = std::fs::read_to_string(legacy.join("accounts.csv")).unwrap();
    let accounts = accounts.replacen("Cascade Logistics LLC", &format!("\"{odd}\""), 1);
    std::fs::write(legacy.join("accounts.csv"), accounts).unwrap();
    // A long group: 60 more services for A001, enough text to be stored packed.
    let mut services = std::fs::read_to_string(legacy.join("services.csv")).unwrap();
    for i in 0..60 {
        services.push_str(&format!("A001,SX{i},CAB-42U,\"{odd} {i}\",1,10.00,2016-01-01,\n"));
    }
    std::fs::write(legacy.join("services.csv"), services).unwrap();
    let at = at();
    let plan = support::plan();
    let mut ex = Extraction::begin(&store, &plan, "odd", "test", at, Filter::All).await.unwrap();
    cutover::extract::scan_ahead(&Source::Csv(legacy), &mut ex).await.unwrap();
    ex.finish().await.unwrap();
    let numbers = ["A001".to_string(), "A002".to_string()];
    let a = store.legacy_accounts(&numbers).await.unwrap();
    assert_eq!(a[0].account.name, odd);
    assert_eq!(a[1].account.account_number, "A002");
    let odd_ones: Vec<&str> =
        a[0].services.iter().filter(|s| s.service_id.starts_with("SX")).map(|s| s.description.as_str()).collect();
    let want: Vec<String> = (0..60).map(|i| format!("{odd} {i}")).collect();
    assert_eq!(odd_ones, want, "every record, in source order");
    assert_eq!(a[0].services.len(), 63);
    assert_eq!((a[0].usage.len(), a[0].invoice_lines.len()), (2, 5));
}

/// The portal's tables (migration 0010): a link by its hash, a form post once per nonce, questions.
async fn portal_links_posts_and_questions(store: Store) {
    extracted(&store).await;
    let at = at();
    let link = cutover::store::LinkRow {
        account_number: "A001".into(),
        wave: "dc1-colocation".into(),
        kind: "first_new_bill-2017-07-01".into(),
        expires_on: chrono::NaiveDate::from_ymd_opt(2017, 7, 31).unwrap(),
    };
    store.portal_link_put("ab12", &link, at).await.unwrap();
    assert_eq!(store.portal_link("ab12").await.unwrap(), Some(link.clone()));
    assert_eq!(store.portal_link("ab13").await.unwrap(), None);
    // A page's links, in its claim's transaction: none until it commits, then each by its hash
    // (more than one multi-row insert's worth).
    let page: Vec<(String, cutover::store::LinkRow)> = (0..501)
        .map(|i| {
            (format!("cd{i}"), cutover::store::LinkRow { account_number: format!("A{:03}", i % 2 + 1), ..link.clone() })
        })
        .collect();
    let refs: Vec<(&str, &cutover::store::LinkRow)> = page.iter().map(|(h, l)| (h.as_str(), l)).collect();
    let mut tx = store.begin().await.unwrap();
    store.portal_links_put_in(&mut tx, &refs, at).await.unwrap();
    drop(tx);
    assert_eq!(store.portal_link("cd0").await.unwrap(), None, "rolled back with its transaction");
    let mut tx = store.begin().await.unwrap();
    store.portal_links_put_in(&mut tx, &refs, at).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.portal_link("cd500").await.unwrap(), Some(page[500].1.clone()));
    assert_eq!(store.portal_link("cd1").await.unwrap().map(|l| l.account_number), Some("A002".into()));
    let emails = vec!["ap@a.example".to_string(), "it@a.example".to_string()];
    for (nonce, first) in [("n1", true), ("n1", false), ("n2", true)] {
        let mut tx = store.begin().await.unwrap();
        assert_eq!(store.portal_submission_in(&mut tx, nonce, "A001", &emails, at).await.unwrap(), first, "{nonce}");
        tx.commit().await.unwrap();
    }
    let subs = store.portal_submissions(Some("A001")).await.unwrap();
    assert_eq!((subs.len(), &subs[0].emails), (2, &emails));
    assert!(store.portal_submissions(Some("A002")).await.unwrap().is_empty());
    assert!(store.portal_question_put("q1", "A001", "Why?", at).await.unwrap());
    assert!(!store.portal_question_put("q1", "A001", "Why?", at).await.unwrap());
    let qs = store.portal_questions(None).await.unwrap();
    assert_eq!((qs.len(), qs[0].message.as_str()), (1, "Why?"));
}

/// Every applied migration's checksum is kept; a store whose applied migration differs from this
/// build's (its SQL edited after it shipped) is refused on opening, naming the migration, and a
/// store from before the checksums gets them (SQLite only: the test edits the bookkeeping itself).
#[tokio::test]
async fn a_migration_changed_after_it_was_applied_is_refused() {
    let (dir, store) = sqlite_store().await;
    drop(store);
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM cutover_schema_checksum").fetch_one(&mut conn).await.unwrap();
    let (m,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM cutover_schema").fetch_one(&mut conn).await.unwrap();
    assert_eq!(n, m, "one checksum per applied migration");
    // A store from before the checksums: they are recorded when it is opened.
    sqlx::query("DROP TABLE cutover_schema_checksum").execute(&mut conn).await.unwrap();
    drop(Store::open(&url).await.expect("a store without checksums opens"));
    let (again,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM cutover_schema_checksum").fetch_one(&mut conn).await.unwrap();
    assert_eq!(again, m);
    // Migration 5 "edited": refused, by number.
    sqlx::query("UPDATE cutover_schema_checksum SET sha256 = 'e5e5' WHERE version = 5")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    match Store::open(&url).await {
        Err(e @ StoreError::MigrationChanged { version: 5, .. }) => {
            assert!(e.to_string().contains("migration 5 was applied from other SQL"), "{e}");
        }
        other => panic!("expected the edited migration to be refused, got {:?}", other.map(|_| ())),
    }
}

/// A notice state this build does not know fails loudly where the row is read: it never becomes
/// another state (SQLite only: the test writes the corrupt row with SQL of its own).
#[tokio::test]
async fn a_corrupt_notice_state_fails_loudly() {
    let (dir, store) = sqlite_store().await;
    extracted(&store).await;
    store.notice_claim(&notice("<m1@x>", "a@x.example", at())).await.unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::query("UPDATE notice SET state = 'snet'").execute(&mut conn).await.unwrap();
    drop(conn);
    let corrupt = |r: Result<_, StoreError>| match r {
        Err(StoreError::Corrupt(why)) => why,
        other => panic!("expected a corrupt row, got {other:?}"),
    };
    let why = corrupt(store.notice("dc1-colocation", "A001", "first_new_bill").await.map(|_| ()));
    assert!(why.contains("`snet`") && why.contains("A001"), "{why}");
    corrupt(store.notices("dc1-colocation", None).await.map(|_| ()));
    corrupt(store.notice_counts("dc1-colocation").await.map(|_| ()));
}

/// An account's stored date or state that does not parse fails loudly where the row is read:
/// before, a corrupt date read as no date at all (SQLite only, as above).
#[tokio::test]
async fn a_corrupt_account_date_or_state_fails_loudly() {
    let (dir, store) = sqlite_store().await;
    extracted(&store).await;
    assert!(store.account("A001").await.unwrap().is_some());
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::query("UPDATE account SET notice_date = '2017-13-45' WHERE account_number = 'A001'")
        .execute(&mut conn)
        .await
        .unwrap();
    let corrupt = |r: Result<_, StoreError>| match r {
        Err(StoreError::Corrupt(why)) => why,
        other => panic!("expected a corrupt row, got {other:?}"),
    };
    let why = corrupt(store.account("A001").await.map(|_| ()));
    assert!(why.contains("notice date") && why.contains("A001") && why.contains("2017-13-45"), "{why}");
    corrupt(store.accounts_page(None, "", 10).await.map(|_| ()));
    sqlx::query("UPDATE account SET notice_date = NULL, state = 'extractd' WHERE account_number = 'A001'")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let why = corrupt(store.account("A001").await.map(|_| ()));
    assert!(why.contains("state") && why.contains("extractd"), "{why}");
}

/// A stored run whose money does not parse fails loudly where it is read: before, a variance that
/// did not parse reached the gate as 0.
#[tokio::test]
async fn a_corrupt_run_fails_loudly_instead_of_reaching_the_gate_as_zero() {
    let (dir, store) = sqlite_store().await;
    let run = NewRun {
        wave: "dc1-colocation",
        at: at(),
        actor: "tester",
        via: "run",
        fingerprint: "f1",
        accounts: 1,
        passed: 1,
        failed: 0,
        waived: 0,
        unexplained: 0,
        pass_rate: "1".into(),
        legacy_total: "10.00".into(),
        new_total: "10.00".into(),
        absolute_variance: "0.00".into(),
        gate: "proceed",
    };
    store.record_run(&run, Vec::new()).await.unwrap();
    assert!(store.latest_run("dc1-colocation").await.unwrap().is_some());
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::query("UPDATE reconcile_run SET absolute_variance = '12,50'").execute(&mut conn).await.unwrap();
    drop(conn);
    match store.latest_run("dc1-colocation").await {
        Err(StoreError::Corrupt(why)) => assert!(why.contains("absolute variance") && why.contains("12,50"), "{why}"),
        other => panic!("expected a corrupt run, got {other:?}"),
    }
    assert!(matches!(store.runs("dc1-colocation").await, Err(StoreError::Corrupt(_))));
}

async fn sqlite_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    drop(Store::open(&url).await.expect("open sqlite"));
    let store = Store::open(&url).await.expect("reopen migrates nothing twice");
    (dir, store)
}

async fn postgres_store() -> Option<Store> {
    let url = support::postgres_db().await?;
    drop(Store::open(&url).await.expect("open postgres"));
    Some(Store::open(&url).await.expect("reopen migrates nothing twice"))
}

/// SQLite: an extraction writes the accounts it sees first wave by wave, so a wave's accounts lie
/// together in the table (a stage's page of one wave then rewrites a few of the table's pages, not
/// one an account); the legacy source lists them in account order, the waves interleaved.
#[tokio::test]
async fn on_sqlite_an_extraction_stores_a_waves_accounts_together() {
    let (dir, store) = sqlite_store().await;
    // The fixture with A002 a cloud customer: in account order the waves then interleave.
    let source = support::csv_workspace();
    let legacy = source.path().join("legacy");
    let accounts = std::fs::read_to_string(legacy.join("accounts.csv")).unwrap();
    std::fs::write(
        legacy.join("accounts.csv"),
        accounts.replacen("Rainier Labs,colocation,DC1", "Rainier Labs,cloud,", 1),
    )
    .unwrap();
    let plan = support::plan();
    let mut ex = Extraction::begin(&store, &plan, "fixture", "test", at(), Filter::All).await.unwrap();
    cutover::extract::scan(&Source::Csv(legacy), &mut ex).await.unwrap();
    ex.finish().await.unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let by_number: Vec<Option<String>> =
        sqlx::query_scalar("SELECT wave FROM account ORDER BY account_number").fetch_all(&pool).await.unwrap();
    let stored: Vec<Option<String>> =
        sqlx::query_scalar("SELECT wave FROM account ORDER BY rowid").fetch_all(&pool).await.unwrap();
    let mut grouped = by_number.clone();
    grouped.sort();
    assert_ne!(by_number, grouped, "the sample's waves interleave in account order: {by_number:?}");
    assert_eq!(stored, grouped);
}

/// A wave's printed letters come back in account order byte by byte, whatever the database's
/// collation (the day files of letters are built in this order): on PostgreSQL with ICU's
/// `en-US`, which sorts `A_1`, `a-1`, `A-2`, `B0`.
#[tokio::test]
async fn on_postgres_printed_letters_come_in_byte_order_whatever_the_collation() {
    let Some(url) = support::postgres_db_en_us().await else { return };
    let store = Store::open(&url).await.expect("open postgres");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
    for (i, account) in ["A_1", "a-1", "A-2", "B0"].into_iter().enumerate() {
        sqlx::query(
            "INSERT INTO notice (wave, account_number, kind, message_id, channel, recipients, state, created_at, sent_at) \
             VALUES ('w', $1, 'first_new_bill-2017-07-01', $2, 'print', '', 'sent', '2017-06-01', '2017-06-01')",
        )
        .bind(account)
        .bind(format!("m{i}"))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let collated: Vec<String> = sqlx::query_scalar("SELECT account_number FROM notice ORDER BY account_number")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(collated, ["A_1", "a-1", "A-2", "B0"], "the database sorts by its collation");
    let printed: Vec<String> = store.printed_notices("w").await.unwrap().into_iter().map(|(a, _, _)| a).collect();
    assert_eq!(printed, ["A-2", "A_1", "B0", "a-1"]);
}

/// Each behaviour of the contract as two tests: on a SQLite file and on PostgreSQL.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (dir, store) = super::sqlite_store().await;
                    super::$name(store).await;
                    assert!(dir.path().join("state.db").exists());
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(store) = super::postgres_store().await else { return };
                    super::$name(store).await;
                }
            )*
        }
    };
}

on_both_stores!(
    extraction_quarantines_refreshes_and_survives_a_crash,
    bulky_documents_and_cells_read_back_exactly,
    extracted_records_read_back_exactly_with_any_characters,
    transitions_are_journaled_once_and_pages_see_what_is_due,
    a_pages_transitions_apply_together_each_once,
    a_persons_hold_is_lifted_by_its_release_alone,
    a_pages_notices_are_recorded_together_once,
    notices_are_claimed_once_and_retried_when_due,
    recipients_are_stored_with_their_journal_row,
    runs_are_numbered_per_wave_and_never_recorded_twice,
    a_waves_tallies_read_back_as_written,
    run_results_read_back_whole_whatever_changed,
    waivers_are_once_per_account_in_the_callers_transaction,
    the_wave_journal_keeps_promotions,
    cutovers_and_load_sets_follow_their_files,
    portal_links_posts_and_questions,
    a_workers_heartbeat_renews_and_its_stop_releases_only_its_own,
    a_page_claimed_ahead_stays_claimed_when_the_page_before_goes,
    claims_let_go_in_a_transaction_go_with_it,
);
