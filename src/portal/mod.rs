//! The portal (`cutover serve`, issue 13): the customer pages every notice links to, and the
//! team's pages behind a login, served by axum on the process's tokio runtime, on the same store.
//!
//! Where it meets the rest: handlers parse the request and call the engine (`engine/portal.rs`,
//! and the very functions the CLI calls for waive, resolve and rollback); pages are minijinja
//! templates (`portal/templates/`) rendered auto-escaped exactly as `output::render_html` does;
//! `security.rs` has the keys, sessions, rate limit and headers. Nothing here speaks SQL.

pub mod client;
mod customer;
pub mod security;
mod team;

use crate::engine::{Ctx, Engine};
use crate::workspace::PortalConfig;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use security::{Keys, RateLimiter, Sessions};
use std::net::SocketAddr;
use std::sync::Arc;

/// The largest request body taken (a form of addresses or a question is far smaller).
pub const BODY_LIMIT: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("cutover.yaml has no `portal:` section (listen, base_url, team): see README \"The portal\"")]
    NotConfigured,
    #[error(transparent)]
    Security(#[from] security::SecurityError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
    #[error("template {0}")]
    Template(String),
}

/// What every request shares.
pub struct Portal {
    pub engine: Engine,
    pub config: PortalConfig,
    keys: Keys,
    sessions: Sessions,
    limiter: RateLimiter,
    templates: minijinja::Environment<'static>,
    /// The day the portal acts as (`--as-of`), else today's date each request.
    as_of: Option<NaiveDate>,
}

impl Portal {
    /// Builds the portal of the engine's workspace. Returns it and whether its signing key is a
    /// random one (no `CUTOVER_PORTAL_SECRET`).
    pub fn new(engine: Engine, as_of: Option<NaiveDate>) -> Result<(Portal, bool), PortalError> {
        let config = engine.ws.config.portal.clone().ok_or(PortalError::NotConfigured)?;
        let (keys, random) = Keys::from_env()?;
        let limiter = RateLimiter::new(config.rate_per_minute);
        let templates = templates()?;
        Ok((Portal { engine, config, keys, sessions: Sessions::default(), limiter, templates, as_of }, random))
    }

    /// The day a request acts as.
    pub fn today(&self) -> NaiveDate {
        self.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive())
    }

    /// A run context for a request by `actor`.
    pub fn ctx(&self, actor: &str) -> Ctx {
        Ctx::new(self.today(), actor)
    }

    /// Renders a page template: auto-escaped, with the page's own CSP.
    fn page(&self, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
        match self.templates.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => html_response(status, html),
            Err(e) => {
                eprintln!("portal: template {name}: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }

    /// The one page an invalid, expired or unknown link gets (same status, same bytes).
    fn not_found(&self) -> Response {
        self.page(StatusCode::NOT_FOUND, "not_found.html", minijinja::context! {})
    }

    /// A team page for something that does not exist: said plainly (a signed-in team member may
    /// know what is missing; the customer's one page for any bad link stays as it is).
    fn team_not_found(&self, what: &str) -> Response {
        self.page(StatusCode::NOT_FOUND, "not_found.html", minijinja::context! { team_missing => what })
    }

    /// An internal failure: logged (without the request), a plain page to the visitor.
    fn failed(&self, what: &str, e: impl std::fmt::Display) -> Response {
        eprintln!("portal: {what}: {e}");
        self.page(StatusCode::INTERNAL_SERVER_ERROR, "error.html", minijinja::context! {})
    }
}

/// An HTML response whose Content-Security-Policy allows exactly its own inline blocks.
pub fn html_response(status: StatusCode, html: String) -> Response {
    let csp = security::csp_for(&html);
    let mut r = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

const TEMPLATES: [(&str, &str); 12] = embedded!(
    "templates/",
    "base.html",
    "not_found.html",
    "error.html",
    "customer.html",
    "confirmed.html",
    "team_bar.html",
    "login.html",
    "waves.html",
    "wave.html",
    "account.html",
    "bills.html",
    "done.html",
);

/// The portal's templates, escaped as `output::render_html` escapes.
fn templates() -> Result<minijinja::Environment<'static>, PortalError> {
    let mut env = crate::output::html_environment();
    for (name, src) in TEMPLATES {
        env.add_template(name, src).map_err(|e| PortalError::Template(format!("{name}: {e}")))?;
    }
    Ok(env)
}

pub const STYLESHEET: &str = include_str!("templates/portal.css");

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], STYLESHEET)
        .into_response()
}

/// Every response: the rate limit first, then headers that keep the link in the address bar out
/// of referrers, caches and frames.
async fn guard(
    State(p): State<Arc<Portal>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if !p.limiter.allow(addr.ip()) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "60")],
            "too many requests; try again in a minute\n",
        )
            .into_response();
    }
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    r
}

/// The portal's routes.
pub fn router(p: Arc<Portal>) -> Router {
    use axum::routing::{get, post};
    Router::new()
        .route("/", get(customer::home))
        .route("/portal.css", get(stylesheet))
        .route("/c/{token}", get(customer::page))
        .route("/c/{token}/bill", get(customer::bill))
        .route("/c/{token}/how-to-read", get(customer::how_to_read))
        .route("/c/{token}/emails", post(customer::emails))
        .route("/c/{token}/question", post(customer::question))
        .route("/team", get(team::waves))
        .route("/team/login", get(team::login_form).post(team::login))
        .route("/team/logout", post(team::logout))
        .route("/team/waves/{wave}", get(team::wave))
        .route("/team/waves/{wave}/report", get(team::report))
        .route("/team/accounts/{account}", get(team::account))
        .route("/team/accounts/{account}/bills/{period}", get(team::bills))
        .route("/team/accounts/{account}/{action}", post(team::act))
        .fallback(customer::fallback)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(p.clone(), guard))
        .with_state(p)
}

/// Serves until `stop` resolves (SIGINT/SIGTERM in the CLI): requests in hand are finished.
pub async fn serve(
    p: Arc<Portal>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), PortalError> {
    let app = router(p).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(stop).await.map_err(PortalError::Serve)
}

/// Binds the configured address.
pub async fn bind(addr: &str) -> Result<tokio::net::TcpListener, PortalError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| PortalError::Listen { addr: addr.to_string(), source })
}
