//! `--dry-run`: the real stage, run on a copy. The store is copied to a scratch folder, mail goes
//! to a scratch outbox and load files to a scratch import folder; the stage runs there exactly as it
//! would (same gates, same decisions, same exit code), and what it journaled and wrote is printed.
//! Nothing in the workspace changes and nothing is sent. The scratch folder is removed at the end.
//!
//! The files a stage reads back are copied too: the printed letters (a day's letters are one
//! document made from them) and the load files (a set is rewritten only when it changed). Without
//! them the stage saw every earlier day's document and every set as missing, made them again, and
//! the dry run counted letters and load files the real run then did not write. What is counted is
//! what the run made or changed, against those copies.

use super::Failure;
use crate::engine::Engine;
use crate::store::{JournalFilter, Store};
use crate::workspace::MailConfig;
use std::fmt::Write;
use std::path::{Path, PathBuf};

type Result<T> = std::result::Result<T, Failure>;

/// The scratch side of a dry run; removed when dropped.
pub struct DryRun {
    dir: PathBuf,
    /// The workspace's real folders the scratch ones stand for (outbox, import), to name them
    /// back in what the run prints: the scratch folder is gone when the command ends.
    real: Vec<(PathBuf, PathBuf)>,
    since: i64,
    /// Every file of the scratch folder's copies before the run, as it was then.
    before: Files,
}

/// Files under a folder by path, each as (size, modified, inode): a file the run rewrote
/// (always under a new inode, `durable::write_atomically`) or made is not as it was.
type Files = std::collections::HashMap<PathBuf, (u64, Option<std::time::SystemTime>, u64)>;

impl Drop for DryRun {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl DryRun {
    /// Points `engine` at a copy of its store, a scratch outbox and a scratch import folder.
    pub async fn divert(engine: &mut Engine) -> Result<DryRun> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("cutover-dry-run-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(Failure::operational)?;
        // The real folders, before the engine is pointed elsewhere.
        let print = match &engine.ws.config.mail {
            MailConfig::Outbox { dir } => engine.ws.path(dir).join("print"),
            MailConfig::Smtp { .. } => engine.ws.root.join("print"),
        };
        let import = engine.ws.path(&engine.ws.config.target);
        let outbox = print.parent().map_or_else(|| engine.ws.root.clone(), Path::to_path_buf);
        // Named as a path is shown (`import/` of the config has no trailing separator there).
        let tidy = |p: PathBuf| p.components().collect::<PathBuf>();
        let real = vec![(dir.join("import"), tidy(import.clone())), (dir.join("outbox"), tidy(outbox))];
        let mut dry = DryRun { dir, real, since: 0, before: Files::new() };
        copy_tree(&print, &dry.dir.join("outbox").join("print")).map_err(Failure::operational)?;
        copy_tree(&import, &dry.dir.join("import")).map_err(Failure::operational)?;
        dry.before = files(&dry.dir);
        let copy = dry.dir.join("state.db");
        engine.store.copy_to(&copy).await?;
        engine.store = Store::open(&format!("sqlite://{}", copy.display())).await?;
        // The heartbeat renews what this worker holds in the copy; the real store is not touched.
        engine.heartbeat = engine.store.heartbeat().map(std::sync::Arc::new);
        engine.ws.config.mail = MailConfig::Outbox { dir: dry.dir.join("outbox") };
        engine.ws.config.target = dry.dir.join("import");
        dry.since = engine.store.last_journal_id().await?;
        println!("dry run, on a copy of the state: nothing below is written or sent");
        Ok(dry)
    }

    /// `text` (a path, a journal reason) with the scratch folders named as the workspace's own,
    /// where the real run would write.
    pub fn real(&self, text: &str) -> String {
        self.real.iter().fold(text.to_string(), |t, (scratch, real)| {
            t.replace(&scratch.display().to_string(), &real.display().to_string())
        })
    }

    /// What the run would have done: every journal row it wrote, and the files it would have
    /// written or sent.
    pub async fn report(&self, engine: &Engine) -> Result<String> {
        let mut o = String::from("\ndry run: nothing was written and nothing was sent. What would happen:\n");
        let mut after = self.since;
        let mut changes = 0;
        loop {
            let page = engine.store.journal_page(&JournalFilter::default(), after, 1000).await?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            for (_, j) in page {
                changes += 1;
                let arrow = if j.from == j.to { j.to.clone() } else { format!("{} -> {}", j.from, j.to) };
                let _ = writeln!(o, "  {:<12} {arrow}: {}", j.account_number, self.real(&j.reason));
            }
        }
        if changes == 0 {
            o.push_str("  no account would change\n");
        }
        let made: Vec<PathBuf> = files(&self.dir)
            .into_iter()
            .filter(|(path, now)| self.before.get(path) != Some(now))
            .map(|(path, _)| path)
            .collect();
        let under = |dir: PathBuf, ext: Option<&str>| {
            made.iter()
                .filter(|p| p.parent() == Some(&dir) || (ext.is_none() && p.starts_with(&dir)))
                .filter(|p| ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
                .count()
        };
        let emails = under(self.dir.join("outbox"), Some("eml"));
        // A day's letters made into one document to print are not one more letter.
        let print = self.dir.join("outbox").join("print");
        let letters = made
            .iter()
            .filter(|p| p.parent() == Some(&print) && p.extension().is_some_and(|e| e == "html"))
            .filter(|p| !crate::notify::letter::is_day_file(p))
            .count();
        let loads = under(self.dir.join("import"), None);
        let _ = writeln!(
            o,
            "  {changes} state change(s); {emails} email(s) would be sent, {letters} letter(s) printed, \
             {loads} load file(s) written"
        );
        Ok(o)
    }
}

/// Copies the files under `from` (none: nothing) to `to`, keeping their relative paths.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(from) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(std::io::Error::new(e.kind(), format!("{}: {e}", from.display()))),
    };
    std::fs::create_dir_all(to)?;
    for e in entries {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type()?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)
                .map_err(|err| std::io::Error::new(err.kind(), format!("{}: {err}", src.display())))?;
        }
    }
    Ok(())
}

/// Every file under `dir`, at any depth, as it is now.
fn files(dir: &Path) -> Files {
    let mut out = Files::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                #[cfg(unix)]
                let inode = std::os::unix::fs::MetadataExt::ino(&meta);
                #[cfg(not(unix))]
                let inode = 0;
                out.insert(e.path(), (meta.len(), meta.modified().ok(), inode));
            }
        }
    }
    out
}
