//! Hexadecimal: the one encoder (digests, tokens, temporary file names, PostgreSQL's `bytea`
//! text form).

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

#[cfg(test)]
mod tests {
    #[test]
    fn bytes_are_two_lowercase_hex_digits_each() {
        for (bytes, text) in [(&[][..], ""), (&[0, 0x1c, 0xab, 0xff][..], "001cabff"), (&[0x0f, 0xf0][..], "0ff0")] {
            assert_eq!(super::hex(bytes), text);
        }
    }
}
