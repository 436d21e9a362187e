//! A folder of CSV files named after the tables (`accounts.csv`, …), RFC 4180, header row first.
//!
//! The header must name every SPEC §2 column ([`Table::check_header`]). A row with more or fewer
//! fields than the header is quarantined, and so is a value over a line break (the intake rules).
//! A stray or unterminated quote swallows the rows after it into one field: when lines inside such
//! a field read as rows on their own, the quote's line is quarantined and the swallowed lines are
//! read again one by one, so no row disappears without its own line in the quarantine.

use super::{Batcher, ExtractError, Fields, RawRow, Sink, Table};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

// Long: one streaming pass over a CSV file (header, quotes, field counts, batches to the sink).
pub(super) async fn scan<S: Sink>(dir: &Path, table: Table, sink: &mut S) -> Result<(), ExtractError> {
    let path = dir.join(format!("{}.csv", table.name()));
    let shown = path.display().to_string();
    let csv_err = |e: &dyn std::fmt::Display| ExtractError::Csv { path: shown.clone(), message: e.to_string() };
    let size = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        // No usage (or no invoices, or no contacts) yet is a legitimate, empty table; no accounts is not.
        Err(_) if table != Table::Accounts => {
            sink.warn(&shown, "no such file: taken as no rows".into()).await?;
            return Ok(());
        }
        Err(cause) => return Err(ExtractError::Io { path: shown, cause }),
    };
    if size == 0 {
        if table == Table::Accounts {
            return Err(ExtractError::Header { path: shown, message: "the file is empty (no header row)".into() });
        }
        // Like a missing file: nothing to take in. Said, because an export that failed half-way
        // also leaves an empty file.
        sink.warn(&shown, "the file is empty (0 bytes, no header): taken as no rows, like a missing file".into())
            .await?;
        return Ok(());
    }
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_path(&path).map_err(|e| csv_err(&e))?;
    let headers = rdr.byte_headers().map_err(|e| csv_err(&e))?.clone();
    let header: Vec<String> =
        headers.iter().map(|h| String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_string()).collect();
    let warnings =
        table.check_header(&header).map_err(|message| ExtractError::Header { path: shown.clone(), message })?;
    for w in warnings {
        sink.warn(&shown, w).await?;
    }
    // Where each SPEC column sits in this file; extra columns are ignored.
    let index: Vec<Option<usize>> = table.columns().iter().map(|col| header.iter().position(|h| h == col)).collect();
    let source: std::sync::Arc<str> = shown.as_str().into();
    let layout = Layout { table, source: &source, index: &index, width: header.len() };
    let mut raw_file = std::fs::File::open(&path).map_err(|cause| ExtractError::Io { path: shown.clone(), cause })?;
    // The CSV reader counts a line at its `\n`, and takes a record's position before the `\n` of
    // a CRLF the record before ended with: in a CRLF file (a Windows or spreadsheet export) every
    // row's line was one low, naming the row before it. The header's ending says which the file
    // uses (the reader stopped at its `\r`: the next byte is the `\n`); a file that mixes both is
    // numbered by its header's.
    let after_header = rdr.position().byte();
    let next = read_range(&mut raw_file, after_header, after_header + 1);
    let crlf = u64::from(rdr.position().line() == 1 && next.is_ok_and(|b| b == "\n"));
    let mut batch = Batcher::new(sink);
    let mut record = csv::ByteRecord::new();
    loop {
        let line = rdr.position().line() + crlf;
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let start = record.position().map_or(line, |p| p.line() + crlf);
                let end_line = rdr.position().line();
                let spans_lines = record.iter().any(|f| f.contains(&b'\n') || f.contains(&b'\r'));
                if spans_lines && end_line > start {
                    // A quoted field over a line break: a multi-line value (quarantined as one
                    // row, below), or a stray quote that swallowed the rows after it. Those rows
                    // are read again from the file, one per line.
                    // In a CRLF file the position is at the `\n` before the record (above).
                    let from = record.position().map_or(0, |p| p.byte() + crlf);
                    let to = rdr.position().byte();
                    let text = read_range(&mut raw_file, from, to)
                        .map_err(|cause| ExtractError::Io { path: shown.clone(), cause })?;
                    let lines: Vec<&str> =
                        text.trim_end_matches(['\r', '\n']).split('\n').map(|l| l.trim_end_matches('\r')).collect();
                    let inner: Vec<(u64, LineRow)> = lines
                        .iter()
                        .enumerate()
                        .skip(1)
                        .filter(|(_, l)| !l.trim().is_empty())
                        .map(|(i, l)| (start + i as u64, layout.one_line(start + i as u64, l)))
                        .collect();
                    if inner.iter().any(|(_, r)| r.is_ok()) {
                        let last = start + lines.len() as u64 - 1;
                        let why = format!(
                            "a quote opened on line {start} is not closed on it and swallows lines {}–{last}, \
                             which are read one by one",
                            start + 1
                        );
                        batch.push_bad(layout.unsplit(start, lines[0]), why).await?;
                        for (_, r) in inner {
                            match r {
                                Ok(raw) => batch.push(raw).await?,
                                Err((raw, why)) => batch.push_bad(raw, why).await?,
                            }
                        }
                        continue;
                    }
                }
                match layout.row(start, &record) {
                    Ok(raw) => batch.push(raw).await?,
                    Err((raw, why)) => batch.push_bad(raw, why).await?,
                }
            }
            Err(e) => {
                // A record the CSV reader cannot split (e.g. a quote left open to the end of the
                // file) is quarantined.
                let raw = RawRow { table, source: source.clone(), row: line, fields: Fields::default() };
                batch.push_bad(raw, format!("unreadable CSV record starting on line {line}: {e}")).await?;
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
    batch.flush().await
}

/// A row read from one line, or the row and why it is quarantined.
type LineRow = Result<RawRow, (RawRow, String)>;

/// How this file's columns map onto the table's.
struct Layout<'a> {
    table: Table,
    source: &'a std::sync::Arc<str>,
    index: &'a [Option<usize>],
    width: usize,
}

impl Layout<'_> {
    /// A row from a record: its fields in the table's order, or why it is quarantined.
    fn row(&self, line: u64, record: &csv::ByteRecord) -> LineRow {
        let mut bad = None;
        let mut fields = Fields::with_capacity(self.index.len(), record.as_slice().len());
        for raw in self.index.iter().map(|i| i.and_then(|i| record.get(i))) {
            match raw.map(std::str::from_utf8) {
                Some(Err(_)) => {
                    bad = Some("not valid UTF-8".to_string());
                    fields.push(raw.map(String::from_utf8_lossy).as_deref());
                }
                text => fields.push(text.and_then(Result::ok)),
            }
        }
        let raw = RawRow { table: self.table, source: self.source.clone(), row: line, fields };
        if record.len() != self.width {
            let n = record.len();
            let more = if n > self.width { "more" } else { "fewer" };
            return Err((
                raw,
                format!("{n} fields, {more} than the header's {}: the columns cannot be trusted", self.width),
            ));
        }
        match bad {
            None => Ok(raw),
            Some(why) => Err((raw, why)),
        }
    }

    /// A row from one line of text read on its own.
    fn one_line(&self, line: u64, text: &str) -> LineRow {
        if text.matches('"').count() % 2 == 1 {
            return Err((self.unsplit(line, text), "a quote opened on this line is not closed on it".into()));
        }
        let mut record = csv::ByteRecord::new();
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        match rdr.read_byte_record(&mut record) {
            Ok(true) => self.row(line, &record),
            Ok(false) => Err((self.unsplit(line, text), "an empty line".into())),
            Err(e) => Err((self.unsplit(line, text), format!("unreadable CSV line: {e}"))),
        }
    }

    /// A line read leniently (a quote left open runs to the end of the line), for the quarantine.
    fn unsplit(&self, line: u64, text: &str) -> RawRow {
        let mut record = csv::ByteRecord::new();
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
        if !rdr.read_byte_record(&mut record).unwrap_or(false) {
            record.clear();
        }
        let mut fields = Fields::with_capacity(self.index.len(), record.as_slice().len());
        for i in self.index {
            fields.push(i.and_then(|i| record.get(i)).map(String::from_utf8_lossy).as_deref());
        }
        RawRow { table: self.table, source: self.source.clone(), row: line, fields }
    }
}

fn read_range(f: &mut std::fs::File, from: u64, to: u64) -> std::io::Result<String> {
    f.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0; usize::try_from(to.saturating_sub(from)).unwrap_or(0)];
    f.read_exact(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
