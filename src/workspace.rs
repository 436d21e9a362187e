//! The workspace: a folder holding `cutover.yaml` (SPEC §1), and the paths it names.
//!
//! Secrets never live here: a database URL with a password comes from `CUTOVER_STORE_URL` /
//! `CUTOVER_SOURCE_URL`, SMTP credentials from `CUTOVER_SMTP_USERNAME` / `CUTOVER_SMTP_PASSWORD`.

use crate::extract::Source;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "cutover.yaml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: no workspace here ({hint})")]
    Missing { path: String, hint: String },
    #[error("{path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("{path}:{line}:{col}: {message}")]
    Invalid { path: String, line: usize, col: usize, message: String },
    #[error("{path}: {message}")]
    Bad { path: String, message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub source: SourceConfig,
    #[serde(default = "defaults::store")]
    pub store: String,
    #[serde(default = "defaults::plan")]
    pub plan: PathBuf,
    #[serde(default = "defaults::catalog")]
    pub catalog: PathBuf,
    #[serde(default = "defaults::templates")]
    pub templates: PathBuf,
    #[serde(default)]
    pub mail: MailConfig,
    #[serde(default = "defaults::sender")]
    pub sender: String,
    #[serde(default = "defaults::remit_to")]
    pub remit_to: Vec<String>,
    /// Where cut-over writes the new-model import records.
    #[serde(default = "defaults::target")]
    pub target: PathBuf,
    /// How notices are delivered: concurrency and retries.
    #[serde(default)]
    pub delivery: Delivery,
    /// Fixed values of the load files (batch, silent communication profile, term type, payment term).
    #[serde(default)]
    pub load: crate::switch::LoadConfig,
    /// The customer and team portal (`cutover serve`, issue 13); absent, notices carry no link.
    #[serde(default)]
    pub portal: Option<PortalConfig>,
}

/// `portal:` in `cutover.yaml`. Secrets are not here: the key that signs forms and sessions comes
/// from `CUTOVER_PORTAL_SECRET`; team members' passwords are stored as argon2 hashes only.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalConfig {
    /// The address `cutover serve` listens on (default 127.0.0.1:8080; put a TLS reverse proxy
    /// in front of it).
    #[serde(default = "defaults::listen")]
    pub listen: String,
    /// The public address customers reach, e.g. `https://billing.example.com`: links are
    /// `base_url/c/<token>`.
    pub base_url: String,
    /// Days a personal link stays valid after the account's first new bill date.
    #[serde(default = "defaults::link_grace_days")]
    pub link_grace_days: u32,
    /// Requests per minute one client address may make (a token bucket of that size).
    #[serde(default = "defaults::rate_per_minute")]
    pub rate_per_minute: u32,
    /// The team members who may sign in to the team pages.
    #[serde(default)]
    pub team: Vec<TeamMember>,
}

/// One team member: the name the journal shows and an argon2 PHC hash of the password
/// (`cutover serve hash-password` makes one).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamMember {
    pub name: String,
    pub password_hash: String,
}

/// Delivery settings: at most `concurrency` messages in flight; a transient failure (4xx,
/// connection refused, timeout) is retried after `retry_base_ms` milliseconds, doubling each time, up to
/// `max_attempts` attempts in all.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    #[serde(default = "defaults::concurrency")]
    pub concurrency: usize,
    #[serde(default = "defaults::retry_base_ms")]
    pub retry_base_ms: u64,
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            concurrency: defaults::concurrency(),
            retry_base_ms: defaults::retry_base_ms(),
            max_attempts: defaults::max_attempts(),
        }
    }
}

impl Delivery {
    /// The wait before attempt `attempt + 1` (attempt ≥ 1): base × 2^(attempt − 1), at most an hour.
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        let base = std::time::Duration::from_millis(self.retry_base_ms);
        base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(std::time::Duration::from_secs(3600))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    Csv { path: PathBuf },
    Sql { url: Option<String> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "lowercase", deny_unknown_fields)]
pub enum MailConfig {
    Outbox {
        #[serde(default = "defaults::outbox")]
        dir: PathBuf,
    },
    Smtp {
        host: String,
        port: u16,
        #[serde(default)]
        tls: Tls,
    },
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig::Outbox { dir: defaults::outbox() }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    #[default]
    None,
    Starttls,
    Tls,
}

mod defaults {
    use std::path::PathBuf;
    pub fn store() -> String {
        "sqlite://.cutover/state.db".into()
    }
    pub fn plan() -> PathBuf {
        "waves/".into()
    }
    pub fn catalog() -> PathBuf {
        "waves/catalog.yaml".into()
    }
    pub fn templates() -> PathBuf {
        "templates/".into()
    }
    pub fn outbox() -> PathBuf {
        "outbox/".into()
    }
    pub fn sender() -> String {
        "Billing <billing@example.com>".into()
    }
    pub fn remit_to() -> Vec<String> {
        vec!["Atmosera, Inc.".into(), "P.O. Box 2712".into(), "Portland, OR 97208-2712".into()]
    }
    pub fn target() -> PathBuf {
        "import/".into()
    }
    pub fn concurrency() -> usize {
        4
    }
    pub fn retry_base_ms() -> u64 {
        60_000
    }
    pub fn max_attempts() -> u32 {
        5
    }
    pub fn listen() -> String {
        "127.0.0.1:8080".into()
    }
    pub fn link_grace_days() -> u32 {
        30
    }
    pub fn rate_per_minute() -> u32 {
        120
    }
}

/// A loaded workspace: its root folder and configuration.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
    pub config: Config,
}

impl Workspace {
    pub fn open(root: &Path) -> Result<Workspace, ConfigError> {
        let path = root.join(CONFIG_FILE);
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Run from inside a workspace (its import/ folder, say): name the workspace rather
                // than invite a second one nested in the first.
                let above = std::path::absolute(root)
                    .ok()
                    .and_then(|r| r.ancestors().skip(1).find(|a| a.join(CONFIG_FILE).is_file()).map(Path::to_path_buf));
                let hint = match above {
                    Some(ws) => {
                        format!("this folder is inside the workspace {0}: run there, or pass -C {0}", ws.display())
                    }
                    None => "create one with `cutover init`, or pass -C DIR".to_string(),
                };
                return Err(ConfigError::Missing { path: shown, hint });
            }
            Err(cause) => return Err(ConfigError::Io { path: shown, cause }),
        };
        let config: Config = serde_yaml::from_str(&text).map_err(|e| {
            let (line, col) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            ConfigError::Invalid { path: shown.clone(), line, col, message: e.to_string() }
        })?;
        if let SourceConfig::Sql { url: Some(u) } = &config.source
            && crate::domain::redact(u) != *u
        {
            return Err(ConfigError::Bad {
                path: shown,
                message: "source.url holds a password; put the URL in CUTOVER_SOURCE_URL instead".into(),
            });
        }
        if crate::domain::redact(&config.store) != config.store {
            return Err(ConfigError::Bad {
                path: shown,
                message: "store holds a password; put the URL in CUTOVER_STORE_URL instead".into(),
            });
        }
        // Absolute, so that a path it shows (a journal's source, a load set's folder) names the
        // same file from any folder it is read in, not only from where the command ran.
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
        Ok(Workspace { root, config })
    }

    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.root.join(p) }
    }

    /// The state store URL: `CUTOVER_STORE_URL` wins; a relative SQLite path is under the root.
    pub fn store_url(&self) -> String {
        if let Ok(u) = std::env::var("CUTOVER_STORE_URL")
            && !u.is_empty()
        {
            return u;
        }
        self.resolve_sqlite(&self.config.store)
    }

    fn resolve_sqlite(&self, url: &str) -> String {
        match url.strip_prefix("sqlite://") {
            Some(rest) if !rest.starts_with('/') && !rest.starts_with(':') => {
                format!("sqlite://{}", self.root.join(rest).display())
            }
            _ => url.to_string(),
        }
    }

    pub fn source(&self) -> Result<Source, ConfigError> {
        match &self.config.source {
            SourceConfig::Csv { path } => Ok(Source::Csv(self.path(path))),
            SourceConfig::Sql { url } => {
                let env = std::env::var("CUTOVER_SOURCE_URL").ok().filter(|u| !u.is_empty());
                match env.or_else(|| url.clone()) {
                    Some(u) => Ok(Source::Sql(self.resolve_sqlite(&u))),
                    None => Err(ConfigError::Bad {
                        path: self.root.join(CONFIG_FILE).display().to_string(),
                        message: "source.kind is sql but neither source.url nor CUTOVER_SOURCE_URL is set".into(),
                    }),
                }
            }
        }
    }
}

/// The text of a fresh `cutover.yaml` for `cutover init`.
pub fn template_config(source: &SourceConfig) -> String {
    let source = match source {
        SourceConfig::Csv { path } => format!("source:\n  kind: csv\n  path: {}\n", path.display()),
        SourceConfig::Sql { url } => format!("source:\n  kind: sql\n  url: \"{}\"\n", url.as_deref().unwrap_or("")),
    };
    format!(
        "# cutover workspace (see SPEC §1). Secrets come from the environment, never from this file.\n\
         {source}\
         store: \"sqlite://.cutover/state.db\"   # or set CUTOVER_STORE_URL=postgres://…\n\
         plan: waves/\n\
         catalog: waves/catalog.yaml\n\
         templates: templates/\n\
         mail:\n  transport: outbox\n  dir: outbox/\n\
         sender: \"Billing <billing@example.com>\"\n\
         remit_to: [\"Atmosera, Inc.\", \"P.O. Box 2712\", \"Portland, OR 97208-2712\"]\n\
         target: import/\n"
    )
}
