//! The team's pages, behind a login (`portal.team` in `cutover.yaml`, argon2 hashes): the
//! waves, a wave's reconciliation report and accounts, one account in full, the customers'
//! questions, and the actions (waive, resolve an unknown notice, roll back), each with a
//! required reason and journaled under the signed-in name by the same engine functions the CLI
//! calls. Sessions live in HttpOnly, SameSite=Strict cookies; every form carries a CSRF token
//! bound to the session.

use super::Portal;
use super::security::{Session, cookie, password_matches};
use crate::store::NoticeState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use std::sync::Arc;

const SESSION_COOKIE: &str = "cutover_session";
const LOGIN_COOKIE: &str = "cutover_login";

/// The signed-in member and the session's id, from the request's cookie.
fn signed_in(p: &Portal, headers: &HeaderMap) -> Option<(Session, String)> {
    let h = headers.get(header::COOKIE)?.to_str().ok()?;
    let id = cookie(h, SESSION_COOKIE)?;
    p.sessions.get(id).map(|s| (s, id.to_string()))
}

/// A page for the signed-in member, or the refusal an anonymous visitor gets (401, the login form).
async fn member(p: &Portal, headers: &HeaderMap) -> Result<(Session, String), Response> {
    match signed_in(p, headers) {
        Some(s) => Ok(s),
        None => Err(login_page(p, StatusCode::UNAUTHORIZED, Some("Sign in to see the team's pages."))),
    }
}

fn cookie_attrs(p: &Portal) -> &'static str {
    if p.config.base_url.starts_with("https://") { "; Secure" } else { "" }
}

fn login_page(p: &Portal, status: StatusCode, message: Option<&str>) -> Response {
    let pre = match super::security::random_token(18) {
        Ok(t) => t,
        Err(e) => return p.failed("a login form", e),
    };
    let mut r = p.page(status, "login.html", context! { csrf => p.keys.sign("login", &pre), message => message });
    let c = format!("{LOGIN_COOKIE}={pre}; Path=/team; HttpOnly; SameSite=Strict; Max-Age=3600{}", cookie_attrs(p));
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub async fn login_form(State(p): State<Arc<Portal>>) -> Response {
    login_page(&p, StatusCode::OK, None)
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

pub async fn login(State(p): State<Arc<Portal>>, headers: HeaderMap, axum::Form(f): axum::Form<LoginForm>) -> Response {
    let pre = headers.get(header::COOKIE).and_then(|h| h.to_str().ok()).and_then(|h| cookie(h, LOGIN_COOKIE));
    if !pre.is_some_and(|pre| p.keys.verify("login", pre, &f.csrf)) {
        return p.page(StatusCode::FORBIDDEN, "error.html", context! { forbidden => true });
    }
    let member = p.config.team.iter().find(|m| m.name == f.name.trim()).cloned();
    // Argon2 is slow on purpose: off the async workers. An unknown name is checked against a
    // hash too, so the answer takes as long either way.
    let hash = member.as_ref().map(|m| m.password_hash.clone()).unwrap_or_else(|| DUMMY_HASH.to_string());
    let password = f.password;
    let ok = tokio::task::spawn_blocking(move || password_matches(&password, &hash)).await.unwrap_or(false);
    let Some(m) = member.filter(|_| ok) else {
        return login_page(&p, StatusCode::UNAUTHORIZED, Some("That name and password were not recognised."));
    };
    let id = match p.sessions.open(&m.name) {
        Ok(id) => id,
        Err(e) => return p.failed("a session", e),
    };
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/team")]).into_response();
    let c = format!(
        "{SESSION_COOKIE}={id}; Path=/team; HttpOnly; SameSite=Strict; Max-Age={}{}",
        super::security::SESSION_HOURS * 3600,
        cookie_attrs(&p)
    );
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// An argon2 hash of a random password nobody knows: what an unknown name is checked against.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0mh3V2CxZfVVtQZpaKmxl8RdZrqNi3Ux6m7QoVQ8pJo";

#[derive(Debug, serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(State(p): State<Arc<Portal>>, headers: HeaderMap, axum::Form(f): axum::Form<CsrfOnly>) -> Response {
    if let Some((_, id)) = signed_in(&p, &headers)
        && p.keys.verify("team", &id, &f.csrf)
    {
        p.sessions.close(&id);
    }
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/team/login")]).into_response();
    let c = format!("{SESSION_COOKIE}=; Path=/team; HttpOnly; SameSite=Strict; Max-Age=0{}", cookie_attrs(&p));
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// One wave's line on the overview.
#[derive(Debug, serde::Serialize)]
struct WaveLine {
    id: String,
    name: String,
    window: String,
    states: Vec<(String, i64)>,
    notices: Vec<(String, i64)>,
    gate: Option<String>,
    pass_rate: Option<String>,
    run: Option<i64>,
    next_notice: Option<String>,
    next_cutover: Option<String>,
}

async fn wave_line(p: &Portal, w: &crate::plan::Wave) -> Result<WaveLine, crate::engine::EngineError> {
    let store = &p.engine.store;
    let states = store.state_counts(Some(&w.id)).await?.into_iter().map(|(s, n)| (s.to_string(), n)).collect();
    let mut notices: std::collections::BTreeMap<String, i64> = Default::default();
    for (state, _channel, n) in store.notice_counts(&w.id).await? {
        // A notice in `sending` that no process holds is what `notify` reports as unknown.
        let shown = if state == NoticeState::Sending { "unknown" } else { state.as_str() };
        *notices.entry(shown.to_string()).or_default() += n;
    }
    let run = store.latest_run(&w.id).await?;
    let (next_notice, next_cutover) = store.next_dates(&w.id, p.today()).await?;
    Ok(WaveLine {
        id: w.id.clone(),
        name: w.name.clone(),
        window: match (w.start, w.end()) {
            (Some(s), Some(e)) => format!("{s} .. {e}"),
            _ => "not dated yet".into(),
        },
        states,
        notices: notices.into_iter().collect(),
        gate: run.as_ref().map(|r| r.gate.as_str().to_string()),
        pass_rate: run.as_ref().map(|r| r.pass_rate.to_string()),
        run: run.as_ref().map(|r| r.number),
        next_notice: next_notice.map(|d| d.to_string()),
        // One passed is overdue: said, as `switch` would hold it.
        next_cutover: next_cutover.map(|d| if d < p.today() { format!("{d} (overdue)") } else { d.to_string() }),
    })
}

pub async fn waves(State(p): State<Arc<Portal>>, headers: HeaderMap) -> Response {
    let (who, id) = match member(&p, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut lines = Vec::new();
    for w in &p.engine.plan.waves {
        match wave_line(&p, w).await {
            Ok(l) => lines.push(l),
            Err(e) => return p.failed("the waves page", e),
        }
    }
    let questions = match p.engine.store.portal_questions(None).await {
        Ok(q) => q,
        Err(e) => return p.failed("the waves page", e),
    };
    p.page(
        StatusCode::OK,
        "waves.html",
        context! { who => who.name, csrf => p.keys.sign("team", &id), waves => lines, questions => questions, today => p.today().to_string() },
    )
}

pub async fn wave(State(p): State<Arc<Portal>>, headers: HeaderMap, Path(wave): Path<String>) -> Response {
    let (who, id) = match member(&p, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(w) = p.engine.wave(&wave) else { return p.team_not_found(&format!("No wave `{wave}` in the plan")) };
    let w = w.clone();
    let line = match wave_line(&p, &w).await {
        Ok(l) => l,
        Err(e) => return p.failed("a wave page", e),
    };
    let store = &p.engine.store;
    let runs = match store.runs(&w.id).await {
        Ok(r) => r,
        Err(e) => return p.failed("a wave page", e),
    };
    let accounts = match store.wave_accounts(&crate::store::WavePage::of(&w.id, &crate::domain::State::ALL, 1000)).await
    {
        Ok(a) => a,
        Err(e) => return p.failed("a wave page", e),
    };
    let accounts: Vec<_> = accounts
        .iter()
        .map(|a| {
            context! {
                number => a.account_number, state => a.state.to_string(), reason => a.state_reason,
                notice => a.notice_date.map(|d| d.to_string()), first_bill => a.first_new_bill_date.map(|d| d.to_string()),
            }
        })
        .collect();
    p.page(
        StatusCode::OK,
        "wave.html",
        context! { who => who.name, csrf => p.keys.sign("team", &id), w => line, runs => runs, accounts => accounts },
    )
}

/// How many accounts the report's drill-down carries bills for (as `reconcile --format html`).
const DRILL_DOWN: usize = 100;

pub async fn report(State(p): State<Arc<Portal>>, headers: HeaderMap, Path(wave): Path<String>) -> Response {
    if let Err(r) = member(&p, &headers).await {
        return r;
    }
    let Ok(w) = p.engine.wave(&wave) else { return p.team_not_found(&format!("No wave `{wave}` in the plan")) };
    let w = w.clone();
    let mut rep = match p.engine.reconciliation(&w).await {
        Ok(r) => r,
        Err(e) => return p.failed("a report", e),
    };
    if let Err(e) = p.engine.attach_bills(&mut rep, DRILL_DOWN).await {
        return p.failed("a report", e);
    }
    match crate::reconcile::report::render(&rep, crate::output::Format::Html) {
        Ok(html) => super::html_response(StatusCode::OK, html),
        Err(e) => p.failed("a report", e),
    }
}

pub async fn account(State(p): State<Arc<Portal>>, headers: HeaderMap, Path(account): Path<String>) -> Response {
    let (who, id) = match member(&p, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match account_page(&p, &account).await {
        Ok(Some(ctx)) => p.page(
            StatusCode::OK,
            "account.html",
            context! { who => who.name, csrf => p.keys.sign("team", &id), ..ctx },
        ),
        Ok(None) => no_account(&p, &account),
        Err(e) => p.failed("an account page", e),
    }
}

async fn account_page(p: &Portal, account: &str) -> Result<Option<minijinja::Value>, crate::engine::EngineError> {
    let store = &p.engine.store;
    let Some(row) = store.account(account).await? else { return Ok(None) };
    let journal = store.journal(account).await?;
    let mut verdicts = Vec::new();
    for (_, data) in store.verdicts(&[account.to_string()]).await? {
        let v: crate::reconcile::PeriodVerdict = serde_json::from_str(&data)
            .map_err(|e| crate::store::StoreError::Corrupt(format!("verdict of {account}: {e}")))?;
        verdicts.push(context! {
            period => v.period.to_string(), legacy => v.legacy_total.to_string(), new => v.new_total.to_string(),
            difference => v.difference.to_string(), status => v.status.as_str(),
            reasons => v.reasons.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        });
    }
    let notices = match &row.wave {
        Some(w) => store.notices(w, None).await?.into_iter().filter(|n| n.account_number == account).collect(),
        None => Vec::new(),
    };
    let unknown = notices.iter().any(|n| matches!(n.state, NoticeState::Sending | NoticeState::Failed));
    let waived = !store.waivers(&[account.to_string()]).await?.is_empty();
    // What `Engine::waive` would take: a failed reconciliation, on an account not cut over.
    let can_waive = crate::engine::waivable(row.state) && store.recon(account).await?.as_deref() == Some("fail");
    let submissions = store.portal_submissions(Some(account)).await?;
    let questions = store.portal_questions(Some(account)).await?;
    let recipients = store.recipients(account).await?;
    let name = store.legacy_accounts(&[account.to_string()]).await?.into_iter().next().map(|a| a.account.name);
    Ok(Some(context! {
        a => context! {
            number => row.account_number, name => name, wave => row.wave, state => row.state.to_string(),
            reason => row.state_reason, cutover => row.cutover_date.map(|d| d.to_string()),
            first_bill => row.first_new_bill_date.map(|d| d.to_string()), notice => row.notice_date.map(|d| d.to_string()),
        },
        journal => journal, verdicts => verdicts, notices => notices, unknown => unknown, waived => waived,
        submissions => submissions, questions => questions, recipients => recipients,
        can_waive => can_waive,
        can_roll_back => matches!(row.state, crate::domain::State::CutOver | crate::domain::State::Loaded),
        can_release => row.state == crate::domain::State::Held,
        can_hold => matches!(
            row.state,
            crate::domain::State::Extracted
                | crate::domain::State::Rated
                | crate::domain::State::Reconciled
                | crate::domain::State::Notified
        ),
    }))
}

/// An account's legacy and new bills for one period, side by side (the team's "old and new bills").
pub async fn bills(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Path((account, period)): Path<(String, String)>,
) -> Response {
    let (who, _) = match member(&p, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(period) = period.parse::<crate::domain::Period>() else {
        return p.team_not_found(&format!("`{period}` is not a period (YYYY-MM)"));
    };
    match bills_page(&p, &account, period).await {
        Ok(Some(ctx)) => p.page(StatusCode::OK, "bills.html", context! { who => who.name, ..ctx }),
        Ok(None) => p.team_not_found(&format!("No bills of account `{account}` for {period}")),
        Err(e) => p.failed("an account's bills", e),
    }
}

async fn bills_page(
    p: &Portal,
    account: &str,
    period: crate::domain::Period,
) -> Result<Option<minijinja::Value>, crate::engine::EngineError> {
    use crate::output::Format;
    let engine = &p.engine;
    let Some(acct) = engine.store.legacy_accounts(&[account.to_string()]).await?.into_iter().next() else {
        return Ok(None);
    };
    let refused = |e: crate::output::OutputError| crate::engine::EngineError::Refused(e.to_string());
    let legacy = crate::bill::render_legacy(&acct, period, Format::Text).map_err(refused)?;
    let new = match engine.new_bill(&acct, period).await {
        Ok(rated) => crate::bill::render(&acct.account.name, &rated, &engine.ws.config.remit_to, Format::Text)
            .map_err(refused)?,
        Err(crate::engine::EngineError::Refused(why)) => format!("Not rated: {why}"),
        Err(e) => return Err(e),
    };
    Ok(Some(context! { account, period => period.to_string(), legacy, new }))
}

#[derive(Debug, serde::Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    /// For resolve: `sent` or `resend`.
    #[serde(default)]
    decision: String,
}

/// The checks every action shares: signed in, the form's token, a reason. Ok: the member's name.
fn action_check(p: &Portal, headers: &HeaderMap, f: &ActionForm) -> Result<String, Box<Response>> {
    let Some((who, id)) = signed_in(p, headers) else {
        return Err(Box::new(login_page(p, StatusCode::UNAUTHORIZED, Some("Sign in to act on an account."))));
    };
    if !p.keys.verify("team", &id, &f.csrf) {
        return Err(Box::new(p.page(StatusCode::FORBIDDEN, "error.html", context! { forbidden => true })));
    }
    if f.reason.trim().is_empty() {
        return Err(Box::new(p.page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "error.html",
            context! { message => "Say why: the reason is kept in the account's journal." },
        )));
    }
    Ok(who.name)
}

fn done(p: &Portal, account: &str, message: String) -> Response {
    p.page(StatusCode::OK, "done.html", context! { account => account, message => message })
}

/// What an action that changes an account or finds it already changed says: "A did", "A was
/// already …; nothing changed", or why it was refused.
fn answer(
    p: &Portal,
    account: &str,
    changed: Result<bool, crate::engine::EngineError>,
    did: String,
    already: &str,
) -> Response {
    match changed {
        Ok(true) => done(p, account, format!("{account} {did}")),
        Ok(false) => done(p, account, format!("{account} {already}; nothing changed")),
        Err(e) => refused(p, e),
    }
}

/// The team page for an account the store does not hold (a likely typo pointed out).
fn no_account(p: &Portal, account: &str) -> Response {
    p.team_not_found(&format!("No account `{account}` in the store{}", crate::store::case_hint(account)))
}

fn refused(p: &Portal, e: crate::engine::EngineError) -> Response {
    match e {
        crate::engine::EngineError::Refused(m) => p.page(StatusCode::CONFLICT, "error.html", context! { message => m }),
        crate::engine::EngineError::Store(crate::store::StoreError::NoAccount(a)) => no_account(p, &a),
        e => p.failed("an action", e),
    }
}

/// The actions on an account, each posted to `/team/accounts/{account}/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Waive,
    Hold,
    Release,
    Rollback,
    Resolve,
}

impl Action {
    /// The action a path's last segment names, if any.
    fn parse(segment: &str) -> Option<Action> {
        match segment {
            "waive" => Some(Action::Waive),
            "hold" => Some(Action::Hold),
            "release" => Some(Action::Release),
            "rollback" => Some(Action::Rollback),
            "resolve" => Some(Action::Resolve),
            _ => None,
        }
    }
}

/// An action on an account (waive, hold or put back, roll back, resolve an unknown notice), after the checks they
/// share ([`action_check`]); an unknown action is not found.
pub async fn act(
    State(p): State<Arc<Portal>>,
    headers: HeaderMap,
    Path((account, action)): Path<(String, String)>,
    axum::Form(f): axum::Form<ActionForm>,
) -> Response {
    let Some(action) = Action::parse(&action) else { return p.team_not_found(&format!("No action `{action}`")) };
    let who = match action_check(&p, &headers, &f) {
        Ok(w) => w,
        Err(r) => return *r,
    };
    let (reason, ctx) = (f.reason.trim(), p.ctx(&who));
    match action {
        Action::Waive => {
            let changed = p.engine.waive(&account, reason, &ctx).await;
            answer(&p, &account, changed, format!("waived by {who}: {reason}"), "was already waived")
        }
        Action::Hold => {
            let changed = p.engine.hold(&account, reason, &ctx).await.map(|held| held.is_some());
            answer(&p, &account, changed, format!("held by {who}: {reason}"), "was already held")
        }
        Action::Release => {
            let changed = p.engine.release(&account, reason, &ctx).await;
            answer(&p, &account, changed, format!("put back by {who}: {reason}"), "is not held")
        }
        Action::Rollback => {
            let changed = p.engine.rollback(&account, reason, &ctx).await;
            answer(&p, &account, changed, format!("rolled back by {who}: {reason}"), "was already rolled back")
        }
        Action::Resolve => resolve(&p, &account, &f.decision, reason, &ctx).await,
    }
}

/// Resolves a notice whose delivery is unknown: `decision` is `sent` or `resend`.
async fn resolve(p: &Portal, account: &str, decision: &str, reason: &str, ctx: &crate::engine::Ctx) -> Response {
    let sent = match decision {
        "sent" => true,
        "resend" => false,
        _ => {
            return p.page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "error.html",
                context! { message => "Choose sent or resend." },
            );
        }
    };
    let wave = match p.engine.store.account(account).await {
        Ok(Some(r)) => r.wave.unwrap_or_default(),
        Ok(None) => return no_account(p, account),
        Err(e) => return p.failed("an action", e),
    };
    match p.engine.resolve_notice(&wave, account, sent, reason, ctx).await {
        Ok(m) => done(p, account, m),
        Err(e) => refused(p, e),
    }
}
