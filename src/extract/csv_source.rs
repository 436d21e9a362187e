//! A folder of CSV files named after the tables (`accounts.csv`, …), RFC 4180, header row first.

use super::{Batcher, ExtractError, RawRow, Sink, Table};
use std::path::Path;

pub(super) async fn scan<S: Sink>(dir: &Path, table: Table, sink: &mut S) -> Result<(), ExtractError> {
    let path = dir.join(format!("{}.csv", table.name()));
    let shown = path.display().to_string();
    if !path.exists() && table != Table::Accounts {
        // No usage (or no invoices, or no contacts) yet is a legitimate, empty table.
        return Ok(());
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&path)
        .map_err(|e| ExtractError::Csv { path: shown.clone(), message: e.to_string() })?;
    let headers =
        rdr.byte_headers().map_err(|e| ExtractError::Csv { path: shown.clone(), message: e.to_string() })?.clone();
    let header: Vec<String> =
        headers.iter().map(|h| String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_string()).collect();
    // Where each SPEC column sits in this file; extra columns are ignored.
    let mut index = Vec::new();
    let mut missing = Vec::new();
    for col in table.columns() {
        match header.iter().position(|h| h == col) {
            Some(i) => index.push(Some(i)),
            None if col == &"account_number" || table == Table::Accounts && col == &"segment" => missing.push(*col),
            None => index.push(None),
        }
    }
    if !missing.is_empty() {
        return Err(ExtractError::Csv { path: shown, message: format!("missing column(s): {}", missing.join(", ")) });
    }
    let mut batch = Batcher::new(sink);
    let mut record = csv::ByteRecord::new();
    loop {
        let line = rdr.position().line() + 1;
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |p| p.line());
                let mut bad = None;
                let fields = index
                    .iter()
                    .map(|i| {
                        let raw = i.and_then(|i| record.get(i))?;
                        match std::str::from_utf8(raw) {
                            Ok("") => None,
                            Ok(s) => Some(s.to_string()),
                            Err(_) => {
                                bad = Some("not valid UTF-8".to_string());
                                Some(String::from_utf8_lossy(raw).into_owned())
                            }
                        }
                    })
                    .collect();
                let raw = RawRow { table, source: shown.clone(), row: line, fields };
                match bad {
                    None => batch.push(raw).await?,
                    Some(reason) => batch.push_bad(raw, reason).await?,
                }
            }
            Err(e) => {
                // A record the CSV reader cannot split (e.g. an unterminated quote) is quarantined.
                let raw = RawRow { table, source: shown.clone(), row: line, fields: vec![] };
                batch.push_bad(raw, format!("unreadable CSV record: {e}")).await?;
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
    batch.flush().await
}
