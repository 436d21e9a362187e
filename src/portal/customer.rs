//! The customer pages, reached only through the personal link of a notice (`/c/<token>`): the
//! change in plain words, the first new bill in preview, how to read it, the billing-email form
//! and the question form. An invalid, expired or unknown link gets the one not-found page.

use super::Portal;
use crate::domain::State as AccountState;
use crate::engine::Applied;
use crate::engine::portal::{OpenLink, parse_addresses, token_hash};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use std::sync::Arc;

/// The journal's actor for what a customer does through their link.
pub const CUSTOMER: &str = "customer (portal link)";

/// The longest question taken.
pub const QUESTION_MAX: usize = 4000;

#[derive(Debug, serde::Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    emails: String,
}

#[derive(Debug, serde::Deserialize)]
pub struct QuestionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    message: String,
}

/// A form's nonce: what makes a post count once (a double click, a replay).
fn nonce_ok(n: &str) -> bool {
    (16..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The link a token opens, or the response to give instead (the not-found page, or an error).
async fn open(p: &Portal, token: &str) -> Result<OpenLink, Response> {
    match p.engine.open_link(token, p.today()).await {
        Ok(Some(l)) => Ok(l),
        Ok(None) => Err(p.not_found()),
        Err(e) => Err(p.failed("opening a link", e)),
    }
}

/// The form's CSRF token: bound to the link (an HMAC of its token's hash).
fn csrf(p: &Portal, token: &str) -> String {
    p.keys.sign("customer", &token_hash(token))
}

pub async fn home(State(p): State<Arc<Portal>>) -> Response {
    p.not_found()
}

pub async fn fallback(State(p): State<Arc<Portal>>) -> Response {
    p.not_found()
}

/// The customer's page; `error` and `typed` re-show the email form after a refusal.
async fn show(
    p: &Portal,
    token: &str,
    link: &OpenLink,
    status: StatusCode,
    error: Option<String>,
    typed: &str,
) -> Response {
    let account = &link.link.account_number;
    // The date the link's notice gave no longer holds when the account was held, rolled back or
    // quarantined since, or was put back and has other dates its notice has not given yet: the
    // page says the change is postponed, not the date the notice gave nor one nobody was told.
    let row = match p.engine.store.account(account).await {
        Ok(row) => row,
        Err(e) => return p.failed("the customer page", e),
    };
    let told = crate::notify::notice_kind_date(&link.link.kind);
    let postponed = row
        .as_ref()
        .filter(|r| {
            matches!(r.state, AccountState::Held | AccountState::RolledBack | AccountState::Quarantined)
                || (matches!(r.state, AccountState::Extracted | AccountState::Rated | AccountState::Reconciled)
                    && r.first_new_bill_date != told)
        })
        .and(told)
        .map(crate::notify::long_date);
    let rolled_back = row.as_ref().is_some_and(|r| r.state == AccountState::RolledBack);
    // What the notice says now; a postponed page needs only the account's number and name (an
    // account held with no dates left has no notice to show).
    let (n, recipients) = match p.engine.notice_data_of(account, &p.ctx(CUSTOMER)).await {
        Ok(d) => (minijinja::Value::from_serialize(&d), d.recipients),
        Err(_) if postponed.is_some() => {
            let name = match p.engine.store.legacy_accounts(std::slice::from_ref(account)).await {
                Ok(a) => a.into_iter().next().map(|a| a.account.name).unwrap_or_default(),
                Err(e) => return p.failed("the customer page", e),
            };
            (context! { account_number => account, account_name => name }, Vec::new())
        }
        Err(e) => return p.failed("the customer page", e),
    };
    let (explained, current) = match p.engine.store.recipients(account).await {
        Ok(r) => (true, r.map(|r| r.emails).unwrap_or(recipients)),
        Err(e) => return p.failed("the customer page", e),
    };
    let nonce = match super::security::random_token(18) {
        Ok(n) => n,
        Err(e) => return p.failed("a form nonce", e),
    };
    p.page(
        status,
        "customer.html",
        context! {
            n => n,
            postponed => postponed,
            rolled_back => rolled_back,
            token => token,
            csrf => csrf(p, token),
            nonce => nonce,
            current => current,
            explained => explained,
            error => error,
            typed => typed,
            expires => crate::notify::long_date(link.link.expires_on),
        },
    )
}

pub async fn page(State(p): State<Arc<Portal>>, Path(token): Path<String>) -> Response {
    match open(&p, &token).await {
        Ok(link) => show(&p, &token, &link, StatusCode::OK, None, "").await,
        Err(r) => r,
    }
}

/// The refusal of a form posted without its token (or with another link's).
fn forbidden(p: &Portal) -> Response {
    p.page(StatusCode::FORBIDDEN, "error.html", context! { forbidden => true })
}

/// The link a form was posted to, when the form carries that link's CSRF token and a nonce; else
/// the page to answer with (the generic not-found page, or the refusal).
async fn posted(p: &Portal, token: &str, csrf: &str, nonce: &str) -> Result<OpenLink, Response> {
    let link = open(p, token).await?;
    if !p.keys.verify("customer", &token_hash(token), csrf) || !nonce_ok(nonce) {
        return Err(forbidden(p));
    }
    Ok(link)
}

pub async fn emails(
    State(p): State<Arc<Portal>>,
    Path(token): Path<String>,
    axum::Form(f): axum::Form<EmailForm>,
) -> Response {
    let link = match posted(&p, &token, &f.csrf, &f.nonce).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let addresses = match parse_addresses(&f.emails) {
        Ok(a) => a,
        Err(why) => return show(&p, &token, &link, StatusCode::UNPROCESSABLE_ENTITY, Some(why), &f.emails).await,
    };
    let shown: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
    let account = link.link.account_number.clone();
    match p.engine.portal_submit(&account, addresses, &f.nonce, &p.ctx(CUSTOMER)).await {
        Ok(Applied::UnknownAccount) => p.not_found(),
        Ok(applied) => p.page(
            StatusCode::OK,
            "confirmed.html",
            context! { token => token, emails => shown, account => account, repeated => applied == Applied::Repeated },
        ),
        Err(e) => p.failed("a billing-email submission", e),
    }
}

pub async fn question(
    State(p): State<Arc<Portal>>,
    Path(token): Path<String>,
    axum::Form(f): axum::Form<QuestionForm>,
) -> Response {
    let link = match posted(&p, &token, &f.csrf, &f.nonce).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let message = f.message.trim();
    if message.is_empty() || message.chars().count() > QUESTION_MAX {
        let why = format!("write your question (at most {QUESTION_MAX} characters)");
        return show(&p, &token, &link, StatusCode::UNPROCESSABLE_ENTITY, Some(why), "").await;
    }
    let at = p.ctx(CUSTOMER).at;
    match p.engine.store.portal_question_put(&f.nonce, &link.link.account_number, message, at).await {
        Ok(_) => p.page(StatusCode::OK, "done.html", context! { token => token, question => true }),
        Err(e) => p.failed("a question", e),
    }
}

/// The customer's first new bill, as the bill HTML renders it, marked as a preview.
async fn preview_bill(p: &Portal, link: &OpenLink) -> Result<String, String> {
    let account = &link.link.account_number;
    let ctx = p.ctx(CUSTOMER);
    let data = p.engine.notice_data_of(account, &ctx).await.map_err(|e| e.to_string())?;
    let row = p.engine.store.account(account).await.map_err(|e| e.to_string())?.ok_or("no account")?;
    let first = row.first_new_bill_date.ok_or("no first new bill date")?;
    let accts = p.engine.store.legacy_accounts(std::slice::from_ref(account)).await.map_err(|e| e.to_string())?;
    let acct = accts.into_iter().next().ok_or("no legacy records")?.as_of(ctx.as_of);
    let rated = p.engine.new_bill(&acct, crate::domain::Period::of(first)).await.map_err(|e| e.to_string())?;
    let html =
        crate::bill::render(&data.account_name, &rated, &p.engine.ws.config.remit_to, crate::output::Format::Html)
            .map_err(|e| e.to_string())?;
    Ok(html)
}

/// Puts `extra` right after the bill's `<body>`, and a style block of the portal's own before
/// `</head>`.
fn inject(html: &str, style: &str, extra: &str) -> String {
    let html = html.replacen("</head>", &format!("<style>{style}</style>\n</head>"), 1);
    html.replacen("<body>", &format!("<body>\n{extra}"), 1)
}

const PREVIEW_STYLE: &str = ".preview-banner{background:#fff4c2;border:2px dashed #b58900;padding:10px 16px;margin:12px auto;max-width:800px;font:15px/1.4 Helvetica,Arial,sans-serif}\
.preview-banner a{color:#1a4f8b}.callout{display:inline-block;background:#c0392b;color:#fff;border-radius:50%;width:1.6em;height:1.6em;line-height:1.6em;text-align:center;font:bold 13px Helvetica,Arial,sans-serif;margin:0 6px;vertical-align:middle}";

pub async fn bill(State(p): State<Arc<Portal>>, Path(token): Path<String>) -> Response {
    let link = match open(&p, &token).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    match preview_bill(&p, &link).await {
        Ok(html) => {
            let banner = format!(
                "<div class=\"preview-banner\"><strong>Preview</strong> of your first bill in the new format: usage \
                 is billed after the month it is used in, so the real bill adds it. \
                 <a href=\"/c/{}\">Back to your page</a></div>",
                crate::output::esc(&token)
            );
            super::html_response(StatusCode::OK, inject(&html, PREVIEW_STYLE, &banner))
        }
        Err(e) => p.failed("a bill preview", e),
    }
}

/// Where each callout of the annotated example goes in the bill's markup (before the anchor, or
/// inside it when the anchor opens a table cell or caption), and what it says.
const CALLOUTS: [(&str, &str); 6] = [
    (
        "<dl class=\"facts\">",
        "The header: your account number, the invoice number, the bill date and the billing period.",
    ),
    ("<section class=\"due\">", "What you owe and when: the amount due and the due date."),
    ("<table class=\"group\"><caption>", "Charges grouped by service, each group with its subtotal."),
    (
        "<tr class=\"line\"><td>",
        "Each line: the charge, its type (recurring, one-time or usage), the days of service it covers, quantity and price; a partial month is marked and prorated by day, with the arithmetic under it.",
    ),
    ("<div class=\"total\">", "The total: the sum of the lines, each rounded to the cent."),
    ("<section class=\"stub\"", "The payment stub: tear it off and mail it with a cheque to our new lockbox address."),
];

pub async fn how_to_read(State(p): State<Arc<Portal>>, Path(token): Path<String>) -> Response {
    let link = match open(&p, &token).await {
        Ok(l) => l,
        Err(r) => return r,
    };
    let html = match preview_bill(&p, &link).await {
        Ok(h) => h,
        Err(e) => return p.failed("the annotated bill", e),
    };
    let mut html = html;
    let mut legend = String::from(
        "<div class=\"preview-banner\"><strong>How to read your new bill</strong>: your own first new bill \
         (a preview), with numbered marks. <ol>",
    );
    for (i, (anchor, words)) in CALLOUTS.iter().enumerate() {
        let mark = format!("<span class=\"callout\">{}</span>", i + 1);
        if let Some(at) = html.find(anchor) {
            let inside = anchor.ends_with("<td>") || anchor.ends_with("<caption>");
            html.insert_str(if inside { at + anchor.len() } else { at }, &mark);
            legend.push_str(&format!("<li>{}</li>", crate::output::esc(words)));
        }
    }
    legend.push_str(&format!("</ol><a href=\"/c/{}\">Back to your page</a></div>", crate::output::esc(&token)));
    super::html_response(StatusCode::OK, inject(&html, PREVIEW_STYLE, &legend))
}
