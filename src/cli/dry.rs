//! `--dry-run`: the real stage, run on a copy. The store is copied to a scratch folder, mail goes
//! to a scratch outbox and load files to a scratch import folder; the stage runs there exactly as it
//! would (same gates, same decisions, same exit code), and what it journaled and wrote is printed.
//! Nothing in the workspace changes and nothing is sent. The scratch folder is removed at the end.

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
    since: i64,
}

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
        let mut dry = DryRun { dir, since: 0 };
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
                let _ = writeln!(o, "  {:<12} {arrow}: {}", j.account_number, j.reason);
            }
        }
        if changes == 0 {
            o.push_str("  no account would change\n");
        }
        let emails = count(&self.dir.join("outbox"), "eml");
        let letters = count(&self.dir.join("outbox").join("print"), "html");
        let loads = count_all(&self.dir.join("import"));
        let _ = writeln!(
            o,
            "  {changes} state change(s); {emails} email(s) would be sent, {letters} letter(s) printed, \
             {loads} load file(s) written"
        );
        Ok(o)
    }
}

fn count(dir: &Path, ext: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).filter(|e| e.path().extension().is_some_and(|x| x == ext)).count())
        .unwrap_or(0)
}

fn count_all(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.filter_map(|e| e.ok()).map(|e| if e.path().is_dir() { count_all(&e.path()) } else { 1 }).sum()
}
