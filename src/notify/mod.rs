//! Notify: the customer notice, one month before the first new bill.
//!
//! Rendering ([`render`]) is separate from sending ([`transport`]). Recipients are parsed into
//! [`EmailAddress`] (parse, don't validate): an address that does not parse, or that carries a line
//! break, never reaches a header. An account with no valid address gets a printed letter instead,
//! and is never skipped silently.

pub mod contacts;
pub mod letter;
pub mod render;
pub mod report;
pub mod transport;

use std::fmt;

/// A syntactically valid email address, safe to put in a header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(lettre::Address);

impl EmailAddress {
    pub fn parse(s: &str) -> Result<EmailAddress, String> {
        let t = s.trim();
        if t.contains(['\r', '\n']) {
            return Err(format!("`{}` contains a line break", t.escape_debug()));
        }
        if t.contains([',', ';', '<', '>', '"', ' ']) {
            return Err(format!("`{t}` is not a single plain address"));
        }
        let a = t.parse::<lettre::Address>().map_err(|e| format!("`{t}` is not an email address: {e}"))?;
        // Only what a mail server on the internet delivers to: a domain name with a dot, not an
        // address literal (`root@[127.0.0.1]`) or a bare host (`root@localhost`), which the syntax
        // allows and every real delivery refuses, so the customer would get neither mail nor letter.
        let domain = a.domain();
        let label_ok = |l: &str| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-');
        if domain.starts_with('[') || !domain.contains('.') || !domain.split('.').all(label_ok) {
            return Err(format!("`{t}` has no deliverable domain name (`{domain}`)"));
        }
        Ok(EmailAddress(a))
    }

    pub fn as_lettre(&self) -> &lettre::Address {
        &self.0
    }

    /// Whether two addresses reach the same mailbox (compared without regard to case).
    pub fn same_mailbox(&self, other: &EmailAddress) -> bool {
        AsRef::<str>::as_ref(&self.0).eq_ignore_ascii_case(other.0.as_ref())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Splits an account's raw addresses into valid ones and the reasons the others were rejected.
pub fn recipients(raw: &[String]) -> (Vec<EmailAddress>, Vec<String>) {
    let mut ok: Vec<EmailAddress> = Vec::new();
    let mut bad = Vec::new();
    for r in raw {
        match EmailAddress::parse(r) {
            Ok(a) if !ok.iter().any(|x| x.same_mailbox(&a)) => ok.push(a),
            Ok(_) => {}
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

/// The kind of notice: the first-new-bill notice.
pub const NOTICE_KIND: &str = "first_new_bill";

/// The notice kind for a schedule: one notice per (wave, account, first new bill date), so an
/// account moved to a later cycle is told its new dates, and a notice for dates that still hold is
/// never sent twice.
pub fn notice_kind(first_new_bill: chrono::NaiveDate) -> String {
    format!("{NOTICE_KIND}-{first_new_bill}")
}

/// A date as notices and the customer's pages write it: "November 5, 2017".
pub fn long_date(d: chrono::NaiveDate) -> String {
    d.format("%B %-d, %Y").to_string()
}

/// The first new bill date a notice of `kind` gave (see [`notice_kind`]), if it is one.
pub fn notice_kind_date(kind: &str) -> Option<chrono::NaiveDate> {
    kind.strip_prefix(NOTICE_KIND)?.strip_prefix('-')?.parse().ok()
}

/// A deterministic Message-ID for (wave, account, kind): a resent message is recognisably the same.
pub fn message_id(wave: &str, account: &str, kind: &str, sender_domain: &str) -> String {
    let clean = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect::<String>();
    format!("<cutover.{}.{}.{}@{}>", clean(wave), clean(account), clean(kind), clean_domain(sender_domain))
}

fn clean_domain(d: &str) -> String {
    let d: String = d.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.').collect();
    if d.is_empty() { "cutover.invalid".into() } else { d }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_or_say_why() {
        // (input, accepted)
        let table = [
            ("billing@acme.example.com", true),
            (" ap@acme.example.com ", true),
            ("not-an-address", false),
            ("a@b.example\r\nBcc: evil@x.example", false),
            ("a@b.example\nBcc: evil@x.example", false),
            ("a@b.example, c@d.example", false),
            ("Eve <eve@x.example>", false),
            ("", false),
            ("root@[127.0.0.1]", false),
            ("root@localhost", false),
            ("a@-bad.example", false),
            ("a@b..example", false),
            ("billing@mail.acme.co.uk", true),
        ];
        for (input, accepted) in table {
            assert_eq!(EmailAddress::parse(input).is_ok(), accepted, "{input:?}");
        }
    }

    #[test]
    fn recipients_deduplicate_and_report() {
        let raw = vec!["a@x.example".to_string(), "A@X.example".to_string(), "bad".to_string()];
        let (ok, bad) = recipients(&raw);
        assert_eq!(ok.len(), 1);
        assert_eq!(bad.len(), 1);
    }

    #[test]
    fn message_ids_are_deterministic_and_header_safe() {
        let a = message_id("dc1-colocation", "A000001", NOTICE_KIND, "example.com");
        assert_eq!(a, message_id("dc1-colocation", "A000001", NOTICE_KIND, "example.com"));
        assert_eq!(a, "<cutover.dc1-colocation.A000001.first_new_bill@example.com>");
        let evil = message_id("w", "A1>\r\nBcc: x@y", NOTICE_KIND, "ex\r\nample.com");
        assert!(!evil.contains(['\r', '\n', ' ']), "{evil}");
    }
}
