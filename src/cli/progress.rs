//! Progress bars on a terminal, nothing when piped.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

pub struct Bar {
    bar: Mutex<Option<ProgressBar>>,
}

/// A progress reporter: a bar on stderr when it is a terminal, silence otherwise.
pub fn reporter() -> Arc<dyn crate::engine::Progress> {
    if std::io::stderr().is_terminal() {
        Arc::new(Bar { bar: Mutex::new(None) })
    } else {
        Arc::new(crate::engine::Quiet)
    }
}

/// A spinner for work of unknown length (ticking on its own), on a terminal only.
pub fn spinner(message: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let s = ProgressBar::new_spinner();
    s.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    s.set_message(message.to_string());
    s.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(s)
}

impl crate::engine::Progress for Bar {
    fn start(&self, stage: &str, total: u64) {
        let bar = if total == 0 { ProgressBar::new_spinner() } else { ProgressBar::new(total) };
        let style = ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos}/{len} accounts {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(stage.to_string());
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }
    fn advance(&self, n: u64) {
        if let Ok(b) = self.bar.lock()
            && let Some(b) = b.as_ref()
        {
            b.inc(n);
        }
    }
    fn finish(&self) {
        if let Ok(mut b) = self.bar.lock()
            && let Some(b) = b.take()
        {
            b.finish_and_clear();
        }
    }
}
