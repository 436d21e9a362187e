//! How the store keeps its bulky text small (issue 11: the store at most twice the legacy
//! database it was extracted from).
//!
//! - **Documents** the store keeps whole and never queries inside (a bill, a cut-over snapshot)
//!   are packed ([`pack`]; migration 0017): JSON that repeats its field names on every line
//!   shrinks to about two fifths. Rows written before the migration keep their text
//!   ([`document`] reads either).
//! - **Packed is LZ4** (migration 0020, `lz4_flex`), marked by a first byte that no deflate
//!   stream starts with. It was deflate before (level 1, `miniz_oxide`), which [`unpack`] still
//!   reads: deflate took 18 µs for a 2 KB bill here and LZ4 1.6 µs, for 823 bytes instead of 664
//!   (issue 11: at 20,000 accounts deflating the bills alone was 0.9 s of the rate stage).
//! - **A legacy row's cells** (without the account number, the row's key) are joined by U+001D
//!   ([`cells_text`]), an empty cell being none (the intake's own rule: empty means NULL), instead
//!   of a JSON array: no quotes, brackets or commas on 5.5 million rows. A row this cannot hold
//!   exactly (a cell with a separator character in it, an empty cell, a first cell that opens
//!   with `[` or `{`) is stored as the JSON array it was before, and [`cells_from`] reads all
//!   three forms.
//! - **An account's records of one kind** from one batch of the source are one stored row
//!   (migration 0019): their cells joined by U+001C ([`group_text`]) in `records`, packed in
//!   `packed` from 1 KiB on, their source rows in `source_rows` as runs ([`rows_text`]:
//!   `12-40,45`). 1.1 million source rows at 20,000 accounts are about 93,000 stored rows (a
//!   twelfth of `legacy_row`'s keys to index). A row stored before holds one record's cells, at
//!   `source_row`.

use super::StoreError;

/// Between a row's cells. U+001E and U+001F separate rows and fields of [`super::Store::joined`]
/// aggregates and U+001C the records of a group, so none of the four may appear inside a cell
/// stored this way (JSON, the other form, writes them escaped).
const CELL: char = '\u{1d}';

/// Between the records of one stored row ([`group_text`]).
pub(crate) const RECORD: char = '\u{1c}';

/// The first byte of an LZ4-packed value: its low three bits (`110`) make a deflate block of type
/// 3, which is reserved, so no deflate stream (the packed form before migration 0020) starts so.
/// A little-endian `u32`, the text's length, follows, then the LZ4 block.
const LZ4: u8 = 0xf6;

/// A document no stored bill or snapshot comes near; a packed value inflating past it is corrupt.
const MAX_DOCUMENT: usize = 64 << 20;

/// A text (a document, a group of records), packed: [`LZ4`], the length, the LZ4 block.
pub(crate) fn pack(text: &str) -> Vec<u8> {
    let mut out = vec![0; 5 + lz4_flex::block::get_maximum_output_size(text.len())];
    out[0] = LZ4;
    out[1..5].copy_from_slice(&(text.len() as u32).to_le_bytes());
    // The buffer holds the longest block LZ4 can write; should it not, the allocating form.
    match lz4_flex::block::compress_into(text.as_bytes(), &mut out[5..]) {
        Ok(n) => out.truncate(5 + n),
        Err(_) => {
            out.truncate(5);
            out.extend_from_slice(&lz4_flex::block::compress(text.as_bytes()));
        }
    }
    out
}

/// A stored document: its packed form when it has one, else its text. `what` names it in the
/// error when the packed form cannot be read.
pub(crate) fn document(text: String, packed: Option<Vec<u8>>, what: impl Fn() -> String) -> Result<String, StoreError> {
    match packed {
        Some(bytes) => unpack(&bytes, what),
        None => Ok(text),
    }
}

/// A packed text, unpacked (LZ4, or deflate as stored before migration 0020); `what` names it in
/// the error when it cannot be.
pub(crate) fn unpack(bytes: &[u8], what: impl Fn() -> String) -> Result<String, StoreError> {
    let broken = |e: String| StoreError::Corrupt(format!("{}: its packed form does not unpack ({e})", what()));
    let raw = match bytes.split_first() {
        Some((&LZ4, rest)) => {
            let Some((head, block)) = rest.split_first_chunk::<4>() else {
                return Err(broken("no length".into()));
            };
            let size = u32::from_le_bytes(*head) as usize;
            if size > MAX_DOCUMENT {
                return Err(broken(format!("it claims {size} bytes")));
            }
            let raw = lz4_flex::block::decompress(block, size).map_err(|e| broken(e.to_string()))?;
            // A value cut short after a whole sequence decodes without an error, only shorter.
            if raw.len() != size {
                return Err(broken(format!("{} bytes of the {size} it claims", raw.len())));
            }
            raw
        }
        _ => miniz_oxide::inflate::decompress_to_vec_with_limit(bytes, MAX_DOCUMENT)
            .map_err(|e| broken(e.to_string()))?,
    };
    String::from_utf8(raw).map_err(|_| StoreError::Corrupt(format!("{}: its packed form is not UTF-8", what())))
}

/// A legacy row's cells as stored: joined by U+001D, or the JSON array when that cannot hold them
/// exactly.
pub(crate) fn cells_text(cells: &[Option<&str>]) -> Result<String, StoreError> {
    let plain = !cells.is_empty()
        && cells.iter().all(|c| c.is_none_or(|s| !s.is_empty() && !s.bytes().any(|b| (0x1c..=0x1f).contains(&b))))
        && cells[0].is_none_or(|s| !s.starts_with(['[', '{']));
    if !plain {
        return serde_json::to_string(cells).map_err(|e| StoreError::Corrupt(e.to_string()));
    }
    let mut out = String::with_capacity(cells.iter().map(|c| c.map_or(0, str::len) + 1).sum());
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(CELL);
        }
        out.push_str(c.unwrap_or(""));
    }
    Ok(out)
}

/// A legacy row's cells from their stored text: joined by U+001D, or a JSON array (rows that form
/// cannot hold, and rows stored before it). A record stored whole as a JSON object (before
/// migration 0015) is the caller's to read; `None` says it is one.
pub(crate) fn cells_from(text: &str) -> Result<Option<Vec<Option<String>>>, String> {
    if let Some(cells) = joined_cells(text) {
        return Ok(Some(cells.map(|c| c.map(str::to_string)).collect()));
    }
    if text.starts_with('{') {
        return Ok(None);
    }
    serde_json::from_str(text).map(Some).map_err(|e| e.to_string())
}

/// The cells of a text stored joined ([`cells_text`]'s usual form), borrowed; `None` when the text
/// is one of the other forms (it opens with `[` or `{`), which [`cells_from`] reads.
pub(crate) fn joined_cells(text: &str) -> Option<impl Iterator<Item = Option<&str>>> {
    (!text.starts_with(['[', '{'])).then(|| split_byte(text, CELL).map(|c| (!c.is_empty()).then_some(c)))
}

/// `text.split(sep)` for a one-byte separator, found a byte at a time: the pieces are a few
/// bytes long, where `str::split`'s search by `memchr` costs more than it saves (issue 11).
pub(crate) fn split_byte(text: &str, sep: char) -> impl Iterator<Item = &str> {
    assert!(sep.is_ascii(), "split_byte splits at one byte");
    let sep = sep as u8;
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.bytes().position(|b| b == sep) {
            // `sep` is ASCII, so `i` and `i + 1` are char boundaries.
            Some(i) => {
                rest = Some(&t[i + 1..]);
                Some(&t[..i])
            }
            None => {
                rest = None;
                Some(t)
            }
        }
    })
}

/// Records' stored texts ([`cells_text`]) as one stored row's `cells`.
pub(crate) fn group_text<'a>(records: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, r) in records.into_iter().enumerate() {
        if i > 0 {
            out.push(RECORD);
        }
        out.push_str(r);
    }
    out
}

/// Source row numbers (ascending) as runs: `[12, 13, 14, 20]` is `12-14,20`.
pub(crate) fn rows_text(rows: &[i64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < rows.len() {
        let start = rows[i];
        while i + 1 < rows.len() && rows[i + 1] == rows[i] + 1 {
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&start.to_string());
        if rows[i] != start {
            out.push('-');
            out.push_str(&rows[i].to_string());
        }
        i += 1;
    }
    out
}

/// The row numbers [`rows_text`] wrote.
pub(crate) fn rows_from(text: &str) -> Result<Vec<i64>, String> {
    let number = |s: &str| s.parse::<i64>().map_err(|_| format!("source rows {text:?}: {s:?} is not a row number"));
    let mut out = Vec::new();
    for run in text.split(',') {
        match run.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if b < a || b - a > 10_000_000 {
                    return Err(format!("source rows {text:?}: {run:?} is not a run"));
                }
                out.extend(a..=b);
            }
            None => out.push(number(run)?),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(v: &[Option<&str>]) -> Vec<Option<String>> {
        v.iter().map(|c| c.map(str::to_string)).collect()
    }

    #[test]
    fn cells_come_back_as_they_went_in_in_the_form_that_holds_them() {
        // (cells, stored as the joined form?)
        let table: &[(&[Option<&str>], bool)] = &[
            (&[Some("INV-1"), Some("2017-01"), None, Some("12.50")], true),
            (&[None, Some("x")], true),
            (&[None], true),
            (&[Some("a, \"quoted\" [text]"), Some("é ü 名")], true),
            // A separator of the joined form or of the store's aggregates inside a cell.
            (&[Some("a\u{1d}b"), None], false),
            (&[Some("a"), Some("b\u{1e}")], false),
            (&[Some("\u{1f}")], false),
            (&[Some("a\u{1c}b")], false),
            // An empty cell is not none: the JSON array keeps the difference.
            (&[Some(""), Some("x")], false),
            // A first cell that reads as JSON.
            (&[Some("[1]"), Some("x")], false),
            (&[Some("{\"a\":1}")], false),
            (&[Some("x"), Some("[1]")], true),
            (&[], false),
        ];
        for (given, joined) in table {
            let text = cells_text(given).unwrap();
            let given = cells(given);
            assert_eq!(!text.starts_with('['), *joined, "{given:?} stored as {text:?}");
            assert_eq!(cells_from(&text).unwrap(), Some(given.clone()), "{text:?}");
        }
        // Rows stored before: a JSON array is read as cells, an object is the caller's.
        assert_eq!(cells_from(r#"["a",null]"#).unwrap(), Some(cells(&[Some("a"), None])));
        assert_eq!(cells_from(r#"{"account_number":"A1"}"#).unwrap(), None);
        assert!(cells_from("[broken").is_err());
    }

    /// `split_byte` cuts a text where `str::split` does, at either end, twice in a row, beside
    /// text of several bytes a char, and not at all.
    #[test]
    fn a_text_is_split_at_a_byte_as_str_split_splits_it() {
        let texts = [
            "",
            "a",
            "\u{1d}",
            "a\u{1d}b",
            "\u{1d}a\u{1d}",
            "a\u{1d}\u{1d}b",
            "é\u{1d}日本\u{1d}\u{1c}x",
            "no separator at all, 12.50, 2017-10-01",
        ];
        for text in texts {
            for sep in [CELL, RECORD] {
                let ours: Vec<&str> = split_byte(text, sep).collect();
                let std: Vec<&str> = text.split(sep).collect();
                assert_eq!(ours, std, "{text:?} at {sep:?}");
            }
        }
    }

    #[test]
    fn source_rows_are_kept_as_runs() {
        for (rows, text) in [
            (&[7][..], "7"),
            (&[1, 2, 3, 4], "1-4"),
            (&[12, 13, 14, 20], "12-14,20"),
            (&[3, 5, 6, 9], "3,5-6,9"),
            (&[], ""),
        ] {
            assert_eq!(rows_text(rows), text, "{rows:?}");
            if !rows.is_empty() {
                assert_eq!(rows_from(text).unwrap(), rows, "{text}");
            }
        }
        for bad in ["", "x", "4-2", "1,,2", "1-"] {
            assert!(rows_from(bad).is_err(), "{bad:?}");
        }
        assert_eq!(group_text(["a\u{1d}b", "[null]"]), "a\u{1d}b\u{1c}[null]");
    }

    #[test]
    fn a_packed_document_reads_back_and_a_damaged_one_is_named() {
        let bill = r#"{"account_number":"A000004","lines":[{"group":"Power","amount":"1300.00"}],"total":"1300.00"}"#
            .repeat(20);
        let packed = pack(&bill);
        assert_eq!(packed[0], LZ4);
        assert!(packed.len() * 3 < bill.len(), "{} bytes packed from {}", packed.len(), bill.len());
        assert_eq!(document(String::new(), Some(packed.clone()), || "bill".into()).unwrap(), bill);
        // Packed before migration 0020: deflate, read as it is.
        let deflated = miniz_oxide::deflate::compress_to_vec(bill.as_bytes(), 1);
        assert_eq!(document(String::new(), Some(deflated.clone()), || "bill".into()).unwrap(), bill);
        // Before migration 0017: the text, no packed form.
        assert_eq!(document("{\"old\":1}".into(), None, || "bill".into()).unwrap(), "{\"old\":1}");
        // Cut short, or claiming more than any document: named, never a panic or a huge allocation.
        let mut huge = vec![LZ4];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&packed[5..]);
        // Whole sequences but fewer bytes than the length says: the text's first half packed
        // under the whole text's length.
        let half = pack(&bill[..bill.len() / 2]);
        let mut short = vec![LZ4];
        short.extend_from_slice(&(bill.len() as u32).to_le_bytes());
        short.extend_from_slice(&half[5..]);
        for damaged in
            [packed[..packed.len() / 2].to_vec(), deflated[..deflated.len() / 2].to_vec(), vec![LZ4, 1], huge, short]
        {
            let e = document(String::new(), Some(damaged), || "bill of A000004 for 2017-02".into()).unwrap_err();
            assert!(e.to_string().contains("bill of A000004 for 2017-02"), "{e}");
        }
    }
}
