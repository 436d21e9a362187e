//! Hexadecimal, both ways: the one encoder (digests, tokens, temporary file names, PostgreSQL's
//! `bytea` text form) and the one decoder (what SQLite's `hex()` folds into text, `store`).

/// Bytes as lowercase hexadecimal, two digits a byte. [`push_hex`] appends to a string
/// (PostgreSQL's `bytea` text form puts `\x` first).
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Appends `bytes` to `out` as [`hex`] writes them.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

/// Bytes from hexadecimal text such as SQLite's `hex()` writes (upper case; lower case is read
/// too): `None` when the text is not an even run of hex digits.
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let h = hex.as_bytes();
    if !h.len().is_multiple_of(2) {
        return None;
    }
    h.chunks_exact(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_are_two_lowercase_hex_digits_each() {
        for (bytes, text) in [(&[][..], ""), (&[0, 0x1c, 0xab, 0xff][..], "001cabff"), (&[0x0f, 0xf0][..], "0ff0")] {
            assert_eq!(super::hex(bytes), text);
            assert_eq!(super::from_hex(text).as_deref(), Some(bytes), "what it writes reads back");
        }
    }

    /// SQLite's `hex()` read back: either case, every byte; an odd length or a non-digit is
    /// refused.
    #[test]
    fn hex_reads_back_what_sqlite_wrote() {
        let cases: [(&str, Option<&[u8]>); 6] = [
            ("", Some(b"")),
            ("00FF7f1C", Some(&[0x00, 0xff, 0x7f, 0x1c])),
            ("41", Some(b"A")),
            ("4", None),
            ("4G", None),
            ("-", None),
        ];
        for (hex, want) in cases {
            assert_eq!(super::from_hex(hex).as_deref(), want, "{hex:?}");
        }
    }
}
