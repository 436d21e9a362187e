//! Sending: the only code that delivers mail. `outbox` writes one `.eml` file per message (named
//! after the notice, so a repeat overwrites rather than duplicates); `smtp` talks to a server
//! through lettre. Credentials come only from the environment and are never printed.

use crate::durable::{write_atomically, write_temp};
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

    /// Where the outbox keeps this email (`None`: the mailer is SMTP), once it is known the
    /// message can be built: its bytes are made where the file is written
    /// ([`FileBatch::write_email`]).
    pub fn outbox_path(&self, email: &Email) -> Result<Option<PathBuf>, SendError> {
        match self {
            Mailer::Outbox(dir) => {
                buildable(email)?;
                Ok(Some(dir.join(format!("{}.eml", email.file_stem))))
            }
            Mailer::Smtp(_) => Ok(None),
        }
    }

    pub async fn send(&self, email: &Email) -> Result<(), SendError> {
        let msg = build(email)?;
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

/// Whether [`build`] can build the message, without building it: lettre refuses a message only
/// for want of a sender or a recipient (its envelope), and the sender is always set. A failure is
/// permanent, as `build`'s.
fn buildable(email: &Email) -> Result<(), SendError> {
    let to = email.to.iter().map(|a| a.as_lettre().clone()).collect();
    lettre::address::Envelope::new(Some(email.from.email.clone()), to)
        .map(|_| ())
        .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
}

/// The message, as lettre builds it (a build failure is permanent: sending again cannot help).
fn build(email: &Email) -> Result<Message, SendError> {
    let mut b = Message::builder()
        .from(email.from.clone())
        .subject(&email.subject)
        .message_id(Some(email.message_id.clone()))
        .date(email.date);
    for to in &email.to {
        b = b.to(Mailbox::new(None, to.as_lettre().clone()));
    }
    b.multipart(MultiPart::alternative_plain_html(email.text.clone(), email.html.clone()))
        .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
}

/// What a [`FileBatch`] writes to a file: bytes made already, or an email, built into its outbox
/// file on the batch's thread (its MIME encoding is most of what building a notice costs, and the
/// thread otherwise waits on the filesystem; issue 11).
enum Content {
    Bytes(Vec<u8>),
    Email(Box<Email>),
}

impl Content {
    fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        match self {
            Content::Bytes(bytes) => Ok(bytes),
            // `Mailer::outbox_path` checked it can be built: a failure here is a file not
            // written, retried as any other.
            Content::Email(email) => build(&email).map(|m| m.formatted()).map_err(std::io::Error::other),
        }
    }
}

/// Files made durable together, for a page of notices: each is written to a temporary name
/// beside its own (not flushed, and named for this writer alone: two processes may write the same
/// file before either knows it is theirs to publish), then [`FileBatch::commit`] removes those
/// [`FileBatch::discard`]ed, flushes the others' data with one filesystem sync, renames them over
/// their names and flushes each folder once. Once `commit`
/// returns, every file it says was written is whole under its name and survives a power cut, as
/// with [`write_atomically`], for two syncs a page instead of two a file (each sync is 1.5–3 ms
/// here).
///
/// The files are written on a thread of the batch's own, started by the first: the caller builds
/// the next file while the last one is written (issue 11). When no thread can be started, they
/// are written at once, as they are handed over. A batch dropped without `commit` (its page
/// failed) waits for its thread and removes what it wrote: no file is left being written behind
/// the caller's back, and none is left half done.
#[derive(Debug, Default)]
pub struct FileBatch {
    writer: Option<Writer>,
    /// What was written at once, without a thread.
    inline: Written,
    handed: usize,
    /// The files handed over that are not to be published, by their place in the batch.
    discarded: std::collections::BTreeSet<usize>,
}

/// A batch's thread, and the channel its files are handed over on.
#[derive(Debug)]
struct Writer {
    files: std::sync::mpsc::Sender<(PathBuf, Content)>,
    thread: std::thread::JoinHandle<Written>,
}

/// What the batch's thread wrote: each file's result in the order handed over, and the place,
/// temporary and final names of those written.
#[derive(Debug, Default)]
struct Written {
    results: Vec<std::io::Result<()>>,
    files: Vec<(usize, PathBuf, PathBuf)>,
}

impl Written {
    /// Writes a file to its temporary name, and notes how that went.
    fn add(&mut self, path: PathBuf, content: Content) {
        let i = self.results.len();
        let written = content
            .into_bytes()
            .and_then(|bytes| write_temp(&path, &bytes))
            .map(|(tmp, _)| self.files.push((i, tmp, path)));
        self.results.push(written);
    }
}

impl Writer {
    /// Waits for every file handed over.
    fn finish(self) -> Written {
        drop(self.files);
        self.thread.join().unwrap_or_default()
    }
}

impl Drop for FileBatch {
    /// A batch dropped without `commit` (its page failed) waits for its thread, then removes the
    /// temporary files written: nothing is published, and nothing is left behind.
    fn drop(&mut self) {
        for (_, tmp, _) in self.written().files {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

impl FileBatch {
    /// Hands `bytes` over to be written to a temporary name beside `path` (made durable and
    /// renamed by `commit`). Returns the file's place in the batch: its result is `commit`'s.
    pub fn write(&mut self, path: PathBuf, bytes: Vec<u8>) -> usize {
        self.hand(path, Content::Bytes(bytes))
    }

    /// Hands `email` over to be built into its outbox file (see [`Mailer::outbox_path`]) and
    /// written as [`FileBatch::write`] writes bytes.
    pub fn write_email(&mut self, path: PathBuf, email: Email) -> usize {
        self.hand(path, Content::Email(Box::new(email)))
    }

    fn hand(&mut self, path: PathBuf, content: Content) -> usize {
        if self.handed == 0 {
            let (files, handed) = std::sync::mpsc::channel::<(PathBuf, Content)>();
            let thread = std::thread::Builder::new().name("cutover-files".into()).spawn(move || {
                let mut w = Written::default();
                for (path, content) in handed {
                    w.add(path, content);
                }
                w
            });
            self.writer = thread.ok().map(|thread| Writer { files, thread });
        }
        self.handed += 1;
        match &self.writer {
            // The thread only ends once the sender is dropped (in `commit`): the send cannot fail.
            Some(writer) => {
                let _ = writer.files.send((path, content));
            }
            None => self.inline.add(path, content),
        }
        self.handed - 1
    }

    pub fn is_empty(&self) -> bool {
        self.handed == 0
    }

    /// What was written, once every file handed over is (by the thread, or at once); left empty.
    fn written(&mut self) -> Written {
        match self.writer.take() {
            Some(writer) => writer.finish(),
            None => std::mem::take(&mut self.inline),
        }
    }

    /// The file at place `i` is not to be published after all (its notice was not this
    /// process's to send): `commit` removes its temporary file and reports it not written.
    pub fn discard(&mut self, i: usize) {
        self.discarded.insert(i);
    }

    /// Waits for every file handed over, then makes those written durable under their names (see
    /// the type's docs). Returns each file's result, in the order handed over; and the batch's,
    /// which, when it failed, leaves no file sure to be durable.
    pub fn commit(mut self) -> (Vec<std::io::Result<()>>, std::io::Result<()>) {
        let mut w = self.written();
        // Every file handed over is written under its temporary name, none is published yet.
        crate::failpoint::hit("files.unpublished");
        // A thread that died (it cannot panic short of running out of memory) wrote nothing sure.
        w.results.resize_with(self.handed, || Err(std::io::Error::other("the file-writing thread stopped")));
        let (dropped, files): (Vec<_>, Vec<_>) = w.files.into_iter().partition(|(i, ..)| self.discarded.contains(i));
        for (i, tmp, _) in dropped {
            let _ = std::fs::remove_file(tmp);
            w.results[i] = Err(std::io::Error::other("discarded: not published"));
        }
        // How many were renamed: on a failure, the temporary files of the others are removed.
        let mut renamed = 0;
        let durable = (|| {
            let Some((_, first, _)) = files.first() else { return Ok(()) };
            sync_data(first, &files)?;
            let mut dirs = std::collections::BTreeSet::new();
            for (_, tmp, path) in &files {
                std::fs::rename(tmp, path)?;
                renamed += 1;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    dirs.insert(dir.to_path_buf());
                }
            }
            for dir in dirs {
                crate::durable::sync_dir(&dir)?;
            }
            Ok(())
        })();
        for (_, tmp, _) in files.iter().skip(renamed) {
            let _ = std::fs::remove_file(tmp);
        }
        (w.results, durable)
    }
}

/// Flushes the files' data to disk: one `syncfs` of their filesystem on Linux (the files of a
/// batch live in the workspace's outbox, one filesystem), else each file.
#[cfg(target_os = "linux")]
fn sync_data(first: &Path, _files: &[(usize, PathBuf, PathBuf)]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(first)?;
    // SAFETY: `syncfs` takes an open file descriptor, which `f` owns and keeps open for the call.
    let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
fn sync_data(_first: &Path, files: &[(usize, PathBuf, PathBuf)]) -> std::io::Result<()> {
    for (_, tmp, _) in files {
        std::fs::File::open(tmp)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::FileBatch;

    /// A page's files, on a real filesystem: each result says what became of its file, in the
    /// order handed over; a file that could not be written fails alone; the others are whole
    /// under their names and no temporary file is left.
    #[test]
    fn a_batch_reports_each_file_and_leaves_the_written_ones_whole() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("not-a-folder");
        std::fs::write(&blocked, "a file where a folder is wanted").unwrap();
        let mut files = FileBatch::default();
        assert!(files.is_empty());
        let a = files.write(dir.path().join("out/a.eml"), b"first".to_vec());
        let bad = files.write(blocked.join("b.eml"), b"second".to_vec());
        let c = files.write(dir.path().join("print/c.html"), b"third".to_vec());
        assert_eq!((a, bad, c), (0, 1, 2));
        assert!(!files.is_empty());
        let (results, durable) = files.commit();
        assert!(durable.is_ok(), "{durable:?}");
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
        assert!(results[1].is_err(), "a file under a file cannot be written: {results:?}");
        assert_eq!(std::fs::read(dir.path().join("out/a.eml")).unwrap(), b"first");
        assert_eq!(std::fs::read(dir.path().join("print/c.html")).unwrap(), b"third");
        assert_eq!(temporary_files(dir.path()), Vec::<String>::new());
    }

    /// Every `.tmp` file under `dir`, by name.
    fn temporary_files(dir: &std::path::Path) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                found.extend(temporary_files(&path));
            } else if path.extension().is_some_and(|e| e == "tmp") {
                found.push(path.display().to_string());
            }
        }
        found
    }

    /// A file handed over, then discarded (its notice was another worker's): not published,
    /// its temporary file gone, while the others of the batch are published whole.
    #[test]
    fn a_discarded_file_is_not_published_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = FileBatch::default();
        let a = files.write(dir.path().join("a.eml"), b"kept".to_vec());
        let b = files.write(dir.path().join("b.eml"), b"not ours".to_vec());
        files.discard(b);
        let (results, durable) = files.commit();
        assert!(durable.is_ok(), "{durable:?}");
        assert!(results[a].is_ok() && results[b].is_err(), "{results:?}");
        assert_eq!(std::fs::read(dir.path().join("a.eml")).unwrap(), b"kept");
        assert!(!dir.path().join("b.eml").exists());
        assert_eq!(temporary_files(dir.path()), Vec::<String>::new());
    }

    /// A batch dropped without `commit` (its page failed before its notices were taken)
    /// publishes nothing and leaves no temporary file.
    #[test]
    fn a_batch_dropped_uncommitted_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = FileBatch::default();
        files.write(dir.path().join("a.eml"), b"first".to_vec());
        files.write(dir.path().join("b.eml"), b"second".to_vec());
        drop(files);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// A batch whose publishing fails part way (a name taken by a folder: the rename fails): the
    /// batch says it is not durable, so the caller marks none of its notices sent and retries
    /// them (a retry writes each file again under the same name); the file renamed before the
    /// failure stands whole, the one after it is not published, and no temporary file is left.
    #[test]
    fn a_batch_that_cannot_publish_says_so_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("b.eml");
        std::fs::create_dir(&taken).unwrap();
        std::fs::write(taken.join("inside"), "a folder where a file is wanted").unwrap();
        let mut files = FileBatch::default();
        files.write(dir.path().join("a.eml"), b"first".to_vec());
        files.write(taken.clone(), b"second".to_vec());
        files.write(dir.path().join("c.eml"), b"third".to_vec());
        let (results, durable) = files.commit();
        assert!(durable.is_err(), "{results:?}");
        assert_eq!(std::fs::read(dir.path().join("a.eml")).unwrap(), b"first");
        assert!(!dir.path().join("c.eml").exists());
        assert_eq!(std::fs::read(taken.join("inside")).unwrap(), b"a folder where a file is wanted");
        assert_eq!(temporary_files(dir.path()), Vec::<String>::new());
    }

    fn email(to: &[&str]) -> super::Email {
        super::Email {
            from: "Billing <billing@example.com>".parse().unwrap(),
            to: to.iter().map(|a| crate::notify::EmailAddress::parse(a).unwrap()).collect(),
            subject: "Your new bill".into(),
            text: "Your first new bill is dated 2017-07-01.".into(),
            html: "<p>Your first new bill is dated 2017-07-01.</p>".into(),
            message_id: "<dc1-A000001@cutover.example.com>".into(),
            date: std::time::SystemTime::UNIX_EPOCH,
            file_stem: "dc1-A000001-2017-07-01".into(),
        }
    }

    /// An email handed over is built on the batch's thread into the file the outbox keeps: the
    /// same message as one sent alone (`Mailer::send`), but for its MIME boundaries. One that
    /// cannot be built (no recipient) is refused for good before it is handed over.
    #[test]
    fn an_email_is_built_where_its_file_is_written_and_an_unbuildable_one_is_refused_first() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = super::Mailer::Outbox(dir.path().join("outbox"));
        let e = email(&["ap@example.com"]);
        let path = mailer.outbox_path(&e).unwrap().unwrap();
        assert_eq!(path, dir.path().join("outbox/dc1-A000001-2017-07-01.eml"));
        let alone = String::from_utf8(super::build(&e).unwrap().formatted()).unwrap();
        let mut files = FileBatch::default();
        let i = files.write_email(path.clone(), e);
        let (results, durable) = files.commit();
        assert!(durable.is_ok() && results[i].is_ok(), "{results:?}");
        let written = std::fs::read_to_string(&path).unwrap();
        let boundary = |m: &str| m.split("boundary=\"").nth(1).and_then(|b| b.split('"').next()).unwrap().to_string();
        assert_eq!(written.replace(&boundary(&written), "B"), alone.replace(&boundary(&alone), "B"));
        assert!(written.contains("To: ap@example.com") && written.contains("Message-ID: <dc1-A000001@"), "{written}");
        let refused = mailer.outbox_path(&email(&[])).unwrap_err();
        assert!(!refused.is_transient(), "{refused}");
        assert!(super::build(&email(&[])).is_err(), "lettre refuses it too");
    }

    #[test]
    fn an_empty_batch_commits_nothing() {
        let (results, durable) = FileBatch::default().commit();
        assert!(results.is_empty() && durable.is_ok());
    }
}
