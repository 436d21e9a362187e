//! Tidy: the checkable claims of ARCHITECTURE.md, read from the source text (the rust-analyzer
//! manner). Each rule names the files it allows and why; a new exception is added here, with its
//! reason, or the code changes.

use std::path::{Path, PathBuf};

/// Every `.rs` file below `src/`, as (path relative to the crate root with `/`, text).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> =
            std::fs::read_dir(dir).expect("read src/").map(|e| e.expect("entry").path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    walk(&root.join("src"), &mut paths);
    assert!(paths.len() > 20, "src/ read: {} files", paths.len());
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&p).expect("read source");
            (rel, text)
        })
        .collect()
}

/// The part of a line before a `//` comment (good enough for these rules: none of the words they
/// look for stands in a string literal).
fn code(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// `word` as a whole word (not part of an identifier) in `text`.
fn has_word(text: &str, word: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

#[test]
fn every_module_opens_with_a_module_doc() {
    let bare: Vec<String> =
        sources().into_iter().filter(|(_, text)| !text.trim_start().starts_with("//!")).map(|(path, _)| path).collect();
    assert!(bare.is_empty(), "files that do not open with a `//!` module doc: {bare:?}");
}

/// Where sqlx may be named, and why.
const SQLX_ALLOWED: &[(&str, &str)] = &[
    ("src/store/", "the state store: all of the project's own SQL"),
    ("src/extract/sql_source.rs", "the legacy source adapter: reads the legacy database"),
    ("src/extract/mod.rs", "`ExtractError::Sql` carries the adapter's `sqlx::Error`; no SQL"),
    ("src/demo/generate.rs", "its tests read back the demo's legacy SQLite database"),
];

/// Where rusqlite (SQLite files read or written whole) may be named: the legacy source, the demo's
/// legacy database, and the state store's one bulk load, the extraction's transaction.
const RUSQLITE_ALLOWED: &[(&str, &str)] = &[
    ("src/extract/sql_source.rs", "reads a SQLite legacy file"),
    ("src/store/bulk.rs", "the extraction's transaction on a SQLite store file (`LiteTx`)"),
    ("src/extract/mod.rs", "`ExtractError::SqliteFile` carries the adapter's `rusqlite::Error`; no SQL"),
    ("src/demo/generate.rs", "writes the demo's legacy SQLite database"),
];

/// Fails where `krate` is named outside `allowed`, and for an exception that no longer names it.
fn named_only_in(krate: &str, allowed: &[(&str, &str)]) {
    let mut found = Vec::new();
    for (path, text) in sources() {
        if allowed.iter().any(|(allowed, _)| path.starts_with(allowed)) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if code(line).contains(&format!("{krate}::")) || code(line).contains(&format!("use {krate}")) {
                found.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "{krate} outside {allowed:?}:\n{}", found.join("\n"));
    // The exceptions are still needed: an exception nothing uses is removed.
    let all = sources();
    for (place, why) in allowed {
        assert!(
            all.iter().any(|(path, text)| path.starts_with(place) && text.contains(krate)),
            "{place} ({why}) no longer names {krate}: drop the exception"
        );
    }
}

#[test]
fn sqlx_only_in_the_store_and_the_legacy_source() {
    named_only_in("sqlx", SQLX_ALLOWED);
}

#[test]
fn rusqlite_only_where_a_sqlite_file_is_read_or_written_whole_or_bulk_loaded() {
    named_only_in("rusqlite", RUSQLITE_ALLOWED);
}

/// The marker a comment carries where `engine/notify.rs` reads the real clock on purpose.
const REAL_CLOCK: &str = "Real clock:";
/// How many lines above a `Utc::now()` its `Real clock:` comment may stand.
const REAL_CLOCK_REACH: usize = 8;

/// A stage takes its time from `Ctx` (`engine/mod.rs`, the one place that reads the clock for a
/// run). The only exception is the delivery of notices in `engine/notify.rs`: a retry is due after
/// a real wait (the backoff), so the retry's due time, the wait for it and the claim that compares
/// with it use the real time; each such read has a `Real clock:` comment just above it.
#[test]
fn stages_take_the_time_from_ctx() {
    let mut found = Vec::new();
    for (path, text) in sources() {
        if !path.starts_with("src/engine/") || path == "src/engine/mod.rs" {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if !code(line).contains("Utc::now") {
                continue;
            }
            let explained = path == "src/engine/notify.rs"
                && lines[n.saturating_sub(REAL_CLOCK_REACH)..=n].iter().any(|l| l.contains(REAL_CLOCK));
            if !explained {
                found.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the clock read inside a stage (take `ctx.at` / `ctx.now()`, or in engine/notify.rs say why in a \
         `{REAL_CLOCK}` comment within {REAL_CLOCK_REACH} lines above):\n{}",
        found.join("\n")
    );
}

/// Where a binary float may appear, and why: none of them touches money.
const FLOAT_ALLOWED: &[(&str, &str)] = &[
    ("src/bench.rs", "measures time: lines per second"),
    ("src/store/statements.rs", "reads the time sqlx measured a statement took, which it gives in seconds as f64"),
    ("src/cli/bench.rs", "prints the measured peak memory in MiB"),
    ("src/reconcile/html.rs", "draws the SVG charts: coordinates, not amounts"),
];

#[test]
fn no_floats_near_money() {
    let mut found = Vec::new();
    for (path, text) in sources() {
        if FLOAT_ALLOWED.iter().any(|(allowed, _)| path == *allowed) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if has_word(code(line), "f32") || has_word(code(line), "f64") {
                found.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "f32/f64 outside {:?} (money is rust_decimal):\n{}", FLOAT_ALLOWED, found.join("\n"));
}

/// Which modules each layer may name: every arrow points one way, down the story (the pure core
/// names none of the edges; extract feeds the store, not the other way round).
const LAYERS: &[(&str, &[&str])] = &[
    ("src/domain/", &["plan", "extract", "rate", "reconcile", "notify", "switch", "store", "engine", "cli"]),
    ("src/plan/", &["extract", "rate", "reconcile", "notify", "switch", "store", "engine", "cli"]),
    ("src/extract/", &["rate", "reconcile", "notify", "switch", "store", "engine", "cli"]),
    ("src/rate/", &["extract", "reconcile", "notify", "switch", "store", "engine", "cli"]),
    ("src/reconcile/", &["extract", "notify", "switch", "store", "engine", "cli"]),
    ("src/store/", &["engine", "cli"]),
    ("src/engine/", &["cli"]),
];

#[test]
fn layers_point_one_way() {
    let mut found = Vec::new();
    for (path, text) in sources() {
        let Some((_, forbidden)) = LAYERS.iter().find(|(dir, _)| path.starts_with(dir)) else { continue };
        for (n, line) in text.lines().enumerate() {
            let line = code(line);
            for m in forbidden.iter() {
                if line.contains(&format!("crate::{m}::")) || line.contains(&format!("crate::{m}}}")) {
                    found.push(format!("{path}:{}: names crate::{m}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "a layer names one above it (move the shared type down):\n{}", found.join("\n"));
}

#[test]
fn the_word_rule_sees_whole_words_only() {
    let cases =
        [("let x: f64 = 1.0;", true), ("as f64)", true), ("f64::max", true), ("my_f64 = 1", false), ("f640", false)];
    for (text, want) in cases {
        assert_eq!(has_word(text, "f64"), want, "{text}");
    }
    assert_eq!(code("let a = 1; // f64 here"), "let a = 1; ");
}

/// The functions that write what a wave's runs are summed from (a tally, or an account's wave),
/// and how their transactions move the tally stamp (ARCHITECTURE.md, "No run is recorded from
/// tallies someone else has changed"): a process trusts the tallies it keeps while the stamp
/// stands still. A new writer is added here, and its transaction moves the stamp.
const TALLY_WRITERS: &[(&str, &str, &str)] = &[
    ("src/store/runs.rs", "put_tallies_in", "each caller moves the stamp in the same function"),
    ("src/store/mod.rs", "replace_verdicts_in", "each caller moves the stamp in the same function"),
    ("src/store/load.rs", "readmit_in", "each caller moves the stamp in the same function"),
    ("src/store/extraction.rs", "follow_plan", "every extraction moves the stamp in `Extraction::finish`"),
];

/// The name of the function a line declares (`fn name`, after `pub`/`async`/`const`), if it does.
fn fn_declared(line: &str) -> Option<String> {
    let l = code(line).trim_start();
    let rest = ["pub(crate) ", "pub(super) ", "pub ", "const ", "async "]
        .iter()
        .fold(l, |l, p| l.strip_prefix(p).unwrap_or(l));
    let name: String =
        rest.strip_prefix("fn ")?.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

/// The name of the function a line (index `i` of `lines`) is in, and the index of its `fn` line.
fn enclosing_fn(lines: &[&str], i: usize) -> Option<(String, usize)> {
    (0..=i).rev().find_map(|j| fn_declared(lines[j]).map(|name| (name, j)))
}

/// The lines of the function whose `fn` line is at index `start`: up to the next `fn` line.
fn fn_body<'a>(lines: &[&'a str], start: usize) -> Vec<&'a str> {
    let next = (start + 1..lines.len()).find(|&j| fn_declared(lines[j]).is_some());
    lines[start..next.unwrap_or(lines.len())].to_vec()
}

/// Whether a line of code writes a tally or an account's wave.
fn writes_tallies_or_waves(line: &str) -> bool {
    let upper = line.to_ascii_uppercase();
    let tally = line.contains("\"recon_tally\"")
        || ["INSERT INTO RECON_TALLY", "UPDATE RECON_TALLY", "DELETE FROM RECON_TALLY", "REPLACE INTO RECON_TALLY"]
            .iter()
            .any(|w| upper.contains(w));
    let wave = upper.find("UPDATE ACCOUNT SET").is_some_and(|at| {
        let set = &upper[at + "UPDATE ACCOUNT SET".len()..];
        has_word(&set[..set.find("WHERE").unwrap_or(set.len())], "WAVE")
    });
    tally || wave
}

#[test]
fn every_write_of_a_tally_or_a_wave_moves_the_tally_stamp() {
    let mut found = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (path, text) in sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let line = code(line);
            // Where the writes are: only in the functions listed.
            if writes_tallies_or_waves(line) {
                let f = enclosing_fn(&lines, i).map(|(name, _)| name).unwrap_or_default();
                match TALLY_WRITERS.iter().find(|(p, name, _)| *p == path && *name == f) {
                    Some(w) => {
                        seen.insert(w.1);
                    }
                    None => found.push(format!("{path}:{}: in `{f}`, not a listed writer: {}", i + 1, line.trim())),
                }
            }
            // Who calls them: a function that moves the stamp itself.
            for (_, name, _) in TALLY_WRITERS.iter().filter(|(p, ..)| !p.ends_with("extraction.rs")) {
                if line.contains(&format!(".{name}(")) {
                    let Some((caller, at)) = enclosing_fn(&lines, i) else { continue };
                    if !fn_body(&lines, at).iter().any(|l| code(l).contains(".bump_tally_stamp_in(")) {
                        found.push(format!("{path}:{}: `{caller}` calls `{name}` and does not move the stamp", i + 1));
                    }
                }
            }
            if path == "src/store/extraction.rs" && fn_declared(line).is_some_and(|f| f == "finish") {
                let body = fn_body(&lines, i).join("\n");
                if !body.contains("UPDATE tally_stamp SET stamp = stamp + 1") {
                    found.push(format!("{path}:{}: `Extraction::finish` does not move the stamp", i + 1));
                }
                seen.insert("finish");
            }
        }
    }
    for (path, name, _) in TALLY_WRITERS {
        if !seen.contains(name) {
            found.push(format!("{path}: `{name}` is listed but writes no tally or wave any more"));
        }
    }
    assert!(seen.contains("finish"), "Extraction::finish found");
    assert!(found.is_empty(), "writes of tallies or waves without the tally stamp:\n{}", found.join("\n"));
}

#[test]
fn the_tally_writer_rule_sees_the_writes() {
    for (line, want) in [
        (r#"self.upsert_in(tx, "recon_tally", &cols, 1, rows)"#, true),
        (r#"for table in ["verdict", "recon_tally"] {"#, true),
        (r#""UPDATE account SET wave = $1 WHERE account_number = $2""#, true),
        (r#""UPDATE account SET state = $1, wave = $2 WHERE x""#, true),
        (r#""UPDATE account SET not_before = NULL WHERE wave = $1""#, false),
        (r#""SELECT {} FROM recon_tally t JOIN account a""#, false),
        ("delete from recon_tally where account_number = $1", true),
    ] {
        assert_eq!(writes_tallies_or_waves(line), want, "{line}");
    }
}
