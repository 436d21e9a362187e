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
///
/// A table lookup a digit and the verdict once at the end: the store reads its legacy records
/// back through this, tens of megabytes a stage at 20,000 accounts (issue 11).
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    /// A digit's value, or [`NOT`] (bit 4: no digit has it) for any other byte.
    const NOT: u8 = 0x10;
    const VALUE: [u8; 256] = {
        let mut t = [NOT; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'A' as usize + i] = 10 + i as u8;
            t[b'a' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    let h = hex.as_bytes();
    if !h.len().is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(h.len() / 2);
    let mut seen = 0u8;
    for p in h.chunks_exact(2) {
        let (hi, lo) = (VALUE[usize::from(p[0])], VALUE[usize::from(p[1])]);
        seen |= hi | lo;
        out.push(hi << 4 | lo);
    }
    (seen & NOT == 0).then_some(out)
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
        let cases: [(&str, Option<&[u8]>); 9] = [
            ("", Some(b"")),
            ("00FF7f1C", Some(&[0x00, 0xff, 0x7f, 0x1c])),
            ("41", Some(b"A")),
            ("4", None),
            ("4G", None),
            ("-", None),
            // A non-digit anywhere, even after good pairs, or one that is a digit plus 16.
            ("414g", None),
            ("41:0", None),
            ("é", None),
        ];
        for (hex, want) in cases {
            assert_eq!(super::from_hex(hex).as_deref(), want, "{hex:?}");
        }
        // Every byte, through the encoder and back in either case.
        let every: Vec<u8> = (0..=255).collect();
        assert_eq!(super::from_hex(&super::hex(&every)).as_deref(), Some(&every[..]));
        assert_eq!(super::from_hex(&super::hex(&every).to_uppercase()).as_deref(), Some(&every[..]));
        // Every pair that is not two digits is refused.
        for a in 0..=255u8 {
            for b in [b'0', a] {
                let pair = [a, b];
                let Ok(text) = std::str::from_utf8(&pair) else { continue };
                assert_eq!(super::from_hex(text).is_some(), a.is_ascii_hexdigit() && b.is_ascii_hexdigit(), "{text:?}");
            }
        }
    }
}
