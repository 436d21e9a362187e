//! How the store keeps its bulky text small (issue 11: the store at most twice the legacy
//! database it was extracted from).
//!
//! - **Documents** the store keeps whole and never queries inside (a bill, a cut-over snapshot)
//!   are deflated ([`pack`]; migration 0017): JSON that repeats its field names on every line
//!   shrinks to about a third. Rows written before the migration keep their text
//!   ([`document`] reads either).
//! - **A legacy row's cells** (without the account number, the row's key) are joined by U+001D
//!   ([`cells_text`]), an empty cell being none (the intake's own rule: empty means NULL), instead
//!   of a JSON array: no quotes, brackets or commas on 5.5 million rows. A row this cannot hold
//!   exactly (a cell with a separator character in it, an empty cell, a first cell that opens
//!   with `[` or `{`) is stored as the JSON array it was before, and [`cells_from`] reads all
//!   three forms.

use super::StoreError;

/// Between a row's cells. U+001E and U+001F separate rows and fields of [`super::Store::joined`]
/// aggregates, so none of the three may appear inside a cell stored this way.
const CELL: char = '\u{1d}';

/// Deflate level 1: most of the size for a fraction of the time of the default level (bills:
/// 13.0 MiB of JSON → 4.8 MiB at level 1, 4.4 MiB at level 6, at 5,000 accounts).
const LEVEL: u8 = 1;

/// A document no stored bill or snapshot comes near; a packed value inflating past it is corrupt.
const MAX_DOCUMENT: usize = 64 << 20;

/// A document, deflated.
pub(crate) fn pack(json: &str) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(json.as_bytes(), LEVEL)
}

/// A stored document: its packed form when it has one, else its text. `what` names it in the
/// error when the packed form cannot be read.
pub(crate) fn document(text: String, packed: Option<Vec<u8>>, what: impl Fn() -> String) -> Result<String, StoreError> {
    let Some(bytes) = packed else { return Ok(text) };
    let raw = miniz_oxide::inflate::decompress_to_vec_with_limit(&bytes, MAX_DOCUMENT)
        .map_err(|e| StoreError::Corrupt(format!("{}: its packed form does not inflate ({e})", what())))?;
    String::from_utf8(raw).map_err(|_| StoreError::Corrupt(format!("{}: its packed form is not UTF-8", what())))
}

/// A legacy row's cells as stored: joined by U+001D, or the JSON array when that cannot hold them
/// exactly.
pub(crate) fn cells_text(cells: &[Option<String>]) -> Result<String, StoreError> {
    let plain = !cells.is_empty()
        && cells
            .iter()
            .all(|c| c.as_deref().is_none_or(|s| !s.is_empty() && !s.bytes().any(|b| (0x1d..=0x1f).contains(&b))))
        && cells[0].as_deref().is_none_or(|s| !s.starts_with(['[', '{']));
    if !plain {
        return serde_json::to_string(cells).map_err(|e| StoreError::Corrupt(e.to_string()));
    }
    let mut out = String::with_capacity(cells.iter().map(|c| c.as_deref().map_or(0, str::len) + 1).sum());
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(CELL);
        }
        out.push_str(c.as_deref().unwrap_or(""));
    }
    Ok(out)
}

/// A legacy row's cells from their stored text: joined by U+001D, or a JSON array (rows that form
/// cannot hold, and rows stored before it). A record stored whole as a JSON object (before
/// migration 0015) is the caller's to read; `None` says it is one.
pub(crate) fn cells_from(text: &str) -> Result<Option<Vec<Option<String>>>, String> {
    if text.starts_with('{') {
        return Ok(None);
    }
    if text.starts_with('[') {
        return serde_json::from_str(text).map(Some).map_err(|e| e.to_string());
    }
    Ok(Some(text.split(CELL).map(|c| (!c.is_empty()).then(|| c.to_string())).collect()))
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
            // An empty cell is not none: the JSON array keeps the difference.
            (&[Some(""), Some("x")], false),
            // A first cell that reads as JSON.
            (&[Some("[1]"), Some("x")], false),
            (&[Some("{\"a\":1}")], false),
            (&[Some("x"), Some("[1]")], true),
            (&[], false),
        ];
        for (given, joined) in table {
            let given = cells(given);
            let text = cells_text(&given).unwrap();
            assert_eq!(!text.starts_with('['), *joined, "{given:?} stored as {text:?}");
            assert_eq!(cells_from(&text).unwrap(), Some(given.clone()), "{text:?}");
        }
        // Rows stored before: a JSON array is read as cells, an object is the caller's.
        assert_eq!(cells_from(r#"["a",null]"#).unwrap(), Some(cells(&[Some("a"), None])));
        assert_eq!(cells_from(r#"{"account_number":"A1"}"#).unwrap(), None);
        assert!(cells_from("[broken").is_err());
    }

    #[test]
    fn a_packed_document_reads_back_and_a_damaged_one_is_named() {
        let bill = r#"{"account_number":"A000004","lines":[{"group":"Power","amount":"1300.00"}],"total":"1300.00"}"#
            .repeat(20);
        let packed = pack(&bill);
        assert!(packed.len() * 3 < bill.len(), "{} bytes packed from {}", packed.len(), bill.len());
        assert_eq!(document(String::new(), Some(packed.clone()), || "bill".into()).unwrap(), bill);
        // Before migration 0017: the text, no packed form.
        assert_eq!(document("{\"old\":1}".into(), None, || "bill".into()).unwrap(), "{\"old\":1}");
        let damaged = packed[..packed.len() / 2].to_vec();
        let e = document(String::new(), Some(damaged), || "bill of A000004 for 2017-02".into()).unwrap_err();
        assert!(e.to_string().contains("bill of A000004 for 2017-02"), "{e}");
    }
}
