//! Plan: wave files and the catalog, from raw YAML to a validated [`Plan`].
//!
//! Pure except for [`load`], which reads the files and hands their text to [`parse`]. Every problem
//! is collected (never just the first) with its `file:line:col`, so `cutover plan check` can list
//! them all at once. Warnings (an undated wave) do not make a plan invalid.

mod catalog;
mod model;
pub mod schedule;
mod wave;
pub mod yaml;

pub use model::*;

use std::fmt;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem in a plan file, at a position.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub severity: Severity,
    pub message: String,
}

impl Problem {
    pub fn error(file: &str, line: usize, col: usize, message: impl Into<String>) -> Self {
        Problem { file: file.to_string(), line, col, severity: Severity::Error, message: message.into() }
    }
    pub fn warning(file: &str, line: usize, col: usize, message: impl Into<String>) -> Self {
        Problem { file: file.to_string(), line, col, severity: Severity::Warning, message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning: ",
            Severity::Error => "",
        };
        write!(f, "{}:{}:{}: {sev}{}", self.file, self.line, self.col, self.message)
    }
}

/// The outcome of checking a plan: the plan when it has no errors, and every problem found.
#[derive(Debug)]
pub struct Checked {
    pub plan: Option<Plan>,
    pub problems: Vec<Problem>,
    /// When the plan has errors but none in the catalog: the catalog and the wave files without
    /// errors. Enough for what concerns accounts one at a time (a rollback, a report, the portal),
    /// never for a stage: a broken wave file must not stop an emergency rollback.
    pub valid_part: Option<Plan>,
}

impl Checked {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Error)
    }
}

/// A source file: its name as shown in messages, and its text.
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

/// Validates a catalog and wave files given as text. Pure: no I/O.
pub fn parse(catalog_file: &SourceFile, waves: &[SourceFile]) -> Checked {
    check(catalog_file, waves, Vec::new())
}

/// [`parse`], with problems already found in the files (bytes that are not UTF-8).
fn check(catalog_file: &SourceFile, waves: &[SourceFile], mut problems: Vec<Problem>) -> Checked {
    let catalog = catalog::parse(catalog_file, &mut problems);
    let waves = wave::parse_all(waves, &mut problems);
    // The load files need the target's ids for every product and charge: required as soon as a
    // wave is dated (it could switch), a warning while every wave is undated.
    if let Some(c) = catalog.as_ref().filter(|_| !waves.is_empty()) {
        let dated = waves.iter().any(|w| w.start.is_some());
        for (line, col, msg) in c.missing_target_ids() {
            problems.push(if dated {
                Problem::error(&catalog_file.name, line, col, msg)
            } else {
                Problem::warning(&catalog_file.name, line, col, msg)
            });
        }
    }
    problems.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    let broken: std::collections::BTreeSet<&str> =
        problems.iter().filter(|p| p.severity == Severity::Error).map(|p| p.file.as_str()).collect();
    let (mut plan, mut valid_part) = (None, None);
    match catalog {
        Some(catalog) if broken.is_empty() => plan = Some(Plan { waves, catalog }),
        Some(catalog) if !broken.contains(catalog_file.name.as_str()) => {
            let waves = waves.into_iter().filter(|w| !broken.contains(w.file.as_str())).collect();
            valid_part = Some(Plan { waves, catalog });
        }
        _ => {}
    }
    Checked { plan, problems, valid_part }
}

/// Reads the catalog and every `*.yaml` in `plan_dir` (except the catalog) and validates them.
/// `root` is the folder file names are shown relative to.
pub fn load(root: &Path, plan_dir: &Path, catalog_path: &Path) -> std::io::Result<Checked> {
    let show = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let mut not_text = Vec::new();
    let mut read = |path: &Path| -> std::io::Result<SourceFile> {
        let bytes = std::fs::read(path).map_err(|e| with_path(e, path))?;
        let (file, problem) = decode(&show(path), bytes);
        not_text.extend(problem);
        Ok(file)
    };
    let catalog = read(catalog_path)?;
    let catalog_canon = catalog_path.canonicalize().ok();
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(plan_dir).map_err(|e| with_path(e, plan_dir))? {
        let path = entry?.path();
        let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if is_yaml && path.canonicalize().ok() != catalog_canon {
            paths.push(path);
        }
    }
    paths.sort();
    let mut waves = Vec::new();
    for path in paths {
        waves.push(read(&path)?);
    }
    Ok(check(&catalog, &waves, not_text))
}

/// A file's text. Bytes that are not UTF-8 are a problem at the first bad byte's line and column;
/// the rest of the file is still checked (read with the bad bytes replaced), so every other
/// problem is reported too.
pub fn decode(name: &str, bytes: Vec<u8>) -> (SourceFile, Option<Problem>) {
    // A byte-order mark (some editors save one) is not part of the YAML: without this the first
    // key read as `\u{feff}id`, an unknown field with an invisible name.
    let mut bytes = bytes;
    if bytes.starts_with("\u{feff}".as_bytes()) {
        bytes.drain(..3);
    }
    match String::from_utf8(bytes) {
        Ok(text) => (SourceFile { name: name.to_string(), text }, None),
        Err(e) => {
            let bytes = e.into_bytes();
            let at = std::str::from_utf8(&bytes).err().map_or(0, |u| u.valid_up_to());
            let before = String::from_utf8_lossy(&bytes[..at]);
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            let problem = Problem::error(
                name,
                line,
                col,
                format!("not valid UTF-8 (byte 0x{:02X}): save the file as UTF-8", bytes[at]),
            );
            (SourceFile { name: name.to_string(), text: String::from_utf8_lossy(&bytes).into_owned() }, Some(problem))
        }
    }
}

fn with_path(e: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests;
