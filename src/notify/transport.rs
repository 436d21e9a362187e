//! Sending: the only code that delivers mail. `outbox` writes one `.eml` file per message (named
//! after the notice, so a repeat overwrites rather than duplicates); `smtp` talks to a server
//! through lettre. Credentials come only from the environment and are never printed.

use crate::workspace::{MailConfig, Tls};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (4xx, connection refused, timeout).
    #[error("transient: {0}")]
    Transient(String),
    /// The server refused for good (5xx), or the message cannot be built.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

pub enum Mailer {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// An email ready to send.
pub struct Email {
    pub from: Mailbox,
    pub to: Vec<super::EmailAddress>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub date: std::time::SystemTime,
    /// File stem for the outbox.
    pub file_stem: String,
}

impl Mailer {
    pub fn from_config(cfg: &MailConfig, root: &Path) -> Result<Mailer, String> {
        match cfg {
            MailConfig::Outbox { dir } => {
                Ok(Mailer::Outbox(if dir.is_absolute() { dir.clone() } else { root.join(dir) }))
            }
            MailConfig::Smtp { host, port, tls } => {
                let builder = match tls {
                    Tls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
                    Tls::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(|e| e.to_string())?
                    }
                    Tls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| e.to_string())?,
                };
                let mut builder = builder.port(*port).timeout(Some(std::time::Duration::from_secs(30)));
                if let (Ok(user), Ok(pass)) =
                    (std::env::var("CUTOVER_SMTP_USERNAME"), std::env::var("CUTOVER_SMTP_PASSWORD"))
                {
                    builder =
                        builder.credentials(lettre::transport::smtp::authentication::Credentials::new(user, pass));
                }
                Ok(Mailer::Smtp(builder.build()))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Outbox(dir) => format!("outbox {}", dir.display()),
            Mailer::Smtp(_) => "SMTP".to_string(),
        }
    }

    pub async fn send(&self, email: &Email) -> Result<(), SendError> {
        let mut b = Message::builder()
            .from(email.from.clone())
            .subject(&email.subject)
            .message_id(Some(email.message_id.clone()))
            .date(email.date);
        for to in &email.to {
            b = b.to(Mailbox::new(None, to.as_lettre().clone()));
        }
        let msg = b
            .multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        match self {
            Mailer::Outbox(dir) => {
                let path = dir.join(format!("{}.eml", email.file_stem));
                write_atomically(&path, &msg.formatted())
                    .map_err(|e| SendError::Transient(format!("{}: {e}", path.display())))
            }
            Mailer::Smtp(t) => match t.send(msg).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Err(e) => Err(SendError::Transient(e.to_string())),
            },
        }
    }
}

/// Writes a file so that a reader never sees half of it and a power cut never loses it once this
/// returns: a temporary file, flushed to disk, renamed over the name, and the folder flushed (so
/// the rename itself is durable before the store records that the file exists).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = dir {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
